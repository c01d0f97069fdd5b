//! The command lines berth runs: the binaries that ship next to it and the
//! OCI runtime's (`--root`, errors from its stderr).

use super::store::{Container, ContainerStore};
use super::{ioe, ContainerError, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A binary that ships next to `berth` (berth-shim, berth-runtime).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `--runtime`: a path, a name in PATH, or by default berth-runtime next to us.
pub fn runtime_path(r: Option<&str>) -> Result<String> {
    let Some(r) = r else {
        let p = sibling("berth-runtime");
        if !p.exists() {
            return Err(ContainerError::Other(format!(
                "the default runtime {} is missing (or give --runtime)",
                p.display()
            )));
        }
        return Ok(p.display().to_string());
    };
    if r.contains('/') {
        if !Path::new(r).exists() {
            return Err(super::bad("--runtime", r, "no such file"));
        }
        return Ok(r.to_string());
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(r))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .ok_or_else(|| super::bad("--runtime", r, "not found in PATH"))
}

pub(crate) fn runtime_cmd(cs: &ContainerStore, c: &Container) -> Command {
    let mut cmd = Command::new(&c.runtime);
    cmd.arg("--root").arg(cs.runtime_root());
    cmd
}

pub(crate) fn run_runtime(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(ioe(format!("running the runtime for {what}")))?;
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(ContainerError::Runtime(format!("{what}: {e}")));
    }
    Ok(())
}

/// The runtime still knows the container (it was not deleted yet).
pub(crate) fn runtime_has(cs: &ContainerStore, id: &str) -> bool {
    cs.runtime_root().join(id).exists()
}

pub(crate) fn runtime_delete(cs: &ContainerStore, c: &Container) {
    if runtime_has(cs, &c.id) {
        let mut cmd = runtime_cmd(cs, c);
        cmd.args(["delete", "--force", &c.id]);
        if let Err(e) = run_runtime(cmd, "delete") {
            log::warn!("{e}");
        }
    }
}
