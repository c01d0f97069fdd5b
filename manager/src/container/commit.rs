//! The container's own layer (its overlay upper dir): `diff`, `commit` (a
//! new image = the base's layers + this one as a tar with OCI whiteouts),
//! and `export` (the merged root as a tar).

use super::store::{Container, ContainerStore, Status};
use super::{ioe, ContainerError, Result};
use crate::image::digest::{chain_ids, Digest, HashingWriter};
use crate::image::import::apply_change;
use crate::image::store::Store;
use crate::image::types::{Descriptor, History, Manifest};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: reads at most 4 bytes of one xattr into buf.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Entries of the upper dir, parents first: (path relative to /, metadata).
fn walk(upper: &Path) -> io::Result<Vec<(PathBuf, fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(upper.join(&rel))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names.into_iter().rev() {
            let r = rel.join(&n);
            let m = fs::symlink_metadata(upper.join(&r))?;
            if m.is_dir() {
                stack.push(r.clone());
            }
            out.push((r, m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn in_image(lowers: &[PathBuf], rel: &Path) -> bool {
    lowers
        .iter()
        .any(|l| fs::symlink_metadata(l.join(rel)).is_ok_and(|m| !is_whiteout(&m)))
}

/// docker diff: `A /added`, `C /changed`, `D /deleted`.
pub fn diff(root: &Path, name: &str) -> Result<Vec<String>> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let images = Store::open(root)?;
    let img = images.resolve(&c.image_id)?;
    let lowers = images.layer_dirs(&img);
    let upper = cs.dir_of(&c.id).join("upper");
    let mut out = Vec::new();
    for (rel, m) in walk(&upper).map_err(ioe("reading the container's layer"))? {
        let kind = if is_whiteout(&m) {
            'D'
        } else if in_image(&lowers, &rel) {
            'C'
        } else {
            'A'
        };
        out.push(format!("{kind} /{}", rel.display()));
    }
    Ok(out)
}

/// Writes the upper dir as a layer tar: whiteouts become `.wh.` files.
fn layer_tar<W: Write>(upper: &Path, w: W) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    for (rel, m) in walk(upper)? {
        let p = upper.join(&rel);
        if is_whiteout(&m) {
            let name = rel.file_name().unwrap_or_default().to_string_lossy();
            let wh = rel.with_file_name(format!(".wh.{name}"));
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mtime(m.mtime().max(0) as u64);
            b.append_data(&mut h, &wh, io::empty())?;
            continue;
        }
        b.append_path_with_name(&p, &rel)?;
        if m.is_dir() && is_opaque(&p) {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, rel.join(".wh..wh..opq"), io::empty())?;
        }
    }
    b.into_inner()
}

pub struct CommitOptions {
    pub reference: Option<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
    pub pause: bool,
}

/// A new image: the container's image plus its changes as one more layer.
pub fn commit(root: &Path, name: &str, o: &CommitOptions) -> Result<Digest> {
    let cs = ContainerStore::open(root)?;
    let c: Container = cs.find(name)?;
    let images = Store::open(root)?;
    let base = images.resolve(&c.image_id)?;
    let mut config = base.config.clone();
    let mut cc = config.config.clone().unwrap_or_default();
    for ch in &o.changes {
        apply_change(&mut cc, ch).map_err(|e| ContainerError::Other(e.to_string()))?;
    }
    let names = match &o.reference {
        Some(r) => vec![images
            .parse_reference(r)?
            .tagged_name()
            .ok_or_else(|| super::bad("image name", r, "expected NAME[:TAG]"))?],
        None => vec![],
    };
    let _w = images.writer_lock()?;
    let tmp = images.tmp_path("commit");
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(tmp.clone());
    let running = cs.state(&c).status == Status::Running;
    let frozen = running && o.pause && freeze(&c.id, true);
    let res = (|| {
        let f = fs::File::create(&tmp)?;
        let hw = layer_tar(&cs.dir_of(&c.id).join("upper"), HashingWriter::new(f))?;
        let (d, size, mut f) = hw.finish();
        f.flush()?;
        Ok::<_, io::Error>((d, size))
    })();
    if frozen {
        freeze(&c.id, false);
    }
    let (diff_id, size) = res.map_err(ioe("writing the container's layer"))?;
    let mut diff_ids = config.rootfs.diff_ids.clone();
    diff_ids.push(diff_id.clone());
    let chain = chain_ids(&diff_ids).pop().expect("one chain id");
    let f = fs::File::open(&tmp).map_err(ioe("reading the layer back"))?;
    let (blob, blob_size) = images.ingest_layer(f, None, &diff_id, &chain, true, true)?;
    debug_assert_eq!(blob_size, size);
    let now = crate::image::time::format_rfc3339(crate::image::time::now_unix());
    config.rootfs.diff_ids = diff_ids;
    config.created = Some(now.clone());
    if o.author.is_some() {
        config.author = o.author.clone();
    }
    config.config = Some(cc);
    config.history.push(History {
        created: Some(now),
        created_by: Some(c.args.join(" ")),
        author: o.author.clone(),
        comment: o.message.clone(),
        empty_layer: false,
    });
    let config_raw = serde_json::to_vec(&config).expect("config");
    let config_digest = images.put_blob(&config_raw)?;
    let docker = base.manifest.media_type.as_deref() == Some(crate::image::types::DOCKER_MANIFEST);
    let mut manifest: Manifest = base.manifest.clone();
    manifest.config = Descriptor {
        media_type: if docker {
            crate::image::types::DOCKER_CONFIG.into()
        } else {
            crate::image::types::OCI_CONFIG.into()
        },
        digest: config_digest.clone(),
        size: config_raw.len() as u64,
        platform: None,
        annotations: None,
        urls: None,
    };
    manifest.layers.push(Descriptor {
        media_type: if docker {
            "application/vnd.docker.image.rootfs.diff.tar".into()
        } else {
            crate::image::types::OCI_LAYER.into()
        },
        digest: blob,
        size: blob_size,
        platform: None,
        annotations: None,
        urls: None,
    });
    let md = images.put_blob(&serde_json::to_vec(&manifest).expect("manifest"))?;
    images.commit_image(&md, &names, None)?;
    Ok(config_digest)
}

/// Freezes (or thaws) a v1 cgroup so the layer is read at rest; false if not possible.
fn freeze(id: &str, on: bool) -> bool {
    let p = format!("/sys/fs/cgroup/freezer/berth/{id}/freezer.state");
    fs::write(&p, if on { "FROZEN" } else { "THAWED" }).is_ok()
}

/// Writes the container's merged root as a tar (mount points inside are skipped).
pub fn export<W: Write>(root: &Path, name: &str, w: W) -> Result<W> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    super::lifecycle::with_rootfs(root, &c, |rootfs| {
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        let dev = fs::symlink_metadata(rootfs)?.dev();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let mut names: Vec<_> = fs::read_dir(rootfs.join(&rel))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for n in names.into_iter().rev() {
                let r = rel.join(&n);
                let p = rootfs.join(&r);
                let m = fs::symlink_metadata(&p)?;
                b.append_path_with_name(&p, &r)?;
                if m.is_dir() && m.dev() == dev {
                    stack.push(r);
                }
            }
        }
        b.into_inner()
    })
}
