//! `POST /build`: the body is the context as a tar (docker's CLI sends it
//! so), built by the library's builder with docker's classic builder's
//! JSON stream: `{"stream": ...}` lines, `{"aux": {"ID": ...}}` at the end,
//! or docker's error object.

use super::body::{self, ApiError, Body};
use super::query::Query;
use super::{Ctx, Req};
use crate::build::{BuildError, BuildOptions, ContextSource};
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::sync::Arc;

/// The builder's output as docker's `{"stream": ...}` messages.
struct StreamWriter(tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for StreamWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let v = serde_json::json!({"stream": String::from_utf8_lossy(b)});
        self.0
            .blocking_send(Bytes::from(format!("{v}\r\n")))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `buildargs` and `labels` come as JSON objects.
fn map(q: &Query, k: &str) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let Some(s) = q.get(k) else {
        return Ok(Vec::new());
    };
    let m: std::collections::BTreeMap<String, Option<String>> =
        serde_json::from_str(s).map_err(|e| ApiError::bad(format!("invalid {k}: {e}")))?;
    Ok(m.into_iter().collect())
}

pub async fn build(ctx: Arc<Ctx>, q: Query, req: Req) -> Result<Response<Body>, ApiError> {
    if q.get("remote").is_some() {
        return Err(ApiError::bad(
            "a remote build context is not supported: send the context as a tar",
        ));
    }
    let o = BuildOptions {
        dockerfile: q.get("dockerfile").map(std::path::PathBuf::from),
        tags: q.all("t"),
        build_args: map(&q, "buildargs")?,
        target: q.get("target").map(String::from),
        no_cache: q.flag("nocache"),
        quiet: q.flag("q"),
        network: q
            .get("networkmode")
            .filter(|n| *n != "default")
            .map(String::from),
        labels: map(&q, "labels")?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        pull: q.flag("pull"),
        auth_file: Some(ctx.opts.auth_file.clone()),
    };
    let store = ctx.store()?;
    let tmp = super::images::spool(&store, "api-build", req).await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let send = |v: serde_json::Value| {
            let _ = tx.blocking_send(Bytes::from(format!("{v}\r\n")));
        };
        let f = match std::fs::File::open(&tmp.0) {
            Ok(f) => f,
            Err(e) => {
                let m = format!("reading the build context: {e}");
                return send(serde_json::json!({"errorDetail": {"message": m}, "error": m}));
            }
        };
        let mut w = StreamWriter(tx.clone());
        match crate::build::build(ctx.root(), ContextSource::Tar(Box::new(f)), &o, &mut w) {
            Ok(id) => send(serde_json::json!({"aux": {"ID": id.to_string()}})),
            Err(e) => {
                let code = match &e {
                    BuildError::RunFailed { code, .. } => *code,
                    _ => 1,
                };
                let m = e.to_string();
                send(serde_json::json!({"errorDetail": {"code": code, "message": m}, "error": m}));
            }
        }
        drop(tmp);
    });
    Ok(resp)
}
