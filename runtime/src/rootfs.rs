//! The container's root filesystem: propagation, every `mounts` entry, device
//! nodes, pivot_root, masked and read-only paths.
//!
//! Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT), so
//! a symlink planted in an image can never send a mount or a mknod outside of
//! it; we then mount onto /proc/self/fd/N of the resolved O_PATH fd, which
//! names exactly that inode and cannot be swapped under us.

use crate::cgroups;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{op} {path}: {err}")]
    Os {
        op: &'static str,
        path: String,
        err: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn os(op: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> RootfsError {
    let path = path.as_ref().display().to_string();
    move |err| RootfsError::Os { op, path, err }
}

type Result<T> = std::result::Result<T, RootfsError>;

fn cstr(p: impl AsRef<Path>) -> io::Result<CString> {
    let p = p.as_ref();
    crate::utils::cstring(&format!("path {p:?}"), p.as_os_str().as_encoded_bytes())
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> io::Result<()> {
    let src = src.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype
        .map(|t| crate::utils::cstring("mount type", t))
        .transpose()?;
    let data = data
        .filter(|d| !d.is_empty())
        .map(|d| crate::utils::cstring("mount options", d))
        .transpose()?;
    let p = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    check(unsafe {
        libc::mount(
            p(&src),
            target.as_ptr(),
            p(&fstype),
            flags as libc::c_ulong,
            p(&data) as *const libc::c_void,
        )
    })
}

/// Mount flags and data parsed from fstab-style options.
#[derive(Default, Debug)]
pub struct MountOptions {
    pub flags: u64,
    pub propagation: Vec<u64>,
    pub data: Vec<String>,
    pub bind: bool,
}

pub fn parse_options(opts: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in opts {
        let (set, clear): (u64, u64) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "lazytime" => (libc::MS_LAZYTIME, 0),
            "nolazytime" => (0, libc::MS_LAZYTIME),
            "iversion" => (libc::MS_I_VERSION, 0),
            "noiversion" => (0, libc::MS_I_VERSION),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "bind" => {
                o.bind = true;
                (libc::MS_BIND, 0)
            }
            "rbind" => {
                o.bind = true;
                (libc::MS_BIND | libc::MS_REC, 0)
            }
            p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "unbindable" | "runbindable") => {
                o.propagation.push(propagation_flag(p).unwrap_or(0));
                (0, 0)
            }
            // Options the kernel must not see, and that we implement nowhere.
            "tmpcopyup" | "idmap" | "ridmap" | "copy-symlink" => (0, 0),
            other => {
                o.data.push(other.to_string());
                (0, 0)
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o
}

pub fn propagation_flag(p: &str) -> Option<u64> {
    Some(match p {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

// statvfs f_flag bit; the libc crate has it for glibc only.
const ST_RELATIME: libc::c_ulong = 4096;

/// openat2 with `path` resolved as if `root` were "/" (the resolver the
/// manager uses too: the fsroot crate).
fn open_in_root(root: i32, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: `root` is an fd the caller holds open for the whole call.
    let root = unsafe { std::os::fd::BorrowedFd::borrow_raw(root) };
    fsroot::open_in_root(root, path, flags)
}

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolves `path` inside the rootfs, creating what is missing (directories
/// on the way, and a directory or empty file at the end), and returns an
/// O_PATH fd of the result. A dangling symlink on the way is followed the
/// way the kernel would, but inside the root: its target is created there.
pub fn resolve_create(root: &OwnedFd, path: &Path, kind: Kind) -> Result<OwnedFd> {
    let mut want: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if want.as_os_str().is_empty() {
        return open_in_root(root.as_raw_fd(), Path::new("/"), libc::O_PATH)
            .map_err(os("open", path));
    }
    // Bounded like the kernel's 40 symlinks per lookup.
    'restart: for _ in 0..40 {
        if let Ok(fd) = open_in_root(root.as_raw_fd(), &want, libc::O_PATH) {
            return Ok(fd);
        }
        let comps: Vec<PathBuf> = want
            .components()
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        let mut cur = PathBuf::new();
        let mut parent = open_in_root(
            root.as_raw_fd(),
            Path::new("/"),
            libc::O_PATH | libc::O_DIRECTORY,
        )
        .map_err(os("open", "/"))?;
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let last = i + 1 == comps.len();
            match open_in_root(root.as_raw_fd(), &cur, libc::O_PATH) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(os("resolve", path)(e)),
            }
            let name = cstr(c).map_err(os("resolve", path))?;
            let mut buf = [0u8; 4096];
            let n = unsafe {
                libc::readlinkat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n > 0 {
                // Dangling symlink: continue the lookup at its target, within the root.
                let target = PathBuf::from(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                        &buf[..n as usize],
                    ),
                );
                let base = if target.is_absolute() {
                    PathBuf::new()
                } else {
                    cur.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                let mut next = normalize(&base.join(target));
                for rest in &comps[i + 1..] {
                    next.push(rest);
                }
                want = next;
                continue 'restart;
            }
            if last && kind == Kind::File {
                let fd = unsafe {
                    libc::openat(
                        parent.as_raw_fd(),
                        name.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                        0o644,
                    )
                };
                if fd < 0 {
                    return Err(os("create", path)(io::Error::last_os_error()));
                }
                unsafe { libc::close(fd) };
            } else {
                let r = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) };
                if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                    return Err(os("mkdir", path)(io::Error::last_os_error()));
                }
            }
            parent =
                open_in_root(root.as_raw_fd(), &cur, libc::O_PATH).map_err(os("resolve", path))?;
        }
        return Ok(parent);
    }
    Err(os("resolve", path)(io::Error::from_raw_os_error(
        libc::ELOOP,
    )))
}

/// Lexically resolves `.` and `..` without ever climbing above the start,
/// as a lookup inside a root does.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Everything up to (and including) pivot_root, run by the init in its new
/// mount namespace. `hooks` runs between mounting and pivoting.
pub struct Rootfs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup_path: &'a str,
    pub in_userns: bool,
    pub new_cgroupns: bool,
    /// False when the config names no mount namespace: the container shares
    /// the runtime's (config-linux.md#namespaces), so nothing here may touch
    /// the propagation of host mounts, and what is mounted below the rootfs
    /// stays on the host until `delete` lifts it (`unmount_below`).
    pub own_mount_ns: bool,
}

impl Rootfs<'_> {
    fn root_propagation(&self) -> Option<u64> {
        let p = self.spec.linux().as_ref()?.rootfs_propagation().as_ref()?;
        propagation_flag(p)
    }

    /// Makes our mounts private to us and turns the rootfs into a mount point.
    pub fn prepare(&self) -> Result<()> {
        if !self.own_mount_ns {
            return Ok(());
        }
        // Slave by default: host mounts still reach us, ours never reach the host.
        let flag = self
            .root_propagation()
            .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
        // An unbindable tree could not give us the rootfs's bind mount: the
        // root becomes unbindable in finish(), after the pivot.
        let early = if flag & libc::MS_UNBINDABLE != 0 {
            libc::MS_SLAVE
        } else {
            flag
        };
        mount(None, Path::new("/"), None, early | libc::MS_REC, None)
            .map_err(os("set propagation of", "/"))?;
        mount(
            Some(self.rootfs),
            self.rootfs,
            Some("bind"),
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(os("bind", self.rootfs))?;
        if early & libc::MS_SHARED != 0 {
            // pivot_root refuses a shared new root; finish() shares it again.
            mount(None, self.rootfs, None, libc::MS_PRIVATE, None)
                .map_err(os("make private", self.rootfs))?;
        }
        // pivot_root refuses a shared parent: make just that one mount private.
        if let Some(parent) = self.rootfs.parent() {
            if let Some(mp) = mount_point_of(parent) {
                let _ = mount(None, &mp, None, libc::MS_PRIVATE, None);
            }
        }
        Ok(())
    }

    pub fn root_fd(&self) -> Result<OwnedFd> {
        let f = fs::File::open(self.rootfs).map_err(os("open", self.rootfs))?;
        Ok(f.into())
    }

    pub fn mount_all(&self, root: &OwnedFd) -> Result<()> {
        for m in self.spec.mounts().as_deref().unwrap_or_default() {
            self.mount_one(root, m)?;
        }
        Ok(())
    }

    fn mount_one(&self, root: &OwnedFd, m: &Mount) -> Result<()> {
        let dest = m.destination();
        if !dest.is_absolute() {
            log::warn!("mount destination {dest:?} is relative: taken relative to /");
        }
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        let typ = m.typ().as_deref().unwrap_or("");
        let bind = opts.bind || typ == "bind";
        if bind {
            let src = m.source().as_ref().expect("validated: bind has a source");
            let src = if src.is_absolute() {
                src.clone()
            } else {
                self.bundle.join(src)
            };
            let meta = fs::metadata(&src).map_err(os("stat bind source", &src))?;
            let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
            let target = resolve_create(root, dest, kind)?;
            let t = fd_path(&target);
            let rec = opts.flags & libc::MS_REC;
            mount(Some(&src), &t, Some("bind"), libc::MS_BIND | rec, None)
                .map_err(os("bind mount", dest))?;
            let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
            if extra != 0 {
                // Re-open: the fd still names the directory under the new mount.
                let target = resolve_create(root, dest, kind)?;
                remount(&fd_path(&target), extra, dest)?;
            }
            self.set_propagation(root, dest, &opts)?;
            return Ok(());
        }
        let target = resolve_create(root, dest, Kind::Dir)?;
        let t = fd_path(&target);
        let data = opts.data.join(",");
        match typ {
            "cgroup" | "cgroup2" => return self.mount_cgroup(root, dest, typ, &opts),
            _ => {}
        }
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        match mount(
            Some(&src),
            &t,
            Some(typ),
            opts.flags & !libc::MS_REMOUNT,
            Some(&data),
        ) {
            Ok(()) => {}
            // In a user namespace without its own netns, sysfs cannot be
            // mounted: the host's, recursively bound, is what runc gives too.
            Err(e) if typ == "sysfs" && e.raw_os_error() == Some(libc::EPERM) => {
                mount(
                    Some(Path::new("/sys")),
                    &t,
                    Some("bind"),
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(os("bind /sys on", dest))?;
                if opts.flags & libc::MS_RDONLY != 0 {
                    let target = resolve_create(root, dest, Kind::Dir)?;
                    remount(&fd_path(&target), libc::MS_RDONLY, dest)?;
                }
            }
            Err(e) => return Err(os("mount", format!("{} ({typ})", dest.display()))(e)),
        }
        self.set_propagation(root, dest, &opts)
    }

    fn set_propagation(&self, root: &OwnedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
        for p in &opts.propagation {
            let target = resolve_create(root, dest, Kind::Dir)?;
            mount(None, &fd_path(&target), None, *p, None)
                .map_err(os("set propagation of", dest))?;
        }
        Ok(())
    }

    /// `cgroup` mounts: cgroup2 on a unified host; on v1 and hybrid hosts a
    /// tmpfs holding one directory per hierarchy, each showing only the
    /// container's own cgroup.
    fn mount_cgroup(
        &self,
        root: &OwnedFd,
        dest: &Path,
        typ: &str,
        opts: &MountOptions,
    ) -> Result<()> {
        let flags = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
        let target = resolve_create(root, dest, Kind::Dir)?;
        let t = fd_path(&target);
        let hier = cgroups::hierarchy();
        if typ == "cgroup2" || hier == cgroups::Hierarchy::Unified {
            return match mount(Some(Path::new("cgroup2")), &t, Some("cgroup2"), flags, None) {
                Ok(()) => Ok(()),
                // Refused (EPERM without a cgroup namespace, EBUSY over an
                // rbind of the host's /sys): bind the container's own cgroup.
                Err(e) => {
                    log::debug!(
                        "mount cgroup2 on {}: {e}: binding the container's cgroup instead",
                        dest.display()
                    );
                    let base = if hier == cgroups::Hierarchy::Unified {
                        cgroups::ROOT
                    } else {
                        cgroups::UNIFIED_ROOT
                    };
                    let src = Path::new(base).join(self.cgroup_path.trim_start_matches('/'));
                    mount(
                        Some(&src),
                        &t,
                        Some("bind"),
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )
                    .map_err(os("bind cgroup on", dest))?;
                    let target = resolve_create(root, dest, Kind::Dir)?;
                    remount(&fd_path(&target), flags | libc::MS_BIND, dest)
                }
            };
        }
        mount(
            Some(Path::new("tmpfs")),
            &t,
            Some("tmpfs"),
            flags & !libc::MS_RDONLY,
            Some("mode=755"),
        )
        .map_err(os("mount tmpfs on", dest))?;
        for h in cgroups::v1::hierarchies() {
            let sub = dest.join(&h.dir_name);
            let st = resolve_create(root, &sub, Kind::Dir)?;
            let sp = fd_path(&st);
            let src = h.mount_point.join(self.cgroup_path.trim_start_matches('/'));
            let r = if self.new_cgroupns {
                mount(
                    Some(Path::new("cgroup")),
                    &sp,
                    Some("cgroup"),
                    flags,
                    Some(&h.options),
                )
            } else {
                Err(io::Error::from_raw_os_error(libc::EPERM))
            };
            if r.is_err() {
                mount(
                    Some(&src),
                    &sp,
                    Some("bind"),
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(os("bind cgroup on", &sub))?;
                let st = resolve_create(root, &sub, Kind::Dir)?;
                remount(&fd_path(&st), flags | libc::MS_BIND, &sub)?;
            }
        }
        if hier == cgroups::Hierarchy::Hybrid {
            let sub = dest.join("unified");
            let st = resolve_create(root, &sub, Kind::Dir)?;
            let src =
                Path::new(cgroups::UNIFIED_ROOT).join(self.cgroup_path.trim_start_matches('/'));
            if src.is_dir() {
                mount(
                    Some(&src),
                    &fd_path(&st),
                    Some("bind"),
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(os("bind cgroup on", &sub))?;
                let st = resolve_create(root, &sub, Kind::Dir)?;
                remount(&fd_path(&st), flags | libc::MS_BIND, &sub)?;
            }
        }
        if flags & libc::MS_RDONLY != 0 {
            let target = resolve_create(root, dest, Kind::Dir)?;
            remount(&fd_path(&target), flags, dest)?;
        }
        Ok(())
    }

    /// Default devices, `linux.devices`, and the /dev symlinks.
    pub fn create_devices(&self, root: &OwnedFd) -> Result<()> {
        let mut devs: Vec<LinuxDevice> = default_devices();
        if let Some(extra) = self.spec.linux().as_ref().and_then(|l| l.devices().clone()) {
            devs.retain(|d| !extra.iter().any(|e| e.path() == d.path()));
            devs.extend(extra);
        }
        // Only when /dev is ours (a tmpfs of the config): never mknod into an image's /dev.
        let dev_mounted = self
            .spec
            .mounts()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|m| m.destination() == Path::new("/dev"));
        for d in &devs {
            if !dev_mounted && is_default_device(d) {
                continue;
            }
            self.create_device(root, d)?;
        }
        if dev_mounted {
            let devfd = resolve_create(root, Path::new("/dev"), Kind::Dir)?;
            let mut links = vec![
                ("/proc/self/fd", "fd"),
                ("/proc/self/fd/0", "stdin"),
                ("/proc/self/fd/1", "stdout"),
                ("/proc/self/fd/2", "stderr"),
            ];
            if Path::new("/proc/kcore").exists() {
                links.push(("/proc/kcore", "core"));
            }
            let pts = self
                .spec
                .mounts()
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|m| m.destination() == Path::new("/dev/pts"));
            if pts {
                links.push(("pts/ptmx", "ptmx"));
            }
            for (target, name) in links {
                let (t, n) = (
                    cstr(target).map_err(os("symlink", name))?,
                    cstr(name).map_err(os("symlink", name))?,
                );
                let r = unsafe { libc::symlinkat(t.as_ptr(), devfd.as_raw_fd(), n.as_ptr()) };
                if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                    return Err(os("symlink", format!("/dev/{name}"))(
                        io::Error::last_os_error(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn create_device(&self, root: &OwnedFd, d: &LinuxDevice) -> Result<()> {
        let path = d.path();
        if self.in_userns {
            // mknod is not allowed in a user namespace: bind the host's node.
            let target = resolve_create(root, path, Kind::File)?;
            return mount(
                Some(path),
                &fd_path(&target),
                Some("bind"),
                libc::MS_BIND,
                None,
            )
            .map_err(os("bind device", path));
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path
            .file_name()
            .ok_or_else(|| RootfsError::Invalid(format!("device path {path:?} has no name")))?;
        let pfd = resolve_create(root, parent, Kind::Dir)?;
        // Reopen as a real directory fd: mknodat needs one it can search.
        let dfd = open_in_root(
            root.as_raw_fd(),
            &strip_root(parent),
            libc::O_DIRECTORY | libc::O_RDONLY,
        )
        .map_err(os("open", parent))?;
        drop(pfd);
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::Invalid(format!(
                    "device {path:?}: type 'a' cannot be created"
                )))
            }
        };
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let dev = libc::makedev(d.major() as u32, d.minor() as u32);
        let n = cstr(name).map_err(os("mknod", &path))?;
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe {
            libc::fstatat(
                dfd.as_raw_fd(),
                n.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        } == 0
        {
            // config-linux.md: an existing file that is not this device is an error.
            let same =
                st.st_mode & libc::S_IFMT == kind && (kind == libc::S_IFIFO || st.st_rdev == dev);
            if !same {
                return Err(RootfsError::Invalid(format!(
                    "linux.devices: {path:?} already exists and is not the requested device"
                )));
            }
            unsafe { libc::unlinkat(dfd.as_raw_fd(), n.as_ptr(), 0) };
        }
        check(unsafe { libc::mknodat(dfd.as_raw_fd(), n.as_ptr(), kind | mode, dev) })
            .map_err(os("mknod", path))?;
        // mknod is subject to the umask; the config's mode is what must stand.
        check(unsafe { libc::fchmodat(dfd.as_raw_fd(), n.as_ptr(), mode, 0) })
            .map_err(os("chmod", path))?;
        let (uid, gid) = (d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        check(unsafe {
            libc::fchownat(
                dfd.as_raw_fd(),
                n.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map_err(os("chown", path))?;
        Ok(())
    }

    /// pivot_root into the rootfs (or chroot with `no_pivot`), leaving the
    /// host's tree unreachable.
    pub fn pivot(&self, no_pivot: bool) -> Result<()> {
        let new = fs::File::open(self.rootfs).map_err(os("open", self.rootfs))?;
        if !self.own_mount_ns {
            // The host's mount namespace: neither pivot_root nor a move of
            // its root is ours to do.
            check(unsafe { libc::fchdir(new.as_raw_fd()) }).map_err(os("chdir", self.rootfs))?;
            check(unsafe { libc::chroot(c".".as_ptr()) }).map_err(os("chroot", self.rootfs))?;
        } else if no_pivot {
            check(unsafe { libc::fchdir(new.as_raw_fd()) }).map_err(os("chdir", self.rootfs))?;
            mount(
                Some(Path::new(".")),
                Path::new("/"),
                None,
                libc::MS_MOVE,
                None,
            )
            .map_err(os("move root", self.rootfs))?;
            check(unsafe { libc::chroot(c".".as_ptr()) }).map_err(os("chroot", self.rootfs))?;
        } else {
            let old = fs::File::open("/").map_err(os("open", "/"))?;
            check(unsafe { libc::fchdir(new.as_raw_fd()) }).map_err(os("chdir", self.rootfs))?;
            check(unsafe {
                libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as i32
            })
            .map_err(os("pivot_root", self.rootfs))?;
            // The old root now sits on top of "."; detach it without letting
            // the unmount propagate anywhere.
            check(unsafe { libc::fchdir(old.as_raw_fd()) }).map_err(os("chdir", "old root"))?;
            mount(
                None,
                Path::new("."),
                None,
                libc::MS_SLAVE | libc::MS_REC,
                None,
            )
            .map_err(os("make old root slave", "/"))?;
            check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })
                .map_err(os("unmount old root", "/"))?;
        }
        check(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(os("chdir", "/"))?;
        Ok(())
    }

    /// After pivot: masked and read-only paths, read-only root, and the
    /// root's final propagation.
    pub fn finish(&self) -> Result<()> {
        let root = fs::File::open("/").map_err(os("open", "/"))?.into();
        let linux = self.spec.linux().as_ref();
        for p in linux
            .and_then(|l| l.readonly_paths().as_ref())
            .map(|v| v.as_slice())
            .unwrap_or_default()
        {
            readonly_path(&root, Path::new(p))?;
        }
        for p in linux
            .and_then(|l| l.masked_paths().as_ref())
            .map(|v| v.as_slice())
            .unwrap_or_default()
        {
            mask_path(&root, Path::new(p))?;
        }
        if !self.own_mount_ns {
            // The root is the host's directory, not a mount of ours to
            // remount (config.rs refuses root.readonly here).
            return Ok(());
        }
        if self
            .spec
            .root()
            .as_ref()
            .is_some_and(|r| r.readonly() == Some(true))
        {
            remount(
                Path::new("/"),
                libc::MS_RDONLY | libc::MS_BIND,
                Path::new("/"),
            )?;
        }
        if let Some(flag) = self.root_propagation() {
            mount(None, Path::new("/"), None, flag, None).map_err(os("set propagation of", "/"))?;
        }
        Ok(())
    }
}

fn strip_root(p: &Path) -> PathBuf {
    let rel: PathBuf = p
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from("/")
    } else {
        rel
    }
}

/// Remounts the mount at `target` with `flags`, keeping the flags the kernel
/// locks in a user namespace (nosuid, nodev, noexec, atime) if it insists.
fn remount(target: &Path, flags: u64, what: &Path) -> Result<()> {
    let flags = flags | libc::MS_REMOUNT | libc::MS_BIND;
    match mount(None, target, None, flags, None) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
            let c = cstr(target).map_err(os("statvfs", what))?;
            check(unsafe { libc::statvfs(c.as_ptr(), &mut st) }).map_err(os("statvfs", what))?;
            let locked = st.f_flag
                & (libc::ST_NOSUID
                    | libc::ST_NODEV
                    | libc::ST_NOEXEC
                    | libc::ST_NOATIME
                    | libc::ST_NODIRATIME
                    | ST_RELATIME);
            mount(None, target, None, flags | locked, None).map_err(os("remount", what))
        }
        Err(e) => Err(os("remount", what)(e)),
    }
}

fn readonly_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let fd = match open_in_root(root.as_raw_fd(), &strip_root(p), libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(os("open readonly path", p)(e)),
    };
    let t = fd_path(&fd);
    mount(
        Some(&t),
        &t,
        Some("bind"),
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(os("bind", p))?;
    let fd = open_in_root(root.as_raw_fd(), &strip_root(p), libc::O_PATH).map_err(os("open", p))?;
    remount(
        &fd_path(&fd),
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        p,
    )
}

fn mask_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let fd = match open_in_root(root.as_raw_fd(), &strip_root(p), libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(os("open masked path", p)(e)),
    };
    let t = fd_path(&fd);
    let is_dir = fs::metadata(&t).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        mount(
            Some(Path::new("tmpfs")),
            &t,
            Some("tmpfs"),
            libc::MS_RDONLY,
            Some("size=0k"),
        )
        .map_err(os("mask", p))
    } else {
        mount(
            Some(Path::new("/dev/null")),
            &t,
            Some("bind"),
            libc::MS_BIND,
            None,
        )
        .map_err(os("mask", p))
    }
}

fn is_default_device(d: &LinuxDevice) -> bool {
    default_devices().iter().any(|x| x.path() == d.path())
}

/// /dev/null, zero, full, random, urandom and tty, as every runtime provides.
pub fn default_devices() -> Vec<LinuxDevice> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|(n, maj, min)| {
        let mut d = LinuxDevice::default();
        d.set_path(PathBuf::from(format!("/dev/{n}")));
        d.set_typ(LinuxDeviceType::C);
        d.set_major(*maj);
        d.set_minor(*min);
        d.set_file_mode(Some(0o666));
        d.set_uid(Some(0));
        d.set_gid(Some(0));
        d
    })
    .collect()
}

/// Mounts at or below `dir`, as (mount id, mount point).
fn mounts_below(dir: &Path) -> Vec<(u64, PathBuf)> {
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
        if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// The mount point (from /proc/self/mountinfo) that contains `p`.
fn mount_point_of(p: &Path) -> Option<PathBuf> {
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
    fn options() {
        let o = parse_options(&[
            "ro".into(),
            "nosuid".into(),
            "rbind".into(),
            "rslave".into(),
            "size=1k".into(),
            "rw".into(),
        ]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert!(o.bind);
        assert_ne!(o.flags & libc::MS_NOSUID, 0);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data, vec!["size=1k".to_string()]);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
