//! Helpers of the container tests: a store of their own with a busybox image,
//! the real berth binary, and cleanup of every container on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use test_support::TempDir;

pub struct Env {
    pub dir: TempDir,
    pub root: PathBuf,
}

pub fn berth_bin() -> PathBuf {
    let b = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    for sib in ["berth-shim", "berth-runtime"] {
        let p = b.parent().unwrap().join(sib);
        assert!(
            p.exists(),
            "{} is missing: build the whole workspace first (cargo build --workspace)",
            p.display()
        );
    }
    b
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    /// A fresh root with `busybox:latest` imported (CMD sh).
    pub fn new() -> Env {
        let dir = TempDir::new("berth-ctr");
        let root = dir.path().join("root");
        let e = Env { dir, root };
        let tar = super::busybox_tar(e.dir.path(), &[("seed/hello.txt", "from the image\n")]);
        let o = e.berth(&[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
        assert_eq!(o.code, 0, "import: {}", o.stderr);
        e
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root").arg(&self.root).args(args);
        c.env_remove("BERTH_ROOT");
        c
    }

    pub fn berth(&self, args: &[&str]) -> Out {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
            .into()
    }

    /// Runs berth and asserts success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert_eq!(o.code, 0, "berth {args:?} failed: {}{}", o.stderr, o.stdout);
        o.stdout
    }

    /// Runs berth and asserts it fails with one `berth: ...` line naming `want`.
    pub fn fails(&self, args: &[&str], want: &str) {
        let o = self.berth(args);
        assert_ne!(o.code, 0, "berth {args:?} should fail: {}", o.stdout);
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line expected: {:?}", o.stderr);
        assert!(lines[0].starts_with("berth: "), "{:?}", lines[0]);
        assert!(
            lines[0].contains(want),
            "error {:?} should mention {want:?}",
            lines[0]
        );
    }

    pub fn container_dirs(&self) -> usize {
        std::fs::read_dir(self.root.join("containers"))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().len() == 64)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Nothing of this root is mounted on the host, and no cgroup of ours is left.
    pub fn assert_nothing_left(&self, ids: &[String]) {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mi.contains(self.root.to_str().unwrap()),
            "a mount of {} is left",
            self.root.display()
        );
        for id in ids {
            for c in ["memory", "pids", "cpu", "unified"] {
                let p = Path::new("/sys/fs/cgroup").join(c).join("berth").join(id);
                assert!(!p.exists(), "cgroup {} is left", p.display());
            }
            assert!(!self.root.join("containers").join(id).exists());
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let ids = self.berth(&["ps", "-aq", "--no-trunc"]).stdout;
        for id in ids.lines() {
            let _ = self.berth(&["rm", "-f", "-v", id]);
        }
        if let Err(e) = berth::network::remove_all(&self.root) {
            eprintln!("removing the test's networks: {e}");
        }
    }
}

/// crun refuses a hybrid host until hugetlb is a v1 hierarchy (HOST.md).
pub fn prepare_crun() {
    if Path::new("/sys/fs/cgroup/unified").exists()
        && !Path::new("/sys/fs/cgroup/hugetlb/tasks").exists()
    {
        let _ = std::fs::create_dir_all("/sys/fs/cgroup/hugetlb");
        let _ = Command::new("mount")
            .args([
                "-t",
                "cgroup",
                "-o",
                "hugetlb",
                "cgroup",
                "/sys/fs/cgroup/hugetlb",
            ])
            .status();
    }
}

/// Polls `f` every 50 ms until it holds; panics naming `what` after `secs`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A pseudo-terminal: the master to drive it, the slave to hand a child as stdio.
pub struct Pty {
    pub master: std::fs::File,
    pub slave: std::os::fd::OwnedFd,
}

impl Pty {
    pub fn new() -> Pty {
        let p = nix::pty::openpty(None, None).expect("openpty");
        Pty {
            master: std::fs::File::from(p.master),
            slave: p.slave,
        }
    }

    pub fn stdio(&self) -> Stdio {
        Stdio::from(self.slave.try_clone().unwrap())
    }

    /// Reads from the master until `want` shows up (or `secs` pass); all that was read.
    pub fn read_until(&mut self, want: &str, secs: u64) -> String {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains(want) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, left.as_millis() as i32) };
            if n <= 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    pub fn write(&mut self, b: &[u8]) {
        use std::io::Write;
        self.master.write_all(b).unwrap();
    }
}

/// Waits for a child up to `secs`; its exit code, or None (killed) on timeout.
pub fn wait_child(child: &mut std::process::Child, secs: u64) -> Option<i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st.code().unwrap_or(-1));
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Env {
    /// `inspect -f TEMPLATE NAME`, trimmed.
    pub fn inspect(&self, name: &str, tmpl: &str) -> String {
        self.ok(&["inspect", "-f", tmpl, name]).trim().to_string()
    }

    /// The container's full id.
    pub fn id_of(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }

    pub fn running(&self, name: &str) -> bool {
        self.inspect(name, "{{.State.Status}}") == "running"
    }
}

/// A shell loop that keeps a container running and stops at once on a signal.
pub const LOOP: &str = "while true; do sleep 0.1; done";

/// Starts `c` with its stdout read to the end on a thread of its own.
pub fn spawn_collecting(
    mut c: std::process::Command,
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    c.stdout(Stdio::piped()).stdin(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    (child, reader)
}

/// `run --rm FLAGS... busybox sh -c SCRIPT`, asserting success; its stdout.
pub fn sh(e: &Env, flags: &[&str], script: &str) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(flags);
    a.extend(["busybox", "sh", "-c", script]);
    e.ok(&a)
}
