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
use std::net::{IpAddr, Ipv4Addr};
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

/// (Re)creates the network's table from scratch: the add-then-delete pair
/// makes it idempotent without a lookup.
pub fn create_table(net: &Network, prefix: &str) -> Result<(), NetError> {
    let t = net.table();
    let br = &net.bridge;
    let sub = net.subnet;
    let dnat = "fib daddr type local meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @ph\n    \
                fib daddr type local meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @pa";
    let script = format!(
        r#"table ip {t} {{}}
delete table ip {t}
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
    run(&format!("table ip {t} {{}}\ndelete table ip {t}\n"))
}

fn proto(p: Proto) -> u8 {
    match p {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// The map a publication goes to, and its key in nft's register layout
/// (`inet_proto . inet_service`, or `ipv4_addr . inet_proto . inet_service`,
/// each field padded to 4 bytes; ports in network order).
fn key(p: &PortMap) -> (&'static str, Vec<u8>) {
    let mut k = Vec::with_capacity(12);
    let map = match p.host_ip {
        Some(IpAddr::V4(ip)) if !ip.is_unspecified() => {
            k.extend_from_slice(&ip.octets());
            "ph"
        }
        _ => "pa",
    };
    k.extend_from_slice(&[proto(p.proto), 0, 0, 0]);
    k.extend_from_slice(&p.host_port.to_be_bytes());
    k.extend_from_slice(&[0, 0]);
    (map, k)
}

/// Adds or deletes the elements of `ports`, in both maps, as one transaction.
fn elements(
    net: &Network,
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
                    let (m, key) = key(p);
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
        .and_then(|nl| nl.map_elements(&net.table(), &maps, delete))
        .map_err(|e| NetError::Nft(format!("{what} ports in {}: {e}", net.table())))
}

pub fn add_ports(net: &Network, ip: Ipv4Addr, ports: &[PortMap]) -> Result<(), NetError> {
    let data = |p: &PortMap| {
        let mut d = ip.octets().to_vec();
        d.extend_from_slice(&p.container_port.to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        Some(d)
    };
    elements(net, ports, data, false)
}

/// Withdraws ports; ones already gone (e.g. the table was flushed by hand)
/// are not an error, so teardown stays idempotent.
pub fn delete_ports(net: &Network, ports: &[PortMap]) -> Result<(), NetError> {
    if elements(net, ports, |_| None, true).is_ok() {
        return Ok(());
    }
    // One transaction fails whole if any element is missing: retry one by one.
    for p in ports {
        if let Err(e) = elements(net, std::slice::from_ref(p), |_| None, true) {
            if !e.to_string().contains("No such file") {
                return Err(e);
            }
        }
    }
    Ok(())
}
