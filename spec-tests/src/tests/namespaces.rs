//! config-linux.md#namespaces and #user-namespace-mappings.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};
use crate::tests::host;

pub fn cases() -> Vec<Case> {
    vec![
        case("namespaces/new-pid", "config-linux.md#namespaces", |c| {
            new_ns(c, "pid", "pid")
        }),
        case(
            "namespaces/new-network",
            "config-linux.md#namespaces",
            |c| new_ns(c, "network", "net"),
        ),
        case("namespaces/new-ipc", "config-linux.md#namespaces", |c| {
            new_ns(c, "ipc", "ipc")
        }),
        case("namespaces/new-uts", "config-linux.md#namespaces", |c| {
            new_ns(c, "uts", "uts")
        }),
        case("namespaces/new-mount", "config-linux.md#namespaces", |c| {
            new_ns(c, "mount", "mnt")
        }),
        case("namespaces/new-cgroup", "config-linux.md#namespaces", |c| {
            new_ns(c, "cgroup", "cgroup")
        }),
        case("namespaces/new-time", "config-linux.md#namespaces", |c| {
            new_ns(c, "time", "time")
        }),
        case(
            "namespaces/new-user",
            "config-linux.md#user-namespace-mappings",
            new_user,
        ),
        case(
            "namespaces/inherit-pid",
            "config-linux.md#namespaces",
            |c| inherit_ns(c, "pid", "pid"),
        ),
        case(
            "namespaces/inherit-network",
            "config-linux.md#namespaces",
            |c| inherit_ns(c, "network", "net"),
        ),
        case(
            "namespaces/inherit-ipc",
            "config-linux.md#namespaces",
            |c| inherit_ns(c, "ipc", "ipc"),
        ),
        case(
            "namespaces/inherit-uts",
            "config-linux.md#namespaces",
            |c| inherit_ns(c, "uts", "uts"),
        ),
        case(
            "namespaces/inherit-cgroup",
            "config-linux.md#namespaces",
            |c| inherit_ns(c, "cgroup", "cgroup"),
        ),
        case(
            "namespaces/inherit-mount",
            "config-linux.md#namespaces",
            |c| inherit_ns(c, "mount", "mnt"),
        ),
        case(
            "namespaces/join-uts-hostname",
            "config.md#hostname",
            join_uts_hostname,
        ),
        case(
            "namespaces/join-path",
            "config-linux.md#namespaces",
            join_path,
        ),
        case(
            "namespaces/path-wrong-type",
            "config-linux.md#namespaces",
            path_wrong_type,
        ),
        case(
            "namespaces/duplicate-type",
            "config-linux.md#namespaces",
            duplicate,
        )
        .deviates("crun 1.8 accepts duplicate namespace entries"),
    ]
}

fn set_ns(ct: &mut Ct, t: &str, on: bool) {
    let list = ct.config["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|n| n["type"] != t);
    if on {
        list.push(json!({"type": t}));
    }
}

fn new_ns(ctx: &Ctx, t: &str, link: &str) -> Result<()> {
    if ctx.feature_namespace(t) == Some(false) {
        return Err(skip(format!(
            "runtime features do not list the {t} namespace (support is SHOULD)"
        )));
    }
    if !std::path::Path::new(&format!("/proc/self/ns/{link}")).exists() {
        return Err(skip(format!("kernel has no {t} namespace")));
    }
    let mut ct = Ct::new(ctx, &["report"])?;
    set_ns(&mut ct, t, true);
    if t == "time" {
        // Time namespaces (Linux 5.6) are newer than some runtimes; refusing
        // them with an error and leaving nothing behind is allowed.
        let c = ct.try_create()?;
        if !c.ok {
            ensure!(
                !ct.try_state()?.ok,
                "a refused time namespace left a container behind"
            );
            return Err(skip(format!(
                "runtime refuses time namespaces (support is SHOULD): {}",
                c.stderr.trim()
            )));
        }
        ct.start()?;
        ct.wait_status("stopped", std::time::Duration::from_secs(10))?;
    } else {
        ct.run()?;
    }
    let r = ct.report()?;
    let ours = host::own_ns(link)?;
    let theirs = r["namespaces"][link].as_str().unwrap_or_default();
    ensure!(!theirs.is_empty(), "container reported no {link} namespace");
    ensure!(
        theirs != ours,
        "container shares the runtime's {t} namespace {ours}"
    );
    match t {
        "pid" => ensure!(
            r["pid"] == 1,
            "container process is pid {} in its new pid namespace, want 1",
            r["pid"]
        ),
        "cgroup" => {
            // A new cgroup namespace is rooted at the container's cgroup.
            for l in r["cgroup"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let path = l.splitn(3, ':').nth(2).unwrap_or("");
                ensure!(
                    path == "/",
                    "/proc/self/cgroup line {l:?} is not rooted at / inside a new cgroup namespace"
                );
            }
        }
        _ => {}
    }
    Ok(())
}

fn inherit_ns(ctx: &Ctx, t: &str, link: &str) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    set_ns(&mut ct, t, false);
    match t {
        // A hostname can only be set in a new uts namespace.
        "uts" => {
            ct.config.as_object_mut().unwrap().remove("hostname");
        }
        // Without its own network namespace the container cannot mount
        // a sysfs of its own: bind the host's instead.
        "network" => {
            for m in ct.config["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/sys" {
                    *m = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
            }
        }
        // The runtime's own mount namespace: its mounts land on the host,
        // so only /proc, and no masked or read-only paths (runc refuses
        // those without a mount namespace of the container's own).
        "mount" => {
            ct.config["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] == "/proc" || m["destination"] == "/out");
            let l = ct.config["linux"].as_object_mut().unwrap();
            l.remove("maskedPaths");
            l.remove("readonlyPaths");
        }
        _ => {}
    }
    ct.run()?;
    let r = ct.report()?;
    let ours = host::own_ns(link)?;
    let theirs = r["namespaces"][link].as_str().unwrap_or_default();
    ensure!(
        theirs == ours,
        "container {t} namespace {theirs} is not the runtime's {ours}"
    );
    if t == "pid" {
        ensure!(
            r["pid"] != 1,
            "container is pid 1 without a pid namespace of its own"
        );
    }
    Ok(())
}

fn new_user(ctx: &Ctx) -> Result<()> {
    if ctx.feature_namespace("user") == Some(false) {
        return Err(skip(
            "runtime features do not list the user namespace (support is SHOULD)",
        ));
    }
    let mut ct = Ct::new(ctx, &["report", "write=/out/userns"])?;
    set_ns(&mut ct, "user", true);
    ct.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    ct.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    // The cgroup v1 hierarchies cannot be mounted from a user namespace.
    ct.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "cgroup");
    ct.run()?;
    let r = ct.report()?;
    let ours = host::own_ns("user")?;
    ensure!(
        r["namespaces"]["user"] != json!(ours),
        "container shares the runtime's user namespace"
    );
    let norm = |v: &Value| -> Vec<Vec<String>> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    ensure!(
        norm(&r["uid_map"]) == vec![vec!["0", "200000", "65536"]],
        "uid_map {}",
        r["uid_map"]
    );
    ensure!(
        norm(&r["gid_map"]) == vec![vec!["0", "300000", "65536"]],
        "gid_map {}",
        r["gid_map"]
    );
    ensure!(
        r["uids"] == json!([0, 0, 0]) && r["gids"] == json!([0, 0, 0]),
        "ids {} {}",
        r["uids"],
        r["gids"]
    );
    // What the container's root writes belongs to the mapped host ids.
    let md = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(ct.out().join("userns"))?);
    ensure!(
        md == 200000,
        "file written by container root is owned by host uid {md}, want 200000"
    );
    Ok(())
}

fn join_path(ctx: &Ctx) -> Result<()> {
    let holder = host::NsHolder::new()?;
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config.as_object_mut().unwrap().remove("hostname");
    for (t, link) in [("network", "net"), ("uts", "uts"), ("ipc", "ipc")] {
        set_ns(&mut ct, t, false);
        ct.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": t, "path": holder.ns_path(link)}));
    }
    ct.run()?;
    let r = ct.report()?;
    for link in ["net", "uts", "ipc"] {
        let want = holder.ns(link)?;
        ensure!(
            r["namespaces"][link] == json!(want),
            "{link} namespace {} is not the one at the given path {want}",
            r["namespaces"][link]
        );
    }
    Ok(())
}

fn path_wrong_type(ctx: &Ctx) -> Result<()> {
    let holder = host::NsHolder::new()?;
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    set_ns(&mut ct, "network", false);
    ct.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "network", "path": holder.ns_path("uts")}));
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "create joined a uts namespace file as the network namespace"
    );
    Ok(())
}

fn duplicate(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "ipc"}));
    let c = ct.try_create()?;
    ensure!(!c.ok, "create accepted two ipc namespace entries");
    ensure!(
        !ct.try_state()?.ok,
        "a failed create left a container behind"
    );
    Ok(())
}

/// A hostname set in a uts namespace joined by path (runc and crun set it):
/// the namespace is the container's, not the runtime's.
fn join_uts_hostname(ctx: &Ctx) -> Result<()> {
    let holder = host::NsHolder::new()?;
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["hostname"] = json!("berth-joined");
    set_ns(&mut ct, "uts", false);
    ct.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "uts", "path": holder.ns_path("uts")}));
    ct.run()?;
    let r = ct.report()?;
    ensure!(
        r["namespaces"]["uts"] == json!(holder.ns("uts")?),
        "uts namespace {} is not the one at the given path",
        r["namespaces"]["uts"]
    );
    ensure!(
        r["hostname"] == "berth-joined",
        "hostname {} in the joined uts namespace",
        r["hostname"]
    );
    Ok(())
}
