//! The container side of `create` and `exec`: runs in a re-execution of our
//! binary that the container cannot write through (a read-only bind mount or
//! a sealed memfd copy, see selfexe.rs), already inside the new namespaces.
//! See the picture in lib.rs for where each step sits.

use crate::console;
use crate::hooks::{self, HookKind, HookState};
use crate::namespaces::{self, JOIN_ORDER};
use crate::process;
use crate::rootfs::{self, Kind, Rootfs};
use crate::seccomp;
use crate::state::Status;
use crate::sync::{Channel, Msg};
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::unistd::{setsid, ForkResult};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq)]
pub enum Mode {
    Create,
    Exec,
}

/// Everything the init is told by the runtime.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitConfig {
    pub mode: Mode,
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// The process to run (the config's, or the one given to `exec`).
    pub process: Process,
    /// Our fd (O_PATH) of the state directory holding exec.fifo (create
    /// only): opened by the runtime, since the state root may be closed to
    /// the container's user (and to a user namespace's root).
    pub state_dir_fd: i32,
    pub cgroup_path: String,
    /// An fd of ours connected to the console socket, when `terminal` is set.
    pub console_fd: Option<i32>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub host_pid: i32,
    /// Ask the parent to run prestart/createRuntime hooks at the right moment.
    pub parent_hooks: Vec<HookKind>,
    /// The state hooks get (create only: `exec` runs no hooks).
    pub hook_state: Option<HookState>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Ns(#[from] namespaces::NsError),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("{0}: {1}")]
    Os(String, io::Error),
    #[error("{0}")]
    Other(String),
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> InitError {
    let what = what.into();
    move |e| InitError::Os(what, e)
}

/// Entry point of `berth-runtime init <mode>`; never returns.
pub fn main() -> ! {
    // Until exec, nobody (not even a process of the container) may open our
    // /proc entries: they lead to host fds and to the runtime's image.
    let _ = nix::sys::prctl::set_dumpable(false);
    let fd: i32 = std::env::var("_BERTH_SYNC_FD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    if fd < 0 {
        eprintln!("berth-runtime init: not started by berth-runtime");
        std::process::exit(2);
    }
    // Our fds may not leak into the container.
    let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    // SAFETY: the runtime passed us this end of the channel, which nothing
    // else in this process owns.
    let mut chan = unsafe { Channel::from_raw_fd(fd) };
    let cfg = match chan.recv() {
        Ok(Msg::Config(c)) => c,
        _ => std::process::exit(2),
    };
    let err = match cfg.mode {
        Mode::Create => init_container(&cfg, &mut chan),
        Mode::Exec => init_exec(&cfg, &mut chan),
    };
    if chan.send(&Msg::Error(err.to_string())).is_err() {
        // `create` has returned (the failure came after `start`): the
        // container's stderr is the only place left to say why it ended.
        eprintln!("berth-runtime init: {err}");
    }
    std::process::exit(1);
}

fn has_new(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|v| v.iter().any(|n| n.typ() == t && n.path().is_none()))
}

/// The state JSON for the container's own hooks: they run in `create`,
/// past lifecycle step 2, so the container is `created`.
fn hook_state(cfg: &InitConfig) -> Result<Vec<u8>, InitError> {
    cfg.hook_state
        .as_ref()
        .map(|s| s.json(Status::Created))
        .ok_or_else(|| InitError::Other("no hook state from the runtime".into()))
}

fn init_container(cfg: &InitConfig, chan: &mut Channel) -> InitError {
    match setup_container(cfg, chan) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn setup_container(
    cfg: &InitConfig,
    chan: &mut Channel,
) -> Result<std::convert::Infallible, InitError> {
    let spec = &cfg.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let nss = linux.namespaces().clone().unwrap_or_default();
    // Joined namespaces, opened all first: once in another mount namespace
    // the paths may no longer resolve.
    let mut to_join = Vec::new();
    for t in JOIN_ORDER {
        if let Some(p) = nss
            .iter()
            .find(|n| n.typ() == t)
            .and_then(|n| n.path().clone())
        {
            to_join.push(namespaces::open(t, &p)?);
        }
    }
    for ns in &to_join {
        namespaces::join(ns)?;
    }
    if to_join.iter().any(|n| n.typ == LinuxNamespaceType::Pid) {
        // setns(pid) only moves our children: the container's init is a child.
        // SAFETY: the init has one thread: the child may do anything.
        match unsafe { nix::unistd::fork() }
            .map_err(|e| os("fork into the joined pid namespace")(e.into()))?
        {
            ForkResult::Child => {}
            ForkResult::Parent { child } => {
                let _ = chan.send(&Msg::Pid(child.as_raw()));
                crate::sys::exit_now(0);
            }
        }
    }
    if has_new(spec, LinuxNamespaceType::Cgroup) {
        // Only now, inside the container's cgroup, so that it becomes the root.
        namespaces::unshare(libc::CLONE_NEWCGROUP, "cgroup")?;
    }
    setsid().map_err(|e| os("setsid")(e.into()))?;
    if !cfg.no_new_keyring {
        let name = crate::utils::cstring("session keyring name", format!("_ses.{}", cfg.id))
            .map_err(os("join a session keyring"))?;
        // No keyrings (e.g. in some user namespaces) is not a reason to fail.
        let _ = crate::sys::join_session_keyring(&name);
    }
    for (k, v) in linux.sysctl().clone().unwrap_or_default() {
        let p = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        fs::write(&p, &v).map_err(os(format!("set sysctl {k}={v}")))?;
    }
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).map_err(|e| os(format!("set hostname {h:?}"))(e.into()))?;
    }
    if let Some(d) = spec.domainname() {
        crate::sys::setdomainname(d.as_bytes()).map_err(os(format!("set domainname {d:?}")))?;
    }
    let idmapped = if crate::idmap::any(spec) {
        crate::idmap::receive(chan).map_err(InitError::Other)?
    } else {
        vec![]
    };
    let rfs = Rootfs {
        idmapped: &idmapped,
        spec,
        rootfs: &cfg.rootfs,
        bundle: &cfg.bundle,
        cgroup_path: &cfg.cgroup_path,
        in_userns: has_new(spec, LinuxNamespaceType::User)
            || nss.iter().any(|n| n.typ() == LinuxNamespaceType::User),
        new_cgroupns: has_new(spec, LinuxNamespaceType::Cgroup),
        own_mount_ns: nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount),
    };
    rfs.prepare()?;
    let root = rfs.root_fd()?;
    rfs.mount_all(&root)?;
    rfs.create_devices(&root)?;
    let cwd = cfg.process.cwd().clone();
    drop(rootfs::resolve_create(&root, &cwd, Kind::Dir)?);
    if !cfg.parent_hooks.is_empty() {
        chan.send(&Msg::Hooks(cfg.parent_hooks.clone()))
            .map_err(os("sync with runtime"))?;
        match chan.recv().map_err(os("sync with runtime"))? {
            Msg::HooksDone(None) => {}
            Msg::HooksDone(Some(e)) => return Err(InitError::Other(e)),
            m => {
                return Err(InitError::Other(format!(
                    "unexpected message from runtime: {m:?}"
                )))
            }
        }
    }
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().clone())
    {
        // Lifecycle step 5, past step 2 as prestart and createRuntime.
        hooks::run(HookKind::CreateContainer, &h, &hook_state(cfg)?)?;
    }
    // SAFETY: the runtime passed us this fd of the state dir, and nothing
    // else here owns it.
    let state_dir = unsafe { OwnedFd::from_raw_fd(cfg.state_dir_fd) };
    drop(root);
    rfs.pivot(cfg.no_pivot)?;
    setup_terminal(cfg, true)?;
    rfs.finish()?;
    let prepared = prepare_process(cfg, chan)?;
    chan.send(&Msg::Ready).map_err(os("sync with runtime"))?;

    // Blocks until `start` opens the other end.
    let fifo = fsroot::openat(
        state_dir.as_fd(),
        std::ffi::OsStr::new("exec.fifo"),
        libc::O_WRONLY,
        0,
    )
    .map_err(os("open exec fifo"))?;
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
    {
        hooks::run(HookKind::StartContainer, &h, &hook_state(cfg)?)?;
    }
    if nix::unistd::write(&fifo, b"0").map_err(|e| os("write exec fifo")(e.into()))? != 1 {
        return Err(os("write exec fifo")(io::ErrorKind::WriteZero.into()));
    }
    drop(state_dir);
    // The fifo stays open until execve closes it (O_CLOEXEC): `start` reads
    // that EOF as "the user process is executed" before poststart hooks.
    let e = exec_process(cfg, prepared);
    drop(fifo);
    Err(e)
}

/// With `terminal`, a pty from the container's devpts becomes our stdio and
/// its master goes to the console socket.
fn setup_terminal(cfg: &InitConfig, console_mount: bool) -> Result<(), InitError> {
    if cfg.process.terminal() != Some(true) {
        return Ok(());
    }
    let sock = cfg.console_fd.ok_or_else(|| {
        InitError::Other(
            "process.terminal is set but no console socket was given (use --console-socket)".into(),
        )
    })?;
    // SAFETY: the runtime passed us this fd of the console socket, and
    // nothing else here owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let (master, slave, name) = console::open_pty().map_err(os(
        "open a pty in the container (is devpts mounted at /dev/pts?)",
    ))?;
    if let Some(sz) = cfg.process.console_size() {
        console::set_size(slave.as_fd(), sz.height() as u16, sz.width() as u16)
            .map_err(os("set console size"))?;
    }
    if console_mount {
        let target = Path::new("/dev/console");
        if !target.exists() {
            fs::File::create(target).map_err(os("create /dev/console"))?;
        }
        rootfs::mount(
            Some(Path::new(&name)),
            target,
            Some("bind"),
            libc::MS_BIND,
            None,
        )
        .map_err(os("bind /dev/console"))?;
    }
    console::send_fd(sock.as_raw_fd(), &name, master.as_raw_fd())
        .map_err(os("send pty to the console socket"))?;
    drop(master);
    if cfg.mode == Mode::Exec {
        setsid().map_err(|e| os("setsid")(e.into()))?;
    }
    console::make_stdio(&slave).map_err(os("make the pty our terminal"))?;
    Ok(())
}

/// What the process is started with, settled before the user switch: the
/// program's path, its environment and the seccomp filter still to install.
struct Prepared {
    path: PathBuf,
    env: Vec<String>,
    filter: Option<seccomp::Program>,
}

/// Everything about the process that can fail, done before the runtime is
/// told we are ready, so that such failures fail `create`/`exec`.
fn prepare_process(cfg: &InitConfig, chan: &mut Channel) -> Result<Prepared, InitError> {
    let p = &cfg.process;
    let filter = match cfg.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(seccomp::compile(s)?),
        None => None,
    };
    let nnp = p.no_new_privileges() == Some(true);
    let args = p.args().clone().unwrap_or_default();
    let env = p.env().clone().unwrap_or_default();
    let path = process::lookup(args.first().map(String::as_str).unwrap_or(""), &env)?;
    let env = process::with_home(env, p.user().uid());
    process::set_rlimits(p)?;
    process::set_oom_score_adj(p)?;
    process::set_io_priority(p)?;
    let sched = |e: crate::sched::SchedError| InitError::Other(e.to_string());
    crate::sched::apply_personality(&cfg.spec).map_err(sched)?;
    crate::sched::apply_memory_policy(&cfg.spec).map_err(sched)?;
    crate::sched::apply_scheduler(p).map_err(sched)?;
    if cfg.mode == Mode::Exec {
        // In the container's cgroups by now (joined right after the clone).
        crate::sched::exec_final_affinity(p).map_err(sched)?;
    }
    let cwd = p.cwd();
    nix::unistd::chdir(cwd.as_path()).map_err(|e| os(format!("chdir to cwd {cwd:?}"))(e.into()))?;
    // Checked now too: a filter installed below may deny getcwd (CVE-2024-21626).
    cwd_is_inside(cwd, false)?;
    let mut filter = filter;
    if filter_installed_early(cfg) {
        // Without no_new_privs the kernel only takes a filter from a holder
        // of CAP_SYS_ADMIN: install it now, before the capabilities go. A
        // notify filter too, whatever no_new_privs: its listener must reach
        // the agent while `create` (or `exec`) still waits for us.
        if let Some(f) = filter.take() {
            // The filter then judges our own last steps too, and a profile
            // need not allow close_range (docker's older ones do not): mark
            // the fds while we still may.
            process::cloexec_from(3 + cfg.preserve_fds)?;
            if f.notify() {
                if nnp {
                    process::set_no_new_privs(p)?;
                }
                let fd = seccomp::notify::install(&f)?;
                seccomp::notify::hand_over(chan, fd).map_err(InitError::Other)?;
            } else {
                seccomp::install(&f)?;
            }
        }
    }
    process::set_bounding(p)?;
    process::set_user(p)?;
    process::set_capabilities(p)?;
    process::set_no_new_privs(p)?;
    // Again as the user: it must be allowed there, and a cwd reached through
    // a leaked fd would show up as unreachable (CVE-2024-21626).
    nix::unistd::chdir(cwd.as_path())
        .map_err(|e| os(format!("chdir to cwd {cwd:?} as uid {}", p.user().uid()))(e.into()))?;
    cwd_is_inside(cwd, filter_installed_early(cfg))?;
    Ok(Prepared { path, env, filter })
}

/// The kernel's getcwd names a cwd that the root cannot reach
/// "(unreachable)...", never an absolute path (libc turns that into ENOENT,
/// hence the raw call). With `filtered`, a getcwd that fails outright is the
/// container's seccomp filter denying it, after the same path passed this
/// check before the filter.
fn cwd_is_inside(cwd: &Path, filtered: bool) -> Result<(), InitError> {
    let mut buf = [0u8; 4096];
    match crate::sys::kernel_getcwd(&mut buf) {
        Ok(n) if n > 0 && buf[0] == b'/' => Ok(()),
        Err(_) if filtered => Ok(()),
        _ => Err(InitError::Other(format!(
            "cwd {cwd:?} is outside the container"
        ))),
    }
}

/// Whether prepare_process installed the seccomp filter before the
/// capabilities were dropped (no noNewPrivileges, or a notify filter).
fn filter_installed_early(cfg: &InitConfig) -> bool {
    let seccomp = cfg.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    seccomp.is_some_and(|s| {
        cfg.process.no_new_privileges() != Some(true) || seccomp::notify::uses_notify(s)
    })
}

fn exec_process(cfg: &InitConfig, prepared: Prepared) -> InitError {
    let Prepared { path, env, filter } = prepared;
    let args = cfg.process.args().clone().unwrap_or_default();
    // Already done before a filter installed early (prepare_process); every
    // fd opened since is close-on-exec.
    if !filter_installed_early(cfg) {
        if let Err(e) = process::cloexec_from(3 + cfg.preserve_fds) {
            return e.into();
        }
    }
    if let Err(e) = process::reset_signals() {
        return e.into();
    }
    // As close to execve as it gets: the filter applies to the runtime's own
    // last steps too.
    if let Some(f) = filter {
        if let Err(e) = seccomp::install(&f) {
            return e.into();
        }
    }
    process::exec(&path, &args, &env).into()
}

fn init_exec(cfg: &InitConfig, chan: &mut Channel) -> InitError {
    let r = (|| -> Result<Prepared, InitError> {
        setup_terminal(cfg, false)?;
        prepare_process(cfg, chan)
    })();
    match r {
        Ok(prepared) => {
            if let Err(e) = chan.send(&Msg::Ready) {
                return os("sync with runtime")(e);
            }
            exec_process(cfg, prepared)
        }
        Err(e) => e,
    }
}
