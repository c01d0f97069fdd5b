//! Container networking end to end, what is left behind: fifty containers at
//! once, bad input, berth killed mid-command, a root that vanished; each
//! checks that no bridge, veth, lease or nftables element outlives its use.
//! The harness (`Net`, a root with its own bridge prefix and pool) is in
//! common/net.rs.

mod common;

use common::containers::Env;
use common::net::{curl_until, lines, nft_elements, Net};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn fifty_concurrent_containers_then_nothing_left() {
    let n = Net::new(225);
    let n = &n;
    let names: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    std::thread::scope(|s| {
        for name in &names {
            s.spawn(move || {
                // Every fifth publishes a port, so rules come and go too.
                let mut a = vec!["run", "-d", "--name", name];
                if name.ends_with('0') || name.ends_with('5') {
                    a.extend_from_slice(&["-p", "127.0.0.1::80"]);
                }
                a.extend_from_slice(&["busybox", "sleep", "120"]);
                n.ok(&a);
            });
        }
    });
    let net = n.network("bridge");
    let leases = net["Containers"].as_object().unwrap();
    let mut ips: Vec<&str> = leases
        .values()
        .map(|l| {
            l["IPv4Address"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50, "distinct addresses: {ips:?}");
    let br = n.bridge("bridge");
    assert_eq!(Net::ports_on(&br), 50);
    assert_eq!(nft_elements(&br), 10);
    // Each sees its own address.
    for name in ["c0", "c17", "c49"] {
        let ip = n.ip_of(name);
        assert!(ips.contains(&ip.as_str()), "{name}: {ip}");
    }
    std::thread::scope(|s| {
        for name in &names {
            s.spawn(move || n.ok(&["rm", "-f", name]));
        }
    });
    assert_eq!(n.leases("bridge"), 0);
    assert_eq!(Net::ports_on(&br), 0);
    assert_eq!(nft_elements(&br), 0);
    let vb = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path().join("master"))
                .is_ok_and(|m| m.file_name().is_some_and(|f| f == br.as_str()))
        })
        .count();
    assert_eq!(vb, 0, "veths left on {br}");
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let n = Net::new(226);
    n.ok(&["network", "create", "--subnet", "10.226.4.0/24", "one"]);
    let before = n.links();
    // Overlapping subnets, a gateway outside its subnet.
    n.e.fails(
        &["network", "create", "--subnet", "10.226.4.128/25", "two"],
        "overlaps network \"one\"",
    );
    n.e.fails(
        &["network", "create", "--subnet", "127.0.0.0/8", "lo2"],
        "overlaps",
    );
    n.e.fails(
        &[
            "network",
            "create",
            "--subnet",
            "10.226.5.0/24",
            "--gateway",
            "10.226.6.1",
            "three",
        ],
        "not a host address",
    );
    n.e.fails(&["network", "create", "one"], "already exists");
    assert_eq!(n.links(), before);
    assert_eq!(
        lines(&n.ok(&["network", "ls", "--format", "{{.Name}}"])),
        ["bridge", "host", "none", "one"]
    );

    // Bad -p: one line, no container.
    for (p, want) in [
        ("80/sctp", "unknown protocol"),
        ("x:80", "host port"),
        ("1.2.3:80:80", "not an IP address"),
        ("8000-8002:80-81", "differ in length"),
        ("8080:", "no container port"),
    ] {
        n.e.fails(&["run", "-d", "-p", p, "busybox", "sleep", "5"], want);
    }
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "none",
            "-p",
            "80",
            "busybox",
            "true",
        ],
        "needs a bridge network",
    );
    n.e.fails(
        &["run", "-d", "--network", "nosuch", "busybox", "true"],
        "no such network",
    );
    assert_eq!(n.e.container_dirs(), 0);

    // A port published twice, and one a host process holds.
    let p = test_support::free_port();
    let spec = format!("127.0.0.1:{p}:80");
    n.web("first", &["-p", &spec, "--network", "one"]);
    n.e.fails(
        &[
            "run", "-d", "--name", "second", "-p", &spec, "busybox", "sleep", "5",
        ],
        "already published by container \"first\"",
    );
    let any = format!("{p}:80");
    n.e.fails(
        &["run", "-d", "-p", &any, "busybox", "sleep", "5"],
        "already published",
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = format!("127.0.0.1:{}:80", l.local_addr().unwrap().port());
    n.e.fails(
        &["run", "-d", "-p", &busy, "busybox", "sleep", "5"],
        "already in use",
    );
    assert_eq!(n.e.container_dirs(), 1, "only first remains");
    assert_eq!(n.leases("one"), 1);
    let listed = n.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(listed.trim(), "first");
    n.ok(&["rm", "-f", "first"]);
    assert_eq!(nft_elements(&n.bridge("one")), 0);
    assert_eq!(n.leases("one"), 0);
}

#[test]
fn killed_berth_processes_are_reconciled() {
    let n = Net::new(227);
    // berth dies (SIGKILL) between making the veth and publishing the port.
    let p = test_support::free_port();
    let spec = format!("127.0.0.1:{p}:80");
    let o =
        n.e.cmd(&[
            "run", "-d", "--name", "crashed", "-p", &spec, "busybox", "sleep", "60",
        ])
        .env("BERTH_FAILPOINT", "net-after-veth")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{o:?}");
    let br = n.bridge("bridge");
    assert_eq!(n.leases("bridge"), 1);
    assert_eq!(Net::ports_on(&br), 1);
    // Its port stays reserved while the half-made container exists...
    n.e.fails(
        &["run", "-d", "-p", &spec, "busybox", "sleep", "5"],
        "already published",
    );
    // ...and rm removes everything it had.
    n.ok(&["rm", "-f", "crashed"]);
    assert_eq!(n.leases("bridge"), 0);
    assert_eq!(Net::ports_on(&br), 0);
    assert_eq!(nft_elements(&br), 0);

    // berth dies right after recording the lease, before any kernel object.
    let o =
        n.e.cmd(&[
            "run", "-d", "--name", "early", "-p", &spec, "busybox", "sleep", "60",
        ])
        .env("BERTH_FAILPOINT", "net-after-lease")
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{o:?}");
    assert_eq!(n.leases("bridge"), 1);
    assert_eq!(Net::ports_on(&br), 0);
    n.ok(&["rm", "-f", "early"]);
    assert_eq!(n.leases("bridge"), 0);
    assert_eq!(nft_elements(&br), 0);

    // The shim and the container die by SIGKILL with nobody watching: the
    // next berth that touches the network frees the address and the port.
    let id = n.web("victim", &["-p", &spec]);
    curl_until(&format!("http://127.0.0.1:{p}/hello.txt"));
    let dir = n.e.root.join("containers").join(&id);
    let shim: i32 = std::fs::read_to_string(dir.join("shim/shim.pid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let init: i32 = n
        .ok(&["inspect", "--format", "{{.State.Pid}}", "victim"])
        .trim()
        .parse()
        .unwrap();
    assert!(init > 0);
    unsafe {
        libc::kill(shim, libc::SIGKILL);
        libc::kill(init, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{init}")).exists() {
        assert!(Instant::now() < deadline, "init {init} survived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    n.web("heir", &["-p", &spec]);
    let net = n.network("bridge");
    let leases = net["Containers"].as_object().unwrap();
    assert_eq!(leases.len(), 1, "{net}");
    assert_eq!(leases.values().next().unwrap()["Name"], "heir");
    assert_eq!(nft_elements(&br), 1);
    assert_eq!(Net::ports_on(&br), 1);
    curl_until(&format!("http://127.0.0.1:{p}/hello.txt"));
    n.ok(&["rm", "-f", "victim", "heir"]);
    assert_eq!(n.leases("bridge"), 0);
    assert_eq!(Net::ports_on(&br), 0);
    assert_eq!(nft_elements(&br), 0);
}

#[test]
fn bridges_of_a_vanished_root_are_reaped() {
    // Two roots share a bridge prefix, as every root with the default
    // configuration does.
    let a = Net::new(228);
    let b = Env::new();
    std::fs::create_dir_all(b.root.join("networks")).unwrap();
    std::fs::copy(
        a.e.root.join("networks/config.json"),
        b.root.join("networks/config.json"),
    )
    .unwrap();
    a.ok(&["network", "create", "lost"]);
    let lost = a.bridge("lost");
    // Each root's default network gets a bridge of its own.
    a.ok(&["run", "--rm", "busybox", "true"]);
    b.ok(&["run", "--rm", "busybox", "true"]);
    assert_eq!(a.bridge("bridge"), format!("{}0", a.prefix));
    let bb: serde_json::Value =
        serde_json::from_str(&b.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(
        bb[0]["Options"]["com.docker.network.bridge.name"],
        format!("{}1", a.prefix)
    );
    assert_ne!(
        bb[0]["IPAM"]["Config"][0]["Subnet"],
        a.network("bridge")["IPAM"]["Config"][0]["Subnet"]
    );
    // The root vanishes without cleaning up after itself.
    std::fs::remove_dir_all(a.e.root.join("networks")).unwrap();
    assert!(Path::new("/sys/class/net").join(&lost).exists());
    b.ok(&["network", "create", "fresh"]);
    assert!(!Path::new("/sys/class/net").join(&lost).exists());
    assert!(!Path::new("/sys/class/net")
        .join(format!("{}0", a.prefix))
        .exists());
    let o = Command::new("nft")
        .args([
            "list",
            "table",
            "ip",
            &format!("berth_{}", lost.replace('-', "_")),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the table of {lost} is left");
    // B's own bridges are untouched.
    assert!(Path::new("/sys/class/net")
        .join(format!("{}1", a.prefix))
        .exists());
}
