//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET
//! /exec/{id}/json`, `POST /exec/{id}/resize`. An exec is created (kept in
//! the server's memory, as dockerd keeps it), then started under a shim of
//! its own whose socket the hijacked connection is joined to.

use super::attach::{detach_keys, pump, Wanted};
use super::body::{self, ApiError, Body};
use super::containers::read_body;
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::container::exec::ExecOptions;
use crate::container::ContainerStore;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    detach_keys: String,
    tty: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    user: String,
    working_dir: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
}

pub struct Entry {
    container: String,
    body: CreateBody,
    running: bool,
    exit_code: Option<i32>,
    /// The session's dir while it runs (for resize).
    dir: Option<PathBuf>,
}

pub async fn create(ctx: Arc<Ctx>, id: &str, req: Req) -> Result<Response<Body>, ApiError> {
    let b = read_body(req).await?;
    let body: CreateBody = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?;
    if body.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad("No exec command specified"));
    }
    if !body.detach_keys.is_empty() {
        detach_keys(&body.detach_keys)?;
    }
    let id = id.to_string();
    let ctx2 = ctx.clone();
    let container = blocking(move || {
        let cs = ContainerStore::open(ctx2.root())?;
        let c = cs.find(&id)?;
        if cs.state(&c).status != crate::container::Status::Running {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok(c.id)
    })
    .await?;
    let eid = crate::container::random_id();
    ctx.execs
        .lock()
        .map_err(|_| ApiError::internal("poisoned lock"))?
        .insert(
            eid.clone(),
            Entry {
                container,
                body,
                running: false,
                exit_code: None,
                dir: None,
            },
        );
    Ok(body::json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": eid }),
    ))
}

fn no_such(id: &str) -> ApiError {
    ApiError::not_found(format!("No such exec instance: {id}"))
}

pub async fn start(ctx: Arc<Ctx>, eid: &str, req: Req) -> Result<Response<Body>, ApiError> {
    let upgrade = req.headers().contains_key(hyper::header::UPGRADE);
    let (parts, incoming) = req.into_parts();
    let b = read_body(hyper::Request::from_parts(parts.clone(), incoming)).await?;
    let sb: StartBody = if b.is_empty() {
        StartBody::default()
    } else {
        serde_json::from_slice(&b)
            .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))?
    };
    let (o, container, w) = {
        let mut t = ctx
            .execs
            .lock()
            .map_err(|_| ApiError::internal("poisoned lock"))?;
        let e = t.get_mut(eid).ok_or_else(|| no_such(eid))?;
        if e.running || e.exit_code.is_some() {
            return Err(ApiError::conflict(format!(
                "Exec {eid} has already been started"
            )));
        }
        e.running = true;
        let b = &e.body;
        let o = ExecOptions {
            cmd: b.cmd.clone().unwrap_or_default(),
            detach: sb.detach,
            tty: b.tty,
            interactive: b.attach_stdin,
            env: b.env.clone().unwrap_or_default(),
            workdir: (!b.working_dir.is_empty()).then(|| b.working_dir.clone()),
            user: (!b.user.is_empty()).then(|| b.user.clone()),
            privileged: b.privileged,
        };
        let keys = if b.detach_keys.is_empty() {
            "ctrl-p,ctrl-q"
        } else {
            &b.detach_keys
        };
        let w = Wanted {
            stdin: b.attach_stdin,
            stdout: b.attach_stdout,
            stderr: b.attach_stderr,
            tty: b.tty,
            keys: detach_keys(keys)?,
            // An exec's stdin ends with its client's, as dockerd's.
            stdin_once: true,
        };
        (o, e.container.clone(), w)
    };
    let detach = o.detach;
    let ctx2 = ctx.clone();
    let eid2 = eid.to_string();
    let session = blocking(move || {
        let r = crate::container::exec::exec_session(ctx2.root(), &container, &o);
        if let Ok(mut t) = ctx2.execs.lock() {
            if let Some(e) = t.get_mut(&eid2) {
                e.running = r.is_ok() && !detach;
                e.dir = r.as_ref().ok().map(|s| s.dir.clone());
                if r.is_err() {
                    e.exit_code = Some(126);
                }
            }
        }
        Ok(r?)
    })
    .await?;
    if detach {
        session.keep();
        return Ok(body::empty(StatusCode::OK));
    }
    let sock = {
        let dir = session.dir.clone();
        blocking(move || {
            crate::container::attach::connect(&dir)
                .map_err(|e| ApiError::internal(format!("attaching to the exec: {e}")))
        })
        .await?
    };
    let eid = eid.to_string();
    let tty = w.tty;
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(hyper::Request::from_parts(parts, ())));
    tokio::spawn(async move {
        let mut record = |code: Option<i32>| {
            if let Ok(mut t) = ctx.execs.lock() {
                if let Some(e) = t.get_mut(&eid) {
                    e.running = false;
                    e.exit_code = Some(code.unwrap_or(-1));
                    e.dir = None;
                }
            }
        };
        if let Some(up) = on_upgrade {
            if let Ok(up) = up.await {
                let io = hyper_util::rt::TokioIo::new(up);
                let _ = pump(io, sock, &w, Vec::new(), false, &mut record).await;
            }
        }
        let dir = session.dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            crate::container::store::wait_shim_gone(&dir);
            drop(session);
        })
        .await;
    });
    if !upgrade {
        return Err(ApiError::bad(
            "exec start needs a connection upgrade (Upgrade: tcp), as docker's clients send",
        ));
    }
    Ok(super::attach::hijacked(tty))
}

pub async fn inspect(ctx: Arc<Ctx>, eid: &str) -> Result<Response<Body>, ApiError> {
    let t = ctx
        .execs
        .lock()
        .map_err(|_| ApiError::internal("poisoned lock"))?;
    let e = t.get(eid).ok_or_else(|| no_such(eid))?;
    let cmd = e.body.cmd.clone().unwrap_or_default();
    let v = serde_json::json!({
        "ID": eid, "Running": e.running, "ExitCode": e.exit_code,
        "ProcessConfig": {
            "tty": e.body.tty, "entrypoint": cmd.first(), "arguments": cmd.get(1..).unwrap_or_default(),
            "privileged": e.body.privileged, "user": e.body.user,
        },
        "OpenStdin": e.body.attach_stdin, "OpenStderr": e.body.attach_stderr,
        "OpenStdout": e.body.attach_stdout, "CanRemove": false,
        "ContainerID": e.container, "DetachKeys": e.body.detach_keys, "Pid": 0,
    });
    Ok(body::json(StatusCode::OK, &v))
}

pub async fn resize(ctx: Arc<Ctx>, eid: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let h: u16 = q.num("h")?.unwrap_or(0);
    let w: u16 = q.num("w")?.unwrap_or(0);
    let dir = {
        let t = ctx
            .execs
            .lock()
            .map_err(|_| ApiError::internal("poisoned lock"))?;
        t.get(eid).ok_or_else(|| no_such(eid))?.dir.clone()
    };
    if let Some(d) = dir {
        blocking(move || Ok(crate::container::attach::resize(&d, h, w)?)).await?;
    }
    Ok(body::empty(StatusCode::OK))
}
