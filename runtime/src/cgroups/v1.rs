//! cgroup v1: one directory per mounted hierarchy (cpu, memory, pids, ...).

use super::{
    io_err, read_key, read_pids, read_u64, remove_dir, write, CgroupError, Manager, Result, Stats,
};
use oci_spec::runtime::{LinuxBlockIo, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One mounted v1 hierarchy.
#[derive(Debug, Clone)]
pub struct V1Hierarchy {
    pub mount_point: PathBuf,
    /// The mount options naming it: "cpu", "memory", "name=systemd", ...
    pub options: String,
    /// Basename of the mount point, used inside the container's /sys/fs/cgroup.
    pub dir_name: String,
    pub controllers: Vec<String>,
}

/// The v1 hierarchies of this host, from /proc/self/mountinfo.
pub fn hierarchies() -> &'static [V1Hierarchy] {
    static H: OnceLock<Vec<V1Hierarchy>> = OnceLock::new();
    H.get_or_init(|| {
        let mut out: Vec<V1Hierarchy> = Vec::new();
        for m in berth_common::proc::mounts() {
            if m.fs_type != "cgroup" {
                continue;
            }
            let mp = m.mount_point;
            let controllers: Vec<String> = m
                .super_options
                .into_iter()
                .filter(|o| {
                    !matches!(
                        o.as_str(),
                        "rw" | "ro"
                            | "relatime"
                            | "noexec"
                            | "nosuid"
                            | "nodev"
                            | "xattr"
                            | "clone_children"
                    ) && !o.starts_with("release_agent")
                })
                .collect();
            if controllers.is_empty() || out.iter().any(|h| h.controllers == controllers) {
                continue;
            }
            let dir_name = mp
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(V1Hierarchy {
                options: controllers.join(","),
                mount_point: mp,
                dir_name,
                controllers,
            });
        }
        out
    })
}

pub struct V1 {
    path: String,
    /// Hybrid hosts: also track the container in the cgroup2 tree.
    unified: Option<PathBuf>,
}

impl V1 {
    pub fn new(path: &str, hybrid: bool) -> V1 {
        let rel = path.trim_start_matches('/');
        V1 {
            path: path.into(),
            unified: hybrid.then(|| Path::new(super::UNIFIED_ROOT).join(rel)),
        }
    }

    fn dir(&self, controller: &str) -> Option<PathBuf> {
        hierarchies()
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.mount_point.join(self.path.trim_start_matches('/')))
    }

    fn all_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = hierarchies()
            .iter()
            .map(|h| h.mount_point.join(self.path.trim_start_matches('/')))
            .collect();
        v.extend(self.unified.clone());
        v
    }

    /// A new cpuset cgroup starts with no cpus and no mems, and refuses tasks
    /// until they are set: copy them down from the nearest ancestor that has them.
    fn init_cpuset(&self, dir: &Path) -> Result<()> {
        let Some(root) = hierarchies()
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == "cpuset"))
        else {
            return Ok(());
        };
        let mut cur = root.mount_point.clone();
        for comp in Path::new(self.path.trim_start_matches('/')).components() {
            let parent = cur.clone();
            cur.push(comp);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = fs::read_to_string(cur.join(f)).unwrap_or_default();
                if v.trim().is_empty() {
                    let pv = fs::read_to_string(parent.join(f)).map_err(io_err("read", &parent))?;
                    write(&cur, f, pv.trim())?;
                }
            }
            if cur == dir {
                break;
            }
        }
        Ok(())
    }

    fn set_memory(&self, r: &LinuxResources) -> Result<()> {
        let (Some(m), Some(dir)) = (r.memory().as_ref(), self.dir("memory")) else {
            return Ok(());
        };
        // 0 is unset for every figure here, as runc has it: engines fill in
        // zeros for what the user did not ask for.
        let limit = m.limit().filter(|v| *v != 0);
        let swap = m.swap().filter(|v| *v != 0);
        let set_limit = |v: i64| write(&dir, "memory.limit_in_bytes", &v.to_string());
        let set_swap = |v: i64| write(&dir, "memory.memsw.limit_in_bytes", &v.to_string());
        match (limit, swap) {
            (Some(l), Some(s)) => {
                // The kernel wants memsw >= limit at every moment: order the
                // two writes so that holds whether limits grow or shrink.
                if set_limit(l).is_err() {
                    set_swap(s)?;
                    set_limit(l)?;
                } else {
                    set_swap(s)?;
                }
            }
            (Some(l), None) => set_limit(l)?,
            (None, Some(s)) => set_swap(s)?,
            _ => {}
        }
        if let Some(v) = m.reservation().filter(|v| *v != 0) {
            write(&dir, "memory.soft_limit_in_bytes", &v.to_string())?;
        }
        if let Some(v) = m.swappiness() {
            if v > 100 {
                return Err(CgroupError::Invalid(format!(
                    "linux.resources.memory.swappiness {v} is above 100"
                )));
            }
            write(&dir, "memory.swappiness", &v.to_string())?;
        }
        if m.disable_oom_killer() == Some(true) {
            write(&dir, "memory.oom_control", "1")?;
        }
        if let Some(v) = m.kernel() {
            let _ = write(&dir, "memory.kmem.limit_in_bytes", &v.to_string());
        }
        if let Some(v) = m.kernel_tcp() {
            // Still enforced by v1 where the file exists; kernels built
            // without it have nothing to set.
            if dir.join("memory.kmem.tcp.limit_in_bytes").exists() {
                write(&dir, "memory.kmem.tcp.limit_in_bytes", &v.to_string())?;
            } else {
                log::warn!("linux.resources.memory.kernelTCP ignored: no memory.kmem.tcp.limit_in_bytes on this host");
            }
        }
        Ok(())
    }

    fn set_cpu(&self, r: &LinuxResources) -> Result<()> {
        let Some(c) = r.cpu().as_ref() else {
            return Ok(());
        };
        if let Some(dir) = self.dir("cpu") {
            // docker sends `"shares": 0` for every container that sets no
            // shares; the kernel would take it as its minimum, 2, starving
            // the container. runc and crun take 0 as unset, here as for the
            // other figures.
            if let Some(v) = c.shares().filter(|v| *v != 0) {
                write(&dir, "cpu.shares", &v.to_string())?;
            }
            if let Some(v) = c.period().filter(|v| *v != 0) {
                write(&dir, "cpu.cfs_period_us", &v.to_string())?;
            }
            if let Some(v) = c.quota().filter(|v| *v != 0) {
                write(&dir, "cpu.cfs_quota_us", &v.to_string())?;
            }
            if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
                write(&dir, "cpu.rt_period_us", &v.to_string())?;
            }
            if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
                write(&dir, "cpu.rt_runtime_us", &v.to_string())?;
            }
        }
        if let Some(dir) = self.dir("cpuset") {
            if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
                write(&dir, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
                write(&dir, "cpuset.mems", v)?;
            }
        }
        Ok(())
    }

    fn set_devices(&self, r: &LinuxResources) -> Result<()> {
        let (Some(rules), Some(dir)) = (r.devices().as_ref(), self.dir("devices")) else {
            return Ok(());
        };
        // A device cgroup inside a user namespace is not ours to change.
        if !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        for rule in rules.iter().chain(default_allowed().iter()) {
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            write(&dir, file, &device_rule(rule))?;
        }
        Ok(())
    }
}

/// The weights of `linux.resources.blockIO`. A weight of 0 is no weight:
/// docker sends `"weight": 0` for every container that sets none, and runc
/// and crun leave the cgroup alone then (0 is outside the kernel's 10..1000
/// anyway). Kernels since 5.0 have no CFQ: the files exist only with BFQ,
/// as blkio.bfq.weight(_device), which take the same values.
fn set_blkio_weights(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let weight = b.weight().filter(|w| *w != 0);
    let leaf = b.leaf_weight().filter(|w| *w != 0);
    let devices: Vec<_> = b
        .weight_device()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let dev = format!("{}:{}", d.major(), d.minor());
            (
                d.weight().filter(|w| *w != 0).map(|w| format!("{dev} {w}")),
                d.leaf_weight()
                    .filter(|w| *w != 0)
                    .map(|w| format!("{dev} {w}")),
            )
        })
        .collect();
    if weight.is_some() || devices.iter().any(|(w, _)| w.is_some()) {
        let (w_file, wd_file) = if dir.join("blkio.weight").exists() {
            ("blkio.weight", "blkio.weight_device")
        } else if dir.join("blkio.bfq.weight").exists() {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        } else {
            return Err(CgroupError::Invalid(
                "linux.resources.blockIO: weights need blkio.weight or blkio.bfq.weight, and this host has neither (no block device uses the bfq I/O scheduler)".into(),
            ));
        };
        if let Some(w) = weight {
            write(dir, w_file, &w.to_string())?;
        }
        for v in devices.iter().filter_map(|(w, _)| w.as_ref()) {
            write(dir, wd_file, v)?;
        }
    }
    if leaf.is_some() || devices.iter().any(|(_, l)| l.is_some()) {
        if !dir.join("blkio.leaf_weight").exists() {
            return Err(CgroupError::Invalid(
                "linux.resources.blockIO: leaf weights need blkio.leaf_weight, which only the cfq I/O scheduler (gone since linux 5.0) provides".into(),
            ));
        }
        if let Some(w) = leaf {
            write(dir, "blkio.leaf_weight", &w.to_string())?;
        }
        for v in devices.iter().filter_map(|(_, l)| l.as_ref()) {
            write(dir, "blkio.leaf_weight_device", v)?;
        }
    }
    Ok(())
}

/// "c 1:3 rwm" (or "a" for every device).
pub fn device_rule(r: &LinuxDeviceCgroup) -> String {
    let t = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => return format!("a *:* {}", r.access().as_deref().unwrap_or("rwm")),
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => "p",
    };
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
    format!(
        "{t} {}:{} {}",
        n(r.major()),
        n(r.minor()),
        r.access().as_deref().unwrap_or("rwm")
    )
}

/// Devices every container may use whatever its config says, as runc allows:
/// the default nodes, the pty devices, and mknod of anything.
pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let mk = |t: LinuxDeviceType, maj: Option<i64>, min: Option<i64>, acc: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(t));
        d.set_major(maj);
        d.set_minor(min);
        d.set_access(Some(acc.into()));
        d
    };
    use LinuxDeviceType::{B, C};
    vec![
        mk(C, None, None, "m"),
        mk(B, None, None, "m"),
        mk(C, Some(1), Some(3), "rwm"),
        mk(C, Some(1), Some(5), "rwm"),
        mk(C, Some(1), Some(7), "rwm"),
        mk(C, Some(1), Some(8), "rwm"),
        mk(C, Some(1), Some(9), "rwm"),
        mk(C, Some(5), Some(0), "rwm"),
        mk(C, Some(5), Some(1), "rwm"),
        mk(C, Some(5), Some(2), "rwm"),
        mk(C, Some(136), None, "rwm"),
        mk(C, Some(10), Some(200), "rwm"),
    ]
}

impl Manager for V1 {
    fn create(&self) -> Result<()> {
        for d in self.all_dirs() {
            fs::create_dir_all(&d).map_err(io_err("mkdir", &d))?;
        }
        if let Some(d) = self.dir("cpuset") {
            self.init_cpuset(&d)?;
        }
        Ok(())
    }

    fn join_files(&self) -> Result<Vec<OwnedFd>> {
        hierarchies()
            .iter()
            .map(|h| {
                let p = h
                    .mount_point
                    .join(self.path.trim_start_matches('/'))
                    .join("tasks");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map(OwnedFd::from)
                    .map_err(io_err("open", &p))
            })
            .collect()
    }

    fn add(&self, pid: i32, in_cgroup2: bool) -> Result<()> {
        match &self.unified {
            Some(u) if !in_cgroup2 => write(u, "cgroup.procs", &pid.to_string()),
            _ => Ok(()),
        }
    }

    fn cgroup2_dir(&self) -> Option<PathBuf> {
        self.unified.clone()
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        self.set_memory(r)?;
        self.set_cpu(r)?;
        if let (Some(p), Some(dir)) = (r.pids().as_ref(), self.dir("pids")) {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            write(&dir, "pids.max", &v)?;
        }
        if let (Some(b), Some(dir)) = (r.block_io().as_ref(), self.dir("blkio")) {
            set_blkio_weights(&dir, b)?;
            let throttles = [
                (
                    b.throttle_read_bps_device(),
                    "blkio.throttle.read_bps_device",
                ),
                (
                    b.throttle_write_bps_device(),
                    "blkio.throttle.write_bps_device",
                ),
                (
                    b.throttle_read_iops_device(),
                    "blkio.throttle.read_iops_device",
                ),
                (
                    b.throttle_write_iops_device(),
                    "blkio.throttle.write_iops_device",
                ),
            ];
            for (list, file) in throttles {
                for t in list.as_deref().unwrap_or_default() {
                    write(
                        &dir,
                        file,
                        &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                    )?;
                }
            }
        }
        if let Some(h) = r.hugepage_limits() {
            let dir = self.dir("hugetlb");
            for l in h {
                match &dir {
                    Some(d) => write(
                        d,
                        &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
                        &l.limit().to_string(),
                    )?,
                    // Hybrid hosts may keep hugetlb on cgroup2 (HOST.md).
                    None => {
                        match &self.unified {
                            Some(u) => write(
                                u,
                                &format!("hugetlb.{}.max", l.page_size()),
                                &l.limit().to_string(),
                            )?,
                            None => return Err(CgroupError::Invalid(
                                "linux.resources.hugepageLimits: no hugetlb cgroup on this host"
                                    .into(),
                            )),
                        }
                    }
                }
            }
        }
        self.set_devices(r)?;
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let dir = self.dir("net_cls").ok_or_else(|| {
                    CgroupError::Invalid(
                        "linux.resources.network.classID: no net_cls cgroup on this host".into(),
                    )
                })?;
                write(&dir, "net_cls.classid", &id.to_string())?;
            }
            for p in n.priorities().as_deref().unwrap_or_default() {
                let dir = self.dir("net_prio").ok_or_else(|| {
                    CgroupError::Invalid(
                        "linux.resources.network.priorities: no net_prio cgroup on this host"
                            .into(),
                    )
                })?;
                write(
                    &dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
        if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(CgroupError::Invalid(
                "linux.resources.rdma: the rdma controller is only driven on cgroup v2".into(),
            ));
        }
        super::unified::apply(self.unified.as_deref(), r)
    }

    fn freeze(&self) -> Result<()> {
        let dir = self
            .dir("freezer")
            .ok_or_else(|| CgroupError::Invalid("no freezer cgroup on this host".into()))?;
        for _ in 0..1000 {
            write(&dir, "freezer.state", "FROZEN")?;
            if fs::read_to_string(dir.join("freezer.state"))
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(false)
            {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = write(&dir, "freezer.state", "THAWED");
        Err(CgroupError::Invalid(
            "the container did not freeze in time".into(),
        ))
    }

    fn thaw(&self) -> Result<()> {
        let dir = self
            .dir("freezer")
            .ok_or_else(|| CgroupError::Invalid("no freezer cgroup on this host".into()))?;
        write(&dir, "freezer.state", "THAWED")
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let dir = self
            .dir("pids")
            .or_else(|| self.dir("freezer"))
            .or_else(|| self.all_dirs().into_iter().next());
        match dir {
            Some(d) if d.exists() => read_pids(&d.join("cgroup.procs")),
            _ => Ok(vec![]),
        }
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for d in self.all_dirs() {
            if let Err(e) = remove_dir(&d) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.all_dirs()
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("memory") {
            s.memory.usage.usage = read_u64(&d, "memory.usage_in_bytes");
            s.memory.usage.max = read_u64(&d, "memory.max_usage_in_bytes");
            s.memory.usage.limit = read_u64(&d, "memory.limit_in_bytes");
            s.memory.usage.failcnt = read_u64(&d, "memory.failcnt");
            s.memory.swap.usage = read_u64(&d, "memory.memsw.usage_in_bytes");
            s.memory.swap.limit = read_u64(&d, "memory.memsw.limit_in_bytes");
            s.memory.oom_kill = read_key(&d, "memory.oom_control", "oom_kill");
        }
        if let Some(d) = self.dir("cpuacct") {
            s.cpu.usage.total = read_u64(&d, "cpuacct.usage");
            s.cpu.usage.user = read_u64(&d, "cpuacct.usage_user");
            s.cpu.usage.kernel = read_u64(&d, "cpuacct.usage_sys");
        }
        if let Some(d) = self.dir("pids") {
            s.pids.current = read_u64(&d, "pids.current");
            s.pids.limit = read_u64(&d, "pids.max");
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::set_blkio_weights;
    use oci_spec::runtime::LinuxBlockIo;
    use std::fs;

    fn block_io(v: serde_json::Value) -> LinuxBlockIo {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_zero_blkio_weight_touches_nothing() {
        // No weight files at all, as on a host without bfq: docker's
        // `"weight": 0` must still pass.
        let d = test_support::TempDir::new("blkio-zero");
        let b = block_io(serde_json::json!({
            "weight": 0, "leafWeight": 0,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0}]
        }));
        set_blkio_weights(d.path(), &b).unwrap();
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn blkio_weights_go_to_bfq_files_when_that_is_what_the_host_has() {
        let d = test_support::TempDir::new("blkio-bfq");
        fs::write(d.path().join("blkio.bfq.weight"), "100").unwrap();
        let b = block_io(serde_json::json!({
            "weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}]
        }));
        set_blkio_weights(d.path(), &b).unwrap();
        let read = |f: &str| fs::read_to_string(d.path().join(f)).unwrap();
        assert_eq!(read("blkio.bfq.weight"), "300");
        assert_eq!(read("blkio.bfq.weight_device"), "8:0 500");
        assert!(!d.path().join("blkio.weight").exists());
    }

    #[test]
    fn a_blkio_weight_without_weight_files_is_a_clear_error() {
        let d = test_support::TempDir::new("blkio-none");
        let err = set_blkio_weights(d.path(), &block_io(serde_json::json!({"weight": 300})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("blkio.bfq.weight"), "{err}");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
