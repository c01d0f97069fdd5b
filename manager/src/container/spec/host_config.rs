//! docker's `HostConfig` of inspect, from the flags and the spec they made.

use super::super::opts::{self, CreateOptions};
use oci_spec::runtime::{LinuxCpuBuilder, LinuxResources, LinuxResourcesBuilder, Spec};
use serde_json::{json, Value};
use std::path::Path;

/// docker's `HostConfig` of inspect: the values the spec ended up with, named as docker names them.
pub(super) fn host_config(o: &CreateOptions, spec: &Spec) -> Value {
    let shm = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/dev/shm"))
        .and_then(|m| m.options().as_ref())
        .and_then(|os| {
            os.iter()
                .find_map(|x| x.strip_prefix("size=")?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let linux = spec.linux().as_ref();
    let ulimits: Vec<Value> = o
        .ulimits
        .iter()
        .filter_map(|u| opts::parse_ulimit(u).ok())
        .map(|(name, soft, hard)| {
            let n = name.trim_start_matches("RLIMIT_").to_ascii_lowercase();
            json!({"Name": n, "Soft": soft as i64, "Hard": hard as i64})
        })
        .collect();
    let devices: Vec<Value> = o
        .devices
        .iter()
        .map(|d| {
            let p: Vec<&str> = d.split(':').collect();
            json!({"PathOnHost": p[0], "PathInContainer": p.get(1).unwrap_or(&p[0]),
                "CgroupPermissions": p.get(2).unwrap_or(&"rwm")})
        })
        .collect();
    let tmpfs: serde_json::Map<String, Value> = o
        .tmpfs
        .iter()
        .map(|t| {
            let (d, opt) = t.split_once(':').unwrap_or((t, ""));
            (d.to_string(), json!(opt))
        })
        .collect();
    let caps = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|c| {
                let c = opts::cap_name(c);
                c.strip_prefix("CAP_").map(String::from).unwrap_or(c)
            })
            .collect()
    };
    let mut hc = json!({
        "Binds": o.volumes.iter().filter(|v| v.contains(':')).collect::<Vec<_>>(),
        "ReadonlyRootfs": spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false),
        "Privileged": o.privileged,
        "CapAdd": caps(&o.cap_add),
        "CapDrop": caps(&o.cap_drop),
        "SecurityOpt": o.security_opt,
        "Dns": o.dns,
        "ExtraHosts": o.add_hosts,
        "Init": o.init,
        "ShmSize": shm,
        "IpcMode": o.ipc.clone().unwrap_or_else(|| "private".into()),
        "RestartPolicy": {
            "Name": o.restart.as_deref().map(|r| r.split(':').next().unwrap_or(r)).unwrap_or("no"),
            "MaximumRetryCount": o.restart.as_deref()
                .and_then(|r| r.split_once(':')).and_then(|(_, m)| m.parse::<u32>().ok()).unwrap_or(0),
        },
        "PidMode": o.pid.clone().unwrap_or_default(),
        "UTSMode": o.uts.clone().unwrap_or_default(),
        "Sysctls": linux.and_then(|l| l.sysctl().clone()).unwrap_or_default(),
        "Ulimits": ulimits,
        "Devices": devices,
        "Tmpfs": tmpfs,
        "LogConfig": {"Type": "k8s-file", "Config": o.log_max_size.as_ref()
            .map(|m| json!({"max-size": m})).unwrap_or_else(|| json!({}))},
    });
    let none = LinuxResourcesBuilder::default().build().expect("resources");
    set_host_limits(
        &mut hc,
        linux.and_then(|l| l.resources().as_ref()).unwrap_or(&none),
    );
    hc
}

/// The limits in docker's `HostConfig` (Memory, NanoCpus...) from linux.resources.
pub fn set_host_limits(hc: &mut Value, res: &LinuxResources) {
    let (mem, cpu) = (res.memory().unwrap_or_default(), res.cpu().clone());
    let cpu = cpu.unwrap_or_else(|| LinuxCpuBuilder::default().build().expect("cpu"));
    let nano_cpus = match (cpu.quota(), cpu.period()) {
        (Some(q), Some(p)) if p > 0 => q * 1_000_000_000 / p as i64,
        _ => 0,
    };
    hc["Memory"] = json!(mem.limit().unwrap_or(0));
    hc["MemorySwap"] = json!(mem.swap().unwrap_or(0));
    hc["NanoCpus"] = json!(nano_cpus);
    hc["CpuShares"] = json!(cpu.shares().unwrap_or(0));
    hc["CpusetCpus"] = json!(cpu.cpus().as_deref().unwrap_or(""));
    hc["PidsLimit"] = json!(res.pids().map(|p| p.limit()));
}
