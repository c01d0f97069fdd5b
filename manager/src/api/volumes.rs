//! `/volumes`: list, create, inspect, remove, prune.

use super::body::{self, ApiError, Body};
use super::containers::read_body;
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::volume::{Volume, VolumeError, VolumeStore};
use hyper::{Response, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

fn err(e: VolumeError) -> ApiError {
    match &e {
        VolumeError::NotFound(n) => ApiError::not_found(format!("get {n}: no such volume")),
        VolumeError::InUse(..) | VolumeError::Exists(_) => ApiError::conflict(e.to_string()),
        VolumeError::BadName(_) => ApiError::bad(e.to_string()),
        VolumeError::Io { .. } => ApiError::internal(e.to_string()),
    }
}

/// docker's volume object (berth's own fields left out).
fn json(v: &Volume) -> serde_json::Value {
    serde_json::json!({
        "Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint,
        "CreatedAt": v.created_at, "Labels": v.labels,
        "Scope": if v.scope.is_empty() { "local" } else { &v.scope },
        "Options": {},
    })
}

pub async fn list(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let filters = q.filters()?;
    let v = blocking(move || {
        let vs = VolumeStore::open(ctx.root()).map_err(err)?;
        let mut out = Vec::new();
        'next: for v in vs.list() {
            for (k, f) in &filters {
                let keep = match k.as_str() {
                    "name" => v.name.contains(f.as_str()),
                    "dangling" => vs.users(&v.name).is_empty() == (f == "true" || f == "1"),
                    "driver" => v.driver == *f,
                    "label" => match f.split_once('=') {
                        Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                        None => v.labels.contains_key(f),
                    },
                    _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
                };
                if !keep {
                    continue 'next;
                }
            }
            out.push(json(&v));
        }
        Ok(serde_json::json!({"Volumes": out, "Warnings": []}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    labels: Option<BTreeMap<String, String>>,
    driver_opts: Option<BTreeMap<String, String>>,
}

pub async fn create(ctx: Arc<Ctx>, req: Req) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let b: CreateBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    if !matches!(b.driver.as_str(), "" | "local") {
        return Err(ApiError::bad(format!(
            "volume driver {:?} is not supported: only local",
            b.driver
        )));
    }
    if b.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad("volume driver options are not supported"));
    }
    let v = blocking(move || {
        let vs = VolumeStore::open(ctx.root()).map_err(err)?;
        let name = if b.name.is_empty() {
            crate::container::random_id()
        } else {
            b.name
        };
        // docker answers a create of an existing volume with that volume.
        let v = match vs.create(&name, b.labels.unwrap_or_default(), false) {
            Err(VolumeError::Exists(_)) => vs.get(&name).map_err(err)?,
            r => {
                let v = r.map_err(err)?;
                crate::events::emit(
                    ctx.root(),
                    "volume",
                    "create",
                    &v.name,
                    &[("driver", "local")],
                );
                v
            }
        };
        Ok(json(&v))
    })
    .await?;
    Ok(body::json(StatusCode::CREATED, &v))
}

pub async fn inspect(ctx: Arc<Ctx>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let v = blocking(move || {
        let vs = VolumeStore::open(ctx.root()).map_err(err)?;
        Ok(json(&vs.get(&name).map_err(err)?))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn remove(ctx: Arc<Ctx>, name: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let force = q.flag("force");
    blocking(move || {
        let vs = VolumeStore::open(ctx.root()).map_err(err)?;
        vs.remove(&name, force).map_err(err)?;
        crate::events::emit(
            ctx.root(),
            "volume",
            "destroy",
            &name,
            &[("driver", "local")],
        );
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn prune(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    // API 1.41 (docker 20.10) prunes named volumes too; `all` is 1.42's.
    let _ = q;
    let v = blocking(move || {
        let vs = VolumeStore::open(ctx.root()).map_err(err)?;
        let gone = vs.prune(true).map_err(err)?;
        Ok(serde_json::json!({"VolumesDeleted": gone, "SpaceReclaimed": 0}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
