//! `rm` and `container prune`: everything a container holds but a running
//! process (runtime state, network, image hold, volumes, its dir).

use super::event;
use super::start::end_interrupted_start;
use super::stop::{thaw_if_paused, wait_stopped};
use crate::container::commands::runtime_delete;
use crate::container::net::net_teardown;
use crate::container::record::MountKind;
use crate::container::store::{self, Container, ContainerStore, Status};
use crate::container::{ContainerError, Result};
use crate::image::store::Store;
use crate::volume::VolumeStore;
use std::path::Path;
use std::time::Duration;

pub fn remove(root: &Path, name: &str, force: bool, volumes: bool) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    end_interrupted_start(&cs, &c)?;
    if cs.state(&c).status == Status::Running {
        if !force {
            return Err(ContainerError::Running(c.name));
        }
        let _ = cs.signal(&c, libc::SIGKILL);
        thaw_if_paused(&cs, &c);
        if !wait_stopped(&cs, &c, Some(Duration::from_secs(10))) {
            return Err(ContainerError::Other(format!(
                "container {} did not stop after SIGKILL",
                c.name
            )));
        }
    }
    cleanup(&cs, &c, volumes)?;
    Ok(c)
}

/// Everything but a running process: runtime state, image hold, volumes, dir.
pub(super) fn cleanup(cs: &ContainerStore, c: &Container, volumes: bool) -> Result<()> {
    // The process is gone; a shim still holding its dir is only finishing
    // its records. Never wait on it for ever.
    if !store::wait_shim_gone_for(&cs.shim_dir(&c.id), Duration::from_secs(10)) {
        return Err(ContainerError::Other(format!(
            "the shim of container {} does not exit",
            c.name
        )));
    }
    runtime_delete(cs, c);
    net_teardown(cs.root(), c);
    if let Ok(d) = crate::image::digest::Digest::parse(&c.image_id) {
        if let Ok(images) = Store::open(cs.root()) {
            let _ = images.release(&d, &c.id);
        }
    }
    cs.remove_dir(&c.id)?;
    event(cs.root(), c, "destroy", &[]);
    if volumes {
        if let Ok(vs) = VolumeStore::open(cs.root()) {
            for m in c.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                if vs.get(&m.name).is_ok_and(|v| v.anonymous) {
                    let _ = vs.remove(&m.name, false);
                }
            }
        }
    }
    Ok(())
}

/// Removes exited containers that asked for --rm but whose berth was not
/// there to see them end (run -d --rm).
pub fn reap_auto_removed(root: &Path) {
    let Ok(cs) = ContainerStore::open(root) else {
        return;
    };
    for c in cs.list() {
        if c.auto_remove && cs.state(&c).status == Status::Exited {
            if let Ok(Some(_l)) =
                crate::image::lock::FileLock::try_exclusive(&cs.dir_of(&c.id).join("lock"))
            {
                let _ = cleanup(&cs, &c, true);
            }
        }
    }
}

/// Removes every stopped container; their ids.
pub fn prune(root: &Path) -> Result<Vec<String>> {
    let cs = ContainerStore::open(root)?;
    cs.reap_unrecorded(&cs.names_lock()?);
    let mut out = Vec::new();
    for c in cs.list() {
        if cs.state(&c).status != Status::Running {
            remove(root, &c.id, false, false)?;
            out.push(c.id);
        }
    }
    Ok(out)
}
