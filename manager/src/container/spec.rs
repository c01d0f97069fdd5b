//! The bundle's config.json: a docker-like base, the image's runtime config,
//! then the flags, in that order (later wins).

use super::opts::{self, CreateOptions, VolumeSpec};
use super::record::MountKind;
use super::store::MountRecord;
use super::{bad, ContainerError, Result};
use crate::image::config::RuntimeConfig;
use serde_json::{json, Value};
use std::path::Path;

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability this kernel knows (for --privileged and --cap-add ALL),
/// limited to our own bounding set: a cap we lack cannot be given.
fn all_caps() -> Vec<String> {
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let bounding = berth_common::proc::Status::read(None)
        .and_then(|s| s.cap_bounding)
        .unwrap_or(u64::MAX);
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bounding & (1 << i) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

fn caps(o: &CreateOptions) -> Result<Vec<String>> {
    if o.privileged {
        return Ok(all_caps());
    }
    let known = all_caps();
    let mut set: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for c in &o.cap_drop {
        let c = opts::cap_name(c);
        if c == "CAP_ALL" || c == "ALL" {
            set.clear();
        } else {
            set.retain(|x| *x != c);
        }
    }
    for c in &o.cap_add {
        let c = opts::cap_name(c);
        if c == "ALL" {
            set = known.clone();
        } else if !known.contains(&c) {
            return Err(bad(
                "--cap-add",
                &c,
                "unknown capability, or not in this host's bounding set",
            ));
        } else if !set.contains(&c) {
            set.push(c);
        }
    }
    Ok(set)
}

fn ns_path(
    kind: &str,
    v: &str,
    flag: &'static str,
    peer_pid: &dyn Fn(&str) -> Result<i32>,
) -> Result<Option<Value>> {
    match v {
        "" | "private" => Ok(Some(json!({"type": kind}))),
        "host" => Ok(None),
        _ => match v.strip_prefix("container:") {
            Some(c) => {
                let pid = peer_pid(c)?;
                let file = match kind {
                    "network" => "net",
                    "mount" => "mnt",
                    k => k,
                };
                Ok(Some(
                    json!({"type": kind, "path": format!("/proc/{pid}/ns/{file}")}),
                ))
            }
            None => Err(bad(flag, v, "expected private, host or container:NAME")),
        },
    }
}

/// linux.resources' memory, cpu and pids from --memory, --memory-swap,
/// --cpus, --cpu-shares, --cpuset-cpus and --pids-limit (for `create` and
/// `update`): only what was given.
pub fn resources(o: &CreateOptions) -> Result<Value> {
    let mut res = json!({});
    if let Some((mem, swap)) = parse_memory(o)? {
        res["memory"] = json!({"limit": mem});
        if let Some(s) = swap {
            res["memory"]["swap"] = json!(s);
        }
    }
    if let Some(r) = &o.memory_reservation {
        let v = opts::parse_size("--memory-reservation", r)? as i64;
        if res["memory"]["limit"].as_i64().is_some_and(|l| v > l) {
            return Err(bad("--memory-reservation", r, "must be at most --memory"));
        }
        res["memory"]["reservation"] = json!(v);
    }
    if let Some(c) = &o.cpus {
        let v: f64 = c
            .parse()
            .map_err(|_| bad("--cpus", c, "expected a number like 1.5"))?;
        if !(v > 0.0 && v <= 1024.0) {
            return Err(bad("--cpus", c, "must be between 0 and the number of CPUs"));
        }
        res["cpu"]["period"] = json!(100_000);
        res["cpu"]["quota"] = json!((v * 100_000.0) as i64);
    }
    if let Some(s) = o.cpu_shares {
        res["cpu"]["shares"] = json!(s);
    }
    if let Some(s) = &o.cpuset_cpus {
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        {
            return Err(bad("--cpuset-cpus", s, "expected a list like 0-1,3"));
        }
        res["cpu"]["cpus"] = json!(s);
    }
    if let Some(p) = o.pids_limit {
        if p == 0 || p < -1 {
            return Err(bad(
                "--pids-limit",
                &p.to_string(),
                "must be positive or -1",
            ));
        }
        res["pids"] = json!({"limit": p});
    }
    Ok(res)
}

fn rlimits() -> Value {
    // Docker hands over the daemon's limits; ours are the caller's hard limits.
    let mut out = Vec::new();
    for (name, res) in [
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ] {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills r.
        if unsafe { libc::getrlimit(res, &mut r) } == 0 {
            let v = r.rlim_max.min(1 << 20);
            out.push(json!({"type": name, "soft": v, "hard": v}));
        }
    }
    json!(out)
}

fn default_devices_allow() -> Vec<Value> {
    let mut v = vec![json!({"allow": false, "access": "rwm"})];
    for (t, maj, min) in [("c", None, None), ("b", None, None)] {
        v.push(json!({"allow": true, "type": t, "major": maj.unwrap_or(-1), "minor": min.unwrap_or(-1), "access": "m"}));
    }
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        v.push(json!({"allow": true, "type": "c", "major": maj, "minor": min, "access": "rwm"}));
    }
    v.push(json!({"allow": true, "type": "c", "major": 136, "minor": -1, "access": "rwm"}));
    // -1 means "any" for runc; strip it so the JSON says "all minors" the OCI way.
    for d in v.iter_mut() {
        if let Some(o) = d.as_object_mut() {
            o.retain(|_, x| x != &json!(-1));
        }
    }
    v
}

/// What `build` needs to know besides the options.
pub struct BuildInput<'a> {
    pub id: &'a str,
    pub dir: &'a Path,
    pub rc: &'a RuntimeConfig,
    /// The image's Entrypoint and Cmd, separately.
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub passwd: Option<String>,
    pub group: Option<String>,
    /// Host paths of volumes by name, created by the caller.
    pub volume_dir: &'a dyn Fn(&str, bool) -> Result<String>,
    /// The init pid of another container (`--network container:x`).
    pub peer_pid: &'a dyn Fn(&str) -> Result<i32>,
}

pub struct Built {
    pub spec: Value,
    pub mounts: Vec<MountRecord>,
    pub hostname: String,
    pub user: String,
    pub stop_signal: String,
    /// docker's inspect `HostConfig`, from the flags as they were applied.
    pub host_config: Value,
}

/// docker's `HostConfig` of inspect: the values the spec ended up with, named as docker names them.
fn host_config(o: &CreateOptions, spec: &Value) -> Value {
    let shm = spec["mounts"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["destination"] == "/dev/shm"))
        .and_then(|m| m["options"].as_array())
        .and_then(|os| {
            os.iter()
                .find_map(|x| x.as_str()?.strip_prefix("size=")?.parse::<u64>().ok())
        })
        .unwrap_or(0);
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
        "ReadonlyRootfs": spec["root"]["readonly"].as_bool().unwrap_or(false),
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
        "Sysctls": spec["linux"]["sysctl"].as_object().cloned().unwrap_or_default(),
        "Ulimits": ulimits,
        "Devices": devices,
        "Tmpfs": tmpfs,
        "LogConfig": {"Type": "k8s-file", "Config": o.log_max_size.as_ref()
            .map(|m| json!({"max-size": m})).unwrap_or_else(|| json!({}))},
    });
    set_host_limits(&mut hc, &spec["linux"]["resources"]);
    hc
}

/// The limits in docker's `HostConfig` (Memory, NanoCpus...) from linux.resources.
pub fn set_host_limits(hc: &mut Value, res: &Value) {
    let nano_cpus = match (res["cpu"]["quota"].as_i64(), res["cpu"]["period"].as_i64()) {
        (Some(q), Some(p)) if p > 0 => q * 1_000_000_000 / p,
        _ => 0,
    };
    hc["Memory"] = json!(res["memory"]["limit"].as_i64().unwrap_or(0));
    hc["MemorySwap"] = json!(res["memory"]["swap"].as_i64().unwrap_or(0));
    hc["NanoCpus"] = json!(nano_cpus);
    hc["CpuShares"] = json!(res["cpu"]["shares"].as_u64().unwrap_or(0));
    hc["CpusetCpus"] = json!(res["cpu"]["cpus"].as_str().unwrap_or(""));
    hc["PidsLimit"] = json!(res["pids"]["limit"].as_i64());
}

pub fn parse_memory(o: &CreateOptions) -> Result<Option<(i64, Option<i64>)>> {
    let mem = match &o.memory {
        Some(m) => opts::parse_size("--memory", m)? as i64,
        None => {
            if let Some(s) = &o.memory_swap {
                return Err(bad("--memory-swap", s, "needs --memory too"));
            }
            return Ok(None);
        }
    };
    if mem < 6 << 20 {
        return Err(bad(
            "--memory",
            o.memory.as_deref().unwrap_or(""),
            "the minimum is 6m",
        ));
    }
    let swap = match o.memory_swap.as_deref() {
        None => None,
        Some("-1") => Some(-1),
        Some(s) => {
            let v = opts::parse_size("--memory-swap", s)? as i64;
            if v < mem {
                return Err(bad("--memory-swap", s, "must be at least --memory"));
            }
            Some(v)
        }
    };
    Ok(Some((mem, swap)))
}

/// --dns and --add-host, checked whatever the network (the files are written later).
fn check_dns_hosts(o: &CreateOptions) -> Result<()> {
    for d in &o.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(bad("--dns", d, "expected an IP address"));
        }
    }
    for h in &o.add_hosts {
        match h.split_once([':', '=']) {
            Some((name, ip)) if !name.is_empty() && ip.parse::<std::net::IpAddr>().is_ok() => {}
            _ => return Err(bad("--add-host", h, "expected HOST:IP")),
        }
    }
    Ok(())
}

pub fn build(o: &CreateOptions, inp: &BuildInput) -> Result<Built> {
    check_dns_hosts(o)?;
    let rc = inp.rc;
    let mut rcx = rc.clone();
    // Entrypoint and command: docker drops the image's Cmd when --entrypoint is given.
    let entry = match &o.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => inp.entrypoint.clone(),
    };
    let cmd = if !o.cmd.is_empty() {
        o.cmd.clone()
    } else if o.entrypoint.is_some() {
        vec![]
    } else {
        inp.cmd.clone()
    };
    rcx.args = entry.into_iter().chain(cmd).collect();
    if rcx.args.is_empty() {
        return Err(ContainerError::Other(
            "no command given and the image has none (set Cmd or Entrypoint, or give one)".into(),
        ));
    }
    let mut env = rcx.env.clone();
    let mut extra: Vec<String> = Vec::new();
    for f in &o.env_files {
        extra.extend(opts::read_env_file(f)?);
    }
    for e in &o.env {
        if e.starts_with('=') || e.is_empty() {
            return Err(bad("-e", e, "expected KEY=VALUE or KEY"));
        }
        extra.extend(opts::expand_env(e));
    }
    for e in extra {
        let k = e.split_once('=').map(|x| x.0).unwrap_or(&e).to_string();
        env.retain(|x| x.split_once('=').map(|y| y.0) != Some(k.as_str()));
        env.push(e);
    }
    // With the host's network the host's name, as docker gives it.
    let hostname = o.hostname.clone().unwrap_or_else(|| {
        match super::net::mode(o) == super::record::NetworkMode::Host {
            true => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| inp.id[..12].to_string()),
            false => inp.id[..12].to_string(),
        }
    });
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    rcx.env = env;
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(bad("-w", w, "the working directory must be absolute"));
        }
        rcx.cwd = w.clone();
    }
    let mut user = String::new();
    if let Some(u) = &o.user {
        let (uid, gid, extra) =
            crate::image::config::resolve_user(u, inp.passwd.as_deref(), inp.group.as_deref())
                .map_err(|e| bad("-u", u, e.to_string()))?;
        rcx.uid = uid;
        rcx.gid = gid;
        rcx.additional_gids = extra;
        user = u.clone();
    }
    for g in &o.group_add {
        let gid = crate::image::config::resolve_group(g, inp.group.as_deref())
            .map_err(|e| bad("--group-add", g, e.to_string()))?;
        if !rcx.additional_gids.contains(&gid) {
            rcx.additional_gids.push(gid);
        }
    }

    let caps = caps(o)?;
    let dir = inp.dir;
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": o.tty,
            "user": {"uid": 0, "gid": 0},
            "args": [],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": rlimits(),
        },
        "root": {"path": "rootfs", "readonly": o.read_only},
        "hostname": hostname,
        "mounts": [],
        "linux": {
            "cgroupsPath": format!("/berth/{}", inp.id),
            "resources": {"devices": default_devices_allow()},
            "namespaces": [],
            "maskedPaths": [
                "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    rcx.apply(&mut spec)?;

    // Namespaces.
    let net = o.network.clone().unwrap_or_else(|| "none".into());
    let mut nss = Vec::new();
    // Every other name is a network of the network module, in a namespace of its own.
    let net_mode = match net.as_str() {
        "host" => "host",
        n if n.starts_with("container:") => n,
        _ => "",
    };
    for (kind, flag, v) in [
        ("pid", "--pid", o.pid.as_deref().unwrap_or("")),
        ("ipc", "--ipc", o.ipc.as_deref().unwrap_or("")),
        ("uts", "--uts", o.uts.as_deref().unwrap_or("")),
        ("network", "--network", net_mode),
    ] {
        let v = if v == "shareable" { "" } else { v };
        if let Some(n) = ns_path(kind, v, flag, inp.peer_pid)? {
            nss.push(n);
        }
    }
    nss.push(json!({"type": "mount"}));
    match o.cgroupns.as_deref() {
        None | Some("private") => nss.push(json!({"type": "cgroup"})),
        Some("host") => {}
        Some(v) => return Err(bad("--cgroupns", v, "expected private or host")),
    }
    // A UTS namespace not our own keeps its hostname (the host's, or the peer's).
    if o.uts
        .as_deref()
        .is_some_and(|u| u == "host" || u.starts_with("container:"))
    {
        spec.as_object_mut().unwrap().remove("hostname");
    }
    spec["linux"]["namespaces"] = json!(nss);

    // Mounts: the defaults, the /etc files, then volumes; a user mount replaces a default.
    let shm = match &o.shm_size {
        Some(s) => opts::parse_size("--shm-size", s)?,
        None => 64 << 20,
    };
    let sys_ro = if o.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", sys_ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    // --ipc host comes with the host's /dev/shm, as in docker; --ipc
    // container:X with X's, which each start mounts at <dir>/shm.
    let shared_shm = match o.ipc.as_deref() {
        Some("host") => Some("/dev/shm".to_string()),
        Some(m) if m.starts_with("container:") => Some(dir.join("shm").display().to_string()),
        _ => None,
    };
    if let Some(src) = shared_shm {
        mounts.retain(|m| m["destination"] != "/dev/shm");
        mounts.push(
            json!({"destination": "/dev/shm", "type": "bind", "source": src,
            "options": ["rbind", "rprivate"]}),
        );
    }
    for f in ["hostname", "hosts", "resolv.conf"] {
        mounts.push(json!({"destination": format!("/etc/{f}"), "type": "bind",
            "source": dir.join(f).display().to_string(), "options": ["rbind", "rprivate"]}));
    }
    let mut records = Vec::new();
    let mut add = |dest: &str, m: Value, rec: Option<MountRecord>| {
        mounts.retain(|x| x["destination"] != json!(dest));
        mounts.push(m);
        if let Some(r) = rec {
            records.retain(|x: &MountRecord| x.destination != r.destination);
            records.push(r);
        }
    };
    let mut vols: Vec<(VolumeSpec, Vec<String>)> = Vec::new();
    for v in &rc.volumes {
        vols.push((VolumeSpec::Anonymous { dest: v.clone() }, vec![]));
    }
    for v in &o.volumes {
        vols.push((opts::parse_volume(v)?, vec![]));
    }
    for m in &o.mounts {
        let (kind, v, topts) = opts::parse_mount(m)?;
        if kind == "tmpfs" {
            if let VolumeSpec::Anonymous { dest } = &v {
                let mut mo = vec!["nosuid".to_string(), "nodev".into()];
                mo.extend(topts);
                add(
                    dest,
                    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": mo}),
                    Some(MountRecord {
                        kind: MountKind::Tmpfs,
                        name: String::new(),
                        source: String::new(),
                        destination: dest.clone(),
                        rw: true,
                    }),
                );
            }
            continue;
        }
        vols.push((v, vec![]));
    }
    for (v, _) in vols {
        match v {
            VolumeSpec::Bind { source, dest, ro } => {
                if !source.exists() {
                    return Err(bad(
                        "-v",
                        &source.display().to_string(),
                        "the host path does not exist",
                    ));
                }
                let mut mo = vec!["rbind", "rprivate"];
                if ro {
                    mo.push("ro");
                }
                let src = source.display().to_string();
                add(
                    &dest,
                    json!({"destination": dest, "type": "bind", "source": src, "options": mo}),
                    Some(MountRecord {
                        kind: MountKind::Bind,
                        name: String::new(),
                        source: src,
                        destination: dest.clone(),
                        rw: !ro,
                    }),
                );
            }
            VolumeSpec::Named { name, dest, ro } => {
                let src = (inp.volume_dir)(&name, false)?;
                let mut mo = vec!["rbind", "rprivate"];
                if ro {
                    mo.push("ro");
                }
                add(
                    &dest,
                    json!({"destination": dest, "type": "bind", "source": src, "options": mo}),
                    Some(MountRecord {
                        kind: MountKind::Volume,
                        name,
                        source: src,
                        destination: dest.clone(),
                        rw: !ro,
                    }),
                );
            }
            VolumeSpec::Anonymous { dest } => {
                let name = super::random_id();
                let src = (inp.volume_dir)(&name, true)?;
                add(
                    &dest,
                    json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}),
                    Some(MountRecord {
                        kind: MountKind::Volume,
                        name,
                        source: src,
                        destination: dest.clone(),
                        rw: true,
                    }),
                );
            }
        }
    }
    for t in &o.tmpfs {
        let (dest, topts) = t.split_once(':').unwrap_or((t, ""));
        if !dest.starts_with('/') {
            return Err(bad("--tmpfs", t, "the container path must be absolute"));
        }
        let mut mo = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
        mo.extend(topts.split(',').filter(|x| !x.is_empty()).map(String::from));
        add(
            dest,
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": mo}),
            Some(MountRecord {
                kind: MountKind::Tmpfs,
                name: String::new(),
                source: String::new(),
                destination: dest.to_string(),
                rw: true,
            }),
        );
    }
    if o.init {
        let init = Path::new("/usr/bin/catatonit");
        if !init.exists() {
            return Err(ContainerError::Other(
                "--init needs /usr/bin/catatonit (apt install catatonit), which is missing".into(),
            ));
        }
        add(
            "/run/berth-init",
            json!({"destination": "/run/berth-init", "type": "bind",
            "source": init.display().to_string(), "options": ["bind", "ro"]}),
            None,
        );
        let mut a = vec![json!("/run/berth-init"), json!("--")];
        a.extend(
            spec["process"]["args"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        spec["process"]["args"] = json!(a);
    }
    spec["mounts"] = json!(mounts);

    // Resources.
    let limits = resources(o)?;
    let res = &mut spec["linux"]["resources"];
    for (k, v) in limits.as_object().into_iter().flatten() {
        res[k] = v.clone();
    }
    let mut devices = Vec::new();
    for d in &o.devices {
        let parts: Vec<&str> = d.split(':').collect();
        let host = parts[0];
        let ctr = parts.get(1).copied().unwrap_or(host);
        let perms = parts.get(2).copied().unwrap_or("rwm");
        let st = nix::sys::stat::stat(host)
            .map_err(|e| bad("--device", d, format!("cannot stat {host}: {e}")))?;
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFCHR => "c",
            libc::S_IFBLK => "b",
            _ => return Err(bad("--device", d, "not a device")),
        };
        let (maj, min) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        devices.push(
            json!({"path": ctr, "type": kind, "major": maj, "minor": min,
            "fileMode": st.st_mode & 0o777, "uid": 0, "gid": 0}),
        );
        res["devices"].as_array_mut().unwrap().push(
            json!({"allow": true, "type": kind, "major": maj, "minor": min, "access": perms}),
        );
    }
    if !devices.is_empty() {
        spec["linux"]["devices"] = json!(devices);
    }
    if o.privileged {
        spec["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        spec["linux"]["maskedPaths"] = json!([]);
        spec["linux"]["readonlyPaths"] = json!([]);
    }
    let mut ul = spec["process"]["rlimits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for u in &o.ulimits {
        let (name, soft, hard) = opts::parse_ulimit(u)?;
        ul.retain(|x| x["type"] != json!(name));
        ul.push(json!({"type": name, "soft": soft, "hard": hard}));
    }
    spec["process"]["rlimits"] = json!(ul);
    if let Some(a) = o.oom_score_adj {
        if !(-1000..=1000).contains(&a) {
            return Err(bad(
                "--oom-score-adj",
                &a.to_string(),
                "must be between -1000 and 1000",
            ));
        }
        spec["process"]["oomScoreAdj"] = json!(a);
    }
    if !o.sysctls.is_empty() {
        let mut m = serde_json::Map::new();
        for s in &o.sysctls {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| bad("--sysctl", s, "expected KEY=VALUE"))?;
            m.insert(k.to_string(), json!(v));
        }
        spec["linux"]["sysctl"] = Value::Object(m);
    }

    // Security.
    let mut seccomp = if o.privileged {
        None
    } else {
        Some(String::from(super::seccomp::DEFAULT_PROFILE))
    };
    for s in &o.security_opt {
        let (k, v) = s.split_once(['=', ':']).unwrap_or((s, ""));
        match (k, v) {
            ("no-new-privileges", "" | "true") => spec["process"]["noNewPrivileges"] = json!(true),
            ("no-new-privileges", "false") => {}
            ("seccomp", "unconfined") => seccomp = None,
            ("seccomp", f) if !f.is_empty() => seccomp = Some(f.to_string()),
            ("label" | "apparmor", _) => {}
            _ => {
                return Err(bad(
                    "--security-opt",
                    s,
                    "supported: seccomp=FILE|unconfined, no-new-privileges",
                ))
            }
        }
    }
    if let Some(f) = seccomp {
        match std::fs::read(&f) {
            Ok(b) => {
                let p: Value = serde_json::from_slice(&b).map_err(|e| {
                    bad(
                        "--security-opt",
                        &f,
                        format!("invalid seccomp profile: {e}"),
                    )
                })?;
                spec["linux"]["seccomp"] = super::seccomp::translate(&p, &caps);
            }
            // The default profile is a Debian package of its own: without it, no filter (say so).
            Err(_) if f == super::seccomp::DEFAULT_PROFILE => {
                log::warn!("{f} is missing: the container runs without a seccomp filter")
            }
            Err(e) => return Err(bad("--security-opt", &f, format!("cannot read it: {e}"))),
        }
    }

    let mut ann = spec["annotations"].as_object().cloned().unwrap_or_default();
    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        ann.insert(k.to_string(), json!(v));
    }
    spec["annotations"] = Value::Object(ann);
    let stop_signal = o
        .stop_signal
        .clone()
        .or(rc.stop_signal.clone())
        .unwrap_or_else(|| "SIGTERM".into());
    berth_common::signal::parse(&stop_signal)
        .ok_or_else(|| bad("--stop-signal", &stop_signal, "unknown signal"))?;
    Ok(Built {
        host_config: host_config(o, &spec),
        spec,
        mounts: records,
        hostname,
        user,
        stop_signal,
    })
}
