//! The default network on an existing host bridge (docker's daemon option
//! `-b`): `"bridge": NAME` in the root's networks/config.json. Containers
//! plug into it with its address as their gateway; berth never removes it.

mod common;

use common::containers::{wait_until, Env};
use std::path::Path;
use std::process::Command;

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A bridge of the test's own, deleted on drop.
struct HostBridge(String);

impl Drop for HostBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn default_network_on_an_existing_host_bridge() {
    let e = Env::new();
    let n = std::process::id() % 200 + 20;
    let br = HostBridge(format!("hb{}", std::process::id()));
    ip(&["link", "add", &br.0, "type", "bridge"]);
    ip(&["addr", "add", &format!("10.233.{n}.1/24"), "dev", &br.0]);
    ip(&["link", "set", &br.0, "up"]);
    std::fs::create_dir_all(e.root.join("networks")).unwrap();
    std::fs::write(
        e.root.join("networks/config.json"),
        format!("{{\"bridge\": \"{}\"}}", br.0),
    )
    .unwrap();

    e.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    wait_until(10, "c running", || e.running("c"));
    let addr = e.inspect("c", "{{.NetworkSettings.IPAddress}}");
    assert!(addr.starts_with(&format!("10.233.{n}.")), "{addr}");
    let route = e.ok(&["exec", "c", "ip", "route"]);
    assert!(
        route.contains(&format!("default via 10.233.{n}.1")),
        "{route}"
    );
    // The host end of its veth is on our bridge, and the host reaches it there.
    let ports: Vec<String> =
        std::fs::read_dir(Path::new("/sys/class/net").join(&br.0).join("brif"))
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .collect();
    assert_eq!(ports.len(), 1, "{ports:?}");
    let ping = Command::new("busybox")
        .args(["ping", "-c", "1", "-W", "5", &addr])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(
        v[0]["Options"]["com.docker.network.bridge.name"],
        br.0.as_str()
    );
    assert_eq!(
        v[0]["IPAM"]["Config"][0]["Subnet"],
        format!("10.233.{n}.0/24")
    );
    assert_eq!(
        v[0]["IPAM"]["Config"][0]["Gateway"],
        format!("10.233.{n}.1")
    );

    // rm and every network teardown leave the host's bridge and its address.
    e.ok(&["rm", "-f", "c"]);
    berth::network::remove_all(&e.root).unwrap();
    let bridge = Path::new("/sys/class/net").join(&br.0);
    assert!(bridge.exists(), "the host's bridge was removed");
    let a = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &br.0])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&a.stdout).contains(&format!("10.233.{n}.1/24")));
    assert_eq!(std::fs::read_dir(bridge.join("brif")).unwrap().count(), 0);

    // A bridge that is not there: one line, no container.
    std::fs::create_dir_all(e.root.join("networks")).unwrap();
    std::fs::write(
        e.root.join("networks/config.json"),
        "{\"bridge\": \"nosuchbr0\"}",
    )
    .unwrap();
    e.fails(&["run", "--rm", "busybox", "true"], "nosuchbr0");
    assert_eq!(e.container_dirs(), 0);
}
