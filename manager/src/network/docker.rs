//! What `network ls` and `network inspect` show, in docker's shape: the
//! root's bridges (the default one listed even before its first use, as
//! docker's daemon has made docker0 by then) and the two networks that are
//! no object at all, `host` and `none`.

use super::state::Network;
use super::{hex_hash, NetError, DEFAULT_NETWORK};
use serde_json::{json, Value};
use std::path::Path;

pub struct Listed {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub created: String,
    /// The bridge's record; none for host, none and a default bridge not
    /// made yet.
    pub net: Option<Network>,
}

fn root_created(root: &Path) -> String {
    let t = std::fs::metadata(root)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::image::time::format_rfc3339(t)
}

/// Every network of the root, sorted by name as docker lists them.
pub fn list_all(root: &Path) -> Result<Vec<Listed>, NetError> {
    let nets = if root.join("networks").exists() {
        super::list(root)?
    } else {
        Vec::new()
    };
    let mut out: Vec<Listed> = Vec::new();
    let virt = |name: &str, driver: &str| Listed {
        name: name.to_string(),
        // Stable for the root, and different from another root's.
        id: hex_hash(&[&root.display().to_string(), name]),
        driver: driver.to_string(),
        created: root_created(root),
        net: None,
    };
    if !nets.iter().any(|n| n.name == DEFAULT_NETWORK) {
        out.push(virt(DEFAULT_NETWORK, "bridge"));
    }
    out.push(virt("host", "host"));
    out.push(virt("none", "null"));
    for n in nets {
        out.push(Listed {
            name: n.name.clone(),
            id: n.id.clone(),
            driver: n.driver.clone(),
            created: n.created.clone(),
            net: Some(n),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One network by name, id or unique id prefix.
pub fn find(root: &Path, name: &str) -> Result<Listed, NetError> {
    let all = list_all(root)?;
    if let Some(i) = all.iter().position(|n| n.name == name || n.id == name) {
        return Ok(all.into_iter().nth(i).expect("found"));
    }
    let mut hits = all.into_iter().filter(|n| n.id.starts_with(name));
    match (hits.next(), hits.next()) {
        (Some(n), None) if !name.is_empty() => Ok(n),
        _ => Err(NetError::NoSuchNetwork(name.to_string())),
    }
}

/// `network ls --format` fields.
pub fn ls_json(n: &Listed) -> Value {
    let ipv6 = n.net.as_ref().is_some_and(|n| n.ipv6.is_some());
    json!({
        "ID": &n.id[..12], "Name": n.name, "Driver": n.driver, "Scope": "local",
        "IPv6": ipv6.to_string(), "Internal": "false", "Labels": "", "CreatedAt": n.created,
    })
}

/// `network inspect`: docker's fields.
pub fn inspect_json(n: &Listed) -> Value {
    let mut config = Vec::new();
    let mut containers = serde_json::Map::new();
    let mut options = serde_json::Map::new();
    if let Some(net) = &n.net {
        let mut c4 = json!({"Subnet": net.subnet.to_string(), "Gateway": net.gateway.to_string()});
        if let Some(r) = net.ip_range {
            c4["IPRange"] = r.to_string().into();
        }
        if !net.aux.is_empty() {
            c4["AuxiliaryAddresses"] = json!(net.aux);
        }
        config.push(c4);
        if let Some(v6) = &net.ipv6 {
            config
                .push(json!({"Subnet": v6.subnet.to_string(), "Gateway": v6.gateway.to_string()}));
        }
        for (id, l) in &net.leases {
            containers.insert(
                id.clone(),
                json!({
                    "Name": l.name,
                    "EndpointID": hex_hash(&[&net.id, id]),
                    "MacAddress": l.mac,
                    "IPv4Address": format!("{}/{}", l.ip, super::attach::attachment(net, l).prefix),
                    "IPv6Address": match (l.ip6, &net.ipv6) {
                        (Some(a), Some(v6)) => format!("{a}/{}", v6.subnet.prefix),
                        _ => String::new(),
                    },
                }),
            );
        }
        if net.default {
            for (k, v) in [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                ("com.docker.network.driver.mtu", "1500"),
            ] {
                options.insert(k.into(), v.into());
            }
        }
        if !net.sublink() {
            options.insert(
                "com.docker.network.bridge.name".into(),
                net.bridge.clone().into(),
            );
        }
        for (k, v) in &net.options {
            options.insert(k.clone(), v.clone().into());
        }
        if let Some(c) = &net.cni {
            // The conflist itself, as podman shows a CNI network's config.
            options.insert("cni.name".into(), c["name"].clone());
            options.insert(
                "cni.plugins".into(),
                c["plugins"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["type"].as_str())
                    .collect::<Vec<_>>()
                    .join(",")
                    .into(),
            );
        }
    }
    let ipv6 = n.net.as_ref().is_some_and(|n| n.ipv6.is_some());
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": ipv6,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": {},
    })
}
