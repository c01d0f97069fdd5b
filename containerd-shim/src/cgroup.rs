//! A container's cgroups, read from the files: metrics for Stats (in
//! containerd's cgroups v1 Metrics proto) and OOM notifications.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryOomControl, MemoryStat, Metrics, PidsStat, Throttle,
};

/// Where the cgroup of `pid` for a v1 `controller` is on this host.
pub fn v1_dir(pid: u32, controller: &str) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mountpoint = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        if post.next()? != "cgroup" {
            return None;
        }
        let opts = post.nth(1)?;
        if !opts.split(',').any(|o| o == controller) {
            return None;
        }
        pre.split(' ').nth(4).map(str::to_owned)
    })?;
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = own.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        f.next()?;
        let ctrls = f.next()?;
        let path = f.next()?;
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_owned())
    })?;
    Some(Path::new(&mountpoint).join(rel.trim_start_matches('/')))
}

/// The cgroup2 dir of `pid`, when its controllers live there (a pure v2 host).
pub fn v2_dir(pid: u32) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mountpoint = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split(' ').next()? == "cgroup2").then(|| pre.split(' ').nth(4).map(str::to_owned))?
    })?;
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new(&mountpoint).join(rel.trim_start_matches('/'));
    dir.join("memory.current").exists().then_some(dir)
}

fn num(dir: &Path, file: &str) -> u64 {
    fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn keyed(dir: &Path, file: &str) -> Vec<(String, u64)> {
    fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

fn entry(dir: &Path, prefix: &str) -> MemoryEntry {
    let mut e = MemoryEntry::new();
    e.usage = num(dir, &format!("{prefix}.usage_in_bytes"));
    e.limit = num(dir, &format!("{prefix}.limit_in_bytes"));
    e.max = num(dir, &format!("{prefix}.max_usage_in_bytes"));
    e.failcnt = num(dir, &format!("{prefix}.failcnt"));
    e
}

/// Metrics of the container whose init is `pid`.
pub fn metrics(pid: u32) -> Metrics {
    let mut m = Metrics::new();
    if let Some(v2) = v2_dir(pid) {
        fill_from_v2(&mut m, &v2);
        return m;
    }
    if let Some(d) = v1_dir(pid, "pids") {
        let mut p = PidsStat::new();
        p.current = num(&d, "pids.current");
        p.limit = num(&d, "pids.max");
        m.pids = Some(p).into();
    }
    let mut cpu = CPUStat::new();
    if let Some(d) = v1_dir(pid, "cpuacct") {
        let mut u = CPUUsage::new();
        u.total = num(&d, "cpuacct.usage");
        u.user = num(&d, "cpuacct.usage_user");
        u.kernel = num(&d, "cpuacct.usage_sys");
        u.per_cpu = fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        cpu.usage = Some(u).into();
    }
    if let Some(d) = v1_dir(pid, "cpu") {
        let mut t = Throttle::new();
        for (k, v) in keyed(&d, "cpu.stat") {
            match k.as_str() {
                "nr_periods" => t.periods = v,
                "nr_throttled" => t.throttled_periods = v,
                "throttled_time" => t.throttled_time = v,
                _ => {}
            }
        }
        cpu.throttling = Some(t).into();
    }
    m.cpu = Some(cpu).into();
    if let Some(d) = v1_dir(pid, "memory") {
        let mut s = MemoryStat::new();
        for (k, v) in keyed(&d, "memory.stat") {
            match k.as_str() {
                "cache" => s.cache = v,
                "rss" => s.rss = v,
                "rss_huge" => s.rss_huge = v,
                "mapped_file" => s.mapped_file = v,
                "dirty" => s.dirty = v,
                "writeback" => s.writeback = v,
                "pgpgin" => s.pg_pg_in = v,
                "pgpgout" => s.pg_pg_out = v,
                "pgfault" => s.pg_fault = v,
                "pgmajfault" => s.pg_maj_fault = v,
                "inactive_anon" => s.inactive_anon = v,
                "active_anon" => s.active_anon = v,
                "inactive_file" => s.inactive_file = v,
                "active_file" => s.active_file = v,
                "unevictable" => s.unevictable = v,
                "hierarchical_memory_limit" => s.hierarchical_memory_limit = v,
                "hierarchical_memsw_limit" => s.hierarchical_swap_limit = v,
                "total_cache" => s.total_cache = v,
                "total_rss" => s.total_rss = v,
                "total_rss_huge" => s.total_rss_huge = v,
                "total_mapped_file" => s.total_mapped_file = v,
                "total_dirty" => s.total_dirty = v,
                "total_writeback" => s.total_writeback = v,
                "total_pgpgin" => s.total_pg_pg_in = v,
                "total_pgpgout" => s.total_pg_pg_out = v,
                "total_pgfault" => s.total_pg_fault = v,
                "total_pgmajfault" => s.total_pg_maj_fault = v,
                "total_inactive_anon" => s.total_inactive_anon = v,
                "total_active_anon" => s.total_active_anon = v,
                "total_inactive_file" => s.total_inactive_file = v,
                "total_active_file" => s.total_active_file = v,
                "total_unevictable" => s.total_unevictable = v,
                _ => {}
            }
        }
        s.usage = Some(entry(&d, "memory")).into();
        s.swap = Some(entry(&d, "memory.memsw")).into();
        s.kernel = Some(entry(&d, "memory.kmem")).into();
        s.kernel_tcp = Some(entry(&d, "memory.kmem.tcp")).into();
        m.memory = Some(s).into();
        let mut o = MemoryOomControl::new();
        for (k, v) in keyed(&d, "memory.oom_control") {
            match k.as_str() {
                "oom_kill_disable" => o.oom_kill_disable = v,
                "under_oom" => o.under_oom = v,
                "oom_kill" => o.oom_kill = v,
                _ => {}
            }
        }
        m.memory_oom_control = Some(o).into();
    }
    m
}

/// A pure cgroup2 host, mapped onto the v1 message's fields (usec → ns).
fn fill_from_v2(m: &mut Metrics, d: &Path) {
    let mut p = PidsStat::new();
    p.current = num(d, "pids.current");
    p.limit = num(d, "pids.max");
    m.pids = Some(p).into();
    let mut u = CPUUsage::new();
    let mut t = Throttle::new();
    for (k, v) in keyed(d, "cpu.stat") {
        match k.as_str() {
            "usage_usec" => u.total = v * 1000,
            "user_usec" => u.user = v * 1000,
            "system_usec" => u.kernel = v * 1000,
            "nr_periods" => t.periods = v,
            "nr_throttled" => t.throttled_periods = v,
            "throttled_usec" => t.throttled_time = v * 1000,
            _ => {}
        }
    }
    let mut cpu = CPUStat::new();
    cpu.usage = Some(u).into();
    cpu.throttling = Some(t).into();
    m.cpu = Some(cpu).into();
    let mut s = MemoryStat::new();
    for (k, v) in keyed(d, "memory.stat") {
        match k.as_str() {
            "anon" => s.rss = v,
            "file" => s.cache = v,
            "file_mapped" => s.mapped_file = v,
            "file_dirty" => s.dirty = v,
            "file_writeback" => s.writeback = v,
            "pgfault" => s.pg_fault = v,
            "pgmajfault" => s.pg_maj_fault = v,
            "inactive_anon" => s.inactive_anon = v,
            "active_anon" => s.active_anon = v,
            "inactive_file" => s.inactive_file = v,
            "active_file" => s.active_file = v,
            "unevictable" => s.unevictable = v,
            _ => {}
        }
    }
    let mut e = MemoryEntry::new();
    e.usage = num(d, "memory.current");
    e.limit = num(d, "memory.max");
    e.max = num(d, "memory.peak");
    s.usage = Some(e).into();
    m.memory = Some(s).into();
    let mut o = MemoryOomControl::new();
    o.oom_kill = keyed(d, "memory.events")
        .into_iter()
        .find(|(k, _)| k == "oom_kill")
        .map(|(_, v)| v)
        .unwrap_or(0);
    m.memory_oom_control = Some(o).into();
}

fn oom_kills(dir: &Path, v2: bool) -> Option<u64> {
    let (file, key) = if v2 {
        ("memory.events", "oom_kill")
    } else {
        ("memory.oom_control", "oom_kill")
    };
    let text = fs::read_to_string(dir.join(file)).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// Calls `on_oom` each time the kernel's OOM killer strikes in the cgroup
/// of `pid`, until the cgroup is removed. v1: an eventfd registered on
/// memory.oom_control (which also fires when the cgroup goes); v2: inotify
/// on memory.events.
pub fn watch_oom(pid: u32, on_oom: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let (dir, v2) = match v2_dir(pid) {
        Some(d) => (d, true),
        None => match v1_dir(pid, "memory") {
            Some(d) => (d, false),
            None => return Ok(()),
        },
    };
    let waiter: Box<dyn FnMut() -> bool + Send> = if v2 {
        let ino = nix::sys::inotify::Inotify::init(nix::sys::inotify::InitFlags::IN_CLOEXEC)?;
        ino.add_watch(
            &dir.join("memory.events"),
            nix::sys::inotify::AddWatchFlags::IN_MODIFY,
        )?;
        Box::new(move || ino.read_events().is_ok())
    } else {
        // SAFETY: eventfd returns a new fd or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: efd is ours from here on.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        let ctl = fs::File::open(dir.join("memory.oom_control"))?;
        fs::write(
            dir.join("cgroup.event_control"),
            format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd()),
        )?;
        Box::new(move || {
            let _keep = &ctl;
            let mut buf = [0u8; 8];
            // SAFETY: reads 8 bytes into buf.
            unsafe { libc::read(efd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) == 8 }
        })
    };
    let mut waiter = waiter;
    let mut seen = oom_kills(&dir, v2).unwrap_or(0);
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            if !waiter() {
                return;
            }
            let Some(now) = oom_kills(&dir, v2) else {
                return; // the cgroup is gone
            };
            if now > seen {
                seen = now;
                on_oom();
            }
        })?;
    Ok(())
}
