//! The bundle's config.json, typed (oci-spec): a docker-like base, the
//! image's runtime config, then the flags, in that order (later wins). Each
//! part has its file: `process`, `namespaces`, `mounts`, `resources`,
//! `security`; `host_config` is docker's view of the result for inspect.

mod edit;
mod host_config;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod security;

pub use edit::{Bundle, ExecProcess};
pub use host_config::set_host_limits;
pub use process::DEFAULT_CAPS;
pub use resources::{is_empty, merge, parse_memory, resources};

use super::opts::{self, CreateOptions};
use super::store::MountRecord;
use super::{bad, ContainerError, Result};
use crate::image::config::RuntimeConfig;
use oci_spec::runtime::{LinuxBuilder, RootBuilder, Spec, SpecBuilder};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

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
    pub spec: Spec,
    pub mounts: Vec<MountRecord>,
    pub hostname: String,
    pub user: String,
    pub stop_signal: String,
    /// docker's inspect `HostConfig`, from the flags as they were applied.
    pub host_config: Value,
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
        match opts::network_mode(o) == super::record::NetworkMode::Host {
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
    // The primary group is a supplementary one too, as docker's runc gives it.
    if !rcx.additional_gids.contains(&rcx.gid) {
        rcx.additional_gids.insert(0, rcx.gid);
    }

    let caps = process::caps(o)?;
    let mut proc = process::base(o, &caps)?;
    let mut linux = LinuxBuilder::default()
        .cgroups_path(format!("/berth/{}", inp.id))
        .masked_paths(strings(security::MASKED_PATHS))
        .readonly_paths(strings(security::READONLY_PATHS))
        .build()
        .expect("linux");
    rcx.apply(&mut proc)?;
    let mut annotations = rcx
        .annotations
        .clone()
        .into_iter()
        .collect::<HashMap<_, _>>();

    linux.set_namespaces(Some(namespaces::namespaces(o, inp.peer_pid)?));
    // A UTS namespace not our own keeps its hostname (the host's, or the peer's).
    let own_uts = !o
        .uts
        .as_deref()
        .is_some_and(|u| u == "host" || u.starts_with("container:"));

    let (mounts, records) = mounts::mounts(o, inp)?;
    if o.init {
        let mut a = vec![mounts::INIT_PATH.to_string(), "--".into()];
        a.extend(proc.args().clone().unwrap_or_default());
        proc.set_args(Some(a));
    }

    let mut res = resources::resources(o)?;
    let (devices, rules) = resources::devices(o)?;
    res.set_devices(Some(
        resources::default_devices_allow()
            .into_iter()
            .chain(rules)
            .collect(),
    ));
    if !devices.is_empty() {
        linux.set_devices(Some(devices));
    }
    if o.privileged {
        res.set_devices(Some(resources::privileged_devices_allow()));
        linux.set_masked_paths(Some(vec![]));
        linux.set_readonly_paths(Some(vec![]));
    }
    linux.set_resources(Some(res));
    process::limits(&mut proc, o)?;
    if !o.sysctls.is_empty() {
        let mut m = HashMap::new();
        for s in &o.sysctls {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| bad("--sysctl", s, "expected KEY=VALUE"))?;
            m.insert(k.to_string(), v.to_string());
        }
        linux.set_sysctl(Some(m));
    }

    let sec = security::security(o, &caps)?;
    if sec.no_new_privileges {
        proc.set_no_new_privileges(Some(true));
    }
    linux.set_seccomp(sec.seccomp);

    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        annotations.insert(k.to_string(), v.to_string());
    }
    let stop_signal = o
        .stop_signal
        .clone()
        .or(rc.stop_signal.clone())
        .unwrap_or_else(|| "SIGTERM".into());
    berth_common::signal::parse(&stop_signal)
        .ok_or_else(|| bad("--stop-signal", &stop_signal, "unknown signal"))?;
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .process(proc)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(o.read_only)
                .build()
                .expect("root"),
        )
        .mounts(mounts)
        .linux(linux)
        .annotations(annotations)
        .build()
        .expect("spec");
    spec.set_hostname(own_uts.then(|| hostname.clone()));
    Ok(Built {
        host_config: host_config::host_config(o, &spec),
        spec,
        mounts: records,
        hostname,
        user,
        stop_signal,
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests;
