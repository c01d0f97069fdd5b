//! Written once, used by berth-shim, berth-runtime and berth: files written
//! atomically, the attach socket's wire format and the exit record the shim
//! leaves, signal names, and what is read from /proc. Only libc, serde and
//! procfs-core's parsers, so the shim stays small.

pub mod attach;
pub mod exit;
pub mod fs;
pub mod proc;
pub mod signal;

/// The name callers knew /proc/PID/stat's parser by.
pub mod procstat {
    pub use crate::proc::Stat;
}
