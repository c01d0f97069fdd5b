//! A seccomp agent for the SCMP_ACT_NOTIFY tests: listens on a unix socket
//! for runtimes handing over listener fds (runc's protocol: a JSON
//! ContainerProcessState with the fd as SCM_RIGHTS), and answers each
//! notified syscall with the next reply of its script. Every wait is a
//! poll with a bound; the agent stops when told to or after a minute.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::Value;

/// What the agent answers a notified syscall with.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// Fail it with this errno; the kernel never runs it.
    Errno(i32),
    /// Report success with this return value; the kernel never runs it.
    Success(i64),
}

/// What the agent saw: each handed-over state, and the syscall numbers it
/// answered in order.
#[derive(Default, Debug, Clone)]
pub struct Seen {
    pub states: Vec<Value>,
    pub syscalls: Vec<i32>,
}

pub struct Agent {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<Result<()>>>,
}

// linux/seccomp.h: struct seccomp_notif (80 bytes), seccomp_notif_resp (24).
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: u64 = 0xc050_2100;
const NOTIF_SEND: u64 = 0xc018_2101;
const LIFETIME: Duration = Duration::from_secs(60);

impl Agent {
    pub fn start(path: &Path, script: Vec<Reply>) -> Result<Agent> {
        let listener =
            UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || serve(listener, script, &s2, &seen2));
        Ok(Agent {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops the agent; returns what it saw, or the error that ended it.
    pub fn finish(mut self) -> Result<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| anyhow!("seccomp agent panicked"))??;
        }
        Ok(self.seen())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: UnixListener,
    script: Vec<Reply>,
    stop: &AtomicBool,
    seen: &Mutex<Seen>,
) -> Result<()> {
    let deadline = Instant::now() + LIFETIME;
    let mut script = script.into_iter();
    let mut fds: Vec<OwnedFd> = Vec::new();
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let mut polls = vec![libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        polls.extend(fds.iter().map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: polls is a live array of pollfd of the length we pass.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 50) };
        if n <= 0 {
            continue;
        }
        if polls[0].revents & libc::POLLIN != 0 {
            if let Ok((conn, _)) = listener.accept() {
                let (state, fd) = take_fd(conn.as_raw_fd())?;
                seen.lock().unwrap().states.push(state);
                fds.push(fd);
            }
        }
        let mut gone = vec![];
        for (i, p) in polls[1..].iter().enumerate() {
            if p.revents & libc::POLLIN != 0 {
                let fd = fds[i].as_raw_fd();
                let mut req = Notif::default();
                // SAFETY: the kernel fills a zeroed seccomp_notif we own.
                if unsafe { libc::ioctl(fd, NOTIF_RECV as _, &mut req as *mut Notif) } != 0 {
                    // The process died before we got the notification.
                    continue;
                }
                let mut resp = Resp {
                    id: req.id,
                    ..Default::default()
                };
                match script.next().unwrap_or(Reply::Errno(libc::ENOSYS)) {
                    Reply::Errno(e) => resp.error = -e,
                    Reply::Success(v) => resp.val = v,
                }
                // SAFETY: the kernel reads a seccomp_notif_resp we own.
                unsafe { libc::ioctl(fd, NOTIF_SEND as _, &resp as *const Resp) };
                seen.lock().unwrap().syscalls.push(req.nr);
            } else if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                // Every process of that filter is gone.
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            fds.remove(i);
        }
    }
    Ok(())
}

/// Reads one ContainerProcessState and its fd from a fresh connection.
fn take_fd(conn: RawFd) -> Result<(Value, OwnedFd)> {
    // The runtime sent it before connect returned to it: a short bounded
    // wait covers the scheduling gap only.
    let mut p = libc::pollfd {
        fd: conn,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, 5000) };
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let mut fd = None;
    let len = {
        let msg = recvmsg::<()>(
            conn,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        )
        .context("receive the container's state")?;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(v) = c {
                for f in v {
                    // SAFETY: SCM_RIGHTS gave us new fds nothing else owns.
                    let o = unsafe { OwnedFd::from_raw_fd(f) };
                    fd.get_or_insert(o);
                }
            }
        }
        msg.bytes
    };
    let state: Value = serde_json::from_slice(&buf[..len]).with_context(|| {
        format!(
            "state is not JSON: {:?}",
            String::from_utf8_lossy(&buf[..len])
        )
    })?;
    Ok((
        state,
        fd.ok_or_else(|| anyhow!("no fd came with the state"))?,
    ))
}
