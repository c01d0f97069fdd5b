//! The container's rootfs: an overlay of its image's layers (read-only,
//! top first) under its own upper dir.
//!
//! The classic `mount(2)` takes every lower dir in one option string, which
//! the kernel caps at a page: with our layer paths that is ~43 layers. The
//! new mount API appends lower dirs one at a time (`lowerdir+`, Linux 6.8),
//! so that is tried first; older kernels get the option string.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// docker's limit on an image's layers, which we keep so images move freely
/// between the two.
pub const MAX_LAYERS: usize = 128;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::other("a path holds a NUL byte"))
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The new mount API's create refused the layers (EINVAL once the context
/// is made): the mount's own verdict on a 6.5+ kernel, the legacy parser's
/// refusal of `lowerdir+` before it.
#[derive(Debug)]
struct LayersRefused(io::Error);

impl std::fmt::Display for LayersRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "overlay refused its layers: {}", self.0)
    }
}

impl std::error::Error for LayersRefused {}

/// Mounts the overlay at `target`; `lowers` top first.
pub fn mount(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    match mount_appending(lowers, upper, work, target) {
        // No new mount API, or no `lowerdir+` in this kernel's overlayfs.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) => {
            mount_classic(lowers, upper, work, target)
        }
        // Before 6.5 overlayfs parses options the legacy way: fsconfig takes
        // any key and only the create refuses `lowerdir+` (Debian 12's 6.1).
        // The classic mount then decides; its own error is the one to show.
        Err(e) if e.get_ref().is_some_and(|x| x.is::<LayersRefused>()) => {
            mount_classic(lowers, upper, work, target).map_err(|c| {
                if c.raw_os_error() == Some(libc::EINVAL) {
                    e
                } else {
                    c
                }
            })
        }
        r => r,
    }
}

fn mount_appending(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    // SAFETY: fsopen with a C string; the result is a new fd of ours.
    let fs =
        check(unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: as above.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let set = |key: &std::ffi::CStr, value: &Path| -> io::Result<()> {
        let v = cstr(value.as_os_str().as_bytes())?;
        // SAFETY: fsconfig on our fs context fd with two C strings.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                v.as_ptr(),
                0,
            )
        })
        .map(drop)
    };
    for l in lowers {
        set(c"lowerdir+", l)?;
    }
    set(c"upperdir", upper)?;
    set(c"workdir", work)?;
    // SAFETY: fsconfig's create command takes no key or value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
    .map_err(|e| {
        // The context is made: a failure here is the mount's own, not a
        // missing API, and must not fall back.
        if e.raw_os_error() == Some(libc::EINVAL) {
            io::Error::other(LayersRefused(e))
        } else {
            e
        }
    })?;
    // SAFETY: fsmount of our created context; the result is a new fd of ours.
    let m = check(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) })?;
    // SAFETY: as above.
    let m = unsafe { OwnedFd::from_raw_fd(m as i32) };
    let t = cstr(target.as_os_str().as_bytes())?;
    // SAFETY: move_mount of our detached mount onto a C string path.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            m.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

fn mount_classic(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    let lowers: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= 4096 {
        return Err(io::Error::other(format!(
            "{} layers do not fit in overlay's options on this kernel (before Linux 6.8)",
            lowers.len()
        )));
    }
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(io::Error::from)
}
