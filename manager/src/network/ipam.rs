//! Addresses: a free subnet for a new network, and a container's address
//! in one (`--ip`, or the next free).

use super::state::{Network, Store};
use super::subnet::Ipv4Net;
use super::{subnet, NetError, PortMap};
use std::net::{IpAddr, Ipv4Addr};

/// A network record's subnet: the given one if it overlaps nothing, else
/// the first free block of the pool.
pub(super) fn choose_subnet(
    store: &Store,
    nets: &[Network],
    want: Option<&str>,
) -> Result<Ipv4Net, NetError> {
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

pub(super) fn overlaps(a: Option<Ipv4Addr>, b: Option<Ipv4Addr>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

pub(super) fn v4_host(p: &PortMap) -> Result<Option<Ipv4Addr>, NetError> {
    match p.host_ip {
        None => Ok(None),
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => Ok(None),
        Some(IpAddr::V4(ip)) => Ok(Some(ip)),
        Some(IpAddr::V6(ip)) => Err(NetError::Invalid(format!(
            "cannot publish on {ip}: IPv6 host addresses are not supported"
        ))),
    }
}

/// `--ip`: free, and a host address of a user network's subnet.
pub(super) fn requested_ip(net: &Network, ip: Ipv4Addr) -> Result<Ipv4Addr, NetError> {
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

pub(super) fn allocate_ip(net: &Network) -> Result<Ipv4Addr, NetError> {
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
