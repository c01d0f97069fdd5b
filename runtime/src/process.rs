//! The container process's own attributes: rlimits, user and groups,
//! capabilities, no_new_privs, and finally execve.

use caps::{CapSet, CapsHashSet};
use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::{umask, Mode as StatMode};
use nix::unistd::{execve, setgroups, setresgid, setresuid, Gid, Uid};
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

fn nix_check(r: nix::Result<()>, what: impl Into<String>) -> Result<()> {
    r.map_err(|e| os(what)(e.into()))
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

pub fn rlimit_resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::RLIMIT_CPU,
        RlimitFsize => Resource::RLIMIT_FSIZE,
        RlimitData => Resource::RLIMIT_DATA,
        RlimitStack => Resource::RLIMIT_STACK,
        RlimitCore => Resource::RLIMIT_CORE,
        RlimitRss => Resource::RLIMIT_RSS,
        RlimitNproc => Resource::RLIMIT_NPROC,
        RlimitNofile => Resource::RLIMIT_NOFILE,
        RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        RlimitAs => Resource::RLIMIT_AS,
        RlimitLocks => Resource::RLIMIT_LOCKS,
        RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitNice => Resource::RLIMIT_NICE,
        RlimitRtprio => Resource::RLIMIT_RTPRIO,
        RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or_default() {
        if let Err(e) = setrlimit(rlimit_resource(r.typ()), r.soft(), r.hard()) {
            let (_, max) = getrlimit(rlimit_resource(r.typ())).unwrap_or_default();
            return Err(ProcessError::Os(
                format!(
                    "setrlimit {} to {}/{} (the host's hard limit is {})",
                    crate::config::rlimit_name(r.typ()),
                    r.soft(),
                    r.hard(),
                    max
                ),
                e.into(),
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
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix_check(prctl::set_keepcaps(true), "keep capabilities")?;
    // setgroups is denied in a user namespace whose setgroups file says "deny".
    match setgroups(&groups) {
        Err(Errno::EPERM) if groups.is_empty() => {}
        // The count, not the list: it may hold 65536 gids.
        r => nix_check(r, format!("setgroups of {} additional gids", groups.len()))?,
    }
    let (gid, uid) = (Gid::from_raw(u.gid()), Uid::from_raw(u.uid()));
    nix_check(setresgid(gid, gid, gid), format!("setgid {}", u.gid()))?;
    nix_check(setresuid(uid, uid, uid), format!("setuid {}", u.uid()))?;
    nix_check(prctl::set_keepcaps(false), "keep capabilities")?;
    if let Some(m) = u.umask() {
        umask(StatMode::from_bits_truncate(m));
    }
    Ok(())
}

/// The capabilities of a config's set that `available` holds; names the
/// kernel does not know, or this host cannot grant, are skipped with a
/// warning, as config.md asks ("MUST be logged as a warning").
fn capset_of(set: &Option<Capabilities>, available: &CapsHashSet) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        match caps::Capability::from_str(&name) {
            Ok(cap) if available.contains(&cap) => {
                out.insert(cap);
            }
            Ok(_) => log::warn!("capability {name} cannot be granted on this host (not in the bounding set): skipped"),
            Err(_) => log::warn!("capability {name} is unknown: skipped"),
        }
    }
    out
}

fn caps_err(what: impl Into<String>) -> impl FnOnce(caps::errors::CapsError) -> ProcessError {
    let what = what.into();
    move |e| ProcessError::Os(what, io::Error::other(e.to_string()))
}

/// This process's current bounding set.
pub fn bounding_set() -> Result<CapsHashSet> {
    caps::read(None, CapSet::Bounding).map_err(caps_err("read the bounding set"))
}

/// Drops what is not in `bounding`. Must run before `set_user`, while we
/// still hold CAP_SETPCAP.
pub fn set_bounding(p: &Process) -> Result<()> {
    let Some(c) = p.capabilities() else {
        return Ok(());
    };
    let avail = bounding_set()?;
    let bounding = capset_of(c.bounding(), &avail);
    for cap in avail.difference(&bounding) {
        caps::drop(None, CapSet::Bounding, *cap)
            .map_err(caps_err(format!("drop {cap} from the bounding set")))?;
    }
    Ok(())
}

/// Sets the effective, permitted, inheritable and ambient sets. Must run
/// after `set_user`.
pub fn set_capabilities(p: &Process) -> Result<()> {
    let Some(c) = p.capabilities() else {
        return Ok(());
    };
    // What we can grant is what we hold: host root's permitted set, which
    // set_user kept across the uid change.
    let avail = caps::read(None, CapSet::Permitted).map_err(caps_err("get capabilities"))?;
    let (e, pm, i) = (
        capset_of(c.effective(), &avail),
        capset_of(c.permitted(), &avail),
        capset_of(c.inheritable(), &avail),
    );
    // Effective first (within the permitted set we still hold), permitted
    // last: each step keeps effective within permitted.
    for (set, caps) in [
        (CapSet::Effective, &e),
        (CapSet::Inheritable, &i),
        (CapSet::Permitted, &pm),
    ] {
        caps::set(None, set, caps).map_err(caps_err(format!("set {set:?} capabilities")))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_err("clear ambient capabilities"))?;
    for cap in capset_of(c.ambient(), &avail) {
        // The kernel only raises an ambient cap that is permitted and inheritable.
        if !(pm.contains(&cap) && i.contains(&cap)) {
            log::debug!("ambient capability {cap} is not both permitted and inheritable: skipped");
            continue;
        }
        caps::raise(None, CapSet::Ambient, cap)
            .map_err(caps_err(format!("raise ambient capability {cap}")))?;
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
    crate::sys::ioprio_set_self(value).map_err(os(format!("set io priority {value:#x}")))
}

pub fn set_no_new_privs(p: &Process) -> Result<()> {
    if p.no_new_privileges() == Some(true) {
        nix_check(prctl::set_no_new_privs(), "set no_new_privs")?;
    }
    Ok(())
}

/// Gives the container's program the signal state of a fresh process. What
/// execve keeps would otherwise leak in: SIGPIPE ignored (every Rust program
/// starts so, the init included) and the caller's blocked signals (a shim
/// that reads them from a signalfd blocks TERM, HUP, USR1... and a trapped
/// `kill -s TERM` would never arrive).
pub fn reset_signals() -> Result<()> {
    for s in 1..=64 {
        if s != libc::SIGKILL && s != libc::SIGSTOP {
            let _ = crate::sys::default_signal_action(s);
        }
    }
    nix_check(
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None),
        "unblock signals",
    )
}

/// Marks every fd from `first` up close-on-exec, so the container inherits
/// only stdio and the fds it was asked to get (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> Result<()> {
    crate::sys::cloexec_from(first).map_err(os("close fds"))
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
    let Err(errno) = execve(&p, &a, &e);
    let err = io::Error::from(errno);
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
