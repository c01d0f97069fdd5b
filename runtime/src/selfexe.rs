//! The sealed in-memory copy of our own binary that every process entering a
//! container executes first (CVE-2019-5736). Only `create`, `run` and `exec`
//! pay for it; the other verbs never touch the container's namespaces.

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

/// Replaces this process with the sealed copy, in `init` mode. Only returns on error.
pub fn exec_init(memfd: i32, mode: &str, sync_fd: i32) -> io::Error {
    let argv0 = c"berth-runtime";
    let arg1 = c"init";
    let arg2 = std::ffi::CString::new(mode).unwrap_or_default();
    let argv = [
        argv0.as_ptr(),
        arg1.as_ptr(),
        arg2.as_ptr(),
        std::ptr::null(),
    ];
    let env_sync = std::ffi::CString::new(format!("_BERTH_SYNC_FD={sync_fd}")).unwrap_or_default();
    // The init's environment is ours to choose: only what it needs, so nothing
    // of the caller's leaks into the container (it sets the process env itself).
    let log = std::env::var("_BERTH_LOG_LEVEL")
        .ok()
        .map(|l| std::ffi::CString::new(format!("_BERTH_LOG_LEVEL={l}")).unwrap_or_default());
    let mut envp = vec![env_sync.as_ptr()];
    if let Some(l) = &log {
        envp.push(l.as_ptr());
    }
    envp.push(std::ptr::null());
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            memfd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    io::Error::last_os_error()
}
