//! What berth reads from /proc, parsed in one place: a process's stat and
//! status, the mount table, the IPv4 routes. status, mountinfo and the
//! routes through `procfs-core` (the parsers of the `procfs` crate, without
//! its file access); the few fields of stat by hand (see `Stat::parse`).
//! Callers get named fields, never indexes: proc(5)'s 1-based field numbers
//! appear only here.

use procfs_core::FromBufRead;
use std::io::Cursor;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The fields of /proc/PID/stat that berth looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: R, S, D, Z, T...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Fields 14 and 15, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Field 22, clock ticks since boot: with the pid, names one process
    /// for good (a reused pid has another start time).
    pub start_time: u64,
}

impl Stat {
    pub fn read(pid: i32) -> Option<Stat> {
        Stat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// By hand, not through procfs-core: its parser of all 52 fields added
    /// 20 KB to the shim, which reads this one line for its ppid.
    pub fn parse(line: &str) -> Option<Stat> {
        let rest = &line[line.rfind(')')? + 1..];
        // f[0] is field 3.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3).copied();
        Some(Stat {
            state: field(3)?.chars().next()?,
            ppid: field(4)?.parse().ok()?,
            utime: field(14)?.parse().ok()?,
            stime: field(15)?.parse().ok()?,
            start_time: field(22)?.parse().ok()?,
        })
    }

    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// The start time of a live, non-zombie process, or None when there is no
/// such process: stored with every pid we record, so that a reused pid is
/// never taken for ours.
pub fn start_time(pid: i32) -> Option<u64> {
    Stat::read(pid)
        .filter(|s| !matches!(s.state, 'Z' | 'X'))
        .map(|s| s.start_time)
}

/// True when `pid` is alive and is the process that started at `start_time`.
pub fn is_same_process(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}

/// The fields of /proc/PID/status that berth looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The real uid.
    pub uid: u32,
    /// The bounding set (CapBnd), when the kernel shows it.
    pub cap_bounding: Option<u64>,
}

impl Status {
    /// /proc/PID/status, or /proc/self/status without a pid.
    pub fn read(pid: Option<i32>) -> Option<Status> {
        let path = match pid {
            Some(p) => format!("/proc/{p}/status"),
            None => "/proc/self/status".into(),
        };
        Status::parse(&std::fs::read(path).ok()?)
    }

    pub fn parse(text: &[u8]) -> Option<Status> {
        let s = procfs_core::process::Status::from_buf_read(Cursor::new(text)).ok()?;
        Some(Status {
            uid: s.ruid,
            cap_bounding: s.capbnd,
        })
    }
}

/// One line of /proc/PID/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    /// Unescaped (mountinfo writes a space as `\040`).
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// The superblock's options, in the kernel's order.
    pub super_options: Vec<String>,
}

/// This process's mount table (/proc/self/mountinfo); empty if unreadable.
pub fn mounts() -> Vec<Mount> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mounts(&t))
        .unwrap_or_default()
}

pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let m = procfs_core::process::MountInfo::from_line(l).ok()?;
            // The superblock's options as written: procfs-core keeps them in
            // a map, which loses their order.
            let super_options = l
                .rsplit_once(' ')
                .map(|(_, o)| o.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            Some(Mount {
                id: u64::try_from(m.mnt_id).ok()?,
                mount_point: PathBuf::from(unescape(&m.mount_point.to_string_lossy())),
                fs_type: m.fs_type,
                super_options,
            })
        })
        .collect()
}

/// mountinfo escapes spaces and friends as octal `\040`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One IPv4 route of /proc/net/route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub destination: Ipv4Addr,
    pub mask: Ipv4Addr,
}

/// The host's IPv4 routes (/proc/net/route); empty if unreadable.
pub fn routes() -> Vec<Route> {
    std::fs::read("/proc/net/route")
        .ok()
        .and_then(|t| parse_routes(&t))
        .unwrap_or_default()
}

pub fn parse_routes(text: &[u8]) -> Option<Vec<Route>> {
    let r = procfs_core::net::RouteEntries::from_buf_read(Cursor::new(text)).ok()?;
    Some(
        r.0.into_iter()
            .map(|e| Route {
                iface: e.iface,
                destination: e.destination,
                mask: e.mask,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_spaces_and_parens() {
        let l = "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 0 0 20 0 1 0 12345 1000 10";
        let s = Stat::parse(l).unwrap();
        assert_eq!((s.state, s.ppid, s.utime, s.stime), ('S', 7, 11, 22));
        assert_eq!(s.start_time, 12345);
        assert!(!s.is_zombie());
        assert!(Stat::parse("1 (x) Z 0").is_none());
    }

    #[test]
    fn ourselves() {
        let me = Stat::read(std::process::id() as i32).unwrap();
        assert_eq!(me.ppid, std::os::unix::process::parent_id() as i32);
        assert!(me.start_time > 0 && !me.is_zombie());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn mount_lines() {
        let t = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                 25 1 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\nnot a line\n";
        let m = parse_mounts(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].id, 36);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(m[0].fs_type, "ext3");
        assert_eq!(m[0].super_options, ["rw", "errors=continue"]);
        assert_eq!(m[1].super_options, ["rw", "cpu", "cpuacct"]);
        assert!(!mounts().is_empty());
    }

    #[test]
    fn route_lines() {
        let t = b"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_routes(t).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].iface, "eth0");
        assert_eq!(r[0].destination, Ipv4Addr::new(192, 168, 0, 0));
        assert_eq!(r[0].mask, Ipv4Addr::new(255, 255, 255, 0));
    }

    #[test]
    fn our_status() {
        let s = Status::read(None).unwrap();
        // SAFETY: getuid has no preconditions.
        assert_eq!(s.uid, unsafe { libc::getuid() });
        assert!(s.cap_bounding.is_some());
        assert!(start_time(std::process::id() as i32).is_some());
        assert!(is_same_process(
            std::process::id() as i32,
            start_time(std::process::id() as i32).unwrap()
        ));
    }
}
