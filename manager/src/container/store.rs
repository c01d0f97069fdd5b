//! Container records: create, find (id, unique id prefix or name), list,
//! rename, remove; and the state as read from the shim's files.

pub use super::record::{Container, Health, HealthConfig, MountRecord, Probe};
use super::{ioe, write_atomic, ContainerError, Result};
use crate::image::lock::FileLock;
use berth_common::exit::ExitRecord;
use berth_common::procstat::Stat;
use serde::Serialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
    /// Running, with its processes frozen (`pause`).
    pub paused: bool,
    /// Exited, and its restart policy is about to start it again.
    pub restarting: bool,
    /// Running with a health check: starting, healthy or unhealthy.
    pub health: Option<String>,
}

/// `<container dir>/restarting`, while `internal-exited` waits out the
/// backoff: its pid and start time, so that a killed waiter is no mark.
pub struct RestartMark(PathBuf);

impl RestartMark {
    pub fn new(dir: &Path) -> RestartMark {
        let me = std::process::id() as i32;
        let start = Stat::read(me).map_or(0, |s| s.start_time);
        let p = dir.join("restarting");
        let _ = write_atomic(&p, format!("{me} {start}").as_bytes());
        RestartMark(p)
    }

    fn live(dir: &Path) -> bool {
        let Ok(s) = fs::read_to_string(dir.join("restarting")) else {
            return false;
        };
        let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
        match (f.next().flatten(), f.next().flatten()) {
            (Some(pid), Some(start)) => {
                Stat::read(pid as i32).is_some_and(|s| s.start_time == start && !s.is_zombie())
            }
            _ => false,
        }
    }
}

impl Drop for RestartMark {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl State {
    /// docker's State.Status: the status, or "paused" or "restarting".
    pub fn name(&self) -> &'static str {
        if self.paused {
            "paused"
        } else if self.restarting {
            "restarting"
        } else {
            self.status.as_str()
        }
    }

    fn running(pid: i32, id: &str) -> State {
        State {
            status: Status::Running,
            pid,
            exit_code: None,
            finished_at: None,
            oom_killed: false,
            paused: super::cgroup::frozen(id),
            restarting: false,
            health: None,
        }
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

/// The name index: `containers/.names/<name>` is a symlink to the id that
/// holds the name, so that `run` and lookups by name do not read every
/// record. The records stay the truth: an entry whose record is gone or
/// carries another name is stale and counts as free. Entries are made before
/// the record names them and removed after, so a crash leaves only stale ones.
const NAMES: &str = ".names";

impl ContainerStore {
    pub fn open(root: &Path) -> Result<ContainerStore> {
        let dir = root.join("containers");
        fs::create_dir_all(&dir).map_err(ioe(format!("creating {}", dir.display())))?;
        let cs = ContainerStore {
            root: root.to_path_buf(),
            dir,
        };
        if !cs.names_dir().is_dir() {
            let _l = cs.names_lock()?;
            cs.build_name_index()?;
        }
        Ok(cs)
    }

    fn names_dir(&self) -> PathBuf {
        self.dir.join(NAMES)
    }

    /// For stores made before the index (and after someone removed it):
    /// built aside, then renamed in whole. Under the names lock.
    fn build_name_index(&self) -> Result<()> {
        let d = self.names_dir();
        if d.is_dir() {
            return Ok(());
        }
        let tmp = self.dir.join(".names.tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir(&tmp).map_err(ioe(format!("creating {}", tmp.display())))?;
        for c in self.list() {
            std::os::unix::fs::symlink(&c.id, tmp.join(&c.name))
                .map_err(ioe(format!("indexing the name {}", c.name)))?;
        }
        fs::rename(&tmp, &d).map_err(ioe(format!("creating {}", d.display())))
    }

    /// The container that holds `name`, as the index says and its record confirms.
    fn name_owner(&self, name: &str) -> Option<Container> {
        if !valid_name(name) {
            return None;
        }
        let id = fs::read_link(self.names_dir().join(name)).ok()?;
        let id = id.to_str().filter(|i| i.len() == 64)?;
        self.load(id).ok().filter(|c| c.name == name)
    }

    /// Points `name` at `id`; the caller holds the names lock and has seen
    /// that the name is free, so what is there is stale.
    fn link_name(&self, name: &str, id: &str) -> Result<()> {
        let p = self.names_dir().join(name);
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(id, &p).map_err(ioe(format!("indexing the name {name}")))
    }

    /// Drops `name` from the index if `id` still holds it there.
    fn unlink_name(&self, name: &str, id: &str) {
        let p = self.names_dir().join(name);
        if valid_name(name) && fs::read_link(&p).is_ok_and(|t| t.as_os_str() == id) {
            let _ = fs::remove_file(&p);
        }
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

    /// The last results of the health checker (`super::health`).
    pub fn health_file(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("health.json")
    }

    /// Held while names are checked and changed.
    pub fn names_lock(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.dir.join(".lock")).map_err(ioe("locking the container store"))
    }

    /// Held by whoever changes one container's life (start, stop, rm).
    /// Made only while the record is there: an `rm` empties the dir after
    /// removing the record, and a lock file made then would stop it.
    pub fn lock(&self, id: &str) -> Result<FileLock> {
        let p = self.dir.join(id).join("lock");
        match FileLock::exclusive_existing(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.dir.join(id).join("container.json").exists() {
                    return Err(ContainerError::NotFound(id.to_string()));
                }
                FileLock::exclusive(&p)
            }
            r => r,
        }
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
        Container::from_json(&b).map_err(|source| ContainerError::Json {
            what: p.display().to_string(),
            source,
        })
    }

    pub fn save(&self, c: &Container) -> Result<()> {
        let p = self.dir.join(&c.id).join("container.json");
        write_atomic(&p, &c.to_json()).map_err(ioe(format!("writing {}", p.display())))
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
        if let Some(c) = self.name_owner(s) {
            return Ok(c);
        }
        // Only the ids that match are read: a half-created one has no record.
        let hits: Vec<Container> = if s.is_empty() {
            vec![]
        } else {
            self.ids()
                .iter()
                .filter(|id| id.starts_with(s))
                .filter_map(|id| self.load(id).ok())
                .collect()
        };
        match hits.len() {
            1 => Ok(hits.into_iter().next().expect("one hit")),
            0 => Err(ContainerError::NotFound(s.to_string())),
            _ => Err(ContainerError::Ambiguous(s.to_string())),
        }
    }

    /// A free name like docker's adjective_noun; once a few random picks
    /// are taken (a store of thousands), with a number appended.
    fn generate_name(&self) -> String {
        const A: &[&str] = &[
            "brave", "calm", "eager", "fond", "happy", "keen", "lucid", "merry", "nifty", "proud",
            "quiet", "sharp", "sleepy", "tender", "vivid", "witty", "zen", "bold", "clever",
            "jolly", "agile", "bright", "cosmic", "daring", "gentle", "hardy", "honest", "humble",
            "lively", "loyal", "mellow", "modest", "nimble", "patient", "polite", "rapid",
            "serene", "steady", "sunny", "upbeat",
        ];
        const N: &[&str] = &[
            "turing",
            "hopper",
            "lovelace",
            "ritchie",
            "thompson",
            "torvalds",
            "knuth",
            "dijkstra",
            "hamilton",
            "liskov",
            "lamport",
            "shannon",
            "curie",
            "noether",
            "euler",
            "gauss",
            "tesla",
            "darwin",
            "kepler",
            "pascal",
            "babbage",
            "backus",
            "boole",
            "cerf",
            "church",
            "codd",
            "conway",
            "feynman",
            "galois",
            "hoare",
            "kahan",
            "kay",
            "mccarthy",
            "milner",
            "neumann",
            "perlman",
            "pike",
            "ramanujan",
            "wirth",
            "wozniak",
        ];
        let id = super::random_id();
        for i in 0..64u64 {
            let x = u64::from_str_radix(&super::random_id()[..16], 16).unwrap_or(i);
            let pair = format!(
                "{}_{}",
                A[(x % A.len() as u64) as usize],
                N[((x >> 32) % N.len() as u64) as usize]
            );
            let n = if i < 8 {
                pair
            } else {
                format!("{pair}{}", x % 1000)
            };
            if self.name_owner(&n).is_none() {
                return n;
            }
        }
        format!("berth_{}", &id[..12])
    }

    /// Writes a new record with a fresh id and a unique name. The caller
    /// fills the rest of the directory; `remove_dir` undoes it on failure.
    /// Removes container dirs without a record: a `create` killed between
    /// its mkdir and its record, or an `rm` killed between removing the
    /// record and the dir (the rest of the container went before either).
    /// Under the names lock, which every create holds from mkdir to record,
    /// none is work in progress.
    pub fn reap_unrecorded(&self, _names_lock: &FileLock) {
        for id in self.ids() {
            let d = self.dir.join(&id);
            if !d.join("container.json").exists() {
                log::info!(
                    "removing {}: a container dir without its record",
                    d.display()
                );
                let _ = fs::remove_dir_all(&d);
            }
        }
    }

    pub fn create(&self, mut c: Container, name: Option<&str>) -> Result<Container> {
        let l = self.names_lock()?;
        self.reap_unrecorded(&l);
        let name = match name {
            Some(n) => {
                let n = n.trim_start_matches('/');
                if !valid_name(n) {
                    return Err(ContainerError::BadName(n.to_string()));
                }
                if let Some(o) = self.name_owner(n) {
                    return Err(ContainerError::NameInUse(n.to_string(), o.id));
                }
                n.to_string()
            }
            None => self.generate_name(),
        };
        c.id = super::random_id();
        c.name = name;
        c.created = super::now_rfc3339();
        let d = self.dir.join(&c.id);
        fs::create_dir(&d).map_err(ioe(format!("creating {}", d.display())))?;
        if let Err(e) = self.link_name(&c.name, &c.id).and_then(|()| self.save(&c)) {
            let _ = fs::remove_dir_all(&d);
            self.unlink_name(&c.name, &c.id);
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
        if let Some(o) = self.name_owner(new) {
            return Err(ContainerError::NameInUse(new.to_string(), o.id));
        }
        let old = std::mem::replace(&mut c.name, new.to_string());
        self.link_name(new, &c.id)?;
        if let Err(e) = self.save(&c) {
            self.unlink_name(new, &c.id);
            return Err(e);
        }
        self.unlink_name(&old, &c.id);
        Ok(())
    }

    /// Removes the record first (it vanishes from lists at once), then the
    /// rest, then its name.
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        let name = self.load(id).ok().map(|c| c.name);
        let d = self.dir.join(id);
        let _ = fs::remove_file(d.join("container.json"));
        // A command that locked the container just before the record went
        // may still make its lock file: a second pass takes it.
        let r = match fs::remove_dir_all(&d).or_else(|_| fs::remove_dir_all(&d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ioe(format!("removing {}", d.display()))(e))
            }
            _ => Ok(()),
        };
        if let Some(n) = name {
            // Under the lock: a `create` may be replacing this stale entry.
            let _l = self.names_lock()?;
            self.unlink_name(&n, id);
        }
        r
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
                paused: false,
                restarting: false,
                health: None,
            };
        }
        if let Ok(b) = fs::read(shim.join("exit")) {
            if let Ok(e) = serde_json::from_slice::<ExitRecord>(&b) {
                return State {
                    status: Status::Exited,
                    pid: 0,
                    exit_code: Some(e.exit_code),
                    finished_at: Some(e.exited_at),
                    // The cgroup lives on until the next start or rm: it
                    // is the truth before `internal-exited` wrote `oom`.
                    oom_killed: oom || super::cgroup::oom_kills(&c.id) > 0,
                    paused: false,
                    restarting: RestartMark::live(&self.dir_of(&c.id)),
                    health: None,
                };
            }
        }
        if shim_alive(&shim) {
            let pid = fs::read_to_string(shim.join("pid"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            let mut st = State::running(pid, &c.id);
            st.health = read_health(self, c).map(|h| h.status);
            return st;
        }
        // The shim died without an exit record: the init may still live on,
        // re-parented to the host's init. That is the truth ps must show.
        if let Some(pid) = self.orphan_pid(c) {
            return State::running(pid, &c.id);
        }
        State {
            status: Status::Exited,
            pid: 0,
            exit_code: None,
            finished_at: None,
            oom_killed: false,
            paused: false,
            restarting: false,
            health: None,
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
        let s = Stat::read(pid)?;
        (Some(s.start_time) == c.init_start && !s.is_zombie()).then_some(pid)
    }

    /// Stopped by hand: the policy leaves it alone until the next start.
    pub fn mark_stopped(&self, id: &str) -> Result<()> {
        let mut c = self.load(id)?;
        if !c.manually_stopped {
            c.manually_stopped = true;
            self.save(&c)?;
        }
        Ok(())
    }
}

/// The bytes under `p` (files, not directories), without following symlinks.
pub fn dir_size(p: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if let Ok(m) = e.path().symlink_metadata() {
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    total += m.size();
                }
            }
        }
    }
    total
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

/// Waits up to `t` for the shim of `shim_dir` to exit; whether it did.
pub fn wait_shim_gone_for(shim_dir: &Path, t: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + t;
    loop {
        if !shim_alive(shim_dir) {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The health of the container's current run, if it has a check.
pub fn read_health(cs: &ContainerStore, c: &Container) -> Option<Health> {
    c.health.as_ref()?;
    let h: Health = fs::read(cs.health_file(&c.id))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if h.run.is_empty() || Some(&h.run) != c.started_at.as_ref() {
        return Some(Health {
            status: "starting".into(),
            run: c.started_at.clone().unwrap_or_default(),
            ..Default::default()
        });
    }
    Some(h)
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

    fn rec(cs: &ContainerStore, name: Option<&str>) -> Container {
        cs.create(Container::default(), name).unwrap()
    }

    #[test]
    fn the_name_index_follows_create_rename_and_remove() {
        let t = test_support::TempDir::new("berth-store");
        let cs = ContainerStore::open(t.path()).unwrap();
        let a = rec(&cs, Some("web"));
        assert_eq!(cs.find("web").unwrap().id, a.id);
        assert!(matches!(
            cs.create(Container::default(), Some("web")),
            Err(ContainerError::NameInUse(_, ref id)) if *id == a.id
        ));
        cs.rename("web", "db").unwrap();
        assert!(matches!(cs.find("web"), Err(ContainerError::NotFound(_))));
        assert_eq!(cs.find("db").unwrap().id, a.id);
        let b = rec(&cs, Some("web"));
        assert_ne!(b.id, a.id);
        cs.remove_dir(&a.id).unwrap();
        assert!(!cs.names_dir().join("db").exists());
        assert_eq!(rec(&cs, Some("db")).name, "db");
        let g = rec(&cs, None);
        assert_eq!(cs.find(&g.name).unwrap().id, g.id);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            let n = rec(&cs, None).name;
            assert!(valid_name(&n) && seen.insert(n.clone()), "{n}");
        }
        assert_eq!(cs.find(&b.id[..10]).unwrap().id, b.id);
    }

    #[test]
    fn stale_entries_are_free_and_old_stores_get_an_index() {
        let t = test_support::TempDir::new("berth-store");
        let cs = ContainerStore::open(t.path()).unwrap();
        let a = rec(&cs, Some("a"));
        // A crash between the entry and the record, or after the record went.
        std::os::unix::fs::symlink("f".repeat(64), cs.names_dir().join("ghost")).unwrap();
        assert!(matches!(cs.find("ghost"), Err(ContainerError::NotFound(_))));
        assert_eq!(rec(&cs, Some("ghost")).name, "ghost");
        // An entry that points at a container now named otherwise.
        fs::remove_file(cs.names_dir().join("ghost")).unwrap();
        std::os::unix::fs::symlink(&a.id, cs.names_dir().join("ghost")).unwrap();
        assert!(cs.find("ghost").is_err());
        // A store from before the index.
        fs::remove_dir_all(cs.names_dir()).unwrap();
        let cs = ContainerStore::open(t.path()).unwrap();
        assert_eq!(cs.find("a").unwrap().id, a.id);
        assert!(cs.create(Container::default(), Some("a")).is_err());
    }
}
