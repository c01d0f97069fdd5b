//! The container verbs one by one against the real berth, berth-shim and
//! berth-runtime, checking their effects inside the container or on the host.

mod common;

use common::containers::{wait_child, wait_until, Env, Pty};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

const LOOP: &str = "while true; do sleep 0.1; done";

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
fn start_attached_and_interactive() {
    let e = Env::new();
    e.ok(&[
        "create",
        "--name",
        "once",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]);
    assert_eq!(e.inspect("once", "{{.State.Status}}"), "created");
    let o = e.berth(&["start", "-a", "once"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (4, "out\n", "err\n")
    );
    assert_eq!(e.inspect("once", "{{.State.ExitCode}}"), "4");
    // Started again, it appends to the same log.
    let o = e.berth(&["start", "-a", "once"]);
    assert_eq!(o.code, 4);
    assert_eq!(e.ok(&["logs", "once"]), "out\nout\n");

    e.ok(&[
        "create",
        "-i",
        "--name",
        "cat",
        "busybox",
        "sh",
        "-c",
        "read x; echo got $x",
    ]);
    let mut c = e.cmd(&["start", "-a", "-i", "cat"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"line\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got line\n");
    assert!(out.status.success());

    // Detached start prints the name, like docker.
    e.ok(&["create", "--name", "bg", "busybox", "sleep", "30"]);
    assert_eq!(e.ok(&["start", "bg"]), "bg\n");
    assert!(e.running("bg"));
    e.fails(&["start", "-a", "bg"], "already running");
    e.ok(&["rm", "-f", "bg", "cat", "once"]);
    assert_eq!(e.container_dirs(), 0);
}

#[test]
fn attach_and_detach_with_ctrl_p_ctrl_q() {
    let e = Env::new();
    e.ok(&["run", "-d", "-it", "--name", "tty", "busybox", "sh"]);
    let mut pty = Pty::new();
    let mut c = e.cmd(&["attach", "tty"]);
    c.stdin(pty.stdio()).stdout(pty.stdio()).stderr(pty.stdio());
    let mut child = c.spawn().unwrap();
    pty.write(b"echo $((6*7))\n");
    let got = pty.read_until("42", 5);
    assert!(got.contains("42"), "no output through attach: {got:?}");
    pty.write(&[0x10, 0x11]);
    // As docker's attach: "read escape sequence", exit 1.
    assert_eq!(
        wait_child(&mut child, 5),
        Some(1),
        "ctrl-p ctrl-q must detach"
    );
    assert!(pty
        .read_until("read escape sequence", 5)
        .contains("read escape sequence"));
    assert!(e.running("tty"), "detaching leaves it running");
    // Attach again and end the shell: attach returns its exit code.
    let mut c = e.cmd(&["attach", "tty"]);
    c.stdin(pty.stdio()).stdout(pty.stdio()).stderr(pty.stdio());
    let mut child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    pty.write(b"exit 9\n");
    assert_eq!(wait_child(&mut child, 5), Some(9));
    assert_eq!(e.inspect("tty", "{{.State.ExitCode}}"), "9");
    e.fails(&["attach", "tty"], "not running");
    e.ok(&["rm", "tty"]);
}

#[test]
fn exec_with_a_terminal_and_stdin() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "x", "busybox", "sh", "-c", LOOP]);
    let mut pty = Pty::new();
    let mut c = e.cmd(&["exec", "-it", "x", "sh"]);
    c.stdin(pty.stdio()).stdout(pty.stdio()).stderr(pty.stdio());
    let mut child = c.spawn().unwrap();
    pty.write(b"tty; echo done=$((1+1))\n");
    let got = pty.read_until("done=2", 5);
    assert!(got.contains("/dev/pts/"), "no terminal inside: {got:?}");
    pty.write(b"exit 6\n");
    assert_eq!(wait_child(&mut child, 5), Some(6));

    let mut c = e.cmd(&["exec", "-i", "x", "sh", "-c", "tr a-z A-Z"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");

    // Without -i stdin is not passed on.
    let mut c = e.cmd(&["exec", "x", "cat"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(b"lost\n");
    assert_eq!(
        wait_child(&mut child, 5),
        Some(0),
        "cat without stdin ends at once"
    );

    // -u by name, -w, -e, and -d leaves a process running.
    let o = e.ok(&[
        "exec",
        "-u",
        "user",
        "-w",
        "/seed",
        "-e",
        "A=b c",
        "x",
        "sh",
        "-c",
        "echo $(id -un) $(pwd) \"$A\"",
    ]);
    assert_eq!(o, "user /seed b c\n");
    e.ok(&[
        "exec",
        "-d",
        "x",
        "sh",
        "-c",
        "echo detached > /tmp/d; sleep 30",
    ]);
    wait_until(5, "the detached exec", || {
        e.berth(&["exec", "x", "cat", "/tmp/d"]).stdout == "detached\n"
    });
    assert!(e.ok(&["top", "x"]).contains("sleep 30"));
    e.fails(&["exec", "-w", "rel", "x", "true"], "absolute");
    e.fails(&["exec", "-u", "ghost", "x", "true"], "ghost");
    let o = e.berth(&["exec", "x", "/no/such"]);
    assert_ne!(o.code, 0);
    e.ok(&["create", "--name", "fresh", "busybox", "true"]);
    e.fails(&["exec", "fresh", "true"], "not running");
    e.ok(&["rm", "-f", "x"]);
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
fn inspect_has_dockers_fields() {
    let e = Env::new();
    let host = e.dir.path().join("b");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/b:ro", host.display());
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ins",
        "-e",
        "K=V",
        "-w",
        "/tmp",
        "-h",
        "hn",
        "-l",
        "tier=web",
        "-v",
        &bind,
        "--memory",
        "32m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        "--read-only",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "CHOWN",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "3",
        "busybox",
        "sh",
        "-c",
        LOOP,
    ]);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "ins"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"].as_str().unwrap().len(), 64);
    assert_eq!(c["Name"], "/ins");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    let pid = c["State"]["Pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(c["Id"].as_str().unwrap()),
        "Pid is the container's: {cg}"
    );
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"][0], "-c");
    assert!(c["Created"].as_str().unwrap().starts_with("20"));
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["Config"]["Image"], "busybox");
    assert_eq!(c["Config"]["Hostname"], "hn");
    assert_eq!(c["Config"]["WorkingDir"], "/tmp");
    assert_eq!(c["Config"]["Labels"]["tier"], "web");
    assert_eq!(c["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(c["Config"]["StopTimeout"], 3);
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "K=V"));
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sh", "-c", LOOP]));
    let hc = &c["HostConfig"];
    assert_eq!(hc["Memory"], 32 << 20);
    assert_eq!(hc["PidsLimit"], 20);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["Privileged"], false);
    assert_eq!(hc["CapAdd"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(hc["CapDrop"], serde_json::json!(["CHOWN"]));
    assert_eq!(hc["Binds"], serde_json::json!([bind]));
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "bind");
    assert_eq!(m["Destination"], "/b");
    assert_eq!(m["RW"], false);
    assert!(std::path::Path::new(c["LogPath"].as_str().unwrap()).exists());
    // Templates reach nested fields; several containers give one line each.
    e.ok(&["create", "--name", "ins2", "busybox", "true"]);
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}}",
            "ins",
            "ins2"
        ]),
        "/ins running\n/ins2 created\n"
    );
    assert_eq!(
        e.ok(&[
            "container",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            "ins"
        ])
        .trim(),
        "{\"tier\":\"web\"}"
    );
    e.fails(&["inspect", "nosuch"], "nosuch");
    e.ok(&["rm", "-f", "ins"]);
}

#[test]
fn top_and_stats() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & while true; do sleep 0.1; done",
    ]);
    wait_until(5, "the background sleep", || {
        e.ok(&["top", "t"]).contains("sleep 1000")
    });
    let top = e.ok(&["top", "t"]);
    let header = top.lines().next().unwrap();
    assert!(header.starts_with("UID") && header.contains("CMD"), "{top}");
    let pid = e.inspect("t", "{{.State.Pid}}");
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(pid.as_str())),
        "the init {pid} is listed: {top}"
    );
    let stats = e.ok(&["stats", "--no-stream", "t"]);
    let mut lines = stats.lines();
    let h = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "PIDS",
    ] {
        assert!(h.contains(col), "{stats}");
    }
    let row = lines.next().unwrap();
    assert!(row.contains(" t ") && row.contains("/ 64MiB"), "{stats}");
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["stats", "--no-stream", "--format", "json", "t"])).unwrap();
    assert_eq!(j[0]["Name"], "t");
    assert_eq!(j[0]["MemLimit"], 64 << 20);
    assert!(j[0]["MemUsage"].as_u64().unwrap() > 0);
    assert!(j[0]["PIDs"].as_u64().unwrap() >= 3, "{j}");

    // Without --no-stream the table is redrawn until interrupted.
    let (mut child, reader) = spawn_collecting(e.cmd(&["stats", "t"]));
    std::thread::sleep(Duration::from_millis(2500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    wait_child(&mut child, 5).expect("stats ends on SIGINT");
    let s = reader.join().unwrap();
    assert!(s.matches("CONTAINER ID").count() >= 2, "redrawn: {s:?}");
    e.ok(&["stop", "-t", "0", "t"]);
    e.fails(&["top", "t"], "not running");
    // Stopped containers show in stats -a with zero usage.
    let all = e.ok(&["stats", "--no-stream", "-a"]);
    assert!(all.contains(" t "), "{all}");
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

/// A short process under `exec -t` is over before berth attaches: its
/// output waits in the shim for the first client, every time, and no exec
/// dir is left.
#[test]
fn exec_tty_of_a_short_process_never_loses_its_output() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "x", "busybox", "sleep", "1000"]);
    for i in 0..20 {
        let o = e.berth(&["exec", "-t", "x", "echo", &format!("hi{i}")]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(
            o.stdout.replace('\r', ""),
            format!("hi{i}\n"),
            "{}",
            o.stderr
        );
    }
    let o = e.berth(&["exec", "-t", "x", "sh", "-c", "exit 7"]);
    assert_eq!(o.code, 7);
    let exec = e.root.join("containers").join(e.id_of("x")).join("exec");
    wait_until(5, "the exec dirs to go", || {
        std::fs::read_dir(&exec).unwrap().next().is_none()
    });
}

/// `logs` streams and `--tail` reads from the end: with its address space
/// capped far below the log's size, both still print the end of the log
/// (they used to read the whole file into memory, and printed nothing).
#[test]
fn logs_of_a_log_larger_than_memory() {
    use std::os::unix::process::CommandExt;
    let e = Env::new();
    e.ok(&["run", "--name", "big", "busybox", "echo", "first"]);
    let log = e
        .root
        .join("containers")
        .join(e.id_of("big"))
        .join("shim/ctr.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let line = format!(
        "2024-01-01T00:00:00.000000001Z stdout F {}\n",
        "x".repeat(250)
    );
    let block = line.repeat(4096);
    for _ in 0..128 {
        f.write_all(block.as_bytes()).unwrap();
    }
    f.write_all(
        b"2024-01-01T00:00:01Z stdout F next-to-last\n2024-01-01T00:00:01Z stdout F last\n",
    )
    .unwrap();
    drop(f);
    assert!(std::fs::metadata(&log).unwrap().len() > 128 << 20);
    let capped = |args: &[&str]| {
        let mut c = e.cmd(args);
        // SAFETY: setrlimit between fork and exec touches no shared state.
        unsafe {
            c.pre_exec(|| {
                let l = libc::rlimit {
                    rlim_cur: 64 << 20,
                    rlim_max: 64 << 20,
                };
                libc::setrlimit(libc::RLIMIT_AS, &l);
                Ok(())
            });
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(
        capped(&["logs", "--tail", "2", "big"]),
        "next-to-last\nlast\n"
    );
    let all = capped(&["logs", "big"]);
    assert!(all.starts_with("first\n") && all.ends_with("next-to-last\nlast\n"));
    assert_eq!(all.lines().count(), 4096 * 128 + 3);
}

#[test]
fn logs_follow_tail_since_timestamps() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "l",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; sleep 1.3; echo late; sleep 30",
    ]);
    wait_until(5, "the late line", || e.ok(&["logs", "l"]).contains("late"));
    let o = e.berth(&["logs", "l"]);
    assert_eq!(o.stdout, "line1\nline2\nline3\nline4\nline5\nlate\n");
    assert_eq!(o.stderr, "oops\n");
    // The tail counts both streams, as docker's does.
    assert_eq!(e.ok(&["logs", "--tail", "3", "l"]), "line5\nlate\n");
    assert_eq!(e.ok(&["logs", "-n", "0", "l"]), "");
    assert_eq!(e.ok(&["logs", "--tail", "all", "l"]).lines().count(), 6);
    let ts = e.ok(&["logs", "-t", "l"]);
    for l in ts.lines() {
        let (t, _) = l.split_once(' ').unwrap();
        assert!(
            berth::image::time::parse_rfc3339(t).is_some() && t.contains('.'),
            "{l}"
        );
    }
    // --since the late line's own time: only it (the others are 1.3 s older).
    let late_t = ts
        .lines()
        .last()
        .unwrap()
        .split_once(' ')
        .unwrap()
        .0
        .to_string();
    assert_eq!(e.ok(&["logs", "--since", &late_t, "l"]), "late\n");
    assert_eq!(e.ok(&["logs", "--since", "1h", "l"]).lines().count(), 6);
    let future = (berth::image::time::now_unix() + 60).to_string();
    assert_eq!(e.ok(&["logs", "--since", &future, "l"]), "");
    e.fails(&["logs", "--since", "soon", "l"], "--since");
    e.fails(&["logs", "--tail", "x", "l"], "--tail");

    // -f prints what comes later and ends with the container.
    let (mut child, reader) = spawn_collecting(e.cmd(&["logs", "-f", "--tail", "1", "l"]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "-f keeps following");
    e.ok(&["kill", "l"]);
    assert!(
        wait_child(&mut child, 5).is_some(),
        "-f ends when the container does"
    );
    assert_eq!(reader.join().unwrap(), "late\n");

    e.ok(&[
        "run",
        "-d",
        "--name",
        "f",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 0.5; echo second; sleep 0.5; echo third",
    ]);
    let o = e
        .cmd(&["logs", "-f", "f"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "first\nsecond\nthird\n");
}

#[test]
fn ps_all_quiet_filters_json_sizes() {
    let e = Env::new();
    e.ok(&[
        "run", "-d", "--name", "up1", "-l", "app=a", "busybox", "sh", "-c", LOOP,
    ]);
    let o = e.berth(&[
        "run", "--name", "done3", "-l", "app=b", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    e.ok(&["create", "--name", "made", "busybox", "true"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/fill bs=1000 count=300 2>/dev/null; while true; do sleep 0.1; done",
    ]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = e.ok(&a).lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["big", "up1"]);
    assert_eq!(names(&["-a"]), ["big", "done3", "made", "up1"]);
    assert_eq!(names(&["-a", "--filter", "status=exited"]), ["done3"]);
    assert_eq!(
        names(&["--filter", "status=created"]),
        ["made"],
        "status implies -a"
    );
    assert_eq!(names(&["-a", "-f", "label=app"]), ["done3", "up1"]);
    assert_eq!(names(&["-a", "-f", "label=app=b"]), ["done3"]);
    assert_eq!(names(&["-a", "-f", "exited=3"]), ["done3"]);
    assert_eq!(names(&["-a", "-f", "name=up"]), ["up1"]);
    assert_eq!(
        names(&["-f", "name=done"]),
        Vec::<String>::new(),
        "name= keeps the running-only default"
    );
    assert_eq!(
        names(&["-a", "-f", "ancestor=busybox", "-f", "status=running"]),
        ["big", "up1"]
    );
    let id = e.id_of("up1");
    assert_eq!(names(&["-a", "-f", &format!("id={}", &id[..10])]), ["up1"]);
    e.fails(&["ps", "-f", "colour=red"], "--filter");
    e.fails(&["ps", "-f", "nokey"], "--filter");

    let q = e.ok(&["ps", "-a", "-q"]);
    assert_eq!(q.lines().count(), 4);
    assert!(q.lines().all(|l| l.len() == 12));
    assert!(e
        .ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .all(|l| l.len() == 64));

    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let arr = j.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    let done = arr.iter().find(|x| x["Names"] == "done3").unwrap();
    assert_eq!(done["State"], "exited");
    assert_eq!(done["ExitCode"], 3);
    assert!(done["Status"].as_str().unwrap().starts_with("Exited (3)"));
    assert_eq!(done["Labels"]["app"], "b");
    // Newest first, like docker.
    assert_eq!(arr[0]["Names"], "big");

    let s = e.ok(&["ps", "-s"]);
    assert!(s.lines().next().unwrap().ends_with("SIZE"), "{s}");
    let big = s.lines().find(|l| l.contains("big")).unwrap();
    assert!(
        big.contains("300kB") || big.contains("301kB") || big.contains("302kB"),
        "{s}"
    );
    // Columns line up under the header.
    let header = s.lines().next().unwrap();
    // Columns line up under the header (counted in characters: COMMAND may hold "…").
    let col = header.find("NAMES").unwrap();
    for l in s.lines().skip(1) {
        let rest: String = l.chars().skip(col).collect();
        assert!(rest.starts_with("big") || rest.starts_with("up1"), "{s}");
    }

    // Go templates as scripts write them: a table, range, if.
    let t = e.ok(&[
        "ps",
        "-a",
        "--format",
        "table {{.ID}}\t{{.Names}}\t{{.State}}",
    ]);
    let head = t.lines().next().unwrap();
    assert!(
        head.starts_with("CONTAINER ID   NAMES") && head.ends_with("STATE"),
        "{t}"
    );
    assert_eq!(t.lines().count(), 5, "{t}");
    let row = t.lines().find(|l| l.contains("done3")).unwrap();
    assert_eq!(row.split_whitespace().next().unwrap().len(), 12, "{t}");
    assert_eq!(row.find("done3"), head.find("NAMES"), "{t}");
    let out = e.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}\
         {{if .State.Running}}up{{else}}down {{.State.ExitCode}}{{end}}",
        "done3",
    ]);
    assert_eq!(out.trim(), "app=b down 3");
    e.fails(&["ps", "--format", "{{if .State}}"], "if without end");
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "c", "busybox", "sh", "-c", LOOP]);
    let host = e.dir.path().join("h");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/a.txt"), "A\n").unwrap();
    std::fs::write(host.join("tree/sub/b.txt"), "B\n").unwrap();
    e.ok(&["cp", host.join("tree").to_str().unwrap(), "c:/tmp"]);
    assert_eq!(e.ok(&["exec", "c", "cat", "/tmp/tree/a.txt"]), "A\n");
    // A destination that does not exist yet becomes the copy.
    e.ok(&["cp", host.join("tree").to_str().unwrap(), "c:/opt"]);
    assert_eq!(
        e.ok(&["exec", "c", "cat", "/opt/a.txt", "/opt/sub/b.txt"]),
        "A\nB\n"
    );
    // A new name for a file.
    e.ok(&[
        "cp",
        host.join("tree/a.txt").to_str().unwrap(),
        "c:/etc/renamed",
    ]);
    assert_eq!(e.ok(&["exec", "c", "cat", "/etc/renamed"]), "A\n");
    // Out of a running one: a file the process wrote, a directory.
    e.ok(&[
        "exec",
        "c",
        "sh",
        "-c",
        "mkdir -p /out/d && echo made > /out/d/f",
    ]);
    let back = host.join("back");
    e.ok(&["cp", "c:/out", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("d/f")).unwrap(), "made\n");
    // Into a stopped one, seen when it runs again.
    e.ok(&["stop", "-t", "0", "c"]);
    std::fs::write(host.join("late.txt"), "late\n").unwrap();
    e.ok(&["cp", host.join("late.txt").to_str().unwrap(), "c:/root/"]);
    e.ok(&["cp", "c:/etc/renamed", host.join("r2").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("r2")).unwrap(), "A\n");
    e.ok(&["start", "c"]);
    assert_eq!(e.ok(&["exec", "c", "cat", "/root/late.txt"]), "late\n");
    // A symlink pointing out of the container stays inside.
    e.ok(&["exec", "c", "ln", "-s", "/etc/hostname", "/tmp/link"]);
    e.ok(&["cp", "c:/tmp/link", host.join("lk").to_str().unwrap()]);
    e.fails(&["cp", "c:/no/such", host.to_str().unwrap()], "/no/such");
    e.fails(
        &["cp", "/nonexistent-host-file", "c:/tmp"],
        "nonexistent-host-file",
    );
    e.fails(
        &["cp", "ghost:/x", host.to_str().unwrap()],
        "no such container",
    );
    e.fails(&["cp", "/a", "/b"], "CONTAINER:PATH");
    e.ok(&["rm", "-f", "c"]);
    e.assert_nothing_left(&[]);
}

#[test]
fn prune_df_version_info() {
    let e = Env::new();
    e.ok(&[
        "run", "-d", "--name", "live", "-v", "pv:/data", "busybox", "sh", "-c", LOOP,
    ]);
    e.ok(&["run", "--name", "gone", "busybox", "true"]);
    e.ok(&["create", "--name", "never", "busybox", "true"]);
    let df = e.ok(&["system", "df"]);
    let row = |k: &str| -> Vec<String> {
        df.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k} in {df}"))
            .split("   ")
            .filter(|x| !x.is_empty())
            .map(|x| x.trim().to_string())
            .collect()
    };
    assert!(df.starts_with("TYPE"), "{df}");
    assert_eq!(row("Images")[1..3], ["1", "1"]);
    assert_eq!(row("Containers")[1..3], ["3", "1"]);
    assert_eq!(row("Local Volumes")[1..3], ["1", "1"]);
    let j: serde_json::Value = serde_json::from_str(&e.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(j["Containers"], 3);
    assert_eq!(j["ContainersRunning"], 1);
    assert_eq!(j["ContainersStopped"], 2);
    assert_eq!(j["Images"], 1);
    assert_eq!(
        j["NCPU"],
        std::thread::available_parallelism().unwrap().get()
    );
    assert_eq!(e.ok(&["info", "-f", "{{.Images}}"]), "1\n");
    let info = e.ok(&["system", "info"]);
    assert!(info.contains("KernelVersion: "), "{info}");

    let ids: Vec<String> = ["gone", "never"].iter().map(|n| e.id_of(n)).collect();
    let pruned = e.ok(&["container", "prune", "-f"]);
    let mut got: Vec<&str> = pruned.lines().collect();
    got.sort();
    let mut want: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(e.running("live"));
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 1);
    e.assert_nothing_left(&ids);

    let v = e.ok(&["version"]);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(j["Client"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["Runtime"]["Present"], true);
    assert_eq!(e.ok(&["version", "-f", "{{.Client.Os}}"]), "linux\n");
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

#[test]
fn port_lists_published_ports() {
    let e = Env::new();
    e.ok(&["create", "--name", "np", "busybox", "true"]);
    assert_eq!(e.ok(&["port", "np"]), "");
    let p1 = test_support::free_port().to_string();
    let spec = format!("127.0.0.1:{p1}:80");
    e.ok(&[
        "run", "-d", "--name", "web", "-p", &spec, "busybox", "httpd", "-f", "-p", "80", "-h",
        "/seed",
    ]);
    assert_eq!(
        e.ok(&["port", "web"]).trim(),
        format!("80/tcp -> 127.0.0.1:{p1}")
    );
    assert_eq!(
        e.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{p1}")
    );
    assert_eq!(
        e.ok(&["port", "web", "80/tcp"]).trim(),
        format!("127.0.0.1:{p1}")
    );
    e.fails(&["port", "web", "81"], "no public port");
    e.ok(&["rm", "-f", "web"]);
}

/// Starts `c` with its stdout read to the end on a thread of its own.
fn spawn_collecting(
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

#[test]
fn system_prune_removes_what_nothing_uses() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "keep", "busybox", "sh", "-c", LOOP]);
    e.ok(&[
        "run",
        "--name",
        "done",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    e.ok(&[
        "run",
        "--name",
        "anon",
        "--network",
        "none",
        "-v",
        "/data",
        "busybox",
        "true",
    ]);
    e.ok(&["volume", "create", "named"]);
    e.ok(&["network", "create", "--subnet", "10.232.3.0/24", "idle"]);
    let tar = common::busybox_tar(e.dir.path(), &[("x", "other\n")]);
    e.ok(&["import", tar.to_str().unwrap(), "extra:1"]);

    let out = e.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(out.contains("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Deleted Networks:\nidle\n"), "{out}");
    assert!(out.contains("Deleted Volumes:\n"), "{out}");
    assert!(out.contains("Deleted Images:\ndeleted: sha256:"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(e.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep\n");
    // docker 20.10's --volumes takes every unused volume, named ones too.
    assert_eq!(
        e.ok(&["volume", "ls", "-q"]),
        "",
        "unused volumes are pruned"
    );
    assert!(!e.ok(&["network", "ls"]).contains("idle"));
    let images = e.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(
        images.contains("busybox") && !images.contains("extra"),
        "{images}"
    );
    e.ok(&["rm", "-f", "keep"]);
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

/// `berth ... | head -1`: a closed stdout ends berth by SIGPIPE, quietly, as
/// docker; it used to panic with a backtrace.
#[test]
fn a_closed_stdout_ends_quietly() {
    let e = Env::new();
    for i in 0..3 {
        e.ok(&["create", "--name", &format!("c{i}"), "busybox", "true"]);
    }
    for args in [vec!["ps", "-a"], vec!["network", "ls"], vec!["images"]] {
        // The read end is closed before berth starts: its first write fails.
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let mut c = e.cmd(&args);
        c.stdout(Stdio::from(w)).stderr(Stdio::piped());
        let o = c.output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            o.status
        );
        assert!(
            o.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// ps -n N and -l (any state), PORTS in docker's `ADDR:PORT->PORT/PROTO`
/// form and empty once stopped, version's OS/Arch in Go's names.
#[test]
fn ps_last_latest_ports_and_version() {
    let e = Env::new();
    e.ok(&["create", "--name", "one", "busybox", "true"]);
    e.ok(&["run", "--name", "two", "busybox", "true"]);
    let port = test_support::free_port();
    let p = format!("127.0.0.1:{port}:80/udp");
    e.ok(&[
        "run", "-d", "--name", "three", "-p", &p, "busybox", "sleep", "100",
    ]);
    assert_eq!(
        e.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "three\ntwo\n"
    );
    assert_eq!(e.ok(&["ps", "-l", "--format", "{{.Names}}"]), "three\n");
    assert_eq!(
        e.ok(&["ps", "--format", "{{.Ports}}"]).trim(),
        format!("127.0.0.1:{port}->80/udp")
    );
    e.ok(&["stop", "-t", "0", "three"]);
    assert_eq!(e.ok(&["ps", "-l", "--format", "[{{.Ports}}]"]), "[]\n");
    let v = e.ok(&["version"]);
    let arch = v.lines().find(|l| l.contains("OS/Arch")).unwrap_or("");
    assert!(arch.contains("linux/") && !arch.contains("x86_64"), "{v}");
    e.ok(&["rm", "-f", "one", "two", "three"]);
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
