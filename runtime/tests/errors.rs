//! Bad input: one clear line naming what is wrong, a non-zero exit, and
//! nothing left behind (no state dir, no cgroup, no process).

mod common;
use common::*;
use serde_json::json;

fn assert_clean_failure(c: &Ctr, want: &str) {
    let o = c.create();
    assert!(!o.status.success(), "create succeeded");
    let err = stderr(&o);
    assert!(
        err.contains(want),
        "error {err:?} does not mention {want:?}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    assert!(!c.state_dir().exists(), "state dir left behind");
    assert!(!cgroup_exists(&c.id), "cgroup left behind");
}

#[test]
fn malformed_config() {
    let c = Ctr::sh("true");
    std::fs::write(c.bundle.path().join("config.json"), "{ not json").unwrap();
    assert_clean_failure(&c, "config.json");
}

#[test]
fn unknown_namespace_type() {
    let c = Ctr::with("true", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "bogus"}))
    });
    assert_clean_failure(&c, "bogus");
}

#[test]
fn missing_rootfs() {
    let c = Ctr::sh("true");
    std::fs::remove_dir_all(c.bundle.rootfs()).unwrap();
    assert_clean_failure(&c, "root.path");
}

#[test]
fn missing_executable() {
    let c = Ctr::new(test_support::default_config(&["/no/such/binary"]));
    assert_clean_failure(&c, "no such file or directory");
}

#[test]
fn missing_bind_source() {
    let c = Ctr::with("true", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/does/not/exist", "options": ["bind"]}))
    });
    assert_clean_failure(&c, "/does/not/exist");
}

#[test]
fn invalid_id() {
    let mut c = Ctr::sh("true");
    c.id = "../escape".into();
    let o = c.create();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("invalid container id"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_container() {
    let c = Ctr::sh("true");
    for verb in [
        &["start"][..],
        &["state"],
        &["kill"],
        &["delete"],
        &["pause"],
        &["exec", "x"],
    ] {
        let mut args: Vec<&str> = verb.to_vec();
        args.insert(1, &c.id);
        if verb[0] == "exec" {
            args = vec!["exec", &c.id, "true"];
        }
        let o = c.out(&args);
        assert!(!o.status.success(), "{verb:?} succeeded");
        assert!(
            stderr(&o).contains("does not exist"),
            "{verb:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn errors_go_to_the_json_log_too() {
    let c = Ctr::sh("true");
    let log = c.root.path().join("log.json");
    let o = c
        .cmd()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", &c.id])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"));
    assert!(v["time"].is_string());
}

#[test]
fn terminal_without_console_socket() {
    let c = Ctr::with("true", |c| c["process"]["terminal"] = json!(true));
    assert_clean_failure(&c, "console-socket");
}

#[test]
fn resources_this_host_cannot_enforce() {
    // net_cls is not mounted here (nor on v2 hosts): an error, not a silent no-op.
    if std::path::Path::new("/sys/fs/cgroup/net_cls").exists() {
        return;
    }
    let c = Ctr::with("true", |c| {
        c["linux"]["resources"]["network"] = json!({"classID": 1048577})
    });
    assert_clean_failure(&c, "classID");
}

/// A kernel without openat2 (before 5.6), made here by a seccomp filter on
/// the runtime that answers openat2 with ENOSYS, as crun's tests do: one line
/// saying what is needed, and nothing left behind.
#[test]
fn kernel_without_openat2() {
    use std::os::unix::process::CommandExt;
    let c = Ctr::sh("true");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["openat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}]
    });
    let prog = berth_runtime::seccomp::compile(&serde_json::from_value(profile).unwrap()).unwrap();
    let mut cmd = c.cmd();
    cmd.arg("create")
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id);
    // SAFETY: install only makes the seccomp(2) call, no allocation, as
    // fits between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            berth_runtime::seccomp::install(&prog)
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))
        })
    };
    let o = c.output_via_files(cmd);
    assert!(!o.status.success(), "create succeeded without openat2");
    let err = stderr(&o);
    assert!(err.contains("kernel 5.6 or later needed"), "{err:?}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    assert!(!c.state_dir().exists(), "state dir left behind");
    assert!(!cgroup_exists(&c.id), "cgroup left behind");
    // The same container on this kernel: the check is what failed it.
    assert_eq!(c.run().0, 0);
}
