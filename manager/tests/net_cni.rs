//! The `cni` driver with Debian's containernetworking-plugins: bridge +
//! host-local + portmap + firewall + tuning, checked inside the container
//! (address, route, MTU) and from the host (its address, the portmap'd
//! port on 127.0.0.1), and that DEL, on each way a container goes (rm -f,
//! the end of a --rm container, a berth SIGKILLed after ADD, network
//! prune), leaves no veth, no host-local lease and no rule. Subnet
//! 10.246.1.0/24 and pool 10.246/16 (no other test uses them).

mod common;

use common::containers::wait_until;
use common::net::{curl, curl_until, Net};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Cni {
    n: Net,
    conf: PathBuf,
    data: PathBuf,
    bridge: String,
    name: String,
}

impl Cni {
    fn new(octet: u8, tag: &str) -> Cni {
        let n = Net::new(octet);
        let dir = n.e.root.parent().unwrap().to_path_buf();
        let data = dir.join("cni-ipam");
        let bridge = format!("bc{tag}{:04x}", std::process::id() & 0xffff);
        let name = format!("berth-test-{tag}-{}", std::process::id());
        let conf = dir.join("net.conflist");
        let v = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": name,
            "plugins": [
                {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
                 "ipam": {"type": "host-local",
                          "ranges": [[{"subnet": format!("10.{octet}.1.0/24"),
                                       "gateway": format!("10.{octet}.1.1")}]],
                          "routes": [{"dst": "0.0.0.0/0"}],
                          "dataDir": data}},
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
                {"type": "firewall", "backend": "iptables"},
                {"type": "tuning", "mtu": 1300}
            ]
        });
        std::fs::write(&conf, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        Cni {
            n,
            conf,
            data,
            bridge,
            name,
        }
    }

    /// host-local's lease files (one per address it handed out).
    fn leases(&self) -> Vec<String> {
        std::fs::read_dir(self.data.join(&self.name))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|f| f.starts_with("10."))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn veths(&self) -> usize {
        Net::ports_on(&self.bridge)
    }
}

impl Drop for Cni {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Rules (iptables and nft) that name `what`.
fn rules_naming(what: &str) -> Vec<String> {
    let mut out = Vec::new();
    for cmd in [&["iptables-save"][..], &["nft", "list", "ruleset"][..]] {
        let o = Command::new(cmd[0]).args(&cmd[1..]).output().unwrap();
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains(what))
                .map(String::from),
        );
    }
    out
}

fn pins(root: &Path) -> usize {
    std::fs::read_dir(root.join("networks/netns"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn cni_bridge_portmap_firewall_tuning() {
    let c = Cni::new(246, "a");
    let n = &c.n;
    let conf = c.conf.to_str().unwrap();
    n.ok(&["network", "create", "-d", "cni", "--cni-config", conf, "cn"]);
    let net = n.network("cn");
    assert_eq!(net["Driver"], "cni", "{net}");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "10.246.1.0/24", "{net}");
    assert_eq!(
        net["Options"]["cni.plugins"],
        "bridge,portmap,firewall,tuning"
    );
    assert!(n
        .ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .contains("cn cni"));

    let port = test_support::free_port();
    let spec = format!("127.0.0.1:{port}:80");
    let id = n.web("w", &["--network", "cn", "-p", &spec]);
    // Inside: the plugins' address, route and MTU.
    let ip = n.ip_of("w");
    assert!(ip.starts_with("10.246.1."), "{ip}");
    let r = n.ok(&["exec", "w", "ip", "route"]);
    assert!(r.contains("default via 10.246.1.1 dev eth0"), "{r}");
    assert_eq!(
        n.ok(&["exec", "w", "cat", "/sys/class/net/eth0/mtu"])
            .trim(),
        "1300"
    );
    // What berth shows is the result's.
    let g = |t: &str| n.ok(&["inspect", "--format", t, "w"]).trim().to_string();
    assert_eq!(g("{{.NetworkSettings.Networks.cn.IPAddress}}"), ip);
    assert_eq!(g("{{.NetworkSettings.Networks.cn.Gateway}}"), "10.246.1.1");
    assert_eq!(g("{{.NetworkSettings.Networks.cn.IPPrefixLen}}"), "24");
    assert_eq!(c.leases(), std::slice::from_ref(&ip));
    assert_eq!(c.veths(), 1);
    // From the host: by its address, and the portmap'd port.
    assert!(curl_until(&format!("http://{ip}/hello.txt")).contains("from the image"));
    assert!(curl_until(&format!("http://127.0.0.1:{port}/hello.txt")).contains("from the image"));
    assert!(
        !rules_naming(&id).is_empty(),
        "portmap made no rule naming {id}"
    );

    // A peer on the network reaches it by name.
    n.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "--network",
        "cn",
        "busybox",
        "sleep",
        "60",
    ]);
    let get = "printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 3 w 80";
    assert!(n
        .ok(&["exec", "p", "sh", "-c", get])
        .contains("from the image"));
    assert_eq!(c.leases().len(), 2);

    // Bad input: one line, nothing made.
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "cn",
            "--ip",
            "10.246.1.50",
            "busybox",
            "true",
        ],
        "conflist's IPAM",
    );
    std::fs::write(
        c.conf.with_extension("bad"),
        r#"{"cniVersion":"1.0.0","name":"x"}"#,
    )
    .unwrap();
    n.e.fails(
        &[
            "network",
            "create",
            "-d",
            "cni",
            "--cni-config",
            c.conf.with_extension("bad").to_str().unwrap(),
            "bad",
        ],
        "no \"plugins\" list",
    );
    n.e.fails(&["network", "create", "-d", "cni", "x"], "--cni-config");
    assert_eq!(c.leases().len(), 2);

    // rm -f: DEL leaves no veth, no lease, no rule, no pin.
    n.ok(&["rm", "-f", "w", "p"]);
    assert_eq!(c.veths(), 0);
    assert!(c.leases().is_empty(), "{:?}", c.leases());
    assert!(rules_naming(&id).is_empty(), "{:?}", rules_naming(&id));
    assert!(
        rules_naming(&format!("{ip} ")).is_empty() && rules_naming(&format!("{ip}/")).is_empty()
    );
    assert!(curl(&format!("http://127.0.0.1:{port}/hello.txt")).is_none());
    assert_eq!(pins(&n.e.root), 0);

    // The end of a --rm container: DEL too.
    let out = n.ok(&[
        "run",
        "--rm",
        "--network",
        "cn",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains("10.246.1."), "{out}");
    assert!(c.leases().is_empty(), "{:?}", c.leases());
    assert_eq!(c.veths(), 0);

    // network rm: the bridge the plugin made goes with it.
    n.ok(&["network", "rm", "cn"]);
    assert!(!Path::new("/sys/class/net").join(&c.bridge).exists());
}

#[test]
fn cni_del_after_a_killed_berth_and_on_prune() {
    let c = Cni::new(247, "b");
    let n = &c.n;
    let conf = c.conf.to_str().unwrap();
    n.ok(&["network", "create", "-d", "cni", "--cni-config", conf, "ck"]);
    let port = test_support::free_port();
    let spec = format!("127.0.0.1:{port}:80");
    for fp in ["net-after-cni", "net-after-lease"] {
        let o =
            n.e.cmd(&[
                "run",
                "-d",
                "--name",
                "crashed",
                "--network",
                "ck",
                "-p",
                &spec,
                "busybox",
                "sleep",
                "60",
            ])
            .env("BERTH_FAILPOINT", fp)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{fp}: {o:?}");
        let id = n
            .ok(&["ps", "-aq", "--no-trunc", "-f", "name=crashed"])
            .trim()
            .to_string();
        if fp == "net-after-cni" {
            assert_eq!(c.leases().len(), 1);
            assert_eq!(c.veths(), 1);
            assert!(!rules_naming(&id).is_empty());
        }
        // Any later command that removes it runs DEL from the stored result.
        n.ok(&["rm", "-f", "crashed"]);
        assert!(c.leases().is_empty(), "{fp}: {:?}", c.leases());
        assert_eq!(c.veths(), 0, "{fp}");
        assert!(
            rules_naming(&id).is_empty(),
            "{fp}: {:?}",
            rules_naming(&id)
        );
        assert_eq!(pins(&n.e.root), 0, "{fp}");
    }
    // A container that died with nobody watching: the next command reclaims.
    let id = n.web("victim", &["--network", "ck"]);
    assert_eq!(c.leases().len(), 1);
    let pid = n.ok(&["inspect", "--format", "{{.State.Pid}}", "victim"]);
    let dir = n.e.root.join("containers").join(&id);
    let shim: i32 = std::fs::read_to_string(dir.join("shim/shim.pid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    unsafe {
        libc::kill(shim, libc::SIGKILL);
        libc::kill(pid.trim().parse().unwrap(), libc::SIGKILL);
    }
    wait_until(10, "the victim's init to go", || {
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    n.ok(&["network", "ls"]);
    assert!(c.leases().is_empty(), "{:?}", c.leases());
    assert_eq!(c.veths(), 0);
    n.ok(&["rm", "-f", "victim"]);
    assert_eq!(pins(&n.e.root), 0);
    n.ok(&["network", "rm", "ck"]);

    // CHECK: the plugins confirm their ADD, and see it undone. (portmap
    // 1.1.1's CHECK fails on any host without its ip6tables chain, so this
    // list has none.)
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&c.conf).unwrap()).unwrap();
    let mut v2 = v.clone();
    v2["plugins"] = serde_json::json!([v["plugins"][0], v["plugins"][2], v["plugins"][3]]);
    let conf2 = c.conf.with_extension("noportmap");
    std::fs::write(&conf2, serde_json::to_vec(&v2).unwrap()).unwrap();
    n.ok(&[
        "network",
        "create",
        "-d",
        "cni",
        "--cni-config",
        conf2.to_str().unwrap(),
        "ck",
    ]);
    n.ok(&[
        "run",
        "-d",
        "--name",
        "chk",
        "--network",
        "ck",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(n.ok(&["network", "check", "ck", "chk"]).trim(), "ok");
    let pid = n.ok(&["inspect", "--format", "{{.State.Pid}}", "chk"]);
    let o = Command::new("nsenter")
        .args([
            "-t",
            pid.trim(),
            "-n",
            "ip",
            "-4",
            "addr",
            "flush",
            "dev",
            "eth0",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    n.e.fails(&["network", "check", "ck", "chk"], "CNI plugin");
    n.ok(&["rm", "-f", "chk"]);
    assert!(c.leases().is_empty(), "{:?}", c.leases());
    assert_eq!(n.ok(&["network", "prune", "-f"]).trim(), "ck");
    assert!(!Path::new("/sys/class/net").join(&c.bridge).exists());
}

/// ptp + host-local (a veth straight to the host, no bridge) and the CNI
/// macvlan plugin on a veth parent whose peer is a namespace of the test's.
#[test]
fn cni_ptp_and_macvlan_plugins() {
    let n = Net::new(249);
    let dir = n.e.root.parent().unwrap().to_path_buf();
    let id = std::process::id();
    let ptp = serde_json::json!({
        "cniVersion": "1.0.0", "name": format!("berth-test-ptp-{id}"),
        "plugins": [{"type": "ptp", "ipMasq": false,
                     "ipam": {"type": "host-local", "subnet": "10.249.1.0/24",
                              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": dir.join("ipam")}}]
    });
    let f = dir.join("ptp.conflist");
    std::fs::write(&f, ptp.to_string()).unwrap();
    n.ok(&[
        "network",
        "create",
        "-d",
        "cni",
        "--cni-config",
        f.to_str().unwrap(),
        "pp",
    ]);
    n.web("w", &["--network", "pp"]);
    let ip = n.ip_of("w");
    assert!(ip.starts_with("10.249.1."), "{ip}");
    let r = n.ok(&["exec", "w", "ip", "route"]);
    assert!(r.contains("default via 10.249.1.1 dev eth0"), "{r}");
    // The host end of ptp carries the route to it.
    assert!(curl_until(&format!("http://{ip}/hello.txt")).contains("from the image"));
    let host_veths = |ip: &str| {
        let o = Command::new("ip")
            .args(["route", "get", ip])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains("dev veth")
    };
    assert!(host_veths(&ip));
    n.ok(&["rm", "-f", "w"]);
    assert!(!host_veths(&ip), "ptp's host veth or route left");
    n.ok(&["network", "rm", "pp"]);

    // macvlan: the LAN is a veth pair, its other end in a namespace.
    let ns = format!("berth-cnimv-{id}");
    let parent = format!("cm{:04x}", id & 0xffff);
    let peer = format!("cp{:04x}", id & 0xffff);
    let sh = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().unwrap();
        assert!(o.status.success(), "ip {args:?}: {o:?}");
    };
    struct Undo(String, String);
    impl Drop for Undo {
        fn drop(&mut self) {
            let q = std::process::Stdio::null();
            let _ = Command::new("ip")
                .args(["link", "del", &self.0])
                .stderr(q)
                .status();
            let _ = Command::new("ip").args(["netns", "del", &self.1]).status();
        }
    }
    sh(&["netns", "add", &ns]);
    let _undo = Undo(parent.clone(), ns.clone());
    sh(&[
        "link", "add", &parent, "type", "veth", "peer", "name", &peer, "netns", &ns,
    ]);
    sh(&["link", "set", &parent, "up"]);
    sh(&["-n", &ns, "addr", "add", "10.249.2.200/24", "dev", &peer]);
    sh(&["-n", &ns, "link", "set", &peer, "up"]);
    let mv = serde_json::json!({
        "cniVersion": "1.0.0", "name": format!("berth-test-mv-{id}"),
        "plugins": [{"type": "macvlan", "master": parent, "mode": "bridge",
                     "ipam": {"type": "host-local", "subnet": "10.249.2.0/24",
                              "rangeStart": "10.249.2.10", "dataDir": dir.join("ipam")}}]
    });
    let f = dir.join("mv.conflist");
    std::fs::write(&f, mv.to_string()).unwrap();
    n.ok(&[
        "network",
        "create",
        "-d",
        "cni",
        "--cni-config",
        f.to_str().unwrap(),
        "mv",
    ]);
    n.ok(&[
        "run",
        "-d",
        "--name",
        "m",
        "--network",
        "mv",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(n.ip_of("m"), "10.249.2.10");
    n.ok(&["exec", "m", "ping", "-c", "1", "-W", "3", "10.249.2.200"]);
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            "10.249.2.10",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    n.ok(&["rm", "-f", "m"]);
    let left: Vec<_> = std::fs::read_dir(dir.join("ipam").join(format!("berth-test-mv-{id}")))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|f| f.to_string_lossy().starts_with("10."))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    n.ok(&["network", "rm", "mv"]);
}
