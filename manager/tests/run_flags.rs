//! The flags of `run`/`create` that confine a container (mounts, read-only,
//! capabilities, security options, resources, devices, sysctls, namespaces),
//! each checked by its effect inside the container (or on the host), and
//! their bad syntaxes; the others are in run_flags_config.rs.

mod common;

use common::containers::{sh, wait_until, Env};

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
