//! What a `create` killed midway left behind, found again from the records
//! in its state dir and undone by the next `delete --force` or `create`.

use super::*;
use crate::cgroups;
use crate::config;
use crate::rootfs;
use std::fs;
use std::path::{Path, PathBuf};

/// Without a mount namespace of the container's own: the ids of the mounts
/// that were below its rootfs before `create`, which are the host's.
pub(super) const HOST_MOUNTS: &str = "host-mounts";

/// Written before the first cgroup is made when the config copy alone does
/// not tell where it goes (a relative cgroupsPath, which depends on our own
/// cgroup) or what it makes (ancestors that do not exist yet): the cgroup's
/// path and those ancestors, so that whatever a killed `create` left (it
/// has no state.json yet) is found and removed by the next `delete --force`
/// or `create` of the id. The common case (`/<id>`, or an absolute path
/// below an existing parent) writes nothing more than before.
pub(super) const CGROUP_RECORD: &str = "cgroup";

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CgroupRecord {
    pub(super) path: String,
    pub(super) made: Vec<PathBuf>,
}

/// Undoes, from the records in its state dir, what a `create` killed before
/// it wrote state.json made elsewhere: the processes in its cgroup (an init
/// blocked on exec.fifo, or still setting up), the mounts it put on the host
/// (no mount namespace of its own), and its cgroups in every hierarchy.
pub(super) fn undo_debris(dir: &Path) {
    let rec = match fs::read(dir.join(CGROUP_RECORD)) {
        Ok(raw) => match serde_json::from_slice::<CgroupRecord>(&raw) {
            Ok(r) => r,
            // Cut short by the kill: written before any cgroup existed.
            Err(_) => return,
        },
        Err(_) => {
            // No record: the path follows from the config copy, saved
            // before any cgroup was made (none there: nothing was).
            let Ok(raw) = fs::read(dir.join(CONFIG_COPY)) else {
                return;
            };
            let Ok(spec) = config::parse(&raw) else {
                return;
            };
            let id = dir.file_name().unwrap_or_default().to_string_lossy();
            let p = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
            if p.as_ref().is_some_and(|p| p.is_relative()) {
                // Would have had a record: written before the first mkdir.
                return;
            }
            let Ok(path) = cgroups::resolve_path(p.as_deref(), &id) else {
                return;
            };
            CgroupRecord { path, made: vec![] }
        }
    };
    let cg = cgroups::manager(&rec.path);
    cgroups::kill_all(cg.as_ref(), 5);
    if let Some((root, keep)) = read_host_mounts(dir).filter(|(r, _)| r.is_absolute()) {
        rootfs::unmount_below(&root, &keep);
    }
    let _ = cgroups::destroy_with(cg.as_ref(), &rec.made);
}

/// The host-mounts record: the rootfs, then the ids of the host's mounts
/// below it when `create` began.
pub(super) fn read_host_mounts(dir: &Path) -> Option<(PathBuf, Vec<u64>)> {
    let text = fs::read_to_string(dir.join(HOST_MOUNTS)).ok()?;
    // The rootfs may hold any byte but a NUL; the ids never a newline.
    let (root, ids) = text.rsplit_once('\n').unwrap_or(("", &text));
    let keep = ids
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    Some((PathBuf::from(root), keep))
}
