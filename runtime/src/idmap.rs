//! ID-mapped bind mounts (config.md: `idmap`/`ridmap`, a mount's
//! `uidMappings`/`gidMappings`).
//!
//! MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the filesystem's user namespace
//! (the host's), which the init inside a new user namespace lacks. So the
//! runtime, on the host, clones the source as a detached tree
//! (open_tree(OPEN_TREE_CLONE)), gives it the mapping of a user namespace
//! (one made for the mount's own mappings, else the container's), and hands
//! the tree's fd to the init, which moves it onto the destination:
//!
//! ```text
//!  create (host)                                 init (container)
//!  open_tree(src, CLONE [|RECURSIVE])
//!  mount_setattr(IDMAP, userns) [|RECURSIVE]
//!  MountFds([i, ...]), then each fd ───────────▶ kept by mount index
//!                                                move_mount(fd → dest) in mount_all
//! ```

use crate::mountattr::{setattr, MountAttr, AT_RECURSIVE, MOUNT_ATTR_IDMAP};
use crate::sync::{Channel, Msg};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

const OPEN_TREE_CLONE: u32 = 1;
const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
/// The kernel's limit on the lines of a uid_map.
const MAX_EXTENTS: usize = 340;

#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    #[error("mounts: {0}")]
    Invalid(String),
    #[error("mounts: idmapped mount of {dest:?}: {what}: {err}")]
    Os {
        dest: String,
        what: &'static str,
        err: io::Error,
    },
}

/// Whether `m` asks for an idmapped mount, and whether recursively.
fn wants(m: &Mount) -> Option<bool> {
    let opts = m.options().as_deref().unwrap_or_default();
    if opts.iter().any(|o| o == "ridmap") {
        Some(true)
    } else if opts.iter().any(|o| o == "idmap") || m.uid_mappings().is_some() {
        Some(false)
    } else {
        None
    }
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "bind" || o == "rbind")
}

fn is_rbind(m: &Mount) -> bool {
    m.options()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o == "rbind")
}

fn new_userns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| {
            n.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        })
}

/// Whether any mount of `spec` is idmapped (the init then waits for fds).
pub fn any(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| wants(m).is_some())
}

fn check_maps(dest: &Path, what: &str, maps: &[LinuxIdMapping]) -> Result<(), IdmapError> {
    if maps.is_empty() || maps.len() > MAX_EXTENTS {
        return Err(IdmapError::Invalid(format!(
            "{what} of {dest:?}: 1 to {MAX_EXTENTS} ranges, {} given",
            maps.len()
        )));
    }
    for r in maps {
        let end = |start: u32| u64::from(start) + u64::from(r.size());
        if r.size() == 0 || end(r.container_id()) > 1 << 32 || end(r.host_id()) > 1 << 32 {
            return Err(IdmapError::Invalid(format!(
                "{what} of {dest:?}: range {}:{}:{} is empty or beyond 2^32",
                r.container_id(),
                r.host_id(),
                r.size()
            )));
        }
    }
    Ok(())
}

/// What create judges before anything exists (config.md's MUSTs).
pub fn check(spec: &Spec) -> Result<(), IdmapError> {
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination();
        let (u, g) = (m.uid_mappings(), m.gid_mappings());
        if u.is_some() != g.is_some() {
            return Err(IdmapError::Invalid(format!(
                "uidMappings and gidMappings of {dest:?} must be given together"
            )));
        }
        if wants(m).is_none() {
            continue;
        }
        if !is_bind(m) {
            return Err(IdmapError::Invalid(format!(
                "idmap of {dest:?}: only bind mounts can be idmapped here"
            )));
        }
        match (u, g) {
            (Some(u), Some(g)) => {
                check_maps(dest, "uidMappings", u)?;
                check_maps(dest, "gidMappings", g)?;
            }
            _ if new_userns(spec) => {}
            _ => {
                return Err(IdmapError::Invalid(format!(
                    "idmap of {dest:?}: no uidMappings and gidMappings, and no user namespace whose mapping it could take"
                )))
            }
        }
    }
    Ok(())
}

/// A user namespace holding `uid`/`gid` maps, made by a child that unshares
/// and waits on a pipe; its fd outlives the child.
fn userns_with(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> io::Result<OwnedFd> {
    let (ready_r, ready_w) = nix::unistd::pipe()?;
    let (go_r, go_w) = nix::unistd::pipe()?;
    // Only the parent may hold the write end of `go`, or the child's read
    // would never see its end of file.
    let pid = crate::sys::fork_userns_holder(
        ready_w.as_fd(),
        go_r.as_fd(),
        [go_w.as_fd(), ready_r.as_fd()],
    )?;
    drop(ready_w);
    drop(go_r);
    let r = (|| {
        // Bounded wait for the child's unshare.
        let mut p = [PollFd::new(ready_r.as_fd(), PollFlags::POLLIN)];
        if poll(&mut p, 5000u16) != Ok(1) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the user namespace helper did not answer",
            ));
        }
        let mut b = [0u8; 1];
        let n = nix::unistd::read(ready_r.as_raw_fd(), &mut b)?;
        if n != 1 || b[0] != 1 {
            return Err(io::Error::other(
                "the helper could not unshare a user namespace",
            ));
        }
        crate::namespaces::write_id_maps(pid, uid, gid).map_err(io::Error::other)?;
        Ok(File::open(format!("/proc/{pid}/ns/user"))?.into())
    })();
    drop(go_w);
    // Our own child: ended for certain (its namespace lives on in the fd),
    // then reaped, so the wait is bounded whatever it was doing.
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
    r
}

fn open_tree(src: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let c = std::ffi::CString::new(src.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | if recursive { AT_RECURSIVE } else { 0 };
    crate::sys::open_tree(&c, flags)
}

/// The runtime's side: one detached, idmapped tree per idmapped mount, by
/// the mount's index in `mounts`. `pid` is the init, whose user namespace
/// (already mapped) serves mounts without mappings of their own.
pub fn prepare(spec: &Spec, bundle: &Path, pid: i32) -> Result<Vec<(usize, OwnedFd)>, IdmapError> {
    let mut out = vec![];
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(recursive) = wants(m) else {
            continue;
        };
        let dest = m.destination().display().to_string();
        let os = |what| {
            let dest = dest.clone();
            move |err| IdmapError::Os { dest, what, err }
        };
        let userns: OwnedFd = match (m.uid_mappings(), m.gid_mappings()) {
            (Some(u), Some(g)) => userns_with(u, g).map_err(os("make its user namespace"))?,
            _ => File::open(format!("/proc/{pid}/ns/user"))
                .map_err(os("open the container's user namespace"))?
                .into(),
        };
        let src = m.source().clone().unwrap_or_default();
        let src: PathBuf = if src.is_absolute() {
            src
        } else {
            bundle.join(src)
        };
        let tree = open_tree(&src, is_rbind(m)).map_err(os("clone the source tree"))?;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            userns_fd: userns.as_raw_fd() as u64,
            ..Default::default()
        };
        setattr(
            tree.as_fd(),
            &attr,
            if recursive { AT_RECURSIVE } else { 0 },
        )
        .map_err(|e| {
            // The kernel's only word for "this filesystem cannot be idmapped".
            let what = if e.raw_os_error() == Some(libc::EINVAL) {
                "set its id mapping (is the source on a filesystem that supports idmapped mounts?)"
            } else {
                "set its id mapping"
            };
            os(what)(e)
        })?;
        out.push((i, tree));
    }
    Ok(out)
}

/// Sends the trees to the init: their indexes, then one fd each.
pub fn send(chan: &mut Channel, trees: &[(usize, OwnedFd)]) -> io::Result<()> {
    chan.send(&Msg::MountFds(trees.iter().map(|(i, _)| *i).collect()))?;
    for (_, fd) in trees {
        crate::seccomp::notify::send_fd(chan.0.as_fd(), fd.as_fd())?;
    }
    Ok(())
}

/// The init's side of `send`.
pub fn receive(chan: &mut Channel) -> Result<Vec<(usize, OwnedFd)>, String> {
    let idx = match chan.recv().map_err(|e| format!("sync with runtime: {e}"))? {
        Msg::MountFds(v) => v,
        Msg::Error(e) => return Err(e),
        m => return Err(format!("unexpected message from runtime: {m:?}")),
    };
    let mut out = vec![];
    for i in idx {
        let fd = crate::seccomp::notify::recv_fd(chan.0.as_fd()).map_err(|e| e.to_string())?;
        out.push((i, fd));
    }
    Ok(out)
}

/// Moves a detached tree onto `target` (an O_PATH fd inside the rootfs).
pub fn attach(tree: BorrowedFd, target: BorrowedFd) -> io::Result<()> {
    crate::sys::move_mount_fds(tree, target)
}

/// Whether idmapped mounts can be made here: mount_setattr exists (5.12,
/// which has MOUNT_ATTR_IDMAP) and user namespaces may be created.
pub fn supported() -> bool {
    crate::mountattr::supported()
        && std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}
