//! `cp` between the host and a container's root. Paths inside the container
//! are resolved as the container would see them: symlinks (absolute or with
//! `..`) never lead out of its root.

use super::store::ContainerStore;
use super::{ContainerError, Result};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Resolves `p` inside `root`, following symlinks as if `root` were `/`.
/// The last component is not followed when `follow_last` is false.
pub fn resolve_in_root(root: &Path, p: &str, follow_last: bool) -> io::Result<PathBuf> {
    let mut todo: Vec<String> = p
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let next = cur.join(&c);
        let last = todo.is_empty();
        match fs::symlink_metadata(root.join(&next)) {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = fs::read_link(root.join(&next))?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for comp in target.components().rev() {
                    if let Component::Normal(s) = comp {
                        todo.push(s.to_string_lossy().into_owned());
                    } else if comp == Component::ParentDir {
                        todo.push("..".into());
                    }
                }
            }
            _ => cur = next,
        }
    }
    Ok(root.join(cur))
}

fn copy_any(src: &Path, dst: &Path) -> io::Result<()> {
    let m = fs::symlink_metadata(src)?;
    if m.is_dir() {
        if !dst.exists() {
            fs::create_dir(dst)?;
        }
        crate::volume::copy_tree(src, dst)
    } else if m.file_type().is_symlink() {
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)
    } else {
        if fs::symlink_metadata(dst).is_ok_and(|d| d.file_type().is_symlink()) {
            fs::remove_file(dst)?;
        }
        fs::copy(src, dst).map(|_| ())
    }
}

fn err(e: io::Error, what: String) -> ContainerError {
    ContainerError::Other(format!("{what}: {e}"))
}

pub fn from_container(root: &Path, name: &str, path: &str, host: &Path) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let src = resolve_in_root(rootfs, path, true)?;
        fs::symlink_metadata(&src)
            .map_err(|e| io::Error::new(e.kind(), format!("{path} in the container: {e}")))?;
        let dst = if host.is_dir() {
            host.join(src.file_name().unwrap_or_default())
        } else {
            host.to_path_buf()
        };
        copy_any(&src, &dst)
    })
    .map_err(|e| match e {
        ContainerError::Io { source, .. } => err(source, format!("cannot copy {name}:{path}")),
        e => e,
    })
}

pub fn to_container(root: &Path, host: &Path, name: &str, path: &str) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    fs::symlink_metadata(host).map_err(|e| err(e, format!("cannot read {}", host.display())))?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let target = resolve_in_root(rootfs, path, true)?;
        let dst = if target.is_dir() {
            target.join(host.file_name().unwrap_or_default())
        } else {
            target
        };
        copy_any(host, &dst)
    })
    .map_err(|e| match e {
        ContainerError::Io { source, .. } => err(source, format!("cannot copy into {name}:{path}")),
        e => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside() {
        let d = std::env::temp_dir().join(format!("berth-cp-{}", std::process::id()));
        fs::create_dir_all(d.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", d.join("etc/evil")).unwrap();
        assert_eq!(
            resolve_in_root(&d, "/link/x", true).unwrap(),
            d.join("etc/x")
        );
        assert_eq!(
            resolve_in_root(&d, "/etc/evil", true).unwrap(),
            d.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(&d, "/../../x", true).unwrap(), d.join("x"));
        assert_eq!(resolve_in_root(&d, "/link", false).unwrap(), d.join("link"));
        fs::remove_dir_all(&d).unwrap();
    }
}
