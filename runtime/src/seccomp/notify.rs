//! Seccomp user notification (`SCMP_ACT_NOTIFY`): the filter is installed
//! with SECCOMP_FILTER_FLAG_NEW_LISTENER, and its listener fd goes to the
//! seccomp agent at `linux.seccomp.listenerPath` with the container's state,
//! as runc sends it (the agent protocol of runtime-spec's seccomp section):
//!
//! ```text
//!  init (container)                  runtime (host)                 agent
//!  seccomp(NEW_LISTENER) → fd
//!  SeccompFd, then 1 byte + fd ────▶ connect(listenerPath) (5 s bound)
//!                                    {ociVersion, fds: ["seccompFd"],
//!                                     pid, metadata, state} + fd ──▶ answers
//!                  ◀──────────────── SeccompDone(None | error)          each
//!  carry on (or fail create/exec)                                     notified
//!                                                                     syscall
//! ```
//!
//! The init waits for SeccompDone so that a missing agent fails `create`
//! or `exec` with one line, and never leaves a process blocked in a
//! notified syscall that nobody will ever answer.

use super::{Program, SeccompError};
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{
    connect, sendmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessage, MsgFlags,
    SockFlag, SockType, UnixAddr,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const FLAG_NEW_LISTENER: u32 = 8;
/// With TSYNC and NEW_LISTENER together the kernel wants this flag, so that
/// the return value can only be the listener fd.
pub const FLAG_TSYNC_ESRCH: u32 = 16;
/// A task waiting for the agent stays killable (Linux 5.19).
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;
/// How long the runtime waits for the agent to take the fd.
const AGENT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("linux.seccomp.listenerPath {0:?}: {1}")]
    Agent(String, io::Error),
    #[error("seccomp listener fd from the container's init: {0}")]
    Receive(io::Error),
}

/// Whether any rule of the profile asks for SCMP_ACT_NOTIFY.
pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.syscalls()
        .iter()
        .flatten()
        .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// What create refuses before anything exists: a notify profile nobody
/// could answer, or one the kernel does not take.
pub fn check(s: &LinuxSeccomp) -> Result<(), String> {
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the runtime's own last syscalls would wait for the agent)"
                .into(),
        );
    }
    if !uses_notify(s) {
        return Ok(());
    }
    match s.listener_path() {
        None => {
            Err("linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY".into())
        }
        Some(p) if !p.is_absolute() => Err(format!(
            "linux.seccomp.listenerPath: {p:?} must be an absolute path"
        )),
        Some(_) if !supported() => {
            Err("linux.seccomp: SCMP_ACT_NOTIFY is not supported by this kernel".into())
        }
        Some(_) => Ok(()),
    }
}

/// Whether the kernel takes SECCOMP_RET_USER_NOTIF (Linux 5.0).
pub fn supported() -> bool {
    crate::sys::seccomp_action_available(RET_USER_NOTIF).is_ok()
}

/// Whether the kernel knows SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: with no
/// program it fails EFAULT reading it once the flags pass, EINVAL before.
pub fn wait_killable_supported() -> bool {
    crate::sys::seccomp_probe_filter_flags(FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV)
        .is_err_and(|e| e.raw_os_error() == Some(libc::EFAULT))
}

/// Installs a filter that has SECCOMP_FILTER_FLAG_NEW_LISTENER and returns
/// its listener fd (close-on-exec: the container never holds it).
pub fn install(p: &Program) -> Result<OwnedFd, SeccompError> {
    let fd = crate::sys::seccomp_new_listener(&p.insns, p.flags).map_err(SeccompError::Install)?;
    let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    Ok(fd)
}

/// Sends `fd` over the init's channel: one byte carrying it, so the other
/// side reads exactly that byte and no message of the stream after it.
pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd) -> io::Result<()> {
    let iov = [IoSlice::new(b"S")];
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

pub fn recv_fd(sock: BorrowedFd) -> Result<OwnedFd, NotifyError> {
    let mut buf = [0u8; 1];
    crate::sys::recv_fd(sock, &mut buf)
        .map_err(NotifyError::Receive)?
        .ok_or_else(|| {
            NotifyError::Receive(io::Error::new(
                io::ErrorKind::InvalidData,
                "no file descriptor came with the message",
            ))
        })
}

/// Connects to the agent, bounded: a unix socket's connect waits while the
/// listener's backlog is full, as long as SO_SNDTIMEO allows. A path
/// longer than sun_path is reached through its directory's fd.
fn connect_agent(path: &Path) -> io::Result<OwnedFd> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let tv = nix::sys::time::TimeVal::new(AGENT_TIMEOUT.as_secs() as i64, 0);
    setsockopt(&sock, sockopt::SendTimeout, &tv)?;
    setsockopt(&sock, sockopt::ReceiveTimeout, &tv)?;
    let long = path.as_os_str().len() > 100;
    let dir;
    let addr = if long {
        let parent = path.parent().unwrap_or(Path::new("/"));
        dir = std::fs::File::open(parent)?;
        let name = path.file_name().unwrap_or_default();
        UnixAddr::new(&Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name))?
    } else {
        UnixAddr::new(path)?
    };
    connect(sock.as_raw_fd(), &addr)?;
    Ok(sock)
}

/// Hands the listener fd to the agent at `listener`, with runc's
/// ContainerProcessState: `state` is the container's state, `pid` the
/// process whose filter this is.
pub fn hand_to_agent(
    listener: &Path,
    metadata: Option<&str>,
    state: &serde_json::Value,
    pid: i32,
    fd: BorrowedFd,
) -> Result<(), NotifyError> {
    let err = |e: io::Error| NotifyError::Agent(listener.display().to_string(), e);
    let sock = connect_agent(listener).map_err(err)?;
    let msg = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata.unwrap_or_default(),
        "state": state,
    });
    let body = serde_json::to_vec(&msg).map_err(|e| err(io::Error::other(e)))?;
    let iov = [IoSlice::new(&body)];
    let fds = [fd.as_raw_fd()];
    let n = sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| err(e.into()))?;
    if n != body.len() {
        return Err(err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the agent took only part of the state",
        )));
    }
    Ok(())
}

/// The init's side: passes the listener fd to the runtime and waits for the
/// agent to have it (or for the reason it could not).
pub fn hand_over(chan: &mut crate::sync::Channel, fd: OwnedFd) -> Result<(), String> {
    use std::os::fd::AsFd;
    let sync = |e: io::Error| format!("sync with runtime: {e}");
    chan.send(&crate::sync::Msg::SeccompFd).map_err(sync)?;
    send_fd(chan.0.as_fd(), fd.as_fd()).map_err(sync)?;
    drop(fd);
    match chan.recv().map_err(sync)? {
        crate::sync::Msg::SeccompDone(None) => Ok(()),
        crate::sync::Msg::SeccompDone(Some(e)) => Err(e),
        m => Err(format!("unexpected message from runtime: {m:?}")),
    }
}

/// The runtime's side, on SeccompFd from the init: takes the fd, gives it
/// to the agent, tells the init how that went.
pub fn forward(
    chan: &mut crate::sync::Channel,
    seccomp: &LinuxSeccomp,
    state: &serde_json::Value,
    pid: i32,
) -> Result<(), NotifyError> {
    use std::os::fd::AsFd;
    let fd = recv_fd(chan.0.as_fd())?;
    let listener = seccomp.listener_path().clone().unwrap_or_default();
    let r = hand_to_agent(
        &listener,
        seccomp.listener_metadata().as_deref(),
        state,
        pid,
        fd.as_fd(),
    );
    drop(fd);
    let _ = chan.send(&crate::sync::Msg::SeccompDone(
        r.as_ref().err().map(|e| e.to_string()),
    ));
    r
}
