//! runtime.md: state, lifecycle, and the errors of each operation.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::json;

use crate::container::Ct;
use crate::harness::{case, Case, Ctx};
use crate::schema;

pub fn cases() -> Vec<Case> {
    vec![
        case("lifecycle/state-created", "runtime.md#state", state_created),
        case(
            "lifecycle/create-does-not-run-process",
            "runtime.md#create",
            create_does_not_run,
        ),
        case("lifecycle/state-running", "runtime.md#state", state_running),
        case("lifecycle/state-stopped", "runtime.md#state", state_stopped),
        case(
            "lifecycle/state-unknown-id",
            "runtime.md#query-state",
            state_unknown,
        ),
        case(
            "lifecycle/state-annotations",
            "runtime.md#state",
            state_annotations,
        ),
        case(
            "lifecycle/create-duplicate-id",
            "runtime.md#create",
            create_duplicate,
        ),
        case(
            "lifecycle/create-missing-bundle",
            "runtime.md#create",
            create_missing_bundle,
        ),
        case(
            "lifecycle/create-missing-root",
            "config.md#root",
            create_unapplicable,
        ),
        case(
            "lifecycle/config-change-after-create",
            "runtime.md#lifecycle",
            config_change_after_create,
        ),
        case("lifecycle/start-running", "runtime.md#start", start_running),
        case("lifecycle/start-stopped", "runtime.md#start", start_stopped),
        case(
            "lifecycle/start-without-process",
            "runtime.md#start",
            start_without_process,
        ),
        case("lifecycle/kill-created", "runtime.md#kill", kill_created),
        case(
            "lifecycle/kill-signal-name",
            "runtime.md#kill",
            kill_signal_name,
        ),
        case(
            "lifecycle/kill-signal-number",
            "runtime.md#kill",
            kill_signal_number,
        ),
        case("lifecycle/kill-stopped", "runtime.md#kill", kill_stopped),
        case(
            "lifecycle/delete-created",
            "runtime.md#delete",
            delete_created,
        )
        .deviates("runc 1.1 and crun 1.8 delete a created container, and engines rely on it"),
        case(
            "lifecycle/delete-running",
            "runtime.md#delete",
            delete_running,
        ),
        case(
            "lifecycle/delete-stopped",
            "runtime.md#delete",
            delete_stopped,
        ),
    ]
}

fn state_created(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.create()?;
    let st = ct.state()?;
    schema::validate(&st, "state-schema.json")
        .map_err(|e| anyhow::anyhow!("state {st} violates state-schema.json: {e}"))?;
    ensure!(
        st["id"] == json!(ct.id),
        "state id {} != {}",
        st["id"],
        ct.id
    );
    ensure!(
        st["status"] == "created",
        "status {} after create",
        st["status"]
    );
    let pid = st["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "pid {} is required (created, Linux)", st["pid"]);
    ensure!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "state pid {pid} does not exist"
    );
    let bundle = st["bundle"].as_str().unwrap_or_default();
    ensure!(
        Path::new(bundle).is_absolute(),
        "bundle {bundle:?} is not absolute"
    );
    ensure!(
        std::fs::canonicalize(bundle).ok() == std::fs::canonicalize(ct.bundle()).ok(),
        "bundle {bundle:?} is not {}",
        ct.bundle().display()
    );
    Ok(())
}

fn create_does_not_run(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["touch=/out/ran", "sleep"])?;
    ct.create()?;
    std::thread::sleep(Duration::from_millis(300));
    ensure!(
        !ct.out().join("ran").exists(),
        "process.args ran during create"
    );
    ct.start()?;
    let marker = ct.out().join("ran");
    for _ in 0..200 {
        if marker.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    anyhow::bail!("process did not run after start")
}

fn state_running(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.create()?;
    let pid = ct.pid()?;
    ct.start()?;
    let st = ct.state()?;
    schema::validate(&st, "state-schema.json")
        .map_err(|e| anyhow::anyhow!("state {st} violates state-schema.json: {e}"))?;
    ensure!(
        st["status"] == "running",
        "status {} after start",
        st["status"]
    );
    ensure!(
        st["pid"] == json!(pid),
        "pid changed from {pid} to {} on start",
        st["pid"]
    );
    Ok(())
}

fn state_stopped(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.create()?;
    ct.start()?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    let st = ct.state()?;
    schema::validate(&st, "state-schema.json")
        .map_err(|e| anyhow::anyhow!("state {st} violates state-schema.json: {e}"))?;
    Ok(())
}

fn state_unknown(ctx: &Ctx) -> Result<()> {
    let ct = Ct::new(ctx, &["exit=0"])?;
    let c = ct.try_state()?;
    ensure!(
        !c.ok,
        "state of a container that does not exist succeeded: {}",
        c.describe()
    );
    Ok(())
}

fn state_annotations(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["annotations"] = json!({"org.example.berth": "spec", "other": "value"});
    ct.create()?;
    let st = ct.state()?;
    ensure!(
        st["annotations"] == ct.config["annotations"],
        "annotations in state {} != config {}",
        st["annotations"],
        ct.config["annotations"]
    );
    Ok(())
}

fn create_duplicate(ctx: &Ctx) -> Result<()> {
    let mut a = Ct::new(ctx, &["sleep"])?;
    a.create()?;
    let pid = a.pid()?;
    let mut b = Ct::new(ctx, &["sleep"])?;
    // Same id, same state dir: only the bundle differs.
    let b_bundle = b.bundle();
    b.config["root"]["path"] = json!(b_bundle.join("rootfs"));
    b.write_config()?;
    let c = a.call(&["create", "--bundle", b_bundle.to_str().unwrap(), &a.id])?;
    ensure!(!c.ok, "second create with id {} succeeded", a.id);
    ensure!(
        a.status()? == "created" && a.pid()? == pid,
        "first container changed after the failed create"
    );
    Ok(())
}

fn create_missing_bundle(ctx: &Ctx) -> Result<()> {
    let ct = Ct::new(ctx, &["exit=0"])?;
    let c = ct.call(&["create", "--bundle", "/nonexistent/berth-bundle", &ct.id])?;
    ensure!(!c.ok, "create with a missing bundle succeeded");
    ensure!(
        !ct.try_state()?.ok,
        "a failed create left a container behind"
    );
    Ok(())
}

fn create_unapplicable(ctx: &Ctx) -> Result<()> {
    // root.path must name an existing directory: nothing can be created.
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["root"]["path"] = json!("does-not-exist");
    let c = ct.try_create()?;
    ensure!(!c.ok, "create with a missing root.path succeeded");
    ensure!(
        !ct.try_state()?.ok,
        "a failed create left a container behind"
    );
    ensure!(
        !ct.host_cgroup("memory").exists(),
        "a failed create left its cgroup behind"
    );
    Ok(())
}

fn config_change_after_create(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["process"]["env"] = json!(["BERTH=before"]);
    ct.create()?;
    ct.config["process"]["env"] = json!(["BERTH=after"]);
    ct.config["hostname"] = json!("changed");
    ct.write_config()?;
    ct.start()?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    let r = ct.report()?;
    ensure!(
        r["env"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("BERTH=before"))),
        "env after config change: {}",
        r["env"]
    );
    ensure!(
        r["hostname"] == "berth",
        "hostname after config change: {}",
        r["hostname"]
    );
    Ok(())
}

fn start_running(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["touch=/out/started", "sleep"])?;
    ct.create()?;
    ct.start()?;
    let pid = ct.pid()?;
    let c = ct.call(&["start", &ct.id])?;
    ensure!(!c.ok, "start of a running container succeeded");
    ensure!(
        ct.status()? == "running" && ct.pid()? == pid,
        "running container changed by the failed start"
    );
    Ok(())
}

fn start_stopped(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["write=/out/count", "exit=0"])?;
    ct.create()?;
    ct.start()?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    let c = ct.call(&["start", &ct.id])?;
    ensure!(!c.ok, "start of a stopped container succeeded");
    ensure!(
        ct.status()? == "stopped",
        "stopped container changed by the failed start"
    );
    std::thread::sleep(Duration::from_millis(200));
    let runs = std::fs::read_to_string(ct.out().join("count"))?
        .lines()
        .count();
    ensure!(runs == 1, "process ran {runs} times");
    Ok(())
}

fn start_without_process(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config.as_object_mut().unwrap().remove("process");
    // Creating is allowed without process; starting is not.
    let c = ct.try_create()?;
    if !c.ok {
        return Ok(());
    }
    let s = ct.call(&["start", &ct.id])?;
    ensure!(!s.ok, "start without process succeeded");
    Ok(())
}

fn kill_created(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["touch=/out/ran", "sleep"])?;
    ct.create()?;
    ct.kill("KILL")?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    ensure!(
        !ct.out().join("ran").exists(),
        "process.args ran although the container was killed before start"
    );
    Ok(())
}

fn kill_with(ctx: &Ctx, sig: &str) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sigwait=/out/ready"])?;
    ct.create()?;
    ct.start()?;
    let ready = ct.out().join("ready");
    for _ in 0..200 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    ct.kill(sig)?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    let got = ct.record("signal")?;
    ensure!(
        got == json!(libc::SIGUSR1),
        "container got signal {got}, sent {sig} (SIGUSR1)"
    );
    Ok(())
}

fn kill_signal_name(ctx: &Ctx) -> Result<()> {
    kill_with(ctx, "USR1")
}

fn kill_signal_number(ctx: &Ctx) -> Result<()> {
    // Engines (podman, containerd's shim) send numbers.
    kill_with(ctx, &libc::SIGUSR1.to_string())
}

fn kill_stopped(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.create()?;
    ct.start()?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    let c = ct.call(&["kill", &ct.id, "TERM"])?;
    ensure!(!c.ok, "kill of a stopped container succeeded");
    ensure!(
        ct.status()? == "stopped",
        "stopped container changed by kill"
    );
    Ok(())
}

fn delete_created(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.create()?;
    let pid = ct.pid()?;
    let c = ct.call(&["delete", &ct.id])?;
    ensure!(!c.ok, "delete of a created container succeeded");
    ensure!(
        ct.status()? == "created" && ct.pid()? == pid,
        "created container changed by the failed delete"
    );
    Ok(())
}

fn delete_running(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.create()?;
    ct.start()?;
    let pid = ct.pid()?;
    let c = ct.call(&["delete", &ct.id])?;
    ensure!(!c.ok, "delete of a running container succeeded");
    ensure!(
        ct.status()? == "running" && ct.pid()? == pid,
        "running container changed by the failed delete"
    );
    Ok(())
}

fn delete_stopped(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.create()?;
    ensure!(
        ct.host_cgroup("memory").exists(),
        "no cgroup at {} after create",
        ct.host_cgroup("memory").display()
    );
    ct.start()?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    ct.delete()?;
    ensure!(!ct.try_state()?.ok, "state still answers after delete");
    for c in ["memory", "pids", "cpu", "devices", "freezer"] {
        let p = ct.host_cgroup(c);
        ensure!(!p.exists(), "cgroup {} survived delete", p.display());
    }
    // The id may be used again.
    ct.create()?;
    ensure!(
        ct.status()? == "created",
        "re-create with a deleted id failed"
    );
    Ok(())
}
