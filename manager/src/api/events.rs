//! `GET /events`: the event log the CLI's commands append to, replayed from
//! `since` and followed until `until` or the client leaves.

use super::body::{self, ApiError, Body};
use super::query::Query;
use super::Ctx;
use crate::events::{self, Event};
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::collections::BTreeMap;
use std::sync::Arc;

/// docker's message: the event plus the legacy status/id/from fields.
fn json(e: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    v["scope"] = serde_json::json!("local");
    if e.kind == "container" || e.kind == "image" {
        v["status"] = serde_json::json!(e.action);
        v["id"] = serde_json::json!(e.actor.id);
        if let Some(i) = e.actor.attributes.get("image") {
            v["from"] = serde_json::json!(i);
        }
    }
    v
}

fn time_nanos(s: &str) -> Result<i64, ApiError> {
    crate::container::logs::parse_since(s)
        .map(|t| (t * 1e9) as i64)
        .map_err(ApiError::from)
}

pub async fn events(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let since = q.get("since").map(time_nanos).transpose()?;
    let until = q.get("until").map(time_nanos).transpose()?;
    // Values of one key are alternatives; keys must all hold (docker's rule).
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in q.filters()? {
        if !events::FILTER_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad(format!("invalid filter '{k}'")));
        }
        by_key
            .entry(k.clone())
            .or_default()
            .push(format!("{k}={v}"));
    }
    let wanted = move |e: &Event| {
        by_key
            .values()
            .all(|alts| alts.iter().any(|f| e.matches(f)))
    };
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let send = |e: &Event| {
            tx.blocking_send(Bytes::from(format!("{}\n", json(e))))
                .is_ok()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64;
        if let Some(s) = since {
            for e in events::history(ctx.root()) {
                if e.time_nano >= s
                    && until.is_none_or(|u| e.time_nano <= u)
                    && wanted(&e)
                    && !send(&e)
                {
                    return;
                }
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let alive = || !tx.is_closed();
        events::follow_while(ctx.root(), until, &alive, |e| {
            if until.is_some_and(|u| e.time_nano > u) {
                return false;
            }
            !wanted(e) || send(e)
        });
    });
    Ok(resp)
}
