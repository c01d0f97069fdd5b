//! How the process is scheduled and placed (process.scheduler, ioPriority,
//! execCPUAffinity; linux.memoryPolicy, personality, timeOffsets) and the
//! intelRdt error. Fields without an entry in `features` run only against a
//! runtime whose ociVersionMax is a spec version that defines them.

use std::fs;
use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::container::{Ct, HELPER_IN_CT};
use crate::harness::{case, skip, Case, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case("sched/scheduler", "config.md#linux-process", scheduler),
        case(
            "sched/scheduler-unknown-policy",
            "config.md#linux-process",
            scheduler_iso,
        ),
        case("sched/io-priority", "config.md#linux-process", io_priority),
        case(
            "sched/personality",
            "config-linux.md#personality",
            personality,
        ),
        case(
            "sched/time-offsets",
            "config-linux.md#offset-for-time-namespace",
            time_offsets,
        ),
        case(
            "sched/memory-policy",
            "config-linux.md#memory-policy",
            memory_policy,
        ),
        case(
            "sched/memory-policy-without-nodes",
            "config-linux.md#memory-policy",
            memory_policy_no_nodes,
        ),
        case(
            "sched/intel-rdt-without-resctrl",
            "config-linux.md#intelrdt",
            intel_rdt,
        )
        .deviates("runc 1.1 ignores intelRdt on a host without resctrl"),
        case(
            "sched/exec-cpu-affinity",
            "config.md#linux-process",
            exec_cpu_affinity,
        ),
    ]
}

/// A SemVer version as (major, minor, patch, is a release): a pre-release
/// sorts before its release.
fn version(v: &str) -> Option<(u64, u64, u64, bool)> {
    let (core, pre) = match v.split_once('-') {
        Some((c, _)) => (c, true),
        None => (v.split('+').next()?, false),
    };
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??, !pre))
}

/// Skips unless the runtime's ociVersionMax is at least `min`, the spec
/// version that defines `field` (which has no entry of its own in features).
pub fn need_version(ctx: &Ctx, min: &str, field: &str) -> Result<()> {
    let max = ctx
        .features
        .as_ref()
        .and_then(|f| f["ociVersionMax"].as_str().map(String::from));
    let Some(max) = max else {
        return Err(skip(format!(
            "runtime has no features command to say it knows {field}"
        )));
    };
    match (version(&max), version(min)) {
        (Some(have), Some(want)) if have >= want => Ok(()),
        _ => Err(skip(format!(
            "runtime's ociVersionMax {max} is below {min}, which defines {field}"
        ))),
    }
}

fn sched_of(ct: &Ct) -> Result<Value> {
    ct.record("sched")
}

fn scheduler(ctx: &Ctx) -> Result<()> {
    need_version(ctx, "1.1.0", "process.scheduler")?;
    // Only policies any cgroup may take: a real-time one needs a budget in
    // cpu.rt_runtime_us, which a new v1 cgroup lacks.
    for (policy, nice, flags, want_policy, want_flags) in [
        ("SCHED_BATCH", 5, json!([]), 3, 0u64),
        (
            "SCHED_IDLE",
            0,
            json!(["SCHED_FLAG_RESET_ON_FORK"]),
            5,
            1u64,
        ),
    ] {
        let mut ct = Ct::new(ctx, &["sched"])?;
        ct.config["process"]["scheduler"] = json!({"policy": policy, "nice": nice, "flags": flags});
        ct.run()?;
        let s = sched_of(&ct)?;
        ensure!(
            s["ok"] == true,
            "sched_getattr failed in the container: {s}"
        );
        ensure!(
            s["policy"] == want_policy,
            "{policy}: the process runs with policy {}, want {want_policy}",
            s["policy"]
        );
        ensure!(
            s["flags"].as_u64().unwrap_or(0) & 1 == want_flags,
            "{policy}: flags {}, want reset-on-fork {want_flags}",
            s["flags"]
        );
        if policy == "SCHED_BATCH" {
            ensure!(
                s["nice"] == nice,
                "{policy}: nice {}, want {nice}",
                s["nice"]
            );
        }
    }
    Ok(())
}

fn scheduler_iso(ctx: &Ctx) -> Result<()> {
    need_version(ctx, "1.1.0", "process.scheduler")?;
    let mut ct = Ct::new(ctx, &["sched"])?;
    // In the spec's list, but Linux never implemented it.
    ct.config["process"]["scheduler"] = json!({"policy": "SCHED_ISO"});
    let c = ct.try_create()?;
    ensure!(!c.ok, "create with SCHED_ISO succeeded");
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}

fn io_priority(ctx: &Ctx) -> Result<()> {
    need_version(ctx, "1.1.0", "process.ioPriority")?;
    for (class, n, prio) in [("IOPRIO_CLASS_BE", 2, 6), ("IOPRIO_CLASS_IDLE", 3, 0)] {
        let mut ct = Ct::new(ctx, &["sched"])?;
        ct.config["process"]["ioPriority"] = json!({"class": class, "priority": prio});
        ct.run()?;
        let s = sched_of(&ct)?;
        let want = (n << 13) | prio;
        ensure!(
            s["ioprio"] == want,
            "{class}/{prio}: ioprio_get says {}, want {want}",
            s["ioprio"]
        );
    }
    Ok(())
}

fn personality(ctx: &Ctx) -> Result<()> {
    need_version(ctx, "1.0.2", "linux.personality")?;
    let mut ct = Ct::new(ctx, &["sched"])?;
    ct.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    ct.run()?;
    let m = sched_of(&ct)?["machine"].clone();
    ensure!(
        m.as_str()
            .is_some_and(|m| m.starts_with('i') && m.ends_with("86")),
        "uname under LINUX32 says {m}, want a 32-bit x86 machine"
    );
    let mut ct = Ct::new(ctx, &["sched"])?;
    ct.config["linux"]["personality"] = json!({"domain": "LINUX"});
    ct.run()?;
    let m = sched_of(&ct)?["machine"].clone();
    ensure!(m == std::env::consts::ARCH, "uname under LINUX says {m}");
    Ok(())
}

fn clock(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel fills a live timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec
}

fn time_offsets(ctx: &Ctx) -> Result<()> {
    need_version(ctx, "1.1.0", "linux.timeOffsets")?;
    if ctx.feature_namespace("time") != Some(true) {
        return Err(skip("runtime does not list the time namespace"));
    }
    let mut ct = Ct::new(ctx, &["sched"])?;
    let (mono, boot) = (10 * 86400, 20 * 86400);
    ct.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    ct.config["linux"]["timeOffsets"] =
        json!({"monotonic": {"secs": mono}, "boottime": {"secs": boot, "nanosecs": 0}});
    let (m0, b0) = (clock(libc::CLOCK_MONOTONIC), clock(libc::CLOCK_BOOTTIME));
    ct.run()?;
    let (m1, b1) = (clock(libc::CLOCK_MONOTONIC), clock(libc::CLOCK_BOOTTIME));
    let s = sched_of(&ct)?;
    let (mi, bi) = (
        s["monotonic"].as_i64().unwrap_or(0),
        s["boottime"].as_i64().unwrap_or(0),
    );
    ensure!(
        (m0 + mono..=m1 + mono).contains(&mi),
        "monotonic in the container {mi}, want the host's ({m0}..{m1}) + {mono}"
    );
    ensure!(
        (b0 + boot..=b1 + boot).contains(&bi),
        "boottime in the container {bi}, want the host's ({b0}..{b1}) + {boot}"
    );
    Ok(())
}

fn need_mode(ctx: &Ctx, mode: &str) -> Result<()> {
    let listed = ctx
        .features
        .as_ref()
        .and_then(|f| f.pointer("/linux/memoryPolicy/modes")?.as_array().cloned())
        .is_some_and(|m| m.iter().any(|x| x == mode));
    if !listed {
        return Err(skip(format!(
            "runtime does not list memory policy {mode} in its features"
        )));
    }
    Ok(())
}

/// Node 0 always exists: each mode that takes nodes gets it, read back with
/// get_mempolicy (mode word with its flags, and the mask).
fn memory_policy(ctx: &Ctx) -> Result<()> {
    const STATIC: i64 = 1 << 15;
    const RELATIVE: i64 = 1 << 14;
    const BALANCING: i64 = 1 << 13;
    for (mode, nodes, flags, want_mode, want_nodes) in [
        ("MPOL_BIND", Some("0"), json!([]), 2, 1),
        (
            "MPOL_INTERLEAVE",
            Some("0"),
            json!(["MPOL_F_STATIC_NODES"]),
            3 | STATIC,
            1,
        ),
        (
            "MPOL_BIND",
            Some("0"),
            json!(["MPOL_F_NUMA_BALANCING"]),
            2 | BALANCING,
            1,
        ),
        (
            "MPOL_PREFERRED",
            Some("0"),
            json!(["MPOL_F_RELATIVE_NODES"]),
            1 | RELATIVE,
            1,
        ),
        ("MPOL_PREFERRED_MANY", Some("0"), json!([]), 5, 1),
        ("MPOL_WEIGHTED_INTERLEAVE", Some("0"), json!([]), 6, 1),
        ("MPOL_LOCAL", None, json!([]), 4, 0),
        ("MPOL_DEFAULT", None, json!([]), 0, 0),
    ] {
        // Each mode the runtime lists is checked; MPOL_BIND must be there.
        if mode != "MPOL_BIND" && need_mode(ctx, mode).is_err() {
            continue;
        }
        need_mode(ctx, mode)?;
        let mut ct = Ct::new(ctx, &["sched"])?;
        let mut p = json!({"mode": mode, "flags": flags});
        if let Some(n) = nodes {
            p["nodes"] = json!(n);
        }
        ct.config["linux"]["memoryPolicy"] = p;
        ct.run()?;
        let s = sched_of(&ct)?;
        ensure!(
            s["mempolicy_mode"] == want_mode,
            "{mode}: get_mempolicy gives mode {}, want {want_mode}",
            s["mempolicy_mode"]
        );
        ensure!(
            s["mempolicy_nodes"] == want_nodes,
            "{mode}: node mask {}, want {want_nodes}",
            s["mempolicy_nodes"]
        );
    }
    Ok(())
}

fn memory_policy_no_nodes(ctx: &Ctx) -> Result<()> {
    need_mode(ctx, "MPOL_BIND")?;
    let mut ct = Ct::new(ctx, &["sched"])?;
    ct.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND"});
    let c = ct.try_create()?;
    ensure!(!c.ok, "create with MPOL_BIND and no nodes succeeded");
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}

fn intel_rdt(ctx: &Ctx) -> Result<()> {
    let mounted = fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .any(|l| l.contains(" - resctrl "));
    if mounted {
        return Err(skip("this host has resctrl mounted"));
    }
    let mut ct = Ct::new(ctx, &["sched"])?;
    ct.config["linux"]["intelRdt"] = json!({"closID": "berth-spec"});
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "create with intelRdt succeeded on a host without resctrl"
    );
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}

fn exec_cpu_affinity(ctx: &Ctx) -> Result<()> {
    need_version(ctx, "1.2.1", "process.execCPUAffinity")?;
    // SAFETY: plain query.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if cpus < 2 {
        return Err(skip("needs two CPUs"));
    }
    let mut ct = Ct::new(ctx, &["touch=/out/ready", "wait=/out/go"])?;
    ct.create()?;
    ct.start()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !ct.out().join("ready").exists() {
        ensure!(
            std::time::Instant::now() < deadline,
            "container never ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut results = vec![];
    for (aff, want) in [
        (json!({"initial": "0", "final": "1"}), "1"),
        (json!({"final": "0"}), "0"),
    ] {
        let mut p = ct.config["process"].clone();
        p["args"] = json!([HELPER_IN_CT, "sched"]);
        p["execCPUAffinity"] = aff.clone();
        let file = ct.dir().join("process.json");
        fs::write(&file, serde_json::to_vec(&p)?)?;
        let c = ct.call(&["exec", "--process", file.to_str().unwrap(), &ct.id])?;
        ensure!(c.ok, "exec with execCPUAffinity {aff}: {}", c.describe());
        let got = c
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v.get("sched").cloned())
            .unwrap_or_default();
        results.push((aff, want, got["cpus"].clone()));
    }
    fs::write(ct.out().join("go"), "")?;
    ct.wait_status("stopped", Duration::from_secs(15))?;
    for (aff, want, got) in results {
        ensure!(
            got == want,
            "exec with execCPUAffinity {aff} runs on CPUs {got}, want {want}"
        );
    }
    Ok(())
}
