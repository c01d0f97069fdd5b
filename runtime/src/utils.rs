//! Small helpers shared by every module: atomic writes and process checks
//! (both from berth-common), C strings, the time.

use std::ffi::CString;
use std::io;

/// Every state and pid file is written through a temp file and a rename
/// (berth-common's policy for all three binaries), with the permission bits
/// given. No fsync: runtime state lives under /run and cannot outlive a
/// reboot anyway, while an fsync per write would cost more than `start`.
pub use berth_common::fs::write_atomic_mode as write_atomic;

pub use berth_common::proc::{is_same_process, start_time as process_start_time};

/// The current time as RFC 3339 in UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = t.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        t.subsec_nanos()
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since
/// 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `s` as a C string: a NUL inside is an error naming `what` (never a
/// silent "", which would name another path or drop an argument).
pub fn cstring(what: &str, s: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11016), (2000, 2, 29));
        assert_eq!(civil_from_days(20792), (2026, 12, 5));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
