//! berth-shim driven for real: a runtime (crun by default, see
//! common::runtime), busybox bundles, one runtime --root per test.

mod common;

use common::*;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

#[test]
fn output_lands_in_the_log_with_streams_and_timestamps() {
    let before = now_nanos();
    let mut c = Ctr::new(&[
        "sh",
        "-c",
        "echo out1; echo err1 >&2; printf part; sleep 0.3; echo ' rest'; \
         head -c 20000 /dev/zero | tr '\\0' a; echo; exit 0",
    ]);
    c.create(&["--start"]);
    let exit = c.wait_exit(T);
    let after = now_nanos();
    assert_eq!(exit["exit_code"], 0);
    let recs = c.log();
    for r in &recs {
        assert!(
            r.ts >= before && r.ts <= after,
            "timestamp {r:?} outside the run"
        );
    }
    let out = lines(&recs, "stdout");
    assert_eq!(out[0], "out1");
    assert_eq!(out[1], "part rest");
    assert_eq!(out[2], "a".repeat(20000));
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(lines(&recs, "stderr"), vec!["err1"]);
    // The partial line was logged when it was written, not when it ended.
    let part = recs
        .iter()
        .find(|r| r.msg == "part")
        .expect("a P record for 'part'");
    assert_eq!(part.tag, "P");
    let rest = recs.iter().find(|r| r.msg == " rest").unwrap();
    assert!(rest.ts - part.ts >= 250_000_000, "{part:?} {rest:?}");
    // The long line came in pieces no longer than a read.
    assert!(recs.iter().filter(|r| r.msg.starts_with("aaa")).count() > 1);
    assert!(
        recs.windows(2).all(|w| w[0].ts <= w[1].ts),
        "timestamps go back"
    );
}

#[test]
fn log_rotates_by_size() {
    let mut c = Ctr::new(&["sh", "-c", "for i in $(seq 1 200); do echo line-$i; done"]);
    c.create(&["--start", "--rm", "--log-max-size", "2000"]);
    c.wait_exit(T);
    let cur = std::fs::metadata(c.dir().join("ctr.log")).unwrap().len();
    let old = std::fs::metadata(c.dir().join("ctr.log.1")).unwrap().len();
    assert!(
        cur <= 2000 && old <= 2000 && old > 1000,
        "sizes {cur} {old}"
    );
    let recs = c.log();
    assert_eq!(recs.last().unwrap().msg, "line-200");
}

#[test]
fn exit_codes_and_signals_are_recorded() {
    let mut zero = Ctr::new(&["true"]);
    let mut seven = Ctr::new(&["sh", "-c", "exit 7"]);
    let mut killed = Ctr::new(&["sleep", "100"]);
    let mut termed = Ctr::new(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo armed; while true; do sleep 0.05; done",
    ]);
    for c in [&mut zero, &mut seven, &mut killed, &mut termed] {
        c.create(&["--start", "--rm"]);
    }
    let e = zero.wait_exit(T);
    assert_eq!(
        (e["exit_code"].as_i64(), e["signal"].is_null()),
        (Some(0), true)
    );
    assert_eq!(e["pid"].as_i64().unwrap() as i32, zero.init_pid());
    assert!(parse_rfc3339_nanos(e["exited_at"].as_str().unwrap()).is_some());
    let e = seven.wait_exit(T);
    assert_eq!(
        (e["exit_code"].as_i64(), e["signal"].is_null()),
        (Some(7), true)
    );

    // SIGKILL asked for over the attach socket.
    assert!(!killed.dir().join("exit").exists());
    killed.kill("KILL");
    let e = killed.wait_exit(T);
    assert_eq!(
        (e["exit_code"].as_i64(), e["signal"].as_i64()),
        (Some(137), Some(9))
    );

    // SIGTERM sent to the shim itself is forwarded to the init.
    let deadline = Instant::now() + T;
    while !lines(&termed.log(), "stdout").contains(&"armed".to_string()) {
        assert!(Instant::now() < deadline, "trap never armed");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(termed.shim_pid(), libc::SIGTERM) };
    let e = termed.wait_exit(T);
    assert_eq!(e["exit_code"].as_i64(), Some(42));

    // --rm deleted the runtime's state of every one of them.
    for c in [&zero, &seven, &killed, &termed] {
        let st = c.runtime_cmd(&["state", &c.id]);
        assert!(!st.status.success(), "{} still known to the runtime", c.id);
    }
}

#[test]
fn caller_can_exit_and_a_later_process_reads_logs_and_status() {
    let mut c = Ctr::new(&["sh", "-c", "sleep 0.6; echo late; echo oops >&2; exit 3"]);
    c.create(&["--start"]);
    let shim = c.shim_pid();
    // The process we ran has exited; the shim lives on, in its own session,
    // not our child, and shrugs off a hangup.
    let stat = std::fs::read_to_string(format!("/proc/{shim}/stat")).unwrap();
    assert_ne!(proc_ppid(&stat), std::process::id() as i32);
    let sid = unsafe { libc::getsid(shim) };
    assert_ne!(sid, unsafe { libc::getsid(0) });
    unsafe { libc::kill(shim, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(100));
    assert!(is_shim(shim), "shim died of SIGHUP");
    // The dir lock is held while the shim lives.
    let lock = std::fs::File::open(c.dir().join("shim.lock")).unwrap();
    use std::os::fd::AsRawFd;
    assert_ne!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );

    // "A later process": a fresh shell reads what the shim left behind.
    let e = c.wait_exit(T);
    let out = Command::new("sh")
        .arg("-c")
        .arg("cat \"$1/ctr.log\"; cat \"$1/exit\"")
        .arg("sh")
        .arg(c.dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" stdout F late\n") && text.contains(" stderr F oops\n"),
        "{text}"
    );
    assert!(text.contains("\"exit_code\":3"), "{text}");
    assert_eq!(e["exit_code"], 3);
    let deadline = Instant::now() + T;
    while is_shim(shim) {
        assert!(Instant::now() < deadline, "shim did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    // The runtime still knows the stopped container: no --rm was given.
    let st = c.runtime_cmd(&["state", &c.id]);
    assert!(String::from_utf8_lossy(&st.stdout).contains("stopped"));
}

/// A running `berth-shim attach` whose stdout is collected by a thread.
struct Client {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Client {
    fn new(dir: &std::path::Path, extra: &[&str]) -> Client {
        let mut child = Command::new(SHIM)
            .arg("attach")
            .arg(dir)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut so, o) = (child.stdout.take().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = so.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Client { child, out }
    }

    fn send(&mut self, data: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + T;
        loop {
            let text = String::from_utf8_lossy(&self.out.lock().unwrap()).to_string();
            if text.contains(what) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what:?}; got {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + T;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "attach client did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn attach_shows_live_output_and_sends_stdin() {
    let mut c = Ctr::new(&[
        "sh",
        "-c",
        "echo ready; while read l; do echo \"got:$l\"; [ \"$l\" = quit ] && exit 5; done",
    ]);
    // Created but not started: clients attach before the first byte.
    c.create(&["-i", "--rm"]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", c.shim_pid()))
            .unwrap()
            .count()
    };
    let before = fds();
    let mut a = Client::new(c.dir(), &[]);
    let mut b = Client::new(c.dir(), &[]);
    // Start (from here, as a manager would) only once the shim has accepted
    // both, so that neither can miss the first line.
    let deadline = Instant::now() + T;
    while fds() < before + 2 {
        assert!(Instant::now() < deadline, "shim did not accept the clients");
        std::thread::sleep(Duration::from_millis(10));
    }
    c.start();
    a.wait_for("ready\n");
    b.wait_for("ready\n");
    a.send(b"hello\n");
    a.wait_for("got:hello\n");
    b.wait_for("got:hello\n");
    // ctrl-p ctrl-q detaches b; the container keeps running.
    b.send(&[0x10, 0x11]);
    assert_eq!(b.wait(), 0);
    assert!(!c.dir().join("exit").exists());
    a.send(b"quit\n");
    assert_eq!(a.wait(), 5, "attach exits with the container's code");
    assert_eq!(c.wait_exit(T)["exit_code"], 5);
    let out = lines(&c.log(), "stdout");
    assert_eq!(out, vec!["ready", "got:hello", "got:quit"]);
}

#[test]
fn tty_mode_uses_a_real_pty() {
    let mut cfg = test_support::default_config(&[
        "sh",
        "-c",
        "read x; stty size; tty; [ -t 0 ] && echo stdin-is-tty; echo \"x=$x\"; exit 3",
    ]);
    cfg["process"]["terminal"] = true.into();
    let mut c = Ctr::with_config(cfg);
    c.create(&["-t", "-i", "--start", "--rm"]);
    let mut a = Client::new(c.dir(), &["--size", "33x77"]);
    std::thread::sleep(Duration::from_millis(100));
    a.send(b"abc\n");
    assert_eq!(a.wait(), 3);
    let text = String::from_utf8_lossy(&a.out.lock().unwrap()).to_string();
    // A terminal echoes input and turns \n into \r\n.
    for want in [
        "abc\r\n",
        "33 77\r\n",
        "/dev/pts/0\r\n",
        "stdin-is-tty\r\n",
        "x=abc\r\n",
    ] {
        assert!(text.contains(want), "no {want:?} in {text:?}");
    }
    let out = lines(&c.log(), "stdout");
    assert!(out.contains(&"x=abc\r".to_string()), "{out:?}");
    assert!(lines(&c.log(), "stderr").is_empty());
}

#[test]
fn exec_session_has_its_own_stdio_log_and_exit() {
    let mut c = Ctr::new(&["sleep", "100"]);
    c.create(&["--start", "--rm"]);
    let edir = test_support::TempDir::new("berth-shim-exec");
    let mut process =
        test_support::default_config(&["sh", "-c", "echo from-exec; echo e >&2; exit 4"])
            ["process"]
            .clone();
    process["cwd"] = "/tmp".into();
    let pfile = edir.path().join("process.json");
    std::fs::write(&pfile, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = Command::new(SHIM)
        .args(["exec", "--id", &c.id, "--runtime", &c.rt])
        .arg("--runtime-root")
        .arg(c.root.path())
        .arg("--process")
        .arg(&pfile)
        .arg("--dir")
        .arg(edir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = wait_exit_file(edir.path(), T);
    assert_eq!(e["exit_code"], 4);
    let recs = read_log(&edir.path().join("ctr.log"));
    assert_eq!(lines(&recs, "stdout"), vec!["from-exec"]);
    assert_eq!(lines(&recs, "stderr"), vec!["e"]);
    // The container itself is untouched.
    assert!(!c.dir().join("exit").exists());
    c.kill("9");
    assert_eq!(c.wait_exit(T)["signal"], 9);
}

#[test]
fn create_failure_reports_the_runtime_error_verbatim() {
    let mut c = Ctr::new(&["/no/such/binary"]);
    let out = c.shim_create(&["--start"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = report["error"].as_str().unwrap();
    assert!(err.contains("/no/such/binary"), "{err}");
    // Verbatim: exactly what the runtime itself prints for the same bundle.
    let id2 = test_support::unique_id("shim-direct");
    let direct = Command::new(&c.rt)
        .arg("--root")
        .arg(c.root.path())
        .args(["run", "--bundle"])
        .arg(c.bundle.path())
        .arg(&id2)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = c.runtime_cmd(&["delete", "--force", &id2]);
    let direct = String::from_utf8_lossy(&direct.stderr);
    let tail = err[err.len().saturating_sub(40)..].trim_end_matches('"');
    assert!(direct.contains(tail), "{direct} vs {err}");
    // Nothing left running or listening.
    assert!(!c.dir().join("attach").exists());
    assert!(!c.runtime_cmd(&["state", &c.id]).status.success());
}

#[test]
fn bad_arguments_get_one_clear_error() {
    let d = test_support::TempDir::new("berth-shim-bad");
    let run = |args: &[&str]| Command::new(SHIM).args(args).output().unwrap();
    let out = run(&[
        "create",
        "--id",
        "x",
        "--runtime",
        "crun",
        "--dir",
        "/nonexistent/dir",
        "--bundle",
        "/",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("container dir /nonexistent/dir does not exist"),
        "{err}"
    );
    let out = run(&[
        "create",
        "--id",
        "x",
        "--runtime",
        "crun",
        "--dir",
        d.path().to_str().unwrap(),
        "--bundle",
        "/",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no config.json"));
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["attach", d.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to the shim"));
}

#[test]
fn one_shim_per_dir() {
    let mut c = Ctr::new(&["sleep", "100"]);
    c.create(&["--start", "--rm"]);
    let mut c2 = Ctr::new(&["sleep", "100"]);
    let out = Command::new(SHIM)
        .args(["create", "--id", &c2.id, "--runtime", &c2.rt])
        .arg("--bundle")
        .arg(c2.bundle.path())
        .arg("--runtime-root")
        .arg(c2.root.path())
        .arg("--dir")
        .arg(c.dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another shim"));
    c2.report = serde_json::Value::Null;
    c.kill("KILL");
    c.wait_exit(T);
}

#[test]
fn stdin_eof_reaches_the_container_with_close_stdin() {
    let mut c = Ctr::new(&["sh", "-c", "sleep 0.2; cat; echo done"]);
    c.create(&["-i", "--start", "--rm"]);
    let mut child = Command::new(SHIM)
        .arg("attach")
        .arg(c.dir())
        .arg("--close-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Written and closed at once: the shim queues it for the container.
    child.stdin.take().unwrap().write_all(b"one\ntwo").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwodone\n");
    assert_eq!(lines(&c.log(), "stdout"), vec!["one", "twodone"]);
}
