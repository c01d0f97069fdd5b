//! The shim is a child subreaper: every container process (and every
//! runtime command) ends up as our child. One thread reaps them all and hands
//! each exit to whoever waits for that pid: a runtime command we run, a
//! container process we track, or, when nobody claims it yet (a detached exec
//! that exits before we have read its pid file), a short-lived list that the
//! tracker checks when it registers the pid.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

type ExitHandler = Box<dyn Fn(i32, i32) -> bool + Send + Sync>;

struct Reaper {
    waiters: Mutex<HashMap<i32, Sender<i32>>>,
    unclaimed: Mutex<Vec<(i32, i32, Instant)>>,
    handler: OnceLock<ExitHandler>,
}

static REAPER: OnceLock<Reaper> = OnceLock::new();

// Pids are reused: an exit nobody claimed within this long is stale.
const UNCLAIMED_TTL: Duration = Duration::from_secs(10);

fn reaper() -> &'static Reaper {
    REAPER.get_or_init(|| Reaper {
        waiters: Mutex::new(HashMap::new()),
        unclaimed: Mutex::new(Vec::new()),
        handler: OnceLock::new(),
    })
}

/// Starts the reaping thread. `handler(pid, status)` is told of every exit
/// that no runtime command waits for; it returns whether it knew the pid.
pub fn start(handler: ExitHandler) -> std::io::Result<()> {
    let r = reaper();
    let _ = r.handler.set(handler);
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGCHLD])?;
    std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            // A child may have exited before the handler was installed.
            reap_all();
            for _ in signals.forever() {
                reap_all();
            }
        })?;
    Ok(())
}

fn reap_all() {
    loop {
        let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
            Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waitpid: {e}");
                return;
            }
        };
        dispatch(pid, status);
    }
}

fn dispatch(pid: i32, status: i32) {
    let r = reaper();
    if let Some(tx) = r.waiters.lock().unwrap().remove(&pid) {
        let _ = tx.send(status);
        return;
    }
    let known = r.handler.get().map(|h| h(pid, status)).unwrap_or(false);
    if !known {
        // The crate's mount helper forks and waits through its own monitor.
        let _ = containerd_shim::synchronous::monitor::monitor_notify_by_pid(pid, status);
        let mut u = r.unclaimed.lock().unwrap();
        u.retain(|(_, _, at)| at.elapsed() < UNCLAIMED_TTL);
        u.push((pid, status, Instant::now()));
    }
}

/// The exit status of `pid` if it was reaped before anyone claimed it.
pub fn take_unclaimed(pid: i32) -> Option<i32> {
    let mut u = reaper().unclaimed.lock().unwrap();
    u.retain(|(_, _, at)| at.elapsed() < UNCLAIMED_TTL);
    let i = u.iter().position(|(p, _, _)| *p == pid)?;
    Some(u.remove(i).1)
}

pub struct Output {
    pub status: i32,
    pub stdout: Vec<u8>,
}

/// Runs `cmd` to completion, its exit taken from the reaper (a plain
/// `wait` would race with it). Stdout is captured when `capture` is set.
pub fn run(mut cmd: Command, capture: bool) -> std::io::Result<Output> {
    if capture {
        cmd.stdout(Stdio::piped());
    }
    let (tx, rx) = channel();
    let mut child = {
        let mut waiters = reaper().waiters.lock().unwrap();
        let child = cmd.spawn()?;
        waiters.insert(child.id() as i32, tx);
        child
    };
    // The child holds its own copies of the stdio we gave it now: ours
    // (e.g. the write end of a container's stdin pipe) must go.
    drop(cmd);
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut stdout);
    }
    let status = rx
        .recv()
        .map_err(|_| std::io::Error::other("reaper thread gone"))?;
    Ok(Output { status, stdout })
}
