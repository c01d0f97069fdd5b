//! `create`: the state dir, the cgroup, the init spawned into its
//! namespaces, the hooks it asks for, then state.json (see lib.rs).

use super::*;
use crate::cgroups;
use crate::config;
use crate::console;
use crate::fault;
use crate::hooks::{self, HookKind, HookState};
use crate::init::{InitConfig, Mode};
use crate::namespaces;
use crate::rootfs;
use crate::state::{ContainerDir, State, Status};
use crate::sync::{Channel, Msg};
use crate::utils::{process_start_time, write_atomic};
use nix::sys::stat::Mode as StatMode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
            kill_and_reap(self.child);
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

/// `create`: sets the container up, blocked before exec of its process.
/// With `own_terminal`, a terminal process's pty comes back to us instead of
/// going to a console socket (`run` in the foreground).
pub fn create(o: &CreateOpts, own_terminal: bool) -> Result<Created> {
    check_kernel()?;
    let bundle = config::load(o.bundle)?;
    let spec = &bundle.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let nss = linux.namespaces().clone().unwrap_or_default();
    let (process, terminal, preserve) = checked_process(o, spec, own_terminal)?;
    let cgroup_path = cgroups::resolve_path(linux.cgroups_path().as_deref(), o.id)?;
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
    let st_path = dir.path.clone();
    cleanup.dir = Some(dir);
    // chmod too: the umask would take bits off mkfifo's mode.
    nix::unistd::mkfifo(&fifo, StatMode::from_bits_truncate(0o622))
        .map_err(io::Error::from)
        .and_then(|_| fs::set_permissions(&fifo, fs::Permissions::from_mode(0o622)))
        .map_err(os("mkfifo exec.fifo"))?;
    write_atomic(&st_path.join(CONFIG_COPY), &bundle.raw, 0o600).map_err(os("save config"))?;
    if !nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
        cleanup.host_mounts = Some(record_host_mounts(&st_path, &bundle.rootfs)?);
    }
    make_cgroup(&mut cleanup, &st_path, &linux, &cgroup_path)?;
    fault::point("create:cgroups-made");

    let new_userns = nss
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let flags = clone_flags(&linux)?;
    let console_child_fd = console.as_ref().map(|(s, _)| s.as_raw_fd());
    let state_dir: OwnedFd = fs::File::open(&st_path)
        .map_err(os("open state dir"))?
        .into();
    let state_dir_fd = state_dir.as_raw_fd();

    let lock_fd = cleanup.dir.as_ref().expect("set above").lock_fd();
    let pass: Vec<i32> = std::iter::once(state_dir_fd)
        .chain(console_child_fd)
        .collect();
    let Spawned {
        pid,
        in_cgroup2,
        chan: mut parent,
    } = Spawn {
        mode: Mode::Create,
        clone_flags: flags,
        cgroup: cleanup.cgroup.as_deref().expect("set above"),
        join: &[],
        wait_go: new_userns,
        become_root: new_userns,
        close: &[lock_fd],
        pass: &pass,
        memfd: None,
    }
    .spawn()?;
    cleanup.child = pid;
    fault::point("create:init-cloned");
    drop(state_dir);
    let (console_sock, console_ours) = match console {
        Some((s, ours)) => (Some(s), ours),
        None => (None, None),
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
    crate::netdev::move_all(spec, pid).map_err(|e| Error::Usage(e.to_string()))?;
    let trees =
        crate::idmap::prepare(spec, &bundle.dir, pid).map_err(|e| Error::Usage(e.to_string()))?;

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
    if crate::idmap::any(spec) {
        crate::idmap::send(&mut parent, &trees)
            .map_err(|_| Error::Init("container init exited during setup".into()))?;
    }
    drop(trees);
    fault::point("create:config-sent");
    drop(console_sock);
    let init_pid = await_ready(&mut parent, &mut cleanup, spec, &hook_state, &hooks)?;
    let master = match console_ours {
        Some(s) => Some(console::recv_fd(s.as_fd()).map_err(os("receive the container's pty"))?),
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
        owner: nix::unistd::geteuid().as_raw(),
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

/// The config's process as the init will run it, checked against what this
/// host and the caller offer: whether it has a terminal, and how many fds it
/// is passed beyond stdio.
fn checked_process(
    o: &CreateOpts,
    spec: &Spec,
    own_terminal: bool,
) -> Result<(Process, bool, u32)> {
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
    Ok((process, terminal, preserve))
}

/// Without a mount namespace of the container's own, what is mounted below
/// the rootfs now is the host's: recorded, so that `delete` lifts only what
/// the container adds.
fn record_host_mounts(st_path: &Path, rootfs: &Path) -> Result<(PathBuf, Vec<u64>)> {
    let root = fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf());
    let keep = rootfs::mount_ids_below(&root);
    let text: Vec<String> = keep.iter().map(u64::to_string).collect();
    let text = format!("{}\n{}", root.display(), text.join(" "));
    write_atomic(&st_path.join(HOST_MOUNTS), text.as_bytes(), 0o600)
        .map_err(os("save host mounts"))?;
    Ok((root, keep))
}

/// The CLONE_NEW* flags of the namespaces the init is born in. A new time
/// namespace cannot be made by clone(): it is unshared here, for our
/// children, with its offsets.
fn clone_flags(linux: &oci_spec::runtime::Linux) -> Result<i32> {
    let nss = linux.namespaces().clone().unwrap_or_default();
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
    Ok(flags)
}

/// Serves the init until it is Ready: the hooks it asks for, the pid of the
/// real init when a joined pid namespace made it fork. Returns that pid.
fn await_ready(
    parent: &mut Channel,
    cleanup: &mut Cleanup,
    spec: &Spec,
    hook_state: &HookState,
    hooks: &oci_spec::runtime::Hooks,
) -> Result<i32> {
    let mut init_pid = cleanup.child;
    loop {
        let m = parent
            .recv()
            .map_err(|_| Error::Init("container init exited during setup".into()))?;
        match m {
            Msg::Ready => break,
            Msg::Error(e) => return Err(Error::Init(e)),
            Msg::SeccompFd => {
                let s = spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().as_ref())
                    .expect("the init has a filter");
                let mut st = hook_state.clone();
                st.pid = init_pid;
                crate::seccomp::notify::forward(parent, s, &st.value(Status::Creating), init_pid)
                    .map_err(|e| Error::Init(e.to_string()))?;
            }
            Msg::Pid(p) => {
                // The middle process exits at once; reap it, track the real init.
                let _ = waitpid(Pid::from_raw(cleanup.child), None);
                cleanup.child = p;
                init_pid = p;
            }
            Msg::Hooks(kinds) => {
                // runtime.md: these run at lifecycle steps 3 and 4, after
                // the environment was made (step 2, `creating`): `created`.
                let st = hook_state.json(Status::Created);
                let mut err = None;
                for k in kinds {
                    if let Err(e) = hooks::run(k, &k.of(hooks), &st) {
                        err = Some(e.to_string());
                        break;
                    }
                }
                send(parent, &Msg::HooksDone(err.clone()))?;
                if let Some(e) = err {
                    return Err(Error::Init(e));
                }
            }
            m => return Err(Error::Init(format!("unexpected message from init: {m:?}"))),
        }
    }
    Ok(init_pid)
}

fn send(ch: &mut Channel, m: &Msg) -> Result<()> {
    ch.send(m)
        .map_err(|_| Error::Init("container init exited during setup".into()))
}

/// The container's cgroup, with its resources, and its record first where
/// the config copy alone would not find it again (see CGROUP_RECORD).
fn make_cgroup(
    cleanup: &mut Cleanup,
    st_path: &Path,
    linux: &oci_spec::runtime::Linux,
    cgroup_path: &str,
) -> Result<()> {
    let cg = cgroups::manager(cgroup_path);
    let made = cgroups::missing_ancestors(cg.as_ref(), cgroup_path);
    if !made.is_empty()
        || linux
            .cgroups_path()
            .as_ref()
            .is_some_and(|p| p.is_relative())
    {
        let rec = serde_json::to_vec(&CgroupRecord {
            path: cgroup_path.to_string(),
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
    Ok(())
}
