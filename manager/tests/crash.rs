//! berth killed with SIGKILL in the middle of a command: the next ordinary
//! command must finish or undo what it left, within seconds, and leave
//! nothing behind (no shim, no runtime state, no dir, no cgroup, no mount),
//! and the name must be free again. Named points (BERTH_FAULT) make each
//! case certain; a delay sweep adds the points nobody named.

mod common;

use common::containers::Env;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Waits for `c` at most `secs`; its exit code, or a panic naming `what`.
fn wait_for(mut c: Child, secs: u64, what: &str) -> i32 {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = c.kill();
            let _ = c.wait();
            panic!("{what} still runs after {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose command line names this test's root (shims do).
fn processes_of(e: &Env) -> Vec<String> {
    let root = e.root.to_str().unwrap().to_string();
    let mut out = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(p.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&root) && !cmd.contains("crash-") {
                out.push(cmd);
            }
        }
    }
    out
}

/// `rm -f NAME` finishes within seconds and leaves nothing of the container.
fn removes_cleanly(e: &Env, name: &str) {
    let id = e
        .berth(&["inspect", "-f", "{{.Id}}", name])
        .stdout
        .trim()
        .to_string();
    let rm = e
        .cmd(&["rm", "-f", name])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(
        wait_for(rm, 30, &format!("rm -f {name}")),
        0,
        "rm -f {name} failed"
    );
    if !id.is_empty() {
        assert!(
            !e.root.join("containers").join(&id).exists(),
            "the container dir is left"
        );
    }
    let ids = if id.is_empty() { vec![] } else { vec![id] };
    e.assert_nothing_left(&ids);
    // A shim runs the exit command after it has let go of the dir: give
    // that a moment, never for ever.
    let end = Instant::now() + Duration::from_secs(10);
    while !processes_of(e).is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(processes_of(e), Vec::<String>::new(), "processes are left");
    // The name is free again.
    e.ok(&["create", "--name", name, "busybox", "true"]);
    e.ok(&["rm", name]);
}

#[test]
fn a_run_killed_at_each_named_point_is_undone_by_rm() {
    let e = Env::new();
    for (i, point) in [
        "create:recorded",
        "create:bundle-written",
        "start:shim-created",
        "start:recorded",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("p{i}");
        let o = e
            .cmd(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
            .env("BERTH_FAULT", point)
            .output()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "{point}: berth was not killed there"
        );
        removes_cleanly(&e, &name);
    }
}

#[test]
fn a_start_after_an_interrupted_one_runs_the_container() {
    let e = Env::new();
    for point in ["start:shim-created", "start:recorded"] {
        let o = e
            .cmd(&["run", "-d", "--name", "s", "busybox", "sleep", "1000"])
            .env("BERTH_FAULT", point)
            .output()
            .unwrap();
        assert!(!o.status.success());
        let start = e
            .cmd(&["start", "s"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // After `start:recorded` the container reads as running (its init
        // waits to be started): start is refused, as for any running one.
        let code = wait_for(start, 30, "start");
        if point == "start:shim-created" {
            assert_eq!(code, 0, "{point}: start failed");
            e.ok(&["exec", "s", "true"]);
        }
        e.ok(&["stop", "-t", "1", "s"]);
        removes_cleanly(&e, "s");
    }
}

#[test]
fn a_run_killed_after_any_delay_is_undone_by_rm() {
    let e = Env::new();
    for ms in (0..60).step_by(4) {
        let name = format!("d{ms}");
        let mut c = e
            .cmd(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = c.kill();
        let _ = c.wait();
        if e.berth(&["inspect", &name]).code != 0 {
            // Killed before the record was whole: prune finds what is left.
            e.ok(&["container", "prune", "-f"]);
            assert_eq!(e.container_dirs(), 0);
            continue;
        }
        removes_cleanly(&e, &name);
    }
}

/// `network prune`, then none of the bridges this root marked in the making
/// is left: a create killed before it named the bridge's owner leaves one
/// no alias tells from another root's.
fn prune_networks(e: &Env) {
    let making = |e: &Env| -> Vec<String> {
        std::fs::read_dir(e.root.join("networks"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|d| {
                d.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("making-"))
                    .map(String::from)
            })
            .collect()
    };
    let marked = making(e);
    prune_checked(e, marked, making)
}

fn prune_checked(e: &Env, marked: Vec<String>, making: impl Fn(&Env) -> Vec<String>) {
    e.ok(&["network", "prune", "-f"]);
    assert_eq!(making(e), Vec::<String>::new(), "markers are left");
    for b in marked {
        assert!(
            !std::path::Path::new("/sys/class/net").join(&b).exists(),
            "bridge {b} of a killed create is left"
        );
    }
}

/// Links of the host whose alias names this test's root (its bridges).
fn links_of(e: &Env) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let root = std::fs::canonicalize(&e.root)
        .unwrap_or(e.root.clone())
        .display()
        .to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&root))
        .filter_map(|l| l.split(": ").nth(1).map(String::from))
        .collect()
}

/// Runs `args` and SIGKILLs it after `ms`.
fn killed_after(e: &Env, args: &[&str], ms: u64) {
    let mut c = e
        .cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    let _ = c.kill();
    let _ = c.wait();
}

/// Every state-changing command of berth killed after a sweep of delays:
/// the next ordinary command (`rm -f`, `image prune`, `network prune`,
/// `volume rm`) succeeds in seconds, and the name, the store's tmp/ and the
/// host's links are as if the killed command had never run.
#[test]
fn every_state_changing_command_killed_midway_is_undone_by_the_next_one() {
    let e = Env::new();
    let tmp = e.root.join("images/tmp");
    let tmp = if tmp.exists() {
        tmp
    } else {
        e.root.join("tmp")
    };
    let tmp_empty = || {
        std::fs::read_dir(&tmp)
            .map(|r| r.count() == 0)
            .unwrap_or(true)
    };
    e.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo x > /marker",
    ]);
    // The default network's bridge (src ran on it) stays: only new ones count.
    let links = links_of(&e);
    let archive = e.dir.path().join("img.tar");
    e.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    let rootfs = e.dir.path().join("rootfs.tar");
    e.ok(&["export", "-o", rootfs.to_str().unwrap(), "src"]);
    for ms in [0u64, 2, 5, 10, 20, 40, 80] {
        // network create, then rm
        let n = format!("n{ms}");
        killed_after(&e, &["network", "create", &n], ms);
        let _ = e.berth(&["network", "rm", &n]);
        prune_networks(&e);
        assert_eq!(
            links_of(&e),
            links,
            "network create killed at {ms} ms left a link"
        );
        e.ok(&["network", "create", &n]);
        killed_after(&e, &["network", "rm", &n], ms);
        let _ = e.berth(&["network", "rm", &n]);
        prune_networks(&e);
        assert_eq!(
            links_of(&e),
            links,
            "network rm killed at {ms} ms left a link"
        );

        // volume create and rm
        let v = format!("v{ms}");
        killed_after(&e, &["volume", "create", &v], ms);
        let _ = e.berth(&["volume", "rm", &v]);
        e.ok(&["volume", "create", &v]);
        killed_after(&e, &["volume", "rm", &v], ms);
        let _ = e.berth(&["volume", "rm", &v]);
        assert!(
            !e.ok(&["volume", "ls", "-q"]).lines().any(|l| l == v),
            "volume {v} is left"
        );

        // commit, load, import: prune leaves no temp files, and the same command then works
        for args in [
            vec!["commit", "src", "committed:1"],
            vec!["load", "-i", archive.to_str().unwrap()],
            vec!["import", rootfs.to_str().unwrap(), "imported:1"],
        ] {
            killed_after(&e, &args, ms);
            e.ok(&["image", "prune", "-f"]);
            assert!(tmp_empty(), "{args:?} killed at {ms} ms left temp files");
            e.ok(&args);
        }

        // stop and rm of a running container
        let c = format!("c{ms}");
        e.ok(&["run", "-d", "--name", &c, "busybox", "sleep", "1000"]);
        killed_after(&e, &["stop", "-t", "1", &c], ms);
        killed_after(&e, &["rm", "-f", &c], ms);
        if e.berth(&["inspect", &c]).code == 0 {
            removes_cleanly(&e, &c);
        }
        e.ok(&["run", "--rm", "--name", &c, "busybox", "true"]);
    }
}

/// A network create killed right after it made its bridge, before the
/// bridge says whose it is: the next prune removes it.
#[test]
fn a_network_create_killed_before_it_named_its_bridge_is_undone_by_prune() {
    let e = Env::new();
    let o = e
        .cmd(&["network", "create", "half"])
        .env("BERTH_FAULT", "network:bridge-made")
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "berth was not killed at the point"
    );
    let marked: Vec<String> = std::fs::read_dir(e.root.join("networks"))
        .unwrap()
        .flatten()
        .filter_map(|d| {
            d.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("making-"))
                .map(String::from)
        })
        .collect();
    assert_eq!(marked.len(), 1, "the bridge in the making is not marked");
    assert!(std::path::Path::new("/sys/class/net")
        .join(&marked[0])
        .exists());
    prune_networks(&e);
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&marked[0])
        .exists());
    e.ok(&["network", "create", "half"]);
    e.ok(&["network", "rm", "half"]);
}
