//! The runtime's operations on containers: create, start, state, kill,
//! delete, exec, and their combination `run`. The CLI calls these.

use crate::cgroups::{self, CgroupError};
use crate::config::{self, ConfigError};
use crate::console;
use crate::fault;
use crate::hooks::{self, HookError, HookKind, HookState};
use crate::init::{InitConfig, Mode};
use crate::namespaces::{self, NsError, JOIN_ORDER};
use crate::rootfs;
use crate::selfexe;
use crate::state::{ContainerDir, State, StateError, Status};
use crate::sync::{Channel, Msg};
use crate::utils::{process_start_time, write_atomic};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The config copy kept in the state dir: later edits of the bundle's
/// config.json must not affect the container (runtime.md, create step 2).
const CONFIG_COPY: &str = "config.json";

/// Without a mount namespace of the container's own: the ids of the mounts
/// that were below its rootfs before `create`, which are the host's.
const HOST_MOUNTS: &str = "host-mounts";

/// Written before the first cgroup is made when the config copy alone does
/// not tell where it goes (a relative cgroupsPath, which depends on our own
/// cgroup) or what it makes (ancestors that do not exist yet): the cgroup's
/// path and those ancestors, so that whatever a killed `create` left (it
/// has no state.json yet) is found and removed by the next `delete --force`
/// or `create` of the id. The common case (`/<id>`, or an absolute path
/// below an existing parent) writes nothing more than before.
const CGROUP_RECORD: &str = "cgroup";

#[derive(serde::Serialize, serde::Deserialize)]
struct CgroupRecord {
    path: String,
    made: Vec<PathBuf>,
}

/// Undoes, from the records in its state dir, what a `create` killed before
/// it wrote state.json made elsewhere: the processes in its cgroup (an init
/// blocked on exec.fifo, or still setting up), the mounts it put on the host
/// (no mount namespace of its own), and its cgroups in every hierarchy.
fn undo_debris(dir: &Path) {
    let rec = match fs::read(dir.join(CGROUP_RECORD)) {
        Ok(raw) => match serde_json::from_slice::<CgroupRecord>(&raw) {
            Ok(r) => r,
            // Cut short by the kill: written before any cgroup existed.
            Err(_) => return,
        },
        Err(_) => {
            // No record: the path follows from the config copy, saved
            // before any cgroup was made (none there: nothing was).
            let Ok(raw) = fs::read(dir.join(CONFIG_COPY)) else {
                return;
            };
            let Ok(spec) = config::parse(&raw) else {
                return;
            };
            let id = dir.file_name().unwrap_or_default().to_string_lossy();
            let p = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
            if p.as_ref().is_some_and(|p| p.is_relative()) {
                // Would have had a record: written before the first mkdir.
                return;
            }
            let Ok(path) = cgroups::resolve_path(p.as_deref(), &id) else {
                return;
            };
            CgroupRecord { path, made: vec![] }
        }
    };
    let cg = cgroups::manager(&rec.path);
    cgroups::kill_all(cg.as_ref(), 5);
    if let Some((root, keep)) = read_host_mounts(dir).filter(|(r, _)| r.is_absolute()) {
        rootfs::unmount_below(&root, &keep);
    }
    let _ = cgroups::destroy_with(cg.as_ref(), &rec.made);
}

/// The host-mounts record: the rootfs, then the ids of the host's mounts
/// below it when `create` began.
fn read_host_mounts(dir: &Path) -> Option<(PathBuf, Vec<u64>)> {
    let text = fs::read_to_string(dir.join(HOST_MOUNTS)).ok()?;
    // The rootfs may hold any byte but a NUL; the ids never a newline.
    let (root, ids) = text.rsplit_once('\n').unwrap_or(("", &text));
    let keep = ids
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    Some((PathBuf::from(root), keep))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("{0}: {1}")]
    Os(String, io::Error),
    /// The container's own setup failed; the text comes from its init.
    #[error("{0}")]
    Init(String),
    #[error("{0}")]
    Usage(String),
    /// Paths inside a rootfs are only ever resolved with openat2: without
    /// it there is no safe way to set a container up.
    #[error("kernel 5.6 or later needed: openat2(2) is missing (ENOSYS)")]
    OldKernel,
}

/// Fails at once, with one line, on a kernel too old for what every
/// container needs, rather than midway through the setup.
fn check_kernel() -> Result<()> {
    if fsroot::has_openat2() {
        Ok(())
    } else {
        Err(Error::OldKernel)
    }
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |e| Error::Os(what, e)
}

pub type Result<T> = std::result::Result<T, Error>;

pub struct CreateOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// What `create` leaves to a caller that stays (`run`): the init is our child.
pub struct Created {
    pub pid: i32,
    /// The pty master, when `run` asked for the terminal itself.
    pub master: Option<OwnedFd>,
}

/// Undoes a half-made container when `create` fails at any step.
struct Cleanup<'a> {
    dir: Option<ContainerDir>,
    /// The rootfs of a container without a mount namespace of its own,
    /// whose mounts land on the host, and the ids of the host's own there.
    host_mounts: Option<(PathBuf, Vec<u64>)>,
    cgroup: Option<Box<dyn cgroups::Manager>>,
    /// The cgroup's ancestors that this create made.
    cgroup_made: Vec<PathBuf>,
    child: i32,
    _p: std::marker::PhantomData<&'a ()>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if self.child > 0 {
            unsafe { libc::kill(self.child, libc::SIGKILL) };
            unsafe { libc::waitpid(self.child, std::ptr::null_mut(), 0) };
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.signal_all(libc::SIGKILL);
            let _ = cgroups::destroy_with(cg.as_ref(), &self.cgroup_made);
        }
        if let Some((r, keep)) = self.host_mounts.take() {
            rootfs::unmount_below(&r, &keep);
        }
        if let Some(d) = self.dir.take() {
            let _ = d.remove();
        }
    }
}

/// Where a terminal's pty master goes: the caller's `--console-socket`, or
/// (`ours`) back to us through a socketpair. Returns the end the init gets
/// and, in the second case, the end we keep.
fn console_endpoints(
    socket: Option<&Path>,
    ours: bool,
) -> Result<Option<(UnixStream, Option<UnixStream>)>> {
    match (socket, ours) {
        (Some(p), _) => Ok(Some((
            UnixStream::connect(p)
                .map_err(os(format!("connect to console socket {}", p.display())))?,
            None,
        ))),
        (None, true) => {
            let (a, b) = UnixStream::pair().map_err(os("socketpair"))?;
            Ok(Some((b, Some(a))))
        }
        _ => Ok(None),
    }
}

/// In a child just forked: joins the cgroup's v1 hierarchies, or reports
/// why not and exits.
fn join_cgroup(ch: &mut Channel, files: &[OwnedFd]) {
    if let Err(e) = cgroups::join_self(files) {
        let _ = ch.send(&Msg::Error(format!("join the container's cgroup: {e}")));
        unsafe { libc::_exit(1) };
    }
}

fn clear_cloexec(fd: i32) {
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
}

/// `create`: sets the container up, blocked before exec of its process.
/// With `own_terminal`, a terminal process's pty comes back to us instead of
/// going to a console socket (`run` in the foreground).
pub fn create(o: &CreateOpts, own_terminal: bool) -> Result<Created> {
    check_kernel()?;
    let bundle = config::load(o.bundle)?;
    let spec = &bundle.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let nss = linux.namespaces().clone().unwrap_or_default();
    let mut process = spec.process().clone().expect("validated");
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(Error::Usage(
            "process.apparmorProfile is set but AppArmor is not enabled on this host".into(),
        ));
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
    {
        log::warn!("process.selinuxLabel ignored: SELinux is not enabled on this host");
    }
    let terminal = process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && !own_terminal {
        return Err(Error::Usage(
            "process.terminal is set: --console-socket is required".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Usage(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    let cgroup_path = cgroups::resolve_path(linux.cgroups_path().as_deref(), o.id)?;
    // Socket-activated callers (LISTEN_FDS) pass their fds on, as with runc.
    let mut preserve = o.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        preserve += n;
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".into());
        process.set_env(Some(env));
    }
    // The init opens exec.fifo after its rlimits are set: below stdio, the
    // preserved fds and that one, it could never wait for start (runc and
    // crun fail such a container too, at start or with EMFILE).
    let need = 4 + u64::from(preserve);
    if let Some(r) = process
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.typ() == oci_spec::runtime::PosixRlimitType::RlimitNofile && r.soft() < need)
    {
        return Err(Error::Usage(format!(
            "process.rlimits: RLIMIT_NOFILE soft limit {} is below {need}, the fds the container's init needs to start its process (stdio, preserved fds, exec.fifo)",
            r.soft()
        )));
    }
    let console = console_endpoints(o.console_socket, terminal && own_terminal)?;

    let dir = ContainerDir::create(o.root, o.id, &mut undo_debris)?;
    fault::point("create:dir-made");
    let mut cleanup = Cleanup {
        dir: None,
        host_mounts: None,
        cgroup: None,
        cgroup_made: vec![],
        child: 0,
        _p: Default::default(),
    };
    let fifo = dir.fifo_path();
    let cf = crate::utils::cstring("state dir", fifo.as_os_str().as_encoded_bytes())
        .map_err(os("mkfifo exec.fifo"))?;
    let st_path = dir.path.clone();
    cleanup.dir = Some(dir);
    if unsafe { libc::mkfifo(cf.as_ptr(), 0o622) } != 0
        || unsafe { libc::chmod(cf.as_ptr(), 0o622) } != 0
    {
        return Err(os("mkfifo exec.fifo")(io::Error::last_os_error()));
    }
    write_atomic(&st_path.join(CONFIG_COPY), &bundle.raw, 0o600).map_err(os("save config"))?;
    if !nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
        // What is mounted below the rootfs now is the host's: `delete` lifts
        // only what the container adds.
        let root = fs::canonicalize(&bundle.rootfs).unwrap_or_else(|_| bundle.rootfs.clone());
        let keep = rootfs::mount_ids_below(&root);
        let text: Vec<String> = keep.iter().map(u64::to_string).collect();
        let text = format!("{}\n{}", root.display(), text.join(" "));
        write_atomic(&st_path.join(HOST_MOUNTS), text.as_bytes(), 0o600)
            .map_err(os("save host mounts"))?;
        cleanup.host_mounts = Some((root, keep));
    }

    let cg = cgroups::manager(&cgroup_path);
    let made = cgroups::missing_ancestors(cg.as_ref(), &cgroup_path);
    if !made.is_empty()
        || linux
            .cgroups_path()
            .as_ref()
            .is_some_and(|p| p.is_relative())
    {
        let rec = serde_json::to_vec(&CgroupRecord {
            path: cgroup_path.clone(),
            made: made.clone(),
        })
        .expect("serializes");
        // Plain write, no rename: a record cut short by a kill was written
        // before any cgroup existed, and an unreadable one means "none".
        fs::write(st_path.join(CGROUP_RECORD), rec).map_err(os("save the cgroup record"))?;
    }
    cleanup.cgroup_made = made;
    fault::point("create:cgroups-recorded");
    cg.create()?;
    cleanup.cgroup = Some(cg);
    if let Some(r) = linux.resources() {
        cleanup.cgroup.as_ref().expect("set above").set(r)?;
    }
    fault::point("create:cgroups-made");

    let (mut parent, child_chan) = Channel::pair().map_err(os("socketpair"))?;
    let new_userns = nss
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let mut flags = 0;
    for n in nss.iter().filter(|n| n.path().is_none()) {
        match n.typ() {
            // cgroup: unshared by the init once inside its cgroup; time: see below.
            LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time => {}
            t => flags |= namespaces::flag(t),
        }
    }
    if nss
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none())
    {
        // A time namespace cannot be made by clone(): it is made for our children.
        namespaces::unshare(libc::CLONE_NEWTIME, "time")?;
        if let Some(offs) = linux.time_offsets() {
            let mut text = String::new();
            for (clock, o) in offs {
                text.push_str(&format!(
                    "{clock} {} {}\n",
                    o.secs().unwrap_or(0),
                    o.nanosecs().unwrap_or(0)
                ));
            }
            fs::write("/proc/self/timens_offsets", text).map_err(os("write time offsets"))?;
        }
    }
    let console_child_fd = console.as_ref().map(|(s, _)| s.as_raw_fd());
    let state_dir: OwnedFd = fs::File::open(&st_path)
        .map_err(os("open state dir"))?
        .into();
    let state_dir_fd = state_dir.as_raw_fd();

    let cg2: Option<OwnedFd> = cleanup
        .cgroup
        .as_ref()
        .and_then(|cg| cg.cgroup2_dir())
        .and_then(|d| fs::File::open(d).ok())
        .map(OwnedFd::from);
    let join = cleanup.cgroup.as_ref().expect("set above").join_files()?;
    let lock_fd = cleanup.dir.as_ref().expect("set above").lock_fd();
    let parent_fd = parent.fd();
    let (pid, in_cgroup2) =
        namespaces::clone_into(flags, cg2.as_ref()).map_err(os("clone the container's init"))?;
    if pid == 0 {
        // The child: nothing here may return into the caller's code.
        let mut ch = child_chan;
        // Ours only until exec, yet a child stuck before it (waiting for Go
        // from a runtime that was killed) would hold the state dir's lock
        // and keep its own channel from ever seeing end of file.
        unsafe { libc::close(lock_fd) };
        unsafe { libc::close(parent_fd) };
        join_cgroup(&mut ch, &join);
        clear_cloexec(ch.fd());
        clear_cloexec(state_dir_fd);
        if let Some(fd) = console_child_fd {
            clear_cloexec(fd);
        }
        if new_userns {
            if !matches!(ch.recv(), Ok(Msg::Go)) {
                unsafe { libc::_exit(1) };
            }
            // Become the namespace's root before exec, or exec drops every
            // capability (our host uid is not mapped in there).
            if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0
            {
                let _ = ch.send(&Msg::Error(format!(
                    "become root in the user namespace: {}",
                    io::Error::last_os_error()
                )));
                unsafe { libc::_exit(1) };
            }
        }
        // The bind mount needs a mount namespace of the container's own: in
        // one joined by path, or the runtime's, it would land on the host.
        if flags & libc::CLONE_NEWNS != 0 {
            let e = selfexe::exec_init_readonly("create", ch.fd());
            log::debug!("read-only re-exec failed ({e}): falling back to a sealed copy");
        }
        let e = match selfexe::sealed_copy() {
            Ok(memfd) => selfexe::exec_init(memfd.as_raw_fd(), "create", ch.fd()),
            Err(e) => e,
        };
        let _ = ch.send(&Msg::Error(format!(
            "exec the runtime in the container: {e}"
        )));
        unsafe { libc::_exit(1) };
    }
    cleanup.child = pid;
    fault::point("create:init-cloned");
    drop(join);
    drop(child_chan);
    drop(state_dir);
    let (console_sock, console_ours) = match console {
        Some((s, ours)) => (Some(s), ours),
        None => (None, None),
    };

    let send = |ch: &mut Channel, m: &Msg| {
        ch.send(m)
            .map_err(|_| Error::Init("container init exited during setup".into()))
    };
    if new_userns {
        namespaces::write_id_maps(
            pid,
            linux.uid_mappings().as_deref().unwrap_or_default(),
            linux.gid_mappings().as_deref().unwrap_or_default(),
        )?;
        send(&mut parent, &Msg::Go)?;
    }
    cleanup
        .cgroup
        .as_ref()
        .expect("set above")
        .add(pid, in_cgroup2)?;
    fault::point("create:cgroups-joined");

    let hook_state = HookState::new(o.id, pid, bundle.dir.clone(), spec.annotations());
    let hooks = spec.hooks().clone().unwrap_or_default();
    let parent_hooks: Vec<HookKind> = [HookKind::Prestart, HookKind::CreateRuntime]
        .into_iter()
        .filter(|k| !k.of(&hooks).is_empty())
        .collect();
    let cfg = InitConfig {
        mode: Mode::Create,
        id: o.id.into(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        spec: spec.clone(),
        process,
        state_dir_fd,
        cgroup_path: cgroup_path.clone(),
        console_fd: console_child_fd,
        preserve_fds: preserve,
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        host_pid: pid,
        parent_hooks,
        hook_state: Some(hook_state.clone()),
    };
    send(&mut parent, &Msg::Config(Box::new(cfg)))?;
    fault::point("create:config-sent");
    drop(console_sock);
    let mut init_pid = pid;
    loop {
        let m = parent
            .recv()
            .map_err(|_| Error::Init("container init exited during setup".into()))?;
        match m {
            Msg::Ready => break,
            Msg::Error(e) => return Err(Error::Init(e)),
            Msg::Pid(p) => {
                // The middle process exits at once; reap it, track the real init.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                cleanup.child = p;
                init_pid = p;
            }
            Msg::Hooks(kinds) => {
                // runtime.md: these run at lifecycle steps 3 and 4, after
                // the environment was made (step 2, `creating`): `created`.
                let st = hook_state.json(Status::Created);
                let mut err = None;
                for k in kinds {
                    if let Err(e) = hooks::run(k, &k.of(&hooks), &st) {
                        err = Some(e.to_string());
                        break;
                    }
                }
                send(&mut parent, &Msg::HooksDone(err.clone()))?;
                if let Some(e) = err {
                    return Err(Error::Init(e));
                }
            }
            m => return Err(Error::Init(format!("unexpected message from init: {m:?}"))),
        }
    }
    let master = match console_ours {
        Some(s) => {
            Some(console::recv_fd(s.as_raw_fd()).map_err(os("receive the container's pty"))?)
        }
        None => None,
    };
    fault::point("create:init-ready");
    let start_time = process_start_time(init_pid)
        .ok_or_else(|| Error::Init("container init exited during setup".into()))?;
    let state = State {
        id: o.id.into(),
        pid: init_pid,
        init_start_time: start_time,
        bundle: bundle.dir.clone(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        created: crate::utils::now_rfc3339(),
        cgroup_path,
        cgroup_made: std::mem::take(&mut cleanup.cgroup_made),
        use_terminal: terminal,
        owner: unsafe { libc::geteuid() },
    };
    let dir = cleanup.dir.as_ref().expect("set above");
    dir.save(&state)?;
    fault::point("create:state-written");
    if let Some(p) = o.pid_file {
        write_atomic(p, init_pid.to_string().as_bytes(), 0o644)
            .map_err(os(format!("write pid file {}", p.display())))?;
    }
    // Success: nothing to undo. The directory's lock is released on return.
    cleanup.child = 0;
    cleanup.host_mounts = None;
    cleanup.cgroup = None;
    drop(cleanup.dir.take());
    Ok(Created {
        pid: init_pid,
        master,
    })
}

fn stored_spec(dir: &ContainerDir) -> Result<Spec> {
    let raw = fs::read(dir.path.join(CONFIG_COPY)).map_err(os("read the container's config"))?;
    config::parse(&raw).map_err(|e| Error::Init(format!("stored config: {e}")))
}

/// The container's configured process, the base `exec` builds on.
pub fn base_process(root: &Path, id: &str) -> Result<Process> {
    let dir = ContainerDir::open(root, id)?;
    Ok(stored_spec(&dir)?.process().clone().unwrap_or_default())
}

/// `start`: releases a created container's init into its process.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    if status != Status::Created {
        return Err(Error::Usage(format!(
            "cannot start container {id}: it is {status}, not created"
        )));
    }
    let spec = stored_spec(&dir)?;
    let fifo = dir.fifo_path();
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .map_err(os("open exec fifo"))?;
    fault::point("start:fifo-opened");
    // Wait for the init's byte, but never on a dead init.
    loop {
        if let Some((r, hup)) = read_fifo(&f) {
            if r == 1 {
                fault::point("start:byte-read");
                break;
            }
            if r == 0 || hup {
                return Err(Error::Init(format!("container {id}: init exited before it could start (a startContainer hook failed?)")));
            }
        } else if !crate::utils::is_same_process(st.pid, st.init_start_time) {
            return Err(Error::Init(format!(
                "container {id}: init exited before start"
            )));
        } else if !holds_dir(st.pid, &dir.path) {
            // The init keeps the state dir open until its exec: without it,
            // a start killed after the init's byte already let it run, and
            // nobody will ever write to the fifo again.
            let _ = fs::remove_file(&fifo);
            return Err(Error::Usage(format!(
                "cannot start container {id}: it was already started (by a start that did not finish)"
            )));
        }
    }
    let _ = fs::remove_file(&fifo);
    fault::point("start:fifo-removed");
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().clone()) {
        // config.md: poststart hooks run after the user process is
        // executed. The init holds the fifo until its execve closes it.
        wait_for_exec(&f, st.pid, st.init_start_time);
        let s =
            HookState::new(id, st.pid, st.bundle.clone(), spec.annotations()).json(Status::Running);
        if let Err(e) = hooks::run(HookKind::Poststart, &h, &s) {
            // runtime.md: a failed poststart hook stops the container.
            unsafe { libc::kill(st.pid, libc::SIGKILL) };
            return Err(e.into());
        }
    }
    Ok(())
}

/// Waits up to 20 ms for the (non-blocking) fifo; then reads one byte:
/// the read's result and whether the other end hung up. None on timeout.
fn read_fifo(f: &fs::File) -> Option<(isize, bool)> {
    let mut pfd = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, 20) } <= 0 {
        return None;
    }
    let mut b = [0u8; 1];
    // SAFETY: reads at most one byte into b.
    let r = unsafe { libc::read(f.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
    Some((r, pfd.revents & libc::POLLHUP != 0))
}

/// Waits for EOF on the fifo: the init's execve closed its end (or it died).
fn wait_for_exec(f: &fs::File, pid: i32, start_time: u64) {
    loop {
        match read_fifo(f) {
            Some((r, _)) if r <= 0 => return,
            Some(_) => {}
            None if !crate::utils::is_same_process(pid, start_time) => return,
            None => {}
        }
    }
}

/// Whether process `pid` has `dir` open (read from /proc/PID/fd: only on
/// the slow path of `start`, after the init kept it waiting).
fn holds_dir(pid: i32, dir: &Path) -> bool {
    let Ok(want) = fs::canonicalize(dir) else {
        return true;
    };
    let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        // Unreadable is not proof of anything: keep waiting, as before.
        return true;
    };
    rd.flatten()
        .any(|e| fs::read_link(e.path()).is_ok_and(|l| l == want))
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NONBLOCK | libc::O_CLOEXEC)
    }
}

/// `state`: the container's state as state-schema.json describes it.
pub fn state(root: &Path, id: &str) -> Result<String> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    Ok(serde_json::to_string_pretty(&st.oci_state(status)).expect("serializes"))
}

pub fn load(root: &Path, id: &str) -> Result<(State, Status)> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    Ok((st, status))
}

/// `load` without the container's lock (see `state::read_unlocked`).
pub fn peek(root: &Path, id: &str) -> Result<(State, Status)> {
    let st = crate::state::read_unlocked(root, id)?;
    let status = st.status(&root.join(id));
    Ok((st, status))
}

/// `kill`: a signal to the init, or with `all` to every process of the container.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    if status == Status::Stopped {
        return Err(Error::Usage(format!(
            "cannot kill container {id}: it is not running"
        )));
    }
    if all {
        cgroups::manager(&st.cgroup_path).signal_all(sig)?;
    } else if unsafe { libc::kill(st.pid, sig) } != 0 {
        return Err(os(format!("kill container {id}"))(
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// `delete`: removes a stopped container (or, with `force`, kills it first).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = match ContainerDir::open(root, id) {
        Ok(d) => d,
        // runc and crun: deleting what is already gone succeeds with --force.
        Err(StateError::NotFound(_)) if force => {
            // Or what a killed create left of it.
            ContainerDir::remove_new_debris(root, id);
            let _ = ContainerDir::remove_debris(root, id, &mut undo_debris);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let st = dir.load()?;
    let status = st.status(&dir.path);
    let cg = cgroups::manager(&st.cgroup_path);
    if status != Status::Stopped {
        if !force {
            return Err(Error::Usage(format!(
                "cannot delete container {id}: it is {status}, not stopped (use --force)"
            )));
        }
        let _ = cg.signal_all(libc::SIGKILL);
        unsafe { libc::kill(st.pid, libc::SIGKILL) };
        if status == Status::Paused {
            let _ = cg.thaw();
        }
        for _ in 0..500 {
            if !crate::utils::is_same_process(st.pid, st.init_start_time) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        fault::point("delete:killed");
    }
    // Anything the init left behind (with a shared pid namespace, or an
    // exec whose runtime was killed mid-way) dies too, and is gone, in
    // every hierarchy, before we return.
    if status != Status::Stopped || !cg.pids().unwrap_or_default().is_empty() {
        cgroups::kill_all(cg.as_ref(), 5);
    }
    let spec = stored_spec(&dir).ok();
    if let Some(root) = spec.as_ref().and_then(host_mounted_rootfs(&st.bundle)) {
        // Without the record nothing below the rootfs is known to be ours.
        if let Some((_, keep)) = read_host_mounts(&dir.path) {
            rootfs::unmount_below(&root, &keep);
        }
    }
    cgroups::destroy_with(cg.as_ref(), &st.cgroup_made)?;
    fault::point("delete:cgroups-removed");
    dir.remove()?;
    fault::point("delete:dir-removed");
    if let Some(spec) = &spec {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
            let s = HookState::new(id, st.pid, st.bundle.clone(), spec.annotations())
                .json(Status::Stopped);
            hooks::run_all_warn(HookKind::Poststop, &h, &s);
        }
    }
    Ok(())
}

/// The rootfs whose mounts a container left on the host: one that named no
/// mount namespace.
fn host_mounted_rootfs(bundle: &Path) -> impl FnOnce(&Spec) -> Option<PathBuf> + '_ {
    move |spec| {
        let nss = spec
            .linux()
            .as_ref()?
            .namespaces()
            .clone()
            .unwrap_or_default();
        if nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
            return None;
        }
        let root = bundle.join(spec.root().as_ref()?.path());
        fs::canonicalize(&root).ok().or(Some(root))
    }
}

pub struct ExecOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: Process,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
    pub preserve_fds: u32,
}

/// `exec`: runs another process in a running container. Returns its exit
/// code when not detached.
pub fn exec(o: ExecOpts) -> Result<i32> {
    check_kernel()?;
    let dir = ContainerDir::open(o.root, o.id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::Usage(format!(
            "cannot exec in container {}: it is {status}",
            o.id
        )));
    }
    let spec = stored_spec(&dir)?;
    drop(dir);
    config::check_user(&spec, &o.process)?;
    let terminal = o.process.terminal() == Some(true);
    if terminal && o.console_socket.is_none() && o.detach {
        return Err(Error::Usage(
            "a detached terminal process needs --console-socket".into(),
        ));
    }
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut fds = Vec::new();
    for t in JOIN_ORDER {
        if nss.iter().any(|n| n.typ() == t) {
            let p = PathBuf::from(format!("/proc/{}/ns/{}", st.pid, namespaces::proc_name(t)));
            fds.push(namespaces::open(t, &p)?);
        }
    }
    // pid and time namespaces apply to children: we enter them here, the
    // child we fork is born inside.
    for ns in fds
        .iter()
        .filter(|n| matches!(n.typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))
    {
        namespaces::join(ns)?;
    }
    let console = console_endpoints(
        o.console_socket.filter(|_| terminal),
        terminal && o.console_socket.is_none(),
    )?;
    let console_child_fd = console.as_ref().map(|(s, _)| s.as_raw_fd());
    let memfd = selfexe::sealed_copy().map_err(os("copy the runtime binary"))?;
    let (mut parent, child_chan) = Channel::pair().map_err(os("socketpair"))?;
    let cg = cgroups::manager(&st.cgroup_path);
    let cg2: Option<OwnedFd> = cg
        .cgroup2_dir()
        .and_then(|d| fs::File::open(d).ok())
        .map(OwnedFd::from);
    let join = cg.join_files()?;
    let (pid, in_cgroup2) = namespaces::clone_into(0, cg2.as_ref()).map_err(os("fork"))?;
    if pid == 0 {
        let mut ch = child_chan;
        join_cgroup(&mut ch, &join);
        for ns in fds
            .iter()
            .filter(|n| !matches!(n.typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))
        {
            if let Err(e) = namespaces::join(ns) {
                let _ = ch.send(&Msg::Error(e.to_string()));
                unsafe { libc::_exit(1) };
            }
        }
        // In the container's user namespace our host uid is unmapped: become
        // its root, or the exec below drops every capability.
        if fds.iter().any(|n| n.typ == LinuxNamespaceType::User)
            && (unsafe { libc::setresgid(0, 0, 0) } != 0
                || unsafe { libc::setresuid(0, 0, 0) } != 0)
        {
            let _ = ch.send(&Msg::Error(format!(
                "become root in the user namespace: {}",
                io::Error::last_os_error()
            )));
            unsafe { libc::_exit(1) };
        }
        clear_cloexec(ch.fd());
        if let Some(fd) = console_child_fd {
            clear_cloexec(fd);
        }
        let e = selfexe::exec_init(memfd.as_raw_fd(), "exec", ch.fd());
        let _ = ch.send(&Msg::Error(format!(
            "exec the runtime in the container: {e}"
        )));
        unsafe { libc::_exit(1) };
    }
    drop(join);
    drop(child_chan);
    drop(memfd);
    fault::point("exec:forked");
    let kill_child = |e: Error| {
        unsafe { libc::kill(pid, libc::SIGKILL) };
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        e
    };
    if let Err(e) = cg.add(pid, in_cgroup2) {
        return Err(kill_child(e.into()));
    }
    let cfg = InitConfig {
        mode: Mode::Exec,
        id: o.id.into(),
        bundle: st.bundle.clone(),
        rootfs: PathBuf::new(),
        spec: spec.clone(),
        process: o.process,
        state_dir_fd: -1,
        cgroup_path: st.cgroup_path.clone(),
        console_fd: console_child_fd,
        preserve_fds: o.preserve_fds,
        no_pivot: false,
        no_new_keyring: true,
        host_pid: pid,
        parent_hooks: vec![],
        hook_state: None,
    };
    if parent.send(&Msg::Config(Box::new(cfg))).is_err() {
        return Err(kill_child(Error::Init(
            "exec process exited during setup".into(),
        )));
    }
    let (console_sock, console_ours) = match console {
        Some((s, ours)) => (Some(s), ours),
        None => (None, None),
    };
    drop(console_sock);
    fault::point("exec:config-sent");
    match parent.recv() {
        Ok(Msg::Ready) => {}
        Ok(Msg::Error(e)) => return Err(kill_child(Error::Init(e))),
        _ => {
            return Err(kill_child(Error::Init(
                "exec process exited during setup".into(),
            )))
        }
    }
    // The channel is close-on-exec in the process: its end of file is the
    // execve done, so the pid file names the program, not our init, and an
    // execve that fails (ENOEXEC, a seccomp filter...) fails `exec` even
    // when detached.
    match parent.recv() {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
        Ok(Msg::Error(e)) => return Err(kill_child(Error::Init(e))),
        _ => {
            return Err(kill_child(Error::Init(
                "exec process exited before running its program".into(),
            )))
        }
    }
    fault::point("exec:process-started");
    if let Some(p) = o.pid_file {
        write_atomic(p, pid.to_string().as_bytes(), 0o644)
            .map_err(os(format!("write pid file {}", p.display())))?;
    }
    if o.detach {
        return Ok(0);
    }
    if let Some(s) = console_ours {
        let master = console::recv_fd(s.as_raw_fd()).map_err(os("receive the pty"))?;
        forward_signals(pid);
        console::proxy(&master);
    } else {
        forward_signals(pid);
    }
    Ok(wait_exit(pid))
}

static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        unsafe { libc::kill(pid, sig) };
    }
}

/// While we wait in the foreground, signals meant for us go to the container.
pub fn forward_signals(pid: i32) {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::Relaxed);
    for s in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        unsafe { libc::signal(s, forward as *const () as libc::sighandler_t) };
    }
}

/// Waits for our child and turns its end into an exit code (128+N for signal N).
pub fn wait_exit(pid: i32) -> i32 {
    loop {
        let mut status = 0;
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return 255;
        }
        if libc::WIFEXITED(status) {
            return libc::WEXITSTATUS(status);
        }
        if libc::WIFSIGNALED(status) {
            return 128 + libc::WTERMSIG(status);
        }
    }
}

/// `run`: create, start, and (unless detached) wait, then delete.
pub fn run(o: &CreateOpts, detach: bool, keep: bool) -> Result<i32> {
    if !detach {
        // A joined pid namespace makes the init our grandchild: adopt it so
        // that we can wait for it.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let c = create(o, !detach)?;
    if let Err(e) = start(o.root, o.id) {
        let _ = delete(o.root, o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    forward_signals(c.pid);
    if let Some(m) = &c.master {
        console::proxy(m);
    }
    let code = wait_exit(c.pid);
    if !keep {
        delete(o.root, o.id, true)?;
    }
    Ok(code)
}

pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let (st, _) = load(root, id)?;
    Ok(cgroups::manager(&st.cgroup_path).pids()?)
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (st, status) = load(root, id)?;
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::Usage(format!(
            "cannot pause container {id}: it is {status}"
        )));
    }
    Ok(cgroups::manager(&st.cgroup_path).freeze()?)
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (st, status) = load(root, id)?;
    if status != Status::Paused {
        return Err(Error::Usage(format!(
            "cannot resume container {id}: it is {status}, not paused"
        )));
    }
    Ok(cgroups::manager(&st.cgroup_path).thaw()?)
}

pub fn stats(root: &Path, id: &str) -> Result<cgroups::Stats> {
    let (st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::Usage(format!("container {id} is stopped")));
    }
    Ok(cgroups::manager(&st.cgroup_path).stats()?)
}

pub fn update(root: &Path, id: &str, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let (st, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::Usage(format!(
            "cannot update container {id}: it is stopped"
        )));
    }
    Ok(cgroups::manager(&st.cgroup_path).set(r)?)
}
