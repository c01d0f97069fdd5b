//! config-linux.md#control-groups: the cgroup path and resource limits,
//! read on the host and, where the container can see them, from inside. On
//! a v1 or hybrid host from the v1 files; on a pure v2 host from the v2
//! files that runc and crun map them to (memory.max, cpu.max, io.max...).

use std::fs;
use std::path::Path;

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};
use crate::tests::host::{self, read_trim, unified_host, v1_controller, v2_controller};

pub fn cases() -> Vec<Case> {
    vec![
        case("cgroups/path", "config-linux.md#cgroups-path", path),
        case("cgroups/memory", "config-linux.md#memory", memory),
        case(
            "cgroups/memory-kernel-tcp",
            "config-linux.md#memory",
            memory_kernel_tcp,
        )
        .deviates("runc 1.1 ignores kernelTCP"),
        case("cgroups/pids", "config-linux.md#pids", pids),
        case(
            "cgroups/pids-enforced",
            "config-linux.md#pids",
            pids_enforced,
        ),
        case("cgroups/cpu", "config-linux.md#cpu", cpu),
        case("cgroups/cpuset", "config-linux.md#cpu", cpuset),
        case("cgroups/blkio-throttle", "config-linux.md#block-io", blkio),
        case(
            "cgroups/hugepage-limits",
            "config-linux.md#huge-page-limits",
            hugetlb,
        ),
        case("cgroups/network", "config-linux.md#network", network),
        case("cgroups/unified", "config-linux.md#unified", |c| {
            unified(c, false)
        }),
        case("cgroups/unified-hybrid", "config-linux.md#unified", |c| {
            unified(c, true)
        })
        .deviates("runc 1.1 and crun 1.8 refuse unified on a hybrid host"),
        case(
            "cgroups/unified-missing-controller",
            "config-linux.md#unified",
            unified_missing,
        ),
    ]
}

/// Controller `c` (v1 name) is there to test: a v1 hierarchy, or on a
/// pure v2 host the v2 controller (`v2`, None if v2 has no such one).
fn need(c: &str, v2: Option<&str>) -> Result<()> {
    if unified_host() {
        return match v2 {
            Some(n) if v2_controller(n) => Ok(()),
            Some(n) => Err(skip(format!("the cgroup v2 root offers no {n} controller"))),
            None => Err(skip(format!("cgroup v2 has no {c} controller"))),
        };
    }
    if v1_controller(c).is_none() {
        return Err(skip(format!("no cgroup v1 {c} hierarchy on this host")));
    }
    Ok(())
}

/// Each (file, value) of the container's `controller` cgroup on the host.
fn expect_files(ct: &Ct, controller: &str, want: &[(&str, u64)]) -> Result<()> {
    for (f, v) in want {
        let got = host_file(ct, controller, f)?;
        ensure!(got == v.to_string(), "{f} is {got:?}, want {v}");
    }
    Ok(())
}

/// Reads `file` of the container's cgroup on the host while it runs.
fn host_file(ct: &Ct, controller: &str, file: &str) -> Result<String> {
    read_trim(ct.host_cgroup(controller).join(file))
}

fn path(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.create()?;
    let pid = ct.pid()?;
    let controllers: &[&str] = if unified_host() {
        &["(v2)"]
    } else {
        &[
            "memory", "pids", "cpu", "cpuset", "devices", "freezer", "blkio",
        ]
    };
    for &c in controllers {
        if !unified_host() && v1_controller(c).is_none() {
            continue;
        }
        let procs = host_file(&ct, c, "cgroup.procs")?;
        ensure!(
            procs.lines().any(|l| l == pid.to_string()),
            "pid {pid} is not in {}/cgroup.procs ({procs:?})",
            ct.host_cgroup(c).display()
        );
    }
    Ok(())
}

fn memory(ctx: &Ctx) -> Result<()> {
    need("memory", Some("memory"))?;
    if unified_host() {
        return memory_v2(ctx);
    }
    let mut ct = Ct::new(
        ctx,
        &["read=/sys/fs/cgroup/memory/memory.limit_in_bytes", "sleep"],
    )?;
    let swap_ok = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    let mut mem = json!({"limit": 64 << 20, "reservation": 32 << 20, "swappiness": 20, "disableOOMKiller": true});
    if swap_ok {
        mem["swap"] = json!(128 << 20);
    }

    ct.config["linux"]["resources"]["memory"] = mem;
    ct.create()?;
    ct.start()?;
    let mut want = vec![
        ("memory.limit_in_bytes", 64u64 << 20),
        ("memory.soft_limit_in_bytes", 32 << 20),
        ("memory.swappiness", 20),
    ];
    if swap_ok {
        want.push(("memory.memsw.limit_in_bytes", 128 << 20));
    }
    expect_files(&ct, "memory", &want)?;
    let oom = host_file(&ct, "memory", "memory.oom_control")?;
    ensure!(
        oom.lines().any(|l| l == "oom_kill_disable 1"),
        "OOM killer not disabled: {oom:?}"
    );
    seen_inside(ct, 64 << 20)
}

/// kernelTCP: still a v1 file the kernel enforces (unlike kernel, which it
/// now ignores); v2 has no such limit.
fn memory_kernel_tcp(ctx: &Ctx) -> Result<()> {
    need("memory", Some("memory"))?;
    if unified_host() || !Path::new("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes").exists()
    {
        return Err(skip("no v1 memory.kmem.tcp.limit_in_bytes on this host"));
    }
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20, "kernelTCP": 48 << 20});
    ct.create()?;
    expect_files(
        &ct,
        "memory",
        &[("memory.kmem.tcp.limit_in_bytes", 48 << 20)],
    )
}

/// v2 has no swappiness nor OOM-killer switch: limit, reservation (low)
/// and swap (memory.swap.max holds swap minus limit, as runc and crun do).
fn memory_v2(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["read=/sys/fs/cgroup/memory.max", "sleep"])?;
    let swap_ok = host::v2_child_has("memory.swap.max");
    let mut mem = json!({"limit": 64 << 20, "reservation": 32 << 20});
    if swap_ok {
        mem["swap"] = json!(128 << 20);
    }
    ct.config["linux"]["resources"]["memory"] = mem;
    ct.create()?;
    ct.start()?;
    let mut want = vec![("memory.max", 64u64 << 20), ("memory.low", 32 << 20)];
    if swap_ok {
        want.push(("memory.swap.max", 64 << 20));
    }
    expect_files(&ct, "memory", &want)?;
    seen_inside(ct, 64 << 20)
}

/// The limit as the container reads it through its own cgroup mount.
fn seen_inside(ct: Ct, limit: u64) -> Result<()> {
    std::thread::sleep(std::time::Duration::from_millis(100));
    ct.kill("KILL")?;
    ct.wait_status("stopped", std::time::Duration::from_secs(10))?;
    let r = ct.record("read")?;
    ensure!(
        r["data"].as_str().map(str::trim) == Some(&limit.to_string()),
        "limit seen inside: {r}"
    );
    Ok(())
}

fn pids(ctx: &Ctx) -> Result<()> {
    need("pids", Some("pids"))?;
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["pids"] = json!({"limit": 37});
    ct.create()?;
    ensure!(
        host_file(&ct, "pids", "pids.max")? == "37",
        "pids.max is {}",
        host_file(&ct, "pids", "pids.max")?
    );
    Ok(())
}

fn pids_enforced(ctx: &Ctx) -> Result<()> {
    need("pids", Some("pids"))?;
    let mut ct = Ct::new(ctx, &["fork=12", "exit=0"])?;
    ct.config["linux"]["resources"]["pids"] = json!({"limit": 5});
    ct.run()?;
    let f = ct.record("fork")?;
    // The helper itself is one of the 5.
    ensure!(
        f["ok"] == 4 && f["errno"] == libc::EAGAIN,
        "forks under pids limit 5: {f}, want 4 and EAGAIN"
    );
    Ok(())
}

fn cpu(ctx: &Ctx) -> Result<()> {
    need("cpu", Some("cpu"))?;
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000});
    ct.create()?;
    if unified_host() {
        // shares become cpu.weight by a formula the spec leaves open (runc's
        // and crun's differ): only that it moved off the default is checked.
        ensure!(
            host_file(&ct, "cpu", "cpu.max")? == "50000 100000",
            "cpu.max"
        );
        let w = host_file(&ct, "cpu", "cpu.weight")?;
        ensure!(w != "100", "cpu.weight left at the default 100");
        return Ok(());
    }
    ensure!(host_file(&ct, "cpu", "cpu.shares")? == "512", "cpu.shares");
    ensure!(
        host_file(&ct, "cpu", "cpu.cfs_quota_us")? == "50000",
        "cpu.cfs_quota_us"
    );
    ensure!(
        host_file(&ct, "cpu", "cpu.cfs_period_us")? == "100000",
        "cpu.cfs_period_us"
    );
    Ok(())
}

fn cpuset(ctx: &Ctx) -> Result<()> {
    need("cpuset", Some("cpuset"))?;
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
    ct.create()?;
    ensure!(
        host_file(&ct, "cpuset", "cpuset.cpus")? == "0",
        "cpuset.cpus"
    );
    ensure!(
        host_file(&ct, "cpuset", "cpuset.mems")? == "0",
        "cpuset.mems"
    );
    Ok(())
}

/// major:minor of some block device on the host, if any.
fn a_block_device() -> Option<(u64, u64)> {
    for e in fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let dev = fs::read_to_string(e.path().join("dev")).ok()?;
        let (a, b) = dev.trim().split_once(':')?;
        return Some((a.parse().ok()?, b.parse().ok()?));
    }
    None
}

fn blkio(ctx: &Ctx) -> Result<()> {
    need("blkio", Some("io"))?;
    let Some((maj, min)) = a_block_device() else {
        return Err(skip("no block device on this host to throttle"));
    };
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["blockIO"] = json!({
        "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 300}],
    });
    ct.create()?;
    if unified_host() {
        let io = host_file(&ct, "io", "io.max")?;
        let line = io
            .lines()
            .find(|l| l.starts_with(&format!("{maj}:{min} ")))
            .unwrap_or("");
        ensure!(
            line.contains("rbps=1048576") && line.contains("wiops=300"),
            "io.max is {io:?}"
        );
        return Ok(());
    }
    let r = host_file(&ct, "blkio", "blkio.throttle.read_bps_device")?;
    ensure!(
        r == format!("{maj}:{min} 1048576"),
        "blkio.throttle.read_bps_device is {r:?}"
    );
    let w = host_file(&ct, "blkio", "blkio.throttle.write_iops_device")?;
    ensure!(
        w == format!("{maj}:{min} 300"),
        "blkio.throttle.write_iops_device is {w:?}"
    );
    Ok(())
}

fn hugetlb(ctx: &Ctx) -> Result<()> {
    need("hugetlb", Some("hugetlb"))?;
    let (probe, file) = if unified_host() {
        ("/sys/fs/cgroup/cgroup.controllers", "hugetlb.2MB.max")
    } else {
        (
            "/sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.limit_in_bytes",
        )
    };
    if !Path::new(probe).exists()
        || !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        return Err(skip("no 2MB huge pages on this host"));
    }
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["hugepageLimits"] =
        json!([{"pageSize": "2MB", "limit": 4194304}]);
    ct.create()?;
    if unified_host() {
        ensure!(host_file(&ct, "hugetlb", file)? == "4194304", "{file}");
        return Ok(());
    }
    ensure!(
        host_file(&ct, "hugetlb", "hugetlb.2MB.limit_in_bytes")? == "4194304",
        "hugetlb.2MB.limit_in_bytes"
    );
    Ok(())
}

fn network(ctx: &Ctx) -> Result<()> {
    let Some(_) = v1_controller("net_cls").or_else(|| v1_controller("net_cls,net_prio")) else {
        return Err(skip(
            "net_cls is not mounted as a cgroup v1 hierarchy on this host",
        ));
    };
    let mut ct = Ct::new(ctx, &["sleep"])?;
    ct.config["linux"]["resources"]["network"] = json!({"classID": 1048577});
    ct.create()?;
    let base = v1_controller("net_cls")
        .unwrap_or_else(|| Path::new("/sys/fs/cgroup/net_cls,net_prio").into());
    ensure!(
        read_trim(base.join(ct.cgroup_name()).join("net_cls.classid"))? == "1048577",
        "net_cls.classid"
    );
    Ok(())
}

/// The container's cgroup2 directory: its cgroup on a pure v2 host, the
/// one under /sys/fs/cgroup/unified on a hybrid host (None on legacy v1).
fn cgroup2_dir(ct: &Ct) -> Option<std::path::PathBuf> {
    if unified_host() {
        return Some(Path::new("/sys/fs/cgroup").join(ct.cgroup_name()));
    }
    let u = Path::new("/sys/fs/cgroup/unified");
    host::is_mountpoint("/sys/fs/cgroup/unified").then(|| u.join(ct.cgroup_name()))
}

/// Core cgroup2 files everywhere there is cgroup2 (a hybrid host may have
/// no controller on it), and pids.max where the pids controller is there.
fn unified(ctx: &Ctx, hybrid: bool) -> Result<()> {
    if hybrid && unified_host() {
        return Err(skip(
            "a pure cgroup v2 host: cgroups/unified is the case here",
        ));
    }
    if !hybrid && !unified_host() {
        return Err(skip(
            "needs a pure cgroup v2 host (cgroups/unified-hybrid is the case here)",
        ));
    }
    let mut ct = Ct::new(ctx, &["sleep"])?;
    let Some(dir) = cgroup2_dir(&ct) else {
        return Err(skip("no cgroup2 hierarchy on this host"));
    };
    let mut want = vec![("cgroup.max.descendants", "7"), ("cgroup.max.depth", "3")];
    if unified_host() && v2_controller("pids") {
        want.push(("pids.max", "17"));
    }
    let map: serde_json::Map<String, Value> = want
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    ct.config["linux"]["resources"]["unified"] = Value::Object(map);
    ct.create()?;
    for (k, v) in want {
        let p = dir.join(k);
        ensure!(read_trim(&p)? == v, "{} is not {v}", p.display());
    }
    Ok(())
}

/// A key of a controller nobody has: written as given (the MUST for unknown
/// keys), it can only fail, and must fail create.
fn unified_missing(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["sleep"])?;
    if cgroup2_dir(&ct).is_none() {
        return Err(skip("no cgroup2 hierarchy on this host"));
    }
    ct.config["linux"]["resources"]["unified"] = json!({"berthnosuch.max": "1"});
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "create with a unified key of a missing controller succeeded"
    );
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}
