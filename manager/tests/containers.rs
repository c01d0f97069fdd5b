//! Containers end to end: the real berth, berth-shim and berth-runtime (or
//! crun), each test with a store of its own and a busybox image imported
//! from a rootfs tar.

mod common;

use common::containers::{prepare_crun, Env};
use std::time::{Duration, Instant};

#[test]
fn run_prints_and_returns_exit_codes() {
    let e = Env::new();
    let o = e.berth(&["run", "--rm", "busybox", "echo", "hello world"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "hello world\n"),
        "{}",
        o.stderr
    );
    assert_eq!(e.container_dirs(), 0, "--rm leaves nothing");

    let o = e.berth(&[
        "run",
        "--name",
        "three",
        "busybox",
        "sh",
        "-c",
        "echo err >&2; exit 3",
    ]);
    assert_eq!(o.code, 3);
    assert_eq!(o.stderr, "err\n");
    let ps = e.ok(&["ps", "-a"]);
    let header = ps.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(ps.contains("Exited (3)"), "{ps}");
    assert!(ps.lines().any(|l| l.ends_with("three")), "{ps}");
    // Not running: plain `ps` hides it.
    assert_eq!(e.ok(&["ps"]).lines().count(), 1);
    let st = e.ok(&[
        "inspect",
        "three",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
    ]);
    assert_eq!(st.trim(), "exited 3");
    assert_eq!(e.ok(&["wait", "three"]).trim(), "3");
    // A signal death is 128+N, like docker (from outside: the init ignores its own SIGKILL).
    let k = e.ok(&["run", "-d", "busybox", "sleep", "30"]);
    e.ok(&["kill", "-s", "KILL", k.trim()]);
    assert_eq!(e.ok(&["wait", k.trim()]).trim(), "137");
    e.ok(&["rm", k.trim()]);
    // stdin with -i reaches the process and EOF ends it.
    let mut c = e.cmd(&["run", "--rm", "-i", "busybox", "cat"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped in\n");
    let id = e.ok(&["ps", "-aq", "--no-trunc"]);
    e.ok(&["rm", "three"]);
    e.assert_nothing_left(&[id.trim().to_string()]);
}

#[test]
fn detached_ps_logs_exec_stop_rm() {
    let e = Env::new();
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = e.ok(&["ps"]);
    assert!(ps.contains(&id[..12]) && ps.contains("Up "), "{ps}");
    let json: serde_json::Value = serde_json::from_str(&e.ok(&["ps", "--format", "json"])).unwrap();
    assert_eq!(json[0]["Names"], "web");
    assert_eq!(json[0]["State"], "running");
    // Prefix and name both resolve.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !e.ok(&["logs", &id[..8]]).contains("started") {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(e.ok(&["logs", "-t", "web"]).starts_with("20"));
    let o = e.berth(&["exec", "web", "sh", "-c", "echo in $(hostname); exit 5"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (5, format!("in {}\n", &id[..12]).as_str())
    );
    let o = e.berth(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "web",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u)",
    ]);
    assert_eq!(o.stdout, "1 /tmp 1000\n", "{}", o.stderr);
    e.ok(&["exec", "-d", "web", "sleep", "30"]);
    let top = e.ok(&["top", "web"]);
    assert!(top.contains("sleep 30"), "{top}");
    let stats = e.ok(&["stats", "--no-stream", "web"]);
    assert!(stats.contains("web"), "{stats}");
    // berth-shim hands its blocked signal mask down to berth-runtime's init,
    // so TERM may stay pending (crun resets it; see crun_works_the_same): -t 1
    // bounds the wait, SIGKILL follows.
    let t = Instant::now();
    e.ok(&["stop", "-t", "1", "web"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    let ps = e.ok(&["ps", "-a"]);
    assert!(
        ps.contains("Exited (0)") || ps.contains("Exited (137)"),
        "{ps}"
    );
    // restart, then rm -f of a running one.
    e.ok(&["restart", "web"]);
    assert!(e.ok(&["ps"]).contains("web"));
    e.ok(&["rename", "web", "web2"]);
    e.ok(&["rm", "-f", "web2"]);
    assert_eq!(e.ok(&["ps", "-a", "-q"]), "");
    e.assert_nothing_left(&[id]);
}

#[test]
fn env_workdir_user_hostname_from_image_and_flags() {
    let e = Env::new();
    let dir = e.dir.path().join("img2");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = common::busybox_tar(&dir, &[]);
    e.ok(&[
        "import",
        "-c",
        "ENV GREETING=image",
        "-c",
        "WORKDIR /tmp",
        "-c",
        "USER user",
        "-c",
        "CMD [\"sh\", \"-c\", \"echo $GREETING $(pwd) $(id -u):$(id -g) $(hostname)\"]",
        tar.to_str().unwrap(),
        "cfg:1",
    ]);
    let out = e.ok(&["run", "--rm", "-h", "box", "cfg:1"]);
    assert_eq!(out, "image /tmp 1000:1000 box\n");
    let out = e.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=flag",
        "-w",
        "/root",
        "-u",
        "0:0",
        "--hostname",
        "other",
        "cfg:1",
    ]);
    assert_eq!(out, "flag /root 0:0 other\n");
    let envf = e.dir.path().join("env");
    std::fs::write(&envf, "# comment\nA=from-file\n").unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--env-file",
        envf.to_str().unwrap(),
        "--entrypoint",
        "sh",
        "cfg:1",
        "-c",
        "echo $A",
    ]);
    assert_eq!(out, "from-file\n");
}

#[test]
fn bind_mounts_and_named_volumes() {
    let e = Env::new();
    let host = e.dir.path().join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in.txt"), "host data\n").unwrap();
    let v = format!("{}:/data", host.display());
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo made > /data/out.txt",
    ]);
    assert_eq!(out, "host data\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).unwrap(),
        "made\n"
    );
    let ro = format!("{}:/data:ro", host.display());
    let o = e.berth(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "busybox",
        "sh",
        "-c",
        "echo x > /data/nope",
    ]);
    assert_ne!(o.code, 0, "a :ro mount must refuse writes");

    // A named volume starts with the image's content at its mount point and outlives its container.
    let out = e.ok(&[
        "run",
        "--name",
        "w",
        "-v",
        "keep:/seed",
        "busybox",
        "sh",
        "-c",
        "cat /seed/hello.txt; echo saved > /seed/new.txt",
    ]);
    assert_eq!(out, "from the image\n");
    e.fails(&["volume", "rm", "keep"], "in use");
    e.ok(&["rm", "w"]);
    assert!(e.ok(&["volume", "ls"]).contains("keep"));
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "keep:/other",
        "busybox",
        "cat",
        "/other/new.txt",
    ]);
    assert_eq!(out, "saved\n");
    let insp: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "inspect", "keep"])).unwrap();
    assert!(insp[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("/keep/_data"));
    e.ok(&["volume", "rm", "keep"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    e.ok(&["volume", "create", "made"]);
    e.fails(&["volume", "create", "made"], "already exists");
    e.ok(&["volume", "prune", "-a"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
    // tmpfs
    let out = e.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "grep -c ' /scratch tmpfs' /proc/mounts",
    ]);
    assert_eq!(out, "1\n");
}

#[test]
fn memory_and_pids_limits_are_visible_inside() {
    let e = Env::new();
    let out = e.ok(&[
        "run", "--rm", "--memory", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
         cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(out, format!("{}\n50\n", 64 << 20));
    let out = e.ok(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /x 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "ro\n");
    let out = e.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert!(out.contains("0000000000000000"), "{out}");
    let out = e.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sh",
        "-c",
        "ulimit -n",
    ]);
    assert_eq!(out, "100\n");
}

#[test]
fn commit_then_run_sees_the_change() {
    let e = Env::new();
    e.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo committed > /etc/marker; rm /seed/hello.txt",
    ]);
    let diff = e.ok(&["diff", "src"]);
    assert!(diff.contains("A /etc/marker"), "{diff}");
    assert!(diff.contains("D /seed/hello.txt"), "{diff}");
    let id = e.ok(&[
        "commit",
        "-m",
        "add marker",
        "-c",
        "CMD [\"cat\", \"/etc/marker\"]",
        "src",
        "mine:v2",
    ]);
    assert!(id.starts_with("sha256:"));
    assert_eq!(e.ok(&["run", "--rm", "mine:v2"]), "committed\n");
    let o = e.berth(&["run", "--rm", "mine:v2", "ls", "/seed/hello.txt"]);
    assert_ne!(o.code, 0, "the deletion is committed too");
    // The base image is still usable and unchanged (roll back).
    assert_eq!(
        e.ok(&["run", "--rm", "busybox", "cat", "/seed/hello.txt"]),
        "from the image\n"
    );
    // rmi refuses an image a container uses.
    let o = e.berth(&["rmi", "busybox"]);
    assert_ne!(o.code, 0);
    // cp both ways and export.
    let host = e.dir.path().join("cpdir");
    std::fs::create_dir_all(&host).unwrap();
    e.ok(&["cp", "src:/etc/marker", host.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("marker")).unwrap(),
        "committed\n"
    );
    std::fs::write(host.join("up.txt"), "uploaded\n").unwrap();
    e.ok(&["cp", host.join("up.txt").to_str().unwrap(), "src:/tmp/"]);
    assert!(e.ok(&["diff", "src"]).contains("A /tmp/up.txt"));
    let tar = e.dir.path().join("export.tar");
    e.ok(&["export", "-o", tar.to_str().unwrap(), "src"]);
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.lines().any(|l| l.ends_with("tmp/up.txt")), "{list}");
    e.assert_nothing_left(&[]);
}

#[test]
fn bad_input_is_one_clear_error_and_leaves_nothing() {
    let e = Env::new();
    // --pull never: a test never reaches for a registry off this machine.
    e.fails(
        &["run", "--rm", "--pull", "never", "nosuchimage"],
        "no such image",
    );
    e.fails(
        &["run", "--rm", "-v", "relative:dir", "busybox", "true"],
        "-v",
    );
    e.fails(
        &["run", "--rm", "-v", "/x:/y:bogus", "busybox", "true"],
        "bogus",
    );
    e.fails(
        &["run", "--rm", "-v", "/does/not/exist:/y", "busybox", "true"],
        "does not exist",
    );
    e.fails(
        &["run", "--rm", "--memory", "lots", "busybox", "true"],
        "--memory",
    );
    e.fails(
        &["run", "--rm", "--memory", "1k", "busybox", "true"],
        "minimum",
    );
    e.fails(
        &["run", "--rm", "--ulimit", "nofile=9:1", "busybox", "true"],
        "--ulimit",
    );
    e.fails(
        &["run", "--rm", "-p", "99999:80", "busybox", "true"],
        "99999",
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-p",
            "80",
            "busybox",
            "true",
        ],
        "bridge",
    );
    e.fails(
        &["run", "--rm", "--network", "nosuchnet", "busybox", "true"],
        "nosuchnet",
    );
    e.fails(&["run", "--rm", "-u", "ghost", "busybox", "true"], "ghost");
    e.fails(
        &["run", "--rm", "--stop-signal", "SIGNOPE", "busybox", "true"],
        "signal",
    );
    e.fails(&["run", "--rm", "busybox", "/no/such/binary"], "");
    assert_eq!(e.container_dirs(), 0);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");

    e.ok(&["run", "-d", "--name", "dup", "busybox", "sleep", "30"]);
    e.fails(
        &["run", "-d", "--name", "dup", "busybox", "true"],
        "already in use",
    );
    e.fails(&["rm", "dup"], "is running");
    e.ok(&["kill", "dup"]);
    e.ok(&["wait", "dup"]);
    e.fails(&["exec", "dup", "true"], "not running");
    e.fails(&["logs", "nosuch"], "no such container");
    assert_eq!(e.container_dirs(), 1);
    e.ok(&["container", "prune"]);
    assert_eq!(e.container_dirs(), 0);
    e.assert_nothing_left(&[]);
}

#[test]
fn crun_works_the_same() {
    if !std::path::Path::new("/usr/bin/crun").exists() {
        eprintln!("crun is not installed: skipped");
        return;
    }
    prepare_crun();
    let e = Env::new();
    let o = e.berth(&[
        "run",
        "--rm",
        "--runtime",
        "crun",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "echo via crun; exit 7",
    ]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (7, "via crun\n"),
        "{}",
        o.stderr
    );
    let id = e.ok(&[
        "run",
        "-d",
        "--runtime",
        "crun",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(e.ok(&["exec", id, "echo", "exec ok"]), "exec ok\n");
    // The stop signal reaches the process: it exits 0 on its own, well before the timeout.
    let t = Instant::now();
    e.ok(&["stop", "-t", "20", id]);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(e.ok(&["logs", id]).contains("bye"));
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id])
            .trim(),
        "exited 0"
    );
    e.ok(&["rm", id]);
    e.assert_nothing_left(&[id.to_string()]);
}

#[test]
fn published_port_on_the_bridge() {
    let e = Env::new();
    let port = test_support::free_port().to_string();
    let p = format!("127.0.0.1:{port}:80");
    let id = e.ok(&[
        "run", "-d", "-p", &p, "busybox", "httpd", "-f", "-p", "80", "-h", "/seed",
    ]);
    let id = id.trim().to_string();
    assert_eq!(
        e.ok(&["port", &id]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    assert!(e.ok(&["ps"]).contains(&format!("127.0.0.1:{port}->80/tcp")));
    let url = format!("http://127.0.0.1:{port}/hello.txt");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let o = std::process::Command::new("curl")
            .args(["-sf", "--max-time", "2", &url])
            .output()
            .unwrap();
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout), "from the image\n");
            break;
        }
        assert!(Instant::now() < deadline, "httpd never answered on {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ip = e.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "ip -4 addr show eth0 | grep -c inet",
    ]);
    assert_eq!(ip.trim(), "1");
    e.ok(&["rm", "-f", &id]);
    e.assert_nothing_left(&[id]);
}

/// A container that exits on its own gives its published port back (no DNAT
/// to a dead address): a host service on that port is reachable again, and
/// a start takes the port once more, as in docker.
#[test]
fn an_exited_container_frees_its_published_port() {
    let e = Env::new();
    let port = test_support::free_port();
    let p = format!("127.0.0.1:{port}:80");
    e.ok(&[
        "run", "-d", "--name", "brief", "-p", &p, "busybox", "sleep", "1",
    ]);
    e.ok(&["wait", "brief"]);
    // The host's own service on the port, once the container's DNAT is gone.
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut c = c;
            let _ = std::io::Write::write_all(
                &mut c,
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhost\n",
            );
        }
    });
    let url = format!("http://127.0.0.1:{port}/");
    common::containers::wait_until(10, "the host's service on the freed port", || {
        std::process::Command::new("curl")
            .args(["-sf", "--max-time", "1", &url])
            .output()
            .is_ok_and(|o| o.stdout == b"host\n")
    });
    assert_eq!(e.ok(&["port", "brief"]).trim(), "");
    e.ok(&["rm", "brief"]);
}

/// As docker's commit: the container's command, env and working dir become
/// the image's, `-c` changes apply on top, and `-m` is the image's Comment.
#[test]
fn commit_takes_the_containers_config() {
    let e = Env::new();
    e.ok(&[
        "run", "-d", "--name", "cfg", "-e", "MYVAR=1", "-w", "/tmp", "busybox", "sleep", "1000",
    ]);
    e.ok(&["commit", "-m", "my message", "cfg", "committed:1"]);
    let cfg = |f: &str| {
        e.ok(&["image", "inspect", "-f", f, "committed:1"])
            .trim()
            .to_string()
    };
    assert_eq!(cfg("{{json .Config.Cmd}}"), r#"["sleep","1000"]"#);
    assert_eq!(cfg("{{.Config.WorkingDir}}"), "/tmp");
    let env = cfg("{{json .Config.Env}}");
    assert!(
        env.contains("MYVAR=1") && !env.contains("HOSTNAME="),
        "{env}"
    );
    assert_eq!(cfg("{{.Comment}}"), "my message");
    e.ok(&[
        "commit",
        "-c",
        "CMD [\"echo\", \"changed\"]",
        "cfg",
        "committed:2",
    ]);
    assert_eq!(e.ok(&["run", "--rm", "committed:2"]), "changed\n");
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "committed:1",
            "sh",
            "-c",
            "echo $MYVAR $(pwd)"
        ]),
        "1 /tmp\n"
    );
    e.ok(&["rm", "-f", "cfg"]);
}

/// docker's exit codes: 127 for a command that is not there, 126 for one
/// that cannot be run (the container stays, Created), 125 for run's own
/// failures, 1 for the other commands' errors.
#[test]
fn exit_codes_as_docker() {
    let e = Env::new();
    for (name, cmd, code) in [
        ("nf", "nosuchcmd", 127),
        ("nx", "/nonexistent", 127),
        ("nd", "/bin", 126),
    ] {
        let o = e.berth(&["run", "--name", name, "busybox", cmd]);
        assert_eq!(o.code, code, "{cmd}: {}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert_eq!(e.inspect(name, "{{.State.Status}}"), "created");
    }
    let o = e.berth(&["run", "--rm", "--name", "gone", "busybox", "nosuchcmd"]);
    assert_eq!(o.code, 127);
    assert_ne!(
        e.berth(&["inspect", "gone"]).code,
        0,
        "--rm takes a container that never started"
    );
    assert_eq!(
        e.berth(&["run", "--memory", "lots", "busybox", "true"])
            .code,
        125
    );
    e.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "100"]);
    let o = e.berth(&["rm", "up"]);
    assert_eq!((o.code, o.stderr.lines().count()), (1, 1), "{}", o.stderr);
    e.ok(&["rm", "-f", "up", "nf", "nx", "nd"]);
}
