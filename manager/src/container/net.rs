//! The container side of networking: which network a container gets, what
//! it publishes, and attaching it at start and on `network connect`. The
//! kernel objects and leases are the network module's.
//!
//! The record keeps what to attach at every start: the network of
//! `network_mode` with its ports (`net_request`) and the networks joined
//! later by `network connect` (`extra.net_connect`).

use super::opts::CreateOptions;
use super::record::NetworkMode;
use super::spec::Bundle;
use super::store::{Container, ContainerStore, Status};
use super::{ContainerError, Result};
use crate::network::{self, Attachment, NetRequest, PortMap};
use oci_spec::runtime::LinuxNamespaceType;
use std::path::{Path, PathBuf};

/// Frees the container's address and ports (a stop, an exit, a removal).
pub fn net_teardown(root: &Path, c: &Container) {
    if c.network_mode.is_bridged() {
        if let Err(e) = crate::network::teardown(root, &c.id) {
            log::warn!("network teardown of {}: {e}", c.name);
        }
    }
}

fn other(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Other(e.to_string())
}

/// `-p` flags and, with `-P`, each of the image's `exposed` ports ("80/tcp")
/// that no `-p` publishes already, on a free host port.
pub fn ports(o: &CreateOptions, exposed: &[String]) -> Result<Vec<PortMap>> {
    let mut out: Vec<PortMap> = Vec::new();
    for p in &o.publish {
        out.extend(network::parse_publish(p)?);
    }
    if o.publish_all {
        for e in exposed {
            let e = e.trim();
            if e.is_empty() {
                continue;
            }
            // The image's own syntax is containerPort[-end][/proto].
            for p in network::parse_publish(e).map_err(|source| ContainerError::Expose {
                port: e.to_string(),
                source,
            })? {
                if !out
                    .iter()
                    .any(|q| q.container_port == p.container_port && q.proto == p.proto)
                {
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// The networks a container joined with `network connect`.
/// The networks `network connect` added, besides the container's own.
pub(crate) fn connected(c: &Container) -> Vec<String> {
    c.extra
        .get("net_connect")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn set_connected(c: &mut Container, nets: &[String]) {
    if nets.is_empty() {
        c.extra.remove("net_connect");
    } else {
        c.extra
            .insert("net_connect".into(), serde_json::json!(nets.to_vec()));
    }
}

/// What to ask for `network`: the container's names, without its ports
/// (they belong to the network of `--network`).
fn request_for(c: &Container, network: &str) -> NetRequest {
    let mut r = c.net_request.clone().unwrap_or_else(|| NetRequest {
        container_id: c.id.clone(),
        name: c.name.clone(),
        hostname: c.hostname.clone(),
        ..Default::default()
    });
    r.network = network.to_string();
    // Ports, --ip and aliases belong to the network of --network.
    r.ports.clear();
    r.ip = None;
    r.ip6 = None;
    r.aliases.clear();
    if network != crate::network::DEFAULT_NETWORK {
        r.aliases.push(c.short_id().to_string());
    }
    r
}

fn attach_one(
    root: &Path,
    dir: &Path,
    req: &NetRequest,
    pid: i32,
) -> std::result::Result<Attachment, network::NetError> {
    let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let att = network::setup(root, req, &ns)?;
    if let Err(e) = network::write_etc_files(dir, req, Some(&att)) {
        let _ = network::disconnect(root, &att.network, &req.container_id);
        return Err(e);
    }
    Ok(att)
}

/// At start, between the runtime's create and start: every network the
/// container is on, its primary first (it gets eth0 and the default route).
pub fn attach_all(root: &Path, cs: &ContainerStore, c: &mut Container, pid: i32) -> Result<()> {
    let Some(req) = c
        .net_request
        .clone()
        .filter(|_| c.network_mode.is_bridged())
    else {
        return Ok(());
    };
    // A previous run's leases are replaced by setup, network by network.
    let dir = cs.dir_of(&c.id);
    let att = attach_one(root, &dir, &req, pid)?;
    c.ports = att.ports.iter().map(|p| p.to_string()).collect();
    c.extra.insert(
        "net_attachment".into(),
        serde_json::to_value(&att).expect("attachment"),
    );
    let mut kept = Vec::new();
    for n in connected(c) {
        match attach_one(root, &dir, &request_for(c, &n), pid) {
            Ok(_) => kept.push(n),
            // Removed while the container was stopped: it simply left.
            Err(network::NetError::NoSuchNetwork(_)) => {
                log::warn!("container {}: network {n} is gone", c.name)
            }
            Err(e) => {
                let _ = network::teardown(root, &c.id);
                return Err(ContainerError::Attach {
                    network: n,
                    source: e,
                });
            }
        }
    }
    set_connected(c, &kept);
    cs.save(c)
}

/// `--network/--ipc/--pid/--uts container:NAME` name a namespace by its
/// holder's pid, which changes whenever that container restarts: point the
/// bundle at the current ones before each start. Returns the pid of the
/// container whose IPC namespace is joined, whose /dev/shm comes along.
pub fn refresh_peer_namespaces(cs: &ContainerStore, c: &Container) -> Result<Option<i32>> {
    let hc = |k: &str| c.host_config[k].as_str().unwrap_or("").to_string();
    let modes = [
        ("network", "net", c.network_mode.to_string()),
        ("ipc", "ipc", hc("IpcMode")),
        ("pid", "pid", hc("PidMode")),
        ("uts", "uts", hc("UTSMode")),
    ];
    let mut want = Vec::new();
    let mut ipc_peer = None;
    for (kind, file, mode) in &modes {
        let Some(peer) = mode.strip_prefix("container:") else {
            continue;
        };
        let p = cs.find(peer)?;
        let st = cs.state(&p);
        if st.status != Status::Running {
            return Err(other(format!(
                "cannot join the {kind} namespace of container {}: it is not running",
                p.name
            )));
        }
        if *kind == "ipc" {
            ipc_peer = Some(st.pid);
        }
        want.push((*kind, format!("/proc/{}/ns/{file}", st.pid)));
    }
    if want.is_empty() {
        return Ok(None);
    }
    let cfg = cs.dir_of(&c.id).join("bundle/config.json");
    let mut spec = Bundle::load(&cfg)?;
    let mut nss = spec.namespaces()?;
    let mut changed = false;
    for (kind, path) in &want {
        let typ = LinuxNamespaceType::try_from(*kind).expect("a namespace type");
        for n in nss.iter_mut().filter(|n| n.typ() == typ) {
            if n.path().as_deref() != Some(Path::new(path)) {
                n.set_path(Some(path.into()));
                changed = true;
            }
        }
    }
    if changed {
        spec.set_namespaces(&nss)?;
        spec.save()?;
    }
    Ok(ipc_peer)
}

/// The /etc files of a container that joins another's network namespace:
/// the other's, as docker does (same addresses, same names).
pub fn copy_peer_etc(cs: &ContainerStore, c: &Container) -> Result<()> {
    let NetworkMode::Container(peer) = &c.network_mode else {
        return Ok(());
    };
    let p = cs.find(peer)?;
    let (from, to) = (cs.dir_of(&p.id), cs.dir_of(&c.id));
    for f in ["hosts", "resolv.conf"] {
        std::fs::copy(from.join(f), to.join(f)).map_err(super::ioe(format!("copying {f}")))?;
    }
    Ok(())
}

/// `network connect`: a running container gets the interface now, and
/// every start of it from now on.
pub fn connect(root: &Path, net: &str, name: &str) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    let mut c = cs.load(&c.id)?;
    if !c.network_mode.is_bridged() {
        return Err(other(format!(
            "container {} uses --network {}: it cannot join other networks",
            c.name, c.network_mode
        )));
    }
    let n = network::inspect(root, net)?;
    let mut list = connected(&c);
    if n.leases.contains_key(&c.id)
        || list.iter().any(|x| x == net)
        || c.network_mode.network() == Some(net)
    {
        return Err(other(format!(
            "container {} is already attached to network {net}",
            c.name
        )));
    }
    let st = cs.state(&c);
    if st.status == Status::Running {
        attach_one(root, &cs.dir_of(&c.id), &request_for(&c, net), st.pid)?;
    }
    list.push(net.to_string());
    set_connected(&mut c, &list);
    cs.save(&c)?;
    Ok(c)
}

/// `network disconnect` of a container of this root: it leaves the network
/// now and is not attached to it again on its next start. Returns false
/// when no container of that name exists (a lease without a record).
pub fn disconnect(root: &Path, net: &str, name: &str) -> Result<bool> {
    let cs = ContainerStore::open(root)?;
    let Ok(c) = cs.find(name) else {
        return Ok(false);
    };
    let _l = cs.lock(&c.id)?;
    let mut c = cs.load(&c.id)?;
    let n = network::inspect(root, net)?;
    let mut list = connected(&c);
    let joined = list.iter().any(|x| x == net);
    if !n.leases.contains_key(&c.id) && !joined {
        return Err(other(format!(
            "container {} is not attached to network {net}",
            c.name
        )));
    }
    if n.leases.contains_key(&c.id) {
        network::disconnect(root, net, &c.id)?;
    }
    if joined {
        list.retain(|x| x != net);
        set_connected(&mut c, &list);
        cs.save(&c)?;
    }
    Ok(true)
}
