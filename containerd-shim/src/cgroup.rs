//! A container's cgroups, read from the files: metrics for Stats (in
//! containerd's cgroups v1 Metrics proto) and OOM notifications.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryOomControl, MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf;

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

/// Metrics of the container whose init is `pid`: containerd's type URL
/// and the encoded message, v2 on a cgroup2 host, else v1.
pub fn metrics(pid: u32) -> Result<(&'static str, Vec<u8>), protobuf::Error> {
    use containerd_shim::protos::protobuf::Message;
    match v2_dir(pid) {
        Some(d) => Ok(("io.containerd.cgroups.v2.Metrics", v2_metrics(&d))),
        None => Ok((
            "io.containerd.cgroups.v1.Metrics",
            v1_metrics(pid).write_to_bytes()?,
        )),
    }
}

fn v1_metrics(pid: u32) -> Metrics {
    let mut m = Metrics::new();
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

// containerd's io.containerd.cgroups.v2.Metrics, encoded by hand: the
// crate's protos only have the v1 message. Field numbers from
// containerd/cgroups' cgroup2/stats/metrics.proto.
const V2_MEMORY_STAT: &[(&str, u32)] = &[
    ("anon", 1),
    ("file", 2),
    ("kernel_stack", 3),
    ("slab", 4),
    ("sock", 5),
    ("shmem", 6),
    ("file_mapped", 7),
    ("file_dirty", 8),
    ("file_writeback", 9),
    ("anon_thp", 10),
    ("inactive_anon", 11),
    ("active_anon", 12),
    ("inactive_file", 13),
    ("active_file", 14),
    ("unevictable", 15),
    ("slab_reclaimable", 16),
    ("slab_unreclaimable", 17),
    ("pgfault", 18),
    ("pgmajfault", 19),
    ("workingset_refault", 20),
    ("workingset_activate", 21),
    ("workingset_nodereclaim", 22),
    ("pgrefill", 23),
    ("pgscan", 24),
    ("pgsteal", 25),
    ("pgactivate", 26),
    ("pgdeactivate", 27),
    ("pglazyfree", 28),
    ("pglazyfreed", 29),
    ("thp_fault_alloc", 30),
    ("thp_collapse_alloc", 31),
];

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_u64(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_varint(out, u64::from(field) << 3);
        put_varint(out, v);
    }
}

fn put_msg(out: &mut Vec<u8>, field: u32, msg: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, msg.len() as u64);
    out.extend_from_slice(msg);
}

/// A limit file: "max" is no limit, u64::MAX as containerd has it.
fn limit(dir: &Path, file: &str) -> u64 {
    match fs::read_to_string(dir.join(file)) {
        Ok(s) if s.trim() == "max" => u64::MAX,
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

/// The v2 Metrics message of the cgroup at `d`.
pub fn v2_metrics(d: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pids = Vec::new();
    put_u64(&mut pids, 1, num(d, "pids.current"));
    put_u64(&mut pids, 2, limit(d, "pids.max"));
    put_msg(&mut out, 1, &pids);
    let mut cpu = Vec::new();
    for (k, v) in keyed(d, "cpu.stat") {
        let f = match k.as_str() {
            "usage_usec" => 1,
            "user_usec" => 2,
            "system_usec" => 3,
            "nr_periods" => 4,
            "nr_throttled" => 5,
            "throttled_usec" => 6,
            _ => continue,
        };
        put_u64(&mut cpu, f, v);
    }
    put_msg(&mut out, 2, &cpu);
    let mut mem = Vec::new();
    let stat = keyed(d, "memory.stat");
    for (name, f) in V2_MEMORY_STAT {
        if let Some((_, v)) = stat.iter().find(|(k, _)| k == name) {
            put_u64(&mut mem, *f, *v);
        }
    }
    put_u64(&mut mem, 32, num(d, "memory.current"));
    put_u64(&mut mem, 33, limit(d, "memory.max"));
    put_u64(&mut mem, 34, num(d, "memory.swap.current"));
    put_u64(&mut mem, 35, limit(d, "memory.swap.max"));
    put_u64(&mut mem, 36, num(d, "memory.peak"));
    put_u64(&mut mem, 37, num(d, "memory.swap.peak"));
    put_msg(&mut out, 4, &mem);
    let mut ev = Vec::new();
    for (k, v) in keyed(d, "memory.events") {
        let f = match k.as_str() {
            "low" => 1,
            "high" => 2,
            "max" => 3,
            "oom" => 4,
            "oom_kill" => 5,
            _ => continue,
        };
        put_u64(&mut ev, f, v);
    }
    put_msg(&mut out, 8, &ev);
    out
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

/// The OOM kill count of a container's memory cgroup, shared between its
/// watching thread and the reaper: an OOM kill that ends the container
/// races with the cgroup's removal, so the exit checks the count too.
pub struct OomWatch {
    dir: PathBuf,
    v2: bool,
    seen: Arc<AtomicU64>,
}

impl OomWatch {
    /// Whether OOM kills happened since the last look.
    pub fn check(&self) -> bool {
        check(&self.dir, self.v2, &self.seen)
    }
}

fn check(dir: &Path, v2: bool, seen: &AtomicU64) -> bool {
    match oom_kills(dir, v2) {
        Some(now) => seen.fetch_max(now, Ordering::SeqCst) < now,
        None => false,
    }
}

/// Calls `on_oom` each time the kernel's OOM killer strikes in the cgroup
/// of `pid`, until the cgroup is removed. v1: an eventfd registered on
/// memory.oom_control (which also fires when the cgroup goes); v2: inotify
/// on memory.events.
pub fn watch_oom(
    pid: u32,
    on_oom: impl Fn() + Send + 'static,
) -> std::io::Result<Option<OomWatch>> {
    let (dir, v2) = match v2_dir(pid) {
        Some(d) => (d, true),
        None => match v1_dir(pid, "memory") {
            Some(d) => (d, false),
            None => return Ok(None),
        },
    };
    let mut waiter: Box<dyn FnMut() -> bool + Send> = if v2 {
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
    let seen = Arc::new(AtomicU64::new(oom_kills(&dir, v2).unwrap_or(0)));
    let watch = OomWatch {
        dir: dir.clone(),
        v2,
        seen: seen.clone(),
    };
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            if !waiter() || !dir.exists() {
                return; // the cgroup is gone
            }
            if check(&dir, v2, &seen) {
                on_oom();
            }
        })?;
    Ok(Some(watch))
}
