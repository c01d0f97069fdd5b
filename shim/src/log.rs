//! The container log, in the CRI ("k8s-file") format that kubelet, crictl
//! and podman's k8s-file driver read:
//!
//! ```text
//! 2024-01-01T00:00:00.123456789Z stdout F a whole line
//! 2024-01-01T00:00:00.223456789Z stderr P the start of a line with no newline yet
//! ```
//!
//! Each read from the container is logged at once (no waiting for the rest
//! of a line): complete lines are tagged F, the unfinished tail of a read is
//! tagged P and its continuation follows in later records. A line longer than
//! the read buffer therefore arrives as several P records and a final F.
//! Readers join P records with the next records of the same stream.
//!
//! Rotation: when a write would take the file past `max_size` bytes, the file
//! is renamed to `<path>.1` (replacing an older one) and a new file started.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    // Reused between writes so that a busy container does not allocate.
    buf: Vec<u8>,
}

impl LogWriter {
    pub fn open(path: PathBuf, max_size: u64) -> std::io::Result<LogWriter> {
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path,
            file,
            size,
            max_size,
            buf: Vec::new(),
        })
    }

    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let ts = rfc3339_nanos(SystemTime::now());
        self.buf.clear();
        format_records(&mut self.buf, &ts, stream, data);
        // Write in as few calls as possible, but cut at record boundaries
        // so that no file grows past max_size (unless a single record does).
        let buf = std::mem::take(&mut self.buf);
        let mut start = 0;
        let mut end = 0;
        for rec in buf.split_inclusive(|&b| b == b'\n') {
            let pending = (end - start) as u64;
            if self.max_size > 0
                && self.size + pending > 0
                && self.size + pending + rec.len() as u64 > self.max_size
            {
                self.append(&buf[start..end]);
                if let Err(e) = self.rotate() {
                    log::warn!("cannot rotate {}: {e}", self.path.display());
                }
                start = end;
            }
            end += rec.len();
        }
        self.append(&buf[start..end]);
        self.buf = buf;
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
    }

    fn append(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match self.file.write_all(data) {
            Ok(()) => self.size += data.len() as u64,
            Err(e) => log::warn!("cannot write {}: {e}", self.path.display()),
        }
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old)?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Appends one record per line of `data`; a tail without newline is a P record.
pub fn format_records(out: &mut Vec<u8>, ts: &str, stream: Stream, data: &[u8]) {
    for piece in data.split_inclusive(|&b| b == b'\n') {
        let (line, tag) = match piece.strip_suffix(b"\n") {
            Some(l) => (l, "F"),
            None => (piece, "P"),
        };
        out.extend_from_slice(ts.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.name().as_bytes());
        out.push(b' ');
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// `2024-01-01T00:00:00.123456789Z`: RFC 3339 in UTC with nanoseconds.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 5);
        assert_eq!(rfc3339_nanos(t), "2024-02-29T12:34:56.000000005Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0);
        assert_eq!(rfc3339_nanos(t), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn records() {
        let mut out = Vec::new();
        format_records(&mut out, "T", Stream::Stderr, b"a\n\nbc");
        assert_eq!(out, b"T stderr F a\nT stderr F \nT stderr P bc\n");
    }

    #[test]
    fn rotates() {
        struct Gone(std::path::PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("berth-shim-logtest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _gone = Gone(dir.clone());
        let p = dir.join("ctr.log");
        let mut w = LogWriter::open(p.clone(), 200).unwrap();
        let line = b"0123456789012345678901234567890123456789\n";
        for _ in 0..4 {
            w.write(Stream::Stdout, line);
        }
        // One chunk of two records: it is cut between them.
        w.write(Stream::Stdout, &[&b"abc\n"[..], line].concat());
        let cur = std::fs::read_to_string(&p).unwrap();
        let old = std::fs::read_to_string(dir.join("ctr.log.1")).unwrap();
        assert!(cur.len() <= 200 && old.len() <= 200, "{cur}\n{old}");
        // Records are 81 bytes, so two fit: 1-2 were rotated out, 3-4 are
        // in .1, and the last chunk was cut before "abc" (which would not
        // fit after 3-4), so the current file holds abc and 5.
        assert_eq!(old.lines().count(), 2, "{old}");
        assert!(cur.contains(" abc\n") && cur.lines().count() == 2, "{cur}");
    }
}
