//! The exit record: the JSON the shim writes to DIR/exit once the process
//! it watches has ended (always last, so its presence means "exited") and
//! sends in the attach socket's exit frame.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    #[serde(default)]
    pub pid: i32,
    /// The exit code, or 128 + the signal number when killed by a signal
    /// (the shell's convention, as docker reports it).
    pub exit_code: i32,
    /// The signal that killed the process, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    #[serde(default)]
    pub core_dumped: bool,
    /// RFC 3339 with nanoseconds, UTC.
    #[serde(default)]
    pub exited_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_shim_writes() {
        let j = r#"{"pid":7,"exit_code":137,"signal":9,"core_dumped":false,"exited_at":"2026-12-01T10:00:00.000000001Z"}"#;
        let e: ExitRecord = serde_json::from_str(j).unwrap();
        assert_eq!((e.pid, e.exit_code, e.signal), (7, 137, Some(9)));
        assert_eq!(serde_json::to_string(&e).unwrap(), j);
        let e: ExitRecord = serde_json::from_str(r#"{"exit_code":3}"#).unwrap();
        assert_eq!((e.exit_code, e.exited_at.as_str()), (3, ""));
    }
}
