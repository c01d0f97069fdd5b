//! `run` in the foreground: signals forwarded to the container, its exit
//! code waited for.

use super::*;
use crate::console;
use crate::sys;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        let _ = sys::kill(pid, sig);
    }
}

/// While we wait in the foreground, signals meant for us go to the container.
pub fn forward_signals(pid: i32) {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::Relaxed);
    for s in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        let _ = sys::on_signal(s, forward);
    }
}

/// Waits for our child and turns its end into an exit code (128+N for signal N).
pub fn wait_exit(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return 255,
        }
    }
}

/// `run`: create, start, and (unless detached) wait, then delete.
pub fn run(o: &CreateOpts, detach: bool, keep: bool) -> Result<i32> {
    if !detach {
        // A joined pid namespace makes the init our grandchild: adopt it so
        // that we can wait for it.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let c = create(o, !detach)?;
    if let Err(e) = start(o.root, o.id) {
        let _ = delete(o.root, o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    forward_signals(c.pid);
    if let Some(m) = &c.master {
        console::proxy(m);
    }
    let code = wait_exit(c.pid);
    if !keep {
        delete(o.root, o.id, true)?;
    }
    Ok(code)
}
