//! One container under test: its bundle, its private `--root` state dir, its
//! output files, and the runtime calls of the spec's lifecycle.
//!
//! ```text
//! <tmp>/berth-spec-<id>/
//!     bundle/config.json  bundle/rootfs/ (busybox + /bin/berth-testhelper)
//!     root/               --root of the runtime under test, private to this test
//!     out/                bind-mounted at /out in the container (hook logs, markers)
//!     stdout, stderr      the container's stdio (runtime create's stdio, inherited)
//! ```

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use test_support::TempDir;

use crate::console::Console;
use crate::harness::Ctx;

/// Every runtime call is bounded: a hung runtime fails its test, not the run.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub const HELPER_IN_CT: &str = "/bin/berth-testhelper";

/// The result of one runtime invocation.
pub struct Call {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Call {
    pub fn describe(&self) -> String {
        format!(
            "stdout: {:?}, stderr: {:?}",
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

#[derive(Default)]
pub struct Spawn {
    /// Write this to /proc/self/oom_score_adj of the runtime before it runs.
    pub oom_score_adj: Option<i32>,
    /// Leak an open fd numbered this into the runtime.
    pub leak_fd: Option<i32>,
}

pub struct Ct<'a> {
    pub ctx: &'a Ctx,
    pub id: String,
    pub config: Value,
    pub spawn: Spawn,
    pub console: Option<Console>,
    dir: TempDir,
}

impl<'a> Ct<'a> {
    /// A container whose process is the helper running `actions`.
    pub fn new(ctx: &'a Ctx, actions: &[&str]) -> Result<Ct<'a>> {
        let id = test_support::unique_id("bst");
        let dir = TempDir::new("berth-spec");
        let bundle = dir.path().join("bundle");
        let rootfs = bundle.join("rootfs");
        test_support::busybox_rootfs(&rootfs);
        fs::copy(&ctx.helper, rootfs.join("bin/berth-testhelper"))
            .with_context(|| format!("copy helper {}", ctx.helper.display()))?;
        // Created up front: a user-namespaced runtime cannot mkdir in a
        // rootfs owned by the host's root.
        fs::create_dir_all(rootfs.join("out"))?;
        let out = dir.path().join("out");
        fs::create_dir_all(&out)?;
        // Open to everyone: user-namespaced containers write here too.
        fs::set_permissions(&out, fs::Permissions::from_mode(0o777))?;
        fs::create_dir_all(dir.path().join("root"))?;
        let mut args = vec![HELPER_IN_CT];
        args.extend_from_slice(actions);
        let mut config = test_support::default_config(&args);
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]
        }));
        config["linux"]["cgroupsPath"] = json!(format!("/{}", cgroup_name(&id)));
        Ok(Ct {
            ctx,
            id,
            config,
            spawn: Spawn::default(),
            console: None,
            dir,
        })
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }
    /// Host side of the container's /out.
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn cgroup_name(&self) -> String {
        cgroup_name(&self.id)
    }
    pub fn args(&mut self, actions: &[&str]) {
        let mut args = vec![HELPER_IN_CT];
        args.extend_from_slice(actions);
        self.config["process"]["args"] = json!(args);
    }

    pub fn write_config(&self) -> Result<()> {
        fs::write(
            self.bundle().join("config.json"),
            serde_json::to_vec_pretty(&self.config)?,
        )?;
        Ok(())
    }

    /// `runtime --root <ours> args...`, stdio captured, bounded in time.
    pub fn call(&self, args: &[&str]) -> Result<Call> {
        let out = self.dir.path().join(format!("call-{}.out", args[0]));
        let err = self.dir.path().join(format!("call-{}.err", args[0]));
        let mut cmd = self.command(args);
        cmd.stdout(fs::File::create(&out)?)
            .stderr(fs::File::create(&err)?);
        let ok = run_bounded(cmd, args[0])?;
        Ok(Call {
            ok,
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.ctx.runtime);
        cmd.arg("--root")
            .arg(self.dir.path().join("root"))
            .args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// `create`, with the container's stdio going to our stdout/stderr files
    /// (the runtime's own stdio, which a non-terminal container inherits).
    pub fn try_create(&mut self) -> Result<Call> {
        self.write_config()?;
        let bundle = self.bundle();
        let bundle = bundle.to_str().unwrap();
        let sock;
        let mut args = vec!["create", "--bundle", bundle];
        if self.config["process"]["terminal"] == json!(true) {
            let c = Console::listen(&self.dir.path().join("console.sock"))?;
            sock = c.path().display().to_string();
            args.extend(["--console-socket", sock.as_str()]);
            self.console = Some(c);
        }
        args.push(&self.id);
        let mut cmd = self.command(&args);
        let out = self.dir.path().join("stdout");
        let err = self.dir.path().join("stderr");
        cmd.stdout(fs::File::create(&out)?)
            .stderr(fs::File::create(&err)?);
        let oom = self.spawn.oom_score_adj;
        let leak = self.spawn.leak_fd;
        let leaked = match leak {
            Some(_) => Some(fs::File::open("/dev/null")?),
            None => None,
        };
        let leaked_fd = leaked.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(v) = oom {
                    let s = format!("{v}\n");
                    let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
                    if fd >= 0 {
                        libc::write(fd, s.as_ptr().cast(), s.len());
                        libc::close(fd);
                    }
                }
                if let (Some(target), Some(src)) = (leak, leaked_fd) {
                    // dup2 clears close-on-exec: the runtime inherits it.
                    libc::dup2(src, target);
                }
                Ok(())
            });
        }
        let ok = run_bounded(cmd, "create")?;
        Ok(Call {
            ok,
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
        })
    }

    pub fn create(&mut self) -> Result<()> {
        let c = self.try_create()?;
        if !c.ok {
            bail!("create failed: {}", c.stderr.trim());
        }
        Ok(())
    }

    pub fn start(&self) -> Result<()> {
        let c = self.call(&["start", &self.id])?;
        if !c.ok {
            bail!("start failed: {}", c.stderr.trim());
        }
        Ok(())
    }

    pub fn try_state(&self) -> Result<Call> {
        self.call(&["state", &self.id])
    }

    pub fn state(&self) -> Result<Value> {
        let c = self.try_state()?;
        if !c.ok {
            bail!("state failed: {}", c.stderr.trim());
        }
        serde_json::from_str(&c.stdout)
            .with_context(|| format!("state output is not JSON: {:?}", c.stdout))
    }

    pub fn status(&self) -> Result<String> {
        let s = self.state()?;
        Ok(s["status"]
            .as_str()
            .ok_or_else(|| anyhow!("state has no status string: {s}"))?
            .to_string())
    }

    pub fn pid(&self) -> Result<i32> {
        let s = self.state()?;
        Ok(s["pid"]
            .as_i64()
            .ok_or_else(|| anyhow!("state has no pid: {s}"))? as i32)
    }

    pub fn kill(&self, sig: &str) -> Result<()> {
        let c = self.call(&["kill", &self.id, sig])?;
        if !c.ok {
            bail!("kill {sig} failed: {}", c.stderr.trim());
        }
        Ok(())
    }

    pub fn delete(&self) -> Result<()> {
        let c = self.call(&["delete", &self.id])?;
        if !c.ok {
            bail!("delete failed: {}", c.stderr.trim());
        }
        Ok(())
    }

    /// Polls `state` until it reports `want`.
    pub fn wait_status(&self, want: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let st = self.status()?;
            if st == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "container still {st:?} after {within:?}, expected {want:?}; output: {}",
                    self.raw_output()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The whole lifecycle for a helper that exits by itself: returns what
    /// it printed.
    pub fn run(&mut self) -> Result<Vec<Value>> {
        self.create()?;
        self.start()?;
        self.wait_status("stopped", Duration::from_secs(15))?;
        self.delete()?;
        Ok(self.output())
    }

    pub fn raw_output(&self) -> String {
        match &self.console {
            Some(c) => c.output(),
            None => fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default(),
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// The helper's JSON lines; anything else (runtime chatter) is ignored.
    pub fn output(&self) -> Vec<Value> {
        self.raw_output()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .filter(|v| v.is_object())
            .collect()
    }

    /// The first record printed under `key`.
    pub fn record(&self, key: &str) -> Result<Value> {
        self.records(key)?.into_iter().next().ok_or_else(|| {
            anyhow!(
                "helper printed no {key:?} record; stdout: {:?}, stderr: {:?}",
                self.raw_output(),
                self.stderr()
            )
        })
    }

    pub fn records(&self, key: &str) -> Result<Vec<Value>> {
        Ok(self
            .output()
            .into_iter()
            .filter_map(|v| v.get(key).cloned())
            .collect())
    }

    /// The record of the action on `path`, for actions that take a path.
    pub fn record_for(&self, key: &str, path: &str) -> Result<Value> {
        self.records(key)?
            .into_iter()
            .find(|v| v["path"] == path)
            .ok_or_else(|| {
                anyhow!(
                    "helper printed no {key:?} record for {path}; stdout: {:?}, stderr: {:?}",
                    self.raw_output(),
                    self.stderr()
                )
            })
    }

    pub fn report(&self) -> Result<Value> {
        self.record("report")
    }

    /// The directory of this container's cgroup in a v1 hierarchy on the host.
    /// The container's cgroup on the host: in `controller`'s v1 hierarchy,
    /// or the one v2 directory on a pure cgroup v2 host.
    pub fn host_cgroup(&self, controller: &str) -> PathBuf {
        let root = Path::new("/sys/fs/cgroup");
        if crate::tests::host::unified_host() {
            return root.join(self.cgroup_name());
        }
        root.join(controller).join(self.cgroup_name())
    }
}

impl Drop for Ct<'_> {
    fn drop(&mut self) {
        // Whatever the test left: kill, force-delete, and make sure no
        // cgroup of ours survives a buggy runtime.
        if let Ok(c) = self.call(&["kill", &self.id, "KILL"]) {
            if c.ok {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.call(&["delete", "--force", &self.id]);
        // A container without a mount namespace of its own mounts on the
        // host (crun and runc leave those mounts after delete): lift them
        // before our directory is removed, never through them.
        lift_mounts_below(self.dir.path());
        if let Ok(d) = fs::read_dir("/sys/fs/cgroup") {
            for e in d.flatten() {
                let p = e.path().join(self.cgroup_name());
                if p.exists() {
                    let _ = fs::remove_dir(&p);
                }
            }
        }
    }
}

/// Mount points at or below `dir` on the host, deepest first.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes a space as \040; our temp dirs have none.
        .map(PathBuf::from)
        .filter(|m| m.starts_with(dir))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    v
}

pub fn lift_mounts_below(dir: &Path) {
    for m in mounts_below(dir) {
        if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Runs `cmd` to completion, killing it after CALL_TIMEOUT.
pub fn run_bounded(mut cmd: Command, what: &str) -> Result<bool> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawn runtime for {what}"))?;
    let deadline = Instant::now() + CALL_TIMEOUT;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("runtime {what} did not finish within {CALL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cgroup_name(id: &str) -> String {
    format!("berth-spec-{id}")
}
