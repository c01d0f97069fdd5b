//! The host's mount table (/proc/self/mountinfo): what lies below a
//! rootfs that shares the host's mount namespace, and lifting it again.

use std::fs;
use std::path::{Path, PathBuf};

/// Mounts at or below `dir`, as (mount id, mount point).
pub(super) fn mounts_below(dir: &Path) -> Vec<(u64, PathBuf)> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            Some((id, PathBuf::from(unescape(f.nth(3)?))))
        })
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
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<PathBuf> = None;
    for line in info.lines() {
        let mp = PathBuf::from(unescape(line.split(' ').nth(4)?));
        if p.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|b| mp.as_os_str().len() > b.as_os_str().len())
        {
            best = Some(mp);
        }
    }
    best
}

/// mountinfo escapes spaces and friends as octal `\040`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
