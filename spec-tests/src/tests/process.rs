//! config.md#process and its POSIX/Linux parts, config.md#user.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::container::{Ct, HELPER_IN_CT};
use crate::harness::{case, Case, Ctx};
use crate::tests::host::{cap_mask, status_mask};

pub fn cases() -> Vec<Case> {
    vec![
        case("process/args", "config.md#process", args),
        case("process/args-path-lookup", "config.md#process", path_lookup),
        case("process/env", "config.md#process", env),
        case("process/cwd", "config.md#process", cwd),
        case("process/cwd-relative", "config.md#process", cwd_relative)
            .deviates("crun 1.8 accepts a relative process.cwd"),
        case("process/user", "config.md#posix-platform-user", user),
        case("process/umask", "config.md#posix-platform-user", umask),
        case("process/rlimits", "config.md#posix-process", rlimits),
        case(
            "process/rlimits-duplicate",
            "config.md#posix-process",
            rlimits_duplicate,
        )
        .deviates("runc 1.1 and crun 1.8 accept duplicate rlimits, the last one wins"),
        case(
            "process/rlimits-invalid-type",
            "config.md#posix-process",
            rlimits_invalid,
        ),
        case(
            "process/caps-bounding",
            "config.md#linux-process",
            caps_bounding,
        ),
        case("process/caps-root", "config.md#linux-process", caps_root),
        case(
            "process/caps-ambient-nonroot",
            "config.md#linux-process",
            caps_ambient,
        ),
        case(
            "process/caps-none-nonroot",
            "config.md#linux-process",
            caps_none,
        ),
        case(
            "process/no-new-privileges",
            "config.md#linux-process",
            |c| nnp(c, true),
        ),
        case(
            "process/no-new-privileges-false",
            "config.md#linux-process",
            |c| nnp(c, false),
        ),
        case("process/oom-score-adj", "config.md#linux-process", oom_set),
        case(
            "process/oom-score-adj-unset",
            "config.md#linux-process",
            oom_unset,
        ),
        case("process/terminal", "config.md#process", terminal),
        case("process/no-terminal", "config.md#process", no_terminal),
    ]
}

fn report(ctx: &Ctx, edit: impl FnOnce(&mut Ct)) -> Result<Value> {
    let mut ct = Ct::new(ctx, &["report"])?;
    edit(&mut ct);
    ct.run()?;
    ct.report()
}

fn args(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report", "exit=0"])?;
    ct.config["process"]["args"] = json!([HELPER_IN_CT, "report", "exit=0", "with space", ""]);
    ct.run()?;
    let r = ct.report()?;
    ensure!(
        r["argv"] == ct.config["process"]["args"],
        "argv {} != args {}",
        r["argv"],
        ct.config["process"]["args"]
    );
    Ok(())
}

fn path_lookup(ctx: &Ctx) -> Result<()> {
    // args[0] without a slash is looked up in the container's PATH, as execvp does.
    let r = report(ctx, |ct| {
        ct.config["process"]["args"] = json!(["berth-testhelper", "report"]);
        ct.config["process"]["env"] = json!(["PATH=/nonexistent:/bin"]);
    })?;
    ensure!(
        r["argv"][0] == "berth-testhelper",
        "argv[0] is {}",
        r["argv"][0]
    );
    Ok(())
}

fn env(ctx: &Ctx) -> Result<()> {
    let want = json!([
        "PATH=/bin",
        "BERTH_A=1",
        "BERTH_B=with space",
        "BERTH_EMPTY="
    ]);
    let r = report(ctx, |ct| ct.config["process"]["env"] = want.clone())?;
    let mut got: Vec<String> = serde_json::from_value(r["env"].clone())?;
    let mut w: Vec<String> = serde_json::from_value(want)?;
    got.sort();
    w.sort();
    // Runtimes may add HOME (runc does when it is missing); nothing else.
    got.retain(|e| !e.starts_with("HOME="));
    ensure!(got == w, "environment {got:?}, want {w:?}");
    Ok(())
}

fn cwd(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| ct.config["process"]["cwd"] = json!("/tmp"))?;
    ensure!(r["cwd"] == "/tmp", "cwd {}, want /tmp", r["cwd"]);
    Ok(())
}

fn cwd_relative(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["process"]["cwd"] = json!("tmp");
    let c = ct.try_create()?;
    let started = c.ok && ct.call(&["start", &ct.id])?.ok;
    ensure!(!started, "a relative cwd (must be absolute) was accepted");
    Ok(())
}

fn user(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| {
        ct.config["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    })?;
    ensure!(
        r["uids"] == json!([1000, 1000, 1000]),
        "real/effective/saved uids {}",
        r["uids"]
    );
    ensure!(
        r["gids"] == json!([1001, 1001, 1001]),
        "real/effective/saved gids {}",
        r["gids"]
    );
    let mut g: Vec<u64> = serde_json::from_value(r["groups"].clone())?;
    g.sort();
    g.dedup();
    g.retain(|x| *x != 1001);
    ensure!(
        g == vec![10, 20],
        "supplementary groups {}, want [10, 20]",
        r["groups"]
    );
    Ok(())
}

fn umask(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| {
        ct.config["process"]["user"]["umask"] = json!(0o027)
    })?;
    ensure!(
        r["status"]["Umask"] == "0027",
        "umask {}, want 0027",
        r["status"]["Umask"]
    );
    Ok(())
}

fn rlimits(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| {
        ct.config["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
            {"type": "RLIMIT_MSGQUEUE", "soft": 100000, "hard": 200000},
        ]);
    })?;
    for (t, s, h) in [
        ("RLIMIT_NOFILE", 1000, 2000),
        ("RLIMIT_CORE", 4096, 8192),
        ("RLIMIT_MSGQUEUE", 100000, 200000),
    ] {
        ensure!(
            r["rlimits"][t] == json!([s, h]),
            "{t} is {}, want [{s}, {h}]",
            r["rlimits"][t]
        );
    }
    Ok(())
}

fn rlimits_duplicate(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1000},
        {"type": "RLIMIT_NOFILE", "soft": 500, "hard": 500},
    ]);
    let c = ct.try_create()?;
    let started = c.ok && ct.call(&["start", &ct.id])?.ok;
    ensure!(!started, "duplicate RLIMIT_NOFILE entries were accepted");
    Ok(())
}

fn rlimits_invalid(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["process"]["rlimits"] = json!([{"type": "RLIMIT_BERTH", "soft": 1, "hard": 1}]);
    let c = ct.try_create()?;
    let started = c.ok && ct.call(&["start", &ct.id])?.ok;
    ensure!(!started, "rlimit type RLIMIT_BERTH was accepted");
    Ok(())
}

fn set_caps(ct: &mut Ct, b: &[&str], e: &[&str], p: &[&str], i: &[&str], a: &[&str]) {
    ct.config["process"]["capabilities"] =
        json!({"bounding": b, "effective": e, "permitted": p, "inheritable": i, "ambient": a});
}

fn caps_bounding(ctx: &Ctx) -> Result<()> {
    let b = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"];
    let r = report(ctx, |ct| {
        set_caps(ct, &b, &["CAP_KILL"], &["CAP_KILL"], &[], &[])
    })?;
    ensure!(
        status_mask(&r, "CapBnd")? == cap_mask(&b)?,
        "CapBnd {}, want {:016x}",
        r["status"]["CapBnd"],
        cap_mask(&b)?
    );
    Ok(())
}

fn caps_root(ctx: &Ctx) -> Result<()> {
    let set = ["CAP_CHOWN", "CAP_KILL", "CAP_SETGID"];
    let r = report(ctx, |ct| set_caps(ct, &set, &set, &set, &[], &[]))?;
    let m = cap_mask(&set)?;
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        ensure!(
            status_mask(&r, f)? == m,
            "{f} {}, want {m:016x}",
            r["status"][f]
        );
    }
    for f in ["CapInh", "CapAmb"] {
        ensure!(status_mask(&r, f)? == 0, "{f} {}, want 0", r["status"][f]);
    }
    Ok(())
}

fn caps_ambient(ctx: &Ctx) -> Result<()> {
    // For a non-root user only ambient caps survive execve into the
    // effective and permitted sets.
    let set = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
    let r = report(ctx, |ct| {
        ct.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        set_caps(
            ct,
            &["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"],
            &set,
            &set,
            &set,
            &set,
        );
    })?;
    let m = cap_mask(&set)?;
    for f in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        ensure!(
            status_mask(&r, f)? == m,
            "{f} {}, want {m:016x}",
            r["status"][f]
        );
    }
    Ok(())
}

fn caps_none(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| {
        ct.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        set_caps(ct, &["CAP_CHOWN"], &[], &[], &[], &[]);
    })?;
    for f in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        ensure!(status_mask(&r, f)? == 0, "{f} {}, want 0", r["status"][f]);
    }
    ensure!(
        status_mask(&r, "CapBnd")? == cap_mask(&["CAP_CHOWN"])?,
        "CapBnd {}",
        r["status"]["CapBnd"]
    );
    Ok(())
}

fn nnp(ctx: &Ctx, on: bool) -> Result<()> {
    let r = report(ctx, |ct| {
        ct.config["process"]["noNewPrivileges"] = json!(on)
    })?;
    let want = if on { "1" } else { "0" };
    ensure!(
        r["status"]["NoNewPrivs"] == want,
        "NoNewPrivs {}, want {want}",
        r["status"]["NoNewPrivs"]
    );
    Ok(())
}

fn oom_set(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| ct.config["process"]["oomScoreAdj"] = json!(345))?;
    ensure!(
        r["oom_score_adj"] == "345",
        "oom_score_adj {}, want 345",
        r["oom_score_adj"]
    );
    Ok(())
}

fn oom_unset(ctx: &Ctx) -> Result<()> {
    // The runtime is started with 123; unset means "do not change".
    let r = report(ctx, |ct| {
        ct.config["process"]
            .as_object_mut()
            .unwrap()
            .remove("oomScoreAdj");
        ct.spawn.oom_score_adj = Some(123);
    })?;
    ensure!(
        r["oom_score_adj"] == "123",
        "oom_score_adj {}, want the runtime's 123",
        r["oom_score_adj"]
    );
    Ok(())
}

fn terminal(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report", "stat=/dev/console"])?;
    ct.config["process"]["terminal"] = json!(true);
    ct.run()?;
    ensure!(
        ct.console.as_ref().is_some_and(|c| c.received_master()),
        "no pty master arrived on the console socket"
    );
    let r = ct.report()?;
    ensure!(
        r["isatty"] == json!([true, true, true]),
        "stdio isatty {}, want all true",
        r["isatty"]
    );
    let tty = r["ttyname0"].as_str().unwrap_or_default();
    ensure!(
        tty.starts_with("/dev/pts/"),
        "stdin is {tty}, want a /dev/pts/N"
    );
    let c = ct.record_for("stat", "/dev/console")?;
    ensure!(
        c["ok"] == true && c["kind"] == "char" && c["major"] == 136,
        "/dev/console is not the pty: {c}"
    );
    Ok(())
}

fn no_terminal(ctx: &Ctx) -> Result<()> {
    let r = report(ctx, |ct| ct.config["process"]["terminal"] = json!(false))?;
    ensure!(
        r["isatty"] == json!([false, false, false]),
        "stdio isatty {} without terminal",
        r["isatty"]
    );
    Ok(())
}
