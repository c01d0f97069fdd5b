//! Files inside a root that someone else controls: a container's rootfs, an
//! image's layers, a container's overlay upper dir, a volume.
//!
//! Whoever controls the root can put a symlink anywhere in it, and can swap a
//! directory for a symlink while we work (the CVE-2018-15664 pattern). So
//! nothing here builds a host path from a path inside the root: a path is
//! resolved once, by the kernel, with `openat2(RESOLVE_IN_ROOT)` (symlinks,
//! absolute or with `..`, stay inside the root), and every later step works on
//! the fd it gave, one name at a time with `O_NOFOLLOW`. A file is reopened
//! through `/proc/self/fd/N`, which names the inode already held, never a path.

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Directories nested deeper than this are refused by the tree walks: each
/// level holds an fd, and a root someone else made can nest without end.
pub const MAX_DEPTH: usize = 512;

fn cstr(p: &OsStr) -> io::Result<CString> {
    CString::new(p.as_bytes()).map_err(|_| io::Error::other("path holds a NUL byte"))
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Opens `path` as if `root` were `/`: no symlink, `..` or absolute path in
/// it leads out of `root`, and magic links (/proc/PID/fd/N) are refused.
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::from_bits_retain(flags | libc::O_CLOEXEC))
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(root.as_raw_fd(), path, how)?;
    // SAFETY: openat2 returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether this kernel has openat2 (Linux 5.6 and later), on which every
/// lookup here rests. Only ENOSYS says no: any other failure is left to the
/// lookup that meets it.
pub fn has_openat2() -> bool {
    let Ok(root) = File::open("/") else {
        return true;
    };
    match open_in_root(root.as_fd(), Path::new("/"), libc::O_PATH) {
        Err(e) => e.raw_os_error() != Some(libc::ENOSYS),
        Ok(_) => true,
    }
}

/// openat(2) of one name relative to `dir`.
pub fn openat(dir: BorrowedFd, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: valid C string; the result is a new fd owned by no one else.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    } as libc::c_long)?;
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// open(2) of a host path we trust (the caller's own).
pub fn open_path(path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str())?;
    // SAFETY: valid C string; the result is a new fd owned by no one else.
    let fd = check(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) } as libc::c_long)?;
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// An O_PATH fd of a host directory we trust.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    open_path(path, libc::O_PATH | libc::O_DIRECTORY)
}

fn proc_fd(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// One directory entry, held by an O_PATH fd that was opened without
/// following it, with its metadata (lstat, from that fd).
pub struct Entry {
    pub fd: OwnedFd,
    pub meta: fs::Metadata,
}

impl Entry {
    /// Takes an fd (O_PATH or not) of whatever it names.
    pub fn of(fd: OwnedFd) -> io::Result<Entry> {
        let f = File::from(fd);
        let meta = f.metadata()?;
        Ok(Entry { fd: f.into(), meta })
    }

    /// The entry `name` of `dir`, not followed if it is a symlink.
    pub fn at(dir: BorrowedFd, name: &OsStr) -> io::Result<Entry> {
        Entry::of(openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?)
    }

    /// `path` resolved inside `root` (see [`open_in_root`]); its last
    /// component is followed when `follow_last`, else taken as it is.
    pub fn in_root(root: BorrowedFd, path: &Path, follow_last: bool) -> io::Result<Entry> {
        if follow_last {
            return Entry::of(open_in_root(root, path, libc::O_PATH)?);
        }
        let name = match path.file_name() {
            Some(n) if !matches!(n.as_bytes(), b"." | b"..") => n,
            _ => return Entry::of(open_in_root(root, path, libc::O_PATH)?),
        };
        let parent = open_in_root(
            root,
            // A name alone has the parent "", which openat2 refuses: the root.
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("/")),
            libc::O_PATH | libc::O_DIRECTORY,
        )?;
        Entry::at(parent.as_fd(), name)
    }

    /// The regular file itself, open for reading.
    pub fn open_file(&self) -> io::Result<File> {
        if !self.meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        File::open(proc_fd(self.fd.as_fd()))
    }

    /// The symlink's target, as stored.
    pub fn read_link(&self) -> io::Result<PathBuf> {
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: an empty path reads the link the O_PATH fd holds, into a
        // buffer of the length given.
        let n = check(unsafe {
            libc::readlinkat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        } as libc::c_long)?;
        buf.truncate(n as usize);
        Ok(PathBuf::from(OsString::from_vec(buf)))
    }

    /// The directory's entry names, sorted.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let mut v: Vec<OsString> = fs::read_dir(proc_fd(self.fd.as_fd()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        v.sort();
        Ok(v)
    }

    /// An extended attribute's value, if it is set (at most 255 bytes).
    pub fn xattr(&self, name: &std::ffi::CStr) -> Option<Vec<u8>> {
        // fgetxattr refuses O_PATH fds; the /proc path names the same inode.
        let p = cstr(proc_fd(self.fd.as_fd()).as_os_str()).ok()?;
        let mut buf = [0u8; 255];
        // SAFETY: valid C strings and a buffer of the length given.
        let n = unsafe { libc::getxattr(p.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), 255) };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }
}

/// Reads the regular file at `path` inside `root`, at most `limit` bytes
/// (more is an error: the file is someone else's).
pub fn read_in_root(root: BorrowedFd, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let e = Entry::in_root(root, path, true)?;
    read_entry(&e, limit)
}

/// Reads a regular file's content, at most `limit` bytes.
pub fn read_entry(e: &Entry, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    e.open_file()?.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(out)
}

/// Calls `f` on every entry below `dir`, parents first, names sorted; `f`
/// says whether to descend into a directory. `rel` is the path of `dir`
/// relative to where the walk began.
pub fn walk(
    dir: &Entry,
    rel: &Path,
    f: &mut dyn FnMut(&Path, &Entry) -> io::Result<bool>,
) -> io::Result<()> {
    walk_at(dir, rel, 0, f)
}

fn walk_at(
    dir: &Entry,
    rel: &Path,
    depth: usize,
    f: &mut dyn FnMut(&Path, &Entry) -> io::Result<bool>,
) -> io::Result<()> {
    if depth >= MAX_DEPTH {
        return Err(io::Error::other(format!(
            "{}: directories nested deeper than {MAX_DEPTH}",
            rel.display()
        )));
    }
    for name in dir.names()? {
        let e = match Entry::at(dir.fd.as_fd(), &name) {
            Ok(e) => e,
            // Gone since the listing: a live root changes under us.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let r = rel.join(&name);
        if f(&r, &e)? && e.meta.is_dir() {
            walk_at(&e, &r, depth + 1, f)?;
        }
    }
    Ok(())
}

fn unlink_at(dir: BorrowedFd, name: &OsStr, flags: i32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) } as libc::c_long)?;
    Ok(())
}

/// Gives `name` in `dir` the owner, mode and times of `m`, not following it.
fn set_attrs(dir: BorrowedFd, name: &OsStr, m: &fs::Metadata) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid C string; AT_SYMLINK_NOFOLLOW keeps a symlink itself.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            m.uid(),
            m.gid(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } as libc::c_long)?;
    if !m.file_type().is_symlink() {
        // After the chown, which clears set-id bits. fchmodat cannot be told
        // not to follow; the name was just made by us in a directory we hold.
        let fd = openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        fs::set_permissions(
            proc_fd(fd.as_fd()),
            fs::Permissions::from_mode(m.mode() & 0o7777),
        )?;
    }
    let t = [
        libc::timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        libc::timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    ];
    // SAFETY: valid C string and two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } as libc::c_long)?;
    Ok(())
}

/// Copies `src` to `name` in `dst` (a directory's content too), keeping
/// owners, modes, symlinks and times. Whatever stood at `name` that is not a
/// directory is replaced; a directory there is merged into. Devices, fifos
/// and sockets are skipped.
pub fn copy_entry(src: &Entry, dst: BorrowedFd, name: &OsStr) -> io::Result<()> {
    copy_at(src, dst, name, 0)
}

fn copy_at(src: &Entry, dst: BorrowedFd, name: &OsStr, depth: usize) -> io::Result<()> {
    let ft = src.meta.file_type();
    let existing = Entry::at(dst, name).ok();
    if let Some(old) = &existing {
        if !old.meta.is_dir() || !ft.is_dir() {
            if old.meta.is_dir() {
                return Err(io::Error::other(format!(
                    "cannot overwrite directory {:?} with a non-directory",
                    name
                )));
            }
            unlink_at(dst, name, 0)?;
        }
    }
    if ft.is_dir() {
        if depth >= MAX_DEPTH {
            return Err(io::Error::other(format!(
                "directories nested deeper than {MAX_DEPTH}"
            )));
        }
        if !existing.as_ref().is_some_and(|o| o.meta.is_dir()) {
            let c = cstr(name)?;
            // SAFETY: valid C string.
            check(unsafe { libc::mkdirat(dst.as_raw_fd(), c.as_ptr(), 0o700) } as libc::c_long)?;
        }
        let d = openat(
            dst,
            name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        copy_tree_at(src, d.as_fd(), depth + 1)?;
    } else if ft.is_symlink() {
        let target = cstr(src.read_link()?.as_os_str())?;
        let c = cstr(name)?;
        // SAFETY: valid C strings.
        check(
            unsafe { libc::symlinkat(target.as_ptr(), dst.as_raw_fd(), c.as_ptr()) }
                as libc::c_long,
        )?;
    } else if ft.is_file() {
        let mut from = src.open_file()?;
        let mut to = File::from(openat(
            dst,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        )?);
        io::copy(&mut from, &mut to)?;
    } else {
        return Ok(());
    }
    set_attrs(dst, name, &src.meta)
}

/// Copies the content of directory `src` into directory `dst`.
pub fn copy_tree(src: &Entry, dst: BorrowedFd) -> io::Result<()> {
    copy_tree_at(src, dst, 0)
}

fn copy_tree_at(src: &Entry, dst: BorrowedFd, depth: usize) -> io::Result<()> {
    for name in src.names()? {
        let e = match Entry::at(src.fd.as_fd(), &name) {
            Ok(e) => e,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        copy_at(&e, dst, &name, depth)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fsroot-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tmp("resolve");
        let host = tmp("resolve-host");
        fs::write(host.join("secret"), "host").unwrap();
        let root = d.join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/secret"), "inside").unwrap();
        symlink(&host, root.join("abs")).unwrap();
        symlink("../../../../../..", root.join("etc/up")).unwrap();
        let r = open_dir(&root).unwrap();
        // An absolute link is taken from the root: host/secret is not there.
        assert!(read_in_root(r.as_fd(), Path::new("/abs/secret"), 100).is_err());
        // `..` stops at the root.
        assert_eq!(
            read_in_root(r.as_fd(), Path::new("etc/up/etc/secret"), 100).unwrap(),
            b"inside"
        );
        assert!(read_in_root(r.as_fd(), Path::new("/etc/secret"), 3).is_err());
        let e = Entry::in_root(r.as_fd(), Path::new("/abs"), false).unwrap();
        assert!(e.meta.file_type().is_symlink());
        assert_eq!(e.read_link().unwrap(), host);
        fs::remove_dir_all(&d).unwrap();
        fs::remove_dir_all(&host).unwrap();
    }

    #[test]
    fn copy_keeps_links_as_links_and_replaces_a_planted_one() {
        let d = tmp("copy");
        let (src, dst, host) = (d.join("src"), d.join("dst"), d.join("host"));
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::create_dir_all(&dst).unwrap();
        fs::create_dir_all(&host).unwrap();
        fs::write(src.join("sub/f"), "data").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o751)).unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        // A symlink planted where a file is written is replaced, not followed.
        fs::create_dir_all(dst.join("sub")).unwrap();
        symlink(host.join("f"), dst.join("sub/f")).unwrap();
        let s = Entry::of(open_dir(&src).unwrap()).unwrap();
        copy_tree(&s, open_dir(&dst).unwrap().as_fd()).unwrap();
        assert_eq!(fs::read_to_string(dst.join("sub/f")).unwrap(), "data");
        assert!(!dst.join("sub/f").is_symlink());
        assert_eq!(
            fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o7777,
            0o751
        );
        assert!(!host.join("f").exists());
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn walk_is_parents_first_and_never_follows() {
        let d = tmp("walk");
        fs::create_dir_all(d.join("a/b")).unwrap();
        fs::write(d.join("a/b/f"), "").unwrap();
        symlink("/", d.join("a/root")).unwrap();
        let mut seen = Vec::new();
        let e = Entry::of(open_dir(&d).unwrap()).unwrap();
        walk(&e, Path::new(""), &mut |r, _| {
            seen.push(r.to_path_buf());
            Ok(true)
        })
        .unwrap();
        let want: Vec<PathBuf> = ["a", "a/b", "a/b/f", "a/root"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(seen, want);
        fs::remove_dir_all(&d).unwrap();
    }
}
