//! `exec` sessions in a running container: in the foreground through the
//! runtime, or through a berth-shim of their own (`-d`, `-t`); and the
//! captured exec that runs health checks.

use super::attach::{self, Outcome};
use super::commands::{runtime_cmd, sibling};
use super::spec::{Bundle, ExecProcess};
use super::store::{wait_shim_gone, Container, ContainerStore, Status};
use super::{ioe, ContainerError, Result};
use crate::image::store::Store;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub detach: bool,
    pub tty: bool,
    pub interactive: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
}

/// An exec's directory (its process.json, and its shim's socket and exit
/// record): removed when dropped, unless kept for a detached session.
pub struct Session {
    pub dir: PathBuf,
    keep: bool,
}

impl Session {
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Checks the container can take an exec and writes its process.json.
fn prepare(
    root: &Path,
    name: &str,
    o: &ExecOptions,
) -> Result<(ContainerStore, Container, Session)> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let st = cs.state(&c);
    if st.status != Status::Running {
        return Err(ContainerError::Other(format!(
            "container {} is not running: cannot exec into it",
            c.name
        )));
    }
    if st.paused {
        return Err(ContainerError::Other(format!(
            "container {} is paused: unpause it before exec",
            c.name
        )));
    }
    let p = exec_process(root, &cs, &c, o)?;
    let eid = super::random_id();
    let edir = cs.dir_of(&c.id).join("exec").join(&eid[..16]);
    fs::create_dir_all(&edir).map_err(ioe("creating the exec dir"))?;
    let s = Session {
        dir: edir,
        keep: false,
    };
    fs::write(
        s.dir.join("process.json"),
        serde_json::to_vec(&p).expect("process"),
    )
    .map_err(ioe("writing process.json"))?;
    Ok((cs, c, s))
}

/// Starts the process under a berth-shim of its own; unless detached, its
/// output is held until a client attaches to the session's socket.
fn spawn_shim(cs: &ContainerStore, c: &Container, s: &Session, o: &ExecOptions) -> Result<()> {
    let shim = sibling("berth-shim");
    let mut cmd = Command::new(&shim);
    cmd.arg("exec")
        .arg("--id")
        .arg(&c.id)
        .arg("--process")
        .arg(s.dir.join("process.json"))
        .arg("--runtime")
        .arg(&c.runtime)
        .arg("--runtime-root")
        .arg(cs.runtime_root())
        .arg("--dir")
        .arg(&s.dir);
    if o.tty {
        cmd.arg("-t");
    }
    if o.interactive {
        cmd.arg("-i");
    }
    if !o.detach {
        // The process runs as soon as the shim has it: its output waits
        // for us to attach, or a short one would be over before we are.
        cmd.arg("--hold-output");
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(ioe(format!("running {}", shim.display())))?;
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if reply["pid"].as_i64().is_none() {
        let msg = reply["error"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        return Err(ContainerError::Runtime(format!("exec failed: {msg}")));
    }
    Ok(())
}

/// An exec under its own shim, for a client that attaches to
/// `Session::dir` itself (the Engine API), or nobody if detached.
pub fn exec_session(root: &Path, name: &str, o: &ExecOptions) -> Result<Session> {
    let (cs, c, s) = prepare(root, name, o)?;
    spawn_shim(&cs, &c, &s, o)?;
    Ok(s)
}

/// Runs a process in a running container; its exit code (0 when detached).
pub fn exec(root: &Path, name: &str, o: &ExecOptions) -> Result<i32> {
    let (cs, c, s) = prepare(root, name, o)?;
    if !o.detach && !o.tty {
        // The runtime in the foreground: stdio is passed straight through, nothing is lost.
        let mut cmd = runtime_cmd(&cs, &c);
        let pid_file = s.dir.join("pid");
        cmd.arg("exec")
            .arg("--pid-file")
            .arg(&pid_file)
            .arg("--process")
            .arg(s.dir.join("process.json"))
            .arg(&c.id);
        if !o.interactive {
            cmd.stdin(Stdio::null());
        }
        let st = cmd.status().map_err(ioe("running the runtime's exec"))?;
        // A process that never started (no pid written; the runtime said
        // why on stderr) is docker's 126, as its daemon reports any exec
        // that fails to start.
        if !st.success() && !pid_file.exists() {
            return Ok(126);
        }
        return Ok(st.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + st.signal().unwrap_or(0)
        }));
    }
    spawn_shim(&cs, &c, &s, o)?;
    if o.detach {
        // The shim keeps its dir until the container is removed.
        s.keep();
        return Ok(0);
    }
    let sock = attach::connect(&s.dir).map_err(ioe("attaching to the exec session"))?;
    let code = match attach::pump(sock, o.interactive, o.tty)? {
        Outcome::Exited(c) => c,
        Outcome::Detached => {
            s.keep();
            return Ok(0);
        }
        Outcome::Lost => -1,
    };
    wait_shim_gone(&s.dir);
    Ok(code)
}

/// The process.json of an exec: the container's process with `o`'s command,
/// environment, working directory and user.
pub fn exec_process(
    root: &Path,
    cs: &ContainerStore,
    c: &Container,
    o: &ExecOptions,
) -> Result<ExecProcess> {
    let dir = cs.dir_of(&c.id);
    let mut p = Bundle::load(&dir.join("bundle/config.json"))?.process()?;
    p.args = o.cmd.clone();
    p.terminal = o.tty;
    let mut env: Vec<String> = c.env.clone();
    for e in o.env.iter().filter_map(|e| super::opts::expand_env(e)) {
        let k = e
            .split_once('=')
            .map(|x| x.0.to_string())
            .unwrap_or_default();
        env.retain(|x| x.split_once('=').map(|y| y.0) != Some(k.as_str()));
        env.push(e);
    }
    p.env = env;
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(super::bad(
                "-w",
                w,
                "the working directory must be absolute",
            ));
        }
        p.cwd = w.clone();
    }
    if let Some(u) = &o.user {
        let images = Store::open(root)?;
        let img = images.resolve(&c.image_id)?;
        // The live root's files first: the container may have added the user.
        let live = fsroot::open_dir(Path::new(&format!("/proc/{}/root", cs.state(c).pid))).ok();
        let read = |f: &str| {
            let rel = format!("etc/{f}");
            live.as_ref()
                .and_then(|r| {
                    fsroot::read_in_root(
                        r.as_fd(),
                        Path::new(&rel),
                        crate::image::merged::READ_LIMIT,
                    )
                    .ok()
                })
                .or_else(|| images.read_image_file(&img, &rel))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let (uid, gid, extra) = crate::image::config::resolve_user(
            u,
            read("passwd").as_deref(),
            read("group").as_deref(),
        )
        .map_err(|e| super::bad("-u", u, e.to_string()))?;
        // The primary group among the supplementary ones, as docker's runc.
        let mut extra = extra;
        if !extra.contains(&gid) {
            extra.insert(0, gid);
        }
        p.user.set_uid(uid);
        p.user.set_gid(gid);
        p.user.set_additional_gids(Some(extra));
    }
    Ok(p)
}

/// Runs `RUNTIME exec` of `process` in the foreground with its output
/// captured (for health checks): its exit code (None: killed after
/// `timeout`) and up to 4 KiB of its stdout and stderr.
pub fn exec_captured(
    cs: &ContainerStore,
    c: &Container,
    process: &ExecProcess,
    timeout: Duration,
) -> Result<(Option<i32>, String)> {
    let edir = cs
        .dir_of(&c.id)
        .join("exec")
        .join(&super::random_id()[..16]);
    fs::create_dir_all(&edir).map_err(ioe("creating the exec dir"))?;
    let run = || -> Result<(Option<i32>, String)> {
        let pfile = edir.join("process.json");
        fs::write(&pfile, serde_json::to_vec(process).expect("process"))
            .map_err(ioe("writing process.json"))?;
        let out = edir.join("out");
        let f = fs::File::create(&out).map_err(ioe("creating the output file"))?;
        let mut cmd = runtime_cmd(cs, c);
        cmd.arg("exec")
            .arg("--process")
            .arg(&pfile)
            .arg("--pid-file")
            .arg(edir.join("pid"))
            .arg(&c.id)
            .stdin(Stdio::null())
            .stdout(f.try_clone().map_err(ioe("dup"))?)
            .stderr(f);
        let mut child = cmd.spawn().map_err(ioe("running the runtime's exec"))?;
        let end = Instant::now() + timeout;
        let code = loop {
            if let Some(st) = child.try_wait().map_err(ioe("waiting for the exec"))? {
                use std::os::unix::process::ExitStatusExt;
                break Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
            if Instant::now() >= end {
                // The process first (the runtime cannot pass SIGKILL on), then the runtime.
                if let Some(pid) = fs::read_to_string(edir.join("pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    // SAFETY: kill(2) of the exec'd process the runtime just named.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut text = fs::read(&out).unwrap_or_default();
        text.truncate(4096);
        Ok((code, String::from_utf8_lossy(&text).into_owned()))
    };
    let r = run();
    let _ = fs::remove_dir_all(&edir);
    r
}
