//! An image's root as overlayfs will show it, read from its unpacked layers
//! without mounting them: whiteouts and opaque directories hide what is
//! below, and symlinks are followed through the merged view as if its top
//! were `/`. The layers are the image author's: no symlink in them is ever
//! followed by the kernel from the host's view (see the fsroot crate).

use fsroot::Entry;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The most a file read from an image (passwd, group) may hold.
pub const READ_LIMIT: u64 = 16 << 20;

pub struct Merged {
    /// Layer roots, top first.
    layers: Vec<Entry>,
}

fn is_whiteout(e: &Entry) -> bool {
    e.meta.file_type().is_char_device() && e.meta.rdev() == 0
}

pub fn is_opaque(e: &Entry) -> bool {
    e.meta.is_dir() && e.xattr(c"trusted.overlay.opaque").as_deref() == Some(b"y")
}

impl Merged {
    /// `dirs`: the layers' diff dirs, top first (`Store::layer_dirs`).
    pub fn open(dirs: &[PathBuf]) -> io::Result<Merged> {
        let layers = dirs
            .iter()
            .map(|d| Entry::of(fsroot::open_dir(d)?))
            .collect::<io::Result<_>>()?;
        Ok(Merged { layers })
    }

    /// The entry visible at `comps`, none of which is followed: the top-most
    /// layer that has it, unless a whiteout, an opaque directory or a
    /// non-directory above hides it.
    fn lookup(&self, comps: &[OsString]) -> io::Result<Option<Entry>> {
        'layers: for layer in &self.layers {
            let mut hides_below = false;
            let mut cur: Option<Entry> = None;
            for (i, c) in comps.iter().enumerate() {
                let dir = cur.as_ref().unwrap_or(layer);
                let e = match Entry::at(dir.fd.as_fd(), c) {
                    Ok(e) => e,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT)) => {
                        if hides_below {
                            return Ok(None);
                        }
                        continue 'layers;
                    }
                    Err(e) => return Err(e),
                };
                if is_whiteout(&e) {
                    return Ok(None);
                }
                if i + 1 == comps.len() {
                    return Ok(Some(e));
                }
                if !e.meta.is_dir() {
                    // A file or symlink here shadows every lower directory.
                    return Ok(None);
                }
                hides_below |= is_opaque(&e);
                cur = Some(e);
            }
            // No components: the root itself, from the top layer.
            return Ok(Some(Entry::of(fsroot::openat(
                layer.fd.as_fd(),
                ".".as_ref(),
                libc::O_PATH,
                0,
            )?)?));
        }
        Ok(None)
    }

    /// The names visible in the directory at `rel` (not followed), sorted:
    /// every layer's down to an opaque one, less what a whiteout hides.
    pub fn list(&self, rel: &Path) -> io::Result<Vec<OsString>> {
        let comps: Vec<OsString> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                _ => None,
            })
            .collect();
        let mut seen = std::collections::BTreeMap::new();
        'layers: for layer in &self.layers {
            let mut cur: Option<Entry> = None;
            let mut opaque = false;
            for c in &comps {
                let dir = cur.as_ref().unwrap_or(layer);
                match Entry::at(dir.fd.as_fd(), c) {
                    Ok(e) if e.meta.is_dir() => {
                        opaque |= is_opaque(&e);
                        cur = Some(e)
                    }
                    Ok(_) => break 'layers,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue 'layers,
                    Err(e) => return Err(e),
                }
            }
            let dir = cur.as_ref().unwrap_or(layer);
            for n in dir.names()? {
                let e = Entry::at(dir.fd.as_fd(), &n)?;
                seen.entry(n).or_insert(!is_whiteout(&e));
            }
            if opaque {
                break;
            }
        }
        Ok(seen
            .into_iter()
            .filter(|(_, v)| *v)
            .map(|(k, _)| k)
            .collect())
    }

    /// Whether anything is visible at `rel` (not followed).
    pub fn exists(&self, rel: &Path) -> bool {
        let comps: Vec<OsString> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                _ => None,
            })
            .collect();
        matches!(self.lookup(&comps), Ok(Some(_)))
    }

    /// `path` resolved in the merged root, symlinks followed inside it (at
    /// most 40, like the kernel); the last one only when `follow_last`.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> io::Result<Option<Entry>> {
        let mut todo: Vec<OsString> = Vec::new();
        push_rev(&mut todo, path);
        let mut cur: Vec<OsString> = Vec::new();
        let mut links = 0;
        let mut last: Option<Entry> = None;
        while let Some(c) = todo.pop() {
            match c.to_str() {
                Some(".") => continue,
                Some("..") => {
                    cur.pop();
                    last = None;
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let Some(e) = self.lookup(&cur)? else {
                return Ok(None);
            };
            if e.meta.file_type().is_symlink() && (!todo.is_empty() || follow_last) {
                links += 1;
                if links > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = e.read_link()?;
                cur.pop();
                if target.is_absolute() {
                    cur.clear();
                }
                push_rev(&mut todo, &target);
                last = None;
            } else if !todo.is_empty() && !e.meta.is_dir() {
                return Ok(None);
            } else {
                last = Some(e);
            }
        }
        match last {
            Some(e) => Ok(Some(e)),
            None => self.lookup(&cur),
        }
    }

    /// The content of the regular file at `path` (symlinks followed inside
    /// the image), if there is one.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let e = self.resolve(path, true).ok()??;
        fsroot::read_entry(&e, READ_LIMIT).ok()
    }
}

/// Pushes the components of `p` so the first pops first.
fn push_rev(todo: &mut Vec<OsString>, p: &Path) {
    for c in p.components().rev() {
        match c {
            Component::Normal(n) => todo.push(n.to_owned()),
            Component::ParentDir => todo.push("..".into()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_through_the_merged_view_and_never_the_host() {
        let d = std::env::temp_dir().join(format!("berth-merged-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let (lower, upper, host) = (d.join("lower"), d.join("upper"), d.join("host"));
        for p in [
            lower.join("etc"),
            lower.join("real"),
            upper.clone(),
            host.join("etc"),
        ] {
            fs::create_dir_all(p).unwrap();
        }
        fs::write(host.join("etc/passwd"), "root:x:4242:0::/:/bin/sh\n").unwrap();
        fs::write(lower.join("etc/passwd"), "lower\n").unwrap();
        fs::write(lower.join("real/group"), "in-image\n").unwrap();
        // The top layer replaces etc by a symlink to a host path, and links
        // a file through an intermediate absolute symlink.
        symlink(host.join("etc"), upper.join("etc")).unwrap();
        symlink("/real", upper.join("r")).unwrap();
        let m = Merged::open(&[upper, lower.clone()]).unwrap();
        assert_eq!(m.read(Path::new("etc/passwd")), None);
        assert_eq!(m.read(Path::new("/r/group")).unwrap(), b"in-image\n");
        assert_eq!(
            m.read(Path::new("/r/../r/../real/group")).unwrap(),
            b"in-image\n"
        );
        assert!(m.exists(Path::new("real/group")));
        assert!(!m.exists(Path::new("etc/passwd")));
        // Without the upper layer the lower's file shows.
        let m = Merged::open(std::slice::from_ref(&lower)).unwrap();
        assert_eq!(m.read(Path::new("etc/passwd")).unwrap(), b"lower\n");
        fs::remove_dir_all(&d).unwrap();
    }
}
