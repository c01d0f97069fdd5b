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

/// Pull and push progress as docker's JSON lines: `{"status", "id"}`.
fn progress_sink(tx: tokio::sync::mpsc::Sender<Bytes>) -> crate::image::progress::Sink {
    Arc::new(move |id, status| {
        let v = match id {
            Some(id) => serde_json::json!({"status": status, "id": id}),
            None => serde_json::json!({"status": status}),
        };
        let _ = tx.blocking_send(Bytes::from(format!("{v}\r\n")));
    })
}

/// `POST /images/create?fromImage=NAME&tag=TAG`: a pull, with docker's
/// JSON progress lines; an error after the stream began is its last line.
pub async fn create(ctx: Arc<Ctx>, q: Query, req: Req) -> Result<Response<Body>, ApiError> {
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
    let header = x_registry_auth(&req);
    Ok(registry_stream(move |progress, _send| {
        let store = ctx.store().map_err(|e| e.message)?;
        let r = store.parse_reference(&name).map_err(|e| e.to_string())?;
        let auth = auth_for(&ctx, &store, header.as_deref(), &r.registry).map_err(|e| e.message)?;
        crate::image::registry::pull_reported(&store, &r, &auth.file, progress)
            .map_err(|e| e.to_string())?;
        Ok(())
    }))
}

fn x_registry_auth(req: &Req) -> Option<String> {
    req.headers()
        .get("X-Registry-Auth")
        .and_then(|h| h.to_str().ok())
        .map(String::from)
}

/// A pull or push on the blocking pool, answered with docker's JSON
/// progress stream: the job's progress lines (and what it sends itself),
/// then docker's error object if it fails.
fn registry_stream(
    job: impl FnOnce(&Progress, &dyn Fn(serde_json::Value)) -> Result<(), String> + Send + 'static,
) -> Response<Body> {
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let send = |v: serde_json::Value| {
            let _ = tx.blocking_send(Bytes::from(format!("{v}\r\n")));
        };
        let progress = Progress::to_sink(progress_sink(tx.clone()));
        if let Err(m) = job(&progress, &send) {
            send(serde_json::json!({"errorDetail": {"message": m}, "error": m}));
        }
    });
    resp
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

/// A `Write` into a streamed response, from the blocking pool.
pub struct ChanWriter(pub tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(b))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /images/get?names=a&names=b` and `GET /images/{name}/get`: a
/// docker-archive of the images (docker save).
pub async fn get(ctx: Arc<Ctx>, names: Vec<String>) -> Result<Response<Body>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad("no image names given"));
    }
    let ctx2 = ctx.clone();
    let images = blocking(move || {
        let store = ctx2.store()?;
        let mut out = Vec::new();
        for n in &names {
            let img = store.resolve(n)?;
            // The name asked for when it is one of the image's, else all of them.
            let asked = store
                .parse_reference(n)
                .ok()
                .and_then(|r| r.tagged_name())
                .filter(|t| img.record.names.contains(t));
            let names = match asked {
                Some(t) => vec![t],
                None => img.record.names.clone(),
            };
            out.push((img, names));
        }
        Ok(out)
    })
    .await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/x-tar");
    tokio::task::spawn_blocking(move || {
        let Ok(store) = ctx.store() else { return };
        let w = std::io::BufWriter::with_capacity(256 << 10, ChanWriter(tx));
        // A failure mid-way cuts the stream: the client sees a short tar.
        let _ = crate::image::archive::save(
            &store,
            &images,
            crate::image::archive::Format::DockerArchive,
            w,
        );
    });
    Ok(resp)
}

/// Removes the temp file it names when dropped.
pub struct TempFile(pub std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `POST /images/load`: the body is a docker or OCI archive, spooled to the
/// store's temp dir first (the loader reads it more than once).
pub async fn load(ctx: Arc<Ctx>, q: Query, req: Req) -> Result<Response<Body>, ApiError> {
    let quiet = q.flag("quiet");
    let store = ctx.store()?;
    let tmp = spool(&store, "api-load", req).await?;
    let names = blocking(move || {
        let store = ctx.store()?;
        let names = crate::image::archive::load(&store, Some(&tmp.0))
            .map_err(|e| ApiError::bad(e.to_string()))?;
        drop(tmp);
        Ok(names)
    })
    .await?;
    let mut out = String::new();
    if !quiet {
        for n in names {
            out.push_str(&format!(
                "{}\n",
                serde_json::json!({"stream": format!("Loaded image: {}\n", familiar(&n))})
            ));
        }
    }
    let mut r = Response::new(Body::Full(Some(Bytes::from(out))));
    r.headers_mut()
        .insert("Content-Type", "application/json".parse().expect("header"));
    Ok(r)
}

/// A request's body into a temp file of the store (removed when the
/// returned guard drops): archives are read more than once, and may be big.
pub async fn spool(
    store: &crate::image::store::Store,
    prefix: &str,
    req: Req,
) -> Result<TempFile, ApiError> {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let tmp = TempFile(store.tmp_path(prefix));
    if let Some(d) = tmp.0.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", d.display())))?;
    }
    let mut f = tokio::fs::File::create(&tmp.0)
        .await
        .map_err(|e| ApiError::internal(format!("spooling the archive: {e}")))?;
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad(format!("reading the archive: {e}")))?;
        if let Some(d) = frame.data_ref() {
            f.write_all(d)
                .await
                .map_err(|e| ApiError::internal(format!("spooling the archive: {e}")))?;
        }
    }
    f.flush()
        .await
        .map_err(|e| ApiError::internal(format!("spooling the archive: {e}")))?;
    Ok(tmp)
}

/// Credentials from `X-Registry-Auth` (base64url JSON, as docker's clients
/// send), in a private auth file for the length of one pull or push; else
/// the server's own auth file.
pub struct Auth {
    pub file: crate::image::auth::AuthFile,
    _tmp: Option<TempFile>,
}

pub fn auth_for(
    ctx: &Ctx,
    store: &crate::image::store::Store,
    header: Option<&str>,
    registry: &str,
) -> Result<Auth, ApiError> {
    use base64::Engine;
    let own = || Auth {
        file: crate::image::auth::AuthFile::new(&ctx.opts.auth_file),
        _tmp: None,
    };
    let Some(h) = header.filter(|h| !h.is_empty()) else {
        return Ok(own());
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(h.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(h))
        .map_err(|_| ApiError::bad("invalid X-Registry-Auth header: not base64"))?;
    let v: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|_| ApiError::bad("invalid X-Registry-Auth header: not JSON"))?;
    let (Some(user), Some(pass)) = (v["username"].as_str(), v["password"].as_str()) else {
        return Ok(own());
    };
    if user.is_empty() {
        return Ok(own());
    }
    let tmp = TempFile(store.tmp_path("api-auth"));
    if let Some(d) = tmp.0.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", d.display())))?;
    }
    let file = crate::image::auth::AuthFile::new(&tmp.0);
    file.set(registry, user, pass)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Auth {
        file,
        _tmp: Some(tmp),
    })
}

/// `POST /images/{name}/push?tag=T`, with docker's progress stream.
pub async fn push(
    ctx: Arc<Ctx>,
    name: &str,
    q: Query,
    req: Req,
) -> Result<Response<Body>, ApiError> {
    let target = match q.get("tag") {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let header = x_registry_auth(&req);
    Ok(registry_stream(move |progress, send| {
        let store = ctx.store().map_err(|e| e.message)?;
        let img = store.resolve(&target).map_err(|e| e.to_string())?;
        let r = store.parse_reference(&target).map_err(|e| e.to_string())?;
        let auth = auth_for(&ctx, &store, header.as_deref(), &r.registry).map_err(|e| e.message)?;
        let d = crate::image::registry::push(&store, &img, &r, &auth.file, progress, 64 << 20)
            .map_err(|e| e.to_string())?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let size = img.manifest_raw.len();
        progress.line(&format!("{tag}: digest: {d} size: {size}"));
        send(
            serde_json::json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": d.to_string(), "Size": size}}),
        );
        let full = r.to_string();
        crate::events::emit(ctx.root(), "image", "push", &full, &[("name", &full)]);
        Ok(())
    }))
}

/// `POST /commit?container=C&repo=R&tag=T&comment=&author=&pause=&changes=`.
pub async fn commit(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let container = q
        .get("container")
        .ok_or_else(|| ApiError::bad("container is required"))?
        .to_string();
    let reference = match (q.get("repo"), q.get("tag")) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r.to_string()),
        _ => None,
    };
    let o = crate::container::commit::CommitOptions {
        reference,
        message: q.get("comment").map(String::from),
        author: q.get("author").map(String::from),
        changes: q
            .get("changes")
            .map(|c| {
                c.lines()
                    .map(String::from)
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        pause: q.get("pause").is_none_or(|_| q.flag("pause")),
    };
    let id = blocking(move || {
        Ok(crate::container::commit::commit(
            ctx.root(),
            &container,
            &o,
        )?)
    })
    .await?;
    Ok(body::json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": id.to_string() }),
    ))
}

/// `POST /images/prune`: dangling images, or with `dangling=false` every
/// image no container uses.
pub async fn prune(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let mut all = false;
    for (k, v) in q.filters()? {
        match (k.as_str(), v.as_str()) {
            ("dangling", "false" | "0") => all = true,
            ("dangling", _) => {}
            _ => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
        }
    }
    let v = blocking(move || {
        let store = ctx.store()?;
        let gone = store.prune(all)?;
        for d in &gone {
            crate::events::emit(ctx.root(), "image", "delete", &d.to_string(), &[]);
        }
        let deleted: Vec<_> = gone
            .iter()
            .map(|d| serde_json::json!({"Deleted": d.to_string()}))
            .collect();
        Ok(serde_json::json!({"ImagesDeleted": deleted, "SpaceReclaimed": 0}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthBody {
    username: String,
    password: String,
    serveraddress: String,
}

/// `POST /auth`: checks credentials against a registry; docker's CLI keeps
/// them itself, so nothing is stored here.
pub async fn auth(ctx: Arc<Ctx>, req: Req) -> Result<Response<Body>, ApiError> {
    let b = super::containers::read_body(req).await?;
    let b: AuthBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    let registry = b
        .serveraddress
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2")
        .to_string();
    blocking(move || {
        let store = ctx.store()?;
        let auth = crate::image::auth::AuthFile::new(&ctx.opts.auth_file);
        crate::image::registry::check_login(&store, &registry, &b.username, &b.password, &auth)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
    })
    .await?;
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

/// `GET /images/search?term=T&limit=N`: the library's search (a registry's
/// /v1/search, else its catalog filtered by the term).
pub async fn search(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let term = q
        .get("term")
        .ok_or_else(|| ApiError::bad("term is required"))?
        .to_string();
    let limit: usize = q.num("limit")?.unwrap_or(25);
    let v = blocking(move || {
        let store = ctx.store()?;
        let auth = crate::image::auth::AuthFile::new(&ctx.opts.auth_file);
        let found = crate::image::search::search(&store, &auth, &term, limit)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(serde_json::Value::Array(
            found
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name, "description": f.description, "star_count": f.star_count,
                        "is_official": f.is_official, "is_automated": f.is_automated,
                    })
                })
                .collect(),
        ))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
