//! The container verbs that carry a container's input and output (start -a -i,
//! attach, exec -t, logs, cp) against the real berth, berth-shim and
//! berth-runtime.

mod common;

use common::containers::{spawn_collecting, wait_child, wait_until, Env, Pty, LOOP};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

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

/// A follower keeps what the container wrote last even when the container
/// is removed the moment it exits (docker-py's `containers.run` removes it
/// before it reads the followed logs; the log is read through a held fd).
#[test]
fn logs_follow_outlives_a_remove_at_exit() {
    let e = Env::new();
    for round in 0..5 {
        let name = format!("gone{round}");
        e.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "sleep 0.3; echo last-words",
        ]);
        let (mut child, reader) = spawn_collecting(e.cmd(&["logs", "-f", &name]));
        // The follower, once it holds the log open, is frozen until the
        // container is gone, so the remove surely comes before its next read.
        let pid = child.id() as i32;
        wait_until(10, "the follower holding the log", || {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| {
                    d.flatten().any(|f| {
                        std::fs::read_link(f.path())
                            .is_ok_and(|l| l.to_string_lossy().ends_with("ctr.log"))
                    })
                })
                .unwrap_or(false)
        });
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        e.ok(&["wait", &name]);
        e.ok(&["rm", &name]);
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        wait_child(&mut child, 10);
        assert_eq!(reader.join().unwrap(), "last-words\n", "round {round}");
    }
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
