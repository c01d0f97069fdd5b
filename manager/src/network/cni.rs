//! The `cni` driver: a network is a CNI conflist, and attaching a container
//! runs its plugins (Debian's containernetworking-plugins: bridge,
//! host-local, macvlan, ptp, portmap, firewall, tuning...) as the CNI spec
//! says: one process per plugin, CNI_* in the environment, the plugin's
//! config on stdin with the previous plugin's result as `prevResult`, the
//! result JSON on stdout. ADD runs the chain in order; DEL runs it in
//! reverse with the cached ADD result, which lives in the lease in berth's
//! store, so any later berth (after rm, stop, prune, or a crash) can still
//! DEL; CHECK (spec 0.4.0 and later) is `berth network check`, on demand:
//! as under podman and kubelet, not on every start (portmap 1.1.1's CHECK
//! also fails whenever ip6tables has no chain of its own).

use super::publish::{PortMap, Proto};
use super::state::{Lease, Network};
use super::NetError;
use serde_json::{json, Value};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where plugins are looked for, unless `cni_path` in networks/config.json says.
pub const DEFAULT_PATH: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// Reads and checks a conflist (or a single-plugin .conf, which is made
/// into a list of one), returning it as stored in the network record.
pub fn load_config(file: &Path) -> Result<Value, NetError> {
    let bad = |why: String| NetError::Invalid(format!("CNI config {}: {why}", file.display()));
    let data = std::fs::read(file).map_err(|e| bad(e.to_string().to_lowercase()))?;
    let mut v: Value =
        serde_json::from_slice(&data).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if v.get("plugins").is_none() && v.get("type").is_some() {
        let name = v.get("name").cloned().unwrap_or(Value::Null);
        let ver = v.get("cniVersion").cloned().unwrap_or(Value::Null);
        v = json!({"cniVersion": ver, "name": name, "plugins": [v]});
    }
    if !v["name"].is_string() {
        return Err(bad("no \"name\"".into()));
    }
    if !v["cniVersion"].is_string() {
        return Err(bad("no \"cniVersion\"".into()));
    }
    let plugins = v["plugins"]
        .as_array()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("no \"plugins\" list".into()))?;
    for p in plugins {
        let t = p["type"]
            .as_str()
            .ok_or_else(|| bad("a plugin without \"type\"".into()))?;
        if t.is_empty() || t.contains('/') {
            return Err(bad(format!("bad plugin type {t:?}")));
        }
    }
    Ok(v)
}

/// The first IPv4 subnet of the conflist's IPAM, if it names one: shown by
/// inspect, and checked against other networks.
pub fn ipam_subnet(conf: &Value) -> Option<(super::subnet::Ipv4Net, Option<Ipv4Addr>)> {
    for p in conf["plugins"].as_array()? {
        let ipam = &p["ipam"];
        let mut cands = vec![(ipam["subnet"].clone(), ipam["gateway"].clone())];
        for r in ipam["ranges"].as_array().into_iter().flatten() {
            for x in r.as_array().into_iter().flatten() {
                cands.push((x["subnet"].clone(), x["gateway"].clone()));
            }
        }
        for (s, g) in cands {
            if let Some(n) = s.as_str().and_then(|s| s.parse().ok()) {
                return Some((n, g.as_str().and_then(|g| g.parse().ok())));
            }
        }
    }
    None
}

/// What a result says of the container's interface `ifname`.
#[derive(Default, Debug)]
pub struct Summary {
    pub ip: Option<(Ipv4Addr, u8, Option<Ipv4Addr>)>,
    pub ip6: Option<(Ipv6Addr, u8, Option<Ipv6Addr>)>,
    pub mac: Option<String>,
}

pub fn summary(result: &Value) -> Summary {
    let mut s = Summary::default();
    for ip in result["ips"].as_array().into_iter().flatten() {
        let Some((a, p)) = ip["address"].as_str().and_then(|a| a.split_once('/')) else {
            continue;
        };
        let Ok(plen) = p.parse::<u8>() else { continue };
        let gw = ip["gateway"]
            .as_str()
            .and_then(|g| g.parse::<IpAddr>().ok());
        match a.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) if s.ip.is_none() => {
                let gw = match gw {
                    Some(IpAddr::V4(g)) => Some(g),
                    _ => None,
                };
                s.ip = Some((a, plen, gw));
            }
            Ok(IpAddr::V6(a)) if s.ip6.is_none() => {
                let gw = match gw {
                    Some(IpAddr::V6(g)) => Some(g),
                    _ => None,
                };
                s.ip6 = Some((a, plen, gw));
            }
            _ => {}
        }
    }
    s.mac = result["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["sandbox"].as_str().is_some_and(|x| !x.is_empty()))
        .and_then(|i| i["mac"].as_str())
        .map(String::from);
    s
}

fn find_plugin(path: &[PathBuf], ty: &str) -> Result<PathBuf, NetError> {
    path.iter()
        .map(|d| d.join(ty))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "CNI plugin {ty:?} not found in {} (is containernetworking-plugins installed?)",
                path.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            ))
        })
}

fn port_mappings(ports: &[PortMap]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| {
                let mut m = json!({
                    "hostPort": p.host_port,
                    "containerPort": p.container_port,
                    "protocol": match p.proto { Proto::Tcp => "tcp", Proto::Udp => "udp" },
                });
                if let Some(ip) = p.host_ip {
                    m["hostIP"] = ip.to_string().into();
                }
                m
            })
            .collect(),
    )
}

/// Whether some plugin of the list takes published ports (portmap's
/// `capabilities: {"portMappings": true}`).
pub fn maps_ports(conf: &Value) -> bool {
    conf["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["capabilities"]["portMappings"] == true)
}

/// One plugin invocation. Returns its stdout parsed (Null when it printed
/// nothing, as DEL and CHECK do).
fn exec(
    path: &[PathBuf],
    plugin: &Value,
    conf: &Value,
    cmd: &str,
    l: &Lease,
    netns: &str,
    prev: Option<&Value>,
) -> Result<Value, NetError> {
    let ty = plugin["type"].as_str().unwrap_or_default();
    let bin = find_plugin(path, ty)?;
    let mut stdin = plugin.clone();
    stdin["name"] = conf["name"].clone();
    stdin["cniVersion"] = conf["cniVersion"].clone();
    if let Some(p) = prev {
        stdin["prevResult"] = p.clone();
    }
    if plugin["capabilities"]["portMappings"] == true {
        stdin["runtimeConfig"]["portMappings"] = port_mappings(&l.ports);
    }
    let cni_path = path
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    log::debug!("CNI {cmd} {ty}: {stdin}");
    let mut child = Command::new(&bin)
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", &l.container_id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", &l.ifname)
        .env("CNI_PATH", &cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Io(format!("running CNI plugin {}", bin.display()), e))?;
    let data = serde_json::to_vec(&stdin).expect("json");
    let _ = child.stdin.take().expect("piped").write_all(&data);
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Io(format!("waiting for CNI plugin {ty}"), e))?;
    let parsed: Value = if out.stdout.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).map_err(|e| {
            NetError::Invalid(format!(
                "CNI plugin {ty} {cmd}: its output is not JSON: {e}"
            ))
        })?
    };
    if !out.status.success() {
        let msg = parsed["msg"].as_str().map(String::from).unwrap_or_else(|| {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("failed")
                .to_string()
        });
        let details = parsed["details"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(NetError::Invalid(format!(
            "CNI plugin {ty} {cmd}: {msg}{details}"
        )));
    }
    Ok(parsed)
}

/// The conflist of a cni network's record.
fn conf_of(net: &Network) -> Result<&Value, NetError> {
    net.cni.as_ref().ok_or_else(|| {
        NetError::Config(format!(
            "network {} is a cni network without a CNI config in its record",
            net.name
        ))
    })
}

fn plugins(net: &Network) -> Vec<Value> {
    net.cni
        .as_ref()
        .and_then(|c| c["plugins"].as_array().cloned())
        .unwrap_or_default()
}

/// CHECK exists from spec 0.4.0 on.
fn has_check(conf: &Value) -> bool {
    let v = conf["cniVersion"].as_str().unwrap_or("0.0.0");
    !(v.starts_with("0.1") || v.starts_with("0.2") || v.starts_with("0.3"))
}

/// ADD through the chain; the final result. On failure the caller DELs
/// (the spec's cleanup for a failed ADD).
pub fn add(path: &[PathBuf], net: &Network, l: &Lease, netns: &Path) -> Result<Value, NetError> {
    let conf = conf_of(net)?;
    let ns = netns.display().to_string();
    let mut prev: Option<Value> = None;
    for p in plugins(net) {
        let r = exec(path, &p, conf, "ADD", l, &ns, prev.as_ref())?;
        if r.is_null() {
            return Err(NetError::Invalid(format!(
                "CNI plugin {} ADD printed no result",
                p["type"]
            )));
        }
        prev = Some(r);
    }
    Ok(prev.expect("a plugin ran"))
}

/// CHECK through the chain with the cached result, in the pinned namespace.
pub fn check(net: &Network, l: &Lease) -> Result<(), NetError> {
    let conf = conf_of(net)?;
    if !has_check(conf) {
        return Err(NetError::Invalid(format!(
            "CNI spec {} has no CHECK (0.4.0 and later have)",
            conf["cniVersion"]
        )));
    }
    let result = l.cni_result.as_ref().ok_or_else(|| {
        NetError::Invalid(format!("container {} has no ADD result", l.container_id))
    })?;
    let ns = l
        .netns_pin
        .as_deref()
        .filter(|p| is_mount(p))
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "the network namespace of container {} is gone",
                l.container_id
            ))
        })?;
    let ns = ns.display().to_string();
    for p in plugins(net) {
        exec(&net.cni_path, &p, conf, "CHECK", l, &ns, Some(result))?;
    }
    Ok(())
}

/// Where a container's namespace is pinned for network `net`.
pub fn pin_path(root: &Path, net: &str, container_id: &str) -> PathBuf {
    root.join("networks")
        .join("netns")
        .join(format!("{net}-{container_id}"))
}

fn is_mount(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), p.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Bind-mounts the namespace `ns` (a /proc/PID/ns/net) on `pin`.
pub fn pin(ns: &Path, pin: &Path) -> Result<(), NetError> {
    let io = |e| NetError::Io(format!("pinning {} on {}", ns.display(), pin.display()), e);
    if let Some(d) = pin.parent() {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    std::fs::write(pin, b"").map_err(io)?;
    nix::mount::mount(
        Some(ns),
        pin,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| io(std::io::Error::from(e)))
}

fn unpin(pin: &Path) {
    if is_mount(pin) {
        let _ = nix::mount::umount2(pin, nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_file(pin);
}

/// DEL through the chain in reverse, in the pinned namespace (or, for a
/// lease from before pins, the live holder's, or none: plugins then
/// release what is outside it). Every plugin is called; the first error
/// is returned; the pin goes only once DEL succeeded.
pub fn del(path: &[PathBuf], net: &Network, l: &Lease) -> Result<(), NetError> {
    let conf = conf_of(net)?;
    let pinned = l.netns_pin.as_deref().filter(|p| is_mount(p));
    let ns = match pinned {
        Some(p) => p.display().to_string(),
        None => l
            .pid
            .filter(|(pid, t)| super::state::start_time(*pid) == Some(*t))
            .map(|(pid, _)| format!("/proc/{pid}/ns/net"))
            .unwrap_or_default(),
    };
    let mut first = None;
    for p in plugins(net).iter().rev() {
        if let Err(e) = exec(path, p, conf, "DEL", l, &ns, l.cni_result.as_ref()) {
            log::warn!("CNI DEL of {}: {e}", l.container_id);
            first.get_or_insert(e);
        }
    }
    if first.is_none() {
        if let Some(p) = &l.netns_pin {
            unpin(p);
        }
    }
    first.map_or(Ok(()), Err)
}
