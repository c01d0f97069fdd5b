//! IPv6 dual stack end to end: `network create --ipv6`, `--ip6`, the v6
//! default route, `-p [::1]:P:80`, peers' AAAA names, inspect, and what is
//! left after rm, network rm and a berth killed half way. Pools 10.241/16
//! and 10.242/16 with fd42:b3e7:241::/64 and fd42:b3e7:242::/64 (no other
//! test uses them); traffic only to ::1, 127.0.0.1 and our containers.

mod common;

use common::containers::wait_until;
use common::net::{curl, curl_until, Net};
use std::process::Command;

/// The processes whose command line contains every one of `words`.
fn procs_with(words: &[&str]) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(c) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let c = String::from_utf8_lossy(&c).replace('\0', " ");
        if words.iter().all(|w| c.contains(w)) {
            out.push(pid);
        }
    }
    out
}

fn ip6_table(bridge: &str) -> bool {
    let t = format!("berth_{}", bridge.replace('-', "_"));
    Command::new("nft")
        .args(["list", "table", "ip6", &t])
        .output()
        .unwrap()
        .status
        .success()
}

/// A port free on both 127.0.0.1 and ::1.
fn free_port_both() -> u16 {
    loop {
        let p = test_support::free_port();
        if std::net::TcpListener::bind(("::1", p)).is_ok() {
            return p;
        }
    }
}

#[test]
fn dual_stack_publish_names_inspect_and_cleanup() {
    let n = Net::new(241);
    let sub6 = "fd42:b3e7:241::/64";
    let id = n.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.241.1.0/24",
        "--subnet",
        sub6,
        "v6net",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let net = n.network("v6net");
    assert_eq!(net["EnableIPv6"], true, "{net}");
    assert_eq!(net["IPAM"]["Config"][1]["Subnet"], sub6, "{net}");
    assert_eq!(net["IPAM"]["Config"][1]["Gateway"], "fd42:b3e7:241::1");
    let ls = n.ok(&["network", "ls", "--format", "{{.Name}} {{.IPv6}}"]);
    assert!(ls.contains("v6net true"), "{ls}");
    let br = n.bridge("v6net");
    assert!(ip6_table(&br), "no ip6 table for {br}");

    let (p1, p2) = (free_port_both(), free_port_both());
    let lo6 = format!("[::1]:{p1}:80");
    let any = format!("{p2}:80");
    n.web(
        "w",
        &[
            "--network",
            "v6net",
            "--ip6",
            "fd42:b3e7:241::10",
            "-p",
            &lo6,
            "-p",
            &any,
        ],
    );
    // Inside: the address and the v6 default route.
    let a = n.ok(&["exec", "w", "ip", "-6", "-o", "addr", "show", "eth0"]);
    assert!(a.contains("fd42:b3e7:241::10/64"), "{a}");
    let r = n.ok(&["exec", "w", "ip", "-6", "route"]);
    assert!(r.contains("default via fd42:b3e7:241::1 dev eth0"), "{r}");
    // docker's inspect fields.
    let g = |t: &str| n.ok(&["inspect", "--format", t, "w"]).trim().to_string();
    assert_eq!(
        g("{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}"),
        "fd42:b3e7:241::10"
    );
    assert_eq!(
        g("{{.NetworkSettings.Networks.v6net.GlobalIPv6PrefixLen}}"),
        "64"
    );
    assert_eq!(
        g("{{.NetworkSettings.Networks.v6net.IPv6Gateway}}"),
        "fd42:b3e7:241::1"
    );

    // From the host: on ::1 through the published port, by its v6 address,
    // and the other publication on 127.0.0.1 and ::1 both.
    let hello = "from the image";
    assert!(curl_until(&format!("http://[::1]:{p1}/hello.txt")).contains(hello));
    assert!(curl_until("http://[fd42:b3e7:241::10]:80/hello.txt").contains(hello));
    assert!(curl_until(&format!("http://127.0.0.1:{p2}/hello.txt")).contains(hello));
    assert!(curl_until(&format!("http://[::1]:{p2}/hello.txt")).contains(hello));
    // Not the proxy: the ip6 table's DNAT, to a v6 address of the host's
    // own (the bridge's).
    assert!(curl_until(&format!("http://[fd42:b3e7:241::1]:{p2}/hello.txt")).contains(hello));
    // [::1]:p1 is v6 only.
    assert!(curl(&format!("http://127.0.0.1:{p1}/hello.txt")).is_none());
    let proxies = procs_with(&["internal-proxy", "[fd42:b3e7:241::10]:80"]);
    assert_eq!(proxies.len(), 2, "one proxy per [::1] publication");

    // A peer reaches it by name over v6 (its AAAA line), and is known to it.
    n.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "--network",
        "v6net",
        "busybox",
        "sleep",
        "60",
    ]);
    let hosts = n.ok(&["exec", "p", "cat", "/etc/hosts"]);
    assert!(hosts.contains("fd42:b3e7:241::10\tw"), "{hosts}");
    n.ok(&["exec", "p", "ping", "-6", "-c", "1", "-W", "3", "w"]);
    let get = "printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc fd42:b3e7:241::10 80";
    assert!(n.ok(&["exec", "p", "sh", "-c", get]).contains(hello));
    let p6 = g_of(&n, "p");
    assert!(p6.starts_with("fd42:b3e7:241::"), "{p6}");
    let hosts = n.ok(&["exec", "w", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{p6}\tp")), "{hosts}");
    n.ok(&["exec", "w", "ping", "-6", "-c", "1", "-W", "3", "p"]);

    // Bad input: one line, nothing made.
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "v6net",
            "--ip6",
            "fd42:b3e7:999::5",
            "busybox",
            "true",
        ],
        "not a host address",
    );
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "v6net",
            "--ip6",
            "fd42:b3e7:241::10",
            "busybox",
            "true",
        ],
        "in use",
    );
    n.e.fails(
        &[
            "run",
            "-d",
            "--network",
            "v6net",
            "-p",
            &lo6,
            "busybox",
            "true",
        ],
        "already published",
    );
    n.e.fails(&["network", "create", "--ipv6", "nopool"], "no IPv6 pool");
    n.e.fails(
        &[
            "network",
            "create",
            "--subnet",
            "fd42:b3e7:241:1::/64",
            "no6",
        ],
        "needs --ipv6",
    );
    n.e.fails(
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd42:b3e7:241::/64",
            "twice",
        ],
        "overlaps network \"v6net\"",
    );
    n.e.fails(
        &["run", "-d", "-p", "[::1]:18:80", "busybox", "true"],
        "has no IPv6",
    );
    assert_eq!(n.leases("v6net"), 2);

    // rm -f: no proxy, no port, no lease.
    n.ok(&["rm", "-f", "w", "p"]);
    for pid in proxies {
        wait_until(5, "the proxy to end", || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
    }
    assert!(curl(&format!("http://[::1]:{p1}/hello.txt")).is_none());
    assert!(
        std::net::TcpListener::bind(("::1", p1)).is_ok(),
        "port {p1} still taken"
    );
    assert_eq!(n.leases("v6net"), 0);
    assert_eq!(Net::ports_on(&br), 0);
    n.ok(&["network", "rm", "v6net"]);
    assert!(!ip6_table(&br), "ip6 table left");
    assert!(!std::path::Path::new("/sys/class/net").join(&br).exists());
    let _ = n.ok(&["network", "prune", "-f"]);
}

fn g_of(n: &Net, name: &str) -> String {
    n.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.GlobalIPv6Address}}",
        name,
    ])
    .trim()
    .to_string()
}

#[test]
fn killed_berth_leaves_no_v6_proxy_or_lease() {
    let n = Net::new(242);
    std::fs::write(
        n.e.root.join("networks/config.json"),
        format!(
            r#"{{"bridge_prefix":"{}","pool":"10.242.0.0/16","pool6":"fd42:b3e7:242::/56"}}"#,
            n.prefix
        ),
    )
    .unwrap();
    // --ipv6 without a v6 subnet: a /64 of the configured pool6.
    n.ok(&["network", "create", "--ipv6", "k6"]);
    let net = n.network("k6");
    assert_eq!(
        net["IPAM"]["Config"][1]["Subnet"], "fd42:b3e7:242::/64",
        "{net}"
    );
    let br = n.bridge("k6");
    let p = free_port_both();
    let spec = format!("[::1]:{p}:80");
    let o =
        n.e.cmd(&[
            "run",
            "-d",
            "--name",
            "crashed",
            "--network",
            "k6",
            "-p",
            &spec,
            "busybox",
            "sleep",
            "60",
        ])
        .env("BERTH_FAILPOINT", "net-after-proxy")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{o:?}");
    // The proxy runs, though no record names it yet.
    assert_eq!(
        procs_with(&["internal-proxy", "[fd42:b3e7:242::2]:80"]).len(),
        1
    );
    // Any later command: rm -f takes the container and its namespace, the
    // proxy follows its namespace holder, the lease and veth go.
    n.ok(&["rm", "-f", "crashed"]);
    wait_until(6, "the orphaned proxy to end", || {
        procs_with(&["internal-proxy", "[fd42:b3e7:242::2]:80"])
            .iter()
            .all(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map_or(true, |s| s.contains(") Z "))
            })
    });
    assert!(
        std::net::TcpListener::bind(("::1", p)).is_ok(),
        "port {p} still taken"
    );
    assert_eq!(n.leases("k6"), 0);
    assert_eq!(Net::ports_on(&br), 0);
    assert_eq!(n.ok(&["network", "prune", "-f"]).trim(), "k6");
    assert!(!ip6_table(&br));
    assert!(!std::path::Path::new("/sys/class/net").join(&br).exists());
}

/// `curl --unix-socket` to `berth serve`: (status, body as JSON).
fn api(
    sock: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "--max-time",
        "30",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--unix-socket",
    ])
    .arg(sock)
    .args(["-X", method, &format!("http://d{path}")]);
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "-d", b]);
    }
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (b, code) = out.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(b).unwrap_or(serde_json::Value::Null),
    )
}

/// The Engine API: network create with EnableIPv6 and a v6 IPAM config,
/// a container with an IPv6Address in its endpoint config, docker's fields.
#[test]
fn engine_api_dual_stack() {
    let n = Net::new(248);
    let sock = n.e.root.parent().unwrap().join("api.sock");
    let mut serve = Command::new(common::containers::berth_bin())
        .arg("--root")
        .arg(&n.e.root)
        .args(["serve", "-H"])
        .arg(format!("unix://{}", sock.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(10, "the API socket", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    let (st, v) = api(
        &sock,
        "POST",
        "/v1.41/networks/create",
        Some(
            r#"{"Name":"apinet","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"10.248.1.0/24"},{"Subnet":"fd42:b3e7:248::/64","Gateway":"fd42:b3e7:248::1"}]}}"#,
        ),
    );
    assert_eq!(st, 201, "{v}");
    let (_, v) = api(&sock, "GET", "/v1.41/networks/apinet", None);
    assert_eq!(v["EnableIPv6"], true, "{v}");
    assert_eq!(
        v["IPAM"]["Config"][1]["Subnet"], "fd42:b3e7:248::/64",
        "{v}"
    );
    let (st, v) = api(
        &sock,
        "POST",
        "/v1.41/containers/create?name=a6",
        Some(
            r#"{"Image":"busybox","Cmd":["sleep","60"],"HostConfig":{"NetworkMode":"apinet"},
                 "NetworkingConfig":{"EndpointsConfig":{"apinet":{"IPAMConfig":{"IPv6Address":"fd42:b3e7:248::20"}}}}}"#,
        ),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        api(&sock, "POST", "/v1.41/containers/a6/start", None).0,
        204
    );
    let (_, v) = api(&sock, "GET", "/v1.41/containers/a6/json", None);
    let ep = &v["NetworkSettings"]["Networks"]["apinet"];
    assert_eq!(ep["GlobalIPv6Address"], "fd42:b3e7:248::20", "{v}");
    assert_eq!(ep["IPv6Gateway"], "fd42:b3e7:248::1", "{v}");
    let a = n.ok(&["exec", "a6", "ip", "-6", "-o", "addr", "show", "eth0"]);
    assert!(a.contains("fd42:b3e7:248::20/64"), "{a}");
    // A v6 subnet without EnableIPv6 is refused, as docker does.
    let (st, v) = api(
        &sock,
        "POST",
        "/v1.41/networks/create",
        Some(r#"{"Name":"no6","IPAM":{"Config":[{"Subnet":"fd42:b3e7:248:1::/64"}]}}"#),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("--ipv6"),
        "{v}"
    );
    n.ok(&["rm", "-f", "a6"]);
    assert_eq!(api(&sock, "DELETE", "/v1.41/networks/apinet", None).0, 204);
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let _ = serve.wait();
}
