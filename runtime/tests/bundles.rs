//! Hostile bundles and input files: each is refused with one short line
//! naming what is wrong, a non-zero exit, within seconds, and nothing left
//! behind (no state dir, no cgroup, no process).

mod common;
use common::*;
use serde_json::json;
use std::process::{Output, Stdio};

/// One short line naming `want`, a failure.
fn one_clear_line(o: &Output, want: &str) {
    assert!(!o.status.success(), "succeeded");
    let err = stderr(o);
    assert!(
        err.len() < 400,
        "error line of {} bytes: {}...",
        err.len(),
        &err[..400]
    );
    assert!(
        err.contains(want),
        "error {err:?} does not mention {want:?}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
}

fn refused(c: &Ctr, want: &str) {
    let b = c.bundle.path().to_str().unwrap().to_string();
    let mut cmd = c.cmd();
    cmd.args(["create", "--bundle", &b, &c.id]);
    one_clear_line(&bounded(cmd, Stdio::null(), 10, "berth-runtime"), want);
    assert!(!c.state_dir().exists(), "state dir left behind");
    assert!(!cgroup_exists(&c.id), "cgroup left behind");
}

fn config_path(c: &Ctr) -> std::path::PathBuf {
    c.bundle.path().join("config.json")
}

fn mkfifo(p: &std::path::Path) {
    let cp = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(cp.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_config_json_that_is_dev_zero() {
    let c = Ctr::sh("true");
    std::fs::remove_file(config_path(&c)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", config_path(&c)).unwrap();
    refused(&c, "not a regular file");
}

#[test]
fn a_config_json_that_is_a_fifo() {
    let c = Ctr::sh("true");
    std::fs::remove_file(config_path(&c)).unwrap();
    mkfifo(&config_path(&c));
    refused(&c, "not a regular file");
}

#[test]
fn a_config_json_larger_than_the_bound() {
    let c = Ctr::sh("true");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(config_path(&c))
        .unwrap();
    f.set_len(17 << 20).unwrap();
    refused(&c, "larger than 16 MiB");
}

/// A running container for the verbs that take files.
fn running() -> Ctr {
    let c = Ctr::sh("sleep 1000");
    assert!(c.create().status.success());
    assert!(c.out(&["start", &c.id]).status.success());
    c
}

#[test]
fn process_and_resources_files_that_are_not_regular_or_too_large() {
    let c = running();
    let d = test_support::TempDir::new("bundles-files");
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    let big = d.path().join("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    for (f, want) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than 16 MiB"),
    ] {
        let mut cmd = c.cmd();
        cmd.args(["exec", "--process", f, &c.id]);
        one_clear_line(&bounded(cmd, Stdio::null(), 10, "berth-runtime"), want);
        let mut cmd = c.cmd();
        cmd.args(["update", "-r", f, &c.id]);
        one_clear_line(&bounded(cmd, Stdio::null(), 10, "berth-runtime"), want);
    }
    // Standard input without end: read up to the bound, then refused.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let mut cmd = c.cmd();
    cmd.args(["update", "-r", "-", &c.id]);
    one_clear_line(
        &bounded(cmd, Stdio::from(zero), 10, "berth-runtime"),
        "larger than 16 MiB",
    );
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let mut cmd = c.cmd();
    cmd.args(["exec", "--process", "-", &c.id]);
    one_clear_line(
        &bounded(cmd, Stdio::from(zero), 10, "berth-runtime"),
        "larger than 16 MiB",
    );
}

#[test]
fn uids_and_gids_out_of_range() {
    for (field, v, want) in [
        ("uid", 4294967295u64, "process.user.uid"),
        ("uid", 2147483648, "process.user.uid"),
        ("gid", 4294967295, "process.user.gid"),
    ] {
        let c = Ctr::with("true", |c| c["process"]["user"][field] = json!(v));
        refused(&c, want);
    }
    let c = Ctr::with("true", |c| {
        c["process"]["user"]["additionalGids"] = json!([5, 4294967295u64])
    });
    refused(&c, "process.user.additionalGids");
}

#[test]
fn exec_with_a_uid_out_of_range() {
    let c = running();
    for args in [
        &["--user", "4294967295"][..],
        &["--user", "0:4294967295"],
        &["--additional-gids", "4294967295"],
    ] {
        let mut cmd = c.cmd();
        cmd.arg("exec").args(args).args([&c.id, "true"]);
        one_clear_line(
            &bounded(cmd, Stdio::null(), 10, "berth-runtime"),
            "process.user",
        );
    }
}

#[test]
fn a_uid_outside_the_user_namespace_mapping() {
    for (field, want) in [("uid", "process.user.uid"), ("gid", "process.user.gid")] {
        let c = Ctr::with("true", |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            let m = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
            v["linux"]["uidMappings"] = m.clone();
            v["linux"]["gidMappings"] = m;
            v["process"]["user"][field] = json!(5000);
        });
        refused(&c, want);
    }
}

#[test]
fn too_many_additional_gids_give_a_short_line() {
    let gids: Vec<u32> = (1..=70000).collect();
    let c = Ctr::with("true", |c| {
        c["process"]["user"]["additionalGids"] = json!(gids)
    });
    refused(&c, "process.user.additionalGids");
}

#[test]
fn device_numbers_beyond_the_kernel_range() {
    for (maj, min) in [(4096u64, 1u64), (1, 1 << 20)] {
        let c =
            Ctr::with(
                "true",
                |c| {
                    c["linux"]["devices"] =
                        json!([{"path": "/dev/x", "type": "c", "major": maj, "minor": min}])
                },
            );
        refused(&c, "linux.devices");
    }
}

#[test]
fn an_rlimit_nofile_too_low_for_the_init() {
    // runc and crun fail too (at start, or with "too many open files"):
    // refused at create, with the reason.
    let c = Ctr::with("true", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 0, "soft": 0}])
    });
    refused(&c, "RLIMIT_NOFILE");
}

#[test]
fn an_rlimit_above_the_hosts_hard_limit() {
    let c =
        Ctr::with(
            "true",
            |c| {
                c["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "hard": 1u64 << 40, "soft": 1u64 << 40}])
            },
        );
    refused(&c, "RLIMIT_NOFILE");
    let c = Ctr::with("true", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}])
    });
    refused(&c, "RLIMIT_BOGUS");
}

#[test]
fn nul_bytes_in_strings() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "process.args",
            Box::new(|c| c["process"]["args"] = json!(["sh", "-c", "tr\u{0}ue"])),
        ),
        (
            "process.cwd",
            Box::new(|c| c["process"]["cwd"] = json!("/tm\u{0}p")),
        ),
        (
            "process.env",
            Box::new(|c| c["process"]["env"] = json!(["A=\u{0}"])),
        ),
        ("hostname", Box::new(|c| c["hostname"] = json!("h\u{0}st"))),
        (
            "mounts",
            Box::new(|c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/mn\u{0}t", "type": "tmpfs", "source": "tmpfs"}))
            }),
        ),
    ];
    for (want, f) in cases {
        let c = Ctr::with("true", |c| f(c));
        refused(&c, want);
    }
}

#[test]
fn a_rootfs_that_is_a_symlink_out_of_the_bundle() {
    let c = Ctr::sh("true");
    let d = test_support::TempDir::new("bundles-elsewhere");
    let elsewhere = d.path().join("rootfs");
    std::fs::rename(c.bundle.rootfs(), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, c.bundle.rootfs()).unwrap();
    refused(&c, "root.path");
}

#[test]
fn a_hook_path_that_is_a_directory_or_relative() {
    for (path, want) in [("/tmp", "is a directory"), ("bin/true", "must be absolute")] {
        let c = Ctr::with("true", |c| {
            c["hooks"] = json!({"prestart": [{"path": path}]})
        });
        refused(&c, want);
    }
}

#[test]
fn duplicate_namespaces() {
    let c = Ctr::with("true", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid"}))
    });
    refused(&c, "given twice");
}

#[test]
fn a_hostname_longer_than_the_kernel_takes() {
    let c = Ctr::with("true", |c| c["hostname"] = json!("h".repeat(65)));
    refused(&c, "hostname");
}
