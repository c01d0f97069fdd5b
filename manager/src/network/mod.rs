//! Container networking: bridges, veth pairs, IPAM, published ports and
//! the /etc files, called by the container code between the runtime's
//! `create` (which makes the network namespace) and `start`.
//!
//! ```text
//!   host netns                                   container netns
//!   ┌────────────────────────────┐               ┌──────────────────┐
//!   │ <prefix>N / <prefix>-<id6> │  veth pair    │ eth0 10.x.y.2/24 │
//!   │ bridge, gateway 10.x.y.1 ──┼── vb<hash> ───┼─ default via .1  │
//!   │ nft table ip berth_<br>:   │               │ lo up            │
//!   │  DNAT maps pa/ph, masq,    │               └──────────────────┘
//!   │  isolation between bridges │
//!   └────────────────────────────┘
//! ```
//!
//! Everything that changes a network (lease, ports, kernel objects, peers'
//! hosts files) happens under the root's network lock, in this order:
//! record the lease, then make the kernel objects, undoing all of it if a
//! step fails. A lease whose container directory is gone is reclaimed by
//! the next berth that takes the lock, so a killed process leaks nothing
//! for long; so is one whose namespace holder (the container's init) has
//! ended, since its veth died with the namespace.
//!
//! Bridge names and routes are the host's, shared by every berth root:
//! a root's default network takes the first free `<prefix>N`, and every
//! bridge carries its root in its alias, so no root adopts or deletes
//! another's, and bridges of a root that was deleted are reaped when a
//! network is next made (under a host-wide lock, /run/berth/network.lock).
//!
//! Calling sequence for a container `<id>` whose files live in
//! `dir = <root>/containers/<id>/` (that directory existing is what keeps
//! its leases alive):
//!
//! ```text
//! write_etc_files(dir, req, None)        files exist for the bind mounts
//! runtime create                         makes the netns
//! setup(root, req, /proc/<pid>/ns/net)   -> Attachment (store it for `port`)
//! write_etc_files(dir, req, Some(&att))  rewritten in place, peers tracked
//! runtime start
//! ...
//! teardown(root, id)                     on stop/rm; idempotent
//! setup again on the next start          replaces the old lease
//! ```

pub mod etc;
mod netlink;
mod nft;
pub mod publish;
pub mod state;
pub mod subnet;

pub use publish::{parse_publish, PortMap, Proto};

use netlink::Netlink;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use state::{Lease, Network, Store};
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use subnet::Ipv4Net;

#[derive(thiserror::Error, Debug)]
pub enum NetError {
    #[error("invalid port publication {0:?}: {1}")]
    Publish(String, String),
    #[error("no such network: {0}")]
    NoSuchNetwork(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("network {0} is in use by container {1}")]
    InUse(String, String),
    /// Bad input that is not a -p syntax error: overlapping subnet, taken port...
    #[error("{0}")]
    Invalid(String),
    #[error("network config: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
    #[error("netlink: {0}: {1}")]
    Netlink(String, #[source] io::Error),
    #[error("nftables: {0}")]
    Nft(String),
}

/// What the container code asks for one container on one network.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetRequest {
    pub container_id: String,
    /// The container's name: peers on user networks reach it by this name.
    pub name: String,
    /// "bridge" (the default network) or a user network's name.
    pub network: String,
    pub ports: Vec<PortMap>,
    pub hostname: String,
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    pub add_hosts: Vec<(String, String)>,
    /// `--ip`: this address, not the next free one (user networks only).
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// `--network-alias`: more names peers reach it by (user networks only).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// What `setup` made: the container's address on one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub ip: IpAddr,
    pub gateway: IpAddr,
    pub prefix: u8,
    pub mac: String,
    /// With random host ports resolved.
    pub ports: Vec<PortMap>,
    pub network: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

pub const DEFAULT_NETWORK: &str = "bridge";

fn nle(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let w = what.into();
    move |e| NetError::Netlink(w, e)
}

fn hex_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn attachment(net: &Network, l: &Lease) -> Attachment {
    Attachment {
        ip: IpAddr::V4(l.ip),
        gateway: IpAddr::V4(net.gateway),
        prefix: net.subnet.prefix,
        mac: l.mac.clone(),
        ports: l.ports.clone(),
        network: net.name.clone(),
        aliases: l.aliases.clone(),
    }
}

fn valid_name(name: &str) -> Result<(), NetError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return Err(NetError::Invalid(format!(
            "invalid network name {name:?}: use letters, digits, '_', '.', '-' (max 64)"
        )));
    }
    Ok(())
}

fn write_sysctl(path: &str, v: &str) -> Result<(), NetError> {
    if std::fs::read_to_string(path).is_ok_and(|s| s.trim() == v) {
        return Ok(());
    }
    std::fs::write(path, v).map_err(|e| NetError::Io(format!("writing {path}"), e))
}

/// A network record's subnet: the given one if it overlaps nothing, else
/// the first free block of the pool.
fn choose_subnet(store: &Store, nets: &[Network], want: Option<&str>) -> Result<Ipv4Net, NetError> {
    let host = subnet::host_subnets();
    let clash = |s: &Ipv4Net| -> Option<String> {
        if let Some(n) = nets.iter().find(|n| n.subnet.overlaps(s)) {
            return Some(format!("network {:?} ({})", n.name, n.subnet));
        }
        host.iter()
            .find(|u| u.net.overlaps(s))
            .map(|u| u.what.clone())
    };
    if let Some(w) = want {
        let s: Ipv4Net = w.parse().map_err(NetError::Invalid)?;
        if let Some(c) = clash(&s) {
            return Err(NetError::Invalid(format!("subnet {s} overlaps {c}")));
        }
        return Ok(s);
    }
    let pool = store.config.pool;
    let step = 1u64 << (32 - store.config.subnet_prefix as u32);
    let mut a = pool.first() as u64;
    while a + step - 1 <= pool.last() as u64 {
        let s = Ipv4Net::new(Ipv4Addr::from(a as u32), store.config.subnet_prefix);
        if clash(&s).is_none() {
            return Ok(s);
        }
        a += step;
    }
    Err(NetError::Invalid(format!(
        "no free /{} left in the address pool {}",
        store.config.subnet_prefix, pool
    )))
}

fn new_network(
    store: &Store,
    nets: &[Network],
    name: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> Result<Network, NetError> {
    let default = name == DEFAULT_NETWORK;
    let sub = choose_subnet(store, nets, subnet)?;
    let gw = match gateway {
        None => sub.nth(1).expect("subnet has hosts"),
        Some(g) => {
            let ip: Ipv4Addr = g.parse().map_err(|_| {
                NetError::Invalid(format!("invalid gateway {g:?}: not an IPv4 address"))
            })?;
            if !sub.contains(ip) || ip == sub.addr || ip == sub.broadcast() {
                return Err(NetError::Invalid(format!(
                    "gateway {ip} is not a host address of subnet {sub}"
                )));
            }
            ip
        }
    };
    let now = crate::image::time::now_unix();
    let id = hex_hash(&[
        name,
        &sub.to_string(),
        &now.to_string(),
        &std::process::id().to_string(),
    ]);
    let prefix = &store.config.bridge_prefix;
    let bridge = if default {
        // Like docker0, but every root has a default network of its own:
        // the first <prefix>N no root has made yet (checked under host_lock).
        (0..100)
            .map(|n| format!("{prefix}{n}"))
            .find(|b| {
                !nets.iter().any(|n| &n.bridge == b)
                    && !Path::new("/sys/class/net").join(b).exists()
            })
            .ok_or_else(|| {
                NetError::Invalid(format!("no free bridge name {prefix}0..{prefix}99"))
            })?
    } else {
        format!("{prefix}-{}", &id[..6])
    };
    if nets.iter().any(|n| n.bridge == bridge) {
        return Err(NetError::Invalid(format!(
            "bridge name {bridge} is taken; try again"
        )));
    }
    Ok(Network {
        name: name.to_string(),
        id,
        driver: "bridge".into(),
        bridge,
        subnet: sub,
        gateway: gw,
        created: crate::image::time::format_rfc3339(now),
        default,
        leases: Default::default(),
    })
}

/// The alias of an existing bridge ("" if it has none), None if the bridge
/// does not exist.
fn bridge_alias(bridge: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/sys/class/net").join(bridge).join("ifalias"))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// Whether the bridge is this root's; one without an alias predates
/// aliases and is taken as ours.
fn owned(store: &Store, alias: &str) -> bool {
    alias.is_empty() || alias == store.owner()
}

/// Makes the bridge and its table unless the bridge is already there (after
/// a reboot the record survives but the kernel objects do not).
fn ensure_up(store: &Store, nl: &Netlink, net: &Network) -> Result<(), NetError> {
    let check = |alias: String| {
        if owned(store, &alias) {
            Ok(())
        } else {
            Err(NetError::Invalid(format!(
                "bridge {} of network {} belongs to another berth root ({})",
                net.bridge,
                net.name,
                alias.trim_start_matches("berth ")
            )))
        }
    };
    if let Some(a) = bridge_alias(&net.bridge) {
        return check(a);
    }
    let _host = state::host_lock()?;
    if let Some(a) = bridge_alias(&net.bridge) {
        return check(a);
    }
    bring_up(store, nl, net)
}

/// Removes bridges (and their tables) of roots that no longer exist: a
/// root deleted without `network prune` would otherwise hold its subnet
/// and bridge name for good. The caller holds `host_lock`.
fn reap_orphan_bridges(nl: &Netlink, prefix: &str) {
    reap_bridges(nl, prefix, |_, root| {
        (!Path::new(root).join("networks").exists()).then(|| format!("of the vanished root {root}"))
    })
}

/// Removes this root's bridges that no network record names: a `network
/// create` (or the default network's) killed after it made the bridge and
/// before it saved the record. The caller holds the store's lock, under
/// which every bridge is made and recorded, so none is work in progress.
fn reap_unrecorded_bridges(store: &Store, nl: &Netlink, nets: &[Network]) {
    let owner = store.owner();
    reap_bridges(nl, &store.config.bridge_prefix, |name, root| {
        (format!("berth {root}") == owner && !nets.iter().any(|n| n.bridge == name))
            .then(|| "that no network of this root records".to_string())
    })
}

/// Deletes each bridge with our prefix and a `berth ROOT` alias for which
/// `why` gives a reason, with its nftables table.
fn reap_bridges(nl: &Netlink, prefix: &str, why: impl Fn(&str, &str) -> Option<String>) {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(prefix) {
            continue;
        }
        let Some(root) = bridge_alias(&name)
            .and_then(|a| a.strip_prefix("berth ").map(String::from))
            .filter(|r| r.starts_with('/'))
        else {
            continue;
        };
        let Some(reason) = why(&name, &root) else {
            continue;
        };
        log::info!("removing bridge {name} {reason}");
        if let Err(e) = nft::delete_table_named(&format!("berth_{}", name.replace('-', "_"))) {
            log::warn!("removing the table of {name}: {e}");
        }
        if let Err(e) = nl.delete_link(&name) {
            log::warn!("removing bridge {name}: {e}");
        }
    }
}

/// Makes the bridge and its table; the caller holds `host_lock`.
fn bring_up(store: &Store, nl: &Netlink, net: &Network) -> Result<(), NetError> {
    let res = (|| {
        nl.create_bridge(&net.bridge)
            .map_err(nle(format!("creating bridge {}", net.bridge)))?;
        let idx = nl
            .link_index(&net.bridge)
            .map_err(nle("looking up bridge"))?
            .ok_or_else(|| NetError::Invalid(format!("bridge {} vanished", net.bridge)))?;
        // Several roots share the host's interface names: the alias says
        // whose bridge this is.
        nl.set_alias(idx, &store.owner())
            .map_err(nle(format!("naming the owner of {}", net.bridge)))?;
        nl.add_addr(idx, net.gateway, net.subnet.prefix, net.subnet.broadcast())
            .map_err(nle(format!("adding {} to {}", net.gateway, net.bridge)))?;
        // Published ports answer on 127.0.0.1 by DNAT to the container, which
        // routes a 127/8 source out of the bridge: allowed only with this.
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
            "1",
        )?;
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        nft::create_table(net, &store.config.bridge_prefix)
    })();
    if res.is_err() {
        let _ = nl.delete_link(&net.bridge);
    }
    res
}

fn bring_down(store: &Store, nl: &Netlink, net: &Network) -> Result<(), NetError> {
    if bridge_alias(&net.bridge).is_some_and(|a| !owned(store, &a)) {
        // Our record names a bridge another root made since (after a
        // reboot): its table and bridge are not ours to remove.
        return Ok(());
    }
    nft::delete_table(net)?;
    nl.delete_link(&net.bridge)
        .map_err(nle(format!("deleting bridge {}", net.bridge)))?;
    Ok(())
}

/// Removes a lease's kernel objects: the veth (and with it the container's
/// end) and its published ports.
fn unplug(nl: &Netlink, net: &Network, l: &Lease) -> Result<(), NetError> {
    nl.delete_link(&l.veth)
        .map_err(nle(format!("deleting {}", l.veth)))?;
    nft::delete_ports(net, &l.ports)
}

/// Drops leases of containers that no longer exist; returns whether any went.
fn reclaim(store: &Store, nl: &Netlink, nets: &mut [Network]) -> bool {
    let mut any = false;
    for i in 0..nets.len() {
        let stale: Vec<String> = nets[i]
            .leases
            .iter()
            .filter(|(_, l)| store.is_stale(l))
            .map(|(id, _)| id.clone())
            .collect();
        if stale.is_empty() {
            continue;
        }
        for id in &stale {
            let l = nets[i].leases.remove(id).expect("listed lease");
            log::info!(
                "reclaiming lease {} of stopped or removed container {id}",
                l.ip
            );
            if let Err(e) = unplug(nl, &nets[i], &l) {
                log::warn!("reclaiming {id}: {e}");
            }
        }
        if let Err(e) = store.save(&nets[i]) {
            log::warn!("saving network {}: {e}", nets[i].name);
        }
        let name = nets[i].name.clone();
        refresh_hosts(nets, &name, None);
        any = true;
    }
    any
}

/// Rewrites the hosts file of every member of network `name` that has one
/// (but `skip`'s). Members of the default network do not see each other
/// by name, so a change there changes no one else's file.
fn refresh_hosts(nets: &[Network], name: &str, skip: Option<&str>) {
    let Some(net) = nets.iter().find(|n| n.name == name && !n.default) else {
        return;
    };
    for (id, l) in &net.leases {
        if skip == Some(id.as_str()) {
            continue;
        }
        if let Some(p) = &l.hosts_file {
            let s = render_hosts(nets, id);
            if let Err(e) = etc::write_in_place(p, &s) {
                log::warn!("updating {}: {e}", p.display());
            }
        }
    }
}

fn render_hosts(nets: &[Network], container_id: &str) -> String {
    let mut own = Vec::new();
    let mut peers = Vec::new();
    let mut add_hosts = Vec::new();
    for n in nets {
        let Some(me) = n.leases.get(container_id) else {
            continue;
        };
        let mut names = vec![me.hostname.clone(), me.name.clone()];
        names.extend(me.aliases.iter().cloned());
        own.push((IpAddr::V4(me.ip), names));
        if add_hosts.is_empty() {
            add_hosts = me.add_hosts.clone();
        }
        if n.default {
            continue;
        }
        for (id, p) in &n.leases {
            if id != container_id {
                let mut names = vec![p.name.clone()];
                names.extend(p.aliases.iter().cloned());
                peers.push((IpAddr::V4(p.ip), names));
            }
        }
    }
    etc::hosts(&own, &add_hosts, &peers)
}

fn overlaps(a: Option<Ipv4Addr>, b: Option<Ipv4Addr>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn v4_host(p: &PortMap) -> Result<Option<Ipv4Addr>, NetError> {
    match p.host_ip {
        None => Ok(None),
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => Ok(None),
        Some(IpAddr::V4(ip)) => Ok(Some(ip)),
        Some(IpAddr::V6(ip)) => Err(NetError::Invalid(format!(
            "cannot publish on {ip}: IPv6 host addresses are not supported"
        ))),
    }
}

/// Checks the host port is free on the host right now (something else may
/// be listening on it) and, for port 0, lets the kernel pick one.
fn probe_port(ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> io::Result<u16> {
    let a = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    match proto {
        Proto::Tcp => std::net::TcpListener::bind(a)?
            .local_addr()
            .map(|a| a.port()),
        Proto::Udp => std::net::UdpSocket::bind(a)?.local_addr().map(|a| a.port()),
    }
}

/// Resolves random host ports and refuses any already published by a
/// container of this root or taken on the host.
fn reserve_ports(nets: &[Network], want: &[PortMap]) -> Result<Vec<PortMap>, NetError> {
    let mut taken: Vec<(Option<Ipv4Addr>, Proto, u16, String)> = Vec::new();
    for n in nets {
        for l in n.leases.values() {
            for p in &l.ports {
                taken.push((v4_host(p)?, p.proto, p.host_port, l.name.clone()));
            }
        }
    }
    let mut out = Vec::new();
    for p in want {
        let ip = v4_host(p)?;
        if p.container_port == 0 {
            return Err(NetError::Invalid(
                "container port 0 cannot be published".into(),
            ));
        }
        let clash = |port: u16, taken: &[(Option<Ipv4Addr>, Proto, u16, String)]| {
            taken
                .iter()
                .find(|t| t.1 == p.proto && t.2 == port && overlaps(t.0, ip))
                .map(|t| t.3.clone())
        };
        let port = if p.host_port == 0 {
            let mut tries = 0;
            loop {
                let got = probe_port(ip, 0, p.proto)
                    .map_err(|e| NetError::Io(format!("picking a free {} port", p.proto), e))?;
                if clash(got, &taken).is_none() {
                    break got;
                }
                tries += 1;
                if tries > 50 {
                    return Err(NetError::Invalid(format!(
                        "no free {} host port found",
                        p.proto
                    )));
                }
            }
        } else {
            if let Some(owner) = clash(p.host_port, &taken) {
                let who = if owner.is_empty() {
                    "another container".to_string()
                } else {
                    format!("container {owner:?}")
                };
                return Err(NetError::Invalid(format!(
                    "port {}/{} is already published by {who}",
                    p.host_port, p.proto
                )));
            }
            probe_port(ip, p.host_port, p.proto).map_err(|e| {
                NetError::Invalid(format!(
                    "cannot publish port {}/{} on {}: {}",
                    p.host_port,
                    p.proto,
                    ip.map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into()),
                    if e.kind() == io::ErrorKind::AddrInUse {
                        "the host port is already in use".to_string()
                    } else {
                        e.to_string().to_lowercase()
                    }
                ))
            })?;
            p.host_port
        };
        let r = PortMap {
            host_port: port,
            ..p.clone()
        };
        taken.push((ip, r.proto, port, String::new()));
        out.push(r);
    }
    Ok(out)
}

/// `--ip`: free, and a host address of a user network's subnet.
fn requested_ip(net: &Network, ip: Ipv4Addr) -> Result<Ipv4Addr, NetError> {
    if net.default {
        return Err(NetError::Invalid(
            "--ip needs a user network: the default bridge hands out its own addresses".into(),
        ));
    }
    let host = (1..=net.subnet.hosts()).any(|n| net.subnet.nth(n) == Some(ip));
    if !host || ip == net.gateway {
        return Err(NetError::Invalid(format!(
            "--ip {ip}: not a free host address of network {} ({}, gateway {})",
            net.name, net.subnet, net.gateway
        )));
    }
    if let Some(l) = net.leases.values().find(|l| l.ip == ip) {
        return Err(NetError::Invalid(format!(
            "--ip {ip}: in use by container {} on network {}",
            l.name, net.name
        )));
    }
    Ok(ip)
}

fn allocate_ip(net: &Network) -> Result<Ipv4Addr, NetError> {
    let used: std::collections::HashSet<Ipv4Addr> = net.leases.values().map(|l| l.ip).collect();
    (1..=net.subnet.hosts())
        .filter_map(|n| net.subnet.nth(n))
        .find(|ip| *ip != net.gateway && !used.contains(ip))
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "network {} has no free address left in {}",
                net.name, net.subnet
            ))
        })
}

/// Attaches the container whose network namespace is `netns_path` to
/// `req.network` (made on first use if it is the default "bridge").
/// Calling it again for another network adds an interface (eth1, ...).
pub fn setup(root: &Path, req: &NetRequest, netns_path: &Path) -> Result<Attachment, NetError> {
    let network = if req.network.is_empty() {
        DEFAULT_NETWORK
    } else {
        &req.network
    };
    if matches!(network, "host" | "none") || network.starts_with("container:") {
        return Err(NetError::Invalid(format!(
            "network mode {network:?} needs no setup"
        )));
    }
    let ns = File::open(netns_path).map_err(|e| {
        NetError::Io(
            format!("opening network namespace {}", netns_path.display()),
            e,
        )
    })?;
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let nl_ns = Netlink::open_in(&ns).map_err(nle(format!("entering {}", netns_path.display())))?;

    let _lock = store.lock()?;
    let mut nets = store.list()?;
    reclaim(&store, &nl, &mut nets);
    let i = match nets.iter().position(|n| n.name == network) {
        Some(i) => i,
        None if network == DEFAULT_NETWORK => {
            let _host = state::host_lock()?;
            reap_orphan_bridges(&nl, &store.config.bridge_prefix);
            reap_unrecorded_bridges(&store, &nl, &nets);
            let n = new_network(&store, &nets, DEFAULT_NETWORK, None, None)?;
            bring_up(&store, &nl, &n)?;
            if let Err(e) = store.save(&n) {
                let _ = bring_down(&store, &nl, &n);
                return Err(e);
            }
            nets.push(n);
            nets.len() - 1
        }
        None => return Err(NetError::NoSuchNetwork(network.to_string())),
    };
    // A lease of an earlier run of the container (a restart, or a start
    // that died half way) is replaced: its kernel objects go first.
    if let Some(old) = nets[i].leases.remove(&req.container_id) {
        unplug(&nl, &nets[i], &old)?;
        store.save(&nets[i])?;
    }
    ensure_up(&store, &nl, &nets[i])?;
    let ports = reserve_ports(&nets, &req.ports)?;
    let ip = match req.ip {
        Some(ip) => requested_ip(&nets[i], ip)?,
        None => allocate_ip(&nets[i])?,
    };
    if !req.aliases.is_empty() && nets[i].default {
        return Err(NetError::Invalid(
            "--network-alias needs a user network: the default bridge has no names".into(),
        ));
    }
    let mut ifname = None;
    for n in 0..16 {
        let cand = format!("eth{n}");
        if nl_ns
            .link_index(&cand)
            .map_err(nle("listing container links"))?
            .is_none()
        {
            ifname = Some(cand);
            break;
        }
    }
    let ifname =
        ifname.ok_or_else(|| NetError::Invalid("container has eth0..eth15 already".into()))?;
    let o = ip.octets();
    let mac = [0x02, 0x42, o[0], o[1], o[2], o[3]];
    let lease = Lease {
        container_id: req.container_id.clone(),
        name: req.name.clone(),
        ip,
        mac: mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        veth: format!("vb{}", &hex_hash(&[&nets[i].id, &req.container_id])[..11]),
        ifname: ifname.clone(),
        ports,
        hostname: req.hostname.clone(),
        add_hosts: req.add_hosts.clone(),
        aliases: req.aliases.clone(),
        hosts_file: None,
        pid: netns_pid(netns_path),
    };
    // The lease is on disk before any kernel object exists, so a crash in
    // between leaves something reclaim knows how to remove.
    nets[i]
        .leases
        .insert(req.container_id.clone(), lease.clone());
    store.save(&nets[i])?;
    failpoint("net-after-lease");

    let net = &nets[i];
    let plug = || -> Result<(), NetError> {
        let br = nl
            .link_index(&net.bridge)
            .map_err(nle("looking up bridge"))?
            .ok_or_else(|| NetError::Invalid(format!("bridge {} is gone", net.bridge)))?;
        nl.create_veth(&lease.veth, br, &ifname, &ns, mac)
            .map_err(nle(format!("creating veth {}", lease.veth)))?;
        nl_ns.set_up(1).map_err(nle("setting lo up"))?;
        let idx = nl_ns
            .link_index(&ifname)
            .map_err(nle("looking up container link"))?
            .ok_or_else(|| {
                NetError::Invalid(format!("{ifname} did not appear in the container"))
            })?;
        nl_ns
            .add_addr(idx, ip, net.subnet.prefix, net.subnet.broadcast())
            .map_err(nle(format!("adding {ip} to {ifname}")))?;
        nl_ns
            .set_up(idx)
            .map_err(nle(format!("setting {ifname} up")))?;
        if ifname == "eth0" {
            nl_ns
                .add_default_route(net.gateway, idx)
                .map_err(nle("adding default route"))?;
        }
        failpoint("net-after-veth");
        nft::add_ports(net, ip, &lease.ports)
    };
    if let Err(e) = plug() {
        if let Err(u) = unplug(&nl, net, &lease) {
            log::warn!("undoing half-made attachment: {u}");
        }
        nets[i].leases.remove(&req.container_id);
        store.save(&nets[i])?;
        return Err(e);
    }
    refresh_hosts(&nets, network, None);
    Ok(attachment(&nets[i], &lease))
}

/// Detaches the container from every network; nothing attached is fine.
pub fn teardown(root: &Path, container_id: &str) -> Result<(), NetError> {
    detach(root, None, container_id)
}

/// Detaches the container from one network (`network disconnect`).
pub fn disconnect(root: &Path, network: &str, container_id: &str) -> Result<(), NetError> {
    detach(root, Some(network), container_id)
}

fn detach(root: &Path, only: Option<&str>, container_id: &str) -> Result<(), NetError> {
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    if only.is_none() {
        reclaim(&store, &nl, &mut nets);
    }
    if let Some(o) = only {
        let n = nets
            .iter()
            .find(|n| n.name == o)
            .ok_or_else(|| NetError::NoSuchNetwork(o.to_string()))?;
        if !n.leases.contains_key(container_id) {
            return Err(NetError::Invalid(format!(
                "container {container_id} is not attached to network {o}"
            )));
        }
    }
    let mut first_err = None;
    for i in 0..nets.len() {
        if only.is_some_and(|o| o != nets[i].name) {
            continue;
        }
        let Some(l) = nets[i].leases.get(container_id).cloned() else {
            continue;
        };
        // Kernel objects first: if this fails the lease stays and a retry
        // (or reclaim) still knows what to remove.
        if let Err(e) = unplug(&nl, &nets[i], &l) {
            first_err.get_or_insert(e);
            continue;
        }
        nets[i].leases.remove(container_id);
        store.save(&nets[i])?;
        let name = nets[i].name.clone();
        refresh_hosts(&nets, &name, None);
    }
    first_err.map_or(Ok(()), Err)
}

/// Writes `hosts`, `hostname` and `resolv.conf` into `dir`, for the
/// container code to bind-mount. Files that exist are rewritten in place,
/// so this can run before `create` (with `att` None) and again after
/// `setup`, when they are mounted. With an attachment, `dir` must lie in the
/// container's directory `<root>/containers/<id>/`: that is how the lease is
/// found, and the hosts file is then kept current as peers on the
/// container's user networks come and go.
pub fn write_etc_files(
    dir: &Path,
    req: &NetRequest,
    att: Option<&Attachment>,
) -> Result<(), NetError> {
    if att.is_none() {
        return write_etc_files_in(None, dir, req);
    }
    let root = dir
        .ancestors()
        .find(|a| {
            a.file_name()
                .is_some_and(|n| n == req.container_id.as_str())
                && a.parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|n| n == state::CONTAINERS_DIR)
        })
        .and_then(|a| a.parent()?.parent())
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "{} is not inside the container's directory {}/{}",
                dir.display(),
                state::CONTAINERS_DIR,
                req.container_id
            ))
        })?;
    write_etc_files_in(Some(root), dir, req)
}

/// `write_etc_files` with the root given: None writes the files of a
/// container without a network (none, host), Some those of an attached one.
pub fn write_etc_files_in(
    root: Option<&Path>,
    dir: &Path,
    req: &NetRequest,
) -> Result<(), NetError> {
    let w = |name: &str, s: &str| {
        let p = dir.join(name);
        etc::write_in_place(&p, s).map_err(|e| NetError::Io(format!("writing {}", p.display()), e))
    };
    w("hostname", &format!("{}\n", req.hostname))?;
    w(
        "resolv.conf",
        &etc::resolv_conf(&req.dns, &req.dns_search, &req.dns_options),
    )?;
    let Some(root) = root else {
        let own = [(
            IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1)),
            vec![req.hostname.clone(), req.name.clone()],
        )];
        return w("hosts", &etc::hosts(&own, &req.add_hosts, &[]));
    };
    let store = Store::open(root)?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    let hosts = dir.join("hosts");
    let mut mine = Vec::new();
    for n in nets.iter_mut() {
        if let Some(l) = n.leases.get_mut(&req.container_id) {
            if l.hosts_file.as_deref() != Some(hosts.as_path()) {
                l.hosts_file = Some(hosts.clone());
                store.save(n)?;
            }
            mine.push(n.name.clone());
        }
    }
    if mine.is_empty() {
        return Err(NetError::Invalid(format!(
            "container {} is attached to no network",
            req.container_id
        )));
    }
    w("hosts", &render_hosts(&nets, &req.container_id))?;
    for name in &mine {
        refresh_hosts(&nets, name, Some(&req.container_id));
    }
    Ok(())
}

/// The container's live attachments, for `port` and `inspect`.
pub fn attachments(root: &Path, container_id: &str) -> Result<Vec<Attachment>, NetError> {
    let store = Store::open(root)?;
    Ok(store
        .list()?
        .iter()
        .filter_map(|n| n.leases.get(container_id).map(|l| (n, l)))
        .filter(|(_, l)| !store.is_stale(l))
        .map(|(n, l)| attachment(n, l))
        .collect())
}

/// `network create`: the bridge and its rules exist when this returns.
pub fn create(
    root: &Path,
    name: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> Result<Network, NetError> {
    valid_name(name)?;
    if matches!(name, DEFAULT_NETWORK | "host" | "none") {
        return Err(NetError::Invalid(format!(
            "network name {name:?} is reserved"
        )));
    }
    if gateway.is_some() && subnet.is_none() {
        return Err(NetError::Invalid("--gateway needs --subnet".into()));
    }
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let nets = store.list()?;
    if nets.iter().any(|n| n.name == name) {
        return Err(NetError::Exists(name.to_string()));
    }
    let _host = state::host_lock()?;
    reap_orphan_bridges(&nl, &store.config.bridge_prefix);
    reap_unrecorded_bridges(&store, &nl, &nets);
    let net = new_network(&store, &nets, name, subnet, gateway)?;
    bring_up(&store, &nl, &net)?;
    if let Err(e) = store.save(&net) {
        let _ = bring_down(&store, &nl, &net);
        return Err(e);
    }
    Ok(net)
}

/// The root's networks, after reclaiming leases of containers that are
/// gone, so what is listed is what is in use.
pub fn list(root: &Path) -> Result<Vec<Network>, NetError> {
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    reclaim(&store, &nl, &mut nets);
    Ok(nets)
}

pub fn inspect(root: &Path, name: &str) -> Result<Network, NetError> {
    list(root)?
        .into_iter()
        .find(|n| n.name == name)
        .ok_or_else(|| NetError::NoSuchNetwork(name.to_string()))
}

/// Removes what crashed berth processes and containers that ended with
/// nobody watching left behind (leases, veths, published ports); returns
/// whether there was any.
pub fn reconcile(root: &Path) -> Result<bool, NetError> {
    if !root.join("networks").exists() {
        return Ok(false);
    }
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    Ok(reclaim(&store, &nl, &mut nets))
}

/// `/proc/<pid>/ns/net` names the process that holds the namespace.
fn netns_pid(p: &Path) -> Option<(u32, u64)> {
    let pid: u32 = p
        .to_str()?
        .strip_prefix("/proc/")?
        .strip_suffix("/ns/net")?
        .parse()
        .ok()?;
    Some((pid, state::start_time(pid)?))
}

/// A test hook: `BERTH_FAILPOINT=<name>` makes berth SIGKILL itself at that
/// point, to show that what a killed berth leaves is reconciled.
fn failpoint(name: &str) {
    if std::env::var_os("BERTH_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: kill of our own pid.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// `network rm`: refuses while a live container is attached.
pub fn remove(root: &Path, name: &str) -> Result<(), NetError> {
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    reclaim(&store, &nl, &mut nets);
    let net = nets
        .iter()
        .find(|n| n.name == name)
        .ok_or_else(|| NetError::NoSuchNetwork(name.to_string()))?;
    if let Some(l) = net.leases.values().next() {
        let who = if l.name.is_empty() {
            &l.container_id
        } else {
            &l.name
        };
        return Err(NetError::InUse(name.to_string(), who.clone()));
    }
    bring_down(&store, &nl, net)?;
    store.delete(name)
}

/// `network prune`: removes networks without containers (the default
/// network too: it is made again on demand). Returns their names.
pub fn prune(root: &Path) -> Result<Vec<String>, NetError> {
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    reclaim(&store, &nl, &mut nets);
    reap_unrecorded_bridges(&store, &nl, &nets);
    let mut gone = Vec::new();
    // The default network is never pruned (as docker's `bridge`).
    for n in nets.iter().filter(|n| n.leases.is_empty() && !n.default) {
        bring_down(&store, &nl, n)?;
        store.delete(&n.name)?;
        gone.push(n.name.clone());
    }
    Ok(gone)
}

/// Removes every network of the root and everything attached to it, live
/// or not: for tests and for wiping a root.
pub fn remove_all(root: &Path) -> Result<(), NetError> {
    if !root.join("networks").exists() {
        return Ok(());
    }
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut first_err = None;
    for n in store.list()? {
        for l in n.leases.values() {
            if let Err(e) = unplug(&nl, &n, l) {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = bring_down(&store, &nl, &n).and_then(|_| store.delete(&n.name)) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}
