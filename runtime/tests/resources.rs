//! Live cgroup work: `update`, `events --stats`, OOM kills; and the create
//! flags --preserve-fds and --no-pivot.

mod common;
use common::*;
use serde_json::json;
use std::os::fd::AsRawFd;

fn started(c: &Ctr) {
    let o = c.create();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(c.out(&["start", &c.id]).status.success());
}

fn stats(c: &Ctr) -> serde_json::Value {
    let o = c.out(&["events", "--stats", &c.id]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn memory_limit(c: &Ctr) -> String {
    // What the container itself sees, whichever cgroup version the host has.
    let o = c.out(&["exec", &c.id, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn update_changes_a_live_limit() {
    let c = Ctr::with("sleep 60", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864})
    });
    started(&c);
    assert_eq!(memory_limit(&c), "67108864");
    let o = c.out(&["update", "--memory", "100m", "--pids-limit", "33", &c.id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(memory_limit(&c), "104857600");
    assert_eq!(stats(&c)["data"]["pids"]["limit"], 33);
    // resources JSON on stdin, as containerd sends it
    let mut cmd = c.cmd();
    cmd.args(["update", "--resources", "-", &c.id])
        .stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory": {"limit": 50331648}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(memory_limit(&c), "50331648");
    // bad input changes nothing
    assert!(!c
        .out(&["update", "--memory", "lots", &c.id])
        .status
        .success());
    assert_eq!(memory_limit(&c), "50331648");
}

#[test]
fn zeros_as_docker_sends_them_leave_the_defaults() {
    // dockerd 20.10 fills these in for every container that sets no limit.
    let c = Ctr::with(
        "cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight",
        |c| {
            c["linux"]["resources"]["cpu"] = json!({"shares": 0, "quota": 0, "period": 0});
            c["linux"]["resources"]["blockIO"] = json!({"weight": 0, "leafWeight": 0});
            c["linux"]["resources"]["memory"] =
                json!({"limit": 0, "reservation": 0, "disableOOMKiller": false});
        },
    );
    let out = c.run_ok();
    assert!(
        matches!(out.trim(), "1024" | "100"),
        "cpu shares/weight not the default: {out}"
    );
}

#[test]
fn stats_report_usage_and_oom_kills() {
    // tail buffers its whole (newline-free) input: 64 MiB under a 16 MiB limit.
    let c = Ctr::with(
        "head -c 67108864 /dev/zero | tail > /dev/null; echo survived; sleep 60",
        |c| {
            c["linux"]["resources"]["memory"] = json!({"limit": 16777216, "swap": 16777216});
        },
    );
    started(&c);
    let mut s = stats(&c);
    for _ in 0..100 {
        if s["data"]["memory"]["oom_kill"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        s = stats(&c);
    }
    assert!(
        s["data"]["memory"]["oom_kill"].as_u64().unwrap() >= 1,
        "no OOM kill reported: {s}"
    );
    assert!(s["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(s["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    assert_eq!(s["type"], "stats");
}

#[test]
fn preserve_fds_pass_exactly_the_asked_fds() {
    use std::os::unix::process::CommandExt;
    let c = Ctr::sh("cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let f = std::fs::File::open(c.bundle.path().join("config.json")).unwrap();
    let fd = f.as_raw_fd();
    let mut cmd = c.cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(c.bundle.path())
        .arg(&c.id);
    // Only in the child: fd 3 of the test process belongs to someone else.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly.
            if libc::dup2(fd, 3) == 3 && libc::fcntl(3, libc::F_SETFD, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let o = c.output_via_files(cmd);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("\"ociVersion\""), "fd 3 is the file: {out}");
    assert!(
        out.trim_end().ends_with("0 1 2 3 4"),
        "0-2, the preserved 3, and ls's own: {out}"
    );
}

#[test]
fn no_pivot_uses_chroot() {
    let c = Ctr::sh("cat /etc/passwd | head -1; ls /proc/self/root/ >/dev/null && echo ok");
    let mut cmd = c.cmd();
    cmd.args(["run", "--no-pivot", "--bundle"])
        .arg(c.bundle.path())
        .arg(&c.id);
    let o = c.output_via_files(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "root:x:0:0:root:/root:/bin/sh\nok\n"
    );
}
