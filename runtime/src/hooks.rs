//! OCI hooks: each is run with the container's state JSON on stdin, its own
//! args and env, and killed if it outlives its timeout.

use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: {msg}")]
    Failed {
        kind: String,
        path: String,
        msg: String,
    },
}

/// Runs poststop hooks: every one runs, a failure is only a warning
/// (runtime.md, lifecycle step 13).
pub fn run_all_warn(kind: &str, hooks: &[Hook], state_json: &[u8]) {
    for h in hooks {
        if let Err(e) = run_one(kind, h, state_json) {
            log::warn!("{e}");
        }
    }
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for h in hooks {
        run_one(kind, h, state_json)?;
    }
    Ok(())
}

fn run_one(kind: &str, h: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let path = h.path().display().to_string();
    let fail = |msg: String| HookError::Failed {
        kind: kind.into(),
        path: path.clone(),
        msg,
    };
    let mut cmd = Command::new(h.path());
    let args = h.args().clone().unwrap_or_default();
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for e in h.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    // A hook dies with the command that runs it: one whose runtime was
    // killed would otherwise live on unowned (a prestart hook blocking a
    // create that is gone), out of reach of any later command.
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            // Killed before the prctl: nobody is left to notice us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if crate::fault::armed() {
        crate::fault::point(&format!("hook:{kind}"));
    }
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state_json);
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(fail(format!("exited with {st}"))),
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                h.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
