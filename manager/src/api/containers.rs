//! `/containers/...`: each handler reads docker's request, calls the
//! library operation the CLI's verb calls, and answers in docker's shape.

use super::body::{self, ApiError, Body};
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::container::{lifecycle, listing, ContainerError, ContainerStore, Status};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Largest request body we read (a container config is a few KiB).
const MAX_BODY: usize = 4 << 20;

pub async fn read_body(req: Req) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    match limited.collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {MAX_BODY} bytes"),
        )),
        Err(e) => Err(ApiError::bad(format!("reading the request body: {e}"))),
    }
}

/// `80/tcp -> 0.0.0.0:8080` (berth's record) → docker's port object.
fn port_json(p: &str) -> Option<serde_json::Value> {
    let (ctr, host) = p.split_once(" -> ")?;
    let (port, proto) = ctr.split_once('/').unwrap_or((ctr, "tcp"));
    let (ip, hport) = host.rsplit_once(':')?;
    Some(serde_json::json!({
        "IP": ip.trim_matches(|c| c == '[' || c == ']'),
        "PrivatePort": port.parse::<u16>().ok()?,
        "PublicPort": hport.parse::<u16>().ok()?,
        "Type": proto,
    }))
}

pub async fn list(ctx: Arc<Ctx>, q: Query) -> Result<Response<Body>, ApiError> {
    let all = q.flag("all");
    let limit: Option<i64> = q.num("limit")?;
    let limit = limit.filter(|n| *n > 0).map(|n| n as usize);
    let size = q.flag("size");
    let filters = q.filters()?;
    let v = blocking(move || {
        lifecycle::reap_auto_removed(ctx.root());
        let cs = ContainerStore::open(ctx.root())?;
        let mut rows = Vec::new();
        'next: for c in cs.list() {
            let st = cs.state(&c);
            let all = all || limit.is_some() || filters.iter().any(|(k, _)| k == "status");
            if !all && st.status != Status::Running && !st.restarting {
                continue;
            }
            for (k, v) in &filters {
                match listing::matches(&c, &st, k, v) {
                    Some(true) => {}
                    Some(false) => continue 'next,
                    None => return Err(ApiError::bad(format!("invalid filter '{k}'"))),
                }
            }
            rows.push((c, st));
        }
        rows.sort_by(|x, y| y.0.created.cmp(&x.0.created));
        if let Some(n) = limit {
            rows.truncate(n);
        }
        let out: Vec<_> = rows
            .iter()
            .map(|(c, st)| {
                let full = crate::container::inspect::to_json(&cs, c, size);
                let ports: Vec<_> = if st.status == Status::Running {
                    c.ports.iter().filter_map(|p| port_json(p)).collect()
                } else {
                    Vec::new()
                };
                let mut v = serde_json::json!({
                    "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image,
                    "ImageID": c.image_id, "Command": c.args.join(" "),
                    "Created": crate::image::time::parse_rfc3339(&c.created).unwrap_or(0),
                    "Ports": ports, "Labels": c.labels, "State": st.name(),
                    "Status": listing::status_text(c, st),
                    "HostConfig": {"NetworkMode": c.network_mode},
                    "NetworkSettings": {"Networks": full["NetworkSettings"]["Networks"]},
                    "Mounts": full["Mounts"],
                });
                if size {
                    v["SizeRw"] = full["SizeRw"].clone();
                }
                v
            })
            .collect();
        Ok(serde_json::Value::Array(out))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn create(ctx: Arc<Ctx>, q: Query, req: Req) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let name = q.get("name").map(|n| n.trim_start_matches('/').to_string());
    let mut o = super::create::options(&b, name.as_deref())?;
    let v = blocking(move || {
        // Resolved here, with the server's registry settings; the docker
        // CLI pulls on a 404 and asks again.
        let store = ctx.store()?;
        o.image_id = Some(store.resolve(&o.image)?.record.id.to_string());
        let c = lifecycle::create(ctx.root(), &o)?;
        Ok(serde_json::json!({"Id": c.id, "Warnings": []}))
    })
    .await?;
    Ok(body::json(StatusCode::CREATED, &v))
}

pub async fn inspect(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let size = q.flag("size");
    let v = blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        let c = cs.find(&id)?;
        Ok(crate::container::inspect::to_json(&cs, &c, size))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn start(ctx: Arc<Ctx>, id: &str) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let r = blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        let c = cs.find(&id)?;
        if cs.state(&c).status == Status::Running {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        let waiting = ctx
            .pending
            .lock()
            .map(|mut p| p.remove(&c.id).unwrap_or_default())
            .unwrap_or_default();
        let attach = if waiting.is_empty() {
            lifecycle::Attach::No
        } else {
            lifecycle::Attach::Observer
        };
        let s = lifecycle::start_as(ctx.root(), &c, attach)?;
        // The first client waiting takes the connection made before the
        // start; any other gets its own, after it.
        let mut sock = s.attach;
        for w in waiting {
            let conn = match sock.take() {
                Some(s) => s,
                None => match crate::container::attach::connect(&cs.shim_dir(&c.id)) {
                    Ok(s) => s,
                    Err(_) => continue,
                },
            };
            let _ = w.send(conn);
        }
        Ok(StatusCode::NO_CONTENT)
    })
    .await?;
    Ok(body::empty(r))
}

fn timeout(q: &Query) -> Result<Option<u32>, ApiError> {
    let t: Option<i64> = q.num("t")?;
    // docker: a negative timeout waits for ever; ours is bounded by u32.
    Ok(t.map(|t| if t < 0 { u32::MAX } else { t as u32 }))
}

pub async fn stop(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let t = timeout(&q)?;
    let r = blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        let c = cs.find(&id)?;
        if cs.state(&c).status != Status::Running {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        lifecycle::stop(ctx.root(), &id, t)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await?;
    Ok(body::empty(r))
}

pub async fn restart(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let t = timeout(&q)?;
    blocking(move || Ok(lifecycle::restart(ctx.root(), &id, t)?)).await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn kill(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let sig = q.get("signal").unwrap_or("KILL").to_string();
    blocking(move || match lifecycle::kill(ctx.root(), &id, &sig) {
        Ok(_) => Ok(()),
        Err(ContainerError::NotRunning(n)) => Err(ApiError::conflict(format!(
            "Cannot kill container: {n}: Container {n} is not running"
        ))),
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn pause(ctx: Arc<Ctx>, id: &str, on: bool) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    blocking(move || {
        if on {
            lifecycle::pause(ctx.root(), &id)?;
        } else {
            lifecycle::unpause(ctx.root(), &id)?;
        }
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn rename(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let name = q
        .get("name")
        .ok_or_else(|| ApiError::bad("name is required"))?
        .to_string();
    blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        cs.rename(&id, &name)?;
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn resize(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let h: u16 = q.num("h")?.unwrap_or(0);
    let w: u16 = q.num("w")?.unwrap_or(0);
    blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        let c = cs.find(&id)?;
        if cs.state(&c).status != Status::Running {
            return Err(ContainerError::NotRunning(c.name).into());
        }
        crate::container::attach::resize(&cs.shim_dir(&c.id), h, w)?;
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::OK))
}

/// The exit code a removed container had: from its `die` event.
fn last_exit_code(root: &std::path::Path, id: &str) -> Option<i64> {
    crate::events::history(root)
        .iter()
        .rev()
        .find(|e| e.kind == "container" && e.action == "die" && e.actor.id == id)
        .and_then(|e| e.actor.attributes.get("exitCode")?.parse().ok())
}

/// `wait?condition=not-running|next-exit|removed`. The state is read before
/// the answer's headers go out (the docker CLI sends its wait, then the
/// start), so an exit that comes after counts even if it is quick.
pub async fn wait(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let cond = q.get("condition").unwrap_or("not-running").to_string();
    if !matches!(cond.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad(format!("invalid condition: {cond:?}")));
    }
    let id = id.to_string();
    let ctx2 = ctx.clone();
    let (c, before) = blocking(move || {
        let cs = ContainerStore::open(ctx2.root())?;
        let c = cs.find(&id)?;
        let st = cs.state(&c);
        Ok((c, (st.status, st.finished_at)))
    })
    .await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let root = ctx.root();
        let Ok(cs) = ContainerStore::open(root) else {
            return;
        };
        let mut code = None;
        loop {
            if tx.is_closed() {
                return;
            }
            let cur = cs.load(&c.id).ok();
            let Some(cur) = cur else {
                // Gone: removed (an --rm container), which ends every wait.
                code = code.or_else(|| last_exit_code(root, &c.id));
                break;
            };
            let st = cs.state(&cur);
            if st.status == Status::Exited {
                code = st.exit_code.map(i64::from).or(code);
                let new_exit = st.finished_at != before.1 || before.0 != Status::Exited;
                let done = match cond.as_str() {
                    "not-running" => true,
                    "next-exit" => new_exit,
                    _ => false,
                };
                if done && !st.restarting {
                    break;
                }
            }
            // `docker run` waits on this for its exit code: a short poll
            // (a state read is a few stat calls) keeps that wait short.
            std::thread::sleep(Duration::from_millis(5));
        }
        let v = serde_json::json!({"StatusCode": code.unwrap_or(-1), "Error": null});
        let _ = tx.blocking_send(Bytes::from(format!("{v}\n")));
    });
    Ok(resp)
}

pub async fn logs(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.get("tail") {
        None | Some("all") => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| ApiError::bad(format!("invalid tail {t:?}")))?
                .max(0) as usize,
        ),
    };
    let since = match q.get("since") {
        Some(s) if s != "0" => {
            Some(crate::container::logs::parse_since(s).map_err(ApiError::from)?)
        }
        _ => None,
    };
    let o = crate::container::logs::LogOptions {
        follow: q.flag("follow"),
        tail,
        since,
        timestamps: q.flag("timestamps"),
    };
    let id = id.to_string();
    let ctx2 = ctx.clone();
    let id2 = id.clone();
    let tty = blocking(move || {
        let cs = ContainerStore::open(ctx2.root())?;
        Ok(cs.find(&id2)?.tty)
    })
    .await?;
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let (resp, tx) = body::stream(StatusCode::OK, ctype);
    tokio::task::spawn_blocking(move || {
        let gone = || tx.is_closed();
        let _ = crate::container::logs::stream(ctx.root(), &id, &o, &gone, &mut |l, text| {
            if (l.stderr && !stderr) || (!l.stderr && !stdout) {
                return true;
            }
            let chunk = if tty {
                Bytes::copy_from_slice(text)
            } else {
                Bytes::from(super::attach::mux(if l.stderr { 2 } else { 1 }, text))
            };
            tx.blocking_send(chunk).is_ok()
        });
    });
    Ok(resp)
}

pub async fn remove(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let (force, volumes) = (q.flag("force"), q.flag("v"));
    blocking(move || match lifecycle::remove(ctx.root(), &id, force, volumes) {
        Ok(_) => Ok(()),
        Err(ContainerError::Running(n)) => Err(ApiError::conflict(format!(
            "You cannot remove a running container {n}. Stop the container before attempting removal or force remove"
        ))),
        Err(e) => Err(e.into()),
    })
    .await?;
    Ok(body::empty(StatusCode::NO_CONTENT))
}

pub async fn prune(ctx: Arc<Ctx>) -> Result<Response<Body>, ApiError> {
    let v = blocking(move || {
        let gone = lifecycle::prune(ctx.root())?;
        Ok(serde_json::json!({"ContainersDeleted": gone, "SpaceReclaimed": 0}))
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar.
pub async fn export(ctx: Arc<Ctx>, id: &str) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let ctx2 = ctx.clone();
    let id2 = id.clone();
    // Found before the answer starts, so a bad name is a 404, not a cut tar.
    blocking(move || Ok(ContainerStore::open(ctx2.root())?.find(&id2).map(|_| ())?)).await?;
    let (resp, tx) = body::stream(StatusCode::OK, "application/x-tar");
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(256 << 10, super::images::ChanWriter(tx));
        let _ = crate::container::commit::export(ctx.root(), &id, w);
    });
    Ok(resp)
}

/// `GET /containers/{id}/changes`: docker's kinds, 0 changed, 1 added, 2 deleted.
pub async fn changes(ctx: Arc<Ctx>, id: &str) -> Result<Response<Body>, ApiError> {
    let id = id.to_string();
    let v = blocking(move || {
        let lines = crate::container::commit::diff(ctx.root(), &id)?;
        let out: Vec<_> = lines
            .iter()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, p)| {
                let kind = match k {
                    "C" => 0,
                    "A" => 1,
                    _ => 2,
                };
                serde_json::json!({"Path": p, "Kind": kind})
            })
            .collect();
        Ok(if out.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::Array(out)
        })
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    memory: i64,
    memory_swap: i64,
    memory_reservation: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    cpuset_cpus: String,
    pids_limit: Option<i64>,
    restart_policy: Option<RestartBody>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RestartBody {
    name: String,
    maximum_retry_count: u32,
}

/// `POST /containers/{id}/update`: limits and the restart policy, through
/// the library's `update`, as the CLI's flags.
pub async fn update(ctx: Arc<Ctx>, id: &str, req: Req) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let b: UpdateBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    let o = crate::container::opts::CreateOptions {
        memory: (b.memory > 0).then(|| b.memory.to_string()),
        memory_swap: (b.memory_swap != 0).then(|| b.memory_swap.to_string()),
        memory_reservation: (b.memory_reservation > 0).then(|| b.memory_reservation.to_string()),
        cpus: (b.nano_cpus > 0).then(|| format!("{}", b.nano_cpus as f64 / 1e9)),
        cpu_shares: (b.cpu_shares > 0).then_some(b.cpu_shares as u64),
        cpuset_cpus: (!b.cpuset_cpus.is_empty()).then_some(b.cpuset_cpus),
        pids_limit: b.pids_limit.filter(|p| *p != 0),
        // An empty policy leaves the container's as it is ("no" sets none).
        restart: b.restart_policy.and_then(|r| match r.name.as_str() {
            "" => None,
            "no" => Some("no".into()),
            n => super::create::restart_flag(n, r.maximum_retry_count),
        }),
        ..Default::default()
    };
    let id = id.to_string();
    blocking(move || Ok(lifecycle::update(ctx.root(), &id, &o).map(|_| ())?)).await?;
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"Warnings": []}),
    ))
}

/// What a daemon does at its start, which a daemonless berth does when its
/// server starts: containers whose policy is `always` run again, and
/// `unless-stopped` ones too unless a user stopped them (the one place the
/// two differ, as in docker).
pub fn apply_restart_policies(root: &std::path::Path) {
    use crate::container::record::RestartPolicy;
    let Ok(cs) = ContainerStore::open(root) else {
        return;
    };
    for c in cs.list() {
        let wanted = match c.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !c.manually_stopped,
            _ => false,
        };
        if !wanted || c.started_at.is_none() || cs.state(&c).status == Status::Running {
            continue;
        }
        if let Err(e) = lifecycle::start(root, &c, false) {
            log::warn!(
                "restarting container {} (--restart {}): {e}",
                c.name,
                c.restart_policy
            );
        }
    }
}
