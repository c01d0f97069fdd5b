//! `start`: the private mount namespace, berth-shim's `create`, the
//! network, then the runtime's `start` (the diagram in `super`).

use super::event;
use super::rootfs::{bind_peer_shm, enter_private_ns, lo_up};
use crate::container::attach;
use crate::container::commands::{run_runtime, runtime_cmd, runtime_delete, sibling};
use crate::container::health;
use crate::container::net::{self, net_teardown};
use crate::container::now_rfc3339;
use crate::container::record::{MountKind, NetworkMode};
use crate::container::store::{self, wait_shim_gone, Container, ContainerStore, Status};
use crate::container::{ioe, ContainerError, Result};
use crate::image::store::Store;
use crate::volume::VolumeStore;
use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What `start` hands back: a connection to the process's stdio if asked for.
pub struct Started {
    pub container: Container,
    pub attach: Option<std::os::unix::net::UnixStream>,
}

/// Who is connected to a container's stdio from before it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    No,
    /// The caller (`run`, `start -a`), which then reports the exit and
    /// removes an --rm container itself (`finish_attached`).
    Caller,
    /// A client that only watches (the Engine API's attach): the exit
    /// command still settles the container, whether the client stays or not.
    Observer,
}

/// Starts a created or exited container; with `attach`, connected before it runs.
pub fn start(root: &Path, c: &Container, attach: bool) -> Result<Started> {
    start_as(root, c, if attach { Attach::Caller } else { Attach::No })
}

pub fn start_as(root: &Path, c: &Container, attach: Attach) -> Result<Started> {
    let cs = ContainerStore::open(root)?;
    let _l = cs.lock(&c.id)?;
    let mut c = cs.load(&c.id)?;
    // A start by hand begins the policy's count again, as in docker.
    c.manually_stopped = false;
    c.restart_count = 0;
    c.restart_delay_ms = 0;
    start_locked(root, &cs, c, attach)
}

pub(super) fn start_locked(
    root: &Path,
    cs: &ContainerStore,
    mut c: Container,
    attach: Attach,
) -> Result<Started> {
    end_interrupted_start(cs, &c)?;
    let st = cs.state(&c);
    if st.status == Status::Running {
        return Err(ContainerError::AlreadyRunning(c.name.clone()));
    }
    let dir = cs.dir_of(&c.id);
    let shim_dir = cs.shim_dir(&c.id);
    if st.status == Status::Exited {
        // A restart: the previous run's runtime state must go first.
        runtime_delete(cs, &c);
        let _ = fs::remove_file(shim_dir.join("exit"));
        let _ = fs::remove_file(shim_dir.join("oom"));
    }
    let ipc_peer = net::refresh_peer_namespaces(cs, &c)?;
    let images = Store::open(root)?;
    let shim = sibling("berth-shim");
    if !shim.exists() {
        return Err(ContainerError::Other(format!(
            "{} is missing: it ships next to berth",
            shim.display()
        )));
    }
    let out = {
        let ns = enter_private_ns(&images, &c, &dir)?;
        if let Some(pid) = ipc_peer {
            let shm = dir.join("shm");
            fs::create_dir_all(&shm).map_err(ioe("creating shm"))?;
            bind_peer_shm(pid, &shm)?;
        }
        if let Ok(vs) = VolumeStore::open(root) {
            let rootfs = fsroot::open_dir(&dir.join("bundle/rootfs"))
                .map_err(ioe("opening the container's rootfs"))?;
            for m in c.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                // The image's content at the mount point, resolved inside
                // the rootfs: an image's symlink there must not copy a host
                // directory into the volume.
                let src = fsroot::open_in_root(
                    rootfs.as_fd(),
                    Path::new(&m.destination),
                    libc::O_PATH | libc::O_DIRECTORY,
                )
                .and_then(fsroot::Entry::of)
                .ok();
                vs.populate(&m.name, src.as_ref())?;
            }
        }
        let mut cmd = Command::new(&shim);
        cmd.arg("create")
            .arg("--id")
            .arg(&c.id)
            .arg("--bundle")
            .arg(dir.join("bundle"))
            .arg("--runtime")
            .arg(&c.runtime)
            .arg("--runtime-root")
            .arg(cs.runtime_root())
            .arg("--dir")
            .arg(&shim_dir);
        if c.tty {
            cmd.arg("-t");
        }
        if c.open_stdin {
            cmd.arg("-i");
        }
        if c.auto_remove {
            cmd.arg("--rm");
        }
        if c.log_max_size > 0 {
            cmd.arg("--log-max-size").arg(c.log_max_size.to_string());
        }
        // The policy is applied by `berth internal-exited`, which the shim
        // runs once the exit is recorded, in the host's mount namespace (ours
        // is private): the shim opens it through an fd we pass down. Every
        // container gets it (so that `update --restart` holds for a running
        // one, and a detached --rm one is removed once it exits) but an
        // attached --rm one, whose caller reports and removes it.
        let host_ns = if !(c.auto_remove && attach == Attach::Caller) {
            let exe = std::env::current_exe().map_err(ioe("locating the berth binary"))?;
            // SAFETY: F_DUPFD makes a descriptor without FD_CLOEXEC; closed below.
            let fd = unsafe { libc::fcntl(ns.0.as_raw_fd(), libc::F_DUPFD, 3) };
            if fd < 0 {
                return Err(ioe("dup")(std::io::Error::last_os_error()));
            }
            cmd.arg("--exit-command")
                .arg(exe)
                .args(["--exit-command-arg", "--root", "--exit-command-arg"])
                .arg(root.canonicalize().map_err(ioe("resolving --root"))?)
                .args([
                    "--exit-command-arg",
                    "internal-exited",
                    "--exit-command-arg",
                ])
                .arg(&c.id)
                .arg("--exit-command-mntns")
                .arg(format!("/proc/self/fd/{fd}"));
            Some(fd)
        } else {
            None
        };
        let out = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        if let Some(fd) = host_ns {
            // SAFETY: the descriptor dup'ed above, ours alone.
            unsafe { libc::close(fd) };
        }
        out.map_err(ioe(format!("running {}", shim.display())))?
    };
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let pid = match reply["pid"].as_i64() {
        Some(p) => p as i32,
        None => {
            let msg = reply["error"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&out.stderr)
                        .trim()
                        .trim_start_matches("berth-shim: ")
                        .to_string()
                });
            runtime_delete(cs, &c);
            return Err(ContainerError::Runtime(format!(
                "cannot create the container: {msg}"
            )));
        }
    };
    crate::fault::point("start:shim-created");
    c.started_at = Some(now_rfc3339());
    c.init_start = berth_common::procstat::Stat::read(pid).map(|s| s.start_time);
    cs.save(&c)?;
    crate::fault::point("start:recorded");
    let c0 = c.clone();
    let fail = |e: ContainerError| {
        let _ = attach::send_signal(&shim_dir, libc::SIGKILL);
        wait_shim_gone(&shim_dir);
        runtime_delete(cs, &c0);
        net_teardown(root, &c0);
        e
    };
    if c.network_mode == NetworkMode::None {
        lo_up(pid).map_err(fail)?;
    }
    net::attach_all(root, cs, &mut c, pid).map_err(fail)?;
    let sock = if attach != Attach::No {
        Some(attach::connect(&shim_dir).map_err(|e| fail(ioe("attaching to the container")(e)))?)
    } else {
        None
    };
    let mut cmd = runtime_cmd(cs, &c);
    cmd.args(["start", &c.id]);
    run_runtime(cmd, "start").map_err(fail)?;
    event(root, &c, "start", &[]);
    if let Err(e) = health::spawn(root, &c) {
        log::warn!("container {}: {e}", c.name);
    }
    Ok(Started {
        container: c,
        attach: sock,
    })
}

/// Ends a start that a killed berth left half done: its shim lives and the
/// container was created (the init waits to be started), but the start was
/// never recorded, so the container reads as `Created` and nothing would
/// ever end that shim. Called with the container's lock held, which every
/// start holds from the shim's spawn to its record: a live shim here is
/// nobody's work in progress.
pub(super) fn end_interrupted_start(cs: &ContainerStore, c: &Container) -> Result<()> {
    let shim_dir = cs.shim_dir(&c.id);
    if c.started_at.is_some() || !store::shim_alive(&shim_dir) {
        return Ok(());
    }
    let _ = attach::send_signal(&shim_dir, libc::SIGKILL);
    if !store::wait_shim_gone_for(&shim_dir, Duration::from_secs(10)) {
        return Err(ContainerError::Other(format!(
            "the shim of container {} did not exit after its process was killed",
            c.name
        )));
    }
    runtime_delete(cs, c);
    let _ = fs::remove_file(shim_dir.join("exit"));
    net_teardown(cs.root(), c);
    Ok(())
}
