//! Facts about the host the tests compare against, and host-side fixtures.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Lines of /proc/self/mountinfo whose mount point is `target`.
pub fn mountinfo_lines<'a>(lines: &'a [Value], target: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.as_str())
        .filter(|l| l.split(' ').nth(4) == Some(target))
        .collect()
}

/// The per-mount options (field 6) of a mountinfo line.
pub fn mount_opts(line: &str) -> Vec<&str> {
    line.split(' ').nth(5).unwrap_or("").split(',').collect()
}

/// The optional fields (shared:N, master:N, unbindable...) of a mountinfo line.
pub fn optional_fields(line: &str) -> Vec<&str> {
    line.split(' ').skip(6).take_while(|f| *f != "-").collect()
}

pub fn fs_type(line: &str) -> &str {
    line.split(" - ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
}

/// Our own (the runtime namespace's) namespace link for `t`, e.g. "net:[4026531840]".
pub fn own_ns(t: &str) -> Result<String> {
    Ok(fs::read_link(format!("/proc/self/ns/{t}"))?
        .display()
        .to_string())
}

pub fn is_mountpoint(p: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|s| s.lines().any(|l| l.split(' ').nth(4) == Some(p)))
        .unwrap_or(false)
}

/// Mounted v1 hierarchy of a controller (`None` on pure v2 or if unmounted).
/// A pure cgroup v2 host: one hierarchy at /sys/fs/cgroup, every controller
/// there (a hybrid host keeps them on v1 and cgroup2 at .../unified).
pub fn unified_host() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Whether the v2 root offers controller `c` to the cgroups below it.
pub fn v2_controller(c: &str) -> bool {
    fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .is_ok_and(|s| s.split_whitespace().any(|x| x == c))
}

/// Whether a cgroup made below the v2 root has `file` (the root itself lacks
/// most interface files): probed with a cgroup of our own, removed at once.
pub fn v2_child_has(file: &str) -> bool {
    // Unique within the run too: tests run in parallel threads.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe =
        Path::new("/sys/fs/cgroup").join(format!("berth-spec-probe-{}-{n}", std::process::id()));
    if fs::create_dir(&probe).is_err() {
        return false;
    }
    let has = probe.join(file).exists();
    let _ = fs::remove_dir(&probe);
    has
}

pub fn v1_controller(c: &str) -> Option<PathBuf> {
    let p = Path::new("/sys/fs/cgroup").join(c);
    if is_mountpoint(p.to_str()?) {
        Some(p)
    } else {
        None
    }
}

/// crun 1.8 refuses hybrid hosts while hugetlb sits on cgroup2: give it
/// its v1 hierarchy (idempotent; only on hybrid hosts that have hugetlb).
pub fn prepare_cgroups() -> Result<()> {
    let hybrid = is_mountpoint("/sys/fs/cgroup/unified") && is_mountpoint("/sys/fs/cgroup/memory");
    let has_hugetlb = fs::read_to_string("/proc/cgroups")
        .map(|s| s.lines().any(|l| l.starts_with("hugetlb\t")))
        .unwrap_or(false);
    if !hybrid || !has_hugetlb || is_mountpoint("/sys/fs/cgroup/hugetlb") {
        return Ok(());
    }
    fs::create_dir_all("/sys/fs/cgroup/hugetlb").context("mkdir /sys/fs/cgroup/hugetlb")?;
    nix::mount::mount(
        Some("cgroup"),
        "/sys/fs/cgroup/hugetlb",
        Some("cgroup"),
        nix::mount::MsFlags::empty(),
        Some("hugetlb"),
    )
    .context("mount the hugetlb v1 hierarchy")?;
    println!("# mounted the hugetlb cgroup v1 hierarchy at /sys/fs/cgroup/hugetlb");
    Ok(())
}

/// A tmpfs mounted on the host and made shared, unmounted on drop: the
/// source for propagation tests.
pub struct SharedTmpfs {
    pub path: PathBuf,
}

impl SharedTmpfs {
    pub fn new(path: PathBuf) -> Result<SharedTmpfs> {
        use nix::mount::{mount, MsFlags};
        fs::create_dir_all(&path)?;
        mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .with_context(|| format!("mount tmpfs at {}", path.display()))?;
        let t = SharedTmpfs { path };
        mount::<str, _, str, str>(None, &t.path, None, MsFlags::MS_SHARED, None)
            .context("make tmpfs shared")?;
        Ok(t)
    }

    pub fn mount_sub(&self, name: &str) -> Result<PathBuf> {
        let p = self.path.join(name);
        fs::create_dir_all(&p)?;
        nix::mount::mount(
            Some("tmpfs"),
            &p,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .with_context(|| format!("mount tmpfs at {}", p.display()))?;
        Ok(p)
    }
}

impl Drop for SharedTmpfs {
    fn drop(&mut self) {
        // Lazy and recursive: sub-mounts made by the test go with it.
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A host process in fresh net, uts and ipc namespaces, for join-by-path tests.
pub struct NsHolder {
    child: std::process::Child,
}

impl NsHolder {
    pub fn new() -> Result<NsHolder> {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(test_support::BUSYBOX);
        cmd.args(["sleep", "600"]);
        // SAFETY: unshare is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().context("spawn namespace holder")?;
        Ok(NsHolder { child })
    }

    pub fn ns_path(&self, t: &str) -> String {
        format!("/proc/{}/ns/{t}", self.child.id())
    }

    pub fn ns(&self, t: &str) -> Result<String> {
        Ok(fs::read_link(self.ns_path(t))?.display().to_string())
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bit of a capability in the /proc/<pid>/status masks.
pub fn cap_bit(name: &str) -> Result<u64> {
    const CAPS: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let short = name.strip_prefix("CAP_").unwrap_or(name);
    match CAPS.iter().position(|c| *c == short) {
        Some(i) => Ok(1u64 << i),
        None => bail!("unknown capability {name}"),
    }
}

pub fn cap_mask(names: &[&str]) -> Result<u64> {
    names.iter().try_fold(0u64, |m, n| Ok(m | cap_bit(n)?))
}

/// Parses a hex mask from /proc/<pid>/status as the helper reported it.
pub fn status_mask(report: &Value, field: &str) -> Result<u64> {
    let s = report["status"][field]
        .as_str()
        .with_context(|| format!("no {field} in report"))?;
    Ok(u64::from_str_radix(s, 16)?)
}

pub fn read_trim(p: impl AsRef<Path>) -> Result<String> {
    let p = p.as_ref();
    Ok(fs::read_to_string(p)
        .with_context(|| format!("read {}", p.display()))?
        .trim()
        .to_string())
}
