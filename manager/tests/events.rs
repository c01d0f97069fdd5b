//! `berth events`: what each command did, read back from the event log,
//! past (--since/--until) and live.

mod common;

use common::containers::{wait_until, Env};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn past_events_in_order_with_filters() {
    let e = Env::new();
    let t0 = now().to_string();
    let o = e.berth(&[
        "run",
        "--name",
        "a",
        "-l",
        "app=x",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    e.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "b",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    // A detached --rm container is removed once it exits, without a ps.
    wait_until(10, "b removed", || e.container_dirs() == 1);
    wait_until(10, "a's exit recorded", || {
        e.ok(&[
            "events",
            "--since",
            &t0,
            "--until",
            &now().to_string(),
            "--filter",
            "event=die",
        ])
        .lines()
        .count()
            == 2
    });
    e.ok(&["rm", "a"]);
    e.ok(&["volume", "create", "v"]);
    e.ok(&["volume", "rm", "v"]);
    e.ok(&["network", "create", "--subnet", "10.233.1.0/24", "n"]);
    e.ok(&["network", "rm", "n"]);
    e.ok(&["tag", "busybox", "busybox:two"]);
    e.ok(&["rmi", "busybox:two"]);
    let until = (now() + 1).to_string();
    let out = e.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("{l:?} not in {out}"))
    };
    for name in ["a", "b"] {
        let order: Vec<usize> = ["create", "start", "die", "destroy"]
            .iter()
            .map(|act| pos(&format!("container {act} {name}")))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{name}: {out}");
    }
    assert!(pos("volume create <no value>") < pos("volume destroy <no value>"));
    assert!(pos("network create n") < pos("network destroy n"));
    pos("image tag docker.io/library/busybox:two");
    pos("image untag docker.io/library/busybox:two");
    // Filters: keys AND, values OR; the exit code and labels are attributes.
    let out = e.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &until,
        "--filter",
        "container=a",
        "--filter",
        "event=die",
        "--filter",
        "event=create",
        "--format",
        "{{.Action}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.app}}",
    ]);
    assert_eq!(out, "create <no value> x\ndie 3 x\n");
    let json = e.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(v["Type"], "volume");
    assert_eq!(v["Actor"]["ID"], "v");
    e.fails(&["events", "--filter", "colour=red"], "--filter");
    e.fails(&["events", "--since", "yesterday"], "since");
}

#[test]
fn live_events_while_following() {
    let e = Env::new();
    let mut child = e
        .cmd(&[
            "events",
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // The follower may still be starting: each run is one more chance.
    let seen = std::thread::spawn(move || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line
    });
    for i in 0..20 {
        e.ok(&[
            "run",
            "--rm",
            "--name",
            &format!("live{i}"),
            "--network",
            "none",
            "busybox",
            "true",
        ]);
        if seen.is_finished() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let line = seen.join().unwrap();
    assert!(line.starts_with("live"), "{line:?}");
    let _ = child.kill();
    let _ = child.wait();
}
