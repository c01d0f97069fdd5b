//! Container records: create, find (id, unique id prefix or name), list,
//! rename, remove; and the state as read from the shim's files.

use super::{ioe, write_atomic, ContainerError, Result};
use crate::image::lock::FileLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A mount of the container as recorded for inspect and volume bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct MountRecord {
    /// "bind", "volume" or "tmpfs"
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub created: String,
    /// Path and args of the process (COMMAND).
    pub args: Vec<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub stop_signal: String,
    pub stop_timeout: u32,
    pub runtime: String,
    pub network_mode: String,
    #[serde(default)]
    pub ports: Vec<String>,
    pub hostname: String,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub mounts: Vec<MountRecord>,
    /// Set on every start.
    #[serde(default)]
    pub started_at: Option<String>,
    /// The init's start time (clock ticks after boot), so that a reused pid
    /// is never taken for it when the shim is gone.
    #[serde(default)]
    pub init_start: Option<u64>,
    /// The shim rotates the log past this many bytes (0: never).
    #[serde(default)]
    pub log_max_size: u64,
    /// docker's inspect `HostConfig` as built from the flags.
    #[serde(default)]
    pub host_config: serde_json::Value,
    /// Anything else a verb wants to remember (network attachments...).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// The state, read from the shim's dir.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    /// None: the shim died without recording it.
    pub exit_code: Option<i32>,
    pub finished_at: Option<String>,
    pub oom_killed: bool,
}

impl State {
    fn running(pid: i32) -> State {
        State {
            status: Status::Running,
            pid,
            exit_code: None,
            finished_at: None,
            oom_killed: false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ExitRecord {
    exit_code: i32,
    #[serde(default)]
    exited_at: String,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

pub struct ContainerStore {
    root: PathBuf,
    dir: PathBuf,
}

fn valid_name(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && cs.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl ContainerStore {
    pub fn open(root: &Path) -> Result<ContainerStore> {
        let dir = root.join("containers");
        fs::create_dir_all(&dir).map_err(ioe(format!("creating {}", dir.display())))?;
        Ok(ContainerStore {
            root: root.to_path_buf(),
            dir,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn shim_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("shim")
    }

    /// Held while names are checked and changed.
    pub fn names_lock(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.dir.join(".lock")).map_err(ioe("locking the container store"))
    }

    /// Held by whoever changes one container's life (start, stop, rm).
    pub fn lock(&self, id: &str) -> Result<FileLock> {
        FileLock::exclusive(&self.dir.join(id).join("lock"))
            .map_err(ioe(format!("locking container {id}")))
    }

    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.len() == 64)
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn load(&self, id: &str) -> Result<Container> {
        let p = self.dir.join(id).join("container.json");
        let b = fs::read(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ContainerError::NotFound(id.to_string())
            } else {
                ioe(p.display())(e)
            }
        })?;
        serde_json::from_slice(&b)
            .map_err(|e| ContainerError::Other(format!("invalid {}: {e}", p.display())))
    }

    pub fn save(&self, c: &Container) -> Result<()> {
        let p = self.dir.join(&c.id).join("container.json");
        write_atomic(&p, &serde_json::to_vec_pretty(c).expect("container json"))
            .map_err(ioe(format!("writing {}", p.display())))
    }

    /// Every container whose record is complete (a half-created one is skipped).
    pub fn list(&self) -> Vec<Container> {
        self.ids()
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect()
    }

    /// Finds by full id, exact name, then unique id prefix.
    pub fn find(&self, s: &str) -> Result<Container> {
        let s = s.trim_start_matches('/');
        if s.len() == 64 {
            if let Ok(c) = self.load(s) {
                return Ok(c);
            }
        }
        let all = self.list();
        if let Some(c) = all.iter().find(|c| c.name == s) {
            return Ok(c.clone());
        }
        let hits: Vec<&Container> = if s.is_empty() {
            vec![]
        } else {
            all.iter().filter(|c| c.id.starts_with(s)).collect()
        };
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(ContainerError::NotFound(s.to_string())),
            _ => Err(ContainerError::Ambiguous(s.to_string())),
        }
    }

    /// A free name like docker's adjective_noun.
    fn generate_name(&self, taken: &[String]) -> String {
        const A: &[&str] = &[
            "brave", "calm", "eager", "fond", "happy", "keen", "lucid", "merry", "nifty", "proud",
            "quiet", "sharp", "sleepy", "tender", "vivid", "witty", "zen", "bold", "clever",
            "jolly",
        ];
        const N: &[&str] = &[
            "turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra",
            "hamilton", "liskov", "lamport", "shannon", "curie", "noether", "euler", "gauss",
            "tesla", "darwin", "kepler", "pascal",
        ];
        let id = super::random_id();
        let b = u64::from_str_radix(&id[..16], 16).unwrap_or(0);
        for i in 0..400u64 {
            let x = b.wrapping_add(i * 7919);
            let n = format!(
                "{}_{}",
                A[(x % A.len() as u64) as usize],
                N[((x / 31) % N.len() as u64) as usize]
            );
            if !taken.contains(&n) {
                return n;
            }
        }
        format!("berth_{}", &id[..12])
    }

    /// Writes a new record with a fresh id and a unique name. The caller
    /// fills the rest of the directory; `remove_dir` undoes it on failure.
    pub fn create(&self, mut c: Container, name: Option<&str>) -> Result<Container> {
        let _l = self.names_lock()?;
        let taken: Vec<Container> = self.list();
        let name = match name {
            Some(n) => {
                let n = n.trim_start_matches('/');
                if !valid_name(n) {
                    return Err(ContainerError::BadName(n.to_string()));
                }
                if let Some(o) = taken.iter().find(|o| o.name == n) {
                    return Err(ContainerError::NameInUse(n.to_string(), o.id.clone()));
                }
                n.to_string()
            }
            None => {
                let names: Vec<String> = taken.iter().map(|c| c.name.clone()).collect();
                self.generate_name(&names)
            }
        };
        c.id = super::random_id();
        c.name = name;
        c.created = super::now_rfc3339();
        let d = self.dir.join(&c.id);
        fs::create_dir(&d).map_err(ioe(format!("creating {}", d.display())))?;
        if let Err(e) = self.save(&c) {
            let _ = fs::remove_dir_all(&d);
            return Err(e);
        }
        Ok(c)
    }

    pub fn rename(&self, s: &str, new: &str) -> Result<()> {
        let _l = self.names_lock()?;
        let mut c = self.find(s)?;
        if !valid_name(new) {
            return Err(ContainerError::BadName(new.to_string()));
        }
        if let Some(o) = self.list().iter().find(|o| o.name == new) {
            return Err(ContainerError::NameInUse(new.to_string(), o.id.clone()));
        }
        c.name = new.to_string();
        self.save(&c)
    }

    /// Removes the record first (it vanishes from lists at once), then the rest.
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        let d = self.dir.join(id);
        let _ = fs::remove_file(d.join("container.json"));
        match fs::remove_dir_all(&d) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ioe(format!("removing {}", d.display()))(e))
            }
            _ => Ok(()),
        }
    }

    /// The state as the shim's files tell it.
    pub fn state(&self, c: &Container) -> State {
        let shim = self.shim_dir(&c.id);
        let oom = fs::read_to_string(shim.join("oom")).is_ok();
        if c.started_at.is_none() {
            return State {
                status: Status::Created,
                pid: 0,
                exit_code: None,
                finished_at: None,
                oom_killed: false,
            };
        }
        if let Ok(b) = fs::read(shim.join("exit")) {
            if let Ok(e) = serde_json::from_slice::<ExitRecord>(&b) {
                return State {
                    status: Status::Exited,
                    pid: 0,
                    exit_code: Some(e.exit_code),
                    finished_at: Some(e.exited_at),
                    oom_killed: oom || e.exit_code == 137 && oom_in_cgroup(&c.id),
                };
            }
        }
        if shim_alive(&shim) {
            let pid = fs::read_to_string(shim.join("pid"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            return State::running(pid);
        }
        // The shim died without an exit record: the init may still live on,
        // re-parented to the host's init. That is the truth ps must show.
        if let Some(pid) = self.orphan_pid(c) {
            return State::running(pid);
        }
        State {
            status: Status::Exited,
            pid: 0,
            exit_code: None,
            finished_at: None,
            oom_killed: false,
        }
    }

    /// Sends `sig` to the init: through the shim, or straight to an orphaned init.
    pub fn signal(&self, c: &Container, sig: i32) -> Result<()> {
        match super::attach::send_signal(&self.shim_dir(&c.id), sig) {
            Err(e) => match self.orphan_pid(c) {
                // SAFETY: kill(2) of a pid checked against the init's start time just now.
                Some(pid) if unsafe { libc::kill(pid, sig) } == 0 => Ok(()),
                _ => Err(e),
            },
            ok => ok,
        }
    }

    /// The container's init, alive although its shim is dead (killed -9, OOM...).
    pub fn orphan_pid(&self, c: &Container) -> Option<i32> {
        let shim = self.shim_dir(&c.id);
        if shim_alive(&shim) || shim.join("exit").exists() {
            return None;
        }
        let pid: i32 = fs::read_to_string(shim.join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let (start, zombie) = proc_start(pid)?;
        (Some(start) == c.init_start && !zombie).then_some(pid)
    }
}

/// A process's start time (field 22 of /proc/PID/stat) and whether it is a zombie.
pub fn proc_start(pid: i32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((f.get(19)?.parse().ok()?, f.first() == Some(&"Z")))
}

/// The shim holds an flock on shim.lock for as long as it lives.
pub fn shim_alive(shim_dir: &Path) -> bool {
    let p = shim_dir.join("shim.lock");
    if !p.exists() {
        return false;
    }
    match fs::File::open(&p) {
        Ok(f) => {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor we own; released when f drops.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
            r != 0
        }
        Err(_) => false,
    }
}

/// Blocks until the shim of `shim_dir` has exited.
pub fn wait_shim_gone(shim_dir: &Path) {
    if let Ok(f) = fs::File::open(shim_dir.join("shim.lock")) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above; a blocking shared lock returns once the shim's is gone.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) } != 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
    }
}

fn oom_in_cgroup(id: &str) -> bool {
    // The cgroup is gone once the runtime deleted the container; v1 only while it lives.
    fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/berth/{id}/memory.oom_control"
    ))
    .map(|s| {
        s.lines()
            .any(|l| l == "oom_kill 1" || l.starts_with("oom_kill ") && l != "oom_kill 0")
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }
}
