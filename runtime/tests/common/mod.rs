//! Drives the real berth-runtime binary on busybox bundles.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use test_support::{default_config, unique_id, Bundle, TempDir};

pub fn rt() -> &'static str {
    env!("CARGO_BIN_EXE_berth-runtime")
}

/// One container: its own id, state root and bundle; deleted on drop.
pub struct Ctr {
    pub id: String,
    pub root: TempDir,
    pub bundle: Bundle,
}

impl Ctr {
    pub fn new(cfg: serde_json::Value) -> Ctr {
        Ctr {
            id: unique_id("berth-rt"),
            root: TempDir::new("berth-rt-root"),
            bundle: Bundle::new(&cfg),
        }
    }

    /// A container whose process is `sh -c script`.
    pub fn sh(script: &str) -> Ctr {
        Ctr::new(default_config(&["sh", "-c", script]))
    }

    pub fn with(script: &str, f: impl FnOnce(&mut serde_json::Value)) -> Ctr {
        let mut c = default_config(&["sh", "-c", script]);
        f(&mut c);
        Ctr::new(c)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(rt());
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Runs a verb with stdout/stderr in files, not pipes: a container
    /// process inherits them and would hold a pipe open long after we exit.
    pub fn out(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        self.output_via_files(c)
    }

    pub fn output_via_files(&self, mut c: Command) -> Output {
        let n = test_support::unique_id("o");
        let (po, pe) = (
            self.root.path().join(format!("{n}.out")),
            self.root.path().join(format!("{n}.err")),
        );
        c.stdin(Stdio::null())
            .stdout(std::fs::File::create(&po).unwrap())
            .stderr(std::fs::File::create(&pe).unwrap());
        // A test that just wrote its own copy of the binary can meet ETXTBSY:
        // a child another test thread forked meanwhile holds the write fd
        // until its own exec. That passes in a moment.
        let mut tries = 0;
        let st = loop {
            match c.status() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r => break r.expect("run berth-runtime"),
            }
        };
        let o = Output {
            status: st,
            stdout: std::fs::read(&po).unwrap_or_default(),
            stderr: std::fs::read(&pe).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(po);
        let _ = std::fs::remove_file(pe);
        o
    }

    /// `run` in the foreground: (exit code, stdout, stderr).
    pub fn run(&self) -> (i32, String, String) {
        let o = self
            .cmd()
            .arg("run")
            .arg("--bundle")
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `run` that must succeed; returns stdout.
    pub fn run_ok(&self) -> String {
        let (code, out, err) = self.run();
        assert_eq!(code, 0, "run failed: stdout={out} stderr={err}");
        out
    }

    pub fn create(&self) -> Output {
        let mut c = self.cmd();
        c.arg("create")
            .arg("--bundle")
            .arg(self.bundle.path())
            .arg(&self.id);
        self.output_via_files(c)
    }

    pub fn state(&self) -> serde_json::Value {
        let o = self.out(&["state", &self.id]);
        assert!(
            o.status.success(),
            "state: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).expect("state is JSON")
    }

    pub fn status(&self) -> String {
        self.state()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join(&self.id)
    }

    pub fn wait_status(&self, want: &str) {
        for _ in 0..500 {
            if self.status() == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container never became {want}");
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.cmd().args(["delete", "--force", &self.id]).output();
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn cgroup_exists(name: &str) -> bool {
    ["memory", "pids", "unified"]
        .iter()
        .any(|h| Path::new("/sys/fs/cgroup").join(h).join(name).exists())
}

/// `pid` sits in the cgroup `/<name>` of every hierarchy: each v1 one and,
/// where there is one, the cgroup2 tree.
pub fn assert_in_cgroup(pid: i64, name: &str) {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/{name}");
    for line in cg.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap();
        assert_eq!(path, want, "{line}\n{cg}");
    }
    assert!(
        cg.lines().any(|l| l.starts_with("0::")) || !Path::new("/sys/fs/cgroup/unified").exists()
    );
}

/// Runs `c` with `stdin`, its stdout/stderr in files (a pipe nobody reads
/// could block it); panics naming `what` if it outlives `secs` (a read
/// without bound, a fifo nobody opens, a lock of a dead process).
pub fn bounded(mut c: Command, stdin: Stdio, secs: u64, what: &str) -> Output {
    let d = TempDir::new("bounded-out");
    let (po, pe) = (d.path().join("out"), d.path().join("err"));
    let mut child = c
        .stdin(stdin)
        .stdout(std::fs::File::create(&po).unwrap())
        .stderr(std::fs::File::create(&pe).unwrap())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still runs after {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Output {
        status,
        stdout: std::fs::read(&po).unwrap_or_default(),
        stderr: std::fs::read(&pe).unwrap_or_default(),
    }
}
