//! 100 shims at once: no zombie, no descriptor leak.
//!
//! This test process makes itself a child subreaper, so the shims (orphaned
//! by their double fork) become its children and it can check that each one
//! exits cleanly and is reaped. It is alone in its test binary because of
//! that process-wide setting.

mod common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_support::{busybox_rootfs, default_config, unique_id, TempDir};

const N: usize = 100;
const THREADS: usize = 4;

struct Running {
    id: String,
    dir: TempDir,
    shim: i32,
    init: i32,
}

/// Kills whatever is left, even when an assertion failed half-way.
struct Guard {
    rt: String,
    root: TempDir,
    ctrs: Vec<Running>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &self.ctrs {
            let _ = Command::new(&self.rt)
                .arg("--root")
                .arg(self.root.path())
                .args(["delete", "--force", &c.id])
                .output();
            if is_shim(c.shim) {
                unsafe { libc::kill(c.shim, libc::SIGKILL) };
            }
        }
        reap_all(Duration::from_secs(2));
    }
}

fn reap_all(for_at_most: Duration) {
    let deadline = Instant::now() + for_at_most;
    while Instant::now() < deadline {
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if r < 0 {
            return;
        }
        if r == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// pid -> (ppid, state) for every process on the host.
fn processes() -> HashMap<i32, (i32, char)> {
    let mut m = HashMap::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
            m.insert(pid, (proc_ppid(&stat), proc_state(&stat)));
        }
    }
    m
}

fn fd_targets(pid: i32) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let n = e.file_name().to_string_lossy().parse().unwrap();
            let t = fs::read_link(e.path())
                .map(|p| p.to_string_lossy().to_string())
                .unwrap_or_default();
            (n, t)
        })
        .collect();
    v.sort();
    v
}

fn bundle(rootfs: &std::path::Path, with_pid_ns: bool) -> TempDir {
    // The orphan: a subshell's `sleep` outlives the subshell. Without a pid
    // namespace it is re-parented to the nearest subreaper, the shim, which
    // must reap it when it exits.
    let mut cfg = default_config(&["sh", "-c", "(sleep 0.3 &); exec sleep 1000"]);
    cfg["root"] = serde_json::json!({"path": rootfs, "readonly": true});
    if !with_pid_ns {
        let ns = cfg["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    }
    let d = TempDir::new("berth-many-bundle");
    fs::write(
        d.path().join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    d
}

#[test]
fn hundred_shims_leave_no_zombie_and_no_fd_leak() {
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    let me = std::process::id() as i32;
    let fds_before = fd_targets(me).len();
    let rt = runtime();
    let shared = TempDir::new("berth-many-rootfs");
    busybox_rootfs(shared.path());
    let bundles = [bundle(shared.path(), true), bundle(shared.path(), false)];
    let mut guard = Guard {
        rt: rt.clone(),
        root: TempDir::new("berth-many-root"),
        ctrs: Vec::new(),
    };

    let started = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let (rt, root, bundles) = (&rt, guard.root.path().to_path_buf(), &bundles);
                s.spawn(move || {
                    let mut v = Vec::new();
                    for i in 0..N / THREADS {
                        let id = unique_id("many");
                        let dir = TempDir::new("berth-many-dir");
                        let b: PathBuf = bundles[(t + i) % 2].path().to_path_buf();
                        let out = Command::new(SHIM)
                            .args(["create", "--start", "--rm", "--id", &id, "--runtime", rt])
                            .arg("--bundle")
                            .arg(&b)
                            .arg("--runtime-root")
                            .arg(&root)
                            .arg("--dir")
                            .arg(dir.path())
                            .stdin(Stdio::null())
                            .output()
                            .unwrap();
                        let r: serde_json::Value = match serde_json::from_slice(&out.stdout) {
                            Ok(r) => r,
                            Err(_) => {
                                serde_json::json!({"error": String::from_utf8_lossy(&out.stderr)})
                            }
                        };
                        let (Some(shim), Some(init)) = (r["shim_pid"].as_i64(), r["pid"].as_i64())
                        else {
                            v.push(Err(format!("{id}: {r}")));
                            continue;
                        };
                        v.push(Ok(Running {
                            id,
                            dir,
                            shim: shim as i32,
                            init: init as i32,
                        }));
                    }
                    v
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let mut errors = Vec::new();
    for r in started {
        match r {
            Ok(c) => guard.ctrs.push(c),
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "{} creates failed: {:?}",
        errors.len(),
        errors
    );
    assert_eq!(guard.ctrs.len(), N);

    // Let every orphan `sleep 0.3` end, then look at the whole host.
    std::thread::sleep(Duration::from_millis(800));
    let procs = processes();
    let shims: HashSet<i32> = guard.ctrs.iter().map(|c| c.shim).collect();
    for c in &guard.ctrs {
        assert!(is_shim(c.shim), "shim {} of {} is gone", c.shim, c.id);
        assert_eq!(
            procs.get(&c.init).map(|p| p.0),
            Some(c.shim),
            "init of {} is not the shim's child",
            c.id
        );
    }
    let zombies: Vec<_> = procs
        .iter()
        .filter(|(_, (ppid, st))| *st == 'Z' && shims.contains(ppid))
        .collect();
    assert!(zombies.is_empty(), "zombies under shims: {zombies:?}");

    // Every idle shim holds the same small set of descriptors, all its own;
    // every container holds exactly 0, 1 and 2.
    let mut counts = HashSet::new();
    for c in &guard.ctrs {
        let fds = fd_targets(c.shim);
        let dir = c.dir.path().to_string_lossy().to_string();
        for (n, t) in &fds {
            let ok = t == "/dev/null"
                || t.starts_with(&dir)
                || t.starts_with("pipe:")
                || t.starts_with("socket:")
                || t == "anon_inode:[signalfd]";
            assert!(ok, "shim {} holds fd {n} -> {t}", c.shim);
        }
        counts.insert(fds.len());
        let init_fds: Vec<i32> = fd_targets(c.init).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            init_fds,
            vec![0, 1, 2],
            "container {} inherited descriptors",
            c.id
        );
    }
    assert_eq!(
        counts.len(),
        1,
        "shims hold different numbers of fds: {counts:?}"
    );
    assert!(*counts.iter().next().unwrap() <= 10);

    for c in &guard.ctrs {
        let out = Command::new(SHIM)
            .arg("kill")
            .arg(c.dir.path())
            .arg("KILL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for c in &guard.ctrs {
        let e = wait_exit_file(c.dir.path(), Duration::from_secs(30));
        assert_eq!(e["signal"], 9, "{}: {e}", c.id);
    }
    // The shims were re-parented to us: each must exit 0 and be reaped here.
    for c in &guard.ctrs {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            let r = unsafe { libc::waitpid(c.shim, &mut status, libc::WNOHANG) };
            if r == c.shim {
                break;
            }
            assert!(
                r == 0,
                "shim {} is not our child: {}",
                c.shim,
                std::io::Error::last_os_error()
            );
            assert!(Instant::now() < deadline, "shim {} did not exit", c.shim);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "shim {} ended with {status:#x}",
            c.shim
        );
    }
    let procs = processes();
    let left: Vec<_> = procs
        .iter()
        .filter(|(pid, (ppid, _))| shims.contains(ppid) || (*ppid == me && **pid != me))
        .collect();
    assert!(
        left.is_empty(),
        "processes left under the shims or us: {left:?}"
    );
    let list = Command::new(&rt)
        .arg("--root")
        .arg(guard.root.path())
        .arg("list")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout)
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(
        listed,
        0,
        "--rm left containers: {}",
        String::from_utf8_lossy(&list.stdout)
    );
    guard.ctrs.clear();
    drop(guard);
    assert_eq!(
        fd_targets(me).len(),
        fds_before,
        "the test itself leaked descriptors"
    );
}
