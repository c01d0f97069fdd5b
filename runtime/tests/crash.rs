//! The runtime killed with SIGKILL in the middle of a command (`create`,
//! `start`, `delete`, `exec`): the next ordinary command (`delete --force`,
//! then a `create` of the same id) must succeed within seconds and leave
//! nothing behind: no state dir, no cgroup in any hierarchy, no mount, no
//! process. Named points (BERTH_RUNTIME_FAULT) make each case certain; a
//! delay sweep adds the points nobody named, and its assertions hold
//! whichever point it hit.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn verb(c: &Ctr, args: &[&str], fault: Option<&str>) -> Command {
    let mut cmd = c.cmd();
    cmd.args(args);
    if let Some(f) = fault {
        cmd.env("BERTH_RUNTIME_FAULT", f);
    }
    cmd
}

fn create_cmd(c: &Ctr, fault: Option<&str>) -> Command {
    let b = c.bundle.path().to_str().unwrap().to_string();
    verb(c, &["create", "--bundle", &b, &c.id], fault)
}

/// Runs a verb that the fault point must kill.
fn killed_at(c: &Ctr, cmd: Command, point: &str) {
    let o = bounded(cmd, Stdio::null(), 20, point);
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{point}: not killed there (status {:?}, stderr {})",
        o.status,
        stderr(&o)
    );
    let _ = c;
}

fn ok(c: &Ctr, args: &[&str]) {
    let o = bounded(verb(c, args, None), Stdio::null(), 20, &args.join(" "));
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}

/// Every cgroup hierarchy mounted on this host (v1 ones and cgroup2).
fn hierarchies() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fs = post.split(' ').next()?;
            let mp = pre.split(' ').nth(4)?;
            (fs == "cgroup" || fs == "cgroup2").then(|| PathBuf::from(mp))
        })
        .collect()
}

/// What is left of a container whose cgroup is `cg` (relative to each
/// hierarchy root) and whose processes carry `marker` in their cgroup path
/// or command line.
fn leftovers(c: &Ctr, cgs: &[&str], marker: &str) -> Vec<String> {
    let mut left = Vec::new();
    for e in std::fs::read_dir(c.root.path()).unwrap().flatten() {
        left.push(format!("in the state root: {:?}", e.file_name()));
    }
    for h in hierarchies() {
        for cg in cgs {
            let p = h.join(cg.trim_start_matches('/'));
            if p.exists() {
                left.push(format!("cgroup {}", p.display()));
            }
        }
    }
    let bundle = c.bundle.path().to_str().unwrap().to_string();
    for l in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        if l.contains(&bundle) || l.contains(&c.id) {
            left.push(format!("mount {l}"));
        }
    }
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = p.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        let cg = std::fs::read_to_string(p.path().join("cgroup")).unwrap_or_default();
        let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // A zombie not yet reaped by PID 1 (this host's reaps slowly), or
        // one still exiting (its memory, hence its command line, already
        // released), is gone for every purpose here.
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        if cmd.is_empty()
            || stat.is_empty()
            || stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'))
        {
            continue;
        }
        if cg.contains(&c.id) || cmd.contains(marker) {
            left.push(format!("process {name}: {cmd}"));
        }
    }
    left
}

/// `delete --force`, then `create` of the same id and its `delete --force`,
/// each within seconds, leaving nothing.
fn recovers(c: &Ctr, cgs: &[&str], marker: &str, what: &str) {
    ok(c, &["delete", "--force", &c.id]);
    assert_eq!(leftovers(c, cgs, marker), Vec::<String>::new(), "{what}");
    let o = bounded(create_cmd(c, None), Stdio::null(), 20, "create");
    assert!(o.status.success(), "{what}: create again: {}", stderr(&o));
    ok(c, &["delete", "--force", &c.id]);
    assert_eq!(
        leftovers(c, cgs, marker),
        Vec::<String>::new(),
        "{what}: after create again"
    );
}

/// Where a killed create leaves no container (no state.json yet).
const CREATE_POINTS: &[&str] = &[
    "create:dir-made",
    "create:cgroups-recorded",
    "create:cgroups-made",
    "create:init-cloned",
    "create:cgroups-joined",
    "create:config-sent",
    "create:init-ready",
];

#[test]
fn a_create_killed_at_each_point_is_undone_by_delete_force() {
    let c = Ctr::sh("sleep 1000");
    let cg = format!("/{}", c.id);
    // After its state.json the container exists: delete --force removes it.
    for p in CREATE_POINTS.iter().chain(&["create:state-written"]) {
        killed_at(&c, create_cmd(&c, Some(p)), p);
        recovers(&c, &[&cg], &c.id, p);
    }
}

#[test]
fn a_create_killed_at_each_point_is_undone_by_a_create_of_the_same_id() {
    let c = Ctr::sh("sleep 1000");
    let cg = format!("/{}", c.id);
    for p in CREATE_POINTS {
        killed_at(&c, create_cmd(&c, Some(p)), p);
        let o = bounded(create_cmd(&c, None), Stdio::null(), 20, "create");
        assert!(o.status.success(), "{p}: create again: {}", stderr(&o));
        assert_eq!(c.status(), "created", "{p}");
        ok(&c, &["delete", "--force", &c.id]);
        assert_eq!(leftovers(&c, &[&cg], &c.id), Vec::<String>::new(), "{p}");
    }
}

#[test]
fn a_create_killed_in_a_prestart_hook_leaves_neither_the_hook_nor_the_container() {
    // The hook would sleep for ever: its odd argument finds it in /proc.
    let marker = "4242.4243";
    let c = Ctr::with("sleep 1000", |v| {
        v["hooks"] = json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", marker]}]});
    });
    let cg = format!("/{}", c.id);
    killed_at(&c, create_cmd(&c, Some("hook:prestart")), "hook:prestart");
    // The next create must not wait for that hook either: the config now
    // has none.
    c.bundle
        .write_config(&test_support::default_config(&["sleep", "1000"]));
    recovers(&c, &[&cg], marker, "hook:prestart");
}

#[test]
fn a_killed_create_without_a_mount_namespace_leaves_no_mount() {
    let c = Ctr::with("sleep 1000", |v| {
        let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        // /dev/shm etc. need a mount namespace to make sense on the host.
        v["mounts"] = json!([{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]);
        v["linux"].as_object_mut().unwrap().remove("maskedPaths");
        v["linux"].as_object_mut().unwrap().remove("readonlyPaths");
    });
    let cg = format!("/{}", c.id);
    for p in ["create:init-ready", "create:state-written"] {
        killed_at(&c, create_cmd(&c, Some(p)), p);
        recovers(&c, &[&cg], &c.id, p);
    }
}

#[test]
fn a_killed_create_of_a_nested_cgroups_path_leaves_no_intermediate_cgroup() {
    let top = test_support::unique_id("berth-nest");
    let path = format!("/{top}/x/y");
    let c = Ctr::with("sleep 1000", |v| v["linux"]["cgroupsPath"] = json!(path));
    let all = [path.as_str(), &format!("/{top}/x"), &format!("/{top}")];
    for p in ["create:cgroups-made", "create:init-ready"] {
        killed_at(&c, create_cmd(&c, Some(p)), p);
        recovers(&c, &all, &c.id, p);
    }
}

#[test]
fn delete_removes_the_intermediate_cgroups_it_made_and_only_those() {
    let top = test_support::unique_id("berth-nest");
    let path = format!("/{top}/x/y");
    let c = Ctr::with("sleep 1000", |v| v["linux"]["cgroupsPath"] = json!(path));
    let all = [path.as_str(), &format!("/{top}/x"), &format!("/{top}")];
    let o = c.create();
    assert!(o.status.success(), "{}", stderr(&o));
    ok(&c, &["delete", "--force", &c.id]);
    assert_eq!(leftovers(&c, &all, &c.id), Vec::<String>::new());

    // A parent that existed before is the host's: it stays.
    let made: Vec<PathBuf> = hierarchies().iter().map(|h| h.join(&top)).collect();
    for d in &made {
        std::fs::create_dir(d).unwrap();
    }
    let o = c.create();
    let res = std::panic::catch_unwind(|| {
        assert!(o.status.success(), "{}", stderr(&o));
        ok(&c, &["delete", "--force", &c.id]);
        assert_eq!(leftovers(&c, &all[..2], &c.id), Vec::<String>::new());
        for d in &made {
            assert!(d.exists(), "{} was removed", d.display());
        }
    });
    for d in &made {
        let _ = std::fs::remove_dir(d);
    }
    res.unwrap();
}

#[test]
fn a_start_killed_at_each_point_is_undone_by_delete_force() {
    let c = Ctr::sh("sleep 1000");
    let cg = format!("/{}", c.id);
    for p in ["start:fifo-opened", "start:byte-read", "start:fifo-removed"] {
        let o = c.create();
        assert!(o.status.success(), "{}", stderr(&o));
        killed_at(&c, verb(&c, &["start", &c.id], Some(p)), p);
        // Another start must not wait for ever on a fifo nobody will open.
        let o = bounded(
            verb(&c, &["start", &c.id], None),
            Stdio::null(),
            10,
            "start after a killed start",
        );
        let _ = o;
        recovers(&c, &[&cg], &c.id, p);
    }
    // A poststart hook that would run for ever.
    let marker = "4242.4244";
    let c = Ctr::with("sleep 1000", |v| {
        v["hooks"] = json!({"poststart": [{"path": "/bin/sleep", "args": ["sleep", marker]}]});
    });
    let cg = format!("/{}", c.id);
    let o = c.create();
    assert!(o.status.success(), "{}", stderr(&o));
    killed_at(
        &c,
        verb(&c, &["start", &c.id], Some("hook:poststart")),
        "hook:poststart",
    );
    c.bundle
        .write_config(&test_support::default_config(&["sleep", "1000"]));
    recovers(&c, &[&cg], marker, "hook:poststart");
}

#[test]
fn a_delete_killed_at_each_point_is_finished_by_the_next() {
    let c = Ctr::sh("sleep 1000");
    let cg = format!("/{}", c.id);
    for p in [
        "delete:killed",
        "delete:cgroups-removed",
        "delete:dir-removed",
    ] {
        let o = c.create();
        assert!(o.status.success(), "{}", stderr(&o));
        ok(&c, &["start", &c.id]);
        killed_at(&c, verb(&c, &["delete", "--force", &c.id], Some(p)), p);
        recovers(&c, &[&cg], &c.id, p);
    }
}

#[test]
fn an_exec_killed_at_each_point_is_undone_by_delete_force() {
    let c = Ctr::sh("sleep 1000");
    let cg = format!("/{}", c.id);
    for p in ["exec:forked", "exec:config-sent", "exec:process-started"] {
        let o = c.create();
        assert!(o.status.success(), "{}", stderr(&o));
        ok(&c, &["start", &c.id]);
        killed_at(
            &c,
            verb(&c, &["exec", "-d", &c.id, "sleep", "999"], Some(p)),
            p,
        );
        recovers(&c, &[&cg], &c.id, p);
    }
}

#[test]
fn a_create_killed_after_any_delay_is_undone_by_delete_force() {
    let c = Ctr::sh("sleep 1000");
    let cg = format!("/{}", c.id);
    for ms in 0..=12u64 {
        let mut cmd = create_cmd(&c, None);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        recovers(&c, &[&cg], &c.id, &format!("killed after {ms} ms"));
    }
}

#[test]
fn a_create_killed_before_its_user_namespace_is_mapped_leaves_no_lock_held() {
    // The init waits for the maps before its exec: a child stuck there must
    // not keep the state dir's lock (delete would wait on it for ever).
    let c = Ctr::with("sleep 1000", |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let m = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        v["linux"]["uidMappings"] = m.clone();
        v["linux"]["gidMappings"] = m;
    });
    let cg = format!("/{}", c.id);
    for p in ["create:init-cloned", "create:cgroups-joined"] {
        killed_at(&c, create_cmd(&c, Some(p)), p);
        recovers(&c, &[&cg], &c.id, p);
    }
}

#[test]
fn a_killed_create_of_a_relative_cgroups_path_is_undone_from_its_record() {
    // A relative path is taken below the runtime's own cgroup: only the
    // record written before the first mkdir says where that was.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrl, path) = (p.next()?, p.next()?, p.next()?);
            ctrl.split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        })
        .or_else(|| {
            own.lines()
                .find_map(|l| l.strip_prefix("0::").map(String::from))
        })
        .unwrap();
    let rel = test_support::unique_id("berth-rel");
    let c = Ctr::with("sleep 1000", |v| v["linux"]["cgroupsPath"] = json!(rel));
    let full = format!("{}/{rel}", own.trim_end_matches('/'));
    for p in ["create:cgroups-made", "create:init-ready"] {
        killed_at(&c, create_cmd(&c, Some(p)), p);
        recovers(&c, &[&full], &c.id, p);
    }
}
