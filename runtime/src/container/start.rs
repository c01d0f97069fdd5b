//! `start`: releases a created init through exec.fifo, then poststart hooks.

use super::*;
use crate::fault;
use crate::hooks::{self, HookKind, HookState};
use crate::state::{ContainerDir, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

/// `start`: releases a created container's init into its process.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    if status != Status::Created {
        return Err(Error::Usage(format!(
            "cannot start container {id}: it is {status}, not created"
        )));
    }
    let spec = stored_spec(&dir)?;
    let fifo = dir.fifo_path();
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .map_err(os("open exec fifo"))?;
    fault::point("start:fifo-opened");
    // Wait for the init's byte, but never on a dead init.
    loop {
        if let Some((r, hup)) = read_fifo(&f) {
            if r == 1 {
                fault::point("start:byte-read");
                break;
            }
            if r == 0 || hup {
                return Err(Error::Init(format!("container {id}: init exited before it could start (a startContainer hook failed?)")));
            }
        } else if !crate::utils::is_same_process(st.pid, st.init_start_time) {
            return Err(Error::Init(format!(
                "container {id}: init exited before start"
            )));
        } else if !holds_dir(st.pid, &dir.path) {
            // Race: the init may have written its byte and let go of the
            // dir between our poll and this check. The byte then waits in
            // the fifo: look once more before calling it lost.
            if let Some((1, _)) = read_fifo(&f) {
                fault::point("start:byte-read");
                break;
            }
            // The init keeps the state dir open until its exec: without it,
            // a start killed after the init's byte already let it run, and
            // nobody will ever write to the fifo again.
            let _ = fs::remove_file(&fifo);
            return Err(Error::Usage(format!(
                "cannot start container {id}: it was already started (by a start that did not finish)"
            )));
        }
    }
    let _ = fs::remove_file(&fifo);
    fault::point("start:fifo-removed");
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().clone()) {
        // config.md: poststart hooks run after the user process is
        // executed. The init holds the fifo until its execve closes it.
        wait_for_exec(&f, st.pid, st.init_start_time);
        let s =
            HookState::new(id, st.pid, st.bundle.clone(), spec.annotations()).json(Status::Running);
        if let Err(e) = hooks::run(HookKind::Poststart, &h, &s) {
            // runtime.md: a failed poststart hook stops the container.
            let _ = crate::sys::kill(st.pid, libc::SIGKILL);
            return Err(e.into());
        }
    }
    Ok(())
}

/// Waits up to 20 ms for the (non-blocking) fifo; then reads one byte:
/// the read's result and whether the other end hung up. None on timeout.
fn read_fifo(f: &fs::File) -> Option<(isize, bool)> {
    let mut pfd = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
    if !matches!(poll(&mut pfd, PollTimeout::from(20u8)), Ok(n) if n > 0) {
        return None;
    }
    let hup = pfd[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLHUP));
    let mut b = [0u8; 1];
    let r = match (&*f).read(&mut b) {
        Ok(n) => n as isize,
        Err(_) => -1,
    };
    Some((r, hup))
}

/// Waits for EOF on the fifo: the init's execve closed its end (or it died).
fn wait_for_exec(f: &fs::File, pid: i32, start_time: u64) {
    loop {
        match read_fifo(f) {
            Some((r, _)) if r <= 0 => return,
            Some(_) => {}
            None if !crate::utils::is_same_process(pid, start_time) => return,
            None => {}
        }
    }
}

/// Whether process `pid` has `dir` open (read from /proc/PID/fd: only on
/// the slow path of `start`, after the init kept it waiting).
fn holds_dir(pid: i32, dir: &Path) -> bool {
    let Ok(want) = fs::canonicalize(dir) else {
        return true;
    };
    let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        // Unreadable is not proof of anything: keep waiting, as before.
        return true;
    };
    rd.flatten()
        .any(|e| fs::read_link(e.path()).is_ok_and(|l| l == want))
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NONBLOCK | libc::O_CLOEXEC)
    }
}
