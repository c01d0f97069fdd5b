//! Hostname, domainname, sysctl, file descriptors, extensibility and the
//! `features` operation.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};
use crate::schema;

pub fn cases() -> Vec<Case> {
    vec![
        case("misc/hostname", "config.md#hostname", hostname),
        case("misc/domainname", "config.md#domainname", domainname)
            .deviates("runc 1.1 silently ignores domainname"),
        case("misc/sysctl", "config-linux.md#sysctl", sysctl),
        case(
            "misc/file-descriptors",
            "runtime-linux.md#file-descriptors",
            fds,
        ),
        case(
            "misc/unknown-properties",
            "config.md#extensibility",
            unknown_properties,
        ),
        case("misc/features", "features.md", features_test),
    ]
}

/// `runtime features`, if the runtime implements it.
pub fn features(runtime: &Path) -> Option<Value> {
    let out = Command::new(runtime).arg("features").output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn hostname(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["hostname"] = json!("berth-spec-host");
    ct.run()?;
    let r = ct.report()?;
    ensure!(
        r["hostname"] == "berth-spec-host",
        "hostname {}",
        r["hostname"]
    );
    Ok(())
}

fn domainname(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["domainname"] = json!("spec.berth.test");
    let c = ct.try_create()?;
    ensure!(c.ok, "create with a domainname failed: {}", c.stderr.trim());
    ct.start()?;
    ct.wait_status("stopped", std::time::Duration::from_secs(10))?;
    let r = ct.report()?;
    ensure!(
        r["domainname"] == "spec.berth.test",
        "domainname {}",
        r["domainname"]
    );
    Ok(())
}

fn sysctl(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &[
            "read=/proc/sys/net/ipv4/ip_forward",
            "read=/proc/sys/kernel/msgmax",
            "read=/proc/sys/net/core/somaxconn",
        ],
    )?;
    ct.config["linux"]["sysctl"] =
        json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4242", "net.core.somaxconn": "333"});
    ct.run()?;
    for (p, want) in [
        ("/proc/sys/net/ipv4/ip_forward", "1"),
        ("/proc/sys/kernel/msgmax", "4242"),
        ("/proc/sys/net/core/somaxconn", "333"),
    ] {
        let r = ct.record_for("read", p)?;
        ensure!(
            r["data"].as_str().map(str::trim) == Some(want),
            "{p} is {}, want {want}",
            r["data"]
        );
    }
    Ok(())
}

fn fds(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    // An fd the runtime inherits must not reach the container.
    ct.spawn.leak_fd = Some(9);
    ct.run()?;
    let r = ct.report()?;
    ensure!(
        r["fds"] == json!([0, 1, 2]),
        "container has fds {}, want only 0 1 2",
        r["fds"]
    );
    Ok(())
}

fn unknown_properties(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["berthUnknownTop"] = json!({"a": 1});
    ct.config["process"]["berthUnknown"] = json!([1, 2]);
    ct.config["linux"]["berthUnknown"] = json!("x");
    ct.run()?;
    ct.report()?;
    Ok(())
}

fn semver_ok(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn features_test(ctx: &Ctx) -> Result<()> {
    let Some(f) = &ctx.features else {
        return Err(skip("runtime has no features command"));
    };
    schema::validate(f, "features-schema.json")
        .map_err(|e| anyhow!("features output violates features-schema.json: {e}"))?;
    for k in ["ociVersionMin", "ociVersionMax"] {
        let v = f[k].as_str().unwrap_or_default();
        ensure!(semver_ok(v), "{k} {v:?} is not SemVer 2.0.0");
    }
    // What a runtime lists it must honour: every hook kind we test is
    // named in the spec's list.
    if let Some(h) = f["hooks"].as_array() {
        let known = [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ];
        for x in h {
            ensure!(
                known.iter().any(|k| x == k),
                "unknown hook kind {x} in features"
            );
        }
    }
    Ok(())
}
