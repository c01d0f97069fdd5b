//! Container networking end to end: the real berth, berth-shim and
//! berth-runtime with busybox containers. Each test has a root of its own
//! with its own bridge prefix and address pool (10.<octet>.0.0/16, unique
//! per test) and free host ports, so tests run next to anyone's. Traffic
//! goes only to 127.0.0.1, our own bridges and our own containers.

mod common;

use common::containers::Env;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Net {
    e: Env,
    prefix: String,
}

impl Net {
    /// `octet`: the pool is 10.<octet>.0.0/16; unique per test.
    fn new(octet: u8) -> Net {
        let e = Env::new();
        let prefix = format!("be{:03x}{octet:02x}", std::process::id() & 0xfff);
        std::fs::create_dir_all(e.root.join("networks")).unwrap();
        std::fs::write(
            e.root.join("networks/config.json"),
            format!(r#"{{"bridge_prefix":"{prefix}","pool":"10.{octet}.0.0/16"}}"#),
        )
        .unwrap();
        Net { e, prefix }
    }

    fn ok(&self, args: &[&str]) -> String {
        self.e.ok(args)
    }

    fn network(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["network", "inspect", name])).unwrap();
        v[0].clone()
    }

    fn bridge(&self, name: &str) -> String {
        self.network(name)["bridge"].as_str().unwrap().to_string()
    }

    fn gateway(&self, name: &str) -> String {
        self.network(name)["gateway"].as_str().unwrap().to_string()
    }

    fn leases(&self, name: &str) -> usize {
        self.network(name)["leases"].as_object().unwrap().len()
    }

    /// The container's IPv4 address on eth0, as it sees it.
    fn ip_of(&self, name: &str) -> String {
        let out = self.ok(&["exec", name, "ip", "-4", "-o", "addr", "show", "eth0"]);
        let inet = out.split_whitespace().skip_while(|w| *w != "inet").nth(1);
        inet.and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no address on eth0: {out}"))
            .to_string()
    }

    /// busybox httpd on port 80 of a new detached container, serving
    /// /seed/hello.txt.
    fn web(&self, name: &str, extra: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--name", name];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/seed"]);
        self.ok(&a).trim().to_string()
    }

    /// An HTTP GET of /hello.txt from a new container with busybox nc.
    fn get_from(&self, net: &[&str], host: &str) -> (bool, String) {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(net);
        let script = format!(
            "for i in 1 2 3 4 5 6 7 8 9 10; do \
               printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80 > /tmp/r 2>&1 && \
               grep -q 'from the image' /tmp/r && break; sleep 0.2; done; cat /tmp/r; grep -q 'from the image' /tmp/r"
        );
        a.extend_from_slice(&["busybox", "sh", "-c", &script]);
        let o = self.e.berth(&a);
        (o.code == 0, format!("{}{}", o.stdout, o.stderr))
    }

    /// Veths enslaved to the bridge (the container ends' host sides).
    fn ports_on(bridge: &str) -> usize {
        std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn links(&self) -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&self.prefix))
            .collect()
    }
}

/// `nft list map` elements of a network's table (0 if there is no table).
fn nft_elements(bridge: &str) -> usize {
    let table = format!("berth_{}", bridge.replace('-', "_"));
    let mut n = 0;
    for map in ["pa", "ph"] {
        let o = Command::new("nft")
            .args(["-j", "list", "map", "ip", &table, map])
            .output()
            .unwrap();
        if !o.status.success() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for x in v["nftables"].as_array().unwrap() {
            if let Some(e) = x["map"]["elem"].as_array() {
                n += e.len();
            }
        }
    }
    n
}

fn curl(url: &str) -> Option<String> {
    let o = Command::new("curl")
        .args(["-sf", "--max-time", "2", "--noproxy", "*", url])
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn curl_until(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        if let Some(s) = curl(url) {
            return s;
        }
        assert!(Instant::now() < deadline, "nothing answered on {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

/// Interface names in /proc/net/dev (that file follows the reader's netns).
fn ifaces(proc_net_dev: &str) -> Vec<String> {
    let mut v: Vec<String> = proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn four_modes_as_seen_inside() {
    let n = Net::new(221);
    // bridge, the default: lo and eth0 with an address of the pool and the
    // default route via the bridge's address.
    n.ok(&["run", "-d", "--name", "b", "busybox", "sleep", "60"]);
    let dev = n.ok(&["exec", "b", "cat", "/proc/net/dev"]);
    assert_eq!(ifaces(&dev), ["eth0", "lo"], "{dev}");
    assert_eq!(
        lines(&n.ok(&["exec", "b", "ls", "/sys/class/net"])),
        ["eth0", "lo"]
    );
    let ip = n.ip_of("b");
    assert!(ip.starts_with("10.221."), "{ip}");
    let gw = n.gateway("bridge");
    let route = n.ok(&["exec", "b", "ip", "route"]);
    assert!(
        route.contains(&format!("default via {gw} dev eth0")),
        "{route}"
    );
    let lo = n.ok(&["exec", "b", "ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains(",UP"), "{lo}");
    assert_eq!(n.bridge("bridge"), format!("{}0", n.prefix));
    let hosts = n.ok(&["exec", "b", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&ip), "{hosts}");

    // none: lo alone, up.
    let dev = n.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(ifaces(&dev), ["lo"], "{dev}");
    let lo = n.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "addr",
        "show",
        "lo",
    ]);
    assert!(lo.contains("127.0.0.1/8"), "{lo}");

    // host: the host's interfaces.
    let dev = n.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "cat",
        "/proc/net/dev",
    ]);
    let host = ifaces(&std::fs::read_to_string("/proc/net/dev").unwrap());
    let inside = ifaces(&dev);
    // Other tests make and remove interfaces meanwhile: compare the steady ones.
    for i in ["lo", "eth0"]
        .iter()
        .filter(|i| host.contains(&i.to_string()))
    {
        assert!(inside.contains(&i.to_string()), "{i} missing: {dev}");
    }
    assert!(inside.contains(&format!("{}0", n.prefix)), "{dev}");

    // container:NAME and container:ID: the other container's interfaces,
    // address and /etc/hosts.
    let id = n.ok(&["ps", "-q", "--no-trunc", "-f", "name=b"]);
    let id = id.trim();
    for peer in ["b", &id[..12]] {
        let mode = format!("container:{peer}");
        let out = n.ok(&[
            "run",
            "--rm",
            "--network",
            &mode,
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; cat /etc/hosts",
        ]);
        assert!(out.contains(&format!("inet {ip}/")), "{out}");
        assert!(out.contains(&format!("{ip}\t")), "{out}");
    }
    // It shares the namespace: no lease, no veth of its own.
    assert_eq!(n.leases("bridge"), 1);
    assert_eq!(Net::ports_on(&n.bridge("bridge")), 1);
    n.e.fails(
        &[
            "run",
            "--rm",
            "--network",
            "container:nosuch",
            "busybox",
            "true",
        ],
        "nosuch",
    );
}

#[test]
fn default_bridge_traffic_and_published_ports() {
    let n = Net::new(222);
    let (p1, p2) = (test_support::free_port(), test_support::free_port());
    let a = format!("127.0.0.1:{p1}:80");
    let b = format!("{p2}:80");
    n.web("web", &["-p", &a, "-p", &b]);
    let ip = n.ip_of("web");
    // Container to container on the default bridge, by address.
    let (ok, out) = n.get_from(&[], &ip);
    assert!(ok, "{out}");
    // The host: on 127.0.0.1, on the bridge's address, on the container's.
    let gw = n.gateway("bridge");
    assert_eq!(
        curl_until(&format!("http://127.0.0.1:{p1}/hello.txt")),
        "from the image\n"
    );
    assert_eq!(
        curl_until(&format!("http://127.0.0.1:{p2}/hello.txt")),
        "from the image\n"
    );
    assert_eq!(
        curl_until(&format!("http://{gw}:{p2}/hello.txt")),
        "from the image\n"
    );
    // Published on 127.0.0.1 only: not on the bridge's address.
    assert!(curl(&format!("http://{gw}:{p1}/hello.txt")).is_none());
    assert_eq!(
        curl_until(&format!("http://{ip}/hello.txt")),
        "from the image\n"
    );
    let port = n.ok(&["port", "web"]);
    assert!(
        port.contains(&format!("80/tcp -> 127.0.0.1:{p1}")),
        "{port}"
    );
    assert!(port.contains(&format!("80/tcp -> 0.0.0.0:{p2}")), "{port}");

    // Stop frees the address and ports, start takes them again.
    let br = n.bridge("bridge");
    n.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(n.leases("bridge"), 0);
    assert_eq!(nft_elements(&br), 0);
    n.ok(&["start", "web"]);
    assert_eq!(
        curl_until(&format!("http://127.0.0.1:{p1}/hello.txt")),
        "from the image\n"
    );
    assert_eq!(nft_elements(&br), 2);
    n.ok(&["rm", "-f", "web"]);
    assert_eq!(n.leases("bridge"), 0);
    assert_eq!(nft_elements(&br), 0);
    assert_eq!(Net::ports_on(&br), 0);
    assert!(curl(&format!("http://127.0.0.1:{p1}/hello.txt")).is_none());
}

#[test]
fn udp_ranges_and_publish_all() {
    let n = Net::new(223);
    // UDP (this busybox's nc has no -u): an echo socket made by a thread
    // that joined the container's network namespace; the host sends to
    // the published port on 127.0.0.1.
    let pu = test_support::free_port();
    let spec = format!("127.0.0.1:{pu}:5353/udp");
    n.ok(&[
        "run", "-d", "--name", "udp", "-p", &spec, "busybox", "sleep", "60",
    ]);
    let pid = n.ok(&["inspect", "--format", "{{.State.Pid}}", "udp"]);
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", pid.trim())).unwrap();
    let server = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: only this thread joins the namespace, and it ends here.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let s = std::net::UdpSocket::bind("0.0.0.0:5353").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let (len, from) = s.recv_from(&mut buf).unwrap();
        s.send_to(&[b"echo:", &buf[..len]].concat(), from).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(b"ping", ("127.0.0.1", pu)).unwrap();
    let mut buf = [0u8; 64];
    let len = c
        .recv(&mut buf)
        .expect("no UDP reply through the published port");
    assert_eq!(&buf[..len], b"echo:ping");
    server.join().unwrap();
    assert_eq!(
        n.ok(&["port", "udp"]).trim(),
        format!("5353/udp -> 127.0.0.1:{pu}")
    );

    // A range: two host ports to two container ports.
    let base = loop {
        let p = test_support::free_port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let range = format!("127.0.0.1:{base}-{}:80-81", base + 1);
    n.web("ranged", &["-p", &range]);
    let port = n.ok(&["port", "ranged"]);
    assert!(
        port.contains(&format!("80/tcp -> 127.0.0.1:{base}")),
        "{port}"
    );
    assert!(
        port.contains(&format!("81/tcp -> 127.0.0.1:{}", base + 1)),
        "{port}"
    );
    assert_eq!(
        n.ok(&["port", "ranged", "81/tcp"]).trim(),
        format!("127.0.0.1:{}", base + 1)
    );
    assert_eq!(
        curl_until(&format!("http://127.0.0.1:{base}/hello.txt")),
        "from the image\n"
    );

    // -P: every EXPOSEd port on a free host port.
    let tar = n.e.dir.path().join("rootfs.tar");
    n.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        "-c",
        "EXPOSE 80 53/udp",
        tar.to_str().unwrap(),
        "exposing:latest",
    ]);
    n.ok(&[
        "run", "-d", "--name", "all", "-P", "exposing", "httpd", "-f", "-p", "80", "-h", "/seed",
    ]);
    let port = n.ok(&["port", "all"]);
    assert_eq!(port.lines().count(), 2, "{port}");
    assert!(port.contains("53/udp -> 0.0.0.0:"), "{port}");
    let hp = port
        .lines()
        .find_map(|l| l.strip_prefix("80/tcp -> 0.0.0.0:"))
        .unwrap_or_else(|| panic!("80/tcp not published: {port}"));
    assert_eq!(
        curl_until(&format!("http://127.0.0.1:{hp}/hello.txt")),
        "from the image\n"
    );
    // -P on an image that exposes nothing publishes nothing.
    n.ok(&[
        "run", "-d", "--name", "bare", "-P", "busybox", "sleep", "60",
    ]);
    assert_eq!(n.ok(&["port", "bare"]), "");
    let br = n.bridge("bridge");
    for c in ["udp", "ranged", "all", "bare"] {
        n.ok(&["rm", "-f", c]);
    }
    assert_eq!(nft_elements(&br), 0);
    assert_eq!(n.leases("bridge"), 0);
}

#[test]
fn user_networks_names_isolation_connect() {
    let n = Net::new(224);
    n.ok(&["network", "create", "--subnet", "10.224.1.0/24", "front"]);
    n.ok(&["network", "create", "--subnet", "10.224.2.0/24", "back"]);
    n.web("web", &["--network", "front"]);
    let ip = n.ip_of("web");
    assert!(ip.starts_with("10.224.1."), "{ip}");
    // Same network: by name.
    let (ok, out) = n.get_from(&["--network", "front"], "web");
    assert!(ok, "{out}");
    // Another network: neither by name nor by address.
    let o = n.e.berth(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80"),
    ]);
    assert!(
        !o.stdout.contains("HTTP/1"),
        "back reached front: {}",
        o.stdout
    );
    let o = n.e.berth(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "ping",
        "-c1",
        "-W1",
        "web",
    ]);
    assert_ne!(o.code, 0, "web resolved on back: {}", o.stdout);
    // The default bridge is apart from both.
    let o = n.e.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80"),
    ]);
    assert!(
        !o.stdout.contains("HTTP/1"),
        "bridge reached front: {}",
        o.stdout
    );

    // connect: a running container on back joins front (eth1) and finds web.
    n.ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        "back",
        "busybox",
        "sleep",
        "60",
    ]);
    n.ok(&["network", "connect", "front", "cli"]);
    let dev = n.ok(&["exec", "cli", "cat", "/proc/net/dev"]);
    assert_eq!(ifaces(&dev), ["eth0", "eth1", "lo"], "{dev}");
    let hosts = n.ok(&["exec", "cli", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\tweb")), "{hosts}");
    let web_hosts = n.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(web_hosts.contains("\tcli"), "{web_hosts}");
    let o = n.e.berth(&[
        "exec",
        "cli",
        "sh",
        "-c",
        "printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80",
    ]);
    assert!(
        o.stdout.contains("from the image"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    n.e.fails(&["network", "connect", "front", "cli"], "already attached");
    // It stays connected across a restart.
    n.ok(&["restart", "-t", "1", "cli"]);
    let dev = n.ok(&["exec", "cli", "cat", "/proc/net/dev"]);
    assert_eq!(ifaces(&dev), ["eth0", "eth1", "lo"], "{dev}");
    n.ok(&["network", "disconnect", "front", "cli"]);
    let dev = n.ok(&["exec", "cli", "cat", "/proc/net/dev"]);
    assert_eq!(ifaces(&dev), ["eth0", "lo"], "{dev}");
    assert!(!n
        .ok(&["exec", "web", "cat", "/etc/hosts"])
        .contains("\tcli"));
    n.e.fails(&["network", "connect", "nosuch", "cli"], "no such network");
    n.ok(&[
        "run",
        "-d",
        "--name",
        "lonely",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    n.e.fails(&["network", "connect", "front", "lonely"], "cannot join");

    n.e.fails(&["network", "rm", "front"], "in use");
    for c in ["web", "cli", "lonely"] {
        n.ok(&["rm", "-f", c]);
    }
    n.ok(&["network", "rm", "front", "back"]);
    // As docker's: the default network is never pruned; its bridge stays.
    let pruned = n.ok(&["network", "prune"]);
    assert!(!pruned.contains("bridge"), "{pruned}");
    assert_eq!(n.links().len(), 1, "{:?}", n.links());
    berth::network::remove_all(&n.e.root).unwrap();
    assert_eq!(n.links(), Vec::<String>::new());
}

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
    let leases = net["leases"].as_object().unwrap();
    let mut ips: Vec<&str> = leases.values().map(|l| l["ip"].as_str().unwrap()).collect();
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
    assert_eq!(lines(&n.ok(&["network", "ls", "-q"])), ["one"]);

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
    let leases = net["leases"].as_object().unwrap();
    assert_eq!(leases.len(), 1, "{net}");
    assert_eq!(leases.values().next().unwrap()["name"], "heir");
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
    assert_eq!(bb[0]["bridge"], format!("{}1", a.prefix));
    assert_ne!(bb[0]["subnet"], a.network("bridge")["subnet"]);
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

/// A network namespace of the test's own, reached from the host through a
/// veth pair on 10.229.255.252/30, the top of the test's own pool (the
/// network berth makes takes the bottom): an "outside" host for outbound
/// traffic. Removed on drop.
struct Outside {
    ns: String,
    host_if: String,
}

impl Outside {
    fn new() -> Outside {
        let tag = format!("{:05x}", std::process::id() & 0xfffff);
        let o = Outside {
            ns: format!("bext{tag}"),
            host_if: format!("bxh{tag}"),
        };
        let peer = format!("bxe{tag}");
        let routes = Command::new("ip").args(["-4", "route"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&routes.stdout).contains("10.229."),
            "10.229.0.0/16 is in use on this host"
        );
        for args in [
            vec!["netns", "add", &o.ns],
            vec![
                "link", "add", &o.host_if, "type", "veth", "peer", "name", &peer,
            ],
            vec!["link", "set", &peer, "netns", &o.ns],
            vec!["addr", "add", "10.229.255.253/30", "dev", &o.host_if],
            vec!["link", "set", &o.host_if, "up"],
            vec![
                "-n",
                &o.ns,
                "addr",
                "add",
                "10.229.255.254/30",
                "dev",
                &peer,
            ],
            vec!["-n", &o.ns, "link", "set", &peer, "up"],
            vec!["-n", &o.ns, "link", "set", "lo", "up"],
        ] {
            let st = Command::new("ip").args(&args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        }
        o
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[test]
fn outbound_traffic_is_masqueraded() {
    let n = Net::new(229);
    let out = Outside::new();
    // One TCP accept in the outside namespace, printing who called. The
    // outside has no route back to the container's subnet: only a
    // masqueraded connection (from the host's 10.229.255.253) can complete.
    let mut server = Command::new("ip")
        .args(["netns", "exec", &out.ns, "python3", "-c"])
        .arg(
            "import socket,sys\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('10.229.255.254', 8080)); s.listen(1); s.settimeout(20)\n\
             print('ready', flush=True)\n\
             c,a=s.accept(); c.sendall(b'hello outside\\n'); print(a[0], flush=True)",
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let o = n.e.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; nc -w 5 10.229.255.254 8080",
    ]);
    let got = format!("{}{}", o.stdout, o.stderr);
    assert!(o.code == 0 && got.contains("hello outside"), "{got}");
    let container_ip = got
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(container_ip.starts_with("10.229."), "{got}");
    line.clear();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert_eq!(
        line.trim(),
        "10.229.255.253",
        "the outside saw the host, not {container_ip}"
    );
    let _ = server.wait();
}

#[test]
fn static_ip_and_aliases_on_a_user_network() {
    let n = Net::new(230);
    n.ok(&["network", "create", "--subnet", "10.230.9.0/24", "pinned"]);
    n.web(
        "web",
        &[
            "--network",
            "pinned",
            "--ip",
            "10.230.9.77",
            "--network-alias",
            "www",
            "--network-alias",
            "api.internal",
        ],
    );
    assert_eq!(n.ip_of("web"), "10.230.9.77");
    // docker names it by its short id on a user network too.
    let short = n.e.inspect("web", "{{.Id}}")[..12].to_string();
    assert_eq!(
        n.e.inspect(
            "web",
            "{{.NetworkSettings.IPAddress}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.Gateway}} {{join $v.Aliases \",\"}}{{end}}"
        ),
        format!("10.230.9.77 pinned 10.230.9.1 www,api.internal,{short}")
    );
    // Peers reach it by its aliases as by its name.
    for host in ["www", "api.internal", "web", short.as_str()] {
        let (ok, out) = n.get_from(&["--network", "pinned"], host);
        assert!(ok, "{host}: {out}");
    }
    // The address is its own: another container cannot take it, and it is
    // the same after a restart.
    n.e.fails(
        &[
            "run",
            "--rm",
            "--network",
            "pinned",
            "--ip",
            "10.230.9.77",
            "busybox",
            "true",
        ],
        "in use by container web",
    );
    n.ok(&["restart", "-t", "0", "web"]);
    assert_eq!(n.ip_of("web"), "10.230.9.77");
    for (args, want) in [
        (vec!["--ip", "10.230.9.78"], "needs a user network"),
        (vec!["--network-alias", "x"], "needs a user network"),
        (
            vec!["--network", "pinned", "--ip", "10.230.10.5"],
            "not a free host address",
        ),
        (
            vec!["--network", "pinned", "--ip", "10.230.9.1"],
            "not a free host address",
        ),
        (
            vec!["--network", "pinned", "--ip", "ten"],
            "expected an IPv4 address",
        ),
        (
            vec!["--network", "pinned", "--network-alias", "a b"],
            "not a valid host name",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(&args);
        a.extend_from_slice(&["busybox", "true"]);
        n.e.fails(&a, want);
    }
    n.ok(&["rm", "-f", "web"]);
    assert_eq!(n.e.container_dirs(), 0);
    assert_eq!(n.leases("pinned"), 0);
}
