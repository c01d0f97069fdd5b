//! What happens once a container's process has exited: the `oom` and `die`
//! events, the restart policy (`berth internal-exited`, run by the shim),
//! and the end of an attached run.

use super::event;
use super::remove::cleanup;
use super::start::start_locked;
use super::stop::wait_stopped;
use crate::container::attach::{self, Outcome};
use crate::container::cgroup;
use crate::container::net::net_teardown;
use crate::container::record::RestartPolicy;
use crate::container::store::{self, wait_shim_gone, Container, ContainerStore, Status};
use crate::container::write_atomic;
use crate::container::Result;
use crate::image::lock::FileLock;
use std::path::Path;
use std::time::Duration;

/// A container that exited on its own and will not be restarted gives its
/// address and published ports back, as `stop` does: a host service may
/// want the port, and a DNAT to a dead address only makes clients time out.
/// Under the container's lock, and only if it is still exited: a `start`
/// may have come first.
fn release_network(cs: &ContainerStore, id: &str) {
    let Ok(_l) = cs.lock(id) else { return };
    if let Ok(c) = cs.load(id) {
        if cs.state(&c).status == Status::Exited {
            net_teardown(cs.root(), &c);
        }
    }
}

/// `berth internal-exited ID`, run by the shim once the container's exit is
/// recorded: applies the restart policy, after docker's backoff (100 ms,
/// doubled at each restart of a container that ran less than 10 s, at most
/// one minute). Returns whether it started the container again.
pub fn on_exit(root: &Path, id: &str) -> Result<bool> {
    let cs = ContainerStore::open(root)?;
    let c = cs.load(id)?;
    wait_shim_gone(&cs.shim_dir(id));
    let st = cs.state(&c);
    let code = st.exit_code.map(|x| x.to_string()).unwrap_or_default();
    report_exit(&cs, &c, &code);
    if c.auto_remove {
        // A detached --rm: nobody else is there to remove it.
        if let Ok(Some(_l)) = FileLock::try_exclusive(&cs.dir_of(id).join("lock")) {
            cleanup(&cs, &c, true)?;
        }
        return Ok(false);
    }
    if !c.restarts() || c.manually_stopped {
        release_network(&cs, id);
        return Ok(false);
    }
    let wanted = |c: &Container, st: &store::State| {
        c.restarts()
            && !c.manually_stopped
            && st.status == Status::Exited
            && match c.restart_policy {
                RestartPolicy::OnFailure => {
                    st.exit_code.unwrap_or(1) != 0
                        && (c.restart_max == 0 || c.restart_count < c.restart_max)
                }
                _ => true,
            }
    };
    if !wanted(&c, &st) {
        release_network(&cs, id);
        return Ok(false);
    }
    let secs = |t: Option<&str>| t.and_then(crate::image::time::parse_rfc3339);
    let ran = match (
        secs(c.started_at.as_deref()),
        secs(st.finished_at.as_deref()),
    ) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let delay = if ran >= 10 || c.restart_delay_ms == 0 {
        100
    } else {
        (c.restart_delay_ms * 2).min(60_000)
    };
    // `ps` and `inspect` say "restarting" while this waits.
    let _mark = store::RestartMark::new(&cs.dir_of(id));
    std::thread::sleep(Duration::from_millis(delay));
    // Looked at again under the lock: a stop, rm or start may have come meanwhile.
    let _l = cs.lock(id)?;
    let Ok(mut c2) = cs.load(id) else {
        return Ok(false);
    };
    let st = cs.state(&c2);
    if !wanted(&c2, &st) || c2.started_at != c.started_at {
        return Ok(false);
    }
    // Its address went with the exit; start attaches it again.
    net_teardown(root, &c2);
    c2.restart_count += 1;
    c2.restart_delay_ms = delay;
    start_locked(root, &cs, c2, super::start::Attach::No)?;
    Ok(true)
}

/// Reports an exit: `oom` first if the OOM killer killed any process of the
/// container in this run (the shim's `oom` file, read as State.OOMKilled;
/// its cgroup is still there, the runtime has not deleted it yet), then
/// `die`, as docker does.
fn report_exit(cs: &ContainerStore, c: &Container, code: &str) {
    let kills = cgroup::oom_kills(&c.id);
    if kills > 0 {
        let _ = write_atomic(
            &cs.shim_dir(&c.id).join("oom"),
            kills.to_string().as_bytes(),
        );
        event(cs.root(), c, "oom", &[]);
    }
    event(cs.root(), c, "die", &[("exitCode", code)]);
}

/// After an attached run: the exit code; removes the container if --rm.
pub fn finish_attached(
    root: &Path,
    c: &Container,
    sock: std::os::unix::net::UnixStream,
    stdin: bool,
) -> Result<Option<i32>> {
    let cs = ContainerStore::open(root)?;
    let out = attach::pump(sock, stdin, c.tty)?;
    let code = match out {
        Outcome::Detached => return Ok(None),
        Outcome::Exited(code) => {
            wait_stopped(&cs, c, None);
            code
        }
        Outcome::Lost => {
            wait_stopped(&cs, c, None);
            cs.state(c).exit_code.unwrap_or(-1)
        }
    };
    if c.auto_remove {
        // No exit command runs for an attached --rm container: we report it.
        report_exit(&cs, c, &code.to_string());
        let _l = cs.lock(&c.id)?;
        cleanup(&cs, c, true)?;
    }
    Ok(Some(code))
}

/// Blocks until the container stops; its exit code (-1 if unknown).
pub fn wait(root: &Path, name: &str) -> Result<i32> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    wait_stopped(&cs, &c, None);
    Ok(cs.state(&c).exit_code.unwrap_or(-1))
}
