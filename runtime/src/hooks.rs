//! OCI hooks: each is run with the container's state JSON on stdin, its own
//! args and env, and killed if it outlives its timeout.

use crate::state::{Status, OCI_VERSION};
use oci_spec::runtime::{Hook, Hooks};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hook kinds of config.md#posix-platform-hooks, named as in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks` (none when the list is absent).
    pub fn of(self, hooks: &Hooks) -> Vec<Hook> {
        match self {
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        }
        .clone()
        .unwrap_or_default()
    }
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The state hooks read on their stdin (runtime.md#state), with the status
/// filled in by whoever runs them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub annotations: HashMap<String, String>,
}

impl HookState {
    pub fn new(
        id: &str,
        pid: i32,
        bundle: PathBuf,
        annotations: &Option<HashMap<String, String>>,
    ) -> HookState {
        HookState {
            oci_version: OCI_VERSION.into(),
            id: id.into(),
            status: Status::Creating,
            pid,
            bundle,
            annotations: annotations.clone().unwrap_or_default(),
        }
    }

    /// The JSON a hook gets, as the container is `status`.
    pub fn json(&self, status: Status) -> Vec<u8> {
        serde_json::to_vec(&self.value(status)).expect("serializes")
    }

    /// The same state as a JSON value (what a seccomp agent gets too).
    pub fn value(&self, status: Status) -> serde_json::Value {
        let mut s = self.clone();
        s.status = status;
        serde_json::to_value(&s).expect("serializes")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: {msg}")]
    Failed {
        kind: HookKind,
        path: String,
        msg: String,
    },
}

/// Runs poststop hooks: every one runs, a failure is only a warning
/// (runtime.md, lifecycle step 13).
pub fn run_all_warn(kind: HookKind, hooks: &[Hook], state_json: &[u8]) {
    for h in hooks {
        if let Err(e) = run_one(kind, h, state_json) {
            log::warn!("{e}");
        }
    }
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run(kind: HookKind, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for h in hooks {
        run_one(kind, h, state_json)?;
    }
    Ok(())
}

fn run_one(kind: HookKind, h: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let path = h.path().display().to_string();
    let fail = |msg: String| HookError::Failed {
        kind,
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
    crate::sys::die_with_parent(&mut cmd);
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
