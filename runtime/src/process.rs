//! The container process's own attributes: rlimits, user and groups,
//! capabilities, no_new_privs, and finally execve.

use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};
use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}: {1}")]
    Os(String, io::Error),
    // runc's words, to the letter: engines make exit codes 127 and 126 out
    // of the lower-case errno texts and "executable file not found".
    #[error("exec: {0:?}: stat {0}: no such file or directory")]
    NotFound(String),
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    /// execve's ENOENT for a file that is there: its interpreter is not.
    #[error("exec: {0:?}: no such file or directory")]
    Enoent(String),
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> ProcessError {
    let what = what.into();
    move |e| ProcessError::Os(what, e)
}

type Result<T> = std::result::Result<T, ProcessError>;

fn check(r: libc::c_int, what: impl Into<String>) -> Result<()> {
    if r < 0 {
        Err(os(what)(io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

/// Finds the program to run the way execvp does, but with the container's
/// PATH (from `env`), in the container's root. Done before `start` so that a
/// missing binary fails `create`, with the text engines look for.
pub fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let executable =
        |p: &Path| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if arg0.contains('/') {
        return match executable(Path::new(arg0)) {
            Ok(true) => Ok(arg0.into()),
            Ok(false) => Err(ProcessError::NotExecutable(arg0.into())),
            Err(_) => Err(ProcessError::NotFound(arg0.into())),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(arg0);
        if let Ok(true) = executable(&p) {
            return Ok(p);
        }
    }
    Err(ProcessError::NotInPath(arg0.into()))
}

/// The environment with HOME added if the config has none: runc and crun
/// set it to the home of the process's uid in the container's /etc/passwd,
/// or "/" without an entry, and engines count on it (docker sets no HOME).
/// Call it inside the container's root, before the user switch.
pub fn with_home(mut env: Vec<String>, uid: u32) -> Vec<String> {
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return env;
    }
    let home = read_passwd()
        .and_then(|p| home_in_passwd(&p, uid))
        .unwrap_or_else(|| "/".into());
    env.push(format!("HOME={home}"));
    env
}

/// The container's /etc/passwd, if it is a regular file: the image owns it,
/// and a fifo there must not hang the init.
fn read_passwd() -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open("/etc/passwd")
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

fn home_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() == 7 && f[2].parse() == Ok(uid) && !f[5].is_empty()).then(|| f[5].to_string())
    })
}

// glibc types the resource as an enum, musl as a plain int.
#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

pub fn rlimit_resource(t: PosixRlimitType) -> RlimitResource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or_default() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            let e = io::Error::last_os_error();
            let mut cur: libc::rlimit = unsafe { std::mem::zeroed() };
            unsafe { libc::getrlimit(rlimit_resource(r.typ()), &mut cur) };
            return Err(ProcessError::Os(
                format!(
                    "setrlimit {} to {}/{} (the host's hard limit is {})",
                    crate::config::rlimit_name(r.typ()),
                    r.soft(),
                    r.hard(),
                    cur.rlim_max
                ),
                e,
            ));
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(p: &Process) -> Result<()> {
    if let Some(v) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", v.to_string())
            .map_err(os(format!("set oom_score_adj to {v}")))?;
    }
    Ok(())
}

/// Switches to the process's uid, gid and supplementary groups, keeping the
/// permitted capabilities across the uid change so `set_capabilities` can
/// then choose exactly which stay.
pub fn set_user(p: &Process) -> Result<()> {
    let u = p.user();
    let groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) },
        "keep capabilities",
    )?;
    // setgroups is denied in a user namespace whose setgroups file says "deny".
    let r = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
    if r != 0
        && !(groups.is_empty() && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
    {
        // The count, not the list: it may hold 65536 gids.
        return Err(
            os(format!("setgroups of {} additional gids", groups.len()))(io::Error::last_os_error()),
        );
    }
    check(
        unsafe { libc::setresgid(u.gid(), u.gid(), u.gid()) },
        format!("setgid {}", u.gid()),
    )?;
    check(
        unsafe { libc::setresuid(u.uid(), u.uid(), u.uid()) },
        format!("setuid {}", u.uid()),
    )?;
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) },
        "keep capabilities",
    )?;
    if let Some(m) = u.umask() {
        unsafe { libc::umask(m) };
    }
    Ok(())
}

/// Bit mask of a capability set; names the kernel does not know are skipped
/// with a warning, as config.md asks ("MUST be logged as a warning").
fn mask(set: &Option<Capabilities>, available: u64) -> u64 {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        match caps::Capability::from_str(&name) {
            Ok(cap) if available & (1u64 << cap.index()) != 0 => m |= 1u64 << cap.index(),
            Ok(_) => log::warn!("capability {name} cannot be granted on this host (not in the bounding set): skipped"),
            Err(_) => log::warn!("capability {name} is unknown: skipped"),
        }
    }
    m
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const CAP_V3: u32 = 0x2008_0522;

/// This process's current bounding set as a mask.
pub fn bounding_set() -> u64 {
    let last: u64 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    (0..=last)
        .filter(
            |i| unsafe { libc::prctl(libc::PR_CAPBSET_READ, *i as libc::c_ulong, 0, 0, 0) } == 1,
        )
        .fold(0, |m, i| m | (1u64 << i))
}

/// Drops what is not in `bounding`. Must run before `set_user`, while we
/// still hold CAP_SETPCAP.
pub fn set_bounding(p: &Process) -> Result<()> {
    let Some(c) = p.capabilities() else {
        return Ok(());
    };
    let avail = bounding_set();
    let bounding = mask(c.bounding(), avail);
    for i in 0..64u64 {
        if avail & (1 << i) != 0 && bounding & (1 << i) == 0 {
            check(
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, i as libc::c_ulong, 0, 0, 0) },
                format!("drop capability {i} from the bounding set"),
            )?;
        }
    }
    Ok(())
}

fn permitted_set() -> Result<u64> {
    let hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &hdr as *const CapHeader,
            data.as_mut_ptr(),
        )
    } != 0
    {
        return Err(os("get capabilities")(io::Error::last_os_error()));
    }
    Ok(u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32))
}

/// Sets the effective, permitted, inheritable and ambient sets. Must run
/// after `set_user`.
pub fn set_capabilities(p: &Process) -> Result<()> {
    let Some(c) = p.capabilities() else {
        return Ok(());
    };
    // What we can grant is what we hold: host root's permitted set, which
    // set_user kept across the uid change.
    let avail = permitted_set()?;
    let (e, pm, i) = (
        mask(c.effective(), avail),
        mask(c.permitted(), avail),
        mask(c.inheritable(), avail),
    );
    let hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: e as u32,
            permitted: pm as u32,
            inheritable: i as u32,
        },
        CapData {
            effective: (e >> 32) as u32,
            permitted: (pm >> 32) as u32,
            inheritable: (i >> 32) as u32,
        },
    ];
    if unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) } != 0 {
        return Err(os("set capabilities")(io::Error::last_os_error()));
    }
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let amb = mask(c.ambient(), avail);
    for b in 0..64u64 {
        if amb & (1 << b) != 0 {
            // The kernel only raises an ambient cap that is permitted and inheritable.
            if pm & i & (1 << b) == 0 {
                log::debug!(
                    "ambient capability {b} is not both permitted and inheritable: skipped"
                );
                continue;
            }
            check(
                unsafe {
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE,
                        b as libc::c_ulong,
                        0,
                        0,
                    )
                },
                format!("raise ambient capability {b}"),
            )?;
        }
    }
    Ok(())
}

/// process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, self, class<<13 | level).
pub fn set_io_priority(p: &Process) -> Result<()> {
    let Some(io) = p.io_priority() else {
        return Ok(());
    };
    use oci_spec::runtime::IOPriorityClass::*;
    let class = match io.class() {
        IoprioClassRt => 1,
        IoprioClassBe => 2,
        IoprioClassIdle => 3,
    };
    let value = (class << 13) | (io.priority() as i32 & 0x1fff);
    check(
        unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) as i32 },
        format!("set io priority {value:#x}"),
    )
}

pub fn set_no_new_privs(p: &Process) -> Result<()> {
    if p.no_new_privileges() == Some(true) {
        check(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            "set no_new_privs",
        )?;
    }
    Ok(())
}

/// Gives the container's program the signal state of a fresh process. What
/// execve keeps would otherwise leak in: SIGPIPE ignored (every Rust program
/// starts so, the init included) and the caller's blocked signals (a shim
/// that reads them from a signalfd blocks TERM, HUP, USR1... and a trapped
/// `kill -s TERM` would never arrive).
pub fn reset_signals() -> Result<()> {
    // The kernel's struct sigaction for rt_sigaction(2).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for s in 1..=64 {
        if s != libc::SIGKILL && s != libc::SIGSTOP {
            // The raw call: libc refuses the signals it reserves for itself
            // (32-34 on musl), yet a caller may have left them ignored.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    s,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8,
                )
            };
        }
    }
    let mut none: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigemptyset(&mut none) };
    check(
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) },
        "unblock signals",
    )
}

/// Marks every fd from `first` up close-on-exec, so the container inherits
/// only stdio and the fds it was asked to get (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    check(
        unsafe {
            libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) as i32
        },
        "close fds",
    )
}

fn cstrings(what: &str, v: &[String]) -> io::Result<Vec<CString>> {
    v.iter()
        .map(|s| crate::utils::cstring(what, s.as_str()))
        .collect()
}

/// Replaces this process with the container's program. Only returns on error.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> ProcessError {
    let cs = (|| {
        Ok::<_, io::Error>((
            crate::utils::cstring("process path", path.as_os_str().as_encoded_bytes())?,
            cstrings("process.args", args)?,
            cstrings("process.env", env)?,
        ))
    })();
    let (p, a, e) = match cs {
        Ok(v) => v,
        Err(err) => return ProcessError::Os(format!("exec {}", path.display()), err),
    };
    let mut ap: Vec<*const libc::c_char> = a.iter().map(|c| c.as_ptr()).collect();
    ap.push(std::ptr::null());
    let mut ep: Vec<*const libc::c_char> = e.iter().map(|c| c.as_ptr()).collect();
    ep.push(std::ptr::null());
    unsafe { libc::execve(p.as_ptr(), ap.as_ptr(), ep.as_ptr()) };
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOENT) => ProcessError::Enoent(path.display().to_string()),
        Some(libc::EACCES) => ProcessError::NotExecutable(path.display().to_string()),
        _ => ProcessError::Os(format!("exec {}", path.display()), err),
    }
}

#[cfg(test)]
mod tests {
    use super::home_in_passwd;

    #[test]
    fn home_is_the_sixth_field_of_the_uids_line() {
        let p = "root:x:0:0:root:/root:/bin/sh\nbad line\nu:x:1000:1000::/home/u:/bin/sh\nv:x:1001:1001:::/bin/sh\n";
        assert_eq!(home_in_passwd(p, 0).as_deref(), Some("/root"));
        assert_eq!(home_in_passwd(p, 1000).as_deref(), Some("/home/u"));
        assert_eq!(home_in_passwd(p, 1001), None, "an empty home");
        assert_eq!(home_in_passwd(p, 7), None);
    }
}
