//! Host ports for `-p`/`-P`: checked free on the host and against every
//! lease, under the network lock.

use super::ipam::{host_ip, overlaps};
use super::publish::Proto;
use super::state::Network;
use super::{NetError, PortMap};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket bound to `ip:port` (every v4 address for None; a v6 one only
/// ever takes v6, so `::` does not also claim 0.0.0.0).
pub(super) fn bind(ip: Option<IpAddr>, port: u16, proto: Proto) -> io::Result<Socket> {
    let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let (ty, p) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let s = Socket::new(Domain::for_address(SocketAddr::new(ip, 0)), ty, Some(p))?;
    if ip.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if proto == Proto::Tcp {
        s.set_reuse_address(true)?;
    }
    s.bind(&SocketAddr::new(ip, port).into())?;
    Ok(s)
}

/// Checks the host port is free on the host right now (something else may
/// be listening on it) and, for port 0, lets the kernel pick one.
pub(super) fn probe_port(ip: Option<IpAddr>, port: u16, proto: Proto) -> io::Result<u16> {
    let s = bind(ip, port, proto)?;
    s.local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("not an inet socket"))
}

/// The host addresses a publication takes: on a dual-stack network one
/// without an address takes every v4 and every v6 address, as docker's.
fn addrs(p: &PortMap, v6: bool) -> Vec<Option<IpAddr>> {
    match host_ip(p) {
        None if v6 => vec![None, Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))],
        ip => vec![ip],
    }
}

type Taken = Vec<(Option<IpAddr>, Proto, u16, String)>;

/// Resolves random host ports and refuses any already published by a
/// container of this root or taken on the host. `v6`: the container's
/// network is dual stack.
pub(super) fn reserve_ports(
    nets: &[Network],
    want: &[PortMap],
    v6: bool,
) -> Result<Vec<PortMap>, NetError> {
    let mut taken: Taken = Vec::new();
    for n in nets {
        for l in n.leases.values() {
            for p in &l.ports {
                for a in addrs(p, n.ipv6.is_some()) {
                    taken.push((a, p.proto, p.host_port, l.name.clone()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for p in want {
        if matches!(p.host_ip, Some(IpAddr::V6(_))) && !v6 {
            return Err(NetError::Invalid(format!(
                "cannot publish on {}: the network has no IPv6 (create it with --ipv6)",
                p.host_ip.expect("v6")
            )));
        }
        let ips = addrs(p, v6);
        if p.container_port == 0 {
            return Err(NetError::Invalid(
                "container port 0 cannot be published".into(),
            ));
        }
        let clash = |port: u16, taken: &Taken| {
            taken
                .iter()
                .find(|t| t.1 == p.proto && t.2 == port && ips.iter().any(|ip| overlaps(t.0, *ip)))
                .map(|t| t.3.clone())
        };
        let probe_all = |port: u16| -> io::Result<u16> {
            let got = probe_port(ips[0], port, p.proto)?;
            for ip in &ips[1..] {
                probe_port(*ip, got, p.proto)?;
            }
            Ok(got)
        };
        let port = if p.host_port == 0 {
            let mut tries = 0;
            loop {
                if let Ok(got) = probe_all(0) {
                    if clash(got, &taken).is_none() {
                        break got;
                    }
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
            probe_all(p.host_port).map_err(|e| {
                NetError::Invalid(format!(
                    "cannot publish port {}/{} on {}: {}",
                    p.host_port,
                    p.proto,
                    p.host_ip
                        .map(|i| i.to_string())
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
        for ip in &ips {
            taken.push((*ip, r.proto, port, String::new()));
        }
        out.push(r);
    }
    Ok(out)
}
