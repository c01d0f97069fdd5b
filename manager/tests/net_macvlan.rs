//! The macvlan driver on a veth parent whose peer sits in a namespace of
//! the test's own, standing in for another host on that LAN (this kernel
//! has no dummy driver, and the host's real interface is never used);
//! ipvlan, which this kernel lacks, refused in one line. Subnet
//! 10.243.1.0/24, pool 10.243.0.0/16 (no other test uses them).

mod common;

use common::net::Net;
use std::process::Command;

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(o.status.success(), "ip {args:?}: {o:?}");
}

/// A veth pair: `host` here (the parent), its peer in the namespace `ns`
/// with `addr`; removed on drop.
struct Lan {
    host: String,
    ns: String,
}

impl Lan {
    fn new(tag: &str, addr: &str) -> Lan {
        let id = std::process::id() & 0xffff;
        let l = Lan {
            host: format!("mv{tag}{id:04x}"),
            ns: format!("berth-mv{tag}-{id}"),
        };
        let peer = format!("mp{tag}{id:04x}");
        ip(&["netns", "add", &l.ns]);
        ip(&[
            "link", "add", &l.host, "type", "veth", "peer", "name", &peer, "netns", &l.ns,
        ]);
        ip(&["link", "set", &l.host, "up"]);
        ip(&["-n", &l.ns, "addr", "add", addr, "dev", &peer]);
        ip(&["-n", &l.ns, "link", "set", &peer, "up"]);
        ip(&["-n", &l.ns, "link", "set", "lo", "up"]);
        l
    }

    /// Runs `cmd` in the peer's namespace.
    fn exec(&self, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(cmd)
            .output()
            .unwrap()
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[test]
fn macvlan_bridge_mode_on_a_veth_lan() {
    let n = Net::new(243);
    let lan = Lan::new("a", "10.243.1.200/24");
    let parent = format!("parent={}", lan.host);
    n.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        &parent,
        "-o",
        "macvlan_mode=bridge",
        "--subnet",
        "10.243.1.0/24",
        "--gateway",
        "10.243.1.1",
        "--ip-range",
        "10.243.1.32/28",
        "--aux-address",
        "printer=10.243.1.32",
        "lan",
    ]);
    let net = n.network("lan");
    assert_eq!(net["Driver"], "macvlan", "{net}");
    assert_eq!(net["Options"]["parent"], lan.host.as_str(), "{net}");
    assert_eq!(net["Options"]["macvlan_mode"], "bridge", "{net}");
    assert_eq!(
        net["IPAM"]["Config"][0]["IPRange"], "10.243.1.32/28",
        "{net}"
    );
    assert_eq!(
        net["IPAM"]["Config"][0]["AuxiliaryAddresses"]["printer"],
        "10.243.1.32"
    );
    let ls = n.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(ls.contains("lan macvlan"), "{ls}");

    n.web("a", &["--network", "lan"]);
    n.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "lan",
        "busybox",
        "sleep",
        "60",
    ]);
    // From the range, past the auxiliary address.
    let (ipa, ipb) = (n.ip_of("a"), n.ip_of("b"));
    assert_eq!(ipa, "10.243.1.33");
    assert_eq!(ipb, "10.243.1.34");
    // busybox's ip has no -d: look from the host, in its namespace.
    let pid = n.ok(&["inspect", "--format", "{{.State.Pid}}", "a"]);
    let o = Command::new("nsenter")
        .args(["-t", pid.trim(), "-n", "ip", "-d", "link", "show", "eth0"])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&o.stdout);
    assert!(link.contains("macvlan mode bridge"), "{link}");
    let r = n.ok(&["exec", "a", "ip", "route"]);
    assert!(r.contains("default via 10.243.1.1 dev eth0"), "{r}");
    // The two containers reach each other, by address and by name.
    n.ok(&["exec", "b", "ping", "-c", "1", "-W", "3", &ipa]);
    let get = "printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 3 a 80";
    assert!(n
        .ok(&["exec", "b", "sh", "-c", get])
        .contains("from the image"));
    // The other host on the LAN reaches them, and they it.
    n.ok(&["exec", "b", "ping", "-c", "1", "-W", "3", "10.243.1.200"]);
    let o = lan.exec(&["busybox", "ping", "-c", "1", "-W", "3", &ipa]);
    assert!(o.status.success(), "{o:?}");
    let o = lan.exec(&[
        "curl",
        "-sf",
        "--max-time",
        "3",
        &format!("http://{ipa}/hello.txt"),
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("from the image"),
        "{o:?}"
    );

    // Bad input: one line each, nothing made.
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "lan",
            "-p",
            "8080:80",
            "busybox",
            "true",
        ],
        "-p has no meaning",
    );
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "lan",
            "--ip",
            "10.243.1.32",
            "busybox",
            "true",
        ],
        "not a free host address",
    );
    n.e.fails(
        &[
            "network",
            "create",
            "-d",
            "macvlan",
            "--subnet",
            "10.243.2.0/24",
            "x",
        ],
        "parent=",
    );
    n.e.fails(
        &[
            "network",
            "create",
            "-d",
            "macvlan",
            "-o",
            "parent=nosuchif0",
            "--subnet",
            "10.243.2.0/24",
            "x",
        ],
        "does not exist",
    );
    n.e.fails(
        &[
            "network",
            "create",
            "-d",
            "macvlan",
            "-o",
            &parent,
            "-o",
            "macvlan_mode=weird",
            "--subnet",
            "10.243.2.0/24",
            "x",
        ],
        "want one of",
    );
    n.e.fails(
        &[
            "network",
            "create",
            "-d",
            "macvlan",
            "-o",
            &parent,
            "--subnet",
            "10.243.2.0/24",
            "--ip-range",
            "10.243.3.0/28",
            "x",
        ],
        "not inside the subnet",
    );
    assert_eq!(n.leases("lan"), 2);

    // rm -f: the links die with the namespaces; the parent stays as it was.
    n.ok(&["rm", "-f", "a", "b"]);
    assert_eq!(n.leases("lan"), 0);
    let o = lan.exec(&["busybox", "ping", "-c", "1", "-W", "1", &ipa]);
    assert!(!o.status.success(), "{ipa} still answers");
    n.ok(&["network", "rm", "lan"]);
    assert!(std::path::Path::new("/sys/class/net")
        .join(&lan.host)
        .exists());
    assert!(!n.ok(&["network", "ls"]).contains("lan"));
}

/// `network disconnect` of a running container takes its link out of its
/// namespace (nobody else would: the namespace lives on).
#[test]
fn macvlan_disconnect_removes_the_link_from_a_live_container() {
    let n = Net::new(244);
    let lan = Lan::new("b", "10.244.1.200/24");
    let parent = format!("parent={}", lan.host);
    n.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        &parent,
        "--subnet",
        "10.244.1.0/24",
        "lan2",
    ]);
    n.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "60"]);
    n.ok(&["network", "connect", "lan2", "c"]);
    let links = n.ok(&["exec", "c", "ls", "/sys/class/net"]);
    assert!(links.contains("eth1"), "{links}");
    n.ok(&["exec", "c", "ping", "-c", "1", "-W", "3", "10.244.1.200"]);
    n.ok(&["network", "disconnect", "lan2", "c"]);
    let links = n.ok(&["exec", "c", "ls", "/sys/class/net"]);
    assert!(!links.contains("eth1"), "{links}");
    n.ok(&["rm", "-f", "c"]);

    // berth SIGKILLed with the link made: the next command that removes the
    // container leaves no lease, and the address is free again.
    let o =
        n.e.cmd(&[
            "run",
            "-d",
            "--name",
            "crashed",
            "--network",
            "lan2",
            "--ip",
            "10.244.1.9",
            "busybox",
            "sleep",
            "60",
        ])
        .env("BERTH_FAILPOINT", "net-after-veth")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{o:?}");
    assert_eq!(n.leases("lan2"), 1);
    n.ok(&["rm", "-f", "crashed"]);
    assert_eq!(n.leases("lan2"), 0);
    n.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--network",
        "lan2",
        "--ip",
        "10.244.1.9",
        "busybox",
        "sleep",
        "60",
    ]);
    n.ok(&[
        "exec",
        "again",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        "10.244.1.200",
    ]);
    n.ok(&["rm", "-f", "again"]);
    n.ok(&["network", "rm", "lan2"]);
}

#[test]
fn ipvlan_is_refused_in_one_line_when_the_kernel_lacks_it() {
    let n = Net::new(245);
    let lan = Lan::new("c", "10.245.1.200/24");
    let parent = format!("parent={}", lan.host);
    // Probe the kernel the way berth does not: by the module's presence.
    let have = std::path::Path::new("/sys/module/ipvlan").exists();
    let o = n.e.berth(&[
        "network",
        "create",
        "-d",
        "ipvlan",
        "-o",
        &parent,
        "-o",
        "ipvlan_mode=l2",
        "--subnet",
        "10.245.1.0/24",
        "iv",
    ]);
    if have {
        assert_eq!(o.code, 0, "{}", o.stderr);
        n.ok(&["network", "rm", "iv"]);
        return;
    }
    assert_ne!(o.code, 0);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("no ipvlan driver"), "{}", o.stderr);
    assert!(!n.ok(&["network", "ls"]).contains("iv"));
    let links = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert!(links > 0);
    n.e.fails(
        &[
            "network",
            "create",
            "-d",
            "ipvlan",
            "-o",
            &parent,
            "-o",
            "ipvlan_mode=l9",
            "--subnet",
            "10.245.1.0/24",
            "iv",
        ],
        "want one of",
    );
}
