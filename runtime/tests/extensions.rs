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
