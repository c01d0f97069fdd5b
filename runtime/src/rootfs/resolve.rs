//! Paths inside the rootfs, resolved with openat2(RESOLVE_IN_ROOT) and
//! created on the way when missing.

use super::*;
use nix::errno::Errno;
use nix::fcntl::readlinkat;
use nix::sys::stat::{mkdirat, Mode as StatMode};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// openat2 with `path` resolved as if `root` were "/" (the resolver the
/// manager uses too: the fsroot crate).
pub(super) fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    fsroot::open_in_root(root, path, flags)
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolves `path` inside the rootfs, creating what is missing (directories
/// on the way, and a directory or empty file at the end), and returns an
/// O_PATH fd of the result. A dangling symlink on the way is followed the
/// way the kernel would, but inside the root: its target is created there.
pub fn resolve_create(root: &OwnedFd, path: &Path, kind: Kind) -> Result<OwnedFd> {
    let mut want: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if want.as_os_str().is_empty() {
        return open_in_root(root.as_fd(), Path::new("/"), libc::O_PATH).map_err(os("open", path));
    }
    // Bounded like the kernel's 40 symlinks per lookup.
    'restart: for _ in 0..40 {
        if let Ok(fd) = open_in_root(root.as_fd(), &want, libc::O_PATH) {
            return Ok(fd);
        }
        let comps: Vec<PathBuf> = want
            .components()
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        let mut cur = PathBuf::new();
        let mut parent = open_in_root(
            root.as_fd(),
            Path::new("/"),
            libc::O_PATH | libc::O_DIRECTORY,
        )
        .map_err(os("open", "/"))?;
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let last = i + 1 == comps.len();
            match open_in_root(root.as_fd(), &cur, libc::O_PATH) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(os("resolve", path)(e)),
            }
            let name = c.as_os_str();
            if let Some(target) = readlinkat(Some(parent.as_raw_fd()), name)
                .ok()
                .filter(|t| !t.is_empty())
            {
                // Dangling symlink: continue the lookup at its target, within the root.
                let target = PathBuf::from(target);
                let base = if target.is_absolute() {
                    PathBuf::new()
                } else {
                    cur.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                let mut next = normalize(&base.join(target));
                for rest in &comps[i + 1..] {
                    next.push(rest);
                }
                want = next;
                continue 'restart;
            }
            if last && kind == Kind::File {
                fsroot::openat(
                    parent.as_fd(),
                    name,
                    libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                    0o644,
                )
                .map_err(os("create", path))?;
            } else {
                match mkdirat(
                    Some(parent.as_raw_fd()),
                    name,
                    StatMode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(os("mkdir", path)(e.into())),
                }
            }
            parent = open_in_root(root.as_fd(), &cur, libc::O_PATH).map_err(os("resolve", path))?;
        }
        return Ok(parent);
    }
    Err(os("resolve", path)(io::Error::from_raw_os_error(
        libc::ELOOP,
    )))
}

/// Lexically resolves `.` and `..` without ever climbing above the start,
/// as a lookup inside a root does.
pub(super) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
