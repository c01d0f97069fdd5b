//! What `create` and `exec` share to start a process that becomes the
//! runtime's init inside the container.

use super::*;
use crate::cgroups;
use crate::sync::{Channel, Msg};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Where a terminal's pty master goes: the caller's `--console-socket`, or
/// (`ours`) back to us through a socketpair. Returns the end the init gets
/// and, in the second case, the end we keep.
pub(super) fn console_endpoints(
    socket: Option<&Path>,
    ours: bool,
) -> Result<Option<(UnixStream, Option<UnixStream>)>> {
    match (socket, ours) {
        (Some(p), _) => Ok(Some((
            UnixStream::connect(p)
                .map_err(os(format!("connect to console socket {}", p.display())))?,
            None,
        ))),
        (None, true) => {
            let (a, b) = UnixStream::pair().map_err(os("socketpair"))?;
            Ok(Some((b, Some(a))))
        }
        _ => Ok(None),
    }
}

/// In a child just forked: joins the cgroup's v1 hierarchies, or reports
/// why not and exits.
pub(super) fn join_cgroup(ch: &mut Channel, files: &[OwnedFd]) {
    if let Err(e) = cgroups::join_self(files) {
        let _ = ch.send(&Msg::Error(format!("join the container's cgroup: {e}")));
        unsafe { libc::_exit(1) };
    }
}

pub(super) fn clear_cloexec(fd: i32) {
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
}
