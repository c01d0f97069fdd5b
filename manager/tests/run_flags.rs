//! The flags of `run`/`create`, each checked by its effect inside the
//! container (or on the host), and their bad syntaxes.

mod common;

use common::containers::{wait_until, Env};
use std::time::{Duration, Instant};

/// `run --rm FLAGS... busybox sh -c SCRIPT`, asserting success; its stdout.
fn sh(e: &Env, flags: &[&str], script: &str) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(flags);
    a.extend(["busybox", "sh", "-c", script]);
    e.ok(&a)
}

#[test]
fn mounts_tmpfs_and_read_only() {
    let e = Env::new();
    let out = sh(
        &e,
        &["--tmpfs", "/scratch:size=1m,mode=1770"],
        "grep ' /scratch ' /proc/mounts; stat -c %a /scratch",
    );
    assert!(out.contains("tmpfs") && out.contains("size=1024k"), "{out}");
    assert!(out.ends_with("1770\n"), "{out}");
    let host = e.dir.path().join("m");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "bound\n").unwrap();
    let bind = format!("type=bind,source={},target=/b,readonly", host.display());
    let out = sh(
        &e,
        &[
            "--mount",
            &bind,
            "--mount",
            "type=volume,source=mv,target=/v",
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=2m",
        ],
        "cat /b/f; touch /b/x 2>/dev/null || echo ro; cat /v/hello.txt 2>/dev/null; \
         echo kept > /v/k; grep ' /t ' /proc/mounts | grep -c size=2048k",
    );
    assert_eq!(out, "bound\nro\n1\n");
    assert!(e.ok(&["volume", "ls", "-q"]).contains("mv"));
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "mv:/v", "busybox", "cat", "/v/k"]),
        "kept\n"
    );
    // --read-only: the root refuses writes, a tmpfs on it does not.
    let out = sh(
        &e,
        &["--read-only", "--tmpfs", "/tmp"],
        "touch /x 2>/dev/null || echo root ro; touch /tmp/x && echo tmp rw",
    );
    assert_eq!(out, "root ro\ntmp rw\n");
    e.fails(
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,target=/x",
            "busybox",
            "true",
        ],
        "--mount",
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--mount",
            "type=nfs,target=/x",
            "busybox",
            "true",
        ],
        "type",
    );
    e.fails(
        &["run", "--rm", "--mount", "source=a", "busybox", "true"],
        "target",
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,target=/x,bogus=1",
            "busybox",
            "true",
        ],
        "bogus",
    );
    e.fails(
        &["run", "--rm", "--tmpfs", "rel", "busybox", "true"],
        "--tmpfs",
    );
    assert_eq!(e.container_dirs(), 0);
}

#[test]
fn capabilities_and_security_options() {
    let e = Env::new();
    let caps = |flags: &[&str]| -> u64 {
        let out = sh(&e, flags, "grep CapEff /proc/self/status");
        u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    const CHOWN: u64 = 1 << 0;
    const NET_ADMIN: u64 = 1 << 12;
    const SYS_ADMIN: u64 = 1 << 21;
    let def = caps(&[]);
    assert!(
        def & CHOWN != 0 && def & NET_ADMIN == 0 && def & SYS_ADMIN == 0,
        "{def:x}"
    );
    let c = caps(&["--cap-add", "NET_ADMIN", "--cap-drop", "chown"]);
    assert_eq!(c, (def | NET_ADMIN) & !CHOWN);
    assert_eq!(
        caps(&["--cap-drop", "ALL", "--cap-add", "CAP_CHOWN"]),
        CHOWN
    );
    // The effect: NET_ADMIN lets it bring an interface down, no CHOWN stops chown.
    let out = sh(
        &e,
        &["--cap-drop", "CHOWN"],
        "touch /f; chown 1000 /f 2>/dev/null || echo denied",
    );
    assert_eq!(out, "denied\n");
    let out = sh(
        &e,
        &["--cap-add", "NET_ADMIN"],
        "ip link set lo down && echo ok",
    );
    assert_eq!(out, "ok\n");
    // --privileged: everything this host's bounding set allows.
    let bnd = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = bnd
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    let bnd = u64::from_str_radix(bnd, 16).unwrap();
    assert_eq!(caps(&["--privileged"]), bnd);
    e.fails(
        &["run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"],
        "NOT_A_CAP",
    );

    let status = |flags: &[&str]| {
        sh(
            &e,
            flags,
            "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        )
    };
    let s = status(&[]);
    assert!(
        s.contains("NoNewPrivs:\t0") && s.contains("Seccomp:\t2"),
        "{s}"
    );
    let s = status(&["--security-opt", "no-new-privileges"]);
    assert!(s.contains("NoNewPrivs:\t1"), "{s}");
    let s = status(&["--security-opt", "seccomp=unconfined"]);
    assert!(s.contains("Seccomp:\t0"), "{s}");
    // A profile of our own: mkdir is refused with EPERM, the rest allowed.
    let prof = e.dir.path().join("seccomp.json");
    std::fs::write(
        &prof,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", prof.display());
    let out = sh(
        &e,
        &["--security-opt", &opt],
        "mkdir /d 2>&1 || true; echo alive",
    );
    assert!(
        out.contains("Operation not permitted") && out.ends_with("alive\n"),
        "{out}"
    );
    e.fails(
        &[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=/no/such.json",
            "busybox",
            "true",
        ],
        "/no/such.json",
    );
    std::fs::write(&prof, "{not json").unwrap();
    e.fails(
        &["run", "--rm", "--security-opt", &opt, "busybox", "true"],
        "seccomp",
    );
    e.fails(
        &["run", "--rm", "--security-opt", "magic", "busybox", "true"],
        "--security-opt",
    );
    assert_eq!(e.container_dirs(), 0);
}

#[test]
fn resources_from_inside() {
    let e = Env::new();
    let out = sh(
        &e,
        &[
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--pids-limit",
            "30",
        ],
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us \
         /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus \
         /sys/fs/cgroup/pids/pids.max; \
         cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo noswap",
    );
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..5], ["50000", "100000", "512", "0", "30"], "{out}");
    assert!(
        l[5] == (128u64 << 20).to_string() || l[5] == "noswap",
        "{out}"
    );
    // The memory limit bites: a process that wants more is killed.
    let o = e.berth(&[
        "run",
        "--rm",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "head -c 64m /dev/zero | tail > /dev/null",
    ]);
    assert_ne!(o.code, 0, "64 MB in a 16 MB container: {}", o.stdout);
    // So does the pids limit.
    // A shell that cannot fork any more gives up before the echo.
    let forks = "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo all forked";
    let o = e.berth(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        forks,
    ]);
    assert!(o.stderr.contains("can't fork"), "{}", o.stderr);
    assert_eq!((o.code != 0, o.stdout.as_str()), (true, ""));
    assert_eq!(sh(&e, &["--pids-limit", "20"], forks), "all forked\n");
    let out = sh(
        &e,
        &["--ulimit", "nproc=40:50", "--ulimit", "core=0"],
        "ulimit -u; ulimit -H -u; ulimit -c",
    );
    assert_eq!(out, "40\n50\n0\n");
    for (flag, v, want) in [
        ("--cpus", "lots", "--cpus"),
        ("--cpus", "0", "--cpus"),
        ("--cpuset-cpus", "a-b", "--cpuset-cpus"),
        ("--memory-swap", "1m", "--memory"),
        ("--pids-limit", "0", "--pids-limit"),
        ("--shm-size", "big", "--shm-size"),
        ("--ulimit", "bogus=1", "bogus"),
    ] {
        e.fails(&["run", "--rm", flag, v, "busybox", "true"], want);
    }
    e.fails(
        &[
            "run",
            "--rm",
            "--memory",
            "32m",
            "--memory-swap",
            "16m",
            "busybox",
            "true",
        ],
        "--memory-swap",
    );
    assert_eq!(e.container_dirs(), 0);
}

#[test]
fn devices_sysctls_shm_and_namespaces() {
    let e = Env::new();
    let out = sh(
        &e,
        &["--device", "/dev/null:/dev/mynull"],
        "stat -c '%t,%T %F' /dev/mynull; echo hi > /dev/mynull && echo wrote",
    );
    assert_eq!(out, "1,3 character special file\nwrote\n");
    // A device outside docker's default list, allowed for reading only by the device cgroup.
    if std::path::Path::new("/dev/kvm").exists() {
        let o = e.berth(&["run", "--rm", "busybox", "sh", "-c", "ls /dev/kvm"]);
        assert_ne!(o.code, 0, "no /dev/kvm without --device");
        let out = sh(
            &e,
            &["--device", "/dev/kvm:/dev/kvm:r"],
            "true < /dev/kvm && echo read; (true > /dev/kvm) 2>/dev/null || echo no write",
        );
        assert_eq!(out, "read\nno write\n");
    }
    e.fails(
        &[
            "run",
            "--rm",
            "--device",
            "/dev/nonexistent",
            "busybox",
            "true",
        ],
        "/dev/nonexistent",
    );
    e.fails(
        &["run", "--rm", "--device", "/etc/passwd", "busybox", "true"],
        "not a device",
    );

    let out = sh(
        &e,
        &[
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.msgmax=4096",
        ],
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
    );
    assert_eq!(out, "1\n4096\n");
    let host_fwd = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(host_fwd.trim(), "4096", "the host's value is untouched");
    e.fails(
        &["run", "--rm", "--sysctl", "novalue", "busybox", "true"],
        "--sysctl",
    );

    let out = sh(&e, &["--shm-size", "16m"], "df -k /dev/shm | tail -1");
    assert_eq!(out.split_whitespace().nth(1), Some("16384"), "{out}");
    let out = sh(&e, &[], "df -k /dev/shm | tail -1");
    assert_eq!(
        out.split_whitespace().nth(1),
        Some("65536"),
        "docker's 64m: {out}"
    );

    let ns = |n: &str| std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
    let inside = |flags: &[&str], n: &str| {
        sh(&e, flags, &format!("readlink /proc/self/ns/{n}"))
            .trim()
            .to_string()
    };
    for n in ["ipc", "pid", "uts"] {
        let host = ns(n).display().to_string();
        assert_ne!(inside(&[], n), host, "{n} is private by default");
        let flag = format!("--{n}");
        assert_eq!(inside(&[&flag, "host"], n), host, "{flag} host");
    }
    let hn = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(sh(&e, &["--uts", "host"], "hostname").trim(), hn);
    assert_eq!(sh(&e, &[], "echo $$").trim(), "1", "its own pid namespace");
    // Sharing another container's namespaces.
    e.ok(&[
        "run", "-d", "--name", "peer", "busybox", "sh", "-c", "sleep 60",
    ]);
    let peer_ns = |n: &str| {
        e.ok(&["exec", "peer", "readlink", &format!("/proc/self/ns/{n}")])
            .trim()
            .to_string()
    };
    let out = sh(
        &e,
        &["--ipc", "container:peer", "--pid", "container:peer"],
        "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; ps -o comm | grep -c sleep",
    );
    assert_eq!(out, format!("{}\n{}\n1\n", peer_ns("ipc"), peer_ns("pid")));
    // ... with its /dev/shm (POSIX shared memory), both ways.
    e.ok(&["exec", "peer", "sh", "-c", "echo from-peer > /dev/shm/p"]);
    let out = sh(
        &e,
        &["--ipc", "container:peer"],
        "cat /dev/shm/p; echo from-joiner > /dev/shm/j",
    );
    assert_eq!(out, "from-peer\n");
    assert_eq!(
        e.ok(&["exec", "peer", "cat", "/dev/shm/j"]),
        "from-joiner\n"
    );
    // The namespaces are looked up again at each start: the peer restarted.
    e.ok(&[
        "create",
        "--name",
        "joiner",
        "--ipc",
        "container:peer",
        "--uts",
        "container:peer",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; cat /dev/shm/again",
    ]);
    e.ok(&["restart", "-t", "0", "peer"]);
    e.ok(&["exec", "peer", "sh", "-c", "echo again > /dev/shm/again"]);
    assert_eq!(
        e.ok(&["start", "-a", "joiner"]),
        format!("{}\n{}\nagain\n", peer_ns("ipc"), peer_ns("uts"))
    );
    e.ok(&["stop", "-t", "0", "peer"]);
    e.fails(&["start", "joiner"], "not running");
    e.ok(&["rm", "-f", "joiner"]);
    // --ipc host brings the host's /dev/shm.
    let mark = format!("berth-test-{}", std::process::id());
    let out = sh(
        &e,
        &["--ipc", "host"],
        &format!("touch /dev/shm/{mark} && echo ok"),
    );
    assert_eq!(out, "ok\n");
    assert!(std::fs::remove_file(format!("/dev/shm/{mark}")).is_ok());
    e.fails(
        &["run", "--rm", "--ipc", "container:ghost", "busybox", "true"],
        "ghost",
    );
    e.fails(
        &["run", "--rm", "--pid", "weird", "busybox", "true"],
        "--pid",
    );
    e.ok(&["rm", "-f", "peer"]);
    assert_eq!(e.container_dirs(), 0);
}

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

/// A child killed by the OOM killer while the container's main process
/// lives on: the container exits 0, yet State.OOMKilled is true and an
/// `oom` event comes before `die`, as in docker. A later start clears it.
#[test]
fn an_oom_kill_inside_is_reported() {
    let e = Env::new();
    let since = (berth::image::time::now_unix() - 1).to_string();
    e.ok(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "head -c 64m /dev/zero | tail > /dev/null; echo survived",
    ]);
    assert_eq!(e.inspect("oom", "{{.State.ExitCode}}"), "0");
    assert_eq!(e.inspect("oom", "{{.State.OOMKilled}}"), "true");
    // The events come from the shim's exit command, after `run` returned.
    let events = || {
        e.ok(&[
            "events",
            "--since",
            &since,
            "--until",
            &berth::image::time::now_unix().to_string(),
            "--filter",
            "container=oom",
            "--format",
            "{{.Action}}",
        ])
    };
    wait_until(10, "the die event", || events().contains("die"));
    let ev = events();
    let actions: Vec<&str> = ev.lines().collect();
    let (oom, die) = (
        actions.iter().position(|a| *a == "oom"),
        actions.iter().position(|a| a.starts_with("die")),
    );
    assert!(oom.is_some() && oom < die, "{actions:?}");
    // A run without an OOM kill is not reported as one.
    e.ok(&["start", "-a", "oom"]);
    e.ok(&[
        "run", "--name", "fine", "--memory", "16m", "busybox", "true",
    ]);
    assert_eq!(e.inspect("fine", "{{.State.OOMKilled}}"), "false");
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
