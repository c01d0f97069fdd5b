//! `berth serve`: docker's Engine API on a unix socket, driven here with
//! raw HTTP (the docker CLI, compose and docker-py drive it in
//! hack/api-test.sh): docker's errors and status codes, bad and hostile
//! requests, many clients at once, the socket's rules, and one store shared
//! with the CLI.

mod common;

use common::containers::{berth_bin, wait_until, Env};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    sock: PathBuf,
}

impl Server {
    fn start(e: &Env) -> Server {
        let sock = e.dir.path().join("api.sock");
        let child = Command::new(berth_bin())
            .arg("--root")
            .arg(&e.root)
            .args(["serve", "-H"])
            .arg(format!("unix://{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth serve");
        let s = Server { child, sock };
        wait_until(10, "the API socket", || {
            UnixStream::connect(&s.sock).is_ok()
        });
        s
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// One request on its own connection: (status, body).
    fn req(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let b = body.unwrap_or("");
        // A server that refuses a body may answer and close before it is
        // all sent: its answer is still there to read.
        let _ = write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        );
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        parse(&raw)
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (st, b) = self.req(method, path, body);
        (
            st,
            serde_json::from_str(&b).unwrap_or(serde_json::Value::Null),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let _ = common::containers::wait_child(&mut self.child, 10);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status and body of an HTTP/1.1 response (chunked or not).
fn parse(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, body.to_string());
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    (status, out)
}

#[test]
fn errors_are_dockers_and_bad_requests_leave_it_serving() {
    let e = Env::new();
    let s = Server::start(&e);
    let (st, v) = s.json("GET", "/v1.41/containers/nope/json", None);
    assert_eq!(
        (st, v["message"].as_str()),
        (404, Some("No such container: nope"))
    );
    let (st, v) = s.json("POST", "/v1.41/containers/create", Some("{not json"));
    assert_eq!(st, 400);
    assert!(
        v["message"].as_str().unwrap().contains("invalid JSON"),
        "{v}"
    );
    let (st, v) = s.json(
        "POST",
        "/v1.41/containers/create",
        Some(r#"{"Image":"nope:1"}"#),
    );
    assert_eq!(
        (st, v["message"].as_str()),
        (404, Some("No such image: nope:1"))
    );
    // docker's decoder ignores fields it does not know, and so do we.
    let (st, v) = s.json(
        "POST",
        "/v1.41/containers/create?name=api-c1",
        Some(r#"{"Image":"busybox","Cmd":["sleep","100"],"NotAField":{"x":1},"HostConfig":{"NetworkMode":"none"}}"#),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["Id"].as_str().unwrap().to_string();
    let (st, v) = s.json(
        "POST",
        "/v1.41/containers/create?name=api-c1",
        Some(r#"{"Image":"busybox"}"#),
    );
    assert_eq!(st, 409, "{v}");
    let (st, v) = s.json("GET", "/v1.99/_ping", None);
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().contains("too new"), "{v}");
    let (st, _) = s.json("GET", "/v1.41/no/such/endpoint", None);
    assert_eq!(st, 404);
    assert_eq!(
        s.req("POST", &format!("/v1.41/containers/{id}/start"), None)
            .0,
        204
    );
    assert_eq!(
        s.req("POST", &format!("/v1.41/containers/{id}/start"), None)
            .0,
        304
    );
    let (st, v) = s.json("DELETE", &format!("/v1.41/containers/{id}"), None);
    assert_eq!(st, 409, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("cannot remove a running container"));
    let (st, v) = s.json("POST", "/v1.41/containers/api-c1/kill?signal=NOSUCH", None);
    assert!(st == 400 || st == 500, "{st} {v}");

    // A body past the bound is refused without reading it all.
    let big = format!(
        r#"{{"Image":"busybox","Env":["X={}"]}}"#,
        "a".repeat(5 << 20)
    );
    let (st, _) = s.req("POST", "/v1.41/containers/create", Some(&big));
    assert_eq!(st, 413);
    // A client that promises a body and leaves half way, and one that sends
    // garbage, cost nothing lasting.
    {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        let _ = c.write_all(b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\n{\"Ima");
    }
    {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        let _ = c.write_all(b"\x00\x01garbage\r\n\r\n");
        let mut buf = Vec::new();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.read_to_end(&mut buf);
    }
    assert_eq!(s.req("GET", "/_ping", None), (200, "OK".into()));
    assert_eq!(
        s.req("DELETE", &format!("/v1.41/containers/{id}?force=1"), None)
            .0,
        204
    );
    assert_eq!(e.container_dirs(), 0);
}

#[test]
fn one_store_for_the_cli_and_the_api() {
    let e = Env::new();
    let s = Server::start(&e);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "from-cli",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]);
    let (_, v) = s.json("GET", "/v1.41/containers/json", None);
    assert_eq!(v[0]["Names"][0], "/from-cli", "{v}");
    assert_eq!(v[0]["State"], "running");
    let (st, v) = s.json(
        "POST",
        "/v1.41/containers/create?name=from-api",
        Some(r#"{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2"],"HostConfig":{"NetworkMode":"none"}}"#),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        s.req("POST", "/v1.41/containers/from-api/start", None).0,
        204
    );
    let (st, v) = s.json("POST", "/v1.41/containers/from-api/wait", None);
    assert_eq!((st, v["StatusCode"].as_i64()), (200, Some(0)));
    assert_eq!(e.ok(&["logs", "from-api"]), "out\n");
    assert!(e
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("from-api"));
    // docker's multiplexed log stream: an 8-byte header per chunk.
    let (st, b) = s.req(
        "GET",
        "/v1.41/containers/from-api/logs?stdout=1&stderr=1",
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(b, "\u{1}\0\0\0\0\0\0\u{4}out\n\u{2}\0\0\0\0\0\0\u{4}err\n");
    e.ok(&["rm", "-f", "from-cli", "from-api"]);
    let (_, v) = s.json("GET", "/v1.41/containers/json?all=1", None);
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn many_clients_at_once_and_nothing_leaks() {
    let e = Env::new();
    let s = Server::start(&e);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(s.req("GET", "/_ping", None).0, 200);
    let before = s.fds();
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..100)
            .map(|_| sc.spawn(|| s.json("GET", "/v1.41/containers/json", None)))
            .collect();
        for h in hs {
            let (st, v) = h.join().unwrap();
            assert_eq!(st, 200);
            assert_eq!(v[0]["Names"][0], "/talker");
        }
    });
    // Followers that leave: a log follow and an event stream.
    for path in [
        "/v1.41/containers/talker/logs?stdout=1&follow=1",
        "/v1.41/events",
    ] {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: d\r\n\r\n").unwrap();
        let mut buf = [0u8; 64];
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.read(&mut buf);
        drop(c);
    }
    wait_until(15, "the server's fds to come back", || s.fds() <= before);
    e.ok(&["rm", "-f", "talker"]);
}

#[test]
fn the_socket_is_root_and_the_groups_and_one_server_holds_it() {
    let e = Env::new();
    let s = Server::start(&e);
    let mode = std::fs::metadata(&s.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let o = Command::new(berth_bin())
        .arg("--root")
        .arg(&e.root)
        .args(["serve", "-H"])
        .arg(format!("unix://{}", s.sock.display()))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("another server is listening"), "{err}");
    assert_eq!(
        s.req("GET", "/_ping", None).0,
        200,
        "the first still serves"
    );
    for bad in ["tcp://nowhere", "http://x", "unix://relative"] {
        let o = Command::new(berth_bin())
            .arg("--root")
            .arg(&e.root)
            .args(["serve", "-H", bad])
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&o.stderr).contains("invalid -H"));
    }
}

#[test]
fn sigterm_ends_the_server_and_not_the_containers() {
    let e = Env::new();
    let mut s = Server::start(&e);
    let (st, v) = s.json(
        "POST",
        "/v1.41/containers/create?name=stays",
        Some(r#"{"Image":"busybox","Cmd":["sleep","100"],"HostConfig":{"NetworkMode":"none"}}"#),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(s.req("POST", "/v1.41/containers/stays/start", None).0, 204);
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(s.pid(), libc::SIGTERM) };
    assert_eq!(common::containers::wait_child(&mut s.child, 10), Some(0));
    assert!(!s.sock.exists(), "the socket is removed");
    assert!(e.running("stays"));
    // A new server on the same socket takes over what is there.
    let s2 = Server::start(&e);
    let (_, v) = s2.json("GET", "/v1.41/containers/stays/json", None);
    assert_eq!(v["State"]["Running"], true);
    e.ok(&["rm", "-f", "stays"]);
}

#[test]
fn the_server_starts_always_containers_and_leaves_unless_stopped_ones_a_user_stopped() {
    let e = Env::new();
    for (name, policy) in [("alw", "always"), ("uls", "unless-stopped")] {
        e.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "--network",
            "none",
            "busybox",
            "sleep",
            "1000",
        ]);
        e.ok(&["stop", "-t", "0", name]);
        assert!(!e.running(name));
    }
    let s = Server::start(&e);
    wait_until(20, "the always container to run again", || e.running("alw"));
    assert!(!e.running("uls"), "a user stopped it: it stays stopped");
    assert_eq!(s.req("GET", "/_ping", None).0, 200);
    e.ok(&["rm", "-f", "alw", "uls"]);
}

#[test]
fn search_a_plain_registry_through_the_api() {
    let reg = common::registry::Registry::start();
    let e = Env::new();
    let t = format!("{}/lib/busybox:1", reg.host());
    e.ok(&["tag", "busybox", &t]);
    e.ok(&["push", &t]);
    let s = Server::start(&e);
    let term = format!("{}/busy", reg.host());
    let (st, v) = s.json(
        "GET",
        &format!("/v1.41/images/search?term={term}&limit=5"),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v[0]["name"], format!("{}/lib/busybox", reg.host()), "{v}");
    assert_eq!(v[0]["star_count"], 0);
    let (st, _) = s.json("GET", "/v1.41/images/search", None);
    assert_eq!(st, 400, "term is required");
}

#[test]
fn pull_with_x_registry_auth_and_auth_checks_without_storing() {
    use base64::Engine;
    use common::registry::{Mode, Proxy, Registry};
    use common::{Built, Layer, TarBuf};
    let reg = Registry::start();
    let b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("secret", b"s").finish())],
        &["/s"],
        false,
    );
    reg.upload("priv/img", "1", &b);
    let proxy = Proxy::start(
        reg.port,
        Mode::Token {
            user: "alice".into(),
            password: "wonder".into(),
            token: "tok-api".into(),
        },
    );
    let e = Env::new();
    let s = Server::start(&e);
    let pull = |auth: Option<&str>| {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let h = auth
            .map(|a| format!("X-Registry-Auth: {a}\r\n"))
            .unwrap_or_default();
        write!(
            c,
            "POST /v1.41/images/create?fromImage={}/priv/img&tag=1 HTTP/1.1\r\nHost: d\r\nConnection: close\r\n{h}Content-Length: 0\r\n\r\n",
            proxy.host()
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = c.read_to_end(&mut raw);
        parse(&raw).1
    };
    let out = pull(None);
    assert!(out.contains("\"error\""), "no credentials: {out}");
    let cred = |p: &str| {
        base64::engine::general_purpose::URL_SAFE.encode(
            serde_json::json!({"username": "alice", "password": p, "serveraddress": proxy.host()})
                .to_string(),
        )
    };
    let out = pull(Some(&cred("wonder")));
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert!(
        !e.root.join("auth.json").exists(),
        "the credentials are not stored"
    );
    let body = |p: &str| {
        serde_json::json!({"username": "alice", "password": p, "serveraddress": proxy.host()})
            .to_string()
    };
    let (st, _) = s.json("POST", "/v1.41/auth", Some(&body("wrong")));
    assert_eq!(st, 401);
    let (st, v) = s.json("POST", "/v1.41/auth", Some(&body("wonder")));
    assert_eq!((st, v["Status"].as_str()), (200, Some("Login Succeeded")));
    assert!(!e.root.join("auth.json").exists(), "/auth stores nothing");
}
