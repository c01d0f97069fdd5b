//! `cp` between the host and a container's root. A path inside the container
//! is resolved once, by the kernel, as the container would see it (symlinks,
//! absolute or with `..`, never lead out of its root), and the copy then works
//! on the fds that resolution gave: a symlink swapped in while it runs is
//! never followed (CVE-2018-15664).

use super::store::ContainerStore;
use super::{ContainerError, Result};
use fsroot::Entry;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

fn err(e: io::Error, what: String) -> ContainerError {
    ContainerError::Other(format!("{what}: {e}"))
}

/// Where `name` lands under the host path `host`: inside it if it is a
/// directory, else at `host` itself. The host side is the caller's own.
fn host_target(host: &Path, name: Option<&OsStr>) -> io::Result<(OwnedFd, std::ffi::OsString)> {
    if host.is_dir() {
        if let Some(n) = name {
            return Ok((fsroot::open_dir(host)?, n.to_owned()));
        }
    }
    let parent = match host.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let n = host
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{}: not a file name", host.display())))?;
    Ok((fsroot::open_dir(parent)?, n.to_owned()))
}

pub fn from_container(root: &Path, name: &str, path: &str, host: &Path) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let src = Entry::in_root(rootfs.fd.as_fd(), Path::new(path), true)
            .map_err(|e| io::Error::new(e.kind(), format!("{path} in the container: {e}")))?;
        let base = Path::new(path).file_name();
        if base.is_none() && src.meta.is_dir() && host.is_dir() {
            // The container's root itself: its content goes into `host`.
            return fsroot::copy_tree(&src, fsroot::open_dir(host)?.as_fd());
        }
        let (dir, n) = host_target(host, base.or(Some(OsStr::new("rootfs"))))?;
        fsroot::copy_entry(&src, dir.as_fd(), &n)
    })
    .map_err(|e| match e {
        ContainerError::Io { source, .. } => err(source, format!("cannot copy {name}:{path}")),
        e => e,
    })
}

pub fn to_container(root: &Path, host: &Path, name: &str, path: &str) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let src = fsroot::open_path(host, libc::O_PATH | libc::O_NOFOLLOW)
        .and_then(Entry::of)
        .map_err(|e| err(e, format!("cannot read {}", host.display())))?;
    let host_name = host.file_name().ok_or_else(|| {
        err(
            io::Error::other("not a file name"),
            host.display().to_string(),
        )
    })?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let r = rootfs.fd.as_fd();
        let p = Path::new(path);
        // As docker: a path ending in "/" must be a directory that exists.
        let must_be_dir = path.ends_with('/') || path.ends_with("/.");
        match Entry::in_root(r, p, true) {
            Ok(t) if t.meta.is_dir() => fsroot::copy_entry(&src, t.fd.as_fd(), host_name),
            Ok(_) if must_be_dir => Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            Err(e) if must_be_dir => Err(e),
            Ok(_) => into_parent(r, p, &src),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => into_parent(r, p, &src),
            Err(e) => Err(e),
        }
    })
    .map_err(|e| match e {
        ContainerError::Io { source, .. } => err(source, format!("cannot copy into {name}:{path}")),
        e => e,
    })
}

/// Copies `src` to `p` itself: its parent resolved in the root, its last name
/// replaced (a symlink there is replaced, not followed).
fn into_parent(root: std::os::fd::BorrowedFd, p: &Path, src: &Entry) -> io::Result<()> {
    let n = p
        .file_name()
        .ok_or_else(|| io::Error::other("not a file name"))?;
    let parent = fsroot::open_in_root(
        root,
        p.parent().unwrap_or(Path::new("/")),
        libc::O_PATH | libc::O_DIRECTORY,
    )?;
    fsroot::copy_entry(src, parent.as_fd(), n)
}

/// `cp CONTAINER:PATH -`: `path` as a tar on `w`, its entries named from
/// its own last name down (docker's form).
pub fn tar_from_container<W: io::Write>(root: &Path, name: &str, path: &str, w: W) -> Result<W> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let src = Entry::in_root(rootfs.fd.as_fd(), Path::new(path), true)
            .map_err(|e| io::Error::new(e.kind(), format!("{path} in the container: {e}")))?;
        let base = Path::new(path)
            .file_name()
            .map(Path::new)
            .unwrap_or(Path::new("."));
        let mut b = tar::Builder::new(w);
        super::commit::append(&mut b, base, &src)?;
        if src.meta.is_dir() {
            fsroot::walk(&src, base, &mut |rel, e| {
                super::commit::append(&mut b, rel, e)?;
                Ok(true)
            })?;
        }
        b.into_inner()
    })
    .map_err(|e| match e {
        ContainerError::Io { source, .. } => err(source, format!("cannot copy {name}:{path}")),
        e => e,
    })
}

/// `cp - CONTAINER:DIR`: unpacks the tar on `r` into the directory `path`
/// of the container. The tar is unpacked into a private dir of the store
/// first, then copied in through the fds of the container's root, as any
/// other `cp` into it: the tar's names never resolve inside the container.
pub fn tar_to_container<R: io::Read>(root: &Path, r: R, name: &str, path: &str) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let images = crate::image::store::Store::open(root)?;
    let tmp = images.tmp_path("cp");
    let _cleanup = RemoveOnDrop(tmp.clone());
    std::fs::create_dir(&tmp).map_err(|e| err(e, format!("creating {}", tmp.display())))?;
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.unpack(&tmp).map_err(|e| {
        // tar's own message names the entry, its source says why.
        let why = std::error::Error::source(&e).map(|s| s.to_string());
        let what = e.to_string();
        let what = what.replace(&format!("{}/", tmp.display()), "");
        err(
            io::Error::new(e.kind(), why.unwrap_or_default()),
            format!("reading the tar on stdin: {what}"),
        )
    })?;
    let top = fsroot::open_dir(&tmp)
        .and_then(Entry::of)
        .map_err(|e| err(e, format!("opening {}", tmp.display())))?;
    let names = top
        .names()
        .map_err(|e| err(e, format!("listing {}", tmp.display())))?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let dst = match Entry::in_root(rootfs.fd.as_fd(), Path::new(path), true) {
            Ok(d) if d.meta.is_dir() => d,
            Ok(_) => return Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
            Err(e) => return Err(e),
        };
        for n in &names {
            let src = Entry::at(top.fd.as_fd(), n)?;
            fsroot::copy_entry(&src, dst.fd.as_fd(), n)?;
        }
        Ok(true)
    })
    .map_err(|e| match e {
        ContainerError::Io { source, .. } => err(source, format!("cannot copy into {name}:{path}")),
        e => e,
    })?
    .then_some(())
    .ok_or_else(|| {
        ContainerError::Other(format!("destination \"{name}:{path}\" must be a directory"))
    })
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
