//! Layer tarballs: decompression by magic number and a safe unpacker that
//! turns OCI/aufs whiteouts into overlayfs form.
//!
//! The unpacker never writes outside `dest`: entries with `..`, absolute
//! paths, parents that are symlinks, or hardlinks whose target is unsafe are
//! refused, so a layer from an untrusted registry cannot touch the host.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("unsafe layer entry {path:?}: {reason}")]
    Unsafe { path: String, reason: &'static str },
    #[error("layer entry {path:?}: {source}")]
    Io { path: String, source: io::Error },
    #[error("reading layer tar: {0}")]
    Tar(io::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Looks at the first bytes: media types in the wild are not always honest.
pub fn sniff<R: BufRead>(r: &mut R) -> io::Result<Compression> {
    let buf = r.fill_buf()?;
    Ok(if buf.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if buf.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A reader of the uncompressed tar, whatever the compression of `r`.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(128 * 1024, r);
    Ok(match sniff(&mut br)? {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(br)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?,
        ),
    })
}

/// A tar path made relative and checked: no `..`, not absolute. Empty means the root.
pub fn clean_path(p: &Path) -> Result<PathBuf, LayerError> {
    let unsafe_ = |reason| LayerError::Unsafe {
        path: p.display().to_string(),
        reason,
    };
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_("path contains \"..\"")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_("absolute path")),
        }
    }
    Ok(out)
}

/// Makes sure every parent of `rel` is a real directory inside `dest`,
/// creating missing ones; a symlink on the way is refused because writing
/// through it could land outside the layer.
fn ensure_parents(dest: &Path, rel: &Path, shown: &Path) -> Result<(), LayerError> {
    let mut cur = dest.to_path_buf();
    let parent = match rel.parent() {
        Some(p) => p,
        None => return Ok(()),
    };
    for c in parent.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(LayerError::Unsafe {
                    path: shown.display().to_string(),
                    reason: "path goes through a symlink",
                })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(LayerError::Unsafe {
                    path: shown.display().to_string(),
                    reason: "a parent is not a directory",
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).map_err(io_err(&cur))?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                    .map_err(io_err(&cur))?;
            }
            Err(e) => return Err(io_err(&cur)(e)),
        }
    }
    Ok(())
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn check(ret: libc::c_int, p: &Path) -> Result<(), LayerError> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io_err(p)(io::Error::last_os_error()))
    }
}

fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> Result<(), LayerError> {
    // SAFETY: plain syscall on a NUL-terminated path.
    check(unsafe { libc::mknod(cstr(p).as_ptr(), mode, dev) }, p)
}

pub fn lsetxattr(p: &Path, key: &str, value: &[u8]) -> Result<(), LayerError> {
    let k = CString::new(key).map_err(|_| LayerError::Unsafe {
        path: key.to_string(),
        reason: "xattr name has NUL",
    })?;
    // SAFETY: pointers valid for the call.
    check(
        unsafe {
            libc::lsetxattr(
                cstr(p).as_ptr(),
                k.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        },
        p,
    )
}

fn set_times(p: &Path, mtime: u64) -> Result<(), LayerError> {
    let ts = libc::timespec {
        tv_sec: mtime as _,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    // SAFETY: valid path and timespec array.
    check(
        unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                cstr(p).as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        p,
    )
}

/// Removes whatever sits at `p` (a later tar entry replaces an earlier one).
fn remove_existing(p: &Path, keep_dir: bool) -> Result<(), LayerError> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            if !keep_dir {
                fs::remove_dir_all(p).map_err(io_err(p))?;
            }
        }
        Ok(_) => fs::remove_file(p).map_err(io_err(p))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(p)(e)),
    }
    Ok(())
}

/// Copies `r` into the new file `f`, leaving holes where whole blocks are
/// zero: a GNU sparse entry of a few bytes that reads as 1 GiB of zeros
/// (or a plain one) then costs the disk what it holds, not its length.
fn copy_sparse<R: Read>(r: &mut R, f: &mut fs::File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom, Write};
    const BLOCK: usize = 64 << 10;
    static ZEROS: [u8; BLOCK] = [0; BLOCK];
    let mut buf = vec![0u8; BLOCK];
    let mut len = 0u64;
    let mut hole = false;
    loop {
        // Fill a whole block (a short read is not the end).
        let mut n = 0;
        while n < BLOCK {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        // Slice equality is a memcmp, fast in a debug build too.
        if n == BLOCK && buf[..] == ZEROS[..] {
            f.seek(SeekFrom::Current(n as i64))?;
            hole = true;
        } else {
            f.write_all(&buf[..n])?;
            hole = false;
        }
        len += n as u64;
    }
    if hole {
        // A trailing hole is only a length.
        f.set_len(len)?;
    }
    Ok(len)
}

/// Fails once more than `limit` bytes were read: a store's bound on what one
/// layer may unpack to, whatever its compressed size.
pub struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            read: 0,
            limit,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(format!(
                "unpacks to more than {} bytes, the store's max_layer_size",
                self.limit
            )));
        }
        Ok(n)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackStats {
    pub entries: u64,
}

/// Unpacks an uncompressed layer tar into `dest` (an existing, empty dir),
/// converting `.wh.<name>` to a 0/0 character device and `.wh..wh..opq` to
/// the `trusted.overlay.opaque=y` xattr on its directory.
pub fn unpack<R: Read>(r: R, dest: &Path) -> Result<UnpackStats, LayerError> {
    let mut ar = tar::Archive::new(r);
    let mut stats = UnpackStats::default();
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries().map_err(LayerError::Tar)? {
        let mut e = entry.map_err(LayerError::Tar)?;
        stats.entries += 1;
        let raw = e.path().map_err(LayerError::Tar)?.into_owned();
        let rel = clean_path(&raw)?;
        let kind = e.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let full = dest.join(&rel);
        let name = rel
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        if !rel.as_os_str().is_empty() {
            ensure_parents(dest, &rel, &raw)?;
        }
        if let Some(target) = name.strip_prefix(b".wh.") {
            let parent = full.parent().unwrap_or(dest).to_path_buf();
            if target == b".wh..opq" {
                lsetxattr(&parent, "trusted.overlay.opaque", b"y")?;
            } else {
                if target.is_empty() || target == b".." || target == b"." {
                    return Err(LayerError::Unsafe {
                        path: raw.display().to_string(),
                        reason: "whiteout of nothing",
                    });
                }
                let victim = parent.join(std::ffi::OsStr::from_bytes(target));
                remove_existing(&victim, false)?;
                mknod(&victim, libc::S_IFCHR, 0)?;
            }
            continue;
        }
        let hdr = e.header();
        let mode = hdr.mode().map_err(LayerError::Tar)? & 0o7777;
        let uid = hdr.uid().map_err(LayerError::Tar)? as libc::uid_t;
        let gid = hdr.gid().map_err(LayerError::Tar)? as libc::gid_t;
        let mtime = hdr.mtime().unwrap_or(0);
        let is_dir = kind == tar::EntryType::Directory;
        if !rel.as_os_str().is_empty() {
            remove_existing(&full, is_dir)?;
        }
        match kind {
            tar::EntryType::Directory => {
                if !full.is_dir() {
                    fs::create_dir(&full).map_err(io_err(&full))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&full)
                    .map_err(io_err(&full))?;
                copy_sparse(&mut e, &mut f).map_err(io_err(&full))?;
            }
            tar::EntryType::Symlink => {
                let target =
                    e.link_name()
                        .map_err(LayerError::Tar)?
                        .ok_or_else(|| LayerError::Unsafe {
                            path: raw.display().to_string(),
                            reason: "symlink without a target",
                        })?;
                std::os::unix::fs::symlink(&target, &full).map_err(io_err(&full))?;
            }
            tar::EntryType::Link => {
                let target =
                    e.link_name()
                        .map_err(LayerError::Tar)?
                        .ok_or_else(|| LayerError::Unsafe {
                            path: raw.display().to_string(),
                            reason: "hardlink without a target",
                        })?;
                let trel = clean_path(&target).map_err(|_| LayerError::Unsafe {
                    path: raw.display().to_string(),
                    reason: "hardlink target outside the layer",
                })?;
                ensure_parents(dest, &trel, &raw)?;
                let tfull = dest.join(&trel);
                match fs::symlink_metadata(&tfull) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(LayerError::Unsafe {
                            path: raw.display().to_string(),
                            reason: "hardlink target is not an earlier file of this layer",
                        })
                    }
                }
                // std's hard_link uses linkat without AT_SYMLINK_FOLLOW: a
                // symlink target is linked itself, never followed.
                fs::hard_link(&tfull, &full).map_err(io_err(&full))?;
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let t = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                mknod(&full, t | 0o600, libc::makedev(major, minor))?;
            }
            other => {
                log::warn!(
                    "skipping layer entry {:?} of unsupported type {:?}",
                    raw,
                    other
                );
                continue;
            }
        }
        // SAFETY: plain syscall.
        check(
            unsafe { libc::lchown(cstr(&full).as_ptr(), uid, gid) },
            &full,
        )?;
        if let Some(exts) = e.pax_extensions().map_err(LayerError::Tar)? {
            for ext in exts {
                let ext = ext.map_err(LayerError::Tar)?;
                if let Some(key) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    // overlayfs reads trusted.overlay.* (redirects, metacopy,
                    // opaque) as instructions: only our own whiteout
                    // conversion may set them, never a layer's author.
                    if key.starts_with("trusted.overlay.") {
                        log::warn!("layer entry {raw:?}: ignoring xattr {key}");
                        continue;
                    }
                    lsetxattr(&full, key, ext.value_bytes())?;
                }
            }
        }
        if kind != tar::EntryType::Symlink {
            // After chown: chown clears set-id bits.
            fs::set_permissions(&full, fs::Permissions::from_mode(mode)).map_err(io_err(&full))?;
        }
        if is_dir {
            dir_times.push((full, mtime));
        } else {
            set_times(&full, mtime)?;
        }
    }
    // Directory times last: creating children changes them.
    for (d, t) in dir_times.iter().rev() {
        set_times(d, *t)?;
    }
    Ok(stats)
}
