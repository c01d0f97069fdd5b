//! Recursive mount attributes (config.md's `rro`, `rnosuid`, `rnoatime`...):
//! applied with mount_setattr(2) and AT_RECURSIVE, so that they hold on every
//! submount of a bind, which mount(2)'s remount can only reach one mount at
//! a time.

use oci_spec::runtime::Mount;
use std::io;
use std::os::fd::BorrowedFd;

// From linux/mount.h: the libc crate does not have them for musl.
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_IDMAP: u64 = 0x10_0000;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;
pub const AT_RECURSIVE: u32 = 0x8000;
/// mount(2)'s flag for `nosymfollow` (Linux 5.10); not in libc for musl.
pub const MS_NOSYMFOLLOW: u64 = 256;

#[derive(Debug, thiserror::Error)]
pub enum MountAttrError {
    #[error("mounts: option {opt:?} of {dest:?}: {err}")]
    Apply {
        opt: String,
        dest: String,
        err: io::Error,
    },
    #[error("mounts: option {0:?} of {1:?} is not supported (no recursive form of it exists)")]
    Unknown(String, String),
}

pub use crate::sys::MountAttr;

/// What one recursive option does: bits to set, bits to clear. An atime
/// mode always clears the whole atime field (the kernel takes nothing else).
fn recursive(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        // Without noatime, the kernel's default: relatime, as mount(8)'s `atime`.
        "ratime" | "rrelatime" | "rnostrictatime" => (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME),
        // "Do not use relatime": every access updates atime.
        "rnorelatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        _ => return None,
    })
}

/// Every recursive option we implement, as `features` lists them.
pub const OPTIONS: &[&str] = &[
    "ratime",
    "rdev",
    "rdiratime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "rrelatime",
    "rro",
    "rrw",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
];

pub fn is_recursive(opt: &str) -> bool {
    recursive(opt).is_some()
}

/// Options that read as the recursive form of a plain flag we know
/// (`rsync`, `rlazytime`...) but that mount_setattr has no bit for: passed on
/// as filesystem data they would fail later with a bare EINVAL.
pub fn check(m: &Mount) -> Result<(), MountAttrError> {
    for o in m.options().as_deref().unwrap_or_default() {
        let Some(plain) = o.strip_prefix('r') else {
            continue;
        };
        let flaglike = [
            "sync",
            "async",
            "dirsync",
            "mand",
            "nomand",
            "lazytime",
            "nolazytime",
            "iversion",
            "noiversion",
            "silent",
            "loud",
            "defaults",
        ];
        if flaglike.contains(&plain) {
            return Err(MountAttrError::Unknown(
                o.clone(),
                m.destination().display().to_string(),
            ));
        }
    }
    Ok(())
}

/// The recursive attributes `opts` ask for, folded in order (the last of two
/// opposites wins, as with mount(8)); `None` when there are none.
pub fn collect(opts: &[String]) -> Option<MountAttr> {
    let mut a = MountAttr::default();
    let mut any = false;
    for o in opts {
        if let Some((set, clr)) = recursive(o) {
            any = true;
            if clr & MOUNT_ATTR_ATIME != 0 {
                a.attr_set &= !MOUNT_ATTR_ATIME;
                a.attr_clr |= MOUNT_ATTR_ATIME;
                a.attr_set |= set;
            } else {
                a.attr_set = (a.attr_set | set) & !clr;
                a.attr_clr = (a.attr_clr | clr) & !set;
            }
        }
    }
    any.then_some(a)
}

/// mount_setattr(2) on the mount `fd` names (an O_PATH fd of its root).
pub fn setattr(fd: BorrowedFd, attr: &MountAttr, flags: u32) -> io::Result<()> {
    crate::sys::mount_setattr(Some(fd), attr, flags)
}

/// Applies the recursive options of `m` to the mount at `fd` and all below it.
pub fn apply(fd: BorrowedFd, m: &Mount) -> Result<(), MountAttrError> {
    let opts = m.options().as_deref().unwrap_or_default();
    let Some(attr) = collect(opts) else {
        return Ok(());
    };
    setattr(fd, &attr, AT_RECURSIVE).map_err(|err| MountAttrError::Apply {
        opt: opts
            .iter()
            .filter(|o| is_recursive(o))
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
        dest: m.destination().display().to_string(),
        err,
    })
}

/// Whether this kernel has mount_setattr (5.12): a call with no fd fails
/// with EBADF or EINVAL where it exists, ENOSYS where it does not.
pub fn supported() -> bool {
    match crate::sys::mount_setattr(None, &MountAttr::default(), 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() != Some(libc::ENOSYS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn last_atime_mode_wins_and_opposites_cancel() {
        let a = collect(&v(&["rnoatime", "rstrictatime", "rro", "rrw", "rnosuid"])).unwrap();
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_NOSUID,
            "{a:?}"
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_ATIME | MOUNT_ATTR_RDONLY, "{a:?}");
        assert!(collect(&v(&["ro", "rbind", "rprivate"])).is_none());
    }

    #[test]
    fn every_listed_option_is_implemented() {
        for o in OPTIONS {
            assert!(is_recursive(o), "{o}");
        }
    }
}
