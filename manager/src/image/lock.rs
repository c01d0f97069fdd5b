//! Advisory file locks (flock) that are released when dropped, also when a
//! berth process dies: the kernel drops them with the file descriptor.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;

pub struct FileLock {
    _file: File,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

fn flock(f: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl FileLock {
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        let f = open(path)?;
        flock(&f, libc::LOCK_EX)?;
        Ok(FileLock { _file: f })
    }

    /// As `exclusive`, but never makes the file: a lock of something being
    /// removed must not put a file back into the dir being emptied.
    pub fn exclusive_existing(path: &Path) -> io::Result<FileLock> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        flock(&f, libc::LOCK_EX)?;
        Ok(FileLock { _file: f })
    }

    pub fn shared(path: &Path) -> io::Result<FileLock> {
        let f = open(path)?;
        flock(&f, libc::LOCK_SH)?;
        Ok(FileLock { _file: f })
    }

    /// None if someone else holds the lock right now.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<FileLock>> {
        let f = open(path)?;
        match flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(FileLock { _file: f })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
