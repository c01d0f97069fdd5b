//! The container verbs that drive a container's life (restart, kill, wait,
//! rename, pause, update, health checks) against the real berth, berth-shim
//! and berth-runtime, checking their effects inside the container or on the
//! host; the io verbs are in commands_io.rs, the reporting ones in
//! commands_info.rs.

mod common;

use common::containers::{wait_until, Env, LOOP};
use std::time::{Duration, Instant};

#[test]
fn restart_gives_a_new_process_and_keeps_the_layer() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "busybox",
        "sh",
        "-c",
        "echo run >> /count; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let pid1 = e.inspect("r", "{{.State.Pid}}");
    let started1 = e.inspect("r", "{{.State.StartedAt}}");
    assert_ne!(pid1, "0");
    e.ok(&["restart", "-t", "1", "r"]);
    assert!(e.running("r"));
    let pid2 = e.inspect("r", "{{.State.Pid}}");
    assert_ne!(pid1, pid2, "restart must start a new process");
    assert!(!std::path::Path::new(&format!("/proc/{pid1}")).exists());
    assert_ne!(started1, e.inspect("r", "{{.State.StartedAt}}"));
    // The container's own layer survives: the file has a line per run.
    assert_eq!(e.ok(&["exec", "r", "cat", "/count"]), "run\nrun\n");
    // restart of a stopped container starts it.
    e.ok(&["stop", "-t", "1", "r"]);
    assert!(!e.running("r"));
    e.ok(&["restart", "r"]);
    assert!(e.running("r"));
    e.ok(&["rm", "-f", "r"]);
}

/// Traps `sig1` and `sig2`, which `kill -s` must deliver without ending the container.
fn kill_delivers(runtime: Option<&str>, sig1: &str, sig2: &str) {
    let e = Env::new();
    let script = format!("trap 'echo got {sig1}' {sig1}; trap 'echo got {sig2}' {sig2}; {LOOP}");
    let mut args = vec!["run", "-d", "--name", "k"];
    if let Some(r) = runtime {
        args.extend(["--runtime", r]);
    }
    args.extend(["busybox", "sh", "-c", &script]);
    e.ok(&args);
    e.ok(&["kill", "-s", sig1, "k"]);
    let want1 = format!("got {sig1}");
    wait_until(5, "the first trap", || {
        e.ok(&["logs", "k"]).contains(&want1)
    });
    let want2 = format!("got {sig2}");
    e.ok(&["kill", "--signal", &format!("SIG{sig2}"), "k"]);
    wait_until(5, "the second trap", || {
        e.ok(&["logs", "k"]).contains(&want2)
    });
    assert!(e.running("k"), "a trapped signal does not end it");
    // By number; an untrapped signal ends it with 128+N.
    e.ok(&["kill", "-s", "9", "k"]);
    assert_eq!(e.ok(&["wait", "k"]).trim(), "137");
    e.fails(&["kill", "k"], "not running");
    e.fails(&["kill", "-s", "NOPE", "k"], "unknown signal");
    e.ok(&["rm", "k"]);
}

#[test]
fn kill_sends_the_named_signal() {
    // The signals berth-shim blocks for its signalfd: the runtime must
    // unblock them for the container's process.
    kill_delivers(None, "USR1", "HUP");
    kill_delivers(None, "TERM", "WINCH");
}

#[test]
fn kill_sends_the_named_signal_with_crun() {
    if !std::path::Path::new("/usr/bin/crun").exists() {
        eprintln!("crun is not installed: skipped");
        return;
    }
    common::containers::prepare_crun();
    kill_delivers(Some("crun"), "USR1", "HUP");
}

#[test]
fn wait_blocks_until_the_exit() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "w1",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 4",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "w2",
        "busybox",
        "sh",
        "-c",
        "sleep 0.8; exit 5",
    ]);
    let t = Instant::now();
    assert_eq!(e.ok(&["wait", "w1", "w2"]), "4\n5\n");
    assert!(t.elapsed() >= Duration::from_millis(400));
    // Of an exited one: at once.
    assert_eq!(e.ok(&["wait", "w1"]), "4\n");
    e.fails(&["wait", "nosuch"], "no such container");
}

#[test]
fn rename_and_prefixes_resolve() {
    let e = Env::new();
    e.ok(&["create", "--name", "old", "busybox", "true"]);
    e.ok(&["create", "--name", "other", "busybox", "true"]);
    e.ok(&["rename", "old", "new"]);
    e.fails(&["inspect", "old"], "no such");
    assert_eq!(e.inspect("new", "{{.Name}}"), "/new");
    e.fails(&["rename", "new", "other"], "already in use");
    e.fails(&["rename", "new", "bad name"], "invalid container name");
    e.fails(&["rename", "ghost", "x"], "no such container");
    // Ids resolve by unique prefix, ambiguous ones are refused.
    let mut ids = vec![e.id_of("new"), e.id_of("other")];
    let clash = loop {
        let found = ids.iter().enumerate().find_map(|(i, a)| {
            ids[i + 1..]
                .iter()
                .find(|b| a[..1] == b[..1])
                .map(|b| (a, b))
        });
        if let Some((a, b)) = found {
            let n = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            break (a.clone(), b.clone(), n);
        }
        ids.push(e.ok(&["create", "busybox", "true"]).trim().to_string());
    };
    let (a, b, common) = clash;
    e.fails(&["inspect", &a[..common]], "ambiguous");
    e.fails(&["rm", &a[..common]], "ambiguous");
    assert_eq!(e.id_of(&a[..common + 1]), a);
    assert_eq!(e.id_of(&b[..common + 1]), b);
    e.ok(&["start", &a[..common + 1]]);
    assert_eq!(e.ok(&["wait", &a[..common + 1]]), "0\n");
    e.ok(&["rm", &b[..common + 1]]);
    e.fails(&["inspect", &b], "no such");
    // A name wins over an id prefix, as in docker.
    let short = a[..4].to_string();
    e.ok(&["create", "--name", &short, "busybox", "true"]);
    assert_ne!(e.id_of(&short), a);
}

fn shim_pid(e: &Env, name: &str) -> i32 {
    let pid = e.inspect(name, "{{.State.Pid}}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn survives_berth_and_tells_the_truth_after_deaths() {
    let e = Env::new();
    // The container outlives the berth that ran it (it is the shim's child).
    e.ok(&["run", "-d", "--name", "a", "busybox", "sh", "-c", LOOP]);
    let shim = shim_pid(&e, "a");
    let comm = std::fs::read_to_string(format!("/proc/{shim}/comm")).unwrap();
    assert!(
        comm.starts_with("berth-shim"),
        "the init's parent is the shim: {comm}"
    );
    assert!(e.running("a"));

    // The container's process dies from outside: the shim records the signal.
    let pid = e.inspect("a", "{{.State.Pid}}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid.parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(e.ok(&["wait", "a"]), "137\n");
    assert!(e.ok(&["ps", "-a"]).contains("Exited (137)"));

    // The shim is killed -9: the container lives on, and ps says so.
    e.ok(&["run", "-d", "--name", "b", "busybox", "sh", "-c", LOOP]);
    let init: i32 = e.inspect("b", "{{.State.Pid}}").parse().unwrap();
    let shim = shim_pid(&e, "b");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until(5, "the shim to die", || {
        !std::fs::read_to_string(format!("/proc/{shim}/stat")).is_ok_and(|s| !s.contains(") Z"))
    });
    assert!(std::path::Path::new(&format!("/proc/{init}")).exists());
    let ps = e.ok(&["ps", "--format", "{{.Names}} {{.State}} {{.Pid}}"]);
    assert_eq!(ps, format!("b running {init}\n"));
    // Without a shim it is still stopped (signal then SIGKILL) and then shows as exited,
    // with an exit code nobody recorded.
    let t = Instant::now();
    e.ok(&["stop", "-t", "1", "b"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    let ps = e.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l == "b exited Exited (unknown)"), "{ps}");
    assert_eq!(e.ok(&["ps", "-q"]), "");
    assert_eq!(e.ok(&["wait", "b"]).trim(), "-1");
    // And an orphan is removed by rm -f.
    e.ok(&["run", "-d", "--name", "o", "busybox", "sh", "-c", LOOP]);
    let oid = e.id_of("o");
    let shim = shim_pid(&e, "o");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    e.fails(&["rm", "o"], "is running");
    e.ok(&["rm", "-f", "o"]);
    e.assert_nothing_left(&[oid]);
    // It can be started again and removed without leftovers.
    e.ok(&["start", "b"]);
    assert!(e.running("b"));
    let id = e.id_of("b");
    e.ok(&["rm", "-f", "b"]);
    e.assert_nothing_left(&[id]);
}

#[test]
fn concurrent_commands_are_safe() {
    let e = std::sync::Arc::new(Env::new());
    // Eight runs at once, half of them asking for the same name.
    let mut th = Vec::new();
    for i in 0..8 {
        let e = e.clone();
        th.push(std::thread::spawn(move || {
            let name = if i % 2 == 0 {
                "same".to_string()
            } else {
                format!("n{i}")
            };
            e.berth(&["run", "-d", "--name", &name, "busybox", "sh", "-c", LOOP])
        }));
    }
    let mut ok_same = 0;
    for (i, t) in th.into_iter().enumerate() {
        let o = t.join().unwrap();
        if i % 2 == 0 {
            if o.code == 0 {
                ok_same += 1;
            } else {
                assert!(o.stderr.contains("already in use"), "{}", o.stderr);
            }
        } else {
            assert_eq!(o.code, 0, "{}", o.stderr);
        }
    }
    assert_eq!(ok_same, 1, "exactly one container gets the name");
    assert_eq!(e.container_dirs(), 5, "losers leave nothing");
    // ps while stops and removes run.
    let mut th = Vec::new();
    for n in ["n1", "n3", "n5", "n7", "same"] {
        let e1 = e.clone();
        th.push(std::thread::spawn(move || e1.berth(&["rm", "-f", n])));
        let e2 = e.clone();
        th.push(std::thread::spawn(move || e2.berth(&["ps", "-a"])));
    }
    // Two removals of one container: one wins, the other finds nothing.
    e.ok(&["run", "-d", "--name", "twice", "busybox", "sh", "-c", LOOP]);
    let e1 = e.clone();
    let a = std::thread::spawn(move || e1.berth(&["rm", "-f", "twice"]));
    let b = e.berth(&["rm", "-f", "twice"]);
    let a = a.join().unwrap();
    assert!(a.code == 0 || b.code == 0);
    for o in [&a, &b] {
        assert!(
            o.code == 0 || o.stderr.contains("no such container"),
            "{}",
            o.stderr
        );
    }
    for t in th {
        let o = t.join().unwrap();
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    e.assert_nothing_left(&[]);
}

/// A file of the container's cgroup as the host sees it, on v1 or v2.
fn cgroup_file(id: &str, v1: (&str, &str), v2: &str) -> String {
    let p1 = std::path::Path::new("/sys/fs/cgroup")
        .join(v1.0)
        .join("berth")
        .join(id)
        .join(v1.1);
    let p2 = std::path::Path::new("/sys/fs/cgroup/berth")
        .join(id)
        .join(v2);
    std::fs::read_to_string(&p1)
        .or_else(|_| std::fs::read_to_string(&p2))
        .unwrap_or_else(|e| panic!("{} or {}: {e}", p1.display(), p2.display()))
        .trim()
        .to_string()
}

#[test]
fn pause_unpause_and_update() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done",
    ]);
    let id = e.id_of("p");
    // The counter, read from the host through the container's upper layer.
    let n_file = e.root.join("containers").join(&id).join("upper/tmp/n");
    let count = || std::fs::read_to_string(&n_file).unwrap_or_default();
    wait_until(10, "the counter", || !count().is_empty());
    e.ok(&["pause", "p"]);
    assert_eq!(
        e.inspect(
            "p",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    assert!(e.ok(&["ps"]).contains("(Paused)"));
    assert_eq!(
        e.ok(&["ps", "--filter", "status=paused", "--format", "{{.Names}}"]),
        "p\n"
    );
    e.fails(&["exec", "p", "true"], "paused");
    e.fails(&["pause", "p"], "already paused");
    let frozen = count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count(), frozen, "a paused container does not run");
    e.ok(&["unpause", "p"]);
    wait_until(5, "the counter again", || count() != frozen);
    e.fails(&["unpause", "p"], "not paused");
    assert_eq!(e.inspect("p", "{{.State.Status}}"), "running");

    e.ok(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "--restart",
        "on-failure:4",
        "p",
    ]);
    let limits = || {
        (
            cgroup_file(&id, ("memory", "memory.limit_in_bytes"), "memory.max"),
            cgroup_file(&id, ("pids", "pids.max"), "pids.max"),
            cgroup_file(&id, ("cpu", "cpu.cfs_quota_us"), "cpu.max"),
        )
    };
    let want = |l: (String, String, String)| {
        assert_eq!(l.0, "67108864");
        assert_eq!(l.1, "50");
        assert!(l.2 == "50000" || l.2 == "50000 100000", "{}", l.2);
    };
    want(limits());
    assert_eq!(
        e.inspect(
            "p",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} \
             {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "67108864 50 500000000 on-failure:4"
    );
    // Kept for the next start.
    e.ok(&["restart", "-t", "0", "p"]);
    want(limits());
    e.fails(&["update", "p"], "nothing to update");
    e.fails(&["update", "--memory", "lots", "p"], "--memory");
    e.fails(&["update", "--restart", "never", "p"], "--restart");

    // A paused container still stops.
    e.ok(&["pause", "p"]);
    e.ok(&["stop", "-t", "1", "p"]);
    assert_eq!(e.inspect("p", "{{.State.Status}}"), "exited");
    e.ok(&["rm", "p"]);
    e.assert_nothing_left(&[id]);
}

/// Processes whose command line names this test's root (checkers left behind).
fn processes_of(e: &Env, what: &str) -> usize {
    let root = e.root.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|d| d.ok())
        .filter_map(|d| std::fs::read(d.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&root) && c.contains(what))
        .count()
}

#[test]
fn health_checks_run_and_report() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "60",
    ]);
    let health = |n: &str| e.inspect(n, "{{.State.Health.Status}}");
    wait_until(10, "unhealthy", || health("hc") == "unhealthy");
    assert!(e.ok(&["ps"]).contains("(unhealthy)"));
    assert_eq!(
        e.ok(&[
            "ps",
            "--filter",
            "health=unhealthy",
            "--format",
            "{{.Names}}"
        ]),
        "hc\n"
    );
    e.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    wait_until(10, "healthy", || health("hc") == "healthy");
    assert!(e.ok(&["ps"]).contains("(healthy)"));
    assert_eq!(e.inspect("hc", "{{.State.Health.FailingStreak}}"), "0");
    let codes = e.inspect("hc", "{{range .State.Health.Log}}{{.ExitCode}} {{end}}");
    assert!(codes.ends_with('0'), "{codes}");
    let ev = e.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "container=hc",
        "--format",
        "{{.Action}}",
    ]);
    assert!(
        ev.contains("health_status: unhealthy\n") && ev.contains("health_status: healthy\n"),
        "{ev}"
    );
    // A check that outlives its timeout fails, and is killed.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "--health-cmd",
        "sleep 7",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "60",
    ]);
    wait_until(10, "unhealthy by timeout", || health("slow") == "unhealthy");
    let log = e.inspect("slow", "{{range .State.Health.Log}}{{.Output}};{{end}}");
    assert!(log.contains("exceeded timeout"), "{log}");
    std::thread::sleep(Duration::from_millis(300));
    let left = e.ok(&[
        "exec",
        "slow",
        "sh",
        "-c",
        "ps -o args | grep -c '^sleep 7' || true",
    ]);
    assert!(
        left.trim().parse::<u32>().unwrap() <= 1,
        "checks pile up: {left}"
    );
    // An image's HEALTHCHECK (here from import --change) is the default check,
    // its options under the flags; --no-healthcheck drops it.
    let tar = common::busybox_tar(e.dir.path(), &[]);
    e.ok(&[
        "import",
        "-c",
        "HEALTHCHECK --interval=200ms --retries=1 CMD test -f /tmp/ok",
        tar.to_str().unwrap(),
        "checked:1",
    ]);
    let img: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "checked:1"])).unwrap();
    assert_eq!(
        img[0]["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /tmp/ok"])
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "img",
        "--network",
        "none",
        "checked:1",
        "sleep",
        "60",
    ]);
    wait_until(10, "the image's check fails", || {
        health("img") == "unhealthy"
    });
    e.ok(&["exec", "img", "touch", "/tmp/ok"]);
    wait_until(10, "the image's check passes", || {
        health("img") == "healthy"
    });
    e.ok(&[
        "run",
        "-d",
        "--name",
        "unchecked",
        "--network",
        "none",
        "--no-healthcheck",
        "checked:1",
        "sleep",
        "60",
    ]);
    assert_eq!(e.inspect("unchecked", "{{json .State.Health}}"), "null");
    assert!(!e
        .ok(&["ps"])
        .lines()
        .any(|l| l.contains("unchecked") && l.contains("health")));
    e.fails(
        &[
            "import",
            "-c",
            "HEALTHCHECK --every=1s CMD true",
            tar.to_str().unwrap(),
            "x:1",
        ],
        "HEALTHCHECK",
    );
    // Checkers end with their container's run.
    e.ok(&["rm", "-f", "hc", "slow", "img", "unchecked"]);
    wait_until(10, "no checker left", || {
        processes_of(&e, "internal-health") == 0
    });
    for (args, want) in [
        (vec!["--health-interval", "1s"], "needs --health-cmd"),
        (
            vec!["--health-cmd", "true", "--health-interval", "10"],
            "duration",
        ),
        (
            vec!["--health-cmd", "true", "--no-healthcheck"],
            "conflicts",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(&args);
        a.extend_from_slice(&["busybox", "true"]);
        e.fails(&a, want);
    }
}

/// The store is root's alone, as docker's data root: another user can read
/// neither a container's env nor its log, and berth run by that user says so
/// in one line instead of listing nothing.
#[test]
fn the_store_is_roots_alone() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let e = Env::new();
    e.ok(&[
        "run",
        "--name",
        "secret",
        "-e",
        "DB_PASSWORD=s3cr3t",
        "busybox",
        "echo",
        "logged",
    ]);
    let mode = std::fs::metadata(&e.root).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "store mode {mode:o}");
    let as_nobody = |cmd: &mut std::process::Command| {
        // SAFETY: setgid/setuid between fork and exec touch no shared state.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.output().unwrap()
    };
    let record = e
        .root
        .join("containers")
        .join(e.id_of("secret"))
        .join("container.json");
    let o = as_nobody(
        std::process::Command::new("/bin/busybox")
            .arg("cat")
            .arg(&record),
    );
    assert!(!o.status.success(), "another user read the record");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cr3t"));
    for args in [["inspect", "secret"], ["logs", "secret"], ["ps", "-a"]] {
        let o = as_nobody(&mut e.cmd(&args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} as nobody succeeded");
        assert!(
            o.stdout.is_empty(),
            "{args:?}: {:?}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("permission denied"), "{err}");
    }
}

/// A shim's exit command that outlives its store (the root was removed
/// meanwhile, as a test's is) must not make the store again.
#[test]
fn a_late_exit_command_does_not_make_a_removed_store_again() {
    let e = Env::new();
    let gone = e.dir.path().join("gone-root");
    let id = "0".repeat(64);
    for verb in ["internal-exited", "internal-health"] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("--root")
            .arg(&gone)
            .args([verb, id.as_str()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{verb}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!gone.exists(), "{verb} made {} again", gone.display());
    }
}
