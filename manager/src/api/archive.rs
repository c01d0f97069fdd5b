//! `/containers/{id}/archive` for `docker cp`: HEAD (the path's stat, in
//! the `X-Docker-Container-Path-Stat` header), GET (a tar of the path) and
//! PUT (a tar unpacked into a directory). Paths resolve inside the
//! container's root, on fds, as the CLI's `cp` does (the library's).

use super::body::{self, ApiError, Body};
use super::query::Query;
use super::{blocking, Ctx, Req};
use crate::container::ContainerStore;
use hyper::{Response, StatusCode};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

/// Go's os.FileMode bits, as docker's clients read the stat's mode.
fn go_mode(m: &std::fs::Metadata) -> u32 {
    let t = m.mode() & libc::S_IFMT;
    let mut g = m.mode() & 0o777;
    g |= match t {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if m.mode() & libc::S_ISUID != 0 {
        g |= 1 << 23;
    }
    if m.mode() & libc::S_ISGID != 0 {
        g |= 1 << 22;
    }
    if m.mode() & libc::S_ISVTX != 0 {
        g |= 1 << 20;
    }
    g
}

/// The header value: base64 of docker's PathStat JSON.
fn stat(ctx: &Ctx, id: &str, path: &str) -> Result<String, ApiError> {
    use base64::Engine;
    let cs = ContainerStore::open(ctx.root())?;
    let c = cs.find(id)?;
    let p = path.to_string();
    let v = crate::container::lifecycle::with_rootfs(ctx.root(), &c, move |rootfs| {
        let e = fsroot::Entry::in_root(rootfs.fd.as_fd(), Path::new(&p), false)?;
        let link = if e.meta.file_type().is_symlink() {
            let name = Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = Path::new(&p).parent().unwrap_or(Path::new("/"));
            let dir = fsroot::Entry::in_root(rootfs.fd.as_fd(), parent, true)?;
            std::fs::read_link(format!("/proc/self/fd/{}/{name}", {
                use std::os::fd::AsRawFd;
                dir.fd.as_raw_fd()
            }))
            .map(|t| t.display().to_string())
            .unwrap_or_default()
        } else {
            String::new()
        };
        let mtime = crate::image::time::format_rfc3339(e.meta.mtime());
        Ok(serde_json::json!({
            "name": Path::new(&p).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into()),
            "size": e.meta.len(), "mode": go_mode(&e.meta), "mtime": mtime, "linkTarget": link,
        }))
    })
    .map_err(|e| match e {
        crate::container::ContainerError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            ApiError::not_found(format!("Could not find the file {path} in container {id}"))
        }
        e => e.into(),
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(v.to_string()))
}

fn path_of(q: &Query) -> Result<String, ApiError> {
    q.get("path")
        .map(String::from)
        .ok_or_else(|| ApiError::bad("path is required"))
}

pub async fn head(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let path = path_of(&q)?;
    let id = id.to_string();
    let s = blocking(move || stat(&ctx, &id, &path)).await?;
    let mut r = body::empty(StatusCode::OK);
    r.headers_mut().insert(
        "X-Docker-Container-Path-Stat",
        s.parse().map_err(|_| ApiError::internal("stat header"))?,
    );
    Ok(r)
}

pub async fn get(ctx: Arc<Ctx>, id: &str, q: Query) -> Result<Response<Body>, ApiError> {
    let path = path_of(&q)?;
    let id = id.to_string();
    let (ctx2, id2, path2) = (ctx.clone(), id.clone(), path.clone());
    // Stat first: a missing path is a 404, not a cut tar.
    let s = blocking(move || stat(&ctx2, &id2, &path2)).await?;
    let (mut resp, tx) = body::stream(StatusCode::OK, "application/x-tar");
    resp.headers_mut().insert(
        "X-Docker-Container-Path-Stat",
        s.parse().map_err(|_| ApiError::internal("stat header"))?,
    );
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(256 << 10, super::images::ChanWriter(tx));
        let _ = crate::container::cp::tar_from_container(ctx.root(), &id, &path, w);
    });
    Ok(resp)
}

/// PUT: the body is spooled to the store's temp dir, then unpacked by the
/// library (which unpacks privately and copies in on the container's fds).
pub async fn put(ctx: Arc<Ctx>, id: &str, q: Query, req: Req) -> Result<Response<Body>, ApiError> {
    let path = path_of(&q)?;
    let store = ctx.store()?;
    let tmp = super::images::spool(&store, "api-cp", req).await?;
    let id = id.to_string();
    blocking(move || {
        let f = std::fs::File::open(&tmp.0)
            .map_err(|e| ApiError::internal(format!("reading the spooled tar: {e}")))?;
        crate::container::cp::tar_to_container(ctx.root(), f, &id, &path)?;
        drop(tmp);
        Ok(())
    })
    .await?;
    Ok(body::empty(StatusCode::OK))
}
