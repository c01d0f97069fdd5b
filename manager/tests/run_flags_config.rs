//! The flags of `run`/`create` that configure a container (/etc files,
//! labels, --init, entrypoint, stop signal and timeout, names, groups, dns,
//! cgroupns, expose, cidfile, the host network's hostname), each checked by
//! its effect inside the container (or on the host), and their bad syntaxes.

mod common;

use common::containers::{sh, wait_until, Env};
use std::time::{Duration, Instant};

#[test]
fn etc_files_labels_init_entrypoint() {
    let e = Env::new();
    let out = sh(
        &e,
        &[
            "--add-host",
            "db:10.1.2.3",
            "--add-host",
            "v6=::1",
            "--dns",
            "10.0.0.53",
            "--dns",
            "10.0.0.54",
            "-h",
            "box",
        ],
        "cat /etc/hosts /etc/resolv.conf; cat /etc/hostname",
    );
    assert!(
        out.contains("10.1.2.3\tdb\n") && out.contains("::1\tv6\n"),
        "{out}"
    );
    assert!(
        out.contains("nameserver 10.0.0.53\nnameserver 10.0.0.54\n"),
        "{out}"
    );
    assert!(out.ends_with("box\n"), "{out}");
    e.fails(
        &["run", "--rm", "--add-host", "nohost", "busybox", "true"],
        "--add-host",
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--add-host",
            "h:not-an-ip",
            "busybox",
            "true",
        ],
        "--add-host",
    );
    e.fails(
        &["run", "--rm", "--dns", "dns.example", "busybox", "true"],
        "--dns",
    );

    e.ok(&[
        "create", "--name", "lab", "-l", "a=1", "--label", "flag", "busybox", "true",
    ]);
    let labels = e.inspect("lab", "{{json .Config.Labels}}");
    assert_eq!(labels, r#"{"a":"1","flag":""}"#);
    assert_eq!(
        e.ok(&["ps", "-a", "-q", "-f", "label=a=1"]).trim().len(),
        12
    );

    // --init: a real init is PID 1 and reaps the orphans of the command.
    if std::path::Path::new("/usr/bin/catatonit").exists() {
        let out = sh(
            &e,
            &["--init"],
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; sh -c 'sleep 0.2 & exit 0'; sleep 0.6; \
             ps -o stat,comm | grep -c '^Z' || true",
        );
        let mut l = out.lines();
        assert!(l.next().unwrap().starts_with("/run/berth-init"), "{out}");
        assert_eq!(l.next(), Some("0"), "no zombie left: {out}");
        let o = e.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 5"]);
        assert_eq!(o.code, 5, "the command's code comes through the init");
    } else {
        eprintln!("catatonit is not installed: --init not checked");
    }

    // --entrypoint replaces the image's and drops its CMD; the args follow it.
    let dir = e.dir.path().join("ep");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = common::busybox_tar(&dir, &[]);
    e.ok(&[
        "import",
        "-c",
        r#"ENTRYPOINT ["echo", "from-entry"]"#,
        "-c",
        r#"CMD ["default-arg"]"#,
        tar.to_str().unwrap(),
        "ep:1",
    ]);
    assert_eq!(e.ok(&["run", "--rm", "ep:1"]), "from-entry default-arg\n");
    assert_eq!(
        e.ok(&["run", "--rm", "ep:1", "other"]),
        "from-entry other\n"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "--entrypoint", "/bin/echo", "ep:1"]),
        "\n"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "--entrypoint", "/bin/echo", "ep:1", "x"]),
        "x\n"
    );
    // --env-file, -e KEY taken from berth's environment, -e overriding the file.
    let envf = e.dir.path().join("env");
    std::fs::write(&envf, "# comment\n\nA=1\nB=from file\nFROM_HOST\n").unwrap();
    let out = e
        .cmd(&[
            "run",
            "--rm",
            "--env-file",
            envf.to_str().unwrap(),
            "-e",
            "B=flag",
            "-e",
            "PASSED",
            "busybox",
            "sh",
            "-c",
            "echo $A/$B/$FROM_HOST/$PASSED",
        ])
        .env("FROM_HOST", "h")
        .env("PASSED", "p")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1/flag/h/p\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--env-file",
            "/no/such/env",
            "busybox",
            "true",
        ],
        "/no/such/env",
    );
    assert_eq!(e.container_dirs(), 1);
}

#[test]
fn stop_signal_and_stop_timeout() {
    let e = Env::new();
    // A process that ignores TERM: stop waits the container's --stop-timeout, then kills.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--stop-timeout",
        "1",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    e.ok(&["stop", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(e.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    // The default stop signal reaches a trap at once (the shim's blocked
    // signals are not the container's).
    e.ok(&[
        "run",
        "-d",
        "--name",
        "termed",
        "busybox",
        "sh",
        "-c",
        "trap 'echo term; exit 3' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    e.ok(&["stop", "-t", "20", "termed"]);
    assert!(t.elapsed() < Duration::from_secs(5), "TERM ended it");
    assert_eq!(e.inspect("termed", "{{.State.ExitCode}}"), "3");
    assert_eq!(e.ok(&["logs", "termed"]), "term\n");
    // --stop-signal: stop sends it, and a process that traps it ends cleanly at once.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "--stop-signal",
        "SIGALRM",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' ALRM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    e.ok(&["stop", "-t", "20", "polite"]);
    assert!(t.elapsed() < Duration::from_secs(5), "ALRM ended it");
    assert_eq!(e.inspect("polite", "{{.State.ExitCode}}"), "0");
    assert_eq!(e.ok(&["logs", "polite"]), "bye\n");
    assert_eq!(e.inspect("polite", "{{.Config.StopSignal}}"), "SIGALRM");
    // From the image's config too.
    let dir = e.dir.path().join("img");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = common::busybox_tar(&dir, &[]);
    e.ok(&[
        "import",
        "-c",
        "STOPSIGNAL SIGWINCH",
        tar.to_str().unwrap(),
        "sig:1",
    ]);
    e.ok(&["create", "--name", "fromimg", "sig:1", "true"]);
    assert_eq!(e.inspect("fromimg", "{{.Config.StopSignal}}"), "SIGWINCH");
}

#[test]
fn run_rm_detached_and_names() {
    let e = Env::new();
    e.ok(&["run", "-d", "--rm", "--name", "brief", "busybox", "true"]);
    // The record goes first, then the dir: wait for both.
    wait_until(10, "the --rm container to go", || {
        e.ok(&["ps", "-aq"]).is_empty() && e.container_dirs() == 0
    });
    // A generated name is docker-like and unique.
    let a = e.ok(&["create", "busybox", "true"]);
    let b = e.ok(&["create", "busybox", "true"]);
    let na = e.inspect(a.trim(), "{{.Name}}");
    let nb = e.inspect(b.trim(), "{{.Name}}");
    assert_ne!(na, nb);
    assert!(na.starts_with('/') && na.contains('_'), "{na}");
    e.fails(
        &["create", "--name", "bad name", "busybox", "true"],
        "invalid container name",
    );
    e.fails(&["run", "--rm", "-w", "rel", "busybox", "true"], "-w");
    assert_eq!(e.container_dirs(), 2);
}

#[test]
fn groups_dns_oom_cgroupns_labels_expose_and_cidfile() {
    let e = Env::new();
    // --group-add by name (from the image's /etc/group) and by number.
    let out = sh(
        &e,
        &[
            "--group-add",
            "user",
            "--group-add",
            "4242",
            "--network",
            "none",
        ],
        "grep Groups /proc/self/status",
    );
    let groups: Vec<&str> = out.split_whitespace().skip(1).collect();
    assert!(
        groups.contains(&"1000") && groups.contains(&"4242"),
        "{out}"
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--group-add",
            "nosuchgroup",
            "busybox",
            "true",
        ],
        "--group-add",
    );
    // --dns-search and --dns-option replace those lines of resolv.conf.
    let out = sh(
        &e,
        &[
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "a.example",
            "--dns-search",
            "b.example",
            "--dns-option",
            "ndots:3",
        ],
        "cat /etc/resolv.conf",
    );
    assert!(out.contains("nameserver 192.0.2.53\n"), "{out}");
    assert!(out.contains("search a.example b.example\n"), "{out}");
    assert!(out.contains("options ndots:3\n"), "{out}");
    assert_eq!(out.matches("search").count(), 1, "{out}");
    let out = sh(
        &e,
        &["--network", "none", "--dns-search", "c.example"],
        "grep search /etc/resolv.conf",
    );
    assert_eq!(out, "search c.example\n");
    // --oom-score-adj (raising it needs no privilege) and --memory-reservation.
    let out = sh(
        &e,
        &["--oom-score-adj", "500", "--network", "none"],
        "cat /proc/self/oom_score_adj",
    );
    assert_eq!(out, "500\n");
    e.fails(
        &["run", "--rm", "--oom-score-adj", "2000", "busybox", "true"],
        "--oom-score-adj",
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "soft",
        "--network",
        "none",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "busybox",
        "sleep",
        "30",
    ]);
    let id = e.id_of("soft");
    let soft = ["memory/berth", "berth"]
        .iter()
        .find_map(|d| {
            let base = std::path::Path::new("/sys/fs/cgroup").join(d).join(&id);
            std::fs::read_to_string(base.join("memory.soft_limit_in_bytes"))
                .or_else(|_| std::fs::read_to_string(base.join("memory.low")))
                .ok()
        })
        .expect("the container's memory cgroup");
    assert_eq!(soft.trim(), "33554432");
    e.ok(&["rm", "-f", "soft"]);
    e.fails(
        &[
            "run",
            "--rm",
            "--memory",
            "32m",
            "--memory-reservation",
            "64m",
            "busybox",
            "true",
        ],
        "--memory-reservation",
    );
    // --cgroupns host: the host's cgroup namespace, not a new one.
    let host_ns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    let inside = |flags: &[&str]| {
        let mut f = vec!["--network", "none"];
        f.extend_from_slice(flags);
        sh(&e, &f, "readlink /proc/self/ns/cgroup")
            .trim()
            .to_string()
    };
    assert_eq!(
        inside(&["--cgroupns", "host"]),
        host_ns.display().to_string()
    );
    assert_ne!(inside(&[]), host_ns.display().to_string());
    e.fails(
        &["run", "--rm", "--cgroupns", "shared", "busybox", "true"],
        "--cgroupns",
    );
    // --label-file, with -l on top.
    let lf = e.dir.path().join("labels");
    std::fs::write(&lf, "# comment\ntier=db\n\nowner=ops\n").unwrap();
    e.ok(&[
        "create",
        "--name",
        "labelled",
        "--label-file",
        lf.to_str().unwrap(),
        "-l",
        "owner=me",
        "busybox",
        "true",
    ]);
    assert_eq!(
        e.inspect(
            "labelled",
            "{{index .Config.Labels \"tier\"}} {{index .Config.Labels \"owner\"}}"
        ),
        "db me"
    );
    e.ok(&["rm", "labelled"]);
    // --expose feeds -P.
    e.ok(&[
        "run", "-d", "--name", "exp", "--expose", "7070", "-P", "busybox", "sleep", "30",
    ]);
    let port = e.ok(&["port", "exp"]);
    assert!(port.starts_with("7070/tcp -> "), "{port}");
    e.ok(&["rm", "-f", "exp"]);
    // --cidfile: written once the container exists; an existing file is refused.
    let cid = e.dir.path().join("cid");
    let id = e.ok(&[
        "run",
        "-d",
        "--cidfile",
        cid.to_str().unwrap(),
        "--network",
        "none",
        "busybox",
        "sleep",
        "30",
    ]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    e.fails(
        &[
            "run",
            "--rm",
            "--cidfile",
            cid.to_str().unwrap(),
            "busybox",
            "true",
        ],
        "--cidfile",
    );
    e.ok(&["rm", "-f", id.trim()]);
    assert_eq!(e.container_dirs(), 0);
}

/// With the host's network the container has the host's name, and `-p`
/// warns that it is discarded and runs, as docker.
#[test]
fn host_network_hostname_and_discarded_ports() {
    let e = Env::new();
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let o = e.berth(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "8080:80",
        "busybox",
        "hostname",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), host);
    assert!(
        o.stderr.contains("Published ports are discarded"),
        "{}",
        o.stderr
    );
}
