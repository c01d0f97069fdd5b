//! The /etc files of containers on a network: hosts (peers on user
//! networks reach each other by name) and resolv.conf, rewritten in place.

use super::state::{Network, Store};
use super::{etc, state, Attachment, NetError, NetRequest};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// Writes `hosts`, `hostname` and `resolv.conf` into `dir`, for the
/// container code to bind-mount. Files that exist are rewritten in place,
/// so this can run before `create` (with `att` None) and again after
/// `setup`, when they are mounted. With an attachment, `dir` must lie in the
/// container's directory `<root>/containers/<id>/`: that is how the lease is
/// found, and the hosts file is then kept current as peers on the
/// container's user networks come and go.
pub fn write_etc_files(
    dir: &Path,
    req: &NetRequest,
    att: Option<&Attachment>,
) -> Result<(), NetError> {
    if att.is_none() {
        return write_etc_files_in(None, dir, req);
    }
    let root = dir
        .ancestors()
        .find(|a| {
            a.file_name()
                .is_some_and(|n| n == req.container_id.as_str())
                && a.parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|n| n == state::CONTAINERS_DIR)
        })
        .and_then(|a| a.parent()?.parent())
        .ok_or_else(|| {
            NetError::Invalid(format!(
                "{} is not inside the container's directory {}/{}",
                dir.display(),
                state::CONTAINERS_DIR,
                req.container_id
            ))
        })?;
    write_etc_files_in(Some(root), dir, req)
}

/// `write_etc_files` with the root given: None writes the files of a
/// container without a network (none, host), Some those of an attached one.
pub fn write_etc_files_in(
    root: Option<&Path>,
    dir: &Path,
    req: &NetRequest,
) -> Result<(), NetError> {
    let w = |name: &str, s: &str| {
        let p = dir.join(name);
        etc::write_in_place(&p, s).map_err(|e| NetError::Io(format!("writing {}", p.display()), e))
    };
    w("hostname", &format!("{}\n", req.hostname))?;
    w(
        "resolv.conf",
        &etc::resolv_conf(&req.dns, &req.dns_search, &req.dns_options),
    )?;
    let Some(root) = root else {
        let own = [(
            IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1)),
            vec![req.hostname.clone(), req.name.clone()],
        )];
        return w("hosts", &etc::hosts(&own, &req.add_hosts, &[]));
    };
    let store = Store::open(root)?;
    let _lock = store.lock()?;
    let mut nets = store.list()?;
    let hosts = dir.join("hosts");
    let mut mine = Vec::new();
    for n in nets.iter_mut() {
        if let Some(l) = n.leases.get_mut(&req.container_id) {
            if l.hosts_file.as_deref() != Some(hosts.as_path()) {
                l.hosts_file = Some(hosts.clone());
                store.save(n)?;
            }
            mine.push(n.name.clone());
        }
    }
    if mine.is_empty() {
        return Err(NetError::Invalid(format!(
            "container {} is attached to no network",
            req.container_id
        )));
    }
    w("hosts", &render_hosts(&nets, &req.container_id))?;
    for name in &mine {
        refresh_hosts(&nets, name, Some(&req.container_id));
    }
    Ok(())
}

/// Rewrites the hosts file of every member of network `name` that has one
/// (but `skip`'s). Members of the default network do not see each other
/// by name, so a change there changes no one else's file.
pub(super) fn refresh_hosts(nets: &[Network], name: &str, skip: Option<&str>) {
    let Some(net) = nets.iter().find(|n| n.name == name && !n.default) else {
        return;
    };
    for (id, l) in &net.leases {
        if skip == Some(id.as_str()) {
            continue;
        }
        if let Some(p) = &l.hosts_file {
            let s = render_hosts(nets, id);
            if let Err(e) = etc::write_in_place(p, &s) {
                log::warn!("updating {}: {e}", p.display());
            }
        }
    }
}

pub(super) fn render_hosts(nets: &[Network], container_id: &str) -> String {
    let mut own = Vec::new();
    let mut peers = Vec::new();
    let mut add_hosts = Vec::new();
    for n in nets {
        let Some(me) = n.leases.get(container_id) else {
            continue;
        };
        let mut names = vec![me.hostname.clone(), me.name.clone()];
        names.extend(me.aliases.iter().cloned());
        if let Some(ip6) = me.ip6 {
            own.push((IpAddr::V6(ip6), names.clone()));
        }
        own.push((IpAddr::V4(me.ip), names));
        if add_hosts.is_empty() {
            add_hosts = me.add_hosts.clone();
        }
        if n.default {
            continue;
        }
        for (id, p) in &n.leases {
            if id != container_id {
                let mut names = vec![p.name.clone()];
                names.extend(p.aliases.iter().cloned());
                if let Some(ip6) = p.ip6 {
                    peers.push((IpAddr::V6(ip6), names.clone()));
                }
                peers.push((IpAddr::V4(p.ip), names));
            }
        }
    }
    etc::hosts(&own, &add_hosts, &peers)
}
