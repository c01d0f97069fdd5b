//! RUN: a real container of the step's parent image, made and started as
//! `berth run` makes them (the shim, the runtime), its output streamed to
//! the build's sink, its upper dir turned into the step's layer by the code
//! `commit` uses. The container is removed whatever happens; ctrl-c or a
//! SIGTERM kill it first.

use super::BuildError;
use crate::container::lifecycle;
use crate::container::opts::CreateOptions;
use crate::container::ContainerStore;
use berth_common::attach::{next_frame, EXIT, STDERR, STDOUT};
use berth_common::exit::ExitRecord;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct RunRequest<'a> {
    pub image_id: &'a str,
    pub argv: Vec<String>,
    /// Build args, over the image's env for this process only.
    pub env: Vec<String>,
    pub network: Option<String>,
}

/// Removes the build container when dropped.
pub struct Running {
    root: PathBuf,
    pub id: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = lifecycle::remove(&self.root, &self.id, true, true) {
            log::warn!("removing build container {}: {e}", self.id);
        }
    }
}

impl Running {
    pub fn upper(&self) -> Result<PathBuf, BuildError> {
        Ok(ContainerStore::open(&self.root)?
            .dir_of(&self.id)
            .join("upper"))
    }
}

/// Runs the command to its end; the container (for its upper dir) and its exit code.
pub fn run(
    root: &Path,
    r: &RunRequest,
    out: &mut dyn Write,
    quiet: bool,
) -> Result<(Running, i32), BuildError> {
    let o = CreateOptions {
        name: Some(container_name()),
        image: r.image_id.to_string(),
        image_id: Some(r.image_id.to_string()),
        cmd: r.argv.clone(),
        entrypoint: Some(String::new()),
        env: r.env.clone(),
        network: r.network.clone(),
        no_healthcheck: true,
        ..Default::default()
    };
    let c = lifecycle::create(root, &o)?;
    let running = Running {
        root: root.to_path_buf(),
        id: c.id.clone(),
    };
    let started = lifecycle::start(root, &c, true)?;
    let sock = started
        .attach
        .ok_or_else(|| BuildError::Other("the build container gave no output stream".into()))?;
    let code = pump(sock, out, quiet, &running.id)?;
    Ok((running, code))
}

/// The container's output to `out` until its exit frame; SIGINT, SIGTERM
/// and SIGHUP end the build (the container goes with `Running`'s drop).
fn pump(
    mut sock: std::os::unix::net::UnixStream,
    out: &mut dyn Write,
    quiet: bool,
    id: &str,
) -> Result<i32, BuildError> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(s);
    }
    // Blocked only while we wait: the next build container must not inherit the mask.
    let old = mask
        .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
        .ok();
    struct Restore(Option<SigSet>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(m) = self.0.take() {
                let _ = m.thread_set_mask();
            }
        }
    }
    let _restore = Restore(old);
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| BuildError::Other(format!("signalfd: {e}")))?;
    // Said once ctrl-c is ours to handle: whoever reads it may interrupt.
    if !quiet {
        let _ = writeln!(out, " ---> Running in {}", &id[..12]);
    }
    let mut rbuf = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(BuildError::Io {
                what: "waiting for the build container".into(),
                source: e,
            });
        }
        if fds[1].revents != 0 {
            if let Ok(Some(si)) = sigfd.read_signal() {
                return Err(BuildError::Interrupted(si.ssi_signo as i32));
            }
        }
        if fds[0].revents != 0 {
            let n = match sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n == 0 {
                return Err(BuildError::Other(
                    "the build container's shim went away without its exit code".into(),
                ));
            }
            rbuf.extend_from_slice(&buf[..n]);
            let mut at = 0;
            while let Some((kind, p, n)) = next_frame(&rbuf[at..]) {
                match kind {
                    STDOUT | STDERR if !quiet => {
                        let _ = out.write_all(p);
                        let _ = out.flush();
                    }
                    EXIT => {
                        return Ok(
                            serde_json::from_slice::<ExitRecord>(p).map_or(255, |e| e.exit_code)
                        );
                    }
                    _ => {}
                }
                at += n;
            }
            rbuf.drain(..at);
        }
    }
}

/// What the runtime makes in every container's upper dir as mount points
/// (docker has them in an init layer under the container's own).
const MOUNT_POINTS: &[&str] = &[
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "dev",
    "proc",
    "sys",
];

/// The entries of a RUN's upper dir that are its change: not the runtime's
/// empty mount points, nor a directory only copied up to hold them.
pub fn changed_entries(
    upper: &Path,
    lower: &crate::image::merged::Merged,
) -> std::io::Result<std::collections::HashSet<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let mut keep = std::collections::HashSet::new();
    let top = fsroot::Entry::of(fsroot::open_dir(upper)?)?;
    fsroot::walk(&top, Path::new(""), &mut |rel, e| {
        let before = lower.resolve(rel, false).ok().flatten();
        let m = &e.meta;
        let empty = (m.is_file() && m.len() == 0) || (m.is_dir() && e.names()?.is_empty());
        if before.is_none() && empty && MOUNT_POINTS.iter().any(|p| Path::new(p) == rel) {
            return Ok(false);
        }
        let same_dir = m.is_dir()
            && !crate::image::merged::is_opaque(e)
            && before.as_ref().is_some_and(|b| {
                b.meta.is_dir()
                    && b.meta.mode() == m.mode()
                    && b.meta.uid() == m.uid()
                    && b.meta.gid() == m.gid()
            });
        if !same_dir {
            for a in rel.ancestors() {
                if !keep.insert(a.to_path_buf()) {
                    break;
                }
            }
        }
        Ok(true)
    })?;
    Ok(keep)
}

const PREFIX: &str = "berth-build-";

/// `berth-build-PID-START-N`: the build that owns it, by pid and start time,
/// so the next build can tell a container whose build was killed.
fn container_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id() as i32;
    let start = berth_common::procstat::Stat::read(pid).map_or(0, |s| s.start_time);
    format!(
        "{PREFIX}{pid}-{start}-{}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the containers of builds that died without removing them (kill -9).
pub fn reap_orphans(root: &Path) {
    let Ok(cs) = ContainerStore::open(root) else {
        return;
    };
    for c in cs.list() {
        let Some(rest) = c.name.strip_prefix(PREFIX) else {
            continue;
        };
        let mut f = rest.split('-');
        let (Some(Ok(pid)), Some(Ok(start))) = (
            f.next().map(str::parse::<i32>),
            f.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        let alive = berth_common::procstat::Stat::read(pid)
            .is_some_and(|s| s.start_time == start && !s.is_zombie());
        if !alive {
            log::info!("removing {}, left by a build that died", c.name);
            if let Err(e) = lifecycle::remove(root, &c.id, true, true) {
                log::warn!("removing {}: {e}", c.name);
            }
        }
    }
}
