//! The container's process as config.md describes it, checked from inside.

mod common;
use common::*;
use serde_json::json;
use std::os::fd::AsRawFd;

#[test]
fn pid_namespace_and_hostname() {
    let c = Ctr::with("echo $$; hostname", |c| c["hostname"] = json!("box-1"));
    assert_eq!(c.run_ok(), "1\nbox-1\n");
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    let out = Ctr::sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status").run_ok();
    // AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10)
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(
            out.contains(&format!("{set}:\t0000000020000420")),
            "{set} wrong:\n{out}"
        );
    }
    // Ambient caps need to be inheritable too; runc's default config has none.
    assert!(
        out.contains("CapInh:\t0000000000000000") && out.contains("CapAmb:\t0000000000000000"),
        "{out}"
    );
}

#[test]
fn capability_outside_the_host_bounding_set_is_skipped_with_a_warning() {
    // This host has no CAP_SYS_RESOURCE: config.md says warn, don't fail.
    let c = Ctr::with("grep CapEff /proc/self/status", |c| {
        for s in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][s] = json!(["CAP_KILL", "CAP_SYS_RESOURCE"]);
        }
    });
    let (code, out, _) = c.run();
    assert_eq!(code, 0);
    let host_has = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| {
            l.starts_with("CapBnd")
                && u64::from_str_radix(l.split('\t').nth(1).unwrap(), 16).unwrap() & (1 << 24) != 0
        });
    let want = if host_has {
        "CapEff:\t0000000001000020"
    } else {
        "CapEff:\t0000000000000020"
    };
    assert!(out.contains(want), "{out}");
}

#[test]
fn user_groups_umask_cwd_env() {
    let c = Ctr::with("id; umask; pwd; echo $FOO", |c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 63});
        c["process"]["cwd"] = json!("/home/work");
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    });
    let out = c.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("uid=1000(user) gid=1000(user) groups="),
        "{out}"
    );
    assert!(lines[0].contains("10") && lines[0].contains("20"), "{out}");
    assert_eq!(lines[1], "0077");
    assert_eq!(lines[2], "/home/work", "cwd is created when missing");
    assert_eq!(lines[3], "bar baz");
}

#[test]
fn rlimits_are_set() {
    let c = Ctr::with("ulimit -n; ulimit -Hn; ulimit -c", |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 777},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
    });
    assert_eq!(c.run_ok(), "512\n777\n0\n");
}

#[test]
fn rlimit_above_the_host_hard_limit_is_a_clear_error() {
    let c = Ctr::with(
        "true",
        |c| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": 100000000u64, "hard": 100000000u64}])
        },
    );
    let (code, _, err) = c.run();
    assert_ne!(code, 0);
    assert!(
        err.contains("RLIMIT_NOFILE") || err.contains("RlimitNofile"),
        "{err}"
    );
    assert!(!c.state_dir().exists());
}

#[test]
fn no_new_privileges_and_oom_score_adj() {
    let c = Ctr::with(
        "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
        |c| {
            c["process"]["noNewPrivileges"] = json!(true);
            c["process"]["oomScoreAdj"] = json!(500);
        },
    );
    assert_eq!(c.run_ok(), "NoNewPrivs:\t1\n500\n");
    let c = Ctr::with("grep NoNewPrivs /proc/self/status", |c| {
        c["process"]["noNewPrivileges"] = json!(false)
    });
    assert_eq!(c.run_ok(), "NoNewPrivs:\t0\n");
}

#[test]
fn no_host_fd_leaks_into_the_container() {
    // An fd of ours that is not close-on-exec must not reach the process.
    let c = Ctr::sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let f = std::fs::File::open("/").unwrap();
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0) };
    let out = c.run_ok();
    // 0 1 2 and the fd ls opens on /proc/self/fd
    assert_eq!(out.split_whitespace().count(), 4, "fds: {out}");
}

#[test]
fn runtime_binary_is_out_of_reach() {
    // CVE-2019-5736: an attacker in the container holds /proc/<init>/exe (as
    // O_PATH) and reopens it for writing once the runtime process is gone.
    // Our own copy of the binary: the kernel answers ETXTBSY before EROFS
    // while any process (another test's) executes the same file.
    let c = Ctr::sh("sleep 60");
    let bin = c.root.path().join("berth-runtime");
    std::fs::copy(rt(), &bin).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("--root").arg(c.root.path()).args(args);
        c.output_via_files(cmd)
    };
    let b = c.bundle.path().to_string_lossy().into_owned();
    assert!(run(&["create", "--bundle", &b, &c.id]).status.success());
    let pid = c.state()["pid"].as_i64().unwrap();
    let exe = std::fs::File::open(format!("/proc/{pid}/exe")).unwrap();
    let fd = exe.as_raw_fd();
    assert!(run(&["delete", "--force", &c.id]).status.success());
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"));
    let err = w.expect_err("the runtime's binary is writable through the init's exe");
    // EROFS (read-only bind mount) or EPERM (sealed memfd).
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::EPERM)),
        "{err}"
    );
    // And the file itself is untouched and writable by us: the protection is
    // in how the container reached it, not a read-only host.
    assert!(std::fs::OpenOptions::new().write(true).open(&bin).is_ok());
}

#[test]
fn home_comes_from_the_containers_passwd_unless_set() {
    // As runc and crun do: docker sends no HOME, programs expect one.
    let home = |uid: u32, env: serde_json::Value| {
        let c = Ctr::with("echo \"$HOME\"", |c| {
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
            c["process"]["env"] = env;
        });
        c.run_ok().trim().to_string()
    };
    assert_eq!(home(0, json!(["PATH=/bin"])), "/root");
    assert_eq!(home(1000, json!(["PATH=/bin"])), "/home");
    assert_eq!(home(4242, json!(["PATH=/bin"])), "/", "no passwd entry");
    assert_eq!(home(0, json!(["PATH=/bin", "HOME=/x"])), "/x");
    let c = Ctr::with("sleep 60", |c| c["process"]["env"] = json!(["PATH=/bin"]));
    assert!(c.create().status.success());
    assert!(c.out(&["start", &c.id]).status.success());
    let o = c.out(&["exec", "--user", "1000", &c.id, "sh", "-c", "echo $HOME"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "/home",
        "{}",
        stderr(&o)
    );
}

#[test]
fn exec_into_a_running_container() {
    let c = Ctr::with("sleep 60", |c| {
        c["process"]["env"] = json!(["PATH=/bin", "WHO=init"])
    });
    assert!(c.create().status.success());
    assert!(c.out(&["start", &c.id]).status.success());
    let o = c.out(&[
        "exec",
        "--env",
        "X=1",
        &c.id,
        "sh",
        "-c",
        "echo $WHO $X $$; hostname; exit 5",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with("init 1 "),
        "env of the container, own var, a pid in its namespace: {out}"
    );
    assert_ne!(first, "init 1 1");
    // --user and --cwd
    let o = c.out(&[
        "exec",
        "--user",
        "1000:1000",
        "--cwd",
        "/tmp",
        &c.id,
        "sh",
        "-c",
        "id -u; pwd",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1000\n/tmp\n");
    // --process file, detached, with a pid file
    let pf = c.root.path().join("exec.pid");
    let proc_json = c.root.path().join("p.json");
    std::fs::write(&proc_json, json!({"args": ["sleep", "30"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}).to_string()).unwrap();
    let mut cmd = c.cmd();
    cmd.args(["exec", "--detach", "--process"])
        .arg(&proc_json)
        .arg("--pid-file")
        .arg(&pf)
        .arg(&c.id);
    let o = c.output_via_files(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    assert_in_cgroup(pid.into(), &c.id);
    // An execve that fails after every check passed (no #! and not ELF:
    // ENOEXEC) fails a detached exec too, and no pid file is written.
    let o = c.out(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "echo junk > /tmp/junk; chmod 755 /tmp/junk",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pf2 = c.root.path().join("junk.pid");
    let o = c.out(&[
        "exec",
        "-d",
        "--pid-file",
        pf2.to_str().unwrap(),
        &c.id,
        "/tmp/junk",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).to_lowercase().contains("exec format error"),
        "{}",
        stderr(&o)
    );
    assert!(!pf2.exists());
    // exec into a stopped container is an error
    assert!(c.out(&["kill", &c.id, "KILL"]).status.success());
    c.wait_status("stopped");
    let o = c.out(&["exec", &c.id, "true"]);
    assert!(!o.status.success());
}

#[test]
fn personality_and_io_priority() {
    let c = Ctr::with("uname -m; ionice -p $$", |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    });
    let out = c.run_ok();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "i686", "{out}");
    assert!(l[1].contains("idle"), "{out}");
}

#[test]
fn signals_start_unblocked_and_default_whatever_the_caller_had() {
    use std::os::unix::process::CommandExt;
    // Not through sh: a shell that forks its command ignores SIGQUIT there.
    let c = Ctr::with("", |c| {
        c["process"]["args"] = json!(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
    });
    let mut cmd = c.cmd();
    cmd.arg("run")
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id);
    // What a shim does: block the signals it reads from a signalfd, and
    // ignore HUP; the runtime itself (Rust) ignores SIGPIPE.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGUSR1, libc::SIGINT, libc::SIGCHLD] {
                libc::sigaddset(&mut set, s);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let o = c.output_via_files(cmd);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("SigBlk:\t0000000000000000") && out.contains("SigIgn:\t0000000000000000"),
        "{out}"
    );
}
