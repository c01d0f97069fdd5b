//! Atomic writes, one policy for every state file of ours.
//!
//! Always: a temp file in the same directory, then rename(2), so a reader
//! sees the old content or the new, never a torn file, and a crash leaves at
//! worst a stray `.NAME.*` temp file.
//!
//! fsync only where the state must survive a power cut ([`write_durable`]):
//! image store metadata and the shim's exit record live on disk for good and
//! nothing could rebuild them. Everything else ([`write_atomic`]) is cheap to
//! lose or re-read from the live system, and an fsync per write would cost
//! more than the operation (`berth run` writes its record several times).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// temp + rename, no fsync.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write(path, data, 0o666, false)
}

/// `write_atomic` with the file's permission bits (less the umask), as the
/// runtime's state and pid files want them (0o600, 0o644).
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write(path, data, mode, false)
}

/// temp, fsync, rename, fsync of the directory: the new content is on disk
/// when this returns, the rename included.
pub fn write_durable(path: &Path, data: &[u8]) -> io::Result<()> {
    write(path, data, 0o666, true)
}

fn write(path: &Path, data: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_name(dir, path);
    let res = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Unique per process and per call: two threads (a pull's layers) or two
/// processes (berth and its shim) never share a temp file.
fn temp_name(dir: &Path, path: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    dir.join(format!(
        ".{name}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_and_leaves_no_temp() {
        let d = std::env::temp_dir().join(format!("berth-common-fs-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let p = d.join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_durable(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        write_atomic_mode(&p, b"three", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        assert!(write_atomic(&d.join("missing/x"), b"").is_err());
        fs::remove_dir_all(&d).unwrap();
    }
}
