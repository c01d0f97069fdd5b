//! The container's root filesystem: propagation, every `mounts` entry, device
//! nodes, pivot_root, masked and read-only paths.
//!
//! Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT), so
//! a symlink planted in an image can never send a mount or a mknod outside of
//! it; we then mount onto /proc/self/fd/N of the resolved O_PATH fd, which
//! names exactly that inode and cannot be swapped under us.

mod devices;
mod host;
mod mounts;
mod options;
mod paths;
mod resolve;

use nix::mount::{umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use oci_spec::runtime::Spec;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

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

/// nix's results as the io errors every caller here speaks.
fn ck<T>(r: nix::Result<T>) -> io::Result<T> {
    r.map_err(io::Error::from)
}

/// mount(2); a NUL inside any argument is EINVAL, never a truncated name.
pub fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> io::Result<()> {
    ck(nix::mount::mount(
        src,
        target,
        fstype,
        MsFlags::from_bits_retain(flags as libc::c_ulong),
        data.filter(|d| !d.is_empty()),
    ))
}

pub use devices::default_devices;
pub use host::{mount_ids_below, unmount_below};
pub use options::{parse_options, propagation_flag, MountOptions};
pub use resolve::{fd_path, resolve_create, Kind};

use host::mount_point_of;
use options::ST_RELATIME;
use paths::{mask_path, readonly_path, remount, strip_root};
use resolve::open_in_root;

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
    /// Detached idmapped trees made by the runtime, by mount index (idmap.rs).
    pub idmapped: &'a [(usize, OwnedFd)],
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

    /// pivot_root into the rootfs (or chroot with `no_pivot`), leaving the
    /// host's tree unreachable.
    pub fn pivot(&self, no_pivot: bool) -> Result<()> {
        let new = fs::File::open(self.rootfs).map_err(os("open", self.rootfs))?;
        let chdir_new = || ck(fchdir(new.as_raw_fd())).map_err(os("chdir", self.rootfs));
        if !self.own_mount_ns {
            // The host's mount namespace: neither pivot_root nor a move of
            // its root is ours to do.
            chdir_new()?;
            ck(chroot(".")).map_err(os("chroot", self.rootfs))?;
        } else if no_pivot {
            chdir_new()?;
            mount(
                Some(Path::new(".")),
                Path::new("/"),
                None,
                libc::MS_MOVE,
                None,
            )
            .map_err(os("move root", self.rootfs))?;
            ck(chroot(".")).map_err(os("chroot", self.rootfs))?;
        } else {
            let old = fs::File::open("/").map_err(os("open", "/"))?;
            chdir_new()?;
            ck(pivot_root(".", ".")).map_err(os("pivot_root", self.rootfs))?;
            // The old root now sits on top of "."; detach it without letting
            // the unmount propagate anywhere.
            ck(fchdir(old.as_raw_fd())).map_err(os("chdir", "old root"))?;
            mount(
                None,
                Path::new("."),
                None,
                libc::MS_SLAVE | libc::MS_REC,
                None,
            )
            .map_err(os("make old root slave", "/"))?;
            ck(umount2(".", MntFlags::MNT_DETACH)).map_err(os("unmount old root", "/"))?;
        }
        ck(chdir("/")).map_err(os("chdir", "/"))?;
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
