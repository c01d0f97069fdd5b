//! `GET /containers/{id}/stats` (a stream, one object a second, or one
//! object after two samples with `stream=0`), `GET /containers/{id}/top`
//! and `GET /system/df`: what the CLI's `stats`, `top` and `system df`
//! read, in docker's shapes.

use super::body::{self, ApiError, Body};
use super::query::Query;
use super::{blocking, Ctx};
use crate::container::cgroup::{self, Counters};
use crate::container::{ContainerStore, Status};
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

struct Snap {
    at: String,
    c: Counters,
    host: u64,
}

fn snap(id: &str) -> Snap {
    Snap {
        at: crate::container::now_rfc3339(),
        c: cgroup::counters(id),
        host: cgroup::host_cpu_ns(),
    }
}

fn cpu_json(s: &Snap, cpus: usize) -> serde_json::Value {
    serde_json::json!({
        "cpu_usage": {"total_usage": s.c.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "system_cpu_usage": s.host, "online_cpus": cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

/// docker's stats object from two samples.
fn stats_json(name: &str, id: &str, pre: &Snap, now: &Snap) -> serde_json::Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let limit = if now.c.mem_limit == 0 {
        cgroup::host_memory()
    } else {
        now.c.mem_limit
    };
    serde_json::json!({
        "read": now.at, "preread": pre.at,
        "pids_stats": {"current": now.c.pids},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "Read", "value": now.c.block.0},
            {"major": 0, "minor": 0, "op": "Write", "value": now.c.block.1},
        ]},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_json(now, cpus),
        "precpu_stats": cpu_json(pre, cpus),
        "memory_stats": {"usage": now.c.mem_usage, "limit": limit, "stats": {}},
        "name": format!("/{name}"), "id": id,
        "networks": {"eth0": {
            "rx_bytes": now.c.net.0, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
            "tx_bytes": now.c.net.1, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0,
        }},
    })
}

pub async fn stats(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    // docker: stream unless stream=0/false.
    let stream = q.get("stream").is_none_or(|_| q.flag("stream"));
    let one_shot = q.flag("one-shot");
    let id = id.to_string();
    let ctx2 = ctx.clone();
    let c = blocking(move || Ok(ContainerStore::open(ctx2.root())?.find(&id)?)).await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let Ok(cs) = ContainerStore::open(ctx.root()) else {
            return;
        };
        let running = || cs.state(&c).status == Status::Running;
        let mut pre = snap(&c.id);
        if !stream && !one_shot && running() {
            // Two samples a second apart, so the CPU share means something.
            std::thread::sleep(Duration::from_secs(1));
        }
        loop {
            let now = snap(&c.id);
            let v = stats_json(&c.name, &c.id, &pre, &now);
            if tx.blocking_send(Bytes::from(format!("{v}\n"))).is_err() || !stream {
                return;
            }
            pre = now;
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
                if tx.is_closed() {
                    return;
                }
            }
            if !running() {
                // docker ends the stream of a stopped container with zeros.
                return;
            }
        }
    });
    Ok(resp)
}

pub async fn top(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let ps_args = q.get("ps_args").unwrap_or("").to_string();
    let v = blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        let c = cs.find(&id)?;
        if cs.state(&c).status != Status::Running {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let t = crate::container::top::top(&cgroup::pids(&c.id), &ps_args)?;
        Ok(serde_json::json!({"Titles": t.titles, "Processes": t.rows}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /system/df`: images, containers and volumes with their sizes.
pub async fn df(ctx: Arc<Ctx>) -> Result<Response<Body>, ApiError> {
    let v = blocking(move || {
        let store = ctx.store()?;
        let cs = ContainerStore::open(ctx.root())?;
        let vs = crate::volume::VolumeStore::open(ctx.root())?;
        let ctrs = cs.list();
        let images: Vec<_> = store
            .images()?
            .iter()
            .map(|r| {
                let n = ctrs.iter().filter(|c| c.image_id == r.id.to_string()).count();
                serde_json::json!({
                    "Id": r.id, "ParentId": "",
                    "RepoTags": r.names.iter().map(|n| crate::image::reference::familiar(n)).collect::<Vec<_>>(),
                    "RepoDigests": r.repo_digests,
                    "Created": r.created.as_deref().and_then(crate::image::time::parse_rfc3339).unwrap_or(0),
                    "Size": r.size, "SharedSize": -1, "VirtualSize": r.size, "Labels": {},
                    "Containers": n,
                })
            })
            .collect();
        let containers: Vec<_> = ctrs
            .iter()
            .map(|c| {
                let st = cs.state(c);
                serde_json::json!({
                    "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image,
                    "ImageID": c.image_id, "Command": c.args.join(" "),
                    "Created": crate::image::time::parse_rfc3339(&c.created).unwrap_or(0),
                    "State": st.name(), "Status": crate::container::listing::status_text(c, &st),
                    "SizeRw": crate::container::store::dir_size(&cs.dir_of(&c.id).join("upper")),
                    "Labels": c.labels, "Mounts": [],
                })
            })
            .collect();
        let volumes: Vec<_> = vs
            .list()
            .iter()
            .map(|v| {
                serde_json::json!({
                    "Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint,
                    "CreatedAt": v.created_at, "Labels": v.labels, "Scope": "local",
                    "Options": {},
                    "UsageData": {
                        "Size": crate::container::store::dir_size(&vs.data_dir(&v.name)),
                        "RefCount": vs.users(&v.name).len(),
                    },
                })
            })
            .collect();
        let layers: u64 = store.images()?.iter().map(|r| r.size).sum();
        Ok(serde_json::json!({
            "LayersSize": layers, "Images": images, "Containers": containers,
            "Volumes": volumes, "BuildCache": [],
        }))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
