//! config-linux.md#network-devices: host interfaces moved into the
//! container's network namespace. This kernel has no dummy driver, so each
//! test makes veth pairs of its own (addresses from 10.213.0.0/16 and
//! fd42:b57::/64, never routed anywhere), and removes whatever is left.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "netdev/move-rename-addresses",
            "config-linux.md#network-devices",
            move_rename,
        ),
        case(
            "netdev/name-taken-in-container",
            "config-linux.md#network-devices",
            name_taken,
        ),
        case(
            "netdev/no-such-device",
            "config-linux.md#network-devices",
            no_such_device,
        ),
    ]
}

fn need_netdevices(ctx: &Ctx) -> Result<()> {
    let on = ctx
        .features
        .as_ref()
        .and_then(|f| f.pointer("/linux/netDevices/enabled")?.as_bool())
        .unwrap_or(false);
    if !on {
        return Err(skip("runtime does not claim netDevices in its features"));
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("run ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn exists(dev: &str) -> bool {
    Path::new("/sys/class/net").join(dev).exists()
}

/// A veth pair of the test's own, named from the container id; deleted
/// (if the container's end did not take it along) on drop.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new(ct: &Ct, tag: &str) -> Result<Veth> {
        // Interface names: at most 15 bytes.
        let short: String = ct.id.chars().rev().take(8).collect();
        let v = Veth {
            a: format!("b{tag}{short}a"),
            b: format!("b{tag}{short}b"),
        };
        // Setup, not the runtime under test: a host that cannot make one
        // (no iproute2, no veth driver) skips.
        ip(&["link", "add", &v.a, "type", "veth", "peer", "name", &v.b])
            .map_err(|e| skip(format!("cannot make a veth pair on this host: {e:#}")))?;
        Ok(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for d in [&self.a, &self.b] {
            if exists(d) {
                let _ = ip(&["link", "del", d]);
            }
        }
    }
}

fn addrs_of<'a>(list: &'a [Value], name: &str) -> Vec<&'a str> {
    list.iter()
        .filter(|e| e["name"] == name)
        .filter_map(|e| e["addr"].as_str())
        .collect()
}

fn move_rename(ctx: &Ctx) -> Result<()> {
    need_netdevices(ctx)?;
    let mut ct = Ct::new(ctx, &["ifaddrs", "touch=/out/ready", "wait=/out/go"])?;
    let v1 = Veth::new(&ct, "1")?;
    let v2 = Veth::new(&ct, "2")?;
    let n = (std::process::id() % 250) as u8 + 2;
    let v4 = format!("10.213.{n}.2");
    let v6 = format!("fd42:b57::{n:x}");
    ip(&["addr", "add", &format!("{v4}/24"), "dev", &v1.a])?;
    ip(&[
        "-6",
        "addr",
        "add",
        &format!("{v6}/64"),
        "dev",
        &v1.a,
        "nodad",
    ])?;
    // A host interface of the same name as the one asked for inside: the
    // container's namespace is another.
    ct.config["linux"]["netDevices"] = json!({
        v1.a.clone(): {"name": "ctnet0"},
        v2.a.clone(): {"name": "ctx%d"},
    });
    ct.create()?;
    ensure!(
        !exists(&v1.a) && !exists(&v2.a),
        "the devices are still on the host after create"
    );
    ct.start()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ct.out().join("ready").exists() {
        ensure!(Instant::now() < deadline, "container never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let list = ct.record("ifaddrs")?;
    let list = list.as_array().cloned().unwrap_or_default();
    let a = addrs_of(&list, "ctnet0");
    ensure!(
        a.contains(&v4.as_str()) && a.contains(&v6.as_str()),
        "ctnet0 in the container has addresses {a:?}, want {v4} and {v6}: {list:?}"
    );
    let up = list
        .iter()
        .find(|e| e["name"] == "ctnet0")
        .and_then(|e| e["flags"].as_u64())
        .unwrap_or(0);
    ensure!(
        up & 1 == 1,
        "ctnet0 is not up in the container (flags {up:#x})"
    );
    ensure!(
        list.iter().any(|e| e["name"] == "ctx0"),
        "the template ctx%d named no ctx0 in the container: {list:?}"
    );
    fs::write(ct.out().join("go"), "")?;
    ct.wait_status("stopped", Duration::from_secs(15))?;
    ct.delete()?;
    // The namespace is gone: a veth goes with it, and takes its peer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while exists(&v1.b) || exists(&v2.b) {
        ensure!(
            Instant::now() < deadline,
            "the host ends of the moved veths outlived the container's namespace"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn name_taken(ctx: &Ctx) -> Result<()> {
    need_netdevices(ctx)?;
    let mut ct = Ct::new(ctx, &["ifaddrs"])?;
    let v = Veth::new(&ct, "3")?;
    // Every network namespace has its own lo.
    ct.config["linux"]["netDevices"] = json!({v.a.clone(): {"name": "lo"}});
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "create moved a device under a name taken in the container"
    );
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}

fn no_such_device(ctx: &Ctx) -> Result<()> {
    need_netdevices(ctx)?;
    let mut ct = Ct::new(ctx, &["ifaddrs"])?;
    ct.config["linux"]["netDevices"] = json!({"bnosuchdev0": {}});
    let c = ct.try_create()?;
    ensure!(!c.ok, "create with a device the host lacks succeeded");
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}
