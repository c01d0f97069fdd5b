//! `POST /containers/{id}/attach`: the connection is hijacked (HTTP 101,
//! `Upgrade: tcp`) and carries the container's stdio both ways, through the
//! shim's attach socket. Without a terminal, output is docker's multiplexed
//! stream (an 8-byte header per chunk); with one, raw bytes, and the detach
//! keys (ctrl-p ctrl-q unless given) end the attachment.

use super::body::{ApiError, Body};
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::container::{ContainerStore, Status};
use berth_common::attach::{frame, next_frame, CLOSE_STDIN, EXIT, STDERR, STDOUT, TO_STDIN};
use hyper::{Response, StatusCode};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One chunk of docker's multiplexed stream: stream (1 out, 2 err), three
/// zero bytes, the length big-endian, the bytes.
pub fn mux(stream: u8, p: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() + 8);
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(p.len() as u32).to_be_bytes());
    v.extend_from_slice(p);
    v
}

/// docker's `detachKeys`: `ctrl-p,ctrl-q`, `a`, `ctrl-@`...
pub(super) fn detach_keys(s: &str) -> Result<Vec<u8>, ApiError> {
    s.split(',')
        .map(|k| {
            let k = k.trim();
            match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let b = c.as_bytes()[0].to_ascii_lowercase();
                    match b {
                        b'a'..=b'z' => Ok(b - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' => Ok(27),
                        b'\\' => Ok(28),
                        b']' => Ok(29),
                        b'^' => Ok(30),
                        b'_' => Ok(31),
                        _ => Err(()),
                    }
                }
                None if k.len() == 1 => Ok(k.as_bytes()[0]),
                _ => Err(()),
            }
            .map_err(|_| ApiError::bad(format!("Invalid detach keys ({s}) provided")))
        })
        .collect()
}

pub(super) struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub keys: Vec<u8>,
    /// The end of the client's input closes the process's stdin.
    pub stdin_once: bool,
}

pub async fn attach(
    ctx: Arc<Ctx>,
    id: String,
    q: Query,
    req: Req,
) -> Result<Response<Body>, ApiError> {
    let keys = detach_keys(q.get("detachKeys").unwrap_or("ctrl-p,ctrl-q"))?;
    if !req.headers().contains_key(hyper::header::UPGRADE) {
        return Err(ApiError::bad(
            "attach needs a connection upgrade (Upgrade: tcp), as docker's clients send",
        ));
    }
    let ctx2 = ctx.clone();
    // Registered before we answer, so that a start sent right after the
    // answer hands us its connection.
    let (c, now) = blocking(move || {
        let cs = ContainerStore::open(ctx2.root())?;
        let c = cs.find(&id)?;
        if cs.state(&c).status == Status::Running {
            let s = crate::container::attach::connect(&cs.shim_dir(&c.id)).map_err(|e| {
                ApiError::internal(format!("attaching to container {}: {e}", c.name))
            })?;
            return Ok((c, Ok(s)));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        ctx2.pending
            .lock()
            .map_err(|_| ApiError::internal("poisoned lock"))?
            .entry(c.id.clone())
            .or_default()
            .push(tx);
        Ok((c, Err(rx)))
    })
    .await?;
    let w = Wanted {
        stdin: q.flag("stdin"),
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
        tty: c.tty,
        keys,
        stdin_once: c.stdin_once,
    };
    let on_upgrade = hyper::upgrade::on(req);
    let id = c.id.clone();
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let mut client = hyper_util::rt::TokioIo::new(up);
        let mut early = Vec::new();
        let mut client_eof = false;
        let sock = match now {
            Ok(s) => s,
            Err(mut rx) => loop {
                // Until the start: stdin the client sends is kept for the
                // process, and a container removed meanwhile ends the wait.
                let mut buf = [0u8; 4096];
                tokio::select! {
                    s = &mut rx => match s {
                        Ok(s) => break s,
                        Err(_) => return,
                    },
                    n = client.read(&mut buf), if !client_eof => match n {
                        Ok(0) | Err(_) => client_eof = true,
                        Ok(n) => early.extend_from_slice(&buf[..n]),
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        let root = ctx.root().to_path_buf();
                        let id2 = id.clone();
                        let exists = tokio::task::spawn_blocking(move || {
                            ContainerStore::open(&root).is_ok_and(|cs| cs.load(&id2).is_ok())
                        })
                        .await
                        .unwrap_or(false);
                        if !exists {
                            if let Ok(mut p) = ctx.pending.lock() {
                                p.remove(&id);
                            }
                            return;
                        }
                    }
                }
            },
        };
        let _ = pump(client, sock, &w, early, client_eof, &mut |_| {}).await;
    });
    Ok(hijacked(c.tty))
}

/// docker's answer to a hijack: 101, and the stream's kind (raw with a
/// terminal, multiplexed without).
pub(super) fn hijacked(tty: bool) -> Response<Body> {
    let mut r = Response::new(Body::Full(None));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    h.insert("Content-Type", ctype.parse().expect("header"));
    h.insert("Connection", "Upgrade".parse().expect("header"));
    h.insert("Upgrade", "tcp".parse().expect("header"));
    r
}

/// What the client typed, as stdin frames, up to the detach keys if any.
/// Returns whether they were typed.
fn stdin_frames(w: &Wanted, matched: &mut usize, data: &[u8], out: &mut Vec<u8>) -> bool {
    let mut pass = Vec::with_capacity(data.len());
    for &b in data {
        if w.tty && !w.keys.is_empty() {
            if b == w.keys[*matched] {
                *matched += 1;
                if *matched == w.keys.len() {
                    if !pass.is_empty() {
                        frame(out, TO_STDIN, &pass);
                    }
                    return true;
                }
                continue;
            }
            // Not the sequence after all: what was held back goes through.
            pass.extend_from_slice(&w.keys[..*matched]);
            *matched = 0;
        }
        pass.push(b);
    }
    if !pass.is_empty() {
        frame(out, TO_STDIN, &pass);
    }
    false
}

/// Copies between the client and the shim until the process exits, the
/// client detaches or either side goes; `on_end` gets the exit code (if the
/// shim told it) before the client sees the end of the stream.
pub(super) async fn pump<C>(
    client: C,
    sock: UnixStream,
    w: &Wanted,
    early: Vec<u8>,
    early_eof: bool,
    on_end: &mut (dyn FnMut(Option<i32>) + Send),
) -> std::io::Result<()>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    sock.set_nonblocking(true)?;
    let sock = tokio::net::UnixStream::from_std(sock)?;
    let (mut sr, mut sw) = sock.into_split();
    let (mut cr, mut cw) = tokio::io::split(client);
    let mut matched = 0usize;
    let mut stdin_open = w.stdin;
    if stdin_open {
        let mut out = Vec::new();
        if stdin_frames(w, &mut matched, &early, &mut out) {
            return Ok(());
        }
        if early_eof && w.stdin_once {
            frame(&mut out, CLOSE_STDIN, &[]);
            stdin_open = false;
        }
        sw.write_all(&out).await?;
    }
    let mut from_shim: Vec<u8> = Vec::new();
    let mut sbuf = vec![0u8; 32 * 1024];
    let mut cbuf = vec![0u8; 32 * 1024];
    let mut client_open = !early_eof;
    let mut code = None;
    loop {
        tokio::select! {
            n = sr.read(&mut sbuf) => {
                let n = n.unwrap_or(0);
                if n == 0 {
                    break;
                }
                from_shim.extend_from_slice(&sbuf[..n]);
                let mut at = 0;
                let mut out = Vec::new();
                let mut ended = false;
                while let Some((kind, p, len)) = next_frame(&from_shim[at..]) {
                    match kind {
                        STDOUT if w.stdout => {
                            if w.tty { out.extend_from_slice(p) } else { out.extend(mux(1, p)) }
                        }
                        STDERR if w.stderr => {
                            if w.tty { out.extend_from_slice(p) } else { out.extend(mux(2, p)) }
                        }
                                EXIT => {
                            ended = true;
                            code = serde_json::from_slice::<berth_common::exit::ExitRecord>(p)
                                .ok()
                                .map(|e| e.exit_code);
                        }
                        _ => {}
                    }
                    at += len;
                }
                from_shim.drain(..at);
                if !out.is_empty() && cw.write_all(&out).await.is_err() {
                    return Ok(());
                }
                if ended {
                    break;
                }
            }
            n = cr.read(&mut cbuf), if client_open => {
                let n = n.unwrap_or(0);
                if n == 0 {
                    client_open = false;
                    if stdin_open && w.stdin_once {
                        let mut out = Vec::new();
                        frame(&mut out, CLOSE_STDIN, &[]);
                        let _ = sw.write_all(&out).await;
                        stdin_open = false;
                    } else if !w.stdout && !w.stderr {
                        return Ok(());
                    }
                    continue;
                }
                if !stdin_open {
                    continue;
                }
                let mut out = Vec::new();
                let detached = stdin_frames(w, &mut matched, &cbuf[..n], &mut out);
                if !out.is_empty() {
                    let _ = sw.write_all(&out).await;
                }
                if detached {
                    break;
                }
            }
        }
    }
    on_end(code);
    let _ = cw.flush().await;
    let _ = cw.shutdown().await;
    Ok(())
}
