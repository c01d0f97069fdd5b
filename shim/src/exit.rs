//! Reaping children and recording how the container's init ended.
//!
//! The shim is a child subreaper: the runtime's create (or exec) forks the
//! init and exits, so the init is re-parented to the shim, which can then
//! wait for it like any child. Anything else that gets re-parented to us
//! (orphans of a container without a pid namespace, helpers of the runtime)
//! is reaped and forgotten, so no zombie outlives a SIGCHLD.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::time::SystemTime;

/// The content of DIR/exit.
pub use berth_common::exit::ExitRecord as ExitInfo;

/// How a waited-for child ended, as the exit record says it.
fn exit_record(status: WaitStatus) -> Option<ExitInfo> {
    let (pid, exit_code, signal, core_dumped) = match status {
        WaitStatus::Exited(pid, code) => (pid, code, None, false),
        WaitStatus::Signaled(pid, sig, core) => (pid, 128 + sig as i32, Some(sig as i32), core),
        _ => return None,
    };
    Some(ExitInfo {
        pid: pid.as_raw(),
        exit_code,
        signal,
        core_dumped,
        exited_at: crate::log::rfc3339_nanos(SystemTime::now()),
    })
}

/// Reaps every child that has ended; returns the init's exit if it was one.
pub fn reap(init: Pid) -> Option<ExitInfo> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(st) => {
                if st.pid() == Some(init) {
                    found = exit_record(st);
                } else {
                    log::debug!("reaped orphan {st:?}");
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waitpid: {e}");
                break;
            }
        }
    }
    found
}
