//! The seccomp filter and no-new-privileges of --security-opt, and the
//! paths masked or read-only in /proc and /sys.

use super::super::opts::CreateOptions;
use super::super::seccomp;
use super::super::{bad, Result};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

pub(super) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub(super) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub(super) struct Security {
    pub no_new_privileges: bool,
    pub seccomp: Option<LinuxSeccomp>,
}

/// --security-opt over docker's defaults (the default seccomp profile unless
/// --privileged), for a container with the capabilities `caps`.
pub(super) fn security(o: &CreateOptions, caps: &[String]) -> Result<Security> {
    let mut no_new_privileges = false;
    let mut profile = if o.privileged {
        None
    } else {
        Some(String::from(seccomp::DEFAULT_PROFILE))
    };
    for s in &o.security_opt {
        let (k, v) = s.split_once(['=', ':']).unwrap_or((s, ""));
        match (k, v) {
            ("no-new-privileges", "" | "true") => no_new_privileges = true,
            ("no-new-privileges", "false") => {}
            ("seccomp", "unconfined") => profile = None,
            ("seccomp", f) if !f.is_empty() => profile = Some(f.to_string()),
            ("label" | "apparmor", _) => {}
            _ => {
                return Err(bad(
                    "--security-opt",
                    s,
                    "supported: seccomp=FILE|unconfined, no-new-privileges",
                ))
            }
        }
    }
    let mut filter = None;
    if let Some(f) = profile {
        match std::fs::read(&f) {
            Ok(b) => {
                let invalid = |e: serde_json::Error| {
                    bad(
                        "--security-opt",
                        &f,
                        format!("invalid seccomp profile: {e}"),
                    )
                };
                let p: Value = serde_json::from_slice(&b).map_err(invalid)?;
                filter =
                    Some(serde_json::from_value(seccomp::translate(&p, caps)).map_err(invalid)?);
            }
            // The default profile is a Debian package of its own: without it, no filter (say so).
            Err(_) if f == seccomp::DEFAULT_PROFILE => {
                log::warn!("{f} is missing: the container runs without a seccomp filter")
            }
            Err(e) => return Err(bad("--security-opt", &f, format!("cannot read it: {e}"))),
        }
    }
    Ok(Security {
        no_new_privileges,
        seccomp: filter,
    })
}
