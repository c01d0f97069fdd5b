//! The kernel side of a network: its bridge (named and aliased so that no
//! root adopts another's), its nft table, and bridges left by deleted roots.

use super::netlink::Netlink;
use super::state::{Lease, Network, Store};
use super::{nft, nle, state, NetError};
use std::path::Path;

pub(super) fn write_sysctl(path: &str, v: &str) -> Result<(), NetError> {
    if std::fs::read_to_string(path).is_ok_and(|s| s.trim() == v) {
        return Ok(());
    }
    std::fs::write(path, v).map_err(|e| NetError::Io(format!("writing {path}"), e))
}

/// The alias of an existing bridge ("" if it has none), None if the bridge
/// does not exist.
pub(super) fn bridge_alias(bridge: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/sys/class/net").join(bridge).join("ifalias"))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// Whether the bridge is this root's; one without an alias predates
/// aliases and is taken as ours.
pub(super) fn owned(store: &Store, alias: &str) -> bool {
    alias.is_empty() || alias == store.owner()
}

/// Makes the bridge and its table unless the bridge is already there (after
/// a reboot the record survives but the kernel objects do not).
pub(super) fn ensure_up(store: &Store, nl: &Netlink, net: &Network) -> Result<(), NetError> {
    if net.bridgeless() {
        return Ok(());
    }
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
    if net.external {
        // Its table may be gone (a reboot) while the host's bridge stays.
        if nft::table_exists(net) {
            return Ok(());
        }
        let _host = state::host_lock()?;
        return bring_up(store, nl, net);
    }
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
pub(super) fn reap_orphan_bridges(nl: &Netlink, prefix: &str) {
    reap_bridges(nl, prefix, |_, root| {
        (!Path::new(root).join("networks").exists()).then(|| format!("of the vanished root {root}"))
    })
}

/// Removes this root's bridges that no network record names: a `network
/// create` (or the default network's) killed after it made the bridge and
/// before it saved the record. The caller holds the store's lock, under
/// which every bridge is made and recorded, so none is work in progress.
pub(super) fn reap_unrecorded_bridges(store: &Store, nl: &Netlink, nets: &[Network]) {
    // Marked in the making but recorded by no network: a maker was killed,
    // maybe before the bridge had its owner's alias.
    for b in store.making() {
        if nets.iter().any(|n| n.bridge == b) {
            store.made(&b);
            continue;
        }
        if bridge_alias(&b).is_some_and(|a| owned(store, &a)) {
            log::info!("removing bridge {b}: its maker did not finish");
            let _ = nft::delete_table_named(&format!("berth_{}", b.replace('-', "_")));
            let _ = nl.delete_link(&b);
        }
        store.made(&b);
    }
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
/// The caller saves the network next, then calls `store.made`.
pub(super) fn bring_up(store: &Store, nl: &Netlink, net: &Network) -> Result<(), NetError> {
    if net.bridgeless() {
        // Nothing of ours exists until a container joins.
        return Ok(());
    }
    if net.external {
        // The host's bridge: only what rides on it is ours.
        if nl
            .link_index(&net.bridge)
            .map_err(nle("looking up bridge"))?
            .is_none()
        {
            return Err(NetError::Invalid(format!(
                "the host bridge {} of network {} is gone",
                net.bridge, net.name
            )));
        }
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
            "1",
        )?;
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        return nft::create_table(net, &store.config.bridge_prefix);
    }
    store.mark_making(&net.bridge)?;
    let res = (|| {
        nl.create_bridge(&net.bridge)
            .map_err(nle(format!("creating bridge {}", net.bridge)))?;
        crate::fault::point("network:bridge-made");
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
        if let Some(v6) = &net.ipv6 {
            write_sysctl(
                &format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", net.bridge),
                "0",
            )?;
            nl.add_addr6(idx, v6.gateway, v6.subnet.prefix)
                .map_err(nle(format!("adding {} to {}", v6.gateway, net.bridge)))?;
            // As docker with IPv6: containers' v6 traffic is routed out.
            write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
        }
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
        store.made(&net.bridge);
    }
    res
}

pub(super) fn bring_down(store: &Store, nl: &Netlink, net: &Network) -> Result<(), NetError> {
    if net.driver == "cni" {
        // The CNI bridge plugin makes its bridge and never removes it:
        // with the network's last container gone, an empty one goes.
        for p in net
            .cni
            .iter()
            .flat_map(|c| c["plugins"].as_array().into_iter().flatten())
        {
            let Some(b) = p["bridge"].as_str().filter(|_| p["type"] == "bridge") else {
                continue;
            };
            let brif = Path::new("/sys/class/net").join(b).join("brif");
            if std::fs::read_dir(&brif).is_ok_and(|mut d| d.next().is_none()) {
                nl.delete_link(b)
                    .map_err(nle(format!("deleting the CNI bridge {b}")))?;
            }
        }
        return Ok(());
    }
    if net.sublink() {
        return Ok(());
    }
    if net.external {
        return nft::delete_table(net);
    }
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
pub(super) fn unplug(nl: &Netlink, net: &Network, l: &Lease) -> Result<(), NetError> {
    for p in &l.proxies {
        super::proxy::kill(*p);
    }
    if net.sublink() {
        return super::sublink::unplug(l);
    }
    if net.driver == "cni" {
        return super::cni::del(&net.cni_path, net, l);
    }
    nl.delete_link(&l.veth)
        .map_err(nle(format!("deleting {}", l.veth)))?;
    nft::delete_ports(net, &l.ports)
}
