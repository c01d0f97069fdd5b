//! The process every spec test runs inside its container.
//!
//! It takes a list of actions as arguments and runs them in order; each
//! action that observes something prints one JSON object on its own line to
//! stdout, so the suite can read the container's view of itself without
//! parsing any shell output:
//!
//! ```text
//! report            {"report": {uid, caps, rlimits, namespaces, mountinfo, ...}}
//! write=PATH        {"write": {"path", "ok", "errno"}}   create/append a file
//! read=PATH         {"read":  {"path", "ok", "errno", "len", "data"}}
//! sched             {"sched": {policy, flags, nice, priority, runtime, deadline,
//!                   period, ioprio, mempolicy_mode, mempolicy_nodes, machine,
//!                   monotonic, boottime, cpus}}: how we are scheduled and placed
//! ifaddrs           {"ifaddrs": [{name, flags, addr}]}: every interface (addr
//!                   null) and every IPv4/IPv6 address, from getifaddrs
//! mkdir=PATH        {"mkdir": {"path", "ok", "errno"}}
//! open=PATH         {"open":  {"path", "ok", "errno"}}   open O_RDWR (device access)
//! stat=PATH         {"stat":  {"path", "ok", "errno", "kind", "major", "minor", "mode", "uid", "gid"}}
//! readlink=PATH     {"readlink": {"path", "ok", "errno", "target"}}
//! ls=PATH           {"ls":    {"path", "ok", "errno", "entries"}}
//! statfs=PATH       {"statfs": {"path", "ok", "errno", "bytes"}}
//! fork=N            {"fork":  {"wanted", "ok", "errno"}}  children that sleep until we exit
//! seccomp           {"seccomp": {"getcwd_errno", "getppid_errno", "personality_errno"}}
//! touch=PATH        create an empty file (a marker the host can see)
//! wait=PATH         poll until PATH exists (at most 60 s)
//! sigwait=PATH      block all signals, create PATH (ready marker), wait for
//!                   one to arrive, print {"signal": N}
//! sleep             sleep until killed
//! exit=N            exit with status N
//! ```
//!
//! It must stay free of anything the busybox rootfs lacks: no /etc lookups,
//! no dynamic linking.

use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::{Duration, Instant};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn io_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn emit(key: &str, v: Value) {
    let mut m = Map::new();
    m.insert(key.to_string(), v);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", Value::Object(m));
    let _ = out.flush();
}

fn read_string(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

// glibc types the resource as an enum, musl as a plain int.
#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

const RLIMITS: &[(&str, RlimitResource)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
];

fn report() -> Value {
    let mut r = Map::new();
    r.insert("argv".into(), json!(std::env::args().collect::<Vec<_>>()));
    r.insert("pid".into(), json!(std::process::id()));
    r.insert("ppid".into(), json!(unsafe { libc::getppid() }));
    let (mut ru, mut eu, mut su) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    unsafe {
        libc::getresuid(&mut ru, &mut eu, &mut su);
        libc::getresgid(&mut rg, &mut eg, &mut sg);
    }
    r.insert("uids".into(), json!([ru, eu, su]));
    r.insert("gids".into(), json!([rg, eg, sg]));
    let mut groups = vec![0 as libc::gid_t; 256];
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    r.insert("groups".into(), json!(groups));
    r.insert(
        "cwd".into(),
        json!(std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default()),
    );
    r.insert(
        "env".into(),
        json!(std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>()),
    );
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut uts) };
    let cstr = |f: &[libc::c_char]| {
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    r.insert("hostname".into(), json!(cstr(&uts.nodename)));
    r.insert("domainname".into(), json!(cstr(&uts.domainname)));

    let mut status = Map::new();
    if let Some(s) = read_string("/proc/self/status") {
        for line in s.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if matches!(
                    k,
                    "Umask"
                        | "CapInh"
                        | "CapPrm"
                        | "CapEff"
                        | "CapBnd"
                        | "CapAmb"
                        | "NoNewPrivs"
                        | "Seccomp"
                ) {
                    status.insert(k.into(), json!(v.trim()));
                }
            }
        }
    }
    r.insert("status".into(), Value::Object(status));

    let mut rl = Map::new();
    for (name, res) in RLIMITS {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(*res, &mut lim) } == 0 {
            rl.insert((*name).into(), json!([lim.rlim_cur, lim.rlim_max]));
        }
    }
    r.insert("rlimits".into(), Value::Object(rl));
    r.insert(
        "oom_score_adj".into(),
        json!(read_string("/proc/self/oom_score_adj").map(|s| s.trim().to_string())),
    );
    let mut ns = Map::new();
    for t in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"] {
        if let Ok(l) = fs::read_link(format!("/proc/self/ns/{t}")) {
            ns.insert(t.into(), json!(l.display().to_string()));
        }
    }
    r.insert("namespaces".into(), Value::Object(ns));
    let lines = |p: &str| {
        json!(read_string(p)
            .unwrap_or_default()
            .lines()
            .collect::<Vec<_>>())
    };
    r.insert("mountinfo".into(), lines("/proc/self/mountinfo"));
    r.insert("cgroup".into(), lines("/proc/self/cgroup"));
    r.insert("uid_map".into(), lines("/proc/self/uid_map"));
    r.insert("gid_map".into(), lines("/proc/self/gid_map"));

    // read_dir holds its own fd open while listing: drop the one that no
    // longer exists once the listing is over.
    let fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect::<Vec<i32>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .collect();
    r.insert("fds".into(), json!(fds));
    let tty: Vec<bool> = (0..3).map(|fd| unsafe { libc::isatty(fd) } == 1).collect();
    r.insert("isatty".into(), json!(tty));
    r.insert(
        "ttyname0".into(),
        json!(fs::read_link("/proc/self/fd/0")
            .map(|p| p.display().to_string())
            .ok()),
    );
    Value::Object(r)
}

fn ifaddrs() -> Value {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free below and only read here.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return json!([]);
    }
    let mut v = vec![];
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs made; its strings and
        // sockaddrs live until freeifaddrs.
        let ifa = unsafe { &*cur };
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let addr = if ifa.ifa_addr.is_null() {
            None
        } else {
            match unsafe { (*ifa.ifa_addr).sa_family } as i32 {
                libc::AF_INET => {
                    let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    Some(std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)).to_string())
                }
                libc::AF_INET6 => {
                    let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    Some(std::net::Ipv6Addr::from(sa.sin6_addr.s6_addr).to_string())
                }
                _ => None,
            }
        };
        v.push(json!({"name": name, "flags": ifa.ifa_flags, "addr": addr}));
        cur = ifa.ifa_next;
    }
    // SAFETY: the list getifaddrs gave us, freed once.
    unsafe { libc::freeifaddrs(head) };
    json!(v)
}

/// sched_getattr, ioprio_get, get_mempolicy, uname's machine, the clocks
/// and the CPUs we may run on.
fn sched() -> Value {
    #[repr(C)]
    #[derive(Default)]
    struct Attr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }
    let mut a = Attr::default();
    let size = std::mem::size_of::<Attr>() as u32;
    // SAFETY: the kernel writes at most `size` bytes into a live struct.
    let r = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut a as *mut Attr, size, 0) };
    // SAFETY: plain syscall with integer arguments (IOPRIO_WHO_PROCESS, self).
    let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    let mut mode: i32 = -1;
    let mut nodes = [0u64; 16];
    // SAFETY: the kernel writes the mode and up to 1024 bits of the mask.
    let m = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut i32,
            nodes.as_mut_ptr(),
            nodes.len() * 64 + 1,
            0usize,
            0usize,
        )
    };
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut uts) };
    let machine = unsafe { std::ffi::CStr::from_ptr(uts.machine.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let clock = |id| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec
    };
    let cpus = read_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Cpus_allowed_list:")
                .map(|v| v.trim().to_string())
        });
    json!({
        "ok": r == 0,
        "policy": a.policy, "flags": a.flags, "nice": a.nice, "priority": a.priority,
        "runtime": a.runtime, "deadline": a.deadline, "period": a.period,
        "ioprio": ioprio,
        "mempolicy_mode": if m == 0 { mode } else { -1 },
        "mempolicy_nodes": nodes[0],
        "machine": machine,
        "monotonic": clock(libc::CLOCK_MONOTONIC),
        "boottime": clock(libc::CLOCK_BOOTTIME),
        "cpus": cpus,
    })
}

fn file_kind(ft: &fs::FileType) -> &'static str {
    if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "file"
    }
}

fn action(a: &str) {
    let (verb, arg) = a.split_once('=').unwrap_or((a, ""));
    match verb {
        "report" => emit("report", report()),
        "write" => {
            let res = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(arg)
                .and_then(|mut f| f.write_all(b"berth\n"));
            emit(
                "write",
                json!({"path": arg, "ok": res.is_ok(), "errno": res.err().map(|e| io_errno(&e))}),
            );
        }
        "read" => {
            let res = fs::read(arg);
            emit(
                "read",
                json!({
                    "path": arg, "ok": res.is_ok(),
                    "errno": res.as_ref().err().map(io_errno),
                    "len": res.as_ref().map(|d| d.len()).unwrap_or(0),
                    "data": res.as_ref().map(|d| String::from_utf8_lossy(&d[..d.len().min(4096)]).into_owned()).unwrap_or_default(),
                }),
            );
        }
        "sched" => emit("sched", sched()),
        "ifaddrs" => emit("ifaddrs", ifaddrs()),
        "mkdir" => {
            let res = fs::create_dir(arg);
            emit(
                "mkdir",
                json!({"path": arg, "ok": res.is_ok(), "errno": res.err().map(|e| io_errno(&e))}),
            );
        }
        "open" => {
            let res = fs::OpenOptions::new().read(true).write(true).open(arg);
            emit(
                "open",
                json!({"path": arg, "ok": res.is_ok(), "errno": res.err().map(|e| io_errno(&e))}),
            );
        }
        "stat" => match fs::symlink_metadata(arg) {
            Ok(m) => {
                let rdev = m.rdev();
                emit(
                    "stat",
                    json!({
                        "path": arg, "ok": true, "kind": file_kind(&m.file_type()),
                        "major": libc::major(rdev), "minor": libc::minor(rdev),
                        "mode": m.mode() & 0o7777, "uid": m.uid(), "gid": m.gid(),
                    }),
                )
            }
            Err(e) => emit(
                "stat",
                json!({"path": arg, "ok": false, "errno": io_errno(&e)}),
            ),
        },
        "readlink" => {
            let res = fs::read_link(arg);
            emit(
                "readlink",
                json!({"path": arg, "ok": res.is_ok(), "errno": res.as_ref().err().map(io_errno),
                       "target": res.as_ref().map(|p| p.display().to_string()).ok()}),
            );
        }
        "ls" => {
            let res = fs::read_dir(arg).map(|d| {
                let mut v: Vec<String> = d
                    .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect();
                v.sort();
                v
            });
            emit(
                "ls",
                json!({"path": arg, "ok": res.is_ok(), "errno": res.as_ref().err().map(io_errno),
                       "entries": res.as_ref().ok()}),
            );
        }
        "statfs" => {
            let c = CString::new(arg).unwrap();
            let mut s: libc::statfs = unsafe { std::mem::zeroed() };
            let rc = unsafe { libc::statfs(c.as_ptr(), &mut s) };
            let e = errno();
            emit(
                "statfs",
                json!({"path": arg, "ok": rc == 0, "errno": if rc == 0 { None } else { Some(e) },
                       "bytes": (s.f_blocks as u64) * (s.f_bsize as u64)}),
            );
        }
        "fork" => {
            let wanted: u32 = arg.parse().unwrap_or(1);
            let mut ok = 0;
            let mut last = None;
            for _ in 0..wanted {
                match unsafe { libc::fork() } {
                    0 => {
                        // The children only have to exist; they die with
                        // the container (SIGKILL from the pid namespace).
                        loop {
                            unsafe { libc::pause() };
                        }
                    }
                    -1 => last = Some(errno()),
                    _ => ok += 1,
                }
            }
            emit("fork", json!({"wanted": wanted, "ok": ok, "errno": last}));
        }
        "seccomp" => {
            let call = |f: &dyn Fn() -> libc::c_long| {
                let rc = f();
                if rc == -1 {
                    errno()
                } else {
                    0
                }
            };
            let mut buf = [0u8; 256];
            let (ptr, len) = (buf.as_mut_ptr(), buf.len());
            let getcwd = call(&|| unsafe { libc::syscall(libc::SYS_getcwd, ptr, len) });
            let getppid = call(&|| unsafe { libc::syscall(libc::SYS_getppid) });
            // 0xffffffff queries the persona without changing it.
            let personality =
                call(&|| unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) });
            emit(
                "seccomp",
                json!({"getcwd_errno": getcwd, "getppid_errno": getppid, "personality_errno": personality}),
            );
        }
        "touch" => {
            let _ = fs::File::create(arg);
        }
        "wait" => {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !std::path::Path::new(arg).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        "sigwait" => {
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            unsafe {
                libc::sigfillset(&mut set);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            // Only now: a signal sent after the marker is sure to be queued,
            // not dropped (pid 1 ignores signals it has no handler for).
            if !arg.is_empty() {
                let _ = fs::File::create(arg);
            }
            let mut sig: libc::c_int = 0;
            unsafe { libc::sigwait(&set, &mut sig) };
            emit("signal", json!(sig));
        }
        "sleep" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "exit" => std::process::exit(arg.parse().unwrap_or(0)),
        other => {
            eprintln!("berth-testhelper: unknown action {other:?}");
            std::process::exit(120);
        }
    }
}

fn main() {
    for a in std::env::args().skip(1) {
        action(&a);
    }
}
