//! Cgroups behind one interface. The host's layout is detected once:
//! legacy (v1 only), hybrid (v1 controllers plus a cgroup2 mount at
//! /sys/fs/cgroup/unified) or unified (v2 only). Hybrid hosts are driven with
//! the v1 manager, which also tracks the container in the cgroup2 tree.

pub mod devices_bpf;
pub mod unified;
pub mod v1;
pub mod v2;

use oci_spec::runtime::LinuxResources;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::OnceLock;

pub const ROOT: &str = "/sys/fs/cgroup";
pub const UNIFIED_ROOT: &str = "/sys/fs/cgroup/unified";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {op}: {err}")]
    Io {
        op: String,
        path: String,
        err: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io_err(op: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let (op, path) = (op.into(), path.display().to_string());
    move |err| CgroupError::Io { op, path, err }
}

pub type Result<T> = std::result::Result<T, CgroupError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    Legacy,
    Hybrid,
    Unified,
}

fn is_cgroup2(p: &str) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|st| st.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC)
}

pub fn hierarchy() -> Hierarchy {
    static H: OnceLock<Hierarchy> = OnceLock::new();
    *H.get_or_init(|| {
        if is_cgroup2(ROOT) {
            Hierarchy::Unified
        } else if is_cgroup2(UNIFIED_ROOT) {
            Hierarchy::Hybrid
        } else {
            Hierarchy::Legacy
        }
    })
}

/// Usage figures for `events --stats`, in runc's field names.
#[derive(Debug, Default, serde::Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
}
#[derive(Debug, Default, serde::Serialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
}
#[derive(Debug, Default, serde::Serialize)]
pub struct CpuUsage {
    pub total: u64,
    pub user: u64,
    pub kernel: u64,
}
#[derive(Debug, Default, serde::Serialize)]
pub struct MemoryStats {
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    /// Processes of the container the kernel's OOM killer has killed.
    pub oom_kill: u64,
}
#[derive(Debug, Default, serde::Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}
#[derive(Debug, Default, serde::Serialize)]
pub struct PidsStats {
    pub current: u64,
    pub limit: u64,
}

/// What a runtime needs of a container's cgroup.
pub trait Manager {
    /// Creates the cgroup (idempotent).
    fn create(&self) -> Result<()>;
    /// Opens the files through which a process joins the cgroup's v1
    /// hierarchies itself, with [`join_self`]. Open them before the fork:
    /// the write is then checked against our credentials, not the child's.
    fn join_files(&self) -> Result<Vec<OwnedFd>> {
        Ok(Vec::new())
    }
    /// Moves `pid`, a child we just made, into the cgroup2 side of the
    /// cgroup, unless it was born there (`in_cgroup2`: clone3 with
    /// CLONE_INTO_CGROUP). The v1 hierarchies are the child's own job.
    fn add(&self, pid: i32, in_cgroup2: bool) -> Result<()>;
    /// The cgroup2 directory to be born into with CLONE_INTO_CGROUP (the
    /// whole cgroup on v2, its cgroup2 side on hybrid hosts).
    fn cgroup2_dir(&self) -> Option<std::path::PathBuf>;
    fn set(&self, r: &LinuxResources) -> Result<()>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn pids(&self) -> Result<Vec<i32>>;
    /// Removes the cgroup; processes must be gone.
    fn destroy(&self) -> Result<()>;
    fn stats(&self) -> Result<Stats>;
    /// Signals every process in the cgroup.
    fn signal_all(&self, sig: i32) -> Result<()> {
        signal_each(self, sig)
    }
    /// The cgroup's directory in every hierarchy it spans.
    fn dirs(&self) -> Vec<std::path::PathBuf>;
}

/// The ancestors of the cgroup `path` (below each hierarchy's root) that do
/// not exist yet: what `create` is about to make besides the cgroup itself,
/// and what `delete` may remove again once empty. A cgroup right below the
/// root (the default `/<id>`) has none, and costs no lookup.
pub fn missing_ancestors(m: &dyn Manager, path: &str) -> Vec<std::path::PathBuf> {
    let depth = Path::new(path.trim_start_matches('/')).components().count();
    let mut out = Vec::new();
    for leaf in m.dirs() {
        // Leaf excluded, root excluded: the dirs in between, deepest last.
        let mut between: Vec<&Path> = leaf
            .ancestors()
            .skip(1)
            .take(depth.saturating_sub(1))
            .collect();
        between.reverse();
        for a in between {
            if !a.exists() {
                out.push(a.to_path_buf());
            }
        }
    }
    out
}

/// Removes the cgroup, then those of `made` (its ancestors that `create`
/// made) that are empty, deepest first. One still holding another
/// container's cgroup stays: rmdir refuses a cgroup with children.
pub fn destroy_with(m: &dyn Manager, made: &[std::path::PathBuf]) -> Result<()> {
    let res = m.destroy();
    let mut made: Vec<&std::path::PathBuf> = made.iter().collect();
    made.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for d in made {
        let _ = fs::remove_dir(d);
    }
    res
}

/// Kills every process in the cgroup, in every hierarchy (a process may sit
/// in some only, as a child killed mid-join does), and waits until all are
/// gone, at most `secs`: what a killed `create` left has no record of pids.
pub fn kill_all(m: &dyn Manager, secs: u64) {
    let _ = m.thaw();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let mut any = false;
        for d in m.dirs() {
            for pid in read_pids(&d.join("cgroup.procs")).unwrap_or_default() {
                any = true;
                let _ = crate::sys::kill(pid, libc::SIGKILL);
            }
        }
        if !any || std::time::Instant::now() > end {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Moves the calling thread into the cgroups behind `files` (from
/// [`Manager::join_files`]); safe between fork and exec.
///
/// A migration by pid takes the kernel's global threadgroup lock, whose
/// first writer waits for an RCU grace period (10-15 ms here). Writing "0"
/// (the caller itself) to `tasks` is the one migration that skips it. It
/// moves one thread: callers are single-threaded children.
pub fn join_self(files: &[OwnedFd]) -> io::Result<()> {
    for f in files {
        if nix::unistd::write(f, b"0")? != 1 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Signals the cgroup's processes one by one, frozen meanwhile so that
/// nobody can fork out from under the loop.
pub(crate) fn signal_each<M: Manager + ?Sized>(m: &M, sig: i32) -> Result<()> {
    let frozen = m.freeze().is_ok();
    for pid in m.pids()? {
        let _ = crate::sys::kill(pid, sig);
    }
    if frozen {
        m.thaw()?;
    }
    Ok(())
}

pub fn manager(path: &str) -> Box<dyn Manager> {
    match hierarchy() {
        Hierarchy::Unified => Box::new(v2::V2::new(Path::new(ROOT), path)),
        Hierarchy::Hybrid => Box::new(v1::V1::new(path, true)),
        Hierarchy::Legacy => Box::new(v1::V1::new(path, false)),
    }
}

/// The cgroup path of a container: `linux.cgroupsPath` if given (a relative
/// one is taken below the runtime's own cgroup), else `/<id>`.
pub fn resolve_path(cgroups_path: Option<&Path>, id: &str) -> Result<String> {
    let Some(p) = cgroups_path else {
        return Ok(format!("/{id}"));
    };
    let s = p.to_string_lossy();
    if !s.starts_with('/') && s.split(':').count() == 3 {
        return Err(CgroupError::Invalid(format!(
            "linux.cgroupsPath {s:?} is in systemd form (slice:prefix:name), which needs the systemd cgroup manager; berth-runtime drives cgroupfs only"
        )));
    }
    if s.split('/').any(|c| c == "..") {
        return Err(CgroupError::Invalid(format!(
            "linux.cgroupsPath {s:?} must not contain \"..\""
        )));
    }
    if s.starts_with('/') {
        return Ok(s.into_owned());
    }
    Ok(format!("{}/{}", own_cgroup().trim_end_matches('/'), s))
}

/// The cgroup of this process (v2 entry, or the v1 memory/first controller).
fn own_cgroup() -> String {
    let data = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut first = None;
    for line in data.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrl, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("/"),
        );
        if hierarchy() == Hierarchy::Unified && ctrl.is_empty() {
            return path.into();
        }
        if ctrl.split(',').any(|c| c == "memory") {
            return path.into();
        }
        if first.is_none() && !ctrl.is_empty() {
            first = Some(path.to_string());
        }
    }
    first.unwrap_or_else(|| "/".into())
}

pub fn is_frozen(path: &str) -> bool {
    match hierarchy() {
        Hierarchy::Unified => fs::read_to_string(
            Path::new(ROOT)
                .join(path.trim_start_matches('/'))
                .join("cgroup.freeze"),
        )
        .map(|s| s.trim() == "1")
        .unwrap_or(false),
        _ => fs::read_to_string(
            Path::new(ROOT)
                .join("freezer")
                .join(path.trim_start_matches('/'))
                .join("freezer.state"),
        )
        .map(|s| s.trim() == "FROZEN")
        .unwrap_or(false),
    }
}

pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let p = dir.join(file);
    fs::write(&p, value).map_err(io_err(format!("write {value:?} to {file}"), dir))
}

pub(crate) fn read_u64(dir: &Path, file: &str) -> u64 {
    fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The value of `key` in a flat keyed file (memory.events, memory.oom_control).
pub(crate) fn read_key(dir: &Path, file: &str, key: &str) -> u64 {
    fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) fn read_pids(file: &Path) -> Result<Vec<i32>> {
    let s = fs::read_to_string(file).map_err(io_err("read", file))?;
    Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// rmdir with a few retries: the kernel may still be releasing exited tasks.
pub(crate) fn remove_dir(p: &Path) -> Result<()> {
    for i in 0..50 {
        match fs::remove_dir(p) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && i < 49 => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => return Err(io_err("rmdir", p)(e)),
        }
    }
    Ok(())
}
