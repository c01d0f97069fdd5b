//! Reading a container's cgroup (`/berth/<id>`) for top and stats, on v1,
//! hybrid and v2 hosts alike.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

fn v2(id: &str) -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(|b| PathBuf::from(b).join("berth").join(id))
        .find(|p| p.join("cgroup.controllers").exists() || p.join("cgroup.procs").exists())
}

fn v1(ctrl: &str, id: &str) -> Option<PathBuf> {
    let p = PathBuf::from("/sys/fs/cgroup")
        .join(ctrl)
        .join("berth")
        .join(id);
    p.exists().then_some(p)
}

/// Whether the container's processes are frozen (`pause`): the v1 freezer
/// where there is one (hybrid hosts freeze there), else cgroup2's.
pub fn frozen(id: &str) -> bool {
    match v1("freezer", id) {
        Some(d) => fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN"),
        None => v2(id)
            .and_then(|d| fs::read_to_string(d.join("cgroup.freeze")).ok())
            .is_some_and(|s| s.trim() == "1"),
    }
}

/// How many processes of the container the OOM killer has killed in this
/// run (the cgroup is made anew at each start): v1's `oom_kill` in
/// memory.oom_control, else cgroup2's in memory.events.
pub fn oom_kills(id: &str) -> u64 {
    let (dir, file) = match v1("memory", id) {
        Some(d) => (Some(d), "memory.oom_control"),
        None => (v2(id), "memory.events"),
    };
    dir.and_then(|d| fs::read_to_string(d.join(file)).ok())
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn read_u64(p: PathBuf) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

pub fn pids(id: &str) -> Vec<i32> {
    let file = v1("pids", id)
        .or_else(|| v1("memory", id))
        .or_else(|| v2(id))
        .map(|d| d.join("cgroup.procs"));
    let mut v: Vec<i32> = file
        .and_then(|f| fs::read_to_string(f).ok())
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[derive(Default, Clone)]
pub struct Sample {
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub pids: u64,
    /// Bytes received and sent on the container's own interfaces.
    pub net: (u64, u64),
    /// Bytes read from and written to block devices by its cgroup.
    pub block: (u64, u64),
}

/// (received, sent) over the interfaces of `pid`'s network namespace but
/// `lo`; nothing when that is the host's (docker counts none for it).
fn net_io(pid: i32) -> (u64, u64) {
    let ns = |p: &str| {
        fs::metadata(p)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
    };
    let theirs = ns(&format!("/proc/{pid}/ns/net"));
    if theirs.is_none() || theirs == ns("/proc/self/ns/net") {
        return (0, 0);
    }
    let Ok(dev) = fs::read_to_string(format!("/proc/{pid}/net/dev")) else {
        return (0, 0);
    };
    let mut rx = 0;
    let mut tx = 0;
    for l in dev.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// (read, written) bytes: v1's blkio.throttle.io_service_bytes, or
/// cgroup2's io.stat.
fn block_io(id: &str) -> (u64, u64) {
    if let Some(d) = v1("blkio", id) {
        let s = fs::read_to_string(d.join("blkio.throttle.io_service_bytes")).unwrap_or_default();
        let mut r = (0, 0);
        for l in s.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let [_, op, n] = f.as_slice() {
                let n: u64 = n.parse().unwrap_or(0);
                match *op {
                    "Read" => r.0 += n,
                    "Write" => r.1 += n,
                    _ => {}
                }
            }
        }
        return r;
    }
    let s = v2(id)
        .and_then(|d| fs::read_to_string(d.join("io.stat")).ok())
        .unwrap_or_default();
    let mut r = (0, 0);
    for kv in s.split_whitespace() {
        if let Some(v) = kv.strip_prefix("rbytes=") {
            r.0 += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = kv.strip_prefix("wbytes=") {
            r.1 += v.parse::<u64>().unwrap_or(0);
        }
    }
    r
}

fn cpu_ns(id: &str) -> Option<u64> {
    if let Some(p) = v1("cpuacct", id).or_else(|| v1("cpu,cpuacct", id)) {
        return read_u64(p.join("cpuacct.usage"));
    }
    let s = fs::read_to_string(v2(id)?.join("cpu.stat")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|u| u * 1000)
}

fn mem(id: &str) -> (u64, u64) {
    if let Some(p) = v1("memory", id) {
        let lim = read_u64(p.join("memory.limit_in_bytes")).unwrap_or(0);
        let lim = if lim >= 1 << 62 { 0 } else { lim };
        return (read_u64(p.join("memory.usage_in_bytes")).unwrap_or(0), lim);
    }
    match v2(id) {
        Some(p) => (
            read_u64(p.join("memory.current")).unwrap_or(0),
            read_u64(p.join("memory.max")).unwrap_or(0),
        ),
        None => (0, 0),
    }
}

/// The raw counters behind a `Sample`, as docker's stats API reports them
/// (its clients compute the rates): CPU time in ns, memory usage and limit
/// (0: none), pids, (rx, tx) and (read, written) bytes.
pub struct Counters {
    pub cpu_ns: u64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub pids: u64,
    pub net: (u64, u64),
    pub block: (u64, u64),
}

pub fn counters(id: &str) -> Counters {
    let (mem_usage, mem_limit) = mem(id);
    let procs = pids(id);
    Counters {
        cpu_ns: cpu_ns(id).unwrap_or(0),
        mem_usage,
        mem_limit,
        pids: procs.len() as u64,
        net: procs.first().map(|p| net_io(*p)).unwrap_or_default(),
        block: block_io(id),
    }
}

/// The host's CPU time in ns since boot (/proc/stat's first line), the
/// denominator of docker's CPU share.
pub fn host_cpu_ns() -> u64 {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on every Linux ABI.
    ticks * 10_000_000
}

/// CPU over `window`, memory and pids now, for each container id.
pub fn sample(ids: &[String], window: Duration) -> Vec<Sample> {
    let before: Vec<Option<u64>> = ids.iter().map(|i| cpu_ns(i)).collect();
    let t0 = std::time::Instant::now();
    if ids.iter().any(|i| !pids(i).is_empty()) {
        std::thread::sleep(window);
    }
    let dt = t0.elapsed().as_nanos().max(1) as f64;
    ids.iter()
        .zip(before)
        .map(|(id, b)| {
            let (mem_usage, mem_limit) = mem(id);
            let cpu = match (b, cpu_ns(id)) {
                (Some(a), Some(c)) => (c.saturating_sub(a)) as f64 * 100.0 / dt,
                _ => 0.0,
            };
            let procs = pids(id);
            Sample {
                cpu_percent: cpu,
                mem_usage,
                mem_limit,
                pids: procs.len() as u64,
                net: procs.first().map(|p| net_io(*p)).unwrap_or_default(),
                block: block_io(id),
            }
        })
        .collect()
}

pub fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|k| k * 1024)
        .unwrap_or(0)
}
