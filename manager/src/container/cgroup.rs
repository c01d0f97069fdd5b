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

pub struct ProcInfo {
    pub uid: u32,
    pub time: String,
    pub cmd: String,
}

pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let uid = berth_common::proc::Status::read(Some(pid))?.uid;
    let stat = berth_common::proc::Stat::read(pid)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks = stat.utime + stat.stime;
    let s = ticks / hz;
    let cmd = fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|x| !x.is_empty())
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(ProcInfo {
        uid,
        time: format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        cmd,
    })
}

#[derive(Default, Clone)]
pub struct Sample {
    pub cpu_percent: f64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub pids: u64,
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
            Sample {
                cpu_percent: cpu,
                mem_usage,
                mem_limit,
                pids: pids(id).len() as u64,
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
