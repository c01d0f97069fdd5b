//! `/networks`: list, inspect, create, remove, connect, disconnect, prune.
//! `host` and `none` are listed as docker lists them.

use super::body::{self, ApiError, Body};
use super::containers::read_body;
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::network::state::Network;
use crate::network::{self, NetError};
use hyper::{Response, StatusCode};
use serde::Deserialize;
use std::sync::Arc;

fn err(e: NetError) -> ApiError {
    match &e {
        NetError::NoSuchNetwork(n) => ApiError::not_found(format!("network {n} not found")),
        NetError::Exists(n) => ApiError::conflict(format!("network with name {n} already exists")),
        NetError::InUse(..) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
        NetError::Invalid(_) | NetError::Publish(..) => ApiError::bad(e.to_string()),
        _ => ApiError::internal(e.to_string()),
    }
}

/// A pseudo network's id: stable per name, as docker's are per daemon.
fn pseudo_id(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("berth-network-{name}").as_bytes());
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// docker's network object.
pub fn json(n: &Network) -> serde_json::Value {
    let containers: serde_json::Map<String, serde_json::Value> = n
        .leases
        .values()
        .map(|l| {
            (
                l.container_id.clone(),
                serde_json::json!({
                    "Name": l.name, "EndpointID": "", "MacAddress": l.mac,
                    "IPv4Address": format!("{}/{}", l.ip, n.subnet.prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    serde_json::json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
        "Driver": n.driver, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null,
                 "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
        "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": {},
    })
}

fn pseudo(name: &str, driver: &str) -> serde_json::Value {
    serde_json::json!({
        "Name": name, "Id": pseudo_id(name), "Created": "0001-01-01T00:00:00Z",
        "Scope": "local", "Driver": driver, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": {}, "Options": {}, "Labels": {},
    })
}

fn all(root: &std::path::Path) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut out: Vec<_> = network::list(root).map_err(err)?.iter().map(json).collect();
    out.push(pseudo("host", "host"));
    out.push(pseudo("none", "null"));
    Ok(out)
}

fn find(root: &std::path::Path, s: &str) -> Result<serde_json::Value, ApiError> {
    let list = all(root)?;
    let hit = |v: &&serde_json::Value| {
        v["Name"] == s
            || v["Id"]
                .as_str()
                .is_some_and(|i| i == s || (s.len() >= 3 && i.starts_with(s)))
    };
    list.iter()
        .find(|v| v["Name"] == s)
        .or_else(|| list.iter().find(hit))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("network {s} not found")))
}

pub async fn list(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let filters = q.filters()?;
    let v = blocking(move || {
        let mut out = Vec::new();
        'next: for n in all(ctx.root())? {
            for (k, f) in &filters {
                let keep = match k.as_str() {
                    "name" => n["Name"].as_str().is_some_and(|x| x.contains(f.as_str())),
                    "id" => n["Id"].as_str().is_some_and(|x| x.starts_with(f.as_str())),
                    "driver" => n["Driver"] == f.as_str(),
                    "type" => {
                        (f == "builtin")
                            == matches!(n["Name"].as_str(), Some("bridge" | "host" | "none"))
                    }
                    "scope" => f == "local",
                    _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
                };
                if !keep {
                    continue 'next;
                }
            }
            out.push(n);
        }
        Ok(serde_json::Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn inspect(ctx: Arc<Ctx>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let v = blocking(move || find(ctx.root(), &name)).await?;
    Ok(body::json(StatusCode::OK, &v))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: String,
    gateway: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    internal: bool,
    check_duplicate: bool,
}

pub async fn create(ctx: Arc<Ctx>, req: Req) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let b: CreateBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    let _ = b.check_duplicate;
    if !matches!(b.driver.as_str(), "" | "bridge") {
        return Err(ApiError::bad(format!(
            "network driver {:?} is not supported: only bridge",
            b.driver
        )));
    }
    if b.enable_ipv6 || b.internal {
        return Err(ApiError::bad(
            "IPv6 and internal networks are not supported",
        ));
    }
    let cfg = b.ipam.and_then(|i| i.config).unwrap_or_default();
    if cfg.len() > 1 {
        return Err(ApiError::bad(
            "only one IPAM config (one IPv4 subnet) is supported",
        ));
    }
    let (subnet, gateway) = cfg
        .into_iter()
        .next()
        .map(|c| (c.subnet, c.gateway))
        .unwrap_or_default();
    let v = blocking(move || {
        let n = network::create(
            ctx.root(),
            &b.name,
            (!subnet.is_empty()).then_some(subnet.as_str()),
            (!gateway.is_empty()).then_some(gateway.as_str()),
        )
        .map_err(err)?;
        crate::events::emit(
            ctx.root(),
            "network",
            "create",
            &n.id,
            &[("name", &n.name), ("type", "bridge")],
        );
        Ok(serde_json::json!({"Id": n.id, "Warning": ""}))
    })
    .await?;
    Ok(body::json(StatusCode::CREATED, &v))
}

pub async fn remove(ctx: Arc<Ctx>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    blocking(move || {
        let v = find(ctx.root(), &name)?;
        let real = v["Name"].as_str().unwrap_or_default().to_string();
        if matches!(real.as_str(), "bridge" | "host" | "none") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{real} is a pre-defined network and cannot be removed"),
            ));
        }
        network::remove(ctx.root(), &real).map_err(err)?;
        let id = v["Id"].as_str().unwrap_or_default();
        crate::events::emit(ctx.root(), "network", "destroy", id, &[("name", &real)]);
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    force: bool,
}

pub async fn connect(
    ctx: Arc<Ctx>,
    name: &str,
    req: Req,
    on: bool,
) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let b: ConnectBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    let _ = b.force;
    let name = name.to_string();
    blocking(move || {
        let v = find(ctx.root(), &name)?;
        let net = v["Name"].as_str().unwrap_or_default().to_string();
        let root = ctx.root();
        if on {
            let c = crate::container::net::connect(root, &net, &b.container)?;
            crate::events::emit(
                root,
                "network",
                "connect",
                &net,
                &[("container", &c.id), ("name", &net)],
            );
        } else {
            let cs = crate::container::ContainerStore::open(root)?;
            let id = cs.find(&b.container)?.id;
            if !crate::container::net::disconnect(root, &net, &b.container)? {
                network::disconnect(root, &net, &id).map_err(err)?;
            }
            crate::events::emit(
                root,
                "network",
                "disconnect",
                &net,
                &[("container", &id), ("name", &net)],
            );
        }
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::OK))
}

pub async fn prune(ctx: Arc<Ctx>) -> Result<Response<Body>, ApiError> {
    let v = blocking(move || {
        let gone = network::prune(ctx.root()).map_err(err)?;
        Ok(serde_json::json!({"NetworksDeleted": gone}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
