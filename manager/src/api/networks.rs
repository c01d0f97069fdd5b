//! `/networks`: list, inspect, create, remove, connect, disconnect, prune.
//! `host` and `none` are listed as docker lists them.

use super::body::{self, ApiError, Body};
use super::containers::read_body;
use super::query::Query;
use super::{blocking, Ctx, Req};
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

/// Every network in docker's inspect shape (the list answer carries the
/// same objects), built by the module the CLI's `network inspect` uses.
fn all(root: &std::path::Path) -> Result<Vec<serde_json::Value>, ApiError> {
    Ok(network::docker::list_all(root)
        .map_err(err)?
        .iter()
        .map(network::docker::inspect_json)
        .collect())
}

fn find(root: &std::path::Path, s: &str) -> Result<serde_json::Value, ApiError> {
    network::docker::find(root, s)
        .map(|n| network::docker::inspect_json(&n))
        .map_err(err)
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
    #[serde(rename = "IPRange")]
    ip_range: String,
    auxiliary_addresses: std::collections::BTreeMap<String, String>,
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
    options: std::collections::BTreeMap<String, String>,
    check_duplicate: bool,
}

pub async fn create(ctx: Arc<Ctx>, req: Req) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let b: CreateBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    let _ = b.check_duplicate;
    if b.internal {
        return Err(ApiError::bad("internal networks are not supported"));
    }
    let cfg = b.ipam.and_then(|i| i.config).unwrap_or_default();
    let opts = network::CreateOpts {
        driver: b.driver.clone(),
        subnets: cfg
            .iter()
            .filter(|c| !c.subnet.is_empty())
            .map(|c| c.subnet.clone())
            .collect(),
        gateways: cfg
            .iter()
            .filter(|c| !c.gateway.is_empty())
            .map(|c| c.gateway.clone())
            .collect(),
        ipv6: b.enable_ipv6,
        options: b.options.clone(),
        ip_range: cfg
            .iter()
            .find(|c| !c.ip_range.is_empty())
            .map(|c| c.ip_range.clone()),
        aux: cfg
            .iter()
            .flat_map(|c| c.auxiliary_addresses.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        cni_config: None,
    };
    let v = blocking(move || {
        let n = network::create_with(ctx.root(), &b.name, &opts).map_err(err)?;
        crate::events::emit(
            ctx.root(),
            "network",
            "create",
            &n.id,
            &[("name", &n.name), ("type", &n.driver)],
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
