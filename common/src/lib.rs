//! Written once, used by berth-shim and berth: files written atomically,
//! the attach socket's wire format and the exit record the shim leaves,
//! signal names, and the fields of /proc/PID/stat. Only libc and serde, so
//! the shim stays small.

pub mod attach;
pub mod exit;
pub mod fs;
pub mod procstat;
pub mod signal;
