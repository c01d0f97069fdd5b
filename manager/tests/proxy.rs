//! `http_proxy`/`https_proxy`/`no_proxy` for registry traffic (issue 16), as
//! docker's daemon honours them: a forward proxy of the test's own on
//! 127.0.0.1 counts the connections it relays. The registry is named
//! `registry.test`, a name only the proxy knows (it relays it to the
//! registry on 127.0.0.1), so a pull that works went through the proxy.

mod common;

use common::registry::Registry;
use common::{busybox_tar, Env};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An HTTP forward proxy: CONNECT tunnels and absolute-form requests, for
/// `registry.test:PORT` only (relayed to 127.0.0.1:PORT).
struct CountingProxy {
    port: u16,
    relayed: Arc<AtomicUsize>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

fn serve(client: TcpStream, relayed: &AtomicUsize) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Ok(());
        }
        let end = l == "\r\n";
        head.push(l);
        if end {
            break;
        }
    }
    let first: Vec<&str> = head[0].split_whitespace().collect();
    let (connect, target) = match first.as_slice() {
        ["CONNECT", t, _] => (true, t.to_string()),
        [_, url, _] => {
            let rest = url.strip_prefix("http://").unwrap_or("");
            (false, rest.split('/').next().unwrap_or("").to_string())
        }
        _ => return Ok(()),
    };
    let mut client = client;
    let Some(port) = target.strip_prefix("registry.test:") else {
        client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    let up = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap_or(0)))?;
    relayed.fetch_add(1, Ordering::SeqCst);
    if connect {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        let mut u = up.try_clone()?;
        u.write_all(head.concat().as_bytes())?;
    }
    // What the reader holds past the head goes first.
    let buffered = r.buffer().to_vec();
    let mut u = up.try_clone()?;
    u.write_all(&buffered)?;
    pipe(up.try_clone()?, client);
    let mut rest = r.into_inner();
    let _ = std::io::copy(&mut rest, &mut u);
    let _ = u.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 1];
    let _ = rest.read(&mut sink);
    Ok(())
}

impl CountingProxy {
    fn start() -> CountingProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let relayed = Arc::new(AtomicUsize::new(0));
        let r = relayed.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let r = r.clone();
                std::thread::spawn(move || {
                    let _ = serve(c, &r);
                });
            }
        });
        CountingProxy { port, relayed }
    }
    fn count(&self) -> usize {
        self.relayed.load(Ordering::SeqCst)
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

const PROXY_VARS: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
];

fn berth(e: &Env, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut c = e.cmd(args);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.output().unwrap()
}

fn ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn registry_traffic_goes_through_the_proxy_the_environment_names() {
    let reg = Registry::start();
    let proxy = CountingProxy::start();
    let e = Env::new("proxy");
    let tar = busybox_tar(e.dir.path(), &[]);
    e.ok(&["import", tar.to_str().unwrap(), "localhost/bb:1"]);
    let direct = format!("{}/p/bb:1", reg.host());
    e.ok(&["tag", "localhost/bb:1", &direct]);

    // Loopback never goes through a proxy (Go's rule, so docker's).
    ok(berth(
        &e,
        &[("http_proxy", &proxy.url())],
        &["push", &direct],
    ));
    assert_eq!(proxy.count(), 0);

    // A name only the proxy resolves: lower case, then upper case.
    let named = format!("registry.test:{}", reg.port);
    let insecure = format!("--insecure-registry={named}");
    let img = format!("{named}/p/bb:1");
    ok(berth(
        &e,
        &[("http_proxy", &proxy.url())],
        &[&insecure, "pull", &img],
    ));
    let after_lower = proxy.count();
    assert!(after_lower > 0, "nothing went through the proxy");
    ok(berth(
        &e,
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("NO_PROXY", "other.test,10.0.0.0/8"),
        ],
        &[&insecure, "rmi", &img],
    ));
    ok(berth(
        &e,
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("NO_PROXY", "other.test,10.0.0.0/8"),
        ],
        &[&insecure, "pull", &img],
    ));
    assert!(proxy.count() > after_lower);
    // no_proxy naming the host: straight to it. Only where the machine's
    // own name resolves to loopback, so the direct path stays on 127/8.
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let loopback = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), reg.port))
        .map(|a| {
            let v: Vec<_> = a.collect();
            !v.is_empty() && v.iter().all(|a| a.ip().is_loopback())
        })
        .unwrap_or(false);
    if loopback {
        let img = format!("{host}:{}/p/bb:1", reg.port);
        let insecure = format!("--insecure-registry={host}:{}", reg.port);
        let before = proxy.count();
        ok(berth(
            &e,
            &[("http_proxy", &proxy.url()), ("no_proxy", &host)],
            &[&insecure, "pull", &img],
        ));
        assert_eq!(proxy.count(), before, "no_proxy was not honoured");
        // Without no_proxy the same pull asks the proxy, which refuses
        // any host but registry.test.
        ok(berth(&e, &[], &[&insecure, "rmi", &img]));
        let o = berth(
            &e,
            &[("http_proxy", &proxy.url())],
            &[&insecure, "pull", &img],
        );
        assert!(!o.status.success(), "the proxy refuses {img}");
    } else {
        eprintln!("skipping the no_proxy direct case: {host} does not resolve to loopback");
    }
}
