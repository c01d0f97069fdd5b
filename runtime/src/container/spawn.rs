//! The one spawn path of `create` and `exec` (runc's parentProcess, with
//! initProcess and setnsProcess as its two variants): a child cloned into the
//! container's cgroup (and, for `create`, its new namespaces) that joins what
//! it must and re-executes our binary as `init <mode>` in a form the
//! container cannot write through. See the picture in lib.rs.

use super::*;
use crate::cgroups;
use crate::init::Mode;
use crate::namespaces::{self, NsFd};
use crate::selfexe;
use crate::sync::{Channel, Msg};
use crate::sys;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::wait::waitpid;
use nix::unistd::{setresgid, setresuid, Gid, Pid, Uid};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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

/// How to start one init; what differs between `create` and `exec`.
pub(super) struct Spawn<'a> {
    pub mode: Mode,
    /// CLONE_NEW* flags of the namespaces the child is born in (`create`).
    pub clone_flags: i32,
    pub cgroup: &'a dyn cgroups::Manager,
    /// Namespaces the child enters before it re-executes (`exec`: the
    /// container's, but for pid and time, which the parent entered so that
    /// the child is born in them).
    pub join: &'a [NsFd],
    /// The child waits for Go: the parent writes its id maps first.
    pub wait_go: bool,
    /// The child becomes root in the user namespace it is in, or its exec
    /// would drop every capability (our host uid is not mapped there).
    pub become_root: bool,
    /// Our fds the child closes at once: ours only until exec, yet a child
    /// stuck before it (waiting for Go from a runtime that was killed) would
    /// hold them, such as the state dir's lock.
    pub close: &'a [RawFd],
    /// Our fds the init gets (made inheritable), besides its channel.
    pub pass: &'a [RawFd],
    /// A sealed copy of our binary made by the parent (`exec`, before it
    /// entered the container's namespaces). Without it the child re-executes
    /// through a read-only bind mount in its own mount namespace, or makes
    /// the sealed copy itself.
    pub memfd: Option<&'a OwnedFd>,
}

/// A child on its way to becoming the init: its pid, whether it was born in
/// the cgroup2 cgroup, and our end of its channel.
pub(super) struct Spawned {
    pub pid: i32,
    pub in_cgroup2: bool,
    pub chan: Channel,
}

impl Spawn<'_> {
    pub(super) fn spawn(&self) -> Result<Spawned> {
        let (parent, child_chan) = Channel::pair().map_err(os("socketpair"))?;
        let cg2: Option<OwnedFd> = self
            .cgroup
            .cgroup2_dir()
            .and_then(|d| fs::File::open(d).ok())
            .map(OwnedFd::from);
        let join_files = self.cgroup.join_files()?;
        let what = match self.mode {
            Mode::Create => "clone the container's init",
            Mode::Exec => "fork",
        };
        let (pid, in_cgroup2) =
            namespaces::clone_into(self.clone_flags, cg2.as_ref()).map_err(os(what))?;
        if pid == 0 {
            self.child(child_chan, parent.fd(), &join_files);
        }
        Ok(Spawned {
            pid,
            in_cgroup2,
            chan: parent,
        })
    }

    /// The child: nothing here may return into the caller's code.
    fn child(&self, mut ch: Channel, parent_fd: RawFd, join_files: &[OwnedFd]) -> ! {
        for fd in self.close.iter().chain([&parent_fd]) {
            let _ = nix::unistd::close(*fd);
        }
        join_cgroup(&mut ch, join_files);
        for ns in self.join {
            if let Err(e) = namespaces::join(ns) {
                let _ = ch.send(&Msg::Error(e.to_string()));
                sys::exit_now(1);
            }
        }
        if self.wait_go && !matches!(ch.recv(), Ok(Msg::Go)) {
            sys::exit_now(1);
        }
        if self.become_root {
            let (uid, gid) = (Uid::from_raw(0), Gid::from_raw(0));
            if let Err(e) = setresgid(gid, gid, gid).and_then(|_| setresuid(uid, uid, uid)) {
                let _ = ch.send(&Msg::Error(format!(
                    "become root in the user namespace: {}",
                    io::Error::from(e)
                )));
                sys::exit_now(1);
            }
        }
        clear_cloexec(ch.fd());
        for fd in self.pass {
            clear_cloexec(*fd);
        }
        let mode = match self.mode {
            Mode::Create => "create",
            Mode::Exec => "exec",
        };
        let e = match self.memfd {
            Some(memfd) => selfexe::exec_init(memfd.as_raw_fd(), mode, ch.fd()),
            None => {
                // The bind mount needs a mount namespace of the container's
                // own: in one joined by path, or the runtime's, it would land
                // on the host.
                if self.clone_flags & libc::CLONE_NEWNS != 0 {
                    let e = selfexe::exec_init_readonly(mode, ch.fd());
                    log::debug!("read-only re-exec failed ({e}): falling back to a sealed copy");
                }
                match selfexe::sealed_copy() {
                    Ok(memfd) => selfexe::exec_init(memfd.as_raw_fd(), mode, ch.fd()),
                    Err(e) => e,
                }
            }
        };
        let _ = ch.send(&Msg::Error(format!(
            "exec the runtime in the container: {e}"
        )));
        sys::exit_now(1);
    }
}

/// Kills a child that will not become the container's init, and reaps it.
pub(super) fn kill_and_reap(pid: i32) {
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}

/// In a child just forked: joins the cgroup's v1 hierarchies, or reports
/// why not and exits.
fn join_cgroup(ch: &mut Channel, files: &[OwnedFd]) {
    if let Err(e) = cgroups::join_self(files) {
        let _ = ch.send(&Msg::Error(format!("join the container's cgroup: {e}")));
        sys::exit_now(1);
    }
}

fn clear_cloexec(fd: i32) {
    let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()));
}
