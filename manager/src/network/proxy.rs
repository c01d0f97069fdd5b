//! A userland TCP proxy for ports published on [::1]. Loopback v4 is
//! DNATed to the container (route_localnet lets 127/8 leave by the
//! bridge), but IPv6 has no such switch: the container's reply, un-NATed
//! to ::1, arrives on the bridge and the kernel drops it. docker's answer
//! is docker-proxy; ours is `berth network internal-proxy`, one process per
//! published port, that berth binds the socket for (so the port is taken
//! before setup returns) and records in the lease to kill at teardown. It
//! also ends by itself once the container's namespace holder is gone, so a
//! killed berth leaves no proxy running for long.

use super::publish::Proto;
use super::state::start_time;
use super::NetError;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The descriptor the listening socket has in the proxy.
const LISTEN_FD: i32 = 3;

/// Binds [::1]:`port` and starts a proxy that forwards its connections to
/// `to`, watching the namespace holder `watch`. Returns (pid, start time).
pub(super) fn spawn(port: u16, to: SocketAddr, watch: (u32, u64)) -> Result<(u32, u64), NetError> {
    let what = format!("publishing [::1]:{port}");
    let sock = super::ports::bind(Some(Ipv6Addr::LOCALHOST.into()), port, Proto::Tcp)
        .and_then(|s| s.listen(128).map(|_| s))
        .map_err(|e| NetError::Io(what.clone(), e))?;
    let exe = std::env::current_exe().map_err(|e| NetError::Io(what.clone(), e))?;
    let fd = sock.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.args([
        "network",
        "internal-proxy",
        "--to",
        &to.to_string(),
        "--watch",
        &format!("{}:{}", watch.0, watch.1),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            // dup2 onto itself would keep close-on-exec set.
            let r = if fd == LISTEN_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, LISTEN_FD)
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| NetError::Io(what.clone(), e))?;
    let pid = child.id();
    // Not waited for: it outlives this berth; PID 1 reaps it once killed.
    std::mem::forget(child);
    let t = start_time(pid).unwrap_or(0);
    Ok((pid, t))
}

/// Stops a proxy if it is still the process we started.
pub(super) fn kill(p: (u32, u64)) {
    if p.0 > 1 && start_time(p.0) == Some(p.1) {
        // SAFETY: a signal to a process whose identity we just checked.
        unsafe { libc::kill(p.0 as i32, libc::SIGKILL) };
    }
}

/// The proxy's main loop, in the process `spawn` started.
pub fn run(to: SocketAddr, watch: (u32, u64)) -> io::Result<()> {
    // SAFETY: fd 3 is the listening socket `spawn` handed over.
    let l = unsafe { TcpListener::from_raw_fd(LISTEN_FD) };
    std::thread::spawn(move || loop {
        if start_time(watch.0) != Some(watch.1) {
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    for c in l.incoming() {
        let Ok(c) = c else { continue };
        std::thread::spawn(move || {
            if let Ok(u) = TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
                splice(c, u);
            }
        });
    }
    Ok(())
}

/// Copies both ways until both sides are done, passing half-closes on.
fn splice(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let t = std::thread::spawn(move || {
        let (mut r, mut w) = (a2, b2);
        let _ = io::copy(&mut r, &mut w);
        let _ = w.shutdown(std::net::Shutdown::Write);
    });
    let (mut r, mut w) = (b, a);
    let _ = io::copy(&mut r, &mut w);
    let _ = w.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}
