//! The container's state directory: `<root>/<id>/` with `state.json`, the
//! `exec.fifo` of a created container and a lock file serializing commands.

use crate::utils::{is_same_process, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
const LOCK_FILE: &str = "lock";
/// The OCI runtime spec version we implement and report.
pub const OCI_VERSION: &str = "1.2.1";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("state of container {0} is unreadable: {1}")]
    Corrupt(String, String),
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StateError {
    let what = what.into();
    move |e| StateError::Io(what, e)
}

/// Ids become directory names and cgroup names: only a safe alphabet, no
/// `.`/`..`, bounded so paths stay short.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| Err(StateError::InvalidId(id.to_string(), why));
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id.len() > 200 {
        return bad("longer than 200 bytes");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What we persist about a container. The public part (`oci_state`) follows
/// state-schema.json; the rest is ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// Start time of the init (see `utils::process_start_time`).
    pub init_start_time: u64,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// RFC 3339 creation time, for `list`.
    pub created: String,
    /// Cgroup of the container, relative to each hierarchy root.
    pub cgroup_path: String,
    /// Ancestors of that cgroup that `create` made, removed at `delete`
    /// when empty (a nested cgroupsPath such as /a/x/y).
    #[serde(default)]
    pub cgroup_made: Vec<PathBuf>,
    #[serde(default)]
    pub use_terminal: bool,
    pub owner: u32,
}

/// The JSON printed by `state`: exactly the fields of state-schema.json.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// A container's state directory, locked for the lifetime of this value.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    _lock: fs::File,
}

fn lock(path: &Path) -> Result<fs::File, StateError> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path.join(LOCK_FILE))
        .map_err(io_err(format!("lock {}", path.display())))?;
    // Blocking: concurrent commands on one id simply take turns.
    f.lock().map_err(io_err("flock"))?;
    Ok(f)
}

impl ContainerDir {
    /// Creates the directory of a new container; fails if the id is taken.
    /// A dir left by a killed create is taken over: `undo` first undoes
    /// what that create made outside it (see `remove_debris`).
    pub fn create(
        root: &Path,
        id: &str,
        undo: &mut dyn FnMut(&Path),
    ) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io_err(format!("create root {}", root.display())))?;
        let path = root.join(id);
        // The directory appears already locked: it is made under a temp name,
        // its lock taken, then renamed into place (which fails if the id is
        // taken). No other command can ever see it unlocked and half-made.
        let tmp = root.join(format!(".new.{}.{}", std::process::id(), id));
        // 0711: the init, once it runs as the container's user, must still be
        // able to open exec.fifo by name through its directory fd.
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(io_err(format!("create {}", tmp.display())))?;
        let made = lock(&tmp).and_then(|l| {
            for attempt in 0..2 {
                match fs::rename(&tmp, &path) {
                    Ok(()) => return Ok(l),
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EEXIST) | Some(libc::ENOTEMPTY)
                        ) =>
                    {
                        // A create that was killed mid-way leaves a dir with no
                        // state: that id is free again once nobody holds its lock.
                        if attempt > 0 || !Self::remove_debris(root, id, undo)? {
                            return Err(StateError::Exists(id.into()));
                        }
                    }
                    Err(e) => return Err(StateError::Io(format!("create {}", path.display()), e)),
                }
            }
            Err(StateError::Exists(id.into()))
        });
        match made {
            Ok(_lock) => Ok(ContainerDir {
                id: id.into(),
                path,
                _lock,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(StateError::NotFound(id.into()));
        }
        let _lock = lock(&path)?;
        // A concurrent delete may have removed it while we waited for the lock.
        if !path.join(STATE_FILE).exists() {
            return Err(StateError::NotFound(id.into()));
        }
        Ok(ContainerDir {
            id: id.into(),
            path,
            _lock,
        })
    }

    /// The fd of the lock, for a child forked while it is held to close: the
    /// lock must die with the runtime, not live on in a child stuck before
    /// its exec (close-on-exec alone leaves it there until then).
    pub fn lock_fd(&self) -> i32 {
        self._lock.as_raw_fd()
    }

    /// Removes the directory of `id` if it holds no state and no one has it
    /// locked (left by a killed `create`), after `undo` has undone, under
    /// the lock, what that create made elsewhere (cgroups, processes,
    /// mounts) from the records it keeps in the dir. True if it was removed.
    pub fn remove_debris(
        root: &Path,
        id: &str,
        undo: &mut dyn FnMut(&Path),
    ) -> Result<bool, StateError> {
        let path = root.join(id);
        if path.join(STATE_FILE).exists() || !path.is_dir() {
            return Ok(false);
        }
        let Ok(f) = fs::File::open(path.join(LOCK_FILE)) else {
            // No lock file: the creator died before taking it, or is about to.
            return Ok(false);
        };
        if f.try_lock().is_err() {
            return Ok(false);
        }
        // Looked at again under the lock: a create that finished between the
        // first look and the lock wrote its state before letting go of it.
        if path.join(STATE_FILE).exists() {
            return Ok(false);
        }
        undo(&path);
        fs::remove_dir_all(&path).map_err(io_err(format!("remove {}", path.display())))?;
        Ok(true)
    }

    /// Removes the temp dirs (`.new.PID.ID`) of creates of `id` killed
    /// before their dir got its name, unless one is still locked (alive).
    pub fn remove_new_debris(root: &Path, id: &str) {
        let Ok(rd) = fs::read_dir(root) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(mid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(".new."))
                .and_then(|n| n.strip_suffix(id))
                .and_then(|n| n.strip_suffix('.'))
            else {
                continue;
            };
            if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let p = e.path();
            // No lock file yet: free only if its creator is dead.
            let free = match fs::File::open(p.join(LOCK_FILE)) {
                Ok(f) => f.try_lock().is_ok(),
                Err(_) => !Path::new(&format!("/proc/{mid}")).exists(),
            };
            if free {
                let _ = fs::remove_dir_all(&p);
            }
        }
    }

    pub fn load(&self) -> Result<State, StateError> {
        read_state(&self.path, &self.id)
    }

    pub fn save(&self, st: &State) -> Result<(), StateError> {
        let data = serde_json::to_vec(st).expect("state serializes");
        write_atomic(&self.path.join(STATE_FILE), &data, 0o600)
            .map_err(io_err(format!("write state of {}", self.id)))
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Removes the directory; the lock dies with it.
    pub fn remove(self) -> Result<(), StateError> {
        fs::remove_dir_all(&self.path).map_err(io_err(format!("remove {}", self.path.display())))
    }
}

impl State {
    /// The status as the spec defines it, derived from the live system rather
    /// than stored, so it can never go stale.
    pub fn status(&self, dir: &Path) -> Status {
        if !is_same_process(self.pid, self.init_start_time) {
            return Status::Stopped;
        }
        if dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if crate::cgroups::is_frozen(&self.cgroup_path) {
            return Status::Paused;
        }
        Status::Running
    }

    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            status,
            pid: if status == Status::Stopped {
                None
            } else {
                Some(self.pid)
            },
            bundle: &self.bundle,
            annotations: &self.annotations,
        }
    }
}

/// The state of `id` without taking its lock, for `list`: state.json is only
/// ever replaced by a rename, so this reads a whole one, and `list` neither
/// waits for nor holds up a command busy with that container. One still
/// being created (no state yet) or deleted meanwhile is NotFound.
pub fn read_unlocked(root: &Path, id: &str) -> Result<State, StateError> {
    validate_id(id)?;
    read_state(&root.join(id), id)
}

fn read_state(dir: &Path, id: &str) -> Result<State, StateError> {
    let data = match fs::read(dir.join(STATE_FILE)) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StateError::NotFound(id.into()))
        }
        Err(e) => return Err(io_err(format!("read state of {id}"))(e)),
    };
    serde_json::from_slice(&data).map_err(|e| StateError::Corrupt(id.into(), e.to_string()))
}

/// Ids of all containers under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(StateError::Io(format!("read {}", root.display()), e)),
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            !e.file_name().to_string_lossy().starts_with('.') && e.path().join(STATE_FILE).exists()
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b", "a b", &"x".repeat(201)] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
