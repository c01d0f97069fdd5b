//! config-linux.md#devices, #default-devices and #allowed-device-list.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "devices/default-devices",
            "config-linux.md#default-devices",
            default_devices,
        ),
        case(
            "devices/default-devices-work",
            "config-linux.md#default-devices",
            default_devices_work,
        ),
        case(
            "devices/linux-devices",
            "config-linux.md#devices",
            linux_devices,
        ),
        case(
            "devices/existing-file-conflict",
            "config-linux.md#devices",
            existing_conflict,
        )
        .deviates("runc 1.1 and crun 1.8 replace the file without an error"),
        case(
            "devices/cgroup-deny",
            "config-linux.md#allowed-device-list",
            |c| cgroup_rule(c, false),
        ),
        case(
            "devices/cgroup-allow",
            "config-linux.md#allowed-device-list",
            |c| cgroup_rule(c, true),
        ),
    ]
}

const DEFAULTS: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

fn default_devices(ctx: &Ctx) -> Result<()> {
    let mut actions: Vec<String> = DEFAULTS
        .iter()
        .map(|(p, _, _)| format!("stat={p}"))
        .collect();
    actions.push("stat=/dev/ptmx".into());
    actions.push("readlink=/dev/ptmx".into());
    let a: Vec<&str> = actions.iter().map(String::as_str).collect();
    let mut ct = Ct::new(ctx, &a)?;
    ct.run()?;
    for (p, maj, min) in DEFAULTS {
        let s = ct.record_for("stat", p)?;
        ensure!(
            s["ok"] == true && s["kind"] == "char" && s["major"] == *maj && s["minor"] == *min,
            "{p}: {s}, want char device {maj}:{min}"
        );
    }
    let s = ct.record_for("stat", "/dev/ptmx")?;
    let l = ct.record_for("readlink", "/dev/ptmx")?;
    let ok = (s["kind"] == "symlink"
        && (l["target"] == "pts/ptmx" || l["target"] == "/dev/pts/ptmx"))
        || (s["kind"] == "char" && s["major"] == 5 && s["minor"] == 2);
    ensure!(
        ok,
        "/dev/ptmx is neither a link to the container's pts/ptmx nor a bind of it: {s} {l}"
    );
    Ok(())
}

fn default_devices_work(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &[
            "open=/dev/null",
            "open=/dev/zero",
            "open=/dev/full",
            "open=/dev/urandom",
            "write=/dev/full",
        ],
    )?;
    ct.run()?;
    for p in ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"] {
        let o = ct.record_for("open", p)?;
        ensure!(o["ok"] == true, "cannot open {p} read-write: {o}");
    }
    let w = ct.record_for("write", "/dev/full")?;
    ensure!(
        w["errno"] == libc::ENOSPC,
        "write to /dev/full: {w}, want ENOSPC"
    );
    Ok(())
}

fn linux_devices(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &["stat=/dev/fuse", "stat=/mydevs/null2", "stat=/dev/berthblk"],
    )?;
    ct.config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 1000, "gid": 1001},
        {"path": "/mydevs/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 0, "gid": 0},
        {"path": "/dev/berthblk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
    ]);
    ct.run()?;
    type Want<'a> = (&'a str, &'a str, u64, u64, Option<u64>, Option<(u64, u64)>);
    let want: [Want; 3] = [
        (
            "/dev/fuse",
            "char",
            10,
            229,
            Some(0o666),
            Some((1000, 1001)),
        ),
        ("/mydevs/null2", "char", 1, 3, Some(0o640), Some((0, 0))),
        ("/dev/berthblk", "block", 7, 200, Some(0o600), None),
    ];
    for (p, kind, maj, min, mode, owner) in want {
        let s = ct.record_for("stat", p)?;
        ensure!(s["ok"] == true, "{p} missing: {s}");
        ensure!(
            s["kind"] == kind && s["major"] == maj && s["minor"] == min,
            "{p}: {s}, want {kind} {maj}:{min}"
        );
        if let Some(m) = mode {
            ensure!(
                s["mode"] == m,
                "{p} mode {:o}, want {m:o}",
                s["mode"].as_u64().unwrap_or(0)
            );
        }
        if let Some((u, g)) = owner {
            ensure!(
                s["uid"] == u && s["gid"] == g,
                "{p} owner {}:{}, want {u}:{g}",
                s["uid"],
                s["gid"]
            );
        }
    }
    Ok(())
}

fn existing_conflict(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    std::fs::write(ct.rootfs().join("etc/notadevice"), "plain file")?;
    ct.config["linux"]["devices"] =
        json!([{"path": "/etc/notadevice", "type": "c", "major": 1, "minor": 3}]);
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "create replaced a regular file with a device node without an error"
    );
    Ok(())
}

/// A host device bound into the container: only the device cgroup decides
/// whether it can be opened. (Not /dev/net/tun: runc always allows it.)
fn cgroup_rule(ctx: &Ctx, allow: bool) -> Result<()> {
    if !std::path::Path::new("/dev/fuse").exists() {
        return Err(skip("host has no /dev/fuse to test device access with"));
    }
    let mut ct = Ct::new(ctx, &["open=/dev/berthfuse"])?;
    ct.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/dev/berthfuse", "type": "bind", "source": "/dev/fuse", "options": ["bind"]}));
    let mut rules: Vec<Value> = vec![json!({"allow": false, "access": "rwm"})];
    if allow {
        rules.push(json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}));
    }
    ct.config["linux"]["resources"]["devices"] = json!(rules);
    ct.run()?;
    let o = ct.record_for("open", "/dev/berthfuse")?;
    if allow {
        ensure!(
            o["ok"] == true,
            "allowed device 10:229 cannot be opened: {o}"
        );
    } else {
        ensure!(
            o["errno"] == libc::EPERM,
            "denied device 10:229: {o}, want EPERM"
        );
    }
    Ok(())
}
