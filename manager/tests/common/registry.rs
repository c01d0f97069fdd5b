//! A real registry (Debian's docker-registry) on 127.0.0.1, and a small HTTP
//! proxy in front of it that can demand bearer tokens or cut a connection.
#![allow(dead_code)]

use super::Built;
use berth::image::digest::Digest;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_support::TempDir;

pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// With `tls` = (certificate, key), the registry serves HTTPS only.
    pub fn start_with(tls: Option<(PathBuf, PathBuf)>) -> Registry {
        for _ in 0..5 {
            let dir = TempDir::new("berth-registry");
            let port = test_support::free_port();
            let tls_cfg = tls
                .as_ref()
                .map(|(c, k)| {
                    format!(
                        "  tls:\n    certificate: {}\n    key: {}\n",
                        c.display(),
                        k.display()
                    )
                })
                .unwrap_or_default();
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_cfg}",
                dir.path().join("data").display()
            );
            let cfg_path = dir.path().join("config.yml");
            std::fs::write(&cfg_path, cfg).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg_path)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
                .spawn()
                .expect("docker-registry (apt install docker-registry)");
            let mut reg = Registry { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = reg.child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                let up = if tls.is_some() {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                } else {
                    ureq::get(&format!("http://127.0.0.1:{port}/v2/"))
                        .call()
                        .is_ok()
                };
                if up {
                    // free_port() races with other tests: if the port answered
                    // but our registry died failing to bind it, that was
                    // someone else's server. Try another port.
                    std::thread::sleep(Duration::from_millis(200));
                    if reg.child.try_wait().ok().flatten().is_none() {
                        return reg;
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(reg);
        }
        panic!("docker-registry did not start");
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The file holding a blob in the registry's filesystem storage.
    pub fn blob_file(&self, d: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex())
            .join("data")
    }

    pub fn upload_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let d = Digest::of(data);
        let r = ureq::post(&self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .call()
            .unwrap();
        let loc = r.header("location").unwrap().to_string();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            self.url(&loc)
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{loc}{sep}digest={d}"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(data)
            .unwrap();
        d
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, raw: &[u8]) {
        ureq::put(&self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .set("Content-Type", media_type)
            .send_bytes(raw)
            .unwrap();
    }

    /// Uploads every blob of `b` and its manifest under `tag`.
    pub fn upload(&self, repo: &str, tag: &str, b: &Built) {
        for (_, data) in b.blobs() {
            if !std::ptr::eq(data, &b.manifest[..]) {
                self.upload_blob(repo, data);
            }
        }
        let mt = serde_json::from_slice::<serde_json::Value>(&b.manifest).unwrap()["mediaType"]
            .as_str()
            .unwrap()
            .to_string();
        self.put_manifest(repo, tag, &mt, &b.manifest);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub enum Mode {
    /// Every registry request needs `Authorization: Bearer <token>`, which
    /// /token hands out for the right basic credentials.
    Token {
        user: String,
        password: String,
        token: String,
    },
    /// The first GET whose path contains `path` gets only `after` bytes of its response.
    DropFirst { path: String, after: usize },
    /// GETs whose path contains `path` get `after` bytes (all but the last
    /// byte of a shorter response), then nothing until the proxy stops.
    Stall { path: String, after: usize },
}

pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// "METHOD path range" of every request seen.
    pub log: Arc<Mutex<Vec<String>>>,
    pub drops: Arc<AtomicUsize>,
    /// Responses `Mode::Stall` holds back right now: their client has had
    /// all it will get and cannot finish.
    pub stalled: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn start(upstream: u16, mode: Mode) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let drops = Arc::new(AtomicUsize::new(0));
        let stalled = Arc::new(AtomicUsize::new(0));
        let (s2, l2, d2, st2) = (stop.clone(), log.clone(), drops.clone(), stalled.clone());
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            while !s2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let (mode, log, drops, stop, stalled) = (
                            mode.clone(),
                            l2.clone(),
                            d2.clone(),
                            s2.clone(),
                            st2.clone(),
                        );
                        workers.push(std::thread::spawn(move || {
                            let counters = Counters {
                                drops: &drops,
                                stalled: &stalled,
                                stop: &stop,
                            };
                            let _ = handle(c, upstream, port, &mode, &log, counters);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Proxy {
            port,
            stop,
            thread: Some(thread),
            log,
            drops,
            stalled,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(
    c: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut s = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    c.write_all(s.as_bytes())?;
    c.write_all(body)
}

struct Counters<'a> {
    drops: &'a AtomicUsize,
    stalled: &'a AtomicUsize,
    stop: &'a AtomicBool,
}

fn handle(
    mut c: TcpStream,
    upstream: u16,
    own_port: u16,
    mode: &Mode,
    log: &Mutex<Vec<String>>,
    Counters {
        drops,
        stalled,
        stop,
    }: Counters,
) -> std::io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut request_line = String::new();
    r.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        headers.push(h);
    }
    let get = |name: &str| {
        headers.iter().find_map(|h| {
            h.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    log.lock().unwrap().push(format!(
        "{method} {path} {}",
        get("range").unwrap_or_default()
    ));
    match mode {
        Mode::Token {
            user,
            password,
            token,
        } => {
            if path.starts_with("/token") {
                let want = berth::image::auth::basic(user, password);
                return if get("authorization").as_deref() == Some(&want) {
                    respond(
                        &mut c,
                        "200 OK",
                        &[("Content-Type", "application/json".into())],
                        format!(r#"{{"token":"{token}"}}"#).as_bytes(),
                    )
                } else {
                    respond(&mut c, "401 Unauthorized", &[], b"")
                };
            }
            if get("authorization").as_deref() != Some(&format!("Bearer {token}")) {
                let ch = format!(
                    r#"Bearer realm="http://127.0.0.1:{own_port}/token",service="test-registry""#
                );
                return respond(
                    &mut c,
                    "401 Unauthorized",
                    &[
                        ("WWW-Authenticate", ch),
                        ("Content-Type", "application/json".into()),
                    ],
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
            }
        }
        Mode::DropFirst { .. } | Mode::Stall { .. } => {}
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut head = request_line.clone();
    for h in &headers {
        if !h.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    let len: u64 = get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::copy(&mut (&mut r).take(len), &mut up)?;
    let cut = match mode {
        Mode::DropFirst { path: p, after }
            if method == "GET"
                && path.contains(p.as_str())
                && drops.fetch_add(1, Ordering::SeqCst) == 0 =>
        {
            Some(*after)
        }
        Mode::Stall { path: p, after } if method == "GET" && path.contains(p.as_str()) => {
            Some(*after)
        }
        _ => None,
    };
    let stall = matches!(mode, Mode::Stall { .. });
    match cut {
        Some(n) => {
            let mut buf = vec![0u8; n];
            let mut got = 0;
            let mut whole = false;
            while got < n {
                let k = up.read(&mut buf[got..])?;
                if k == 0 {
                    whole = true;
                    break;
                }
                got += k;
            }
            // A stall has to hold something back whatever the response's
            // size (a layer that compresses well may be shorter than
            // `after`), or the client simply finishes.
            if stall && whole {
                got = got.saturating_sub(1);
            }
            c.write_all(&buf[..got])?;
            c.flush()?;
            if stall {
                stalled.fetch_add(1, Ordering::SeqCst);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                stalled.fetch_sub(1, Ordering::SeqCst);
            }
            c.shutdown(std::net::Shutdown::Both)?;
        }
        None => {
            std::io::copy(&mut up, &mut c)?;
        }
    }
    Ok(())
}
