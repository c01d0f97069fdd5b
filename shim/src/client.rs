//! The client side of the attach socket: `berth-shim attach DIR` and
//! `berth-shim kill DIR SIG`.
//!
//! attach copies its stdin to the container and the container's output to
//! its stdout/stderr, and exits with the container's exit code when the
//! container exits. If its stdin is a terminal it is put in raw mode and its
//! size is sent at once and on every SIGWINCH. Typing ctrl-p ctrl-q detaches
//! (exit 0, the container keeps running); a ctrl-p followed by anything else
//! is sent as typed.

use crate::args::AttachOpts;
use crate::sock::{Dir, ATTACH};
use anyhow::{bail, Context, Result};
use berth_common::attach::{self, frame, take_frames};
use berth_common::exit::ExitRecord;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

fn connect(dir: &Path) -> Result<UnixStream> {
    let d = Dir::open(dir)?;
    d.connect(ATTACH).with_context(|| {
        if d.file(crate::io::EXIT).exists() {
            format!("container of {} has exited", dir.display())
        } else {
            format!("cannot connect to the shim of {}", dir.display())
        }
    })
}

pub fn kill(dir: &Path, signal: i32) -> Result<()> {
    let mut s = connect(dir)?;
    let mut buf = Vec::new();
    attach::signal(&mut buf, signal);
    s.write_all(&buf)
        .context("cannot send the signal request")?;
    Ok(())
}

/// Puts the terminal back as it was, whatever way attach ends.
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

pub fn attach(opts: AttachOpts) -> Result<u8> {
    let mut sock = connect(&opts.dir)?;
    let stdin = std::io::stdin();
    let is_tty = !opts.no_stdin && nix::unistd::isatty(stdin.as_raw_fd()).unwrap_or(false);
    let _raw = if is_tty {
        let orig = tcgetattr(&stdin).context("cannot read the terminal's mode")?;
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).context("cannot set raw mode")?;
        RawMode(Some(orig))
    } else {
        RawMode(None)
    };
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    mask.thread_block()?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;

    let mut out = Vec::new();
    if let Some(size) = opts.size.or(if is_tty { term_size() } else { None }) {
        attach::resize(&mut out, size.0, size.1);
    }
    sock.write_all(&out)?;

    let mut stdin_open = !opts.no_stdin;
    let mut held_ctrl_p = false;
    let mut rbuf = Vec::new();
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
        // SAFETY: fds is a valid array of fds.len() pollfd structs.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll");
        }
        if fds[1].revents != 0 {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            if let Some(size) = term_size().filter(|_| is_tty) {
                let mut out = Vec::new();
                attach::resize(&mut out, size.0, size.1);
                sock.write_all(&out)?;
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
                if opts.close_stdin {
                    let mut out = Vec::new();
                    frame(&mut out, attach::CLOSE_STDIN, &[]);
                    sock.write_all(&out)?;
                }
            } else {
                let mut data = Vec::with_capacity(n + 1);
                for &b in &buf[..n] {
                    if held_ctrl_p {
                        held_ctrl_p = false;
                        if b == CTRL_Q {
                            return Ok(0);
                        }
                        data.push(CTRL_P);
                    }
                    if b == CTRL_P {
                        held_ctrl_p = true;
                    } else {
                        data.push(b);
                    }
                }
                if !data.is_empty() {
                    let mut out = Vec::new();
                    frame(&mut out, attach::TO_STDIN, &data);
                    sock.write_all(&out).context("the shim went away")?;
                }
            }
        }
        if fds[0].revents != 0 {
            let n = match sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading from the shim"),
            };
            if n == 0 {
                bail!("the shim closed the connection before the container exited");
            }
            rbuf.extend_from_slice(&buf[..n]);
            let frames = take_frames(&mut rbuf).map_err(anyhow::Error::msg)?;
            for (kind, payload) in frames {
                match kind {
                    attach::STDOUT => {
                        let mut o = std::io::stdout().lock();
                        o.write_all(&payload)?;
                        o.flush()?;
                    }
                    attach::STDERR => std::io::stderr().lock().write_all(&payload)?,
                    attach::EXIT => {
                        let v: serde_json::Value = serde_json::from_slice(&payload)?;
                        let code =
                            serde_json::from_value::<ExitRecord>(v).map_or(255, |e| e.exit_code);
                        return Ok(code.clamp(0, 255) as u8);
                    }
                    _ => {}
                }
            }
        }
    }
}
