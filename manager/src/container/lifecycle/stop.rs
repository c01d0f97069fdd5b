//! `stop`, `kill`, `restart`, `pause`/`unpause` and `update`: what is done
//! to a container that runs.

use super::event;
use super::start::{end_interrupted_start, start};
use crate::container::commands::{run_runtime, runtime_cmd};
use crate::container::net::net_teardown;
use crate::container::opts::{self, CreateOptions};
use crate::container::record::RestartPolicy;
use crate::container::store::{self, wait_shim_gone, Container, ContainerStore, Status};
use crate::container::{bad, ioe, ContainerError, Result};
use crate::container::{cgroup, spec};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The stop signal, then SIGKILL after `timeout` seconds.
pub fn stop(root: &Path, name: &str, timeout: Option<u32>) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    if c.restarts() {
        cs.mark_stopped(&c.id)?;
    }
    stop_locked(&cs, &c, timeout)?;
    // Its address and ports are free for others while it is stopped; start
    // attaches it again.
    net_teardown(root, &c);
    event(root, &c, "stop", &[]);
    Ok(c)
}

fn stop_locked(cs: &ContainerStore, c: &Container, timeout: Option<u32>) -> Result<()> {
    end_interrupted_start(cs, c)?;
    if cs.state(c).status != Status::Running {
        return Ok(());
    }
    let sig = berth_common::signal::parse(&c.stop_signal).unwrap_or(libc::SIGTERM);
    let t = timeout.unwrap_or(c.stop_timeout);
    let sent = cs.signal(c, sig).is_ok();
    thaw_if_paused(cs, c);
    if sent && wait_stopped(cs, c, Some(Duration::from_secs(t as u64))) {
        return Ok(());
    }
    let _ = cs.signal(c, libc::SIGKILL);
    if !wait_stopped(cs, c, Some(Duration::from_secs(10))) {
        return Err(ContainerError::Other(format!(
            "container {} did not stop after SIGKILL",
            c.name
        )));
    }
    Ok(())
}

pub fn restart(root: &Path, name: &str, timeout: Option<u32>) -> Result<Container> {
    let c = stop(root, name, timeout)?;
    Ok(start(root, &c, false)?.container)
}

pub fn kill(root: &Path, name: &str, signal: &str) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let sig = berth_common::signal::parse(signal)
        .ok_or_else(|| bad("--signal", signal, "unknown signal"))?;
    if cs.state(&c).status != Status::Running {
        return Err(ContainerError::NotRunning(c.name));
    }
    if c.restarts() {
        let _l = cs.lock(&c.id)?;
        cs.mark_stopped(&c.id)?;
    }
    cs.signal(&c, sig)?;
    thaw_if_paused(&cs, &c);
    event(root, &c, "kill", &[("signal", &sig.to_string())]);
    Ok(c)
}

/// Frozen processes take a signal only once thawed (SIGKILL too, under the
/// v1 freezer): after signalling a paused container, thaw it, as docker does.
pub(super) fn thaw_if_paused(cs: &ContainerStore, c: &Container) {
    if cgroup::frozen(&c.id) {
        let mut cmd = runtime_cmd(cs, c);
        cmd.args(["resume", &c.id]);
        if let Err(e) = run_runtime(cmd, "unpause") {
            log::warn!("{e}");
        }
    }
}

/// `pause`: freezes every process of the container (the runtime's `pause`).
pub fn pause(root: &Path, name: &str) -> Result<Container> {
    freeze(root, name, true)
}

/// `unpause`: thaws them (the runtime's `resume`).
pub fn unpause(root: &Path, name: &str) -> Result<Container> {
    freeze(root, name, false)
}

fn freeze(root: &Path, name: &str, on: bool) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    let st = cs.state(&c);
    if st.status != Status::Running {
        return Err(ContainerError::NotRunning(c.name));
    }
    if st.paused == on {
        let what = if on { "already paused" } else { "not paused" };
        return Err(ContainerError::Other(format!(
            "container {} is {what}",
            c.name
        )));
    }
    let mut cmd = runtime_cmd(&cs, &c);
    cmd.args([if on { "pause" } else { "resume" }, &c.id]);
    run_runtime(cmd, if on { "pause" } else { "unpause" })?;
    event(root, &c, if on { "pause" } else { "unpause" }, &[]);
    Ok(c)
}

/// `update`: new limits for a container, applied at once when it runs
/// (`RUNTIME update --resources -`) and kept for its next starts; and a new
/// restart policy.
pub fn update(root: &Path, name: &str, o: &CreateOptions) -> Result<Container> {
    let limits = spec::resources(o)?;
    let policy = o.restart.as_deref().map(opts::parse_restart).transpose()?;
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    let mut c = cs.load(&c.id)?;
    if c.auto_remove && policy.is_some_and(|(p, _)| p != RestartPolicy::No) {
        return Err(bad(
            "--restart",
            o.restart.as_deref().unwrap_or_default(),
            "conflicts with --rm",
        ));
    }
    let cfg = cs.dir_of(&c.id).join("bundle/config.json");
    let mut spec = spec::Bundle::load(&cfg)?;
    let mut res = spec.resources()?;
    spec::merge(&mut res, &limits);
    spec.set_resources(&res)?;
    if !spec::is_empty(&limits) && cs.state(&c).status == Status::Running {
        let mut cmd = runtime_cmd(&cs, &c);
        cmd.args(["update", "--resources", "-", &c.id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(ioe("running the runtime for update"))?;
        if let Some(mut i) = child.stdin.take() {
            use std::io::Write;
            let _ = i.write_all(&serde_json::to_vec(&limits).expect("json"));
        }
        let out = child
            .wait_with_output()
            .map_err(ioe("running the runtime for update"))?;
        if !out.status.success() {
            return Err(ContainerError::Runtime(format!(
                "update: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    spec.save()?;
    spec::set_host_limits(&mut c.host_config, &res);
    if let Some((p, max)) = policy {
        c.host_config["RestartPolicy"] = serde_json::json!({"Name": p, "MaximumRetryCount": max});
        c.restart_policy = p;
        c.restart_max = max;
    }
    cs.save(&c)?;
    Ok(c)
}

/// Waits for the container to stop (up to `timeout`); true if it did.
pub fn wait_stopped(cs: &ContainerStore, c: &Container, timeout: Option<Duration>) -> bool {
    let shim = cs.shim_dir(&c.id);
    match timeout {
        None => {
            wait_shim_gone(&shim);
            while cs.orphan_pid(c).is_some() {
                std::thread::sleep(Duration::from_millis(20));
            }
            true
        }
        Some(t) => {
            let end = Instant::now() + t;
            loop {
                if !store::shim_alive(&shim) && cs.orphan_pid(c).is_none() {
                    return true;
                }
                if Instant::now() >= end {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
