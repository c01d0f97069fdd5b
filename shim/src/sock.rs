//! The container dir and the unix sockets in it.
//!
//! A socket path is limited to 108 bytes (sun_path) and container dirs can be
//! deep, so sockets are bound and connected through `/proc/self/fd/N/<name>`
//! where N is an O_PATH descriptor of the dir. The process never chdirs.

use anyhow::{Context, Result};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

pub const ATTACH: &str = "attach";
pub const CONSOLE: &str = "console.sock";

pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    pub fn open(path: &Path) -> Result<Dir> {
        let fd = open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open container dir {}", path.display()))?;
        // SAFETY: open returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// A path to `name` in the dir that is short whatever the dir's length,
    /// valid in this process only.
    pub fn short(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.fd.as_raw_fd()))
    }

    /// Like `short`, but valid in other processes (the runtime) as long as
    /// this process lives.
    pub fn short_for_others(&self, name: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}/{name}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn bind(&self, name: &str) -> Result<UnixListener> {
        let p = self.short(name);
        // A socket file left by a shim that was killed would make bind fail;
        // the dir lock guarantees no live shim owns it.
        let _ = std::fs::remove_file(&p);
        let l = UnixListener::bind(&p)
            .with_context(|| format!("cannot bind {}", self.file(name).display()))?;
        l.set_nonblocking(true)?;
        Ok(l)
    }

    pub fn connect(&self, name: &str) -> std::io::Result<UnixStream> {
        UnixStream::connect(self.short(name))
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.short(name));
    }

    /// Writes `name` atomically: readers see the old content or the new one,
    /// never a torn file (policy in `berth_common::fs`).
    pub fn write_atomic(&self, name: &str, data: &[u8]) -> Result<()> {
        let dst = self.file(name);
        berth_common::fs::write_atomic(&dst, data)
            .with_context(|| format!("cannot write {}", dst.display()))
    }

    /// Like `write_atomic`, and on disk when it returns: for the exit
    /// record, which nothing could rebuild after a power cut.
    pub fn write_durable(&self, name: &str, data: &[u8]) -> Result<()> {
        let dst = self.file(name);
        berth_common::fs::write_durable(&dst, data)
            .with_context(|| format!("cannot write {}", dst.display()))
    }
}
