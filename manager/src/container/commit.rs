//! The container's own layer (its overlay upper dir): `diff`, `commit` (a
//! new image = the base's layers + this one as a tar with OCI whiteouts),
//! and `export` (the merged root as a tar).

use super::store::{Container, ContainerStore, Status};
use super::{ioe, Result};
use crate::image::digest::{chain_ids, Digest, HashingWriter};
use crate::image::import::apply_change;
use crate::image::merged::{is_opaque, Merged};
use crate::image::store::Store;
use crate::image::types::{ContainerConfig, Descriptor, History, Manifest};
use fsroot::Entry;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Calls `f` on every entry of the upper dir, parents first, names sorted.
/// The dir is the container's to change while we read it: the walk is on fds
/// and never follows a symlink (see the fsroot crate).
fn walk(upper: &Path, f: &mut dyn FnMut(&Path, &Entry) -> io::Result<()>) -> io::Result<()> {
    let top = Entry::of(fsroot::open_dir(upper)?)?;
    fsroot::walk(&top, Path::new(""), &mut |r, e| f(r, e).map(|_| true))
}

/// The host's user and group names of `uid` and `gid`, looked up once each.
fn owner_names(uid: u32, gid: u32) -> (Option<String>, Option<String>) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Names = HashMap<(bool, u32), Option<String>>;
    static CACHE: Mutex<Option<Names>> = Mutex::new(None);
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let c = c.get_or_insert_with(HashMap::new);
    let u = c
        .entry((true, uid))
        .or_insert_with(|| {
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .clone();
    let g = c
        .entry((false, gid))
        .or_insert_with(|| {
            nix::unistd::Group::from_gid(gid.into())
                .ok()
                .flatten()
                .map(|g| g.name)
        })
        .clone();
    (u, g)
}

/// Appends one entry, read from its fd, to a tar.
pub(crate) fn append<W: Write>(b: &mut tar::Builder<W>, rel: &Path, e: &Entry) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    // The whole st_mode, file type bits included: docker's pkg/archive puts
    // them back into what Go's archive/tar writes (fillGo18FileTypeBits), so
    // its export, cp and layer tars read 0o100644, 0o40755, 0o120777.
    h.set_metadata_in_mode(&e.meta, tar::HeaderMode::Complete);
    // Owner names as Go's archive/tar gives them: the host's names for the ids.
    let (u, g) = owner_names(e.meta.uid(), e.meta.gid());
    if let Some(u) = u {
        h.set_username(&u)?;
    }
    if let Some(g) = g {
        h.set_groupname(&g)?;
    }
    let ft = e.meta.file_type();
    if ft.is_file() {
        // A live file may change size while read: exactly the size the
        // header says is written, cut or padded with zeros.
        let n = e.meta.len();
        let data = e.open_file()?.take(n).chain(io::repeat(0)).take(n);
        return b.append_data(&mut h, rel, data);
    }
    h.set_size(0);
    if ft.is_symlink() {
        return b.append_link(&mut h, rel, e.read_link()?);
    }
    if ft.is_char_device() || ft.is_block_device() {
        let rdev = e.meta.rdev();
        h.set_device_major(libc::major(rdev))?;
        h.set_device_minor(libc::minor(rdev))?;
    } else if ft.is_socket() {
        // Sockets have no tar form (docker skips them too).
        return Ok(());
    }
    b.append_data(&mut h, rel, io::empty())
}

/// docker diff: `A /added`, `C /changed`, `D /deleted`.
pub fn diff(root: &Path, name: &str) -> Result<Vec<String>> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let images = Store::open(root)?;
    let img = images.resolve(&c.image_id)?;
    let lowers =
        Merged::open(&images.layer_dirs(&img)).map_err(ioe("opening the image's layers"))?;
    let upper = cs.dir_of(&c.id).join("upper");
    let mut out = Vec::new();
    walk(&upper, &mut |rel, e| {
        if is_mount_target(rel, e) {
            return Ok(());
        }
        let kind = if is_whiteout(&e.meta) {
            'D'
        } else if lowers.exists(rel) {
            'C'
        } else {
            'A'
        };
        out.push(format!("{kind} /{}", rel.display()));
        Ok(())
    })
    .map_err(ioe("reading the container's layer"))?;
    // /etc changed only by the mount targets made in it is not a change.
    if !out.iter().any(|l| l[2..].starts_with("/etc/")) {
        out.retain(|l| l != "C /etc");
    }
    Ok(out)
}

/// The empty files made in the upper dir for the bind mounts of
/// /etc/hostname, /etc/hosts and /etc/resolv.conf: docker keeps these in
/// an init layer of its own, so neither its diff nor its commit shows them.
fn is_mount_target(rel: &Path, e: &Entry) -> bool {
    e.meta.is_file()
        && e.meta.len() == 0
        && ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
            .iter()
            .any(|p| rel == Path::new(p))
}

/// Writes the upper dir as a layer tar: whiteouts become `.wh.` files.
fn layer_tar<W: Write>(upper: &Path, w: W) -> io::Result<W> {
    layer_tar_filtered(upper, w, &|_| false)
}

/// `layer_tar` without the entries `skip` names (build leaves out the
/// mount points the runtime made, which docker keeps in an init layer).
pub(crate) fn layer_tar_filtered<W: Write>(
    upper: &Path,
    w: W,
    skip: &dyn Fn(&Path) -> bool,
) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    walk(upper, &mut |rel, e| {
        if is_mount_target(rel, e) || skip(rel) {
            return Ok(());
        }
        if is_whiteout(&e.meta) {
            let name = rel.file_name().unwrap_or_default().to_string_lossy();
            let wh = rel.with_file_name(format!(".wh.{name}"));
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mtime(e.meta.mtime().max(0) as u64);
            return b.append_data(&mut h, &wh, io::empty());
        }
        append(&mut b, rel, e)?;
        if is_opaque(e) {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, rel.join(".wh..wh..opq"), io::empty())?;
        }
        Ok(())
    })?;
    b.into_inner()
}

/// The container's config, which becomes the image's as in docker: its
/// command, env, working dir, user and labels over the base image's. The
/// record keeps the whole argv: the base's entrypoint is split off when it
/// leads it, else its first word was an --entrypoint.
fn container_config(c: &Container, mut cc: ContainerConfig) -> ContainerConfig {
    let ep = cc.entrypoint.clone().unwrap_or_default();
    if !c.args.is_empty() {
        if c.args.starts_with(&ep) {
            cc.cmd = Some(c.args[ep.len()..].to_vec());
        } else {
            cc.entrypoint = Some(c.args[..1].to_vec());
            cc.cmd = Some(c.args[1..].to_vec());
        }
    }
    // HOSTNAME (and TERM for a tty) are berth's additions to the process,
    // not the container's config.
    let env: Vec<String> = c
        .env
        .iter()
        .filter(|e| !(e.starts_with("HOSTNAME=") || c.tty && *e == "TERM=xterm"))
        .cloned()
        .collect();
    if !env.is_empty() {
        cc.env = Some(env);
    }
    if !c.working_dir.is_empty() {
        cc.working_dir = Some(c.working_dir.clone());
    }
    if !c.user.is_empty() {
        cc.user = Some(c.user.clone());
    }
    if !c.labels.is_empty() {
        cc.labels
            .get_or_insert_with(Default::default)
            .extend(c.labels.clone());
    }
    cc
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
    let mut cc = container_config(&c, config.config.clone().unwrap_or_default());
    for ch in &o.changes {
        apply_change(&mut cc, ch)?;
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
    config.comment = o.message.clone();
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
        let dev = rootfs.meta.dev();
        fsroot::walk(rootfs, Path::new(""), &mut |rel, e| {
            append(&mut b, rel, e)?;
            Ok(e.meta.dev() == dev)
        })?;
        b.into_inner()
    })
}
