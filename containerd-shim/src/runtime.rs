//! berth-runtime as the shim drives it: the same argv containerd's runc shim
//! gives runc (global --root, --log <bundle>/log.json, --log-format json).

use std::path::{Path, PathBuf};
use std::process::Command;

use containerd_shim::protos::protobuf::{self, Message};
use serde::{Deserialize, Serialize};

use crate::reaper;

const RUNC_OPTIONS_TYPE: &str = "containerd.runc.v1.Options";
const CRI_OPTIONS_TYPE: &str = "runtimeoptions.v1.Options";
/// What the shim remembers of a container's runtime in its bundle, for the
/// `delete` subcommand that runs when the shim itself is gone.
const SAVED: &str = "berth-runtime.json";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("berth-runtime {cmd} failed: {msg}")]
    Failed { cmd: String, msg: String },
    #[error("runtime options: {0}")]
    Options(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runtime {
    pub binary: PathBuf,
    pub root: PathBuf,
}

impl Runtime {
    /// The runtime for a new container: runc-style options (BinaryName,
    /// Root), or the CRI's runtime options whose config file names them,
    /// else berth-runtime next to the shim (or in PATH) with a root under
    /// /run/containerd/berth/<namespace>, as runc's is /run/containerd/runc/<ns>.
    pub fn from_options(
        options: Option<&protobuf::well_known_types::any::Any>,
        namespace: &str,
    ) -> Result<Runtime, RuntimeError> {
        let mut binary = String::new();
        let mut root = String::new();
        if let Some(any) = options {
            if any.type_url.ends_with(RUNC_OPTIONS_TYPE) {
                let o = containerd_shim::api::Options::parse_from_bytes(&any.value)
                    .map_err(|e| RuntimeError::Options(e.to_string()))?;
                binary = o.binary_name;
                root = o.root;
            } else if any.type_url.ends_with(CRI_OPTIONS_TYPE) {
                if let Some(path) = proto_string_field(&any.value, 2).filter(|p| !p.is_empty()) {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| RuntimeError::Options(format!("{path}: {e}")))?;
                    for (k, v) in toml_strings(&text) {
                        match k.as_str() {
                            "BinaryName" | "binary_name" => binary = v,
                            "Root" | "root" => root = v,
                            _ => {}
                        }
                    }
                }
            }
        }
        let binary = if binary.is_empty() {
            default_binary()
        } else {
            PathBuf::from(binary)
        };
        let root = if root.is_empty() {
            Path::new("/run/containerd/berth").join(namespace)
        } else {
            PathBuf::from(root)
        };
        Ok(Runtime { binary, root })
    }

    pub fn save(&self, bundle: &Path) {
        if let Ok(b) = serde_json::to_vec(self) {
            let tmp = bundle.join(format!(".{SAVED}.tmp"));
            if std::fs::write(&tmp, b).is_ok() {
                let _ = std::fs::rename(&tmp, bundle.join(SAVED));
            }
        }
    }

    pub fn load(bundle: &Path, namespace: &str) -> Runtime {
        std::fs::read(bundle.join(SAVED))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| Runtime {
                binary: default_binary(),
                root: Path::new("/run/containerd/berth").join(namespace),
            })
    }

    /// A command with the global flags; `bundle` gets the JSON log.
    pub fn command(&self, bundle: &Path) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(bundle.join("log.json"))
            .arg("--log-format")
            .arg("json");
        c.stdin(std::process::Stdio::null());
        c.stdout(std::process::Stdio::null());
        // Errors come from the JSON log; create and exec replace all three
        // with the container's stdio.
        c.stderr(std::process::Stdio::null());
        c
    }

    /// Runs `cmd` (built by `command`), failing with the runtime's own error
    /// text, taken from its JSON log (or its stderr).
    pub fn run(
        &self,
        bundle: &Path,
        what: &str,
        cmd: Command,
        capture: bool,
    ) -> Result<Vec<u8>, RuntimeError> {
        let log = bundle.join("log.json");
        let before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let out = reaper::run(cmd, capture)
            .map_err(|e| RuntimeError::Spawn(self.binary.display().to_string(), e))?;
        if out.status == 0 {
            return Ok(out.stdout);
        }
        let msg =
            last_log_error(&log, before).unwrap_or_else(|| format!("exit status {}", out.status));
        Err(RuntimeError::Failed {
            cmd: what.to_owned(),
            msg,
        })
    }

    pub fn simple(&self, bundle: &Path, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
        let mut c = self.command(bundle);
        c.args(args);
        self.run(bundle, args[0], c, args[0] == "ps" || args[0] == "state")
    }
}

fn default_binary() -> PathBuf {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let p = dir.join("berth-runtime");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("berth-runtime")
}

/// The last `"level":"error"` message written to the runtime's JSON log
/// after offset `from`.
fn last_log_error(log: &Path, from: u64) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let tail = text.get(from as usize..).unwrap_or(&text[..]);
    String::from_utf8_lossy(tail)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("level").and_then(|l| l.as_str()) == Some("error"))
        .find_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_owned))
}

/// One length-delimited field of a protobuf message, read by hand: the CRI's
/// runtimeoptions type is not among the crate's protos.
fn proto_string_field(buf: &[u8], field: u64) -> Option<String> {
    fn varint(buf: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *buf.get(*i)?;
            *i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut i = 0;
    while i < buf.len() {
        let key = varint(buf, &mut i)?;
        match key & 7 {
            0 => {
                varint(buf, &mut i)?;
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let len = varint(buf, &mut i)? as usize;
                let data = buf.get(i..i + len)?;
                i += len;
                if key >> 3 == field {
                    return Some(String::from_utf8_lossy(data).into_owned());
                }
            }
            _ => return None,
        }
    }
    None
}

/// `key = "value"` lines of a TOML file (all the runtime config file needs).
fn toml_strings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// `containerd-shim-berth-v2 delete`: the shim died, containerd asks for
/// what is left of the container to go.
pub fn cleanup_after_dead_shim(bundle: &Path, namespace: &str, id: &str) {
    let rt = Runtime::load(bundle, namespace);
    if let Err(e) = rt.simple(bundle, &["delete", "--force", id]) {
        log::warn!("delete --force {id}: {e}");
    }
    unmount_rootfs(bundle);
}

pub fn unmount_rootfs(bundle: &Path) {
    let rootfs = bundle.join("rootfs");
    // Lazy: a process of the container's that outlived it may still hold it.
    let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_string_field() {
        // field 1 "a", field 2 "/x/y.toml"
        let mut b = vec![0x0a, 1, b'a', 0x12, 9];
        b.extend_from_slice(b"/x/y.toml");
        assert_eq!(proto_string_field(&b, 2).as_deref(), Some("/x/y.toml"));
        assert_eq!(proto_string_field(&b, 3), None);
    }

    #[test]
    fn toml_lines() {
        let v = toml_strings("# c\nBinaryName = \"/bin/rt\"\nRoot=\"/r\"\nx = 1\n");
        assert_eq!(
            v,
            vec![
                ("BinaryName".into(), "/bin/rt".into()),
                ("Root".into(), "/r".into())
            ]
        );
    }
}
