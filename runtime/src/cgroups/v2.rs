//! cgroup v2: one directory in the unified tree.

use super::{
    io_err, read_key, read_pids, read_u64, remove_dir, write, CgroupError, Manager, Result, Stats,
};
use oci_spec::runtime::LinuxResources;
use std::fs;
use std::path::{Path, PathBuf};

pub struct V2 {
    root: PathBuf,
    dir: PathBuf,
}

impl V2 {
    pub fn new(root: &Path, path: &str) -> V2 {
        V2 {
            root: root.into(),
            dir: root.join(path.trim_start_matches('/')),
        }
    }

    /// Controllers are only usable in a child once every ancestor delegates
    /// them through cgroup.subtree_control.
    fn enable_controllers(&self) -> Result<()> {
        let avail = fs::read_to_string(self.root.join("cgroup.controllers"))
            .map_err(io_err("read controllers", &self.root))?;
        let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
        let rel = self
            .dir
            .strip_prefix(&self.root)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        // Into the root and every ancestor, not the container's own cgroup:
        // a cgroup with processes may not delegate (no internal processes).
        let mut cur = self.root.clone();
        for comp in rel.components() {
            for c in &want {
                // A controller busy elsewhere (e.g. threaded) is simply left out.
                let _ = write(&cur, "cgroup.subtree_control", c);
            }
            cur.push(comp);
        }
        Ok(())
    }

    /// blkio weight (10..1000) onto io.weight (1..10000), runc's mapping.
    pub fn blkio_to_io_weight(w: u16) -> u64 {
        if w == 0 {
            return 0;
        }
        1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
    }

    /// cpu.shares (2..262144) onto cpu.weight (1..10000), as runc and crun map it.
    pub fn shares_to_weight(shares: u64) -> u64 {
        if shares == 0 {
            return 0;
        }
        1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142
    }
}

impl Manager for V2 {
    fn create(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(io_err("mkdir", &self.dir))?;
        self.enable_controllers()
    }

    fn add(&self, pid: i32, in_cgroup2: bool) -> Result<()> {
        if in_cgroup2 {
            return Ok(());
        }
        write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn cgroup2_dir(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        let d = &self.dir;
        // 0 is unset for the figures below, as runc and crun have it:
        // docker fills in `"shares": 0` and `"weight": 0` for every
        // container, and 0 is outside what cpu.weight and io.weight take.
        if let Some(m) = r.memory() {
            if let Some(l) = m.limit().filter(|v| *v != 0) {
                write(
                    d,
                    "memory.max",
                    &if l < 0 { "max".into() } else { l.to_string() },
                )?;
            }
            if let Some(v) = m.reservation().filter(|v| *v != 0) {
                write(d, "memory.low", &v.to_string())?;
            }
            if let Some(s) = m.swap().filter(|v| *v != 0) {
                // OCI's swap is memory+swap (v1 semantics); v2 limits swap alone.
                let v = match (s, m.limit()) {
                    (s, _) if s < 0 => "max".to_string(),
                    (s, Some(l)) if l >= 0 => s.saturating_sub(l).max(0).to_string(),
                    (s, _) => s.to_string(),
                };
                write(d, "memory.swap.max", &v)?;
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(s) = c.shares().filter(|v| *v != 0) {
                write(d, "cpu.weight", &Self::shares_to_weight(s).to_string())?;
            }
            let quota = c.quota().filter(|v| *v != 0);
            let period = c.period().filter(|v| *v != 0);
            if quota.is_some() || period.is_some() {
                let q = quota
                    .map(|q| {
                        if q <= 0 {
                            "max".to_string()
                        } else {
                            q.to_string()
                        }
                    })
                    .unwrap_or_else(|| "max".into());
                let p = period.unwrap_or(100_000);
                write(d, "cpu.max", &format!("{q} {p}"))?;
            }
            if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
                write(d, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
                write(d, "cpuset.mems", v)?;
            }
        }
        if let Some(p) = r.pids() {
            write(
                d,
                "pids.max",
                &if p.limit() > 0 {
                    p.limit().to_string()
                } else {
                    "max".into()
                },
            )?;
        }
        if let Some(b) = r.block_io() {
            if let Some(w) = b.weight().filter(|v| *v != 0) {
                // OCI weights are BFQ's (10..1000); io.weight is 1..10000.
                // With BFQ the raw value goes to its own file, as runc does.
                if d.join("io.bfq.weight").exists() {
                    write(d, "io.bfq.weight", &w.to_string())?;
                } else {
                    write(
                        d,
                        "io.weight",
                        &format!("default {}", Self::blkio_to_io_weight(w)),
                    )?;
                }
            }
            let throttles = [
                (b.throttle_read_bps_device(), "rbps"),
                (b.throttle_write_bps_device(), "wbps"),
                (b.throttle_read_iops_device(), "riops"),
                (b.throttle_write_iops_device(), "wiops"),
            ];
            for (list, key) in throttles {
                for t in list.as_deref().unwrap_or_default() {
                    write(
                        d,
                        "io.max",
                        &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
                    )?;
                }
            }
        }
        for l in r.hugepage_limits().as_deref().unwrap_or_default() {
            write(
                d,
                &format!("hugetlb.{}.max", l.page_size()),
                &l.limit().to_string(),
            )?;
        }
        if let Some(rules) = r.devices() {
            // Inside a user namespace the cgroup is not ours to police.
            if nix::unistd::geteuid().is_root() {
                let mut all = rules.clone();
                all.extend(super::v1::default_allowed());
                super::devices_bpf::attach(d, &super::devices_bpf::program(&all))
                    .map_err(io_err("set device rules", d))?;
            }
        }
        if r.network().as_ref().is_some_and(|n| {
            n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty())
        }) {
            return Err(CgroupError::Invalid(
                "linux.resources.network: net_cls/net_prio do not exist on cgroup v2".into(),
            ));
        }
        for (dev, l) in r.rdma().clone().unwrap_or_default() {
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            write(d, "rdma.max", &v)?;
        }
        super::unified::apply(Some(d), r)
    }

    fn freeze(&self) -> Result<()> {
        write(&self.dir, "cgroup.freeze", "1")?;
        for _ in 0..1000 {
            let ev = fs::read_to_string(self.dir.join("cgroup.events")).unwrap_or_default();
            if ev.lines().any(|l| l == "frozen 1") {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(CgroupError::Invalid(
            "the container did not freeze in time".into(),
        ))
    }

    fn thaw(&self) -> Result<()> {
        write(&self.dir, "cgroup.freeze", "0")
    }

    fn pids(&self) -> Result<Vec<i32>> {
        if !self.dir.exists() {
            return Ok(vec![]);
        }
        read_pids(&self.dir.join("cgroup.procs"))
    }

    fn signal_all(&self, sig: i32) -> Result<()> {
        if sig == libc::SIGKILL && self.dir.join("cgroup.kill").exists() {
            return write(&self.dir, "cgroup.kill", "1");
        }
        super::signal_each(self, sig)
    }

    fn destroy(&self) -> Result<()> {
        remove_dir(&self.dir)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn stats(&self) -> Result<Stats> {
        let d = &self.dir;
        let mut s = Stats::default();
        s.memory.usage.usage = read_u64(d, "memory.current");
        s.memory.usage.max = read_u64(d, "memory.peak");
        s.memory.usage.limit = read_u64(d, "memory.max");
        s.memory.swap.usage = read_u64(d, "memory.swap.current");
        s.memory.oom_kill = read_key(d, "memory.events", "oom_kill");
        s.pids.current = read_u64(d, "pids.current");
        s.pids.limit = read_u64(d, "pids.max");
        let cpu = fs::read_to_string(d.join("cpu.stat")).unwrap_or_default();
        for l in cpu.lines() {
            let mut it = l.split_whitespace();
            let (k, v) = (
                it.next().unwrap_or(""),
                it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
            );
            match k {
                "usage_usec" => s.cpu.usage.total = v * 1000,
                "user_usec" => s.cpu.usage.user = v * 1000,
                "system_usec" => s.cpu.usage.kernel = v * 1000,
                _ => {}
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::V2;

    #[test]
    fn weight_conversions_match_runc() {
        assert_eq!(V2::shares_to_weight(1024), 39);
        assert_eq!(V2::shares_to_weight(2), 1);
        assert_eq!(V2::shares_to_weight(262144), 10000);
        assert_eq!(V2::blkio_to_io_weight(300), 2930);
        assert_eq!(V2::blkio_to_io_weight(10), 1);
        assert_eq!(V2::blkio_to_io_weight(1000), 10000);
    }
}
