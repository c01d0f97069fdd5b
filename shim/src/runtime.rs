//! Driving the OCI runtime through runc's command line, and nothing else:
//!
//! ```text
//! RUNTIME [--root R] create --bundle B --pid-file P [--console-socket S] ID
//! RUNTIME [--root R] exec --process P.json --detach --pid-file P [--tty --console-socket S] ID
//! RUNTIME [--root R] start ID
//! RUNTIME [--root R] delete --force ID
//! ```
//!
//! Without a terminal, create and exec hand their own stdio to the process
//! (runc's "pass-through" mode), so the runtime's stderr *is* the container's
//! stderr pipe. That is how the error text of a failed create reaches the
//! caller verbatim: if create fails, the process never ran, so whatever is in
//! the pipe was written by the runtime.

use anyhow::{bail, Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::ffi::OsString;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Runtime {
    pub path: PathBuf,
    pub root: Option<PathBuf>,
}

/// The three descriptors the runtime gets as 0, 1 and 2.
pub struct Stdio3 {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl Runtime {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.path);
        if let Some(r) = &self.root {
            c.arg("--root").arg(r);
        }
        c
    }

    /// Runs create or exec with `stdio`, and waits for it. On failure the
    /// error is what the runtime wrote to `errors` (a non-blocking read end),
    /// verbatim.
    pub fn run_detached(
        &self,
        args: &[OsString],
        stdio: Stdio3,
        errors: RawFd,
    ) -> Result<(), String> {
        let mut c = self.cmd();
        c.args(args)
            .stdin(Stdio::from(stdio.stdin))
            .stdout(Stdio::from(stdio.stdout))
            .stderr(Stdio::from(stdio.stderr));
        let status = c.status();
        // `c` owns our copies of the write ends: drop them so the pipes see
        // EOF when the container closes its own.
        drop(c);
        let status = status.map_err(|e| format!("cannot run {}: {e}", self.path.display()))?;
        if status.success() {
            return Ok(());
        }
        Err(error_text(read_available(errors), status))
    }

    /// Runs a short command (start, delete) and waits for it.
    pub fn run(&self, args: &[&str]) -> Result<(), String> {
        let out = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.path.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let mut text = out.stderr;
        if text.is_empty() {
            text = out.stdout;
        }
        Err(error_text(text, out.status))
    }
}

fn error_text(text: Vec<u8>, status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(&text);
    let text = text.trim_end();
    if text.is_empty() {
        format!("runtime failed with {status} and printed nothing")
    } else {
        text.to_string()
    }
}

fn read_available(fd: RawFd) -> Vec<u8> {
    // SAFETY: borrowed for the duration of the read only; ManuallyDrop keeps
    // the descriptor open for its owner.
    let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Takes the pty master that the runtime sent over the console socket. The
/// runtime connects and sends during create, before it exits, and the kernel
/// queues both the connection and the message, so by the time create has
/// returned success they are waiting for us.
pub fn recv_pty(listener: &UnixListener) -> Result<OwnedFd> {
    let (conn, _) = listener
        .accept()
        .context("the runtime did not connect to the console socket")?;
    conn.set_nonblocking(false)?;
    let mut buf = [0u8; 4096];
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .context("cannot receive the pty from the runtime")?;
        if let Some(fd) = msg.cmsgs()?.find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        }) {
            // SAFETY: SCM_RIGHTS installed a new descriptor that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if msg.bytes == 0 {
            bail!("the runtime closed the console socket without sending a pty");
        }
    }
}
