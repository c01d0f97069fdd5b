//! `network create/ls/inspect/rm/prune`: the records of a root's networks,
//! and the reclaim of leases whose container or namespace is gone.

use super::bridge::{bring_down, bring_up, reap_orphan_bridges, reap_unrecorded_bridges, unplug};
use super::hosts::refresh_hosts;
use super::ipam::choose_subnet;
use super::netlink::Netlink;
use super::state::{Network, Store};
use super::subnet::Ipv4Net;
use super::{hex_hash, nle, state, NetError, DEFAULT_NETWORK};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

pub(super) fn valid_name(name: &str) -> Result<(), NetError> {
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

pub(super) fn new_network(
    store: &Store,
    nets: &[Network],
    name: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> Result<Network, NetError> {
    let default = name == DEFAULT_NETWORK;
    if let (true, Some(b)) = (default, &store.config.bridge) {
        return host_bridge_network(name, b);
    }
    let sub = choose_subnet(store, nets, subnet)?;
    let gw = gateway_in(sub, gateway)?;
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
        external: false,
        ipv6: None,
        options: Default::default(),
        ip_range: None,
        aux: Default::default(),
        cni: None,
        cni_path: Vec::new(),
    })
}

/// A macvlan/ipvlan network: its subnet is the parent's LAN, which the
/// host may well route already, so only this root's networks are checked.
fn sublink_network(
    nets: &[Network],
    name: &str,
    driver: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> Result<Network, NetError> {
    let sub: super::subnet::Ipv4Net = subnet
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "the {driver} driver needs --subnet (the parent's LAN)"
            ))
        })?
        .parse()
        .map_err(NetError::Invalid)?;
    if let Some(n) = nets.iter().find(|n| n.subnet.overlaps(&sub)) {
        return Err(NetError::Invalid(format!(
            "subnet {sub} overlaps network {:?} ({})",
            n.name, n.subnet
        )));
    }
    let gw = gateway_in(sub, gateway)?;
    Ok(bridgeless_network(name, driver, sub, gw))
}

/// The gateway given (a host address of `sub`), or the subnet's first.
fn gateway_in(sub: Ipv4Net, gateway: Option<&str>) -> Result<Ipv4Addr, NetError> {
    let Some(g) = gateway else {
        return Ok(sub.nth(1).expect("subnet has hosts"));
    };
    let ip: Ipv4Addr = g
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid gateway {g:?}: not an IPv4 address")))?;
    if !sub.contains(ip) || ip == sub.addr || ip == sub.broadcast() {
        return Err(NetError::Invalid(format!(
            "gateway {ip} is not a host address of subnet {sub}"
        )));
    }
    Ok(ip)
}

/// A network record without a bridge of berth's.
fn bridgeless_network(name: &str, driver: &str, sub: Ipv4Net, gw: Ipv4Addr) -> Network {
    let now = crate::image::time::now_unix();
    Network {
        name: name.to_string(),
        id: hex_hash(&[
            name,
            &sub.to_string(),
            &now.to_string(),
            &std::process::id().to_string(),
        ]),
        driver: driver.to_string(),
        bridge: String::new(),
        subnet: sub,
        gateway: gw,
        created: crate::image::time::format_rfc3339(now),
        default: false,
        leases: Default::default(),
        external: false,
        ipv6: None,
        options: Default::default(),
        ip_range: None,
        aux: Default::default(),
        cni: None,
        cni_path: Vec::new(),
    }
}

/// A `cni` network: addresses are the plugins' business; the subnet its
/// IPAM names (if any) is recorded for inspect and the overlap check.
fn cni_network(
    store: &Store,
    nets: &[Network],
    name: &str,
    conf: serde_json::Value,
) -> Result<Network, NetError> {
    let (sub, gw) = match super::cni::ipam_subnet(&conf) {
        Some((s, g)) => {
            if let Some(n) = nets.iter().find(|n| n.subnet.overlaps(&s)) {
                return Err(NetError::Invalid(format!(
                    "subnet {s} of the CNI config overlaps network {:?} ({})",
                    n.name, n.subnet
                )));
            }
            (s, g.unwrap_or_else(|| s.nth(1).expect("hosts")))
        }
        None => (
            super::subnet::Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 32),
            Ipv4Addr::UNSPECIFIED,
        ),
    };
    let mut net = bridgeless_network(name, "cni", sub, gw);
    net.cni = Some(conf);
    net.cni_path = store.config.cni_path.clone();
    Ok(net)
}

/// The default network on an existing host bridge: its address is the
/// gateway and its subnet the network's, as docker's `-b` takes them.
fn host_bridge_network(name: &str, bridge: &str) -> Result<Network, NetError> {
    if !Path::new("/sys/class/net")
        .join(bridge)
        .join("bridge")
        .exists()
    {
        return Err(NetError::Invalid(format!(
            "the default bridge {bridge:?} of networks/config.json is not a bridge on this host"
        )));
    }
    let (gw, prefix) = super::subnet::iface_ipv4(bridge).ok_or_else(|| {
        NetError::Invalid(format!(
            "the default bridge {bridge:?} has no IPv4 address: give it one (ip addr add)"
        ))
    })?;
    let now = crate::image::time::now_unix();
    Ok(Network {
        name: name.to_string(),
        id: hex_hash(&[
            name,
            bridge,
            &now.to_string(),
            &std::process::id().to_string(),
        ]),
        driver: "bridge".into(),
        bridge: bridge.to_string(),
        subnet: super::subnet::Ipv4Net::new(gw, prefix),
        gateway: gw,
        created: crate::image::time::format_rfc3339(now),
        default: true,
        leases: Default::default(),
        external: true,
        ipv6: None,
        options: Default::default(),
        ip_range: None,
        aux: Default::default(),
        cni: None,
        cni_path: Vec::new(),
    })
}

/// What `network create` asks for beyond the name.
#[derive(Clone, Debug, Default)]
pub struct CreateOpts {
    /// "" or "bridge".
    pub driver: String,
    /// `--subnet`, at most one per family.
    pub subnets: Vec<String>,
    /// `--gateway`, at most one per family.
    pub gateways: Vec<String>,
    /// `--ipv6`: dual stack.
    pub ipv6: bool,
    /// `-o key=value`.
    pub options: BTreeMap<String, String>,
    /// `--ip-range`, within the IPv4 subnet.
    pub ip_range: Option<String>,
    /// `--aux-address name=ip`.
    pub aux: Vec<String>,
    /// `--cni-config FILE`: the conflist of a `cni` network.
    pub cni_config: Option<std::path::PathBuf>,
}

/// `network create` of a v4 bridge: the bridge and its rules exist when
/// this returns.
pub fn create(
    root: &Path,
    name: &str,
    subnet: Option<&str>,
    gateway: Option<&str>,
) -> Result<Network, NetError> {
    create_with(
        root,
        name,
        &CreateOpts {
            subnets: subnet.into_iter().map(String::from).collect(),
            gateways: gateway.into_iter().map(String::from).collect(),
            ..Default::default()
        },
    )
}

/// Splits `--subnet`/`--gateway` values by family: (v4, v6), at most one each.
fn by_family<'a>(
    what: &str,
    vals: &'a [String],
) -> Result<(Option<&'a str>, Option<&'a str>), NetError> {
    let (v6, v4): (Vec<&String>, Vec<&String>) = vals.iter().partition(|v| v.contains(':'));
    if v4.len() > 1 || v6.len() > 1 {
        return Err(NetError::Invalid(format!(
            "at most one IPv4 and one IPv6 {what} per network"
        )));
    }
    Ok((
        v4.first().map(|s| s.as_str()),
        v6.first().map(|s| s.as_str()),
    ))
}

/// `network create`: the bridge and its rules exist when this returns.
pub fn create_with(root: &Path, name: &str, o: &CreateOpts) -> Result<Network, NetError> {
    valid_name(name)?;
    if matches!(name, DEFAULT_NETWORK | "host" | "none") {
        return Err(NetError::Invalid(format!(
            "network name {name:?} is reserved"
        )));
    }
    let sublink = super::sublink::is_sublink(&o.driver);
    let cni = o.driver == "cni";
    if !matches!(o.driver.as_str(), "" | "bridge") && !sublink && !cni {
        return Err(NetError::Invalid(format!(
            "unsupported network driver {:?}: want bridge, macvlan, ipvlan or cni",
            o.driver
        )));
    }
    if cni != o.cni_config.is_some() {
        return Err(NetError::Invalid(
            "--cni-config FILE goes with -d cni, and -d cni needs it".into(),
        ));
    }
    if cni
        && (!o.subnets.is_empty()
            || !o.gateways.is_empty()
            || o.ipv6
            || !o.options.is_empty()
            || o.ip_range.is_some()
            || !o.aux.is_empty())
    {
        return Err(NetError::Invalid(
            "a cni network takes its addresses and options from its conflist (--cni-config) alone"
                .into(),
        ));
    }
    let (subnet, subnet6) = by_family("--subnet", &o.subnets)?;
    let (gateway, gateway6) = by_family("--gateway", &o.gateways)?;
    if gateway.is_some() && subnet.is_none() {
        return Err(NetError::Invalid("--gateway needs --subnet".into()));
    }
    if gateway6.is_some() && subnet6.is_none() {
        return Err(NetError::Invalid(
            "an IPv6 --gateway needs an IPv6 --subnet".into(),
        ));
    }
    if subnet6.is_some() && !o.ipv6 {
        return Err(NetError::Invalid("an IPv6 --subnet needs --ipv6".into()));
    }
    let conflist = match &o.cni_config {
        Some(f) => Some(super::cni::load_config(f)?),
        None => None,
    };
    if sublink {
        super::sublink::validate(&o.driver, &o.options)?;
    } else if let Some(k) = o.options.keys().next() {
        return Err(NetError::Invalid(format!(
            "the bridge driver takes no -o options (got {k:?})"
        )));
    }
    if (o.ip_range.is_some() || !o.aux.is_empty()) && subnet.is_none() {
        return Err(NetError::Invalid(
            "--ip-range and --aux-address need an IPv4 --subnet".into(),
        ));
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
    let mut net = if let Some(conf) = conflist {
        cni_network(&store, &nets, name, conf)?
    } else if sublink {
        sublink_network(&nets, name, &o.driver, subnet, gateway)?
    } else {
        new_network(&store, &nets, name, subnet, gateway)?
    };
    if o.ipv6 {
        net.ipv6 = Some(super::ipam::choose_v6(
            &store, &nets, subnet6, gateway6, sublink,
        )?);
    }
    net.options = o.options.clone();
    super::ipam::set_range_and_aux(&mut net, o.ip_range.as_deref(), &o.aux)?;
    bring_up(&store, &nl, &net)?;
    let saved = store.save(&net);
    store.made(&net.bridge);
    if let Err(e) = saved {
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

/// `network check`: the CNI CHECK of a container's attachment to a cni
/// network (the plugins confirm what their ADD made is still there).
pub fn check(root: &Path, name: &str, container_id: &str) -> Result<(), NetError> {
    let store = Store::open(root)?;
    let _lock = store.lock()?;
    let net = store
        .load(name)?
        .ok_or_else(|| NetError::NoSuchNetwork(name.to_string()))?;
    if net.driver != "cni" {
        return Err(NetError::Invalid(format!(
            "network {name} is a {} network: CHECK is the cni driver's",
            net.driver
        )));
    }
    let l = net.leases.get(container_id).ok_or_else(|| {
        NetError::Invalid(format!(
            "container {container_id} is not attached to network {name}"
        ))
    })?;
    super::cni::check(&net, l)
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

/// `network prune`: removes networks without containers, but the default
/// one (as docker's `bridge`), and bridges of ours no record names. Returns
/// their names.
pub fn prune(root: &Path) -> Result<Vec<String>, NetError> {
    let store = Store::open(root)?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    reclaim(&store, &nl, &mut nets);
    reap_unrecorded_bridges(&store, &nl, &nets);
    let mut gone = Vec::new();
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

/// Drops leases of containers that no longer exist; returns whether any went.
pub(super) fn reclaim(store: &Store, nl: &Netlink, nets: &mut [Network]) -> bool {
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
