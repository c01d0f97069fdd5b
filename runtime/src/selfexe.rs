//! How a process entering a container stops being our binary on the host
//! (CVE-2019-5736: a container process that reaches /proc/PID/exe of a
//! runtime process could otherwise overwrite the runtime). Only `create`,
//! `run` and `exec` pay for it; the other verbs never touch a container.
//!
//! - `create`: the init is already alone in a new mount namespace, so it
//!   re-executes through a read-only bind mount of our binary made there. A
//!   write through /proc/PID/exe then fails with EROFS, and once the init has
//!   pivoted into the rootfs that mount is detached and out of reach of any
//!   remount. Two mount calls instead of copying a multi-MB binary.
//! - `exec`, and `create` if the bind mount cannot be made: a sealed memfd copy.

use nix::fcntl::{fcntl, AtFlags, FcntlArg, SealFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Returns a memfd holding a copy of /proc/self/exe, sealed against any write,
/// so that a container process that reaches it through /proc/PID/exe can
/// neither modify it nor, through it, the binary on the host.
pub fn sealed_copy() -> io::Result<OwnedFd> {
    let memfd = memfd_create(
        c"berth-runtime",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut exe = File::open("/proc/self/exe")?;
    let mut copy = File::from(memfd);
    // std copies file to file in the kernel (copy_file_range, sendfile).
    io::copy(&mut exe, &mut copy)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(copy.into())
}

/// In a private mount namespace of our own: re-executes our binary in `init`
/// mode through a read-only bind mount of it. Only returns on error (the
/// caller then falls back to `sealed_copy`).
pub fn exec_init_readonly(mode: &str, sync_fd: i32) -> io::Error {
    let exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Replaced on disk since we started (an upgrade): no path names us any more.
    if exe.to_string_lossy().ends_with(" (deleted)") {
        return io::Error::from_raw_os_error(libc::ENOENT);
    }
    let path = match crate::utils::cstring("our path", exe.as_os_str().as_encoded_bytes()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let none: Option<&str> = None;
    let made = mount(
        none,
        "/",
        none,
        // Our mounts must never propagate back to the host.
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        none,
    )
    .and_then(|_| {
        mount(
            Some(path.as_c_str()),
            path.as_c_str(),
            none,
            MsFlags::MS_BIND,
            none,
        )
    })
    .and_then(|_| {
        mount(
            none,
            path.as_c_str(),
            none,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            none,
        )
    });
    if let Err(e) = made {
        return e.into();
    }
    exec_init_at(None, &path, AtFlags::empty(), mode, sync_fd)
}

/// Replaces this process with the sealed copy, in `init` mode. Only returns on error.
pub fn exec_init(memfd: i32, mode: &str, sync_fd: i32) -> io::Error {
    exec_init_at(Some(memfd), c"", AtFlags::AT_EMPTY_PATH, mode, sync_fd)
}

fn exec_init_at(
    dirfd: Option<i32>,
    path: &CStr,
    flags: AtFlags,
    mode: &str,
    sync_fd: i32,
) -> io::Error {
    let mode = match crate::utils::cstring("init mode", mode) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let argv = [c"berth-runtime".to_owned(), c"init".to_owned(), mode];
    // The init's environment is ours to choose: only what it needs, so nothing
    // of the caller's leaks into the container (it sets the process env itself).
    let mut envp = vec![c_env(format!("_BERTH_SYNC_FD={sync_fd}"))];
    if let Some(l) = std::env::var("_BERTH_LOG_LEVEL")
        .ok()
        .and_then(|l| CString::new(format!("_BERTH_LOG_LEVEL={l}")).ok())
    {
        envp.push(l);
    }
    let Err(e) = nix::unistd::execveat(dirfd, path, &argv, &envp, flags);
    e.into()
}

/// An environment entry made of our own digits: it cannot hold a NUL.
fn c_env(s: String) -> CString {
    CString::new(s).expect("digits and ASCII hold no NUL")
}
