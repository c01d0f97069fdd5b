//! Masked and read-only paths, and remounts that keep what a user
//! namespace locks.

use super::*;
use std::fs;
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

pub(super) fn strip_root(p: &Path) -> PathBuf {
    let rel: PathBuf = p
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from("/")
    } else {
        rel
    }
}

/// Remounts the mount at `target` with `flags`, keeping the flags the kernel
/// locks in a user namespace (nosuid, nodev, noexec, atime) if it insists.
pub(super) fn remount(target: &Path, flags: u64, what: &Path) -> Result<()> {
    let flags = flags | libc::MS_REMOUNT | libc::MS_BIND;
    match mount(None, target, None, flags, None) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let st = ck(nix::sys::statvfs::statvfs(target)).map_err(os("statvfs", what))?;
            let locked = st.flags().bits()
                & (libc::ST_NOSUID
                    | libc::ST_NODEV
                    | libc::ST_NOEXEC
                    | libc::ST_NOATIME
                    | libc::ST_NODIRATIME
                    | ST_RELATIME);
            mount(None, target, None, flags | locked, None).map_err(os("remount", what))
        }
        Err(e) => Err(os("remount", what)(e)),
    }
}

pub(super) fn readonly_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let fd = match open_in_root(root.as_fd(), &strip_root(p), libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(os("open readonly path", p)(e)),
    };
    let t = fd_path(&fd);
    mount(
        Some(&t),
        &t,
        Some("bind"),
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(os("bind", p))?;
    let fd = open_in_root(root.as_fd(), &strip_root(p), libc::O_PATH).map_err(os("open", p))?;
    remount(
        &fd_path(&fd),
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        p,
    )
}

pub(super) fn mask_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let fd = match open_in_root(root.as_fd(), &strip_root(p), libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(os("open masked path", p)(e)),
    };
    let t = fd_path(&fd);
    let is_dir = fs::metadata(&t).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        mount(
            Some(Path::new("tmpfs")),
            &t,
            Some("tmpfs"),
            libc::MS_RDONLY,
            Some("size=0k"),
        )
        .map_err(os("mask", p))
    } else {
        mount(
            Some(Path::new("/dev/null")),
            &t,
            Some("bind"),
            libc::MS_BIND,
            None,
        )
        .map_err(os("mask", p))
    }
}
