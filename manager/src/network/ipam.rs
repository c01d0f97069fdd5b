//! Addresses: a free subnet for a new network, and a container's address
//! in one (`--ip`, or the next free).

use super::state::{Network, Store, V6Net};
use super::subnet::{Ipv4Net, Ipv6Net};
use super::{subnet, NetError, PortMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// A dual-stack network's v6 side: the given subnet if it overlaps
/// nothing (the host's v6 routes, this root's v6 networks), else a free
/// block of the configured `pool6`; the gateway is the subnet's ::1.
pub(super) fn choose_v6(
    store: &Store,
    nets: &[Network],
    want: Option<&str>,
    gateway: Option<&str>,
    on_lan: bool,
) -> Result<V6Net, NetError> {
    // A macvlan/ipvlan subnet is the parent's LAN, routed by the host maybe.
    let host = if on_lan {
        Vec::new()
    } else {
        subnet::host_subnets6()
    };
    let clash = |s: &Ipv6Net| -> Option<String> {
        if let Some(n) = nets
            .iter()
            .find(|n| n.ipv6.as_ref().is_some_and(|v| v.subnet.overlaps(s)))
        {
            return Some(format!("network {:?}", n.name));
        }
        host.iter()
            .find(|(h, _)| h.overlaps(s))
            .map(|(_, w)| w.clone())
    };
    let sub = match want {
        Some(w) => {
            let s: Ipv6Net = w.parse().map_err(NetError::Invalid)?;
            if let Some(c) = clash(&s) {
                return Err(NetError::Invalid(format!("subnet {s} overlaps {c}")));
            }
            s
        }
        None => {
            let pool = store.config.pool6.ok_or_else(|| {
                NetError::Invalid(
                    "--ipv6 needs an IPv6 --subnet: no IPv6 pool (pool6) is configured in networks/config.json"
                        .into(),
                )
            })?;
            let plen = store.config.subnet6_prefix;
            let step = 1u128 << (128 - plen as u32);
            let mut a = pool.first();
            loop {
                if a.checked_add(step - 1).is_none_or(|e| e > pool.last()) {
                    return Err(NetError::Invalid(format!(
                        "no free /{plen} left in the IPv6 pool {pool}"
                    )));
                }
                let s = Ipv6Net::new(Ipv6Addr::from(a), plen);
                if clash(&s).is_none() {
                    break s;
                }
                a += step;
            }
        }
    };
    let gateway = match gateway {
        None => sub.nth(1).expect("subnet has hosts"),
        Some(g) => {
            let ip: Ipv6Addr = g.parse().map_err(|_| {
                NetError::Invalid(format!("invalid gateway {g:?}: not an IPv6 address"))
            })?;
            if !sub.contains(ip) || ip == sub.addr {
                return Err(NetError::Invalid(format!(
                    "gateway {ip} is not a host address of subnet {sub}"
                )));
            }
            ip
        }
    };
    Ok(V6Net {
        subnet: sub,
        gateway,
    })
}

/// The container's v6 address: `--ip6` if free and in the subnet, else the
/// lowest free one. None on a v4-only network (where `--ip6` is an error).
pub(super) fn ip6_for(net: &Network, want: Option<Ipv6Addr>) -> Result<Option<Ipv6Addr>, NetError> {
    let Some(v6) = &net.ipv6 else {
        return match want {
            Some(ip) => Err(NetError::Invalid(format!(
                "--ip6 {ip}: network {} has no IPv6 (create it with --ipv6)",
                net.name
            ))),
            None => Ok(None),
        };
    };
    let used: std::collections::HashSet<Ipv6Addr> =
        net.leases.values().filter_map(|l| l.ip6).collect();
    if let Some(ip) = want {
        if !v6.subnet.contains(ip) || ip == v6.subnet.addr || ip == v6.gateway {
            return Err(NetError::Invalid(format!(
                "--ip6 {ip}: not a host address of network {} ({}, gateway {})",
                net.name, v6.subnet, v6.gateway
            )));
        }
        if used.contains(&ip) {
            return Err(NetError::Invalid(format!(
                "--ip6 {ip}: in use on network {}",
                net.name
            )));
        }
        return Ok(Some(ip));
    }
    (1..=65536u64)
        .filter_map(|n| v6.subnet.nth(n))
        .find(|ip| *ip != v6.gateway && !used.contains(ip))
        .map(Some)
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "network {} has no free IPv6 address left in {}",
                net.name, v6.subnet
            ))
        })
}

/// Whether two publications' host addresses can take the same port: None
/// is every v4 address, `::` every v6 one.
pub(super) fn overlaps(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) if x.is_ipv4() != y.is_ipv4() => false,
        (Some(x), Some(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
        (None, Some(IpAddr::V6(_))) | (Some(IpAddr::V6(_)), None) => false,
        _ => true,
    }
}

/// A publication's host address: None for every v4 address.
pub(super) fn host_ip(p: &PortMap) -> Option<IpAddr> {
    match p.host_ip {
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => None,
        other => other,
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
    if !host || ip == net.gateway || net.aux.values().any(|a| *a == ip) {
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

/// `--ip-range` and `--aux-address` of `network create`, checked against
/// the subnet.
pub(super) fn set_range_and_aux(
    net: &mut Network,
    range: Option<&str>,
    aux: &[String],
) -> Result<(), NetError> {
    if let Some(r) = range {
        let r: Ipv4Net = r.parse().map_err(NetError::Invalid)?;
        if !(net.subnet.contains(r.addr) && net.subnet.contains(r.broadcast())) {
            return Err(NetError::Invalid(format!(
                "--ip-range {r} is not inside the subnet {}",
                net.subnet
            )));
        }
        net.ip_range = Some(r);
    }
    for a in aux {
        let (name, ip) = a.split_once('=').ok_or_else(|| {
            NetError::Invalid(format!("invalid --aux-address {a:?}: want NAME=IP"))
        })?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| {
            NetError::Invalid(format!("invalid --aux-address {a:?}: not an IPv4 address"))
        })?;
        if !net.subnet.contains(ip) {
            return Err(NetError::Invalid(format!(
                "--aux-address {ip} is not inside the subnet {}",
                net.subnet
            )));
        }
        net.aux.insert(name.to_string(), ip);
    }
    Ok(())
}

pub(super) fn allocate_ip(net: &Network) -> Result<Ipv4Addr, NetError> {
    let used: std::collections::HashSet<Ipv4Addr> = net.leases.values().map(|l| l.ip).collect();
    let pool = net.ip_range.unwrap_or(net.subnet);
    (0..=pool.hosts() + 1)
        .filter_map(|n| pool.nth(n))
        .filter(|ip| *ip != net.subnet.addr && *ip != net.subnet.broadcast())
        .find(|ip| *ip != net.gateway && !used.contains(ip) && !net.aux.values().any(|a| a == ip))
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "network {} has no free address left in {}",
                net.name, net.subnet
            ))
        })
}
