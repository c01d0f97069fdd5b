//! The container's root as berth itself sees it: the overlay mounted in a
//! private mount namespace of ours (see `crate::container` for why), the /dev/shm
//! of an IPC peer cloned into it, `lo` brought up in a `--network none`
//! namespace, and `with_rootfs` for cp and commit.

use crate::container::overlay;
use crate::container::store::{Container, ContainerStore, Status};
use crate::container::{ioe, ContainerError, Result};
use crate::image::store::Store;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Restores the host's mount namespace when dropped.
pub(super) struct NsGuard(pub(super) fs::File);

impl Drop for NsGuard {
    fn drop(&mut self) {
        // SAFETY: setns with a mount namespace fd we opened; berth is single-threaded.
        if unsafe { libc::setns(self.0.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
            // Staying in the private namespace would hide nothing from the host;
            // but later mounts of this process would not be seen: say so.
            log::error!(
                "cannot return to the host mount namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn errno<T>(r: nix::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| ioe(what)(e.into()))
}

/// Enters a mount namespace of our own with the container's rootfs mounted.
pub(super) fn enter_private_ns(images: &Store, c: &Container, dir: &Path) -> Result<NsGuard> {
    use nix::mount::{mount, MsFlags};
    let host = fs::File::open("/proc/self/ns/mnt").map_err(ioe("opening /proc/self/ns/mnt"))?;
    errno(
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS),
        "unshare(CLONE_NEWNS)",
    )?;
    let guard = NsGuard(host);
    errno(
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        ),
        "making / private",
    )?;
    let img = images.resolve(&c.image_id)?;
    let mut lowers = images.layer_dirs(&img);
    if lowers.is_empty() {
        let e = dir.join("empty");
        fs::create_dir_all(&e).map_err(ioe("creating an empty lower dir"))?;
        lowers.push(e);
    }
    overlay::mount(
        &lowers,
        &dir.join("upper"),
        &dir.join("work"),
        &dir.join("bundle/rootfs"),
    )
    .map_err(ioe("mounting the container's overlay rootfs"))?;
    Ok(guard)
}

/// Mounts at `target`, in our mount namespace, the /dev/shm that `pid`
/// sees: the tmpfs of the container whose IPC namespace is joined, so that
/// POSIX shared memory is shared as well as SysV (as with docker and podman).
/// A bind mount cannot name another namespace's mount; a detached clone made
/// inside it (open_tree) can be attached here. setns into a mount namespace
/// wants a single-threaded caller: a forked child does it.
pub(super) fn bind_peer_shm(pid: i32, target: &Path) -> Result<()> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    let theirs = fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .map_err(ioe("opening the IPC peer's mount namespace"))?;
    let ours = fs::File::open("/proc/self/ns/mnt").map_err(ioe("opening /proc/self/ns/mnt"))?;
    let dst = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| ContainerError::Other("a NUL in the container's path".into()))?;
    // SAFETY: the child only makes system calls on what was set up above
    // and leaves with _exit; its exit status is the errno of what failed.
    match unsafe { libc::fork() } {
        -1 => Err(ioe("fork")(std::io::Error::last_os_error())),
        0 => unsafe {
            let errno = || *libc::__errno_location();
            if libc::setns(theirs.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                libc::_exit(errno());
            }
            let fd = libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                c"/dev/shm".as_ptr(),
                OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
            );
            if fd < 0 {
                libc::_exit(errno());
            }
            if libc::setns(ours.as_raw_fd(), libc::CLONE_NEWNS) != 0
                || libc::syscall(
                    libc::SYS_move_mount,
                    fd as libc::c_int,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    dst.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
            {
                libc::_exit(errno());
            }
            libc::_exit(0)
        },
        child => {
            let mut status = 0;
            // SAFETY: waits for the child forked above.
            unsafe { libc::waitpid(child, &mut status, 0) };
            match libc::WEXITSTATUS(status) {
                0 if libc::WIFEXITED(status) => Ok(()),
                e => Err(ioe(
                    "mounting the /dev/shm of the container whose IPC is joined",
                )(std::io::Error::from_raw_os_error(e))),
            }
        }
    }
}

pub(super) fn lo_up(pid: i32) -> Result<()> {
    let ns = fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(ioe("opening the container's network namespace"))?;
    crate::network::netlink::lo_up_in(&ns).map_err(ioe("bringing lo up in the container"))
}

/// Runs `f` on the container's merged root, held by an fd: the live one of a
/// running container (as it sees it, its volumes included), else the overlay
/// mounted for the call in a namespace of our own. Paths inside it are the
/// container's to resolve: see the fsroot crate.
pub fn with_rootfs<T>(
    root: &Path,
    c: &Container,
    f: impl FnOnce(&fsroot::Entry) -> std::io::Result<T>,
) -> Result<T> {
    let cs = ContainerStore::open(root)?;
    let st = cs.state(c);
    let open = |p: &Path| fsroot::open_dir(p).and_then(fsroot::Entry::of);
    if st.status == Status::Running && st.pid > 0 {
        let r = open(Path::new(&format!("/proc/{}/root", st.pid)))
            .map_err(ioe("opening the container's root"))?;
        return f(&r).map_err(ioe("reading the container's files"));
    }
    let images = Store::open(root)?;
    let dir = cs.dir_of(&c.id);
    let _l = cs.lock(&c.id)?;
    let _ns = enter_private_ns(&images, c, &dir)?;
    let r = open(&dir.join("bundle/rootfs")).map_err(ioe("opening the container's root"))?;
    f(&r).map_err(ioe("reading the container's files"))
}
