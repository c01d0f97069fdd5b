//! Container networking end to end: the real berth, berth-shim and
//! berth-runtime with busybox containers. Each test has a root of its own
//! with its own bridge prefix and address pool (10.<octet>.0.0/16, unique
//! per test) and free host ports, so tests run next to anyone's. Traffic
//! goes only to 127.0.0.1, our own bridges and our own containers.
//!
//! This file: what a container sees and reaches in each mode; what is left
//! behind (or not) after crowds, bad input and deaths is in net_e2e_cleanup.rs,
//! the harness (`Net`) in common/net.rs.

mod common;

use common::net::{curl, curl_until, ifaces, lines, nft_elements, Net};
use std::process::Command;
use std::time::Duration;

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
