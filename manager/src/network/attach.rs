//! A container on a network: `setup` (lease, veth, ports) and `teardown`.

use super::bridge::{
    bring_down, bring_up, ensure_up, reap_orphan_bridges, reap_unrecorded_bridges, unplug,
};
use super::hosts::refresh_hosts;
use super::ipam::{allocate_ip, ip6_for, requested_ip};
use super::netlink::Netlink;
use super::networks::{new_network, reclaim};
use super::ports::reserve_ports;
use super::publish::Proto;
use super::state::{Lease, Network, Store};
use super::{
    failpoint, hex_hash, nft, nle, proxy, state, Attachment, NetError, NetRequest, DEFAULT_NETWORK,
};
use std::fs::File;
use std::net::IpAddr;
use std::path::Path;

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
            let saved = store.save(&n);
            store.made(&n.bridge);
            if let Err(e) = saved {
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
    if let Some(p) = req.ports.iter().find(|p| {
        p.proto == Proto::Udp && p.host_ip.is_some_and(|a| a.is_loopback() && a.is_ipv6())
    }) {
        return Err(NetError::Invalid(format!(
            "cannot publish {p}: UDP on [::1] is not supported (use [::] or 127.0.0.1)"
        )));
    }
    if nets[i].sublink() && !req.ports.is_empty() {
        return Err(NetError::Invalid(format!(
            "-p has no meaning on the {} network {}: the container has its own address on the LAN",
            nets[i].driver, nets[i].name
        )));
    }
    let cni = nets[i].driver == "cni";
    if cni {
        if req.ip.is_some() || req.ip6.is_some() {
            return Err(NetError::Invalid(format!(
                "--ip/--ip6 on the cni network {}: addresses come from its conflist's IPAM",
                nets[i].name
            )));
        }
        if !req.ports.is_empty() && !nets[i].cni.as_ref().is_some_and(super::cni::maps_ports) {
            return Err(NetError::Invalid(format!(
                "-p on the cni network {}: its conflist has no plugin with the portMappings capability (portmap)",
                nets[i].name
            )));
        }
    }
    let ports = reserve_ports(&nets, &req.ports, nets[i].ipv6.is_some())?;
    let (ip, ip6) = if cni {
        (std::net::Ipv4Addr::UNSPECIFIED, None)
    } else {
        let ip = match req.ip {
            Some(ip) => requested_ip(&nets[i], ip)?,
            None => allocate_ip(&nets[i])?,
        };
        (ip, ip6_for(&nets[i], req.ip6)?)
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
    let mut lease = Lease {
        container_id: req.container_id.clone(),
        name: req.name.clone(),
        ip,
        mac: mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        veth: if nets[i].bridgeless() {
            String::new()
        } else {
            format!("vb{}", &hex_hash(&[&nets[i].id, &req.container_id])[..11])
        },
        ifname: ifname.clone(),
        ports,
        hostname: req.hostname.clone(),
        add_hosts: req.add_hosts.clone(),
        aliases: req.aliases.clone(),
        hosts_file: None,
        pid: netns_pid(netns_path),
        ip6,
        proxies: Vec::new(),
        cni_result: None,
        netns_pin: cni.then(|| super::cni::pin_path(root, network, &req.container_id)),
    };
    // The lease is on disk before any kernel object exists, so a crash in
    // between leaves something reclaim knows how to remove.
    nets[i]
        .leases
        .insert(req.container_id.clone(), lease.clone());
    store.save(&nets[i])?;
    failpoint("net-after-lease");
    if cni {
        nl_ns.set_up(1).map_err(nle("setting lo up"))?;
        let pin = lease.netns_pin.clone().expect("cni lease has a pin");
        let res = super::cni::pin(netns_path, &pin)
            .and_then(|_| super::cni::add(&nets[i].cni_path, &nets[i], &lease, &pin));
        let result = match res {
            Ok(r) => r,
            Err(e) => {
                // The spec's cleanup of a failed ADD: DEL the whole chain.
                let _ = super::cni::del(&nets[i].cni_path, &nets[i], &lease);
                nets[i].leases.remove(&req.container_id);
                store.save(&nets[i])?;
                return Err(e);
            }
        };
        let s = super::cni::summary(&result);
        lease.cni_result = Some(result);
        if let Some((a, _, _)) = s.ip {
            lease.ip = a;
        }
        lease.ip6 = s.ip6.map(|x| x.0);
        lease.mac = s.mac.unwrap_or_default();
        nets[i]
            .leases
            .insert(req.container_id.clone(), lease.clone());
        store.save(&nets[i])?;
        failpoint("net-after-cni");
        refresh_hosts(&nets, network, None);
        return Ok(attachment(&nets[i], &lease));
    }

    let net = &nets[i];
    let plug = || -> Result<(), NetError> {
        if net.sublink() {
            super::sublink::plug(&nl, net, &ns, &lease, mac)?;
        } else {
            let br = nl
                .link_index(&net.bridge)
                .map_err(nle("looking up bridge"))?
                .ok_or_else(|| NetError::Invalid(format!("bridge {} is gone", net.bridge)))?;
            nl.create_veth(&lease.veth, br, &ifname, &ns, mac)
                .map_err(nle(format!("creating veth {}", lease.veth)))?;
        }
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
            if super::sublink::routes_by_parent(net) {
                nl_ns
                    .add_default_dev_route(idx)
                    .map_err(nle("adding default route"))?;
            } else {
                nl_ns
                    .add_default_route(net.gateway, idx)
                    .map_err(nle("adding default route"))?;
            }
        }
        if let (Some(v6), Some(ip6)) = (&net.ipv6, ip6) {
            nl_ns
                .add_addr6(idx, ip6, v6.subnet.prefix)
                .map_err(nle(format!("adding {ip6} to {ifname}")))?;
            if ifname == "eth0" {
                nl_ns
                    .add_default_route6(v6.gateway, idx)
                    .map_err(nle("adding the IPv6 default route"))?;
            }
        }
        failpoint("net-after-veth");
        nft::add_ports(net, ip, ip6, &lease.ports)
    };
    let res = plug().and_then(|_| {
        // [::1] is served by userland proxies (see proxy.rs); each is in
        // the lease as soon as it runs, so a failure below still kills it.
        let (Some(ip6), Some(watch)) = (ip6, lease.pid) else {
            return Ok(());
        };
        for p in lease.ports.clone() {
            let loopback = match p.host_ip {
                None => true,
                Some(IpAddr::V6(a)) => a.is_unspecified() || a.is_loopback(),
                Some(IpAddr::V4(_)) => false,
            };
            if p.proto == Proto::Tcp && loopback {
                let to = std::net::SocketAddr::new(IpAddr::V6(ip6), p.container_port);
                lease.proxies.push(proxy::spawn(p.host_port, to, watch)?);
            }
        }
        failpoint("net-after-proxy");
        Ok(())
    });
    if let Err(e) = res {
        if let Err(u) = unplug(&nl, &nets[i], &lease) {
            log::warn!("undoing half-made attachment: {u}");
        }
        nets[i].leases.remove(&req.container_id);
        store.save(&nets[i])?;
        return Err(e);
    }
    if !lease.proxies.is_empty() {
        nets[i]
            .leases
            .insert(req.container_id.clone(), lease.clone());
        store.save(&nets[i])?;
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

pub(super) fn detach(root: &Path, only: Option<&str>, container_id: &str) -> Result<(), NetError> {
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

pub(super) fn attachment(net: &Network, l: &Lease) -> Attachment {
    if let Some(r) = &l.cni_result {
        let s = super::cni::summary(r);
        return Attachment {
            ip: IpAddr::V4(l.ip),
            gateway: IpAddr::V4(
                s.ip.and_then(|x| x.2)
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ),
            prefix: s.ip.map_or(0, |x| x.1),
            mac: l.mac.clone(),
            ports: l.ports.clone(),
            network: net.name.clone(),
            aliases: l.aliases.clone(),
            ip6: l.ip6,
            gateway6: s.ip6.and_then(|x| x.2),
            prefix6: s.ip6.map_or(0, |x| x.1),
        };
    }
    Attachment {
        ip: IpAddr::V4(l.ip),
        gateway: IpAddr::V4(net.gateway),
        prefix: net.subnet.prefix,
        mac: l.mac.clone(),
        ports: l.ports.clone(),
        network: net.name.clone(),
        aliases: l.aliases.clone(),
        ip6: l.ip6,
        gateway6: net.ipv6.as_ref().map(|v| v.gateway),
        prefix6: net.ipv6.as_ref().map_or(0, |v| v.subnet.prefix),
    }
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

/// `/proc/<pid>/ns/net` names the process that holds the namespace.
pub(super) fn netns_pid(p: &Path) -> Option<(u32, u64)> {
    let pid: u32 = p
        .to_str()?
        .strip_prefix("/proc/")?
        .strip_suffix("/ns/net")?
        .parse()
        .ok()?;
    Some((pid, state::start_time(pid)?))
}
