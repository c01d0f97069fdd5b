//! Packet filtering and NAT in a table of our own per network
//! (`ip berth_<bridge>`), so we never touch another tool's rules and removing
//! a network is one `delete table`. Tables are written by the `nft` binary;
//! the per-container work, map elements, goes over nfnetlink.
//!
//! Published ports are elements of two maps, looked up by the DNAT rules:
//! `pa` (any local address) keyed by proto . port, and `ph` (one host
//! address) keyed by address . proto . port. Publishing or withdrawing a
//! container's ports is then an atomic `add/delete element`, with no rule
//! handles to track.

use super::netlink::{Netlink, SetElem};
use super::publish::{PortMap, Proto};
use super::state::Network;
use super::NetError;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

fn run(script: &str) -> Result<(), NetError> {
    log::debug!("nft -f -:\n{script}");
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Nft(format!("cannot run nft (is nftables installed?): {e}")))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .map_err(|e| NetError::Nft(format!("writing to nft: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Nft(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err
        .lines()
        .find(|l| l.contains("Error"))
        .unwrap_or(err.trim());
    Err(NetError::Nft(first.trim().to_string()))
}

/// (Re)creates the network's tables from scratch: the add-then-delete
/// pair makes it idempotent without a lookup. A dual-stack network has an
/// `ip6` table of the same name next to the `ip` one.
pub fn create_table(net: &Network, prefix: &str) -> Result<(), NetError> {
    let t = net.table();
    let br = &net.bridge;
    let sub = net.subnet;
    let dnat = "fib daddr type local meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @ph\n    \
                fib daddr type local meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @pa";
    let mut script = format!(
        r#"table ip {t} {{}}
delete table ip {t}
table ip6 {t} {{}}
delete table ip6 {t}
table ip {t} {{
  map pa {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map ph {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain dnat_pre {{
    type nat hook prerouting priority dstnat; policy accept;
    {dnat}
  }}
  chain dnat_out {{
    type nat hook output priority -100; policy accept;
    {dnat}
  }}
  chain snat_post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{br}" ip saddr 127.0.0.0/8 masquerade
    oifname "{br}" ip saddr {sub} ct status dnat masquerade
    oifname != "{br}" ip saddr {sub} masquerade
  }}
  chain isolate {{
    type filter hook forward priority filter; policy accept;
    iifname "{br}" oifname != "{br}" oifname "{prefix}*" ct status dnat accept
    iifname "{br}" oifname != "{br}" oifname "{prefix}*" drop
  }}
}}
"#
    );
    if let Some(v6) = &net.ipv6 {
        // ::1 is left to the userland proxy (see proxy.rs).
        let sub6 = v6.subnet;
        let dnat6 = "ip6 daddr != ::1 fib daddr type local meta l4proto { tcp, udp } dnat ip6 to ip6 daddr . meta l4proto . th dport map @ph\n    \
                     ip6 daddr != ::1 fib daddr type local meta l4proto { tcp, udp } dnat ip6 to meta l4proto . th dport map @pa";
        script.push_str(&format!(
            r#"table ip6 {t} {{
  map pa {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
  map ph {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
  chain dnat_pre {{
    type nat hook prerouting priority dstnat; policy accept;
    {dnat6}
  }}
  chain dnat_out {{
    type nat hook output priority -100; policy accept;
    {dnat6}
  }}
  chain snat_post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{br}" ip6 saddr {sub6} ct status dnat masquerade
    oifname != "{br}" ip6 saddr {sub6} masquerade
  }}
  chain isolate {{
    type filter hook forward priority filter; policy accept;
    iifname "{br}" oifname != "{br}" oifname "{prefix}*" ct status dnat accept
    iifname "{br}" oifname != "{br}" oifname "{prefix}*" drop
  }}
}}
"#
        ));
    }
    run(&script)
}

/// Whether the network's table is in the kernel.
pub fn table_exists(net: &Network) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", &net.table()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn delete_table(net: &Network) -> Result<(), NetError> {
    delete_table_named(&net.table())
}

pub fn delete_table_named(t: &str) -> Result<(), NetError> {
    run(&format!(
        "table ip {t} {{}}\ndelete table ip {t}\ntable ip6 {t} {{}}\ndelete table ip6 {t}\n"
    ))
}

fn proto(p: Proto) -> u8 {
    match p {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// The map a publication goes to in the table of family `v6`, and its
/// key in nft's register layout (`inet_proto . inet_service`, or
/// `ipvN_addr . inet_proto . inet_service`, each field padded to 4 bytes;
/// ports in network order). None: the publication is not for this family
/// (or, on [::1], for the proxy).
fn key(p: &PortMap, v6: bool) -> Option<(&'static str, Vec<u8>)> {
    let mut k = Vec::with_capacity(24);
    let map = match (p.host_ip, v6) {
        (None, _) => "pa",
        (Some(IpAddr::V4(ip)), false) if ip.is_unspecified() => "pa",
        (Some(IpAddr::V4(ip)), false) => {
            k.extend_from_slice(&ip.octets());
            "ph"
        }
        (Some(IpAddr::V6(ip)), true) if ip.is_unspecified() => "pa",
        (Some(IpAddr::V6(ip)), true) if !ip.is_loopback() => {
            k.extend_from_slice(&ip.octets());
            "ph"
        }
        _ => return None,
    };
    k.extend_from_slice(&[proto(p.proto), 0, 0, 0]);
    k.extend_from_slice(&p.host_port.to_be_bytes());
    k.extend_from_slice(&[0, 0]);
    Some((map, k))
}

/// Adds or deletes the elements of `ports`, in both maps of the table of
/// family `v6`, as one transaction.
fn elements(
    net: &Network,
    v6: bool,
    ports: &[PortMap],
    data: impl Fn(&PortMap) -> Option<Vec<u8>>,
    delete: bool,
) -> Result<(), NetError> {
    let maps: Vec<(&str, Vec<SetElem>)> = ["pa", "ph"]
        .into_iter()
        .map(|map| {
            let elems = ports
                .iter()
                .filter_map(|p| {
                    let (m, key) = key(p, v6)?;
                    (m == map).then(|| SetElem { key, data: data(p) })
                })
                .collect();
            (map, elems)
        })
        .filter(|(_, elems): &(&str, Vec<SetElem>)| !elems.is_empty())
        .collect();
    if maps.is_empty() {
        return Ok(());
    }
    let what = if delete { "deleting" } else { "adding" };
    Netlink::open_netfilter()
        .and_then(|nl| nl.map_elements(&net.table(), v6, &maps, delete))
        .map_err(|e| NetError::Nft(format!("{what} ports in {}: {e}", net.table())))
}

/// Publishes `ports` to the container's `ip` (and `ip6` on a dual-stack
/// network).
pub fn add_ports(
    net: &Network,
    ip: Ipv4Addr,
    ip6: Option<Ipv6Addr>,
    ports: &[PortMap],
) -> Result<(), NetError> {
    let data = |p: &PortMap| {
        let mut d = ip.octets().to_vec();
        d.extend_from_slice(&p.container_port.to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        Some(d)
    };
    elements(net, false, ports, data, false)?;
    if let Some(ip6) = ip6.filter(|_| net.ipv6.is_some()) {
        let data6 = |p: &PortMap| {
            let mut d = ip6.octets().to_vec();
            d.extend_from_slice(&p.container_port.to_be_bytes());
            d.extend_from_slice(&[0, 0]);
            Some(d)
        };
        if let Err(e) = elements(net, true, ports, data6, false) {
            let _ = elements(net, false, ports, |_| None, true);
            return Err(e);
        }
    }
    Ok(())
}

/// Withdraws ports; ones already gone (e.g. the table was flushed by hand)
/// are not an error, so teardown stays idempotent.
pub fn delete_ports(net: &Network, ports: &[PortMap]) -> Result<(), NetError> {
    let fams: &[bool] = if net.ipv6.is_some() {
        &[false, true]
    } else {
        &[false]
    };
    for &v6 in fams {
        if elements(net, v6, ports, |_| None, true).is_ok() {
            continue;
        }
        // One transaction fails whole if any element is missing: retry one by one.
        for p in ports {
            if let Err(e) = elements(net, v6, std::slice::from_ref(p), |_| None, true) {
                if !e.to_string().contains("No such file") {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}
