//! `--restart`: the shim runs `berth internal-exited` once the exit is
//! recorded, and that applies the policy. Checked by what the container's
//! runs leave in its log, by RestartCount, and by what is left after rm.

mod common;

use common::containers::{wait_until, Env};
use std::time::Duration;

fn logged_runs(e: &Env, name: &str) -> usize {
    e.ok(&["logs", name])
        .lines()
        .filter(|l| l.starts_with("run"))
        .count()
}

#[test]
fn on_failure_retries_up_to_its_bound_and_not_after_success() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "fails",
        "--restart",
        "on-failure:2",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    wait_until(20, "two restarts", || {
        e.inspect("fails", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
            && logged_runs(&e, "fails") == 3
    });
    // The bound holds: no fourth run.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(logged_runs(&e, "fails"), 3);
    assert_eq!(e.inspect("fails", "{{.State.ExitCode}}"), "3");
    assert_eq!(
        e.inspect("fails", "{{json .HostConfig.RestartPolicy}}"),
        r#"{"Name":"on-failure","MaximumRetryCount":2}"#
    );

    e.ok(&[
        "run",
        "-d",
        "--name",
        "succeeds",
        "--restart",
        "on-failure",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo run",
    ]);
    wait_until(10, "the exit", || {
        e.inspect("succeeds", "{{.State.Status}}") == "exited"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(e.inspect("succeeds", "{{.RestartCount}}"), "0");
    assert_eq!(logged_runs(&e, "succeeds"), 1);
}

#[test]
fn always_restarts_on_the_bridge_until_stopped_by_hand() {
    let e = Env::new();
    // Each run checks that it got its network back.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "ip -4 addr show eth0 | grep -q inet && echo run-net; sleep 0.2",
    ]);
    wait_until(20, "three runs", || logged_runs(&e, "loop") >= 3);
    assert!(e.ok(&["logs", "loop"]).lines().all(|l| l == "run-net"));
    // The backoff has grown: ps says so while it waits.
    wait_until(20, "a Restarting status", || {
        e.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=loop",
            "--format",
            "{{.Status}} {{.State}}",
        ])
        .starts_with("Restarting (0) ")
    });
    e.ok(&["stop", "-t", "1", "loop"]);
    let n = logged_runs(&e, "loop");
    let count = e.inspect("loop", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.inspect("loop", "{{.State.Status}}"), "exited");
    assert_eq!(logged_runs(&e, "loop"), n, "stopped by hand: not restarted");
    assert_eq!(e.inspect("loop", "{{.RestartCount}}"), count);
    // A start by hand counts from 0 again, and the policy is back. The
    // count is read at once (its first restart is 0.3 s away), and the
    // restart seen as a count of at least 1: on a loaded machine two polls
    // can straddle the short window where it is exactly 1.
    e.ok(&["start", "loop"]);
    let restarts = |e: &Env| -> u32 {
        e.inspect("loop", "{{.RestartCount}}")
            .parse()
            .expect("RestartCount is a number")
    };
    let first = restarts(&e);
    let before: u32 = count.parse().expect("RestartCount is a number");
    assert!(
        first < before,
        "start by hand resets the count: {first} after {before}"
    );
    wait_until(20, "a restart after start", || restarts(&e) >= 1);
    // kill is by hand too.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "--restart",
        "always",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 30",
    ]);
    wait_until(10, "its first run", || logged_runs(&e, "long") == 1);
    e.ok(&["kill", "long"]);
    wait_until(10, "the kill", || !e.running("long"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(logged_runs(&e, "long"), 1, "killed by hand: not restarted");
    assert_eq!(e.inspect("long", "{{.State.Status}}"), "exited");
    // rm -f in the middle of it all leaves nothing behind.
    e.ok(&["start", "loop"]);
    let id = e.id_of("loop");
    std::thread::sleep(Duration::from_millis(700));
    let long = e.id_of("long");
    e.ok(&["rm", "-f", "loop", "long"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(e.container_dirs(), 0);
    e.assert_nothing_left(&[id, long]);
}

#[test]
fn update_sets_a_policy_on_a_running_container() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "later",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 1",
    ]);
    e.ok(&["update", "--restart", "always", "later"]);
    wait_until(20, "a restart by the new policy", || {
        logged_runs(&e, "later") >= 2
    });
    assert_eq!(
        e.inspect("later", "{{.HostConfig.RestartPolicy.Name}}"),
        "always"
    );
    e.ok(&["update", "--restart", "no", "later"]);
    wait_until(10, "the last run's exit", || !e.running("later"));
    let n = logged_runs(&e, "later");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(logged_runs(&e, "later"), n, "policy no: not restarted");
}

#[test]
fn bad_policies() {
    let e = Env::new();
    for (p, want) in [
        ("sometimes", "expected no, always"),
        ("always:3", "only on-failure"),
        ("on-failure:x", "retry count"),
    ] {
        e.fails(&["run", "--restart", p, "busybox", "true"], want);
    }
    e.fails(
        &["run", "--rm", "--restart", "always", "busybox", "true"],
        "conflicts with --rm",
    );
    assert_eq!(e.container_dirs(), 0);
}
