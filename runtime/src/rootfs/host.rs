//! The host's mount table (/proc/self/mountinfo): what lies below a
//! rootfs that shares the host's mount namespace, and lifting it again.

use berth_common::proc;
use std::path::{Path, PathBuf};

/// Mounts at or below `dir`, as (mount id, mount point).
pub(super) fn mounts_below(dir: &Path) -> Vec<(u64, PathBuf)> {
    proc::mounts()
        .into_iter()
        .map(|m| (m.id, m.mount_point))
        .filter(|(_, m)| m.starts_with(dir))
        .collect()
}

/// The ids of the mounts already at or below `dir`: the host's, which
/// `unmount_below` must leave alone.
pub fn mount_ids_below(dir: &Path) -> Vec<u64> {
    mounts_below(dir).into_iter().map(|(id, _)| id).collect()
}

/// Lifts every mount at or below `dir` but those in `keep` (deepest first,
/// and the latest of a stack first): what a container without a mount
/// namespace of its own left on the host.
pub fn unmount_below(dir: &Path, keep: &[u64]) {
    let mut mps: Vec<PathBuf> = mounts_below(dir)
        .into_iter()
        .filter(|(id, _)| !keep.contains(id))
        .map(|(_, m)| m)
        .collect();
    mps.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in mps {
        let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The mount point (from /proc/self/mountinfo) that contains `p`.
pub(super) fn mount_point_of(p: &Path) -> Option<PathBuf> {
    proc::mounts()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|mp| p.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
}
