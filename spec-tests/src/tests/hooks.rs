//! config.md#posix-platform-hooks and the hook steps of runtime.md#lifecycle.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, Case, Ctx};
use crate::schema;
use crate::tests::host;

pub fn cases() -> Vec<Case> {
    vec![
        case("hooks/order", "config.md#posix-platform-hooks", order),
        case(
            "hooks/poststart-after-start",
            "config.md#poststart",
            poststart_after_start,
        )
        .deviates("runc 1.1 runs poststart hooks during create"),
        case(
            "hooks/state-on-stdin",
            "config.md#posix-platform-hooks",
            state_on_stdin,
        ),
        case(
            "hooks/prestart-status-created",
            "runtime.md#lifecycle",
            prestart_status,
        )
        .deviates("runc 1.1 passes status creating to prestart hooks"),
        case(
            "hooks/args-and-env",
            "config.md#posix-platform-hooks",
            args_and_env,
        ),
        case("hooks/namespaces", "config.md#summary", namespaces),
        case(
            "hooks/relative-path-refused",
            "config.md#posix-platform-hooks",
            relative_path,
        )
        .deviates("crun 1.8 runs a hook named by a relative path"),
        case("hooks/prestart-fails", "runtime.md#lifecycle", |c| {
            create_hook_fails(c, "prestart")
        }),
        case("hooks/createRuntime-fails", "runtime.md#lifecycle", |c| {
            create_hook_fails(c, "createRuntime")
        }),
        case("hooks/createContainer-fails", "runtime.md#lifecycle", |c| {
            create_hook_fails(c, "createContainer")
        }),
        case(
            "hooks/startContainer-fails",
            "runtime.md#lifecycle",
            start_container_fails,
        ),
        case(
            "hooks/poststart-fails",
            "runtime.md#lifecycle",
            poststart_fails,
        )
        .deviates(
            "runc 1.1 runs poststart hooks during create; crun 1.8 leaves the container running",
        ),
        case(
            "hooks/poststop-fails",
            "runtime.md#lifecycle",
            poststop_fails,
        )
        .deviates("runc 1.1 skips the poststop hooks after a failing one"),
        case("hooks/timeout", "config.md#posix-platform-hooks", timeout),
    ]
}

/// A hook running `script` with the host's /bin/sh. It drains the state
/// from stdin first, as a hook should: a runtime may fail on a hook that
/// exits without reading it (EPIPE).
fn host_hook(script: String) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > /dev/null; {script}")]})
}

/// startContainer hooks resolve in the container: busybox's sh.
fn ct_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > /dev/null; {script}")]})
}

fn log_lines(ct: &Ct) -> Vec<String> {
    fs::read_to_string(ct.out().join("hooks.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn order(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    let log = ct.out().join("hooks.log");
    let log = log.display();
    let mut hooks = serde_json::Map::new();
    // poststart has its own test (runc 1.1 runs it too early).
    for name in ["prestart", "createRuntime", "createContainer", "poststop"] {
        // Two hooks per kind: they must also run in their listed order.
        hooks.insert(
            name.into(),
            json!([
                host_hook(format!("echo {name}-1 >> {log}")),
                host_hook(format!("echo {name}-2 >> {log}"))
            ]),
        );
    }
    hooks.insert(
        "startContainer".into(),
        json!([
            ct_hook("echo startContainer-1 >> /out/hooks.log"),
            ct_hook("echo startContainer-2 >> /out/hooks.log")
        ]),
    );
    ct.config["hooks"] = Value::Object(hooks);
    let want = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .flat_map(|n| [format!("{n}-1"), format!("{n}-2")])
            .collect()
    };
    ct.create()?;
    let after_create = want(&["prestart", "createRuntime", "createContainer"]);
    ensure!(
        log_lines(&ct) == after_create,
        "after create: {:?}, want {after_create:?}",
        log_lines(&ct)
    );
    ct.start()?;
    let after_start = want(&[
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
    ]);
    // startContainer runs in the container before its process: it may
    // finish just after start returns.
    let deadline = Instant::now() + Duration::from_secs(5);
    while log_lines(&ct) != after_start && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    ensure!(
        log_lines(&ct) == after_start,
        "after start: {:?}, want {after_start:?}",
        log_lines(&ct)
    );
    ct.kill("KILL")?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    ensure!(
        log_lines(&ct) == after_start,
        "hooks ran between start and delete: {:?}",
        log_lines(&ct)
    );
    ct.delete()?;
    let all = want(&[
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststop",
    ]);
    ensure!(
        log_lines(&ct) == all,
        "after delete: {:?}, want {all:?}",
        log_lines(&ct)
    );
    Ok(())
}

fn poststart_after_start(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    let f = ct.out().join("poststart-cmdline");
    // The hook looks at what the container process is running by now.
    let script = format!(
        "s=$(cat); pid=$(echo \"$s\" | sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); tr '\\0' ' ' < /proc/$pid/cmdline > {}",
        f.display()
    );
    ct.config["hooks"] = json!({"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
    ct.create()?;
    ensure!(!f.exists(), "poststart hook ran during create");
    ct.start()?;
    ensure!(f.exists(), "poststart hook had not run when start returned");
    let cmdline = fs::read_to_string(&f)?;
    ensure!(
        cmdline.contains("berth-testhelper sleep"),
        "poststart hook ran before the user process was executed: container pid runs {cmdline:?}"
    );
    Ok(())
}

fn state_on_stdin(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    let out = ct.out();
    let mut hooks = serde_json::Map::new();
    for name in ["createRuntime", "poststart", "poststop"] {
        let f = out.join(format!("state-{name}.json"));
        hooks.insert(
            name.into(),
            json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", f.display())]}]),
        );
    }
    ct.config["hooks"] = Value::Object(hooks);
    ct.create()?;
    let pid = ct.pid()?;
    ct.start()?;
    ct.kill("KILL")?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    ct.delete()?;
    for name in ["createRuntime", "poststart", "poststop"] {
        let text = fs::read_to_string(out.join(format!("state-{name}.json")))
            .map_err(|e| anyhow!("{name} hook left no state: {e}"))?;
        let st: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("{name} hook got no JSON state on stdin ({e}): {text:?}"))?;
        schema::validate(&st, "state-schema.json")
            .map_err(|e| anyhow!("{name} state {st} violates state-schema.json: {e}"))?;
        ensure!(st["id"] == json!(ct.id), "{name} state has id {}", st["id"]);
        let b = st["bundle"].as_str().unwrap_or_default();
        ensure!(
            fs::canonicalize(b).ok() == fs::canonicalize(ct.bundle()).ok(),
            "{name} state has bundle {b:?}"
        );
        if name != "poststop" {
            ensure!(
                st["pid"] == json!(pid),
                "{name} state has pid {}, container pid is {pid}",
                st["pid"]
            );
        }
    }
    Ok(())
}

/// prestart hooks run at lifecycle step 3, after the environment was made
/// (step 2, the only `creating` one): their state says `created`.
fn prestart_status(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    let f = ct.out().join("state-prestart.json");
    ct.config["hooks"] = json!({"prestart": [
        {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", f.display())]}
    ]});
    ct.run()?;
    let text = fs::read_to_string(&f).map_err(|e| anyhow!("prestart hook left no state: {e}"))?;
    let st: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("prestart hook got no JSON state ({e}): {text:?}"))?;
    ensure!(
        st["status"] == "created",
        "prestart hook state has status {}, want created",
        st["status"]
    );
    Ok(())
}

fn args_and_env(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    let f = ct.out().join("hook-argv");
    let g = ct.out().join("hook-env");
    let script = format!(
        "cat > /dev/null; cat /proc/$$/cmdline > {}; echo \"$BERTH_HOOK\" > {}",
        f.display(),
        g.display()
    );
    ct.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["berth-hook", "-c", script, "zero"],
        "env": ["BERTH_HOOK=yes", "PATH=/usr/bin:/bin"],
    }]});
    ct.run()?;
    let argv: Vec<String> = fs::read(&f)?
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    ensure!(
        argv.first().map(String::as_str) == Some("berth-hook")
            && argv.get(3).map(String::as_str) == Some("zero"),
        "hook argv {argv:?}, want [\"berth-hook\", \"-c\", <script>, \"zero\"]"
    );
    ensure!(
        host::read_trim(&g)? == "yes",
        "hook env lacks BERTH_HOOK=yes"
    );
    Ok(())
}

fn namespaces(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    let out = ct.out();
    let probe = |name: &str, dir: &str| {
        format!("readlink /proc/self/ns/mnt > {dir}/mnt-{name}; readlink /proc/self/ns/net > {dir}/net-{name}")
    };
    ct.config["hooks"] = json!({
        "prestart": [host_hook(probe("prestart", &out.display().to_string()))],
        "createRuntime": [host_hook(probe("createRuntime", &out.display().to_string()))],
        "createContainer": [host_hook(probe("createContainer", &out.display().to_string()))],
        "startContainer": [ct_hook(&probe("startContainer", "/out"))],
        "poststart": [host_hook(probe("poststart", &out.display().to_string()))],
        "poststop": [host_hook(probe("poststop", &out.display().to_string()))],
    });
    ct.run()?;
    let r = ct.report()?;
    for (t, key) in [("mnt", "mnt"), ("net", "net")] {
        let ours = host::own_ns(t)?;
        let theirs = r["namespaces"][key]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for (hook, want, which) in [
            ("prestart", &ours, "runtime"),
            ("createRuntime", &ours, "runtime"),
            ("createContainer", &theirs, "container"),
            ("startContainer", &theirs, "container"),
            ("poststart", &ours, "runtime"),
            ("poststop", &ours, "runtime"),
        ] {
            let got = host::read_trim(out.join(format!("{t}-{hook}")))?;
            ensure!(
                &got == want,
                "{hook} hook ran in {t} namespace {got}, want the {which} one {want}"
            );
        }
    }
    Ok(())
}

/// config.md: a hook's path MUST be absolute. One found by a PATH lookup
/// (`sh`) would run some program of the runtime's environment: create must
/// fail and leave no container (runtime.md#create: a config the runtime
/// cannot follow is an error).
fn relative_path(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["touch=/out/ran", "exit=0"])?;
    ct.config["hooks"] = json!({"prestart": [{"path": "sh", "args": ["sh", "-c", "exit 0"]}]});
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "create accepted a hook with the relative path \"sh\""
    );
    ensure!(
        !ct.try_state()?.ok,
        "a failed create left a container behind"
    );
    Ok(())
}

/// prestart/createRuntime/createContainer failing: create fails and the
/// container is destroyed (lifecycle step 12).
fn create_hook_fails(ctx: &Ctx, kind: &str) -> Result<()> {
    let mut ct = Ct::new(ctx, &["touch=/out/ran", "exit=0"])?;
    ct.config["hooks"] = json!({ kind: [host_hook("exit 3".into())] });
    let c = ct.try_create()?;
    ensure!(!c.ok, "create succeeded although a {kind} hook failed");
    let st = ct.try_state()?;
    ensure!(
        !st.ok,
        "container still exists after a failed {kind} hook: {}",
        st.stdout.trim()
    );
    ensure!(!ct.out().join("ran").exists(), "process ran");
    Ok(())
}

/// Whether the runtime reports the failure through start's exit status is
/// not mandated (runtime.md#errors); what is observable is that the process
/// never runs and the container is stopped.
fn start_container_fails(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["touch=/out/ran", "sleep"])?;
    ct.config["hooks"] = json!({"startContainer": [ct_hook("exit 3")]});
    ct.create()?;
    let _ = ct.call(&["start", &ct.id])?;
    wait_stopped_or_gone(&ct, "a failed startContainer hook")?;
    ensure!(
        !ct.out().join("ran").exists(),
        "process ran although its startContainer hook failed"
    );
    Ok(())
}

fn wait_stopped_or_gone(ct: &Ct, why: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let st = ct.try_state()?;
        if !st.ok {
            return Ok(());
        }
        let s: Value = serde_json::from_str(&st.stdout)?;
        if s["status"] == "stopped" {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "container still {} after {why}",
            s["status"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn poststart_fails(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["hooks"] = json!({"poststart": [host_hook("exit 3".into())]});
    ct.create()?;
    let _ = ct.call(&["start", &ct.id])?;
    // "stop the container": it must not be left running.
    wait_stopped_or_gone(&ct, "a failed poststart hook")
}

fn poststop_fails(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    let f = ct.out().join("second");
    ct.config["hooks"] = json!({"poststop": [host_hook("exit 3".into()), host_hook(format!("touch {}", f.display()))]});
    ct.create()?;
    ct.start()?;
    ct.wait_status("stopped", Duration::from_secs(10))?;
    ct.delete()?;
    ensure!(!ct.try_state()?.ok, "container survived delete");
    ensure!(
        f.exists(),
        "the poststop hook after the failing one did not run"
    );
    Ok(())
}

fn timeout(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "20"], "timeout": 1}]});
    let t = Instant::now();
    let c = ct.try_create()?;
    ensure!(!c.ok, "create succeeded although its hook timed out");
    ensure!(
        t.elapsed() < Duration::from_secs(15),
        "hook with timeout 1 held create for {:?}",
        t.elapsed()
    );
    Ok(())
}
