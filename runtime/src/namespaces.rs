//! Linux namespaces: which to create, which to join, and the id maps of a new
//! user namespace.

use crate::sys;
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("open {1} namespace {0:?}: {2}")]
    Open(PathBuf, &'static str, io::Error),
    #[error("join {1} namespace {0:?}: {2}")]
    Join(PathBuf, &'static str, io::Error),
    #[error("write {0}: {1}")]
    Map(String, io::Error),
    #[error("unshare {0}: {1}")]
    Unshare(&'static str, io::Error),
}

pub fn flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The name of the namespace's file under /proc/PID/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn from_proc_name(s: &str) -> Option<LinuxNamespaceType> {
    Some(match s {
        "mnt" => LinuxNamespaceType::Mount,
        "cgroup" => LinuxNamespaceType::Cgroup,
        "uts" => LinuxNamespaceType::Uts,
        "ipc" => LinuxNamespaceType::Ipc,
        "user" => LinuxNamespaceType::User,
        "pid" => LinuxNamespaceType::Pid,
        "net" => LinuxNamespaceType::Network,
        "time" => LinuxNamespaceType::Time,
        _ => return None,
    })
}

/// The order in which namespaces are joined: user first, so that the rest are
/// joined with its privileges; mount last, since it hides host paths.
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// An opened namespace file, ready for setns.
pub struct NsFd {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

pub fn open(typ: LinuxNamespaceType, path: &Path) -> Result<NsFd, NsError> {
    let f = fs::File::open(path).map_err(|e| NsError::Open(path.into(), proc_name(typ), e))?;
    Ok(NsFd {
        typ,
        path: path.into(),
        fd: f.into(),
    })
}

pub fn join(ns: &NsFd) -> Result<(), NsError> {
    setns(&ns.fd, CloneFlags::from_bits_retain(flag(ns.typ)))
        .map_err(|e| NsError::Join(ns.path.clone(), proc_name(ns.typ), e.into()))
}

pub fn unshare(flags: i32, what: &'static str) -> Result<(), NsError> {
    nix::sched::unshare(CloneFlags::from_bits_retain(flags))
        .map_err(|e| NsError::Unshare(what, e.into()))
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes uid_map and gid_map of `pid`'s new user namespace; the parent does
/// this because the child, unmapped, has no right to.
pub fn write_id_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<(), NsError> {
    for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let p = format!("/proc/{pid}/{file}");
        fs::write(&p, map_text(maps)).map_err(|e| NsError::Map(p, e))?;
    }
    Ok(())
}

/// Maps a uid of the container to the host, through `maps` (identity if none).
pub fn host_id(maps: Option<&Vec<LinuxIdMapping>>, id: u32) -> u32 {
    match maps {
        Some(maps) if !maps.is_empty() => maps
            .iter()
            .find(|m| id >= m.container_id() && id < m.container_id() + m.size())
            .map(|m| m.host_id() + (id - m.container_id()))
            .unwrap_or(65534),
        _ => id,
    }
}

/// fork() with `flags` (new namespaces), born straight into the cgroup2
/// directory `cgroup` when given: moving a process there afterwards costs an
/// RCU grace period. Returns (pid, whether it was born in that cgroup); 0 in
/// the child, as fork does.
pub fn clone_into(flags: i32, cgroup: Option<&OwnedFd>) -> io::Result<(i32, bool)> {
    if let Some(cg) = cgroup {
        match sys::clone3_into_cgroup(flags, cg.as_fd()) {
            Ok(pid) => return Ok((pid, true)),
            // Older kernels (no clone3, no CLONE_INTO_CGROUP): plain clone below.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS) | Some(libc::E2BIG) | Some(libc::EINVAL)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((sys::clone(flags)?, false))
}
