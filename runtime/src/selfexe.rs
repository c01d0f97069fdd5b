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

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Returns a memfd holding a copy of /proc/self/exe, sealed against any write,
/// so that a container process that reaches it through /proc/PID/exe can
/// neither modify it nor, through it, the binary on the host.
pub fn sealed_copy() -> io::Result<OwnedFd> {
    let name = c"berth-runtime";
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let exe = File::open("/proc/self/exe")?;
    let len = exe.metadata()?.len() as usize;
    let mut done = 0usize;
    while done < len {
        let n = unsafe { libc::sendfile(fd, exe.as_raw_fd(), std::ptr::null_mut(), len - done) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(memfd)
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
    let p = path.as_ptr();
    let none = std::ptr::null();
    unsafe {
        // Our mounts must never propagate back to the host.
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_SLAVE | libc::MS_REC,
            none as *const libc::c_void,
        ) != 0
            || libc::mount(p, p, none, libc::MS_BIND, none as *const libc::c_void) != 0
            || libc::mount(
                none,
                p,
                none,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                none as *const libc::c_void,
            ) != 0
        {
            return io::Error::last_os_error();
        }
    }
    exec_init_at(libc::AT_FDCWD, &path, 0, mode, sync_fd)
}

/// Replaces this process with the sealed copy, in `init` mode. Only returns on error.
pub fn exec_init(memfd: i32, mode: &str, sync_fd: i32) -> io::Error {
    exec_init_at(memfd, c"", libc::AT_EMPTY_PATH, mode, sync_fd)
}

fn exec_init_at(
    dirfd: i32,
    path: &std::ffi::CStr,
    flags: i32,
    mode: &str,
    sync_fd: i32,
) -> io::Error {
    let argv0 = c"berth-runtime";
    let arg1 = c"init";
    let arg2 = match crate::utils::cstring("init mode", mode) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let argv = [
        argv0.as_ptr(),
        arg1.as_ptr(),
        arg2.as_ptr(),
        std::ptr::null(),
    ];
    let env_sync = c_env(format!("_BERTH_SYNC_FD={sync_fd}"));
    // The init's environment is ours to choose: only what it needs, so nothing
    // of the caller's leaks into the container (it sets the process env itself).
    let log = std::env::var("_BERTH_LOG_LEVEL")
        .ok()
        .and_then(|l| std::ffi::CString::new(format!("_BERTH_LOG_LEVEL={l}")).ok());
    let mut envp = vec![env_sync.as_ptr()];
    if let Some(l) = &log {
        envp.push(l.as_ptr());
    }
    envp.push(std::ptr::null());
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            dirfd,
            path.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            flags,
        );
    }
    io::Error::last_os_error()
}

/// An environment entry made of our own digits: it cannot hold a NUL.
fn c_env(s: String) -> std::ffi::CString {
    std::ffi::CString::new(s).expect("digits and ASCII hold no NUL")
}
