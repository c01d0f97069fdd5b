//! berth::network against real namespaces: each "container" is an
//! `unshare -n -m` process with the generated /etc/hosts bind-mounted, its
//! network set up by the library exactly as `run` does it. Traffic goes only
//! to 127.0.0.1, to our own bridges' addresses and to these namespaces.

use berth::network::{self, NetRequest, Proto};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::{unique_id, TempDir};

/// A berth root with its own bridge prefix and address pool, all of whose
/// networks are removed on drop.
struct Root {
    dir: TempDir,
    prefix: String,
}

impl Root {
    /// `octet`: the pool is 10.<octet>.0.0/16; unique per test.
    fn new(octet: u8) -> Root {
        let dir = TempDir::new("berth-net");
        let prefix = format!("bt{:03x}{:02x}", std::process::id() & 0xfff, octet);
        std::fs::create_dir_all(dir.path().join("networks")).unwrap();
        std::fs::write(
            dir.path().join("networks/config.json"),
            format!(r#"{{"bridge_prefix":"{prefix}","pool":"10.{octet}.0.0/16"}}"#),
        )
        .unwrap();
        Root { dir, prefix }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn links(&self) -> Vec<String> {
        let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&self.prefix))
            .map(String::from)
            .collect()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Err(e) = network::remove_all(self.path()) {
            eprintln!("cleanup of {}: {e}", self.path().display());
        }
    }
}

/// A stand-in container: its own network and mount namespaces, a container
/// directory under the root, and the /etc files mounted like `run` would.
struct Ns {
    init: Child,
    bg: Vec<Child>,
    id: String,
    root: PathBuf,
    etc: PathBuf,
    req: NetRequest,
}

impl Ns {
    fn new(root: &Root, name: &str, network: &str, ports: &[&str]) -> Ns {
        let id = unique_id("c");
        let etc = root.path().join("containers").join(&id).join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let mut p = Vec::new();
        for s in ports {
            p.extend(network::parse_publish(s).unwrap());
        }
        let req = NetRequest {
            container_id: id.clone(),
            name: name.to_string(),
            network: network.to_string(),
            ports: p,
            hostname: format!("h-{name}"),
            dns: vec![],
            add_hosts: vec![("extra".into(), "192.0.2.77".into())],
            ..Default::default()
        };
        network::write_etc_files(&etc, &req, None).unwrap();
        let init = Command::new("unshare")
            .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {0}/hosts /etc/hosts && mount --bind {0}/hostname /etc/hostname && exec sleep 600",
                etc.display()
            ))
            .spawn()
            .expect("unshare");
        let pid = init.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            != "sleep"
        {
            assert!(Instant::now() < deadline, "namespace process did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Ns {
            init,
            bg: Vec::new(),
            id,
            root: root.path().to_path_buf(),
            etc,
            req,
        }
    }
    fn netns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.init.id()))
    }
    fn setup(&self) -> Result<network::Attachment, network::NetError> {
        let att = network::setup(&self.root, &self.req, &self.netns())?;
        network::write_etc_files(&self.etc, &self.req, Some(&att))?;
        Ok(att)
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.init.id().to_string(), "-n", "-m", "--"])
            .args(args);
        c
    }
    fn run(&self, args: &[&str], stdin: &str) -> (bool, String) {
        let mut c = self.cmd(args);
        let mut ch = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ch.stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = ch.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
    /// busybox httpd on port 80 serving a page that names this container.
    fn serve_http(&mut self) {
        let www = self.etc.parent().unwrap().join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(
            www.join("index.html"),
            format!("hello from {}\n", self.req.name),
        )
        .unwrap();
        let ch = self
            .cmd(&[
                "busybox",
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                www.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        self.bg.push(ch);
        std::thread::sleep(Duration::from_millis(100));
    }
    /// An HTTP GET with busybox nc from inside this namespace.
    fn http_get(&self, host: &str) -> (bool, String) {
        self.run(
            &["busybox", "nc", "-w", "2", host, "80"],
            "GET / HTTP/1.0\r\n\r\n",
        )
    }
    fn hosts(&self) -> String {
        self.run(&["cat", "/etc/hosts"], "").1
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        for c in self.bg.iter_mut().chain(std::iter::once(&mut self.init)) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = network::teardown(&self.root, &self.id) {
            eprintln!("teardown {}: {e}", self.id);
        }
    }
}

fn curl(url: &str) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "3", "--noproxy", "*", url])
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn table(root: &Path, net: &str) -> String {
    let n = network::inspect(root, net).unwrap();
    let t = format!("berth_{}", n.bridge.replace('-', "_"));
    let out = Command::new("nft")
        .args(["list", "table", "ip", &t])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn port(att: &network::Attachment, ip: Option<&str>) -> u16 {
    att.ports
        .iter()
        .find(|p| p.host_ip.map(|i| i.to_string()).as_deref() == ip)
        .unwrap()
        .host_port
}

#[test]
fn default_bridge_traffic_and_published_ports() {
    let root = Root::new(201);
    let mut a = Ns::new(&root, "web", "bridge", &["80", "127.0.0.1::80"]);
    let b = Ns::new(&root, "client", "bridge", &[]);
    let aa = a.setup().unwrap();
    let ba = b.setup().unwrap();
    assert_ne!(aa.ip, ba.ip);
    assert_eq!(aa.gateway, ba.gateway);
    assert_eq!(aa.network, "bridge");
    assert!(aa.ports.iter().all(|p| p.host_port != 0), "{:?}", aa.ports);
    a.serve_http();

    // Inside: eth0 with the address, lo up, default route via the gateway.
    let (_, addr) = a.run(&["ip", "-o", "addr"], "");
    assert!(
        addr.contains(&format!("eth0    inet {}/{}", aa.ip, aa.prefix)),
        "{addr}"
    );
    assert!(addr.contains("lo    inet 127.0.0.1/8"), "{addr}");
    let (_, route) = a.run(&["ip", "route"], "");
    assert!(
        route.contains(&format!("default via {} dev eth0", aa.gateway)),
        "{route}"
    );
    let (_, link) = a.run(&["ip", "-o", "link", "show", "eth0"], "");
    assert!(link.contains(&aa.mac), "{link} vs {}", aa.mac);

    // Container to container.
    let (ok, out) = b.http_get(&aa.ip.to_string());
    assert!(ok && out.contains("hello from web"), "{out}");
    // No name resolution on the default network (as docker).
    assert!(!b.hosts().contains("web"), "{}", b.hosts());
    assert!(b.hosts().contains("192.0.2.77\textra"), "{}", b.hosts());

    // Host to the published port: 127.0.0.1, the bridge address, and the
    // port bound to 127.0.0.1 only.
    let any = port(&aa, None);
    let lo = port(&aa, Some("127.0.0.1"));
    for url in [
        format!("http://127.0.0.1:{any}/"),
        format!("http://{}:{any}/", aa.gateway),
        format!("http://127.0.0.1:{lo}/"),
    ] {
        let (ok, out) = curl(&url);
        assert!(ok && out.contains("hello from web"), "{url}: {out}");
    }
    let (ok, _) = curl(&format!("http://{}:{lo}/", aa.gateway));
    assert!(
        !ok,
        "a port published on 127.0.0.1 must not answer on the bridge address"
    );
    // Hairpin: the client reaches the published port through the gateway.
    let (ok, out) = b.run(
        &[
            "busybox",
            "nc",
            "-w",
            "2",
            &aa.gateway.to_string(),
            &any.to_string(),
        ],
        "GET / HTTP/1.0\r\n\r\n",
    );
    assert!(ok && out.contains("hello from web"), "hairpin: {out}");

    let listed = network::attachments(root.path(), &a.id).unwrap();
    assert_eq!(listed, vec![aa.clone()]);
    let t = table(root.path(), "bridge");
    assert!(t.contains(&format!("tcp . {any} : {} . 80", aa.ip)), "{t}");

    drop(a);
    let t = table(root.path(), "bridge");
    assert!(
        !t.contains(&format!("{any}")),
        "port left after teardown: {t}"
    );
    assert!(network::attachments(root.path(), &b.id).unwrap().len() == 1);
}

#[test]
fn user_network_names_and_isolation() {
    let root = Root::new(202);
    let n1 = network::create(root.path(), "front", None, None).unwrap();
    let n2 = network::create(
        root.path(),
        "back",
        Some("10.202.77.0/24"),
        Some("10.202.77.254"),
    )
    .unwrap();
    assert_ne!(n1.bridge, n2.bridge);
    assert_eq!(n2.gateway, "10.202.77.254".parse::<Ipv4Addr>().unwrap());

    let mut a = Ns::new(&root, "alpha", "front", &[]);
    let aa = a.setup().unwrap();
    a.serve_http();
    let b = Ns::new(&root, "beta", "front", &[]);
    let ba = b.setup().unwrap();
    let c = Ns::new(&root, "gamma", "back", &[]);
    let ca = c.setup().unwrap();
    assert!(n2.subnet.contains(match ca.ip {
        IpAddr::V4(i) => i,
        _ => unreachable!(),
    }));
    assert_eq!(
        ca.ip.to_string(),
        "10.202.77.1",
        "first free address, gateway skipped"
    );

    // beta reaches alpha by name, via the hosts file.
    let (ok, out) = b.http_get("alpha");
    assert!(ok && out.contains("hello from alpha"), "{out}");
    // alpha, set up first, learned about beta afterwards (in place, seen
    // through its bind mount).
    assert!(
        a.hosts().contains(&format!("{}\tbeta", ba.ip)),
        "{}",
        a.hosts()
    );
    assert!(
        a.hosts().contains(&format!("{}\th-alpha alpha", aa.ip)),
        "{}",
        a.hosts()
    );
    // The other network knows nothing of them and cannot reach them.
    assert!(!c.hosts().contains("alpha"), "{}", c.hosts());
    let (ok, out) = c.http_get(&aa.ip.to_string());
    assert!(!ok || !out.contains("hello"), "isolation broken: {out}");
    let (_, hn) = b.run(&["cat", "/etc/hostname"], "");
    assert_eq!(hn, "h-beta\n");

    // A network in use cannot be removed.
    let e = network::remove(root.path(), "front")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("in use by container alpha") || e.contains("in use by container beta"),
        "{e}"
    );
    // Peers forget a container that leaves.
    drop(b);
    assert!(!a.hosts().contains("beta"), "{}", a.hosts());
}

#[test]
fn udp_publish() {
    let root = Root::new(203);
    let a = Ns::new(&root, "udp", "bridge", &["127.0.0.1::5353/udp"]);
    let att = a.setup().unwrap();
    let hp = port(&att, Some("127.0.0.1"));
    assert_eq!(att.ports[0].proto, Proto::Udp);

    // A UDP echo server inside the namespace: a socket made by a thread that
    // joined it stays there.
    let ns = std::fs::File::open(a.netns()).unwrap();
    let server = std::thread::spawn(move || {
        // SAFETY: only this thread joins the namespace.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let s = UdpSocket::bind("0.0.0.0:5353").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        s.send_to(&[b"echo:", &buf[..n]].concat(), from).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(b"ping", ("127.0.0.1", hp)).unwrap();
    let mut buf = [0u8; 64];
    let n = c
        .recv(&mut buf)
        .expect("no UDP reply through the published port");
    assert_eq!(&buf[..n], b"echo:ping");
    server.join().unwrap();
}

#[test]
fn fifty_concurrent_setups_then_nothing_left() {
    let root = Root::new(204);
    let nss: Vec<Ns> = (0..50)
        .map(|i| {
            Ns::new(
                &root,
                &format!("c{i}"),
                "bridge",
                &[&format!("127.0.0.1::{}", 1000 + i)],
            )
        })
        .collect();
    let atts: Vec<network::Attachment> = std::thread::scope(|s| {
        let hs: Vec<_> = nss.iter().map(|n| s.spawn(|| n.setup())).collect();
        hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    let mut ips: Vec<IpAddr> = atts.iter().map(|a| a.ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50, "addresses not distinct");
    let mut ports: Vec<u16> = atts.iter().map(|a| a.ports[0].host_port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 50, "host ports not distinct");
    let bridge = network::inspect(root.path(), "bridge").unwrap();
    assert_eq!(bridge.leases.len(), 50);
    let veths = root
        .links()
        .iter()
        .filter(|l| l.contains(&format!("master {}", bridge.bridge)))
        .count();
    assert_eq!(veths, 50);

    let ids: Vec<String> = nss.iter().map(|n| n.id.clone()).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let r = root.path();
            s.spawn(move || network::teardown(r, id).unwrap());
        }
    });
    let bridge = network::inspect(root.path(), "bridge").unwrap();
    assert!(
        bridge.leases.is_empty(),
        "leases left: {:?}",
        bridge.leases.keys()
    );
    let left: Vec<String> = Command::new("ip")
        .args(["-o", "link", "show", "master", &bridge.bridge])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect()
        })
        .unwrap();
    assert!(left.is_empty(), "veths left: {left:?}");
    let t = table(root.path(), "bridge");
    assert!(!t.contains("elements"), "rules left: {t}");
    // Teardown is idempotent.
    network::teardown(root.path(), &ids[0]).unwrap();
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let root = Root::new(205);
    network::create(root.path(), "one", Some("10.205.1.0/24"), None).unwrap();
    let before = root.links();
    for (subnet, gw, want) in [
        (Some("10.205.1.128/25"), None, "overlaps network \"one\""),
        (
            Some("127.0.0.0/8"),
            None,
            "overlaps the address 127.0.0.1/8 of lo",
        ),
        (
            Some("10.205.2.0/24"),
            Some("10.205.3.1"),
            "is not a host address",
        ),
        (Some("10.205.2.1/24"), None, "host bits set"),
    ] {
        let e = network::create(root.path(), "two", subnet, gw)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{subnet:?}: {e}");
    }
    assert!(network::inspect(root.path(), "two").is_err());
    assert_eq!(root.links(), before);
    let e = network::create(root.path(), "one", None, None)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "network one already exists");
    let e = network::create(root.path(), "bad name!", None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid network name"), "{e}");

    let e = network::parse_publish("80:80/sctp")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown protocol \"sctp\""), "{e}");

    // A port published twice: the second container gets an error, no
    // lease, no veth.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = format!("127.0.0.1:{free}:80");
    let a = Ns::new(&root, "first", "one", &[&spec]);
    a.setup().unwrap();
    let b = Ns::new(&root, "second", "one", &[&spec]);
    let e = b.setup().unwrap_err().to_string();
    assert_eq!(
        e,
        format!("port {free}/tcp is already published by container \"first\"")
    );
    // Also when the other asks for every address.
    let c = Ns::new(&root, "third", "one", &[&format!("{free}:80")]);
    assert!(c.setup().is_err());
    let net = network::inspect(root.path(), "one").unwrap();
    assert_eq!(net.leases.len(), 1);
    assert!(!b.run(&["ip", "-o", "link"], "").1.contains("eth0"));
    // A port something else listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = l.local_addr().unwrap().port();
    let d = Ns::new(&root, "fourth", "one", &[&format!("127.0.0.1:{busy}:80")]);
    let e = d.setup().unwrap_err().to_string();
    assert!(e.contains("already in use"), "{e}");
    let e = Ns::new(&root, "x", "nosuch", &[])
        .setup()
        .unwrap_err()
        .to_string();
    assert_eq!(e, "no such network: nosuch");
    assert_eq!(
        network::inspect(root.path(), "one").unwrap().leases.len(),
        1
    );
}

#[test]
fn stale_leases_are_reclaimed() {
    let root = Root::new(206);
    let a = Ns::new(&root, "ghost", "bridge", &["127.0.0.1::80"]);
    let att = a.setup().unwrap();
    let hp = port(&att, Some("127.0.0.1"));
    // The container vanished without teardown (a killed berth): its
    // directory is gone, its namespace too.
    std::fs::remove_dir_all(root.path().join("containers").join(&a.id)).unwrap();
    let mut a = a;
    let _ = a.init.kill();
    let _ = a.init.wait();
    let b = Ns::new(&root, "next", "bridge", &[&format!("127.0.0.1:{hp}:80")]);
    let batt = b
        .setup()
        .expect("the stale lease's port must be free again");
    assert_eq!(batt.ip, att.ip, "the stale address is reused");
    let net = network::inspect(root.path(), "bridge").unwrap();
    assert_eq!(net.leases.len(), 1);
    assert!(net.leases.contains_key(&b.id));
    assert!(network::attachments(root.path(), &a.id).unwrap().is_empty());
}
