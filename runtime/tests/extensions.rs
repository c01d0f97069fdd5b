//! Config fields of the newer runtime-spec (recursive mount options, the
//! scheduler, memory policy, seccomp notify...) that this runtime cannot
//! honour as given: each is refused at create with one short line naming
//! the field, and nothing is left behind. What works is proven by the
//! conformance suite (spec-tests/src/tests/extensions.rs).

mod common;
use common::*;
use serde_json::json;
use std::process::{Output, Stdio};

fn refused(c: &Ctr, want: &str) {
    let b = c.bundle.path().to_str().unwrap().to_string();
    let mut cmd = c.cmd();
    cmd.args(["create", "--bundle", &b, &c.id]);
    let o: Output = bounded(cmd, Stdio::null(), 10, "berth-runtime");
    assert!(!o.status.success(), "create succeeded");
    let err = stderr(&o);
    assert!(
        err.contains(want),
        "error {err:?} does not mention {want:?}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    assert!(!c.state_dir().exists(), "state dir left behind");
    assert!(!cgroup_exists(&c.id), "cgroup left behind");
}

#[test]
fn a_recursive_form_of_a_flag_mount_setattr_lacks() {
    // `rsync` reads as a recursive `sync`: passed on as filesystem data it
    // would be ignored by a bind mount (runc 1.1 does that).
    let dir = test_support::TempDir::new("rt-ext");
    let c = Ctr::with("true", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/u", "type": "bind", "source": dir.path(), "options": ["rbind", "rsync"]
        }))
    });
    refused(&c, "\"rsync\"");
}

fn notify_profile(listener: Option<&str>) -> serde_json::Value {
    let mut s = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    });
    if let Some(p) = listener {
        s["listenerPath"] = json!(p);
    }
    s
}

#[test]
fn seccomp_notify_without_a_listener_path() {
    let c = Ctr::with("true", |c| c["linux"]["seccomp"] = notify_profile(None));
    refused(&c, "linux.seccomp.listenerPath: must be set");
}

#[test]
fn seccomp_notify_with_nobody_listening() {
    let dir = test_support::TempDir::new("rt-ext");
    let sock = dir.path().join("nobody.sock");
    let c = Ctr::with("true", |c| {
        c["linux"]["seccomp"] = notify_profile(Some(sock.to_str().unwrap()))
    });
    refused(&c, "linux.seccomp.listenerPath");
}

#[test]
fn seccomp_notify_as_the_default_action() {
    let c = Ctr::with("true", |c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})
    });
    refused(&c, "linux.seccomp.defaultAction");
}

#[test]
fn scheduler_values_linux_cannot_take() {
    for (s, want) in [
        (json!({"policy": "SCHED_ISO"}), "process.scheduler.policy"),
        (
            json!({"policy": "SCHED_OTHER", "nice": 30}),
            "process.scheduler.nice",
        ),
        (
            json!({"policy": "SCHED_FIFO", "priority": 0}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_BATCH", "priority": 3}),
            "process.scheduler.priority",
        ),
    ] {
        let c = Ctr::with("true", |c| c["process"]["scheduler"] = s.clone());
        refused(&c, want);
    }
}

#[test]
fn memory_policies_that_contradict_their_nodes() {
    for (p, want) in [
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "1-0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags",
        ),
    ] {
        let c = Ctr::with("true", |c| c["linux"]["memoryPolicy"] = p.clone());
        refused(&c, want);
    }
}

#[test]
fn personality_flags_and_intel_rdt_without_resctrl() {
    let c = Ctr::with("true", |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]})
    });
    refused(&c, "linux.personality.flags");
    let c = Ctr::with("true", |c| c["linux"]["intelRdt"] = json!({"closID": "x"}));
    refused(&c, "linux.intelRdt");
}

#[test]
fn scheduler_flags_in_the_spec_spelling_reach_the_process() {
    // oci-spec 0.10 spells two flags differently from the spec; ours must
    // take the spec's, and apply them.
    let c = Ctr::with(
        "echo $(cut -d' ' -f19 /proc/$$/stat) $(cut -d' ' -f19 /proc/self/stat)",
        |c| {
            c["process"]["scheduler"] =
                json!({"policy": "SCHED_OTHER", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
        },
    );
    let out = c.run_ok();
    // The shell runs at nice -5; cut, its child, was reset to 0 by
    // reset-on-fork.
    assert_eq!(out.trim(), "-5 0");
}

#[test]
fn net_devices_the_container_cannot_have() {
    let c = Ctr::with("true", |c| {
        c["linux"]["netDevices"] = json!({"bnosuchdev0": {}})
    });
    refused(&c, "no network device \"bnosuchdev0\" on the host");
    let c = Ctr::with("true", |c| {
        c["linux"]["netDevices"] = json!({"lo": {}});
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
    });
    refused(
        &c,
        "linux.netDevices: moving devices needs a network namespace",
    );
    let c = Ctr::with("true", |c| {
        c["linux"]["netDevices"] = json!({"lo": {"name": "a/b"}})
    });
    refused(&c, "linux.netDevices: name \"a/b\"");
}

#[test]
fn idmapped_mounts_that_cannot_be_made() {
    let dir = test_support::TempDir::new("rt-ext");
    let src = dir.path().to_str().unwrap().to_string();
    let m = |extra: serde_json::Value| {
        let mut v = json!({"destination": "/m", "type": "bind", "source": src, "options": ["rbind", "idmap"]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 10}]);
    for (mount, want) in [
        (
            m(json!({})),
            "no uidMappings and gidMappings, and no user namespace",
        ),
        (m(json!({"uidMappings": map})), "must be given together"),
        (
            m(
                json!({"uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}], "gidMappings": map}),
            ),
            "is empty or beyond 2^32",
        ),
        (
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"], "uidMappings": map, "gidMappings": map}),
            "only bind mounts",
        ),
    ] {
        let c = Ctr::with("true", |c| {
            c["mounts"].as_array_mut().unwrap().push(mount.clone())
        });
        refused(&c, want);
    }
}

#[test]
fn unified_keys_on_this_hybrid_host() {
    // Core cgroup2 files are written into the container's cgroup under
    // /sys/fs/cgroup/unified; a controller that is not on cgroup2 here is a
    // one-line error naming the key.
    if !std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        return;
    }
    let c = Ctr::with("true", |c| {
        c["linux"]["resources"]["unified"] = json!({"cgroup.max.descendants": "9"})
    });
    let b = c.bundle.path().to_str().unwrap().to_string();
    let mut cmd = c.cmd();
    cmd.args(["create", "--bundle", &b, &c.id]);
    let o = bounded(cmd, Stdio::null(), 10, "berth-runtime");
    assert!(o.status.success(), "{}", stderr(&o));
    let f = std::path::Path::new("/sys/fs/cgroup/unified")
        .join(&c.id)
        .join("cgroup.max.descendants");
    let got = std::fs::read_to_string(&f).unwrap_or_default();
    assert!(c.out(&["delete", "--force", &c.id]).status.success());
    assert_eq!(got.trim(), "9", "{}", f.display());
    let c = Ctr::with("true", |c| {
        c["linux"]["resources"]["unified"] = json!({"berthnosuch.max": "1"})
    });
    refused(&c, "linux.resources.unified: berthnosuch.max");
}

#[test]
fn time_offsets_without_their_namespace_or_clock() {
    let c = Ctr::with("true", |c| {
        c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 10}})
    });
    refused(&c, "linux.timeOffsets: needs a new time namespace");
    let c = Ctr::with("true", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"realtime": {"secs": 10}})
    });
    refused(&c, "linux.timeOffsets: \"realtime\"");
}
