//! Helpers for driving the real berth-shim binary against a real runtime.
#![allow(dead_code)]

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use test_support::{default_config, unique_id, Bundle, TempDir};

pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

/// The runtime under test: $BERTH_SHIM_TEST_RUNTIME, else crun (fast).
pub fn runtime() -> String {
    let rt = std::env::var("BERTH_SHIM_TEST_RUNTIME").unwrap_or_else(|_| "crun".into());
    if rt.ends_with("crun") {
        ensure_hugetlb_v1();
    }
    rt
}

/// crun refuses hybrid hosts where hugetlb sits on cgroup2 (see HOST.md);
/// mounting it as v1 is harmless and idempotent. A lock keeps parallel
/// test processes from stacking two mounts.
fn ensure_hugetlb_v1() {
    let mounted = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup/hugetlb"))
    };
    if mounted() {
        return;
    }
    let lock = fs::File::create("/run/berth-test-hugetlb.lock").unwrap();
    use std::os::fd::AsRawFd;
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if !mounted() {
        fs::create_dir_all("/sys/fs/cgroup/hugetlb").unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "cgroup",
                "-o",
                "hugetlb",
                "cgroup",
                "/sys/fs/cgroup/hugetlb",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount the hugetlb cgroup for crun");
    }
}

/// One container under a shim, with everything it owns; Drop kills and
/// removes it all even when the test failed half-way.
pub struct Ctr {
    pub id: String,
    pub rt: String,
    pub root: TempDir,
    pub dir: TempDir,
    pub bundle: Bundle,
    pub report: Value,
}

impl Ctr {
    /// A container not yet created, whose process is `args`.
    pub fn new(args: &[&str]) -> Ctr {
        Ctr::with_config(default_config(args))
    }

    pub fn with_config(config: Value) -> Ctr {
        Ctr {
            id: unique_id("shim"),
            rt: runtime(),
            root: TempDir::new("berth-shim-root"),
            dir: TempDir::new("berth-shim-dir"),
            bundle: Bundle::new(&config),
            report: Value::Null,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `berth-shim create` with the extra `flags`; returns its output.
    pub fn shim_create(&mut self, flags: &[&str]) -> Output {
        let out = Command::new(SHIM)
            .arg("create")
            .args(["--id", &self.id, "--runtime", &self.rt])
            .arg("--bundle")
            .arg(self.bundle.path())
            .arg("--runtime-root")
            .arg(self.root.path())
            .arg("--dir")
            .arg(self.dir.path())
            .args(flags)
            .stdin(Stdio::null())
            .output()
            .expect("run berth-shim");
        if out.status.success() {
            self.report = serde_json::from_slice(&out.stdout).expect("shim report is JSON");
        }
        out
    }

    /// create, and assert it worked.
    pub fn create(&mut self, flags: &[&str]) -> &mut Ctr {
        let out = self.shim_create(flags);
        assert!(
            out.status.success(),
            "shim create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self
    }

    pub fn shim_pid(&self) -> i32 {
        self.report["shim_pid"].as_i64().expect("shim_pid") as i32
    }

    pub fn init_pid(&self) -> i32 {
        self.report["pid"].as_i64().expect("pid") as i32
    }

    pub fn runtime_cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.rt)
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn start(&self) {
        let out = self.runtime_cmd(&["start", &self.id]);
        assert!(
            out.status.success(),
            "runtime start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn shim(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SHIM);
        c.args(args);
        c
    }

    pub fn kill(&self, sig: &str) {
        let out = Command::new(SHIM)
            .arg("kill")
            .arg(self.dir())
            .arg(sig)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "shim kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits for DIR/exit and returns it.
    pub fn wait_exit(&self, timeout: Duration) -> Value {
        wait_exit_file(self.dir(), timeout)
    }

    pub fn log(&self) -> Vec<Record> {
        read_log(&self.dir().join("ctr.log"))
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.runtime_cmd(&["delete", "--force", &self.id]);
        if let Some(pid) = self.report["shim_pid"].as_i64() {
            let deadline = Instant::now() + Duration::from_secs(3);
            while is_shim(pid as i32) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if is_shim(pid as i32) {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// True if `pid` is a live (not zombie) berth-shim.
pub fn is_shim(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.contains("(berth-shim)") && proc_state(&s) != 'Z',
        Err(_) => false,
    }
}

/// The state letter of a /proc/PID/stat line.
pub fn proc_state(stat: &str) -> char {
    stat.rsplit_once(") ")
        .and_then(|(_, r)| r.chars().next())
        .unwrap_or('?')
}

/// The ppid of a /proc/PID/stat line.
pub fn proc_ppid(stat: &str) -> i32 {
    stat.rsplit_once(") ")
        .and_then(|(_, r)| r.split(' ').nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1)
}

pub fn wait_exit_file(dir: &Path, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(b) = fs::read(dir.join("exit")) {
            return serde_json::from_slice(&b).expect("exit file is JSON");
        }
        assert!(
            Instant::now() < deadline,
            "no exit file in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub ts: u128,
    pub stream: String,
    pub tag: String,
    pub msg: String,
}

/// Parses a CRI log file, asserting every line is well-formed.
pub fn read_log(p: &Path) -> Vec<Record> {
    let text = fs::read_to_string(p).unwrap_or_default();
    // Split on \n only: a terminal's \r is part of the message.
    text.split_terminator('\n')
        .map(|l| {
            let mut it = l.splitn(4, ' ');
            let (ts, stream, tag, msg) = (
                it.next().unwrap(),
                it.next().unwrap_or(""),
                it.next().unwrap_or(""),
                it.next().unwrap_or_else(|| panic!("bad log line {l:?}")),
            );
            assert!(
                stream == "stdout" || stream == "stderr",
                "bad stream in {l:?}"
            );
            assert!(tag == "F" || tag == "P", "bad tag in {l:?}");
            Record {
                ts: parse_rfc3339_nanos(ts).unwrap_or_else(|| panic!("bad timestamp in {l:?}")),
                stream: stream.into(),
                tag: tag.into(),
                msg: msg.into(),
            }
        })
        .collect()
}

/// Joins P records with what follows them: the lines a reader would show.
pub fn lines(records: &[Record], stream: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for r in records.iter().filter(|r| r.stream == stream) {
        cur.push_str(&r.msg);
        if r.tag == "F" {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (exactly that shape) to nanoseconds since
/// the epoch.
pub fn parse_rfc3339_nanos(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 30
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[19] != b'.'
        || b[29] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ns) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..29)?);
    // Days from civil (H. Hinnant), independent of the shim's own code.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + hh * 3600 + mm * 60 + ss;
    Some(secs as u128 * 1_000_000_000 + ns as u128)
}

pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub fn shim_bin() -> PathBuf {
    PathBuf::from(SHIM)
}
