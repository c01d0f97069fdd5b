//! `/images/...`: list, pull (`create`), inspect, history, tag, remove.

use super::body::{self, ApiError, Body};
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::image::progress::Progress;
use crate::image::reference::familiar;
use crate::image::time;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::sync::Arc;

pub async fn list(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let filters = q.filters()?;
    let v = blocking(move || {
        let store = ctx.store()?;
        let mut recs = store.images()?;
        recs.sort_by_key(|r| std::cmp::Reverse(r.added));
        let mut out = Vec::new();
        'next: for r in recs {
            let img = store.load_image(r.clone())?;
            let labels = img
                .config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            for (k, v) in &filters {
                let keep = match k.as_str() {
                    "dangling" => r.names.is_empty() == (v == "true" || v == "1"),
                    "label" => match v.split_once('=') {
                        Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                        None => labels.contains_key(v),
                    },
                    "reference" => r.names.iter().any(|n| {
                        let n = familiar(n);
                        n == v || n.split(':').next() == Some(v.as_str())
                    }),
                    _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
                };
                if !keep {
                    continue 'next;
                }
            }
            let tags: Vec<&str> = r.names.iter().map(|n| familiar(n)).collect();
            out.push(serde_json::json!({
                "Id": r.id, "ParentId": "",
                "RepoTags": if tags.is_empty() { vec!["<none>:<none>"] } else { tags },
                "RepoDigests": r.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
                "Created": r.created.as_deref().and_then(time::parse_rfc3339).unwrap_or(0),
                "Size": r.size, "VirtualSize": r.size, "SharedSize": -1,
                "Labels": labels, "Containers": -1,
            }));
        }
        Ok(serde_json::Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `POST /images/create?fromImage=NAME&tag=TAG`: a pull, with docker's
/// JSON progress lines; an error after the stream began is its last line.
pub async fn create(ctx: Arc<Ctx>, q: Query, _req: Req) -> Result<Response<Body>, ApiError> {
    if q.get("fromSrc").is_some() {
        return Err(ApiError::bad(
            "import through the API is not supported: use berth import",
        ));
    }
    let from = q
        .get("fromImage")
        .ok_or_else(|| ApiError::bad("fromImage is required"))?;
    let name = match q.get("tag") {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_string(),
    };
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let send = |v: serde_json::Value| {
            let _ = tx.blocking_send(Bytes::from(format!("{v}\r\n")));
        };
        let tx2 = tx.clone();
        let sink: crate::image::progress::Sink = Arc::new(move |id, status| {
            let v = match id {
                Some(id) => serde_json::json!({"status": status, "id": id}),
                None => serde_json::json!({"status": status}),
            };
            let _ = tx2.blocking_send(Bytes::from(format!("{v}\r\n")));
        });
        let r = (|| -> Result<(), String> {
            let store = ctx.store().map_err(|e| e.message)?;
            let r = store.parse_reference(&name).map_err(|e| e.to_string())?;
            let full = r.to_string();
            let progress = Progress::to_sink(sink);
            let before = store.resolve(&full).ok().map(|i| i.record.id);
            let auth = crate::image::auth::AuthFile::new(&ctx.opts.auth_file);
            let (img, digest) = crate::image::registry::pull(&store, &r, &auth, &progress)
                .map_err(|e| e.to_string())?;
            crate::events::emit(ctx.root(), "image", "pull", &full, &[("name", &full)]);
            progress.line(&format!("Digest: {digest}"));
            let shown = familiar(&full);
            progress.line(&if before.as_ref() == Some(&img.record.id) {
                format!("Status: Image is up to date for {shown}")
            } else {
                format!("Status: Downloaded newer image for {shown}")
            });
            Ok(())
        })();
        if let Err(m) = r {
            send(serde_json::json!({"errorDetail": {"message": m}, "error": m}));
        }
    });
    Ok(resp)
}

pub async fn inspect(ctx: Arc<Ctx>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let v = blocking(move || {
        let store = ctx.store()?;
        let img = store.resolve(&name)?;
        let mut v = crate::image::inspect::to_json(&store, &img);
        // docker's clients read GraphDriver.Data as strings only.
        let dirs: Vec<String> = store
            .layer_dirs(&img)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        v["GraphDriver"] = serde_json::json!({
            "Name": "overlay2", "Data": {"LowerDir": dirs.join(":")}
        });
        v["RepoTags"] = serde_json::json!(img
            .record
            .names
            .iter()
            .map(|n| familiar(n))
            .collect::<Vec<_>>());
        Ok(v)
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn history(ctx: Arc<Ctx>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let v = blocking(move || {
        let store = ctx.store()?;
        let img = store.resolve(&name)?;
        // Non-empty history entries map, in order, onto the layers.
        let mut sizes = img
            .record
            .chain_ids
            .iter()
            .map(|c| store.layer_meta(c).map(|m| m.size).unwrap_or(0));
        let mut rows: Vec<serde_json::Value> = img
            .config
            .history
            .iter()
            .map(|h| {
                let size = if h.empty_layer {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                };
                serde_json::json!({
                    "Id": "<missing>",
                    "Created": h.created.as_deref().and_then(time::parse_rfc3339).unwrap_or(0),
                    "CreatedBy": h.created_by.clone().unwrap_or_default(),
                    "Tags": null, "Size": size,
                    "Comment": h.comment.clone().unwrap_or_default(),
                })
            })
            .collect();
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top["Id"] = serde_json::json!(img.record.id.to_string());
            top["Tags"] = serde_json::json!(img
                .record
                .names
                .iter()
                .map(|n| familiar(n))
                .collect::<Vec<_>>());
        }
        Ok(serde_json::Value::Array(rows))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn tag(ctx: Arc<Ctx>, name: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let repo = q
        .get("repo")
        .ok_or_else(|| ApiError::bad("repo is required"))?
        .to_string();
    let target = match q.get("tag") {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    let name = name.to_string();
    blocking(move || {
        let store = ctx.store()?;
        let full = store.tag(&name, &target)?;
        crate::events::emit(ctx.root(), "image", "tag", &full, &[("name", &full)]);
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::CREATED))
}

pub async fn remove(ctx: Arc<Ctx>, name: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let force = q.flag("force");
    let v = blocking(move || {
        let store = ctx.store()?;
        let mut out = Vec::new();
        for l in store.remove(&name, force)? {
            if let Some(n) = l.strip_prefix("Untagged: ") {
                crate::events::emit(ctx.root(), "image", "untag", n, &[("name", n)]);
                out.push(serde_json::json!({"Untagged": familiar(n)}));
            } else if let Some(d) = l.strip_prefix("Deleted: ") {
                crate::events::emit(ctx.root(), "image", "delete", d, &[]);
                out.push(serde_json::json!({"Deleted": d}));
            }
        }
        Ok(serde_json::Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
