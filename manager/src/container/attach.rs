//! A client of the shim's attach socket (wire format in berth_common::attach):
//! `run` and `start -a` connect *before* the runtime's `start`, so not a
//! byte of output is lost, which `berth-shim attach` run afterwards could not
//! promise.

use super::{ioe, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use berth_common::attach::{frame, next_frame, CLOSE_STDIN, EXIT, STDERR, STDOUT, TO_STDIN};
use berth_common::exit::ExitRecord;

const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

/// Connects through /proc/self/fd/N of the dir (socket paths are limited to
/// 108 bytes), and returns once the shim has taken the connection in.
///
/// connect() succeeds as soon as the kernel queues the connection; output
/// the shim reads before its accept() would go to the log only, so a short
/// `run` could print nothing. An empty stdin frame (ignored by the shim)
/// tells us: its bytes stay charged to our socket (SIOCOUTQ) until the shim
/// has accepted and read them.
pub fn connect(shim_dir: &Path) -> std::io::Result<UnixStream> {
    let dir: OwnedFd = std::fs::File::open(shim_dir)?.into();
    let mut s = UnixStream::connect(format!("/proc/self/fd/{}/attach", dir.as_raw_fd()))?;
    let mut hello = Vec::new();
    frame(&mut hello, TO_STDIN, &[]);
    s.write_all(&hello)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int.
        if unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut queued) } != 0
            || queued == 0
            || std::time::Instant::now() >= deadline
        {
            return Ok(s);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Has the shim send `signal` to the container's process.
pub fn send_signal(shim_dir: &Path, signal: i32) -> Result<()> {
    let mut s = connect(shim_dir).map_err(ioe("cannot reach the container's shim"))?;
    let mut buf = Vec::new();
    berth_common::attach::signal(&mut buf, signal);
    s.write_all(&buf)
        .map_err(ioe("cannot send the signal to the shim"))
}

struct RawMode(Option<Termios>);

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

fn term_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes one winsize into ws.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0;
    ok.then_some((ws.ws_row, ws.ws_col))
}

pub enum Outcome {
    Exited(i32),
    Detached,
    /// The shim went away without telling the exit code.
    Lost,
}

/// Copies our stdin (if `stdin`) to the process and its output to ours
/// until it exits. With a terminal: raw mode, window size, ctrl-p ctrl-q
/// detaches. Without one, SIGINT/SIGTERM/SIGHUP... are passed on to it
/// (docker's --sig-proxy).
pub fn pump(mut sock: UnixStream, stdin: bool, tty: bool) -> Result<Outcome> {
    let fd0 = std::io::stdin();
    let is_tty = stdin && tty && nix::unistd::isatty(fd0.as_raw_fd()).unwrap_or(false);
    let _raw = if is_tty {
        let orig = tcgetattr(&fd0).map_err(|e| ioe("reading the terminal mode")(e.into()))?;
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&fd0, SetArg::TCSANOW, &raw).map_err(|e| ioe("setting raw mode")(e.into()))?;
        RawMode(Some(orig))
    } else {
        RawMode(None)
    };
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGWINCH,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| ioe("blocking signals")(e.into()))?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| ioe("signalfd")(e.into()))?;
    let w = |sock: &mut UnixStream, kind: u8, p: &[u8]| -> Result<()> {
        let mut out = Vec::new();
        frame(&mut out, kind, p);
        sock.write_all(&out).map_err(ioe("writing to the shim"))
    };
    if tty {
        if let Some(sz) = term_size() {
            let mut out = Vec::new();
            berth_common::attach::resize(&mut out, sz.0, sz.1);
            // A short process may be over, and the shim done with us, by
            // now: what it sent is still there to read.
            let _ = sock.write_all(&out);
        }
    }
    let mut stdin_open = stdin;
    let mut held = false;
    let mut rbuf: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if stdin_open {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: fds is a valid array of pollfd.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(ioe("poll")(e));
        }
        if fds[1].revents != 0 {
            while let Ok(Some(si)) = sigfd.read_signal() {
                let signo = si.ssi_signo as i32;
                if signo == libc::SIGWINCH {
                    if let Some(sz) = term_size().filter(|_| tty) {
                        let mut out = Vec::new();
                        berth_common::attach::resize(&mut out, sz.0, sz.1);
                        let _ = sock.write_all(&out);
                    }
                } else {
                    let mut out = Vec::new();
                    berth_common::attach::signal(&mut out, signo);
                    let _ = sock.write_all(&out);
                }
            }
        }
        if stdin_open && fds[2].revents != 0 {
            let n = match std::io::stdin().lock().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n == 0 {
                stdin_open = false;
                let _ = w(&mut sock, CLOSE_STDIN, &[]);
            } else {
                let mut data = Vec::with_capacity(n + 1);
                for &b in &buf[..n] {
                    if is_tty && held {
                        held = false;
                        if b == CTRL_Q {
                            return Ok(Outcome::Detached);
                        }
                        data.push(CTRL_P);
                    }
                    if is_tty && b == CTRL_P {
                        held = true;
                    } else {
                        data.push(b);
                    }
                }
                if !data.is_empty() && w(&mut sock, TO_STDIN, &data).is_err() {
                    stdin_open = false;
                }
            }
        }
        if fds[0].revents != 0 {
            let n = match sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n == 0 {
                return Ok(Outcome::Lost);
            }
            rbuf.extend_from_slice(&buf[..n]);
            let mut at = 0;
            while let Some((kind, p, n)) = next_frame(&rbuf[at..]) {
                match kind {
                    STDOUT => {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(p);
                        let _ = o.flush();
                    }
                    STDERR => {
                        let _ = std::io::stderr().lock().write_all(p);
                    }
                    EXIT => {
                        let code =
                            serde_json::from_slice::<ExitRecord>(p).map_or(255, |e| e.exit_code);
                        return Ok(Outcome::Exited(code));
                    }
                    _ => {}
                }
                at += n;
            }
            rbuf.drain(..at);
        }
    }
}

/// Sets the size of the container's terminal, from another connection than
/// the one its stdio goes through (the Engine API's resize).
pub fn resize(shim_dir: &Path, rows: u16, cols: u16) -> Result<()> {
    let mut s = connect(shim_dir).map_err(ioe("cannot reach the container's shim"))?;
    let mut buf = Vec::new();
    berth_common::attach::resize(&mut buf, rows, cols);
    s.write_all(&buf)
        .map_err(ioe("cannot send the size to the shim"))
}
