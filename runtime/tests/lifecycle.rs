//! The OCI lifecycle through the real binary: create → start → kill →
//! delete, with each state and each transition's errors (runtime.md).

mod common;
use common::*;

#[test]
fn run_propagates_exit_code() {
    let c = Ctr::sh("exit 7");
    assert_eq!(c.run().0, 7);
    // Without a pid namespace: an init (pid 1) cannot be SIGKILLed from inside.
    let c = Ctr::with("kill -9 $$", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    assert_eq!(c.run().0, 128 + 9, "death by SIGKILL is 137");
}

#[test]
fn create_start_state_kill_delete() {
    let c = Ctr::new(test_support::default_config(&["sleep", "60"]));
    let o = c.create();
    assert!(o.status.success(), "{}", stderr(&o));
    let st = c.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], c.id.as_str());
    assert_eq!(st["ociVersion"], "1.2.1");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        std::fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(c.bundle.path()).unwrap()
    );
    // Created: the process must not have run yet (still our init, not sleep).
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep");

    // A second create with the same id fails and leaves the first alone.
    let o = c.create();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(c.status(), "created");

    // delete of a created container without --force is an error (runtime.md: not stopped).
    assert!(!c.out(&["delete", &c.id]).status.success());

    assert!(c.out(&["start", &c.id]).status.success());
    assert_eq!(c.status(), "running");
    // `start` returns once the init has let go of exec.fifo, a moment
    // before its execve: the program's name shows up within a bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let comm = loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        if comm.trim() == "sleep" || std::time::Instant::now() > deadline {
            break comm;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(comm.trim(), "sleep");
    // start of a running container is an error
    let o = c.out(&["start", &c.id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not created"), "{}", stderr(&o));
    // delete of a running one too
    let o = c.out(&["delete", &c.id]);
    assert!(!o.status.success());
    assert_eq!(c.status(), "running");

    assert!(c.out(&["kill", &c.id, "KILL"]).status.success());
    c.wait_status("stopped");
    assert!(
        c.state().get("pid").is_none(),
        "a stopped container has no pid"
    );
    // kill of a stopped container is an error
    assert!(!c.out(&["kill", &c.id, "TERM"]).status.success());
    assert!(c.out(&["delete", &c.id]).status.success());
    assert!(!c.state_dir().exists());
    assert!(!cgroup_exists(&c.id), "delete leaves no cgroup");
    // state of a deleted container is an error; delete --force of one is not
    assert!(!c.out(&["state", &c.id]).status.success());
    assert!(c.out(&["delete", "--force", &c.id]).status.success());
}

#[test]
fn kill_accepts_names_and_numbers() {
    for sig in ["TERM", "SIGTERM", "15"] {
        let c = Ctr::sh("trap 'exit 0' TERM; while true; do sleep 0.05; done");
        assert!(c.create().status.success());
        assert!(c.out(&["start", &c.id]).status.success());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let o = c.out(&["kill", &c.id, sig]);
        assert!(o.status.success(), "kill {sig}: {}", stderr(&o));
        c.wait_status("stopped");
    }
    let c = Ctr::sh("sleep 60");
    assert!(c.create().status.success());
    let o = c.out(&["kill", &c.id, "NOPE"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("invalid signal"), "{}", stderr(&o));
}

#[test]
fn kill_all_and_force_delete_leave_nothing_running() {
    let c = Ctr::sh("for i in 1 2 3 4 5; do sleep 60 & done; wait");
    assert!(c.create().status.success());
    assert!(c.out(&["start", &c.id]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let o = c.out(&["ps", "--format", "json", &c.id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(pids.len() >= 6, "init and 5 sleeps: {pids:?}");
    assert!(c.out(&["delete", "--force", &c.id]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    for p in pids {
        let alive = test_alive(p);
        assert!(!alive, "pid {p} survived delete --force");
    }
}

fn test_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false)
}

#[test]
fn start_fails_fast_when_init_died() {
    let c = Ctr::sh("sleep 60");
    assert!(c.create().status.success());
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let t = std::time::Instant::now();
    let o = c.out(&["start", &c.id]);
    assert!(!o.status.success());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "start hung"
    );
}

#[test]
fn pause_and_resume() {
    let c = Ctr::sh("sleep 60");
    assert!(c.create().status.success());
    assert!(c.out(&["start", &c.id]).status.success());
    assert!(c.out(&["pause", &c.id]).status.success());
    assert_eq!(c.status(), "paused");
    assert!(!c.out(&["pause", &c.id]).status.success() || c.status() == "paused");
    assert!(c.out(&["resume", &c.id]).status.success());
    assert_eq!(c.status(), "running");
    assert!(
        !c.out(&["resume", &c.id]).status.success(),
        "resume of a running container is an error"
    );
}

#[test]
fn list_shows_containers() {
    let c = Ctr::sh("sleep 60");
    assert!(c.create().status.success());
    let o = c.out(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), c.id);
    let o = c.out(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["id"], c.id.as_str());
    assert_eq!(v[0]["status"], "created");
}

#[test]
fn pid_file_is_written() {
    let c = Ctr::sh("sleep 60");
    let pf = c.root.path().join("pidfile");
    let mut cmd = c.cmd();
    cmd.args(["create", "--pid-file"])
        .arg(&pf)
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id);
    let o = c.output_via_files(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid: i64 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, c.state()["pid"].as_i64().unwrap());
}

#[test]
fn state_is_serialized_by_a_lock() {
    // Ten concurrent creates of one id: exactly one wins.
    let c = Ctr::sh("sleep 60");
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let mut cmd = c.cmd();
            cmd.arg("create")
                .arg("--bundle")
                .arg(c.bundle.path())
                .arg(&c.id);
            std::thread::spawn(move || {
                cmd.stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .unwrap()
                    .success()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
}

#[test]
fn init_is_in_every_cgroup_before_start() {
    let c = Ctr::new(test_support::default_config(&["sleep", "60"]));
    assert!(c.create().status.success());
    let pid = c.state()["pid"].as_i64().unwrap();
    // Created: the user's program has not run, yet every hierarchy (v1 ones
    // and the cgroup2 side) already has the init in the container's cgroup.
    assert_in_cgroup(pid, &c.id);
}
