//! Host ports for `-p`/`-P`: checked free on the host and against every
//! lease, under the network lock.

use super::ipam::{overlaps, v4_host};
use super::publish::Proto;
use super::state::Network;
use super::{NetError, PortMap};
use std::io;
use std::net::Ipv4Addr;

/// Checks the host port is free on the host right now (something else may
/// be listening on it) and, for port 0, lets the kernel pick one.
pub(super) fn probe_port(ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> io::Result<u16> {
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
pub(super) fn reserve_ports(nets: &[Network], want: &[PortMap]) -> Result<Vec<PortMap>, NetError> {
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
