//! `POST /containers/create`: docker's container config, host config and
//! networking config, read into the same `CreateOptions` the CLI's flags
//! make, so both doors create containers by one code path.

use super::body::ApiError;
use crate::container::opts::CreateOptions;
use serde::Deserialize;
use std::collections::BTreeMap;

/// docker sends `null` for many empty lists and maps; Go's decoder reads it
/// as empty, and so do we.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string list that docker also accepts as one string (Cmd, Entrypoint).
#[derive(Deserialize, Default, Debug)]
#[serde(untagged)]
pub enum StrOrList {
    #[default]
    Null,
    One(String),
    Many(Vec<String>),
}

impl StrOrList {
    fn into_vec(self) -> Option<Vec<String>> {
        match self {
            StrOrList::Null => None,
            StrOrList::One(s) => Some(s.split_whitespace().map(String::from).collect()),
            StrOrList::Many(v) => Some(v),
        }
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    #[serde(deserialize_with = "nullable")]
    test: Vec<String>,
    interval: i64,
    timeout: i64,
    start_period: i64,
    retries: u32,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
pub struct Body {
    hostname: String,
    user: String,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    #[serde(deserialize_with = "nullable")]
    env: Vec<String>,
    cmd: StrOrList,
    entrypoint: StrOrList,
    image: String,
    working_dir: String,
    #[serde(deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(deserialize_with = "nullable")]
    volumes: BTreeMap<String, serde_json::Value>,
    stop_signal: String,
    stop_timeout: Option<u32>,
    healthcheck: Option<Health>,
    host_config: HostConfig,
    networking_config: NetworkingConfig,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct PortBinding {
    host_ip: String,
    host_port: String,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct Mount {
    #[serde(rename = "Type")]
    kind: String,
    source: String,
    target: String,
    read_only: bool,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct Ulimit {
    name: String,
    soft: i64,
    hard: i64,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct Device {
    path_on_host: String,
    path_in_container: String,
    cgroup_permissions: String,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct Restart {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct LogConfig {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    config: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    #[serde(deserialize_with = "nullable")]
    binds: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    mounts: Vec<Mount>,
    #[serde(deserialize_with = "nullable")]
    tmpfs: BTreeMap<String, String>,
    network_mode: String,
    #[serde(deserialize_with = "nullable")]
    port_bindings: BTreeMap<String, Option<Vec<PortBinding>>>,
    publish_all_ports: bool,
    restart_policy: Restart,
    auto_remove: bool,
    memory: i64,
    memory_swap: i64,
    memory_reservation: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    cpuset_cpus: String,
    pids_limit: Option<i64>,
    readonly_rootfs: bool,
    #[serde(deserialize_with = "nullable")]
    cap_add: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    cap_drop: Vec<String>,
    privileged: bool,
    #[serde(deserialize_with = "nullable")]
    security_opt: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    ulimits: Vec<Ulimit>,
    #[serde(deserialize_with = "nullable")]
    devices: Vec<Device>,
    #[serde(deserialize_with = "nullable")]
    extra_hosts: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    dns: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    dns_search: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    dns_options: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    group_add: Vec<String>,
    oom_score_adj: i32,
    cgroupns_mode: String,
    init: Option<bool>,
    runtime: String,
    #[serde(deserialize_with = "nullable")]
    sysctls: BTreeMap<String, String>,
    shm_size: i64,
    ipc_mode: String,
    pid_mode: String,
    #[serde(rename = "UTSMode")]
    uts_mode: String,
    log_config: LogConfig,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    ipv6_address: String,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct Endpoint {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamConfig>,
    #[serde(deserialize_with = "nullable")]
    aliases: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    #[serde(deserialize_with = "nullable")]
    endpoints_config: BTreeMap<String, Option<Endpoint>>,
}

/// docker's RestartPolicy as the CLI's `--restart` value.
pub fn restart_flag(name: &str, max: u32) -> Option<String> {
    match name {
        "" | "no" => None,
        "on-failure" if max > 0 => Some(format!("on-failure:{max}")),
        p => Some(p.to_string()),
    }
}

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn ns_duration(ns: i64) -> Option<String> {
    (ns > 0).then(|| format!("{ns}ns"))
}

/// The request body and `?name=` into the options `create` takes.
pub fn options(body: &[u8], name: Option<&str>) -> Result<CreateOptions, ApiError> {
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    if b.image.is_empty() {
        return Err(ApiError::bad("config: Image is required"));
    }
    let h = b.host_config;
    let mut o = CreateOptions {
        image: b.image,
        name: name.map(String::from),
        tty: b.tty,
        interactive: b.open_stdin,
        stdin_once: b.stdin_once,
        auto_remove: h.auto_remove,
        env: b.env,
        workdir: some(b.working_dir),
        user: some(b.user),
        hostname: some(b.hostname),
        stop_signal: some(b.stop_signal),
        stop_timeout: b.stop_timeout,
        labels: b
            .labels
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        expose: b.exposed_ports.into_keys().collect(),
        publish_all: h.publish_all_ports,
        read_only: h.readonly_rootfs,
        cap_add: h.cap_add,
        cap_drop: h.cap_drop,
        privileged: h.privileged,
        security_opt: h.security_opt,
        add_hosts: h.extra_hosts,
        dns: h.dns,
        dns_search: h.dns_search,
        dns_options: h.dns_options,
        group_add: h.group_add,
        oom_score_adj: (h.oom_score_adj != 0).then_some(h.oom_score_adj),
        cgroupns: some(h.cgroupns_mode),
        init: h.init.unwrap_or(false),
        runtime: some(h.runtime),
        ipc: some(h.ipc_mode),
        pid: some(h.pid_mode),
        uts: some(h.uts_mode),
        cpuset_cpus: some(h.cpuset_cpus),
        pids_limit: h.pids_limit.filter(|p| *p != 0),
        ..Default::default()
    };
    // The process's argv is entrypoint + cmd; an entrypoint of several words
    // keeps its first as the entrypoint and the rest before the command.
    let cmd = b.cmd.into_vec();
    match b.entrypoint.into_vec() {
        None => o.cmd = cmd.unwrap_or_default(),
        Some(ep) if ep.is_empty() => {
            o.entrypoint = Some(String::new());
            o.cmd = cmd.unwrap_or_default();
        }
        Some(ep) => {
            o.entrypoint = Some(ep[0].clone());
            o.cmd = ep[1..].to_vec();
            o.cmd.extend(cmd.unwrap_or_default());
        }
    }
    o.volumes = h.binds;
    o.volumes.extend(b.volumes.into_keys());
    for m in h.mounts {
        let mut s = format!("type={},target={}", m.kind, m.target);
        if !m.source.is_empty() {
            s.push_str(&format!(",source={}", m.source));
        }
        if m.read_only {
            s.push_str(",readonly");
        }
        o.mounts.push(s);
    }
    o.tmpfs = h
        .tmpfs
        .into_iter()
        .map(|(p, opts)| {
            if opts.is_empty() {
                p
            } else {
                format!("{p}:{opts}")
            }
        })
        .collect();
    o.network = match h.network_mode.as_str() {
        "" | "default" => None,
        m => Some(m.to_string()),
    };
    for (port, binds) in h.port_bindings {
        for b in binds.unwrap_or_default() {
            let ip = if b.host_ip.is_empty() {
                String::new()
            } else if b.host_ip.contains(':') {
                format!("[{}]:", b.host_ip)
            } else {
                format!("{}:", b.host_ip)
            };
            o.publish.push(format!("{ip}{}:{port}", b.host_port));
        }
    }
    // docker 20.10 takes the settings of the container's own network at
    // create; other networks are connected afterwards.
    let net = o.network.clone().unwrap_or_else(|| "bridge".into());
    let mut eps = b.networking_config.endpoints_config;
    if let Some(Some(ep)) = eps.remove(&net) {
        let (ip, ip6) = ep
            .ipam_config
            .map(|c| (some(c.ipv4_address), some(c.ipv6_address)))
            .unwrap_or_default();
        o.ip = ip;
        o.ip6 = ip6;
        o.network_aliases = ep.aliases;
    }
    o.restart = restart_flag(&h.restart_policy.name, h.restart_policy.maximum_retry_count);
    if h.memory > 0 {
        o.memory = Some(h.memory.to_string());
    }
    if h.memory_swap != 0 {
        o.memory_swap = Some(h.memory_swap.to_string());
    }
    if h.memory_reservation > 0 {
        o.memory_reservation = Some(h.memory_reservation.to_string());
    }
    if h.nano_cpus > 0 {
        o.cpus = Some(format!("{}", h.nano_cpus as f64 / 1e9));
    }
    if h.cpu_shares > 0 {
        o.cpu_shares = Some(h.cpu_shares as u64);
    }
    if h.shm_size > 0 {
        o.shm_size = Some(h.shm_size.to_string());
    }
    o.ulimits = h
        .ulimits
        .into_iter()
        .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
        .collect();
    o.devices = h
        .devices
        .into_iter()
        .map(|d| {
            let to = if d.path_in_container.is_empty() {
                d.path_on_host.clone()
            } else {
                d.path_in_container
            };
            let perms = if d.cgroup_permissions.is_empty() {
                "rwm".to_string()
            } else {
                d.cgroup_permissions
            };
            format!("{}:{to}:{perms}", d.path_on_host)
        })
        .collect();
    o.sysctls = h
        .sysctls
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match h.log_config.kind.as_str() {
        "" | "json-file" | "local" | "k8s-file" => {}
        t => {
            return Err(ApiError::bad(format!(
                "logging driver {t:?} is not supported"
            )))
        }
    }
    o.log_max_size = h.log_config.config.get("max-size").cloned();
    if let Some(hc) = b.healthcheck {
        match hc.test.first().map(String::as_str) {
            Some("NONE") => o.no_healthcheck = true,
            Some("CMD-SHELL") => o.health_cmd = hc.test.get(1).cloned(),
            // berth's health checks run a shell command line.
            Some("CMD") => o.health_cmd = Some(hc.test[1..].join(" ")),
            _ => {}
        }
        o.health_interval = ns_duration(hc.interval);
        o.health_timeout = ns_duration(hc.timeout);
        o.health_start_period = ns_duration(hc.start_period);
        o.health_retries = (hc.retries > 0).then_some(hc.retries);
    }
    Ok(o)
}
