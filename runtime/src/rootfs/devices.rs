//! Device nodes: the defaults, `linux.devices`, and the /dev symlinks.

use super::*;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fchmodat, fstatat, makedev, mknodat, FchmodatFlags, Mode as StatMode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::AsFd;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

impl Rootfs<'_> {
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
                match symlinkat(target, Some(devfd.as_raw_fd()), name) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(os("symlink", format!("/dev/{name}"))(e.into())),
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
            root.as_fd(),
            &strip_root(parent),
            libc::O_DIRECTORY | libc::O_RDONLY,
        )
        .map_err(os("open", parent))?;
        drop(pfd);
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::Invalid(format!(
                    "device {path:?}: type 'a' cannot be created"
                )))
            }
        };
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let dev = makedev(d.major() as u64, d.minor() as u64);
        let dir = Some(dfd.as_raw_fd());
        if let Ok(st) = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            // config-linux.md: an existing file that is not this device is an error.
            let same = st.st_mode & libc::S_IFMT == kind.bits()
                && (kind == SFlag::S_IFIFO || st.st_rdev == dev);
            if !same {
                return Err(RootfsError::Invalid(format!(
                    "linux.devices: {path:?} already exists and is not the requested device"
                )));
            }
            let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
        }
        let perm = StatMode::from_bits_truncate(mode);
        ck(mknodat(dir, name, kind, perm, dev)).map_err(os("mknod", path))?;
        // mknod is subject to the umask; the config's mode is what must stand.
        ck(fchmodat(dir, name, perm, FchmodatFlags::FollowSymlink)).map_err(os("chmod", path))?;
        let (uid, gid) = (d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        ck(fchownat(
            dir,
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ))
        .map_err(os("chown", path))?;
        Ok(())
    }
}

pub(super) fn is_default_device(d: &LinuxDevice) -> bool {
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
