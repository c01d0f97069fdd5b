//! `delete`: kills what is left, lifts host mounts, removes the cgroup and
//! the state dir, then poststop hooks.

use super::*;
use crate::cgroups;
use crate::fault;
use crate::hooks::{self, HookKind, HookState};
use crate::rootfs;
use crate::state::{ContainerDir, StateError, Status};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `delete`: removes a stopped container (or, with `force`, kills it first).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = match ContainerDir::open(root, id) {
        Ok(d) => d,
        // runc and crun: deleting what is already gone succeeds with --force.
        Err(StateError::NotFound(_)) if force => {
            // Or what a killed create left of it.
            ContainerDir::remove_new_debris(root, id);
            let _ = ContainerDir::remove_debris(root, id, &mut undo_debris);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let st = dir.load()?;
    let status = st.status(&dir.path);
    let cg = cgroups::manager(&st.cgroup_path);
    if status != Status::Stopped {
        if !force {
            return Err(Error::Usage(format!(
                "cannot delete container {id}: it is {status}, not stopped (use --force)"
            )));
        }
        let _ = cg.signal_all(libc::SIGKILL);
        let _ = crate::sys::kill(st.pid, libc::SIGKILL);
        if status == Status::Paused {
            let _ = cg.thaw();
        }
        for _ in 0..500 {
            if !crate::utils::is_same_process(st.pid, st.init_start_time) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        fault::point("delete:killed");
    }
    // Anything the init left behind (with a shared pid namespace, or an
    // exec whose runtime was killed mid-way) dies too, and is gone, in
    // every hierarchy, before we return.
    if status != Status::Stopped || !cg.pids().unwrap_or_default().is_empty() {
        cgroups::kill_all(cg.as_ref(), 5);
    }
    let spec = stored_spec(&dir).ok();
    if let Some(root) = spec.as_ref().and_then(host_mounted_rootfs(&st.bundle)) {
        // Without the record nothing below the rootfs is known to be ours.
        if let Some((_, keep)) = read_host_mounts(&dir.path) {
            rootfs::unmount_below(&root, &keep);
        }
    }
    cgroups::destroy_with(cg.as_ref(), &st.cgroup_made)?;
    fault::point("delete:cgroups-removed");
    dir.remove()?;
    fault::point("delete:dir-removed");
    if let Some(spec) = &spec {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
            let s = HookState::new(id, st.pid, st.bundle.clone(), spec.annotations())
                .json(Status::Stopped);
            hooks::run_all_warn(HookKind::Poststop, &h, &s);
        }
    }
    Ok(())
}

/// The rootfs whose mounts a container left on the host: one that named no
/// mount namespace.
fn host_mounted_rootfs(bundle: &Path) -> impl FnOnce(&Spec) -> Option<PathBuf> + '_ {
    move |spec| {
        let nss = spec
            .linux()
            .as_ref()?
            .namespaces()
            .clone()
            .unwrap_or_default();
        if nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
            return None;
        }
        let root = bundle.join(spec.root().as_ref()?.path());
        fs::canonicalize(&root).ok().or(Some(root))
    }
}
