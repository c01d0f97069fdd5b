//! The macvlan and ipvlan drivers: a container's interface is a link on a
//! host interface (`-o parent=`), put straight into its namespace, with an
//! address of the parent's LAN, as the tutorials' pipework did. No bridge,
//! no nft table and no published ports: the container is on the LAN itself.

use super::netlink::Netlink;
use super::state::{Lease, Network};
use super::{nle, NetError};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

pub fn is_sublink(driver: &str) -> bool {
    matches!(driver, "macvlan" | "ipvlan")
}

/// The driver's mode number for the mode option, checked.
fn mode(driver: &str, opts: &BTreeMap<String, String>) -> Result<u32, NetError> {
    let (key, table): (&str, &[(&str, u32)]) = if driver == "ipvlan" {
        ("ipvlan_mode", &[("l2", 0), ("l3", 1), ("l3s", 2)])
    } else {
        (
            "macvlan_mode",
            &[("private", 1), ("vepa", 2), ("bridge", 4), ("passthru", 8)],
        )
    };
    let default = if driver == "ipvlan" { "l2" } else { "bridge" };
    let v = opts.get(key).map(String::as_str).unwrap_or(default);
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            NetError::Invalid(format!(
                "invalid -o {key}={v}: want one of {}",
                names.join(", ")
            ))
        })
}

/// Checks a macvlan/ipvlan network's options and that this kernel can make
/// such a link on the parent: one is made in a throwaway namespace, so the
/// host never sees it.
pub fn validate(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), NetError> {
    let mode_key = format!("{driver}_mode");
    if let Some(k) = opts.keys().find(|k| *k != "parent" && **k != mode_key) {
        return Err(NetError::Invalid(format!(
            "unknown option {k:?} for the {driver} driver (it takes parent and {mode_key})"
        )));
    }
    let m = mode(driver, opts)?;
    let parent = opts.get("parent").ok_or_else(|| {
        NetError::Invalid(format!(
            "the {driver} driver needs -o parent=INTERFACE (a host interface on the LAN)"
        ))
    })?;
    let nl = Netlink::open().map_err(nle("opening socket"))?;
    let idx = nl
        .link_index(parent)
        .map_err(nle("looking up the parent"))?
        .ok_or_else(|| NetError::Invalid(format!("parent interface {parent:?} does not exist")))?;
    let ns = throwaway_netns().map_err(nle("making a namespace for the driver probe"))?;
    nl.create_sublink(driver, "probe0", idx, &ns, None, m)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => NetError::Invalid(format!(
                "this kernel has no {driver} driver (CONFIG_{} is not built or loadable)",
                driver.to_uppercase()
            )),
            _ => NetError::Netlink(format!("making a {driver} link on {parent}"), e),
        })?;
    // Dropping the namespace takes the probe link with it.
    drop(ns);
    Ok(())
}

/// A new, empty network namespace, alive as long as the returned file.
fn throwaway_netns() -> std::io::Result<File> {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: only this thread changes namespace, and it ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            File::open("/proc/thread-self/ns/net")
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("namespace thread panicked")))
    })
}

/// ipvlan's L3 modes: the parent's namespace routes the slaves' packets and
/// no neighbour on the link answers for a gateway, so the container's
/// default route has no next hop (as docker sets it; `--gateway` unused).
pub fn routes_by_parent(net: &Network) -> bool {
    net.driver == "ipvlan"
        && matches!(
            net.options.get("ipvlan_mode").map(String::as_str),
            Some("l3" | "l3s")
        )
}

/// Makes the container's link on the parent, inside its namespace `ns`.
pub fn plug(
    nl: &Netlink,
    net: &Network,
    ns: &File,
    l: &Lease,
    mac: [u8; 6],
) -> Result<(), NetError> {
    let parent = net.options.get("parent").cloned().unwrap_or_default();
    let idx = nl
        .link_index(&parent)
        .map_err(nle("looking up the parent"))?
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "parent interface {parent:?} of network {} is gone",
                net.name
            ))
        })?;
    let m = mode(&net.driver, &net.options)?;
    // ipvlan slaves share the parent's MAC.
    let mac = (net.driver == "macvlan").then_some(mac);
    nl.create_sublink(&net.driver, &l.ifname, idx, ns, mac, m)
        .map_err(nle(format!("making the {} link on {parent}", net.driver)))
}

/// Removes the container's link: it lives in the container's namespace,
/// and goes with it; while the namespace holder lives it is deleted there.
pub fn unplug(l: &Lease) -> Result<(), NetError> {
    let Some((pid, t)) = l.pid else {
        return Ok(());
    };
    if super::state::start_time(pid) != Some(t) {
        return Ok(());
    }
    let p = Path::new("/proc").join(pid.to_string()).join("ns/net");
    let Ok(ns) = File::open(&p) else {
        return Ok(());
    };
    let nl = Netlink::open_in(&ns).map_err(nle(format!("entering {}", p.display())))?;
    nl.delete_link(&l.ifname)
        .map_err(nle(format!("deleting {}", l.ifname)))?;
    Ok(())
}
