//! Terminals: the pty of a container with `terminal: true`, handed to the
//! caller over `--console-socket` as runc does (SCM_RIGHTS), and the fd
//! passing both ends use.

use crate::sys;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::termios::{self, SetArg};
use nix::unistd::{dup2, read, write};
use std::fs;
use std::io::{self, IoSlice, IsTerminal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// Sends `fd` with `name` as payload (runc sends the pty's path).
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> io::Result<()> {
    let iov = [IoSlice::new(name.as_bytes())];
    let fds = [fd];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

pub fn recv_fd(sock: BorrowedFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    sys::recv_fd(sock, &mut buf)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no file descriptor received on the console socket",
        )
    })
}

/// A new pty from the container's devpts: (master, slave, slave path).
pub fn open_pty() -> io::Result<(OwnedFd, OwnedFd, String)> {
    let master: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/ptmx")?
        .into();
    sys::unlock_pty(master.as_fd())?;
    // TIOCGPTPEER opens the peer of this very master: no path lookup to race.
    let slave = sys::open_pty_peer(master.as_fd())?;
    let n = sys::pty_number(master.as_fd())?;
    Ok((master, slave, format!("/dev/pts/{n}")))
}

pub fn set_size(fd: BorrowedFd, rows: u16, cols: u16) -> io::Result<()> {
    sys::set_window_size(fd, rows, cols)
}

/// Makes `slave` the controlling terminal and stdio of this process.
pub fn make_stdio(slave: &OwnedFd) -> io::Result<()> {
    sys::set_controlling_tty(slave.as_fd())?;
    for fd in 0..3 {
        dup2(slave.as_raw_fd(), fd)?;
    }
    Ok(())
}

/// Copies between our stdio and a pty master until the master hangs up, with
/// our terminal (if any) in raw mode meanwhile. Used by `run`/`exec` in the
/// foreground when no console socket was given.
pub fn proxy(master: &OwnedFd) {
    let stdin = io::stdin();
    let saved = stdin
        .is_terminal()
        .then(|| termios::tcgetattr(&stdin).ok())
        .flatten();
    if let Some(saved) = &saved {
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        if let Ok((rows, cols)) = sys::window_size(stdin.as_fd()) {
            let _ = set_size(master.as_fd(), rows, cols);
        }
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        let ready = |i: usize, what: PollFlags| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| r.intersects(what))
        };
        let (from_master, from_stdin) = (
            ready(
                0,
                PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR,
            ),
            ready(1, PollFlags::POLLIN | PollFlags::POLLHUP),
        );
        if from_master {
            match read(master.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => write_all(io::stdout().as_fd(), &buf[..n]),
                _ => break,
            }
        }
        if stdin_open && from_stdin {
            match read(stdin.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => write_all(master.as_fd(), &buf[..n]),
                _ => stdin_open = false,
            }
        }
    }
    if let Some(saved) = &saved {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, saved);
    }
}

fn write_all(fd: BorrowedFd, mut b: &[u8]) {
    while !b.is_empty() {
        match write(fd, b) {
            Ok(n) if n > 0 => b = &b[n..],
            _ => return,
        }
    }
}
