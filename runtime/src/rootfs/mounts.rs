//! The config's `mounts`, each onto the fd its destination resolved to.

use super::*;
use crate::cgroups;
use oci_spec::runtime::Mount;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

impl Rootfs<'_> {
    pub fn mount_all(&self, root: &OwnedFd) -> Result<()> {
        for (i, m) in self
            .spec
            .mounts()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match self.idmapped.iter().find(|(n, _)| *n == i) {
                Some((_, tree)) => self.mount_idmapped(root, m, tree)?,
                None => self.mount_one(root, m)?,
            }
            if crate::mountattr::collect(m.options().as_deref().unwrap_or_default()).is_some() {
                let fd = resolve_create(root, m.destination(), Kind::Dir)?;
                crate::mountattr::apply(std::os::fd::AsFd::as_fd(&fd), m)
                    .map_err(|e| RootfsError::Invalid(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Moves the runtime's idmapped tree onto the destination, then applies
    /// the mount's other flags and propagation as a bind would.
    fn mount_idmapped(&self, root: &OwnedFd, m: &Mount, tree: &OwnedFd) -> Result<()> {
        let dest = m.destination();
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        let is_dir = fs::metadata(fd_path(tree))
            .map(|md| md.is_dir())
            .unwrap_or(true);
        let kind = if is_dir { Kind::Dir } else { Kind::File };
        let target = resolve_create(root, dest, kind)?;
        crate::idmap::attach(
            std::os::fd::AsFd::as_fd(tree),
            std::os::fd::AsFd::as_fd(&target),
        )
        .map_err(os("move the idmapped mount onto", dest))?;
        let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
        if extra != 0 {
            let target = resolve_create(root, dest, kind)?;
            remount(&fd_path(&target), extra, dest)?;
        }
        self.set_propagation(root, dest, &opts)
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
}
