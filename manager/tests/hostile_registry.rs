//! A registry on 127.0.0.1 that lies: about sizes, with endless manifests,
//! with a blob that trickles in a byte at a time, with redirects. Each pull
//! must end, with one clear line, leave no image and nothing in tmp/, and
//! never hold more than the limits in memory or on disk.

mod common;

use berth::image::digest::Digest;
use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the server answers for one path (after `/v2/t/img/`).
#[derive(Clone)]
enum Reply {
    /// 200 with this body and its true Content-Length.
    Body(&'static str, Vec<u8>),
    /// 200, no Content-Length, this byte for ever (until the client leaves).
    Endless,
    /// 200 with this body, one byte every `gap`.
    Trickle(Vec<u8>, Duration),
    /// 200 with this body, then silence (the connection stays open).
    Hang(Vec<u8>),
    /// 307 to another path of ours.
    Redirect(String),
}

struct Server {
    port: u16,
}

impl Server {
    fn start(routes: HashMap<String, Reply>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || {
                    let _ = serve(c, &routes);
                });
            }
        });
        Server { port }
    }
    fn image(&self, tag: &str) -> String {
        format!("127.0.0.1:{}/t/img:{tag}", self.port)
    }
}

fn serve(mut c: TcpStream, routes: &HashMap<String, Reply>) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let reply = if path == "/v2/" {
        Reply::Body("application/json", b"{}".to_vec())
    } else {
        match path.strip_prefix("/v2/t/img/").and_then(|p| routes.get(p)) {
            Some(r) => r.clone(),
            None => {
                c.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )?;
                return Ok(());
            }
        }
    };
    let head = |ct: &str, len: Option<usize>| {
        let len = len
            .map(|n| format!("Content-Length: {n}\r\n"))
            .unwrap_or_default();
        format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\n{len}Connection: close\r\n\r\n")
    };
    match reply {
        Reply::Body(ct, b) => {
            c.write_all(head(ct, Some(b.len())).as_bytes())?;
            c.write_all(&b)?;
        }
        Reply::Endless => {
            c.write_all(head("application/vnd.oci.image.manifest.v1+json", None).as_bytes())?;
            let chunk = vec![b' '; 64 << 10];
            loop {
                c.write_all(&chunk)?;
            }
        }
        Reply::Trickle(b, gap) => {
            c.write_all(head("application/octet-stream", Some(b.len())).as_bytes())?;
            for byte in b {
                c.write_all(&[byte])?;
                std::thread::sleep(gap);
            }
        }
        Reply::Hang(b) => {
            c.write_all(head("application/octet-stream", Some(b.len() * 4)).as_bytes())?;
            c.write_all(&b)?;
            std::thread::sleep(Duration::from_secs(600));
        }
        Reply::Redirect(to) => {
            c.write_all(
                format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )?;
        }
    }
    Ok(())
}

/// Noise that gzip cannot shrink.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Routes serving `b` as `t/img:tag`, with the layer's and the config's
/// replies and declared sizes replaceable.
fn routes(
    b: &Built,
    tag: &str,
    layer: Option<Reply>,
    layer_size: Option<u64>,
    config: Option<Reply>,
    config_size: Option<u64>,
) -> HashMap<String, Reply> {
    let mut m: serde_json::Value = serde_json::from_slice(&b.manifest).unwrap();
    if let Some(s) = layer_size {
        m["layers"][0]["size"] = s.into();
    }
    if let Some(s) = config_size {
        m["config"]["size"] = s.into();
    }
    let manifest = serde_json::to_vec(&m).unwrap();
    let mut r = HashMap::new();
    r.insert(
        format!("manifests/{tag}"),
        Reply::Body("application/vnd.oci.image.manifest.v1+json", manifest),
    );
    let ld = Digest::of(&b.layers[0].blob);
    r.insert(
        format!("blobs/{ld}"),
        layer.unwrap_or_else(|| Reply::Body("application/octet-stream", b.layers[0].blob.clone())),
    );
    r.insert(
        format!("blobs/{}", b.id()),
        config.unwrap_or_else(|| Reply::Body("application/octet-stream", b.config.clone())),
    );
    r
}

fn image(layer_bytes: usize) -> Built {
    Built::new(
        vec![Layer::plain(
            TarBuf::new().file("data", &noise(layer_bytes)).finish(),
        )],
        &["/x"],
        false,
    )
}

/// The pull fails in time, with one line naming `want`, and leaves nothing.
fn refused(env: &Env, r: &str, secs: u64, want: &str) {
    let start = Instant::now();
    let mut c = env
        .cmd(&["pull", r])
        .env("BERTH_STALL_SECONDS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while c.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = c.kill();
            panic!("pull {r} still runs after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "pull {r} succeeded");
    // Progress goes to stderr too; the error is one `berth:` line.
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("berth: ")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err:?}");
    assert!(
        errors[0].contains(want),
        "pull {r}: {err:?} should name {want:?}"
    );
    assert!(env.ok(&["images", "-q"]).is_empty(), "an image is left");
    assert_eq!(
        tree(&env.root().join("tmp")),
        Vec::<String>::new(),
        "tmp/ is not empty"
    );
}

#[test]
fn sizes_and_endless_bodies_are_bounded() {
    let env = Env::new("hostile");
    let b = image(4 << 20);
    let ld = Digest::of(&b.layers[0].blob);
    let mut all = HashMap::new();
    // The layer is 4 MiB but declared as 100 KB.
    all.extend(routes(&b, "small-layer", None, Some(100_000), None, None));
    let srv_routes = all.clone();
    let s = Server::start(srv_routes);
    refused(
        &env,
        &s.image("small-layer"),
        30,
        "larger than its declared 100000 bytes",
    );

    // An endless manifest; a config declared huge; a config larger than declared.
    let mut r = routes(&b, "x", None, None, None, None);
    r.insert("manifests/endless".into(), Reply::Endless);
    let s = Server::start(r);
    refused(&env, &s.image("endless"), 30, "larger than 4 MiB");
    let s = Server::start(routes(&b, "cfg", None, None, None, Some(600 << 20)));
    refused(&env, &s.image("cfg"), 30, "more than 8 MiB");
    let s = Server::start(routes(
        &b,
        "cfg2",
        None,
        None,
        Some(Reply::Body("application/octet-stream", noise(1 << 20))),
        Some(100),
    ));
    refused(
        &env,
        &s.image("cfg2"),
        30,
        "larger than its declared 100 bytes",
    );

    // A redirect to another path of ours is followed; a loop is not.
    let mut r = routes(&b, "moved", None, None, None, None);
    let blob = r.remove(&format!("blobs/{ld}")).unwrap();
    r.insert(
        format!("blobs/{ld}"),
        Reply::Redirect("/v2/t/img/elsewhere".into()),
    );
    r.insert("elsewhere".into(), blob);
    r.insert(
        "manifests/loop".into(),
        Reply::Redirect("/v2/t/img/manifests/loop".into()),
    );
    let s = Server::start(r);
    env.ok(&["pull", &s.image("moved")]);
    env.ok(&["rmi", &s.image("moved")]);
    refused(&env, &s.image("loop"), 30, "redirect");
}

#[test]
fn a_trickling_blob_stalls_out() {
    let env = Env::new("trickle");
    let b = image(64 << 10);
    let body = b.layers[0].blob.clone();
    // A byte every 100 ms: alive for every read timeout, 10 bytes a second.
    let s = Server::start(routes(
        &b,
        "slow",
        Some(Reply::Trickle(body, Duration::from_millis(100))),
        None,
        None,
        None,
    ));
    refused(&env, &s.image("slow"), 60, "stalled");
}

#[test]
fn sigterm_mid_pull_removes_its_temp_files() {
    let env = Env::new("sigterm");
    let b = image(4 << 20);
    let half = b.layers[0].blob[..(1 << 20)].to_vec();
    let s = Server::start(routes(
        &b,
        "hang",
        Some(Reply::Hang(half)),
        None,
        None,
        None,
    ));
    let mut c = env
        .cmd(&["pull", &s.image("hang")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tmp = env.root().join("tmp");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Wait for the temp files to hold most of the first MiB.
    loop {
        let big = tree(&tmp).iter().any(|p| {
            std::fs::symlink_metadata(tmp.join(p))
                .is_ok_and(|m| m.is_file() && m.len() >= 512 << 10)
        });
        if big {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pull never wrote its temp file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let st = c.wait().unwrap();
    assert_eq!(st.code(), Some(128 + libc::SIGTERM));
    assert_eq!(tree(&tmp), Vec::<String>::new(), "tmp/ is not empty");
}
