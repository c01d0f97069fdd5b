//! Becoming a daemon, and reporting to the caller.
//!
//! P0 (the process the caller started) checks the arguments, locks the
//! container dir, and forks; P1 calls setsid (a new session, so a hangup of
//! the caller's terminal never reaches us) and forks again so that P2, the
//! shim proper, is not a session leader and can never acquire a controlling
//! terminal; P1 exits at once and P0 reaps it. P0 then waits on the sync pipe
//! for P2's one-line JSON report, prints it on its stdout and exits 0 if the
//! container was created, 1 if not. The caller therefore needs no fd passing:
//! it reads P0's stdout (or just its exit status) like any command's.
//!
//! The lock (flock on DIR/shim.lock) is taken by P0 and inherited by P2, so it
//! is held exactly as long as the shim lives: a manager can tell whether the
//! shim is alive by trying to take it.

use crate::args::RunOpts;
use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, setsid, ForkResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub const LOCK: &str = "shim.lock";
pub const SHIM_LOG: &str = "shim.log";

/// What P2 tells P0: exactly one of `pid` or `error`.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shim_pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The write end of the sync pipe, held by P2 until it has reported.
pub struct Sync(Option<File>);

impl Sync {
    pub fn report(&mut self, r: &Report) {
        if let Some(mut f) = self.0.take() {
            let mut line = serde_json::to_vec(r).unwrap_or_default();
            line.push(b'\n');
            let _ = f.write_all(&line);
        }
    }
}

pub fn run(mut opts: RunOpts) -> Result<u8> {
    absolutize(&mut opts)?;
    let lock = lock_dir(&opts.dir)?;
    // Opened now: it may name a namespace through the caller's /proc entry.
    let exit_ns = match &opts.exit_command_mntns {
        Some(p) => Some(File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
        None => None,
    };
    // An exit file from an earlier run of this container would be mistaken
    // for this run's.
    let _ = std::fs::remove_file(opts.dir.join(crate::io::EXIT));
    let (r, w) = pipe2(OFlag::O_CLOEXEC).context("cannot create the sync pipe")?;
    // SAFETY: the shim has no threads, so the child may do anything.
    match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Parent { child } => {
            drop(w);
            drop(lock);
            let mut buf = Vec::new();
            let _ = File::from(r).read_to_end(&mut buf);
            let _ = waitpid(child, None);
            foreground_report(&buf)
        }
        ForkResult::Child => {
            drop(r);
            if setsid().is_err() {
                // SAFETY: _exit is async-signal-safe and skips atexit handlers.
                unsafe { libc::_exit(1) };
            }
            // SAFETY: still single-threaded.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => daemon_main(opts, w, lock, exit_ns),
                // SAFETY: as above.
                _ => unsafe { libc::_exit(0) },
            }
        }
    }
}

fn foreground_report(buf: &[u8]) -> Result<u8> {
    let line = String::from_utf8_lossy(buf);
    let line = line.trim();
    let report: Report = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(_) => bail!("the shim died before reporting (see its shim.log)"),
    };
    println!("{line}");
    match report.error {
        Some(e) => {
            eprintln!("berth-shim: {e}");
            Ok(1)
        }
        None => Ok(0),
    }
}

fn daemon_main(opts: RunOpts, sync: OwnedFd, lock: File, exit_ns: Option<File>) -> ! {
    let mut sync = Sync(Some(File::from(sync)));
    let ns_fd = exit_ns.as_ref().map_or(-1, |f| f.as_raw_fd());
    if let Err(e) = detach_stdio(&opts.dir, &[sync_fd(&sync), lock.as_raw_fd(), ns_fd]) {
        sync.report(&Report {
            error: Some(format!("{e:#}")),
            ..Default::default()
        });
        std::process::exit(1);
    }
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("BERTH_SHIM_LOG", "warn"))
        .format_timestamp_nanos()
        .init();
    let code = match crate::io::serve(&opts, &mut sync) {
        Ok(()) => 0,
        Err(e) => {
            let msg = format!("{e:#}");
            log::error!("{msg}");
            sync.report(&Report {
                error: Some(msg),
                ..Default::default()
            });
            1
        }
    };
    // Unlocked first: the exit command may start the container again, with
    // a shim of its own on this dir.
    drop(lock);
    if code == 0 {
        if let Some(cmd) = &opts.exit_command {
            run_exit_command(cmd, &opts.exit_command_args, exit_ns.as_ref());
        }
    }
    std::process::exit(code)
}

/// Starts the exit command and leaves it running (it outlives us: a
/// restart waits for this shim to be gone). Its stderr is our shim.log.
fn run_exit_command(cmd: &Path, args: &[String], ns: Option<&File>) {
    if let Some(ns) = ns {
        // SAFETY: setns on a descriptor we own; the shim is single-threaded,
        // as entering a mount namespace requires.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
            log::error!(
                "exit command: cannot enter its mount namespace: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
    }
    match std::process::Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .current_dir("/")
        .spawn()
    {
        Ok(c) => log::info!("exit command {} started: pid {}", cmd.display(), c.id()),
        Err(e) => log::error!("exit command {}: {e}", cmd.display()),
    }
}

fn sync_fd(s: &Sync) -> i32 {
    s.0.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1)
}

/// Makes P2 a clean daemon: a subreaper, stdio on /dev/null (stderr on
/// DIR/shim.log for our own diagnostics), no descriptor inherited from the
/// caller except those in `keep`, cwd `/` so no mount is pinned.
fn detach_stdio(dir: &Path, keep: &[i32]) -> Result<()> {
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot become a child subreaper");
    }
    let null = File::options().read(true).write(true).open("/dev/null")?;
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join(SHIM_LOG))
        .context("cannot open shim.log")?;
    for (src, dst) in [(&null, 0), (&null, 1), (&log, 2)] {
        nix::unistd::dup2(src.as_raw_fd(), dst).context("cannot redirect stdio")?;
    }
    drop((null, log));
    close_fds_except(keep);
    std::env::set_current_dir("/")?;
    Ok(())
}

fn close_fds_except(keep: &[i32]) {
    let mut keep: Vec<u32> = keep.iter().filter(|&&f| f > 2).map(|&f| f as u32).collect();
    keep.sort_unstable();
    let mut from = 3u32;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k > from {
            // SAFETY: closing descriptors nothing in this process refers to:
            // everything we own is in `keep`.
            unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) };
        }
        from = k.saturating_add(1);
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))
        .with_context(|| format!("cannot open {}", dir.join(LOCK).display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(f);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        bail!("container dir {} is in use by another shim", dir.display())
    }
    Err(e).context("cannot lock the container dir")
}

/// The daemon runs in `/`, so every path is made absolute (and checked)
/// while we still have the caller's cwd.
fn absolutize(o: &mut RunOpts) -> Result<()> {
    o.dir = std::fs::canonicalize(&o.dir)
        .with_context(|| format!("container dir {} does not exist", o.dir.display()))?;
    if !o.dir.is_dir() {
        bail!("container dir {} is not a directory", o.dir.display());
    }
    if let Some(b) = &o.bundle {
        let b = std::fs::canonicalize(b)
            .with_context(|| format!("bundle {} does not exist", b.display()))?;
        if !b.join("config.json").is_file() {
            bail!("bundle {} has no config.json", b.display());
        }
        o.bundle = Some(b);
    }
    if let Some(p) = &o.process {
        o.process = Some(
            std::fs::canonicalize(p)
                .with_context(|| format!("process file {} does not exist", p.display()))?,
        );
    }
    if o.runtime.components().count() > 1 {
        o.runtime = std::fs::canonicalize(&o.runtime)
            .with_context(|| format!("runtime {} does not exist", o.runtime.display()))?;
    } else if !in_path(&o.runtime) {
        bail!("runtime {} not found in PATH", o.runtime.display());
    }
    let cwd = std::env::current_dir()?;
    o.runtime_root = o.runtime_root.take().map(|r| cwd.join(r));
    o.log_path = o.log_path.take().map(|r| cwd.join(r));
    Ok(())
}

fn in_path(name: &Path) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d: PathBuf| d.join(name).is_file())
}
