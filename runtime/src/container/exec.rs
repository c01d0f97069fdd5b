//! `exec`: another process in a running container.

use super::*;
use crate::cgroups;
use crate::config;
use crate::console;
use crate::fault;
use crate::hooks::HookState;
use crate::init::{InitConfig, Mode};
use crate::namespaces::{self, NsFd, JOIN_ORDER};
use crate::selfexe;
use crate::state::{ContainerDir, Status};
use crate::sync::Msg;
use crate::utils::write_atomic;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

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
    // Before the clone: the child starts on these CPUs, then joins the cgroup.
    crate::sched::exec_initial_affinity(&o.process).map_err(|e| Error::Usage(e.to_string()))?;
    let cg = cgroups::manager(&st.cgroup_path);
    let (enter, join): (Vec<NsFd>, Vec<NsFd>) = fds
        .into_iter()
        .partition(|n| matches!(n.typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time));
    let pass: Vec<i32> = console_child_fd.into_iter().collect();
    let Spawned {
        pid,
        in_cgroup2,
        chan: mut parent,
    } = Spawn {
        mode: Mode::Exec,
        clone_flags: 0,
        cgroup: cg.as_ref(),
        join: &join,
        wait_go: false,
        become_root: join.iter().any(|n| n.typ == LinuxNamespaceType::User),
        close: &[],
        pass: &pass,
        memfd: Some(&memfd),
    }
    .spawn()?;
    drop(memfd);
    drop(enter);
    fault::point("exec:forked");
    let kill_child = |e: Error| {
        kill_and_reap(pid);
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
    loop {
        match parent.recv() {
            Ok(Msg::Ready) => break,
            Ok(Msg::Error(e)) => return Err(kill_child(Error::Init(e))),
            Ok(Msg::SeccompFd) => {
                let s = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
                let s = s.expect("the process has a filter");
                let state = HookState::new(
                    o.id,
                    st.pid,
                    st.bundle.clone(),
                    &Some(st.annotations.clone()),
                )
                .value(Status::Running);
                if let Err(e) = crate::seccomp::notify::forward(&mut parent, s, &state, pid) {
                    return Err(kill_child(Error::Init(e.to_string())));
                }
            }
            _ => {
                return Err(kill_child(Error::Init(
                    "exec process exited during setup".into(),
                )))
            }
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
        let master = console::recv_fd(s.as_fd()).map_err(os("receive the pty"))?;
        forward_signals(pid);
        console::proxy(&master);
    } else {
        forward_signals(pid);
    }
    Ok(wait_exit(pid))
}
