//! The runtime's operations on containers: create, start, state, kill,
//! delete, exec, and their combination `run`. The CLI calls these.

mod create;
mod debris;
mod delete;
mod exec;
mod run;
mod spawn;
mod start;

use crate::cgroups::{self, CgroupError};
use crate::config::{self, ConfigError};
use crate::hooks::HookError;
use crate::namespaces::NsError;
use crate::state::{ContainerDir, State, StateError, Status};
use oci_spec::runtime::{Process, Spec};
use std::fs;
use std::io;
use std::path::Path;

use debris::{read_host_mounts, undo_debris, CgroupRecord, CGROUP_RECORD, HOST_MOUNTS};
use spawn::{console_endpoints, kill_and_reap, Spawn, Spawned};

pub use create::{create, CreateOpts, Created};
pub use delete::delete;
pub use exec::{exec, ExecOpts};
pub use run::{forward_signals, run, wait_exit};
pub use start::start;

/// The config copy kept in the state dir: later edits of the bundle's
/// config.json must not affect the container (runtime.md, create step 2).
const CONFIG_COPY: &str = "config.json";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("{0}: {1}")]
    Os(String, io::Error),
    /// The container's own setup failed; the text comes from its init.
    #[error("{0}")]
    Init(String),
    #[error("{0}")]
    Usage(String),
    /// Paths inside a rootfs are only ever resolved with openat2: without
    /// it there is no safe way to set a container up.
    #[error("kernel 5.6 or later needed: openat2(2) is missing (ENOSYS)")]
    OldKernel,
}

/// Fails at once, with one line, on a kernel too old for what every
/// container needs, rather than midway through the setup.
fn check_kernel() -> Result<()> {
    if fsroot::has_openat2() {
        Ok(())
    } else {
        Err(Error::OldKernel)
    }
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |e| Error::Os(what, e)
}

pub type Result<T> = std::result::Result<T, Error>;

fn stored_spec(dir: &ContainerDir) -> Result<Spec> {
    let raw = fs::read(dir.path.join(CONFIG_COPY)).map_err(os("read the container's config"))?;
    config::parse(&raw).map_err(|e| Error::Init(format!("stored config: {e}")))
}

/// The container's configured process, the base `exec` builds on.
pub fn base_process(root: &Path, id: &str) -> Result<Process> {
    let dir = ContainerDir::open(root, id)?;
    Ok(stored_spec(&dir)?.process().clone().unwrap_or_default())
}

/// `state`: the container's state as state-schema.json describes it.
pub fn state(root: &Path, id: &str) -> Result<String> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    Ok(serde_json::to_string_pretty(&st.oci_state(status)).expect("serializes"))
}

pub fn load(root: &Path, id: &str) -> Result<(State, Status)> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    Ok((st, status))
}

/// `load` without the container's lock (see `state::read_unlocked`).
pub fn peek(root: &Path, id: &str) -> Result<(State, Status)> {
    let st = crate::state::read_unlocked(root, id)?;
    let status = st.status(&root.join(id));
    Ok((st, status))
}

/// `kill`: a signal to the init, or with `all` to every process of the container.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    if status == Status::Stopped {
        // runc's words: containerd's runc shim takes an error that says
        // "container not running" as "already exited" and anything else as
        // a failed kill, which fails a CRI StopContainer racing the exit.
        return Err(Error::Usage(format!(
            "cannot kill {id}: container not running"
        )));
    }
    if all {
        cgroups::manager(&st.cgroup_path).signal_all(sig)?;
    } else {
        crate::sys::kill(st.pid, sig).map_err(os(format!("kill container {id}")))?;
    }
    Ok(())
}

pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let (st, _) = load(root, id)?;
    Ok(cgroups::manager(&st.cgroup_path).pids()?)
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (st, status) = load(root, id)?;
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::Usage(format!(
            "cannot pause container {id}: it is {status}"
        )));
    }
    Ok(cgroups::manager(&st.cgroup_path).freeze()?)
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (st, status) = load(root, id)?;
    if status != Status::Paused {
        return Err(Error::Usage(format!(
            "cannot resume container {id}: it is {status}, not paused"
        )));
    }
    Ok(cgroups::manager(&st.cgroup_path).thaw()?)
}

pub fn stats(root: &Path, id: &str) -> Result<cgroups::Stats> {
    let (st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::Usage(format!("container {id} is stopped")));
    }
    Ok(cgroups::manager(&st.cgroup_path).stats()?)
}

pub fn update(root: &Path, id: &str, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let (st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::Usage(format!(
            "cannot update container {id}: it is stopped"
        )));
    }
    Ok(cgroups::manager(&st.cgroup_path).set(r)?)
}
