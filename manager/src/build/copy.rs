//! COPY and ADD from the context: which files go where (docker's rules),
//! the hash of what is copied (the cache key and `created_by`'s
//! `file:`/`dir:`/`multi:`), and the layer tar.
//!
//! docker's rules: a relative destination is under WORKDIR; several sources
//! (or a wildcard that matched several) need a destination ending in `/`; a
//! directory source copies its content, not itself; a file goes to `dest`
//! itself unless `dest` ends in `/` or is a directory in the image; the new
//! files belong to 0:0 unless `--chown`; modes and mtimes are kept.

use super::context::{clean, glob_match, has_glob, Context};
use super::BuildError;
use crate::image::digest::Hasher;
use crate::image::merged::Merged;
use fsroot::Entry;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where COPY reads: the context (with .dockerignore) or, for `--from`,
/// another stage's or image's merged root. Paths are relative to its top and
/// never lead out of it.
pub trait Tree {
    /// The entry at `rel`, its last component followed or not.
    fn entry(&self, rel: &Path, follow: bool) -> io::Result<Option<Entry>>;
    /// Calls `f` below the directory at `rel` (paths relative to it),
    /// parents first; `f` says whether to descend.
    fn walk(
        &self,
        rel: &Path,
        f: &mut dyn FnMut(&Path, &Entry) -> io::Result<bool>,
    ) -> io::Result<()>;
    fn excluded(&self, _rel: &str) -> bool {
        false
    }
    fn has_exceptions(&self) -> bool {
        false
    }
}

impl Tree for Context {
    fn entry(&self, rel: &Path, follow: bool) -> io::Result<Option<Entry>> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        match Entry::in_root(self.root.as_fd(), rel, follow) {
            Ok(e) => Ok(Some(e)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn walk(
        &self,
        rel: &Path,
        f: &mut dyn FnMut(&Path, &Entry) -> io::Result<bool>,
    ) -> io::Result<()> {
        let top = gone(self.entry(rel, true), rel)?;
        fsroot::walk(&top, Path::new(""), f)
    }
    fn excluded(&self, rel: &str) -> bool {
        self.ignore.excluded(rel)
    }
    fn has_exceptions(&self) -> bool {
        self.ignore.has_exceptions()
    }
}

/// Another stage's (or image's) root, for `COPY --from`.
pub struct ImageTree(pub Merged);

impl ImageTree {
    /// `rel` with its symlinks resolved inside the image.
    fn real_path(&self, rel: &Path) -> io::Result<PathBuf> {
        let mut out = PathBuf::new();
        for c in rel.components() {
            if let std::path::Component::Normal(n) = c {
                let next = out.join(n);
                match self.0.resolve(&next, false)? {
                    Some(e) if e.meta.file_type().is_symlink() => {
                        let t = e.read_link()?;
                        let joined = if t.is_absolute() { t } else { out.join(t) };
                        out = PathBuf::from(clean(&joined.to_string_lossy()));
                    }
                    _ => out = next,
                }
            }
        }
        Ok(out)
    }

    fn walk_at(
        &self,
        dir: &Path,
        rel: &Path,
        f: &mut dyn FnMut(&Path, &Entry) -> io::Result<bool>,
        depth: usize,
    ) -> io::Result<()> {
        if depth > 256 {
            return Err(io::Error::other("directories nested too deep"));
        }
        for n in self.0.list(&dir.join(rel))? {
            let r = rel.join(&n);
            let Some(e) = self.0.resolve(&dir.join(&r), false)? else {
                continue;
            };
            if f(&r, &e)? && e.meta.is_dir() {
                self.walk_at(dir, &r, f, depth + 1)?;
            }
        }
        Ok(())
    }
}

impl Tree for ImageTree {
    fn entry(&self, rel: &Path, follow: bool) -> io::Result<Option<Entry>> {
        self.0.resolve(rel, follow)
    }
    fn walk(
        &self,
        rel: &Path,
        f: &mut dyn FnMut(&Path, &Entry) -> io::Result<bool>,
    ) -> io::Result<()> {
        let base = self.real_path(rel)?;
        self.walk_at(&base, Path::new(""), f, 0)
    }
}

/// The entry, or an error naming it if it went away since it was planned.
fn gone(e: io::Result<Option<Entry>>, p: &Path) -> io::Result<Entry> {
    e?.ok_or_else(|| io::Error::other(format!("{} disappeared", p.display())))
}

pub struct Item {
    /// Where it is in the context.
    src: PathBuf,
    /// Where it goes, relative to the image's root.
    dest: PathBuf,
    meta: fs::Metadata,
    /// ADD of a local archive: its content is unpacked under `dest`.
    unpack: bool,
}

pub struct Plan {
    items: Vec<Item>,
    /// Directories above the items: the image's own (kept as they are), or new.
    parents: Vec<(PathBuf, Option<fs::Metadata>)>,
    /// `file:<hex>`, `dir:<hex>` or `multi:<hex>`.
    pub hash: String,
    /// None: each file's own (COPY --from), else this uid and gid.
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.parents.is_empty()
    }
}

fn not_found(src: &str) -> BuildError {
    BuildError::Copy(format!(
        "file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
    ))
}

pub struct Request<'a> {
    pub cmd: &'a str,
    pub srcs: &'a [String],
    pub dest: &'a str,
    pub workdir: &'a str,
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
}

/// Resolves the sources against the context and the destination against the image.
pub fn plan(ctx: &dyn Tree, image: &Merged, r: &Request) -> Result<Plan, BuildError> {
    let dest_abs = if r.dest.starts_with('/') {
        clean(r.dest)
    } else {
        clean(&format!("{}/{}", r.workdir, r.dest))
    };
    let in_image = image.resolve(Path::new(&dest_abs), true).ok().flatten();
    let dest_dir = r.dest.ends_with('/')
        || r.dest.ends_with("/.")
        || r.dest == "."
        || dest_abs.is_empty()
        || in_image.as_ref().is_some_and(|e| e.meta.is_dir());
    // The sources, each with its context-relative path.
    let mut sources: Vec<(String, Entry)> = Vec::new();
    for s in r.srcs {
        let rel = clean(s);
        if has_glob(s) {
            let mut hits = Vec::new();
            ctx.walk(Path::new(""), &mut |p, _e| {
                let ps = p.to_string_lossy();
                let hit = glob_match(&rel, &ps) && !ctx.excluded(&ps);
                if hit {
                    hits.push(ps.into_owned());
                }
                Ok(!hit)
            })
            .map_err(ioe("reading the context"))?;
            for h in hits {
                // As a source named in full: a symlink is followed (inside the context).
                let Some(e) = ctx
                    .entry(Path::new(&h), true)
                    .map_err(ioe(format!("reading {h}")))?
                else {
                    continue;
                };
                sources.push((h, e));
            }
            continue;
        }
        if !rel.is_empty() && ctx.excluded(&rel) {
            return Err(not_found(s));
        }
        let e = match ctx.entry(Path::new(&rel), true) {
            Ok(Some(e)) => e,
            Ok(None) => return Err(not_found(s)),
            Err(e) => return Err(ioe(format!("reading {s}"))(e)),
        };
        sources.push((rel, e));
    }
    if sources.is_empty() {
        return Err(BuildError::Copy("no source files were specified".into()));
    }
    if (sources.len() > 1 || r.srcs.len() > 1) && !r.dest.ends_with('/') {
        return Err(BuildError::Copy(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            r.cmd
        )));
    }
    let mut items = Vec::new();
    let mut new_dirs: Vec<PathBuf> = Vec::new();
    for (rel, e) in &sources {
        if e.meta.is_dir() {
            let base = PathBuf::from(&dest_abs);
            // A new destination is made 0755, whatever the source's mode.
            if !dest_abs.is_empty() && in_image.is_none() {
                new_dirs.push(base.clone());
            }
            let mut err = None;
            ctx.walk(Path::new(rel), &mut |p, sub| {
                let ctx_rel = Path::new(rel).join(p);
                let cr = ctx_rel.to_string_lossy();
                if ctx.excluded(&cr) {
                    // A directory left out may still hold a file put back with `!`.
                    return Ok(sub.meta.is_dir() && ctx.has_exceptions());
                }
                let ft = sub.meta.file_type();
                if ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket() {
                    return Ok(false);
                }
                items.push(Item {
                    src: ctx_rel.clone(),
                    dest: base.join(p),
                    meta: sub.meta.clone(),
                    unpack: false,
                });
                Ok(true)
            })
            .unwrap_or_else(|e| err = Some(e));
            if let Some(e) = err {
                return Err(ioe(format!("reading {rel}"))(e));
            }
        } else if r.cmd == "ADD" && e.meta.is_file() && is_archive(e) {
            new_dirs.push(PathBuf::from(&dest_abs));
            items.push(Item {
                src: PathBuf::from(rel),
                dest: PathBuf::from(&dest_abs),
                meta: e.meta.clone(),
                unpack: true,
            });
        } else {
            let name = Path::new(rel)
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default();
            let dest = if dest_dir {
                PathBuf::from(&dest_abs).join(name)
            } else {
                PathBuf::from(&dest_abs)
            };
            items.push(Item {
                src: PathBuf::from(rel),
                dest,
                meta: e.meta.clone(),
                unpack: false,
            });
        }
    }
    // A path named twice (a file and a wildcard that matches it) is copied
    // once, as the later copy would have left it: a layer never holds a
    // path twice (docker refuses such a layer).
    let mut last = std::collections::HashMap::new();
    for (n, i) in items.iter().enumerate() {
        last.insert(i.dest.clone(), n);
    }
    let items: Vec<Item> = items
        .into_iter()
        .enumerate()
        .filter(|(n, i)| last[&i.dest] == *n)
        .map(|(_, i)| i)
        .collect();
    // Parents, outermost first, that the items do not bring themselves.
    let own: BTreeSet<PathBuf> = items.iter().map(|i| i.dest.clone()).collect();
    let mut parents = Vec::new();
    let mut seen = BTreeSet::new();
    // Every directory that holds an item, and the new destinations themselves.
    let tops: Vec<PathBuf> = items
        .iter()
        .filter_map(|i| i.dest.parent().map(Path::to_path_buf))
        .chain(new_dirs.iter().cloned())
        .collect();
    for top in &tops {
        let mut anc: Vec<PathBuf> = top
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .collect();
        anc.reverse();
        for a in anc {
            if own.contains(&a) || !seen.insert(a.clone()) {
                continue;
            }
            let have = image.resolve(&a, false).ok().flatten();
            match have {
                Some(h) if h.meta.is_dir() => parents.push((a, Some(h.meta))),
                // A symlink in the image: the kernel follows it on unpack; leave it be.
                Some(_) => {}
                None => parents.push((a, None)),
            }
        }
    }
    let mut h = Hasher::new();
    for i in &items {
        h.update(i.dest.as_os_str().as_encoded_bytes());
        h.update(format!("\0{:o}\0{}\0", i.meta.mode(), i.meta.len()).as_bytes());
        if i.meta.file_type().is_symlink() {
            let e = gone(ctx.entry(&i.src, false), &i.src).map_err(ioe("reading a source"))?;
            h.update(
                e.read_link()
                    .map_err(ioe("reading a link"))?
                    .as_os_str()
                    .as_encoded_bytes(),
            );
        } else if i.meta.is_file() {
            let e = gone(ctx.entry(&i.src, true), &i.src).map_err(ioe("reading a source"))?;
            let mut f = e
                .open_file()
                .map_err(ioe(format!("reading {}", i.src.display())))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(ioe(format!("reading {}", i.src.display())))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
    }
    let kind = match sources.as_slice() {
        [(_, e)] if e.meta.is_dir() => "dir",
        [_] => "file",
        _ => "multi",
    };
    Ok(Plan {
        items,
        parents,
        hash: format!("{kind}:{}", h.finish().hex()),
        owner: r.owner,
        chmod: r.chmod,
    })
}

fn ioe(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> BuildError {
    let what = what.to_string();
    move |source| BuildError::Io { what, source }
}

/// The layer: the parents, then the items, as a tar.
pub fn write_tar<W: Write>(ctx: &dyn Tree, p: &Plan, w: W) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    let now = crate::image::time::now_unix().max(0) as u64;
    for (rel, meta) in &p.parents {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        match meta {
            Some(m) => {
                h.set_mode(m.mode() & 0o7777);
                h.set_uid(m.uid().into());
                h.set_gid(m.gid().into());
                h.set_mtime(m.mtime().max(0) as u64);
            }
            None => {
                h.set_mode(0o755);
                let (u, g) = p.owner.unwrap_or((0, 0));
                h.set_uid(u.into());
                h.set_gid(g.into());
                h.set_mtime(now);
            }
        }
        b.append_data(&mut h, rel, io::empty())?;
    }
    for i in &p.items {
        if i.unpack {
            let e = gone(ctx.entry(&i.src, true), &i.src)?;
            // The archive's owners stay, --chown or not (docker's classic builder).
            unpack_into(&mut b, e.open_file()?, &i.dest)?;
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&i.meta, tar::HeaderMode::Complete);
        if let Some((u, g)) = p.owner {
            h.set_uid(u.into());
            h.set_gid(g.into());
        }
        if let Some(m) = p.chmod {
            h.set_mode(m);
        }
        let ft = i.meta.file_type();
        if ft.is_file() {
            let e = gone(ctx.entry(&i.src, true), &i.src)?;
            let n = i.meta.len();
            let data = e.open_file()?.take(n).chain(io::repeat(0)).take(n);
            b.append_data(&mut h, &i.dest, data)?;
        } else if ft.is_symlink() {
            let e = gone(ctx.entry(&i.src, false), &i.src)?;
            h.set_size(0);
            b.append_link(&mut h, &i.dest, e.read_link()?)?;
        } else if ft.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, &i.dest, io::empty())?;
        }
    }
    b.into_inner()
}

/// Whether ADD unpacks this file: a tar, maybe gzip or zstd compressed,
/// known by a valid first header (as docker's classic builder knows it).
fn is_archive(e: &Entry) -> bool {
    let Ok(f) = e.open_file() else {
        return false;
    };
    let Ok(mut dec) = crate::image::layers::decompress(f) else {
        return false;
    };
    let mut block = [0u8; 512];
    if dec.read_exact(&mut block).is_err() {
        return false;
    }
    let h = tar::Header::from_byte_slice(&block);
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    block.iter().any(|b| *b != 0) && h.cksum().is_ok_and(|c| c == sum)
}

/// Copies an archive's entries under `dest`, their paths kept inside it.
fn unpack_into<W: Write>(b: &mut tar::Builder<W>, f: fs::File, dest: &Path) -> io::Result<()> {
    let dec = crate::image::layers::decompress(f)?;
    let mut ar = tar::Archive::new(dec);
    for entry in ar.entries()? {
        let mut e = entry?;
        let rel = clean(&e.path()?.to_string_lossy());
        if rel.is_empty() {
            continue;
        }
        let mut h = e.header().clone();
        let path = dest.join(&rel);
        match h.entry_type() {
            tar::EntryType::Link => {
                let target = e
                    .link_name()?
                    .map(|t| clean(&t.to_string_lossy()))
                    .unwrap_or_default();
                h.set_size(0);
                b.append_link(&mut h, &path, dest.join(target))?;
            }
            tar::EntryType::Symlink => {
                let target = e.link_name()?.map(|t| t.into_owned()).unwrap_or_default();
                h.set_size(0);
                b.append_link(&mut h, &path, target)?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            _ => {
                b.append_data(&mut h, &path, &mut e)?;
            }
        }
    }
    Ok(())
}
