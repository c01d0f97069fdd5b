//! `linux.resources.unified`: cgroup v2 files written as given, into the
//! container's cgroup2 directory, on a pure v2 host and on a hybrid one
//! (where that directory sits under /sys/fs/cgroup/unified and holds only
//! the controllers the host left on cgroup2, often none: core `cgroup.*`
//! files still apply there).
//!
//! config-linux.md: unknown keys MUST still be written, and a key of a
//! controller that is not there MUST be an error.

use super::{CgroupError, Result};
use oci_spec::runtime::LinuxResources;
use std::fs;
use std::path::Path;

fn invalid(msg: String) -> CgroupError {
    CgroupError::Invalid(msg)
}

/// Writes every key of `r.unified` into `dir` (None: no cgroup2 here).
pub fn apply(dir: Option<&Path>, r: &LinuxResources) -> Result<()> {
    let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    let Some(dir) = dir else {
        return Err(invalid(
            "linux.resources.unified: this host has no cgroup2 hierarchy".into(),
        ));
    };
    // Sorted, so that a failure names the same key every time.
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in keys {
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(invalid(format!(
                "linux.resources.unified: invalid key {k:?} (a file name such as pids.max)"
            )));
        }
        let file = dir.join(k);
        if !file.exists() {
            let controller = k.split('.').next().unwrap_or_default();
            let enabled = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let why =
                if controller != "cgroup" && !enabled.split_whitespace().any(|c| c == controller) {
                    format!(
                    "the {controller} controller is not enabled in the container's cgroup2 cgroup"
                )
                } else {
                    "no such file in the container's cgroup2 cgroup".into()
                };
            return Err(invalid(format!("linux.resources.unified: {k}: {why}")));
        }
        fs::write(&file, &u[k]).map_err(|e| {
            invalid(format!(
                "linux.resources.unified: write {:?} to {k}: {e}",
                u[k]
            ))
        })?;
    }
    Ok(())
}
