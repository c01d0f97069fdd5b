//! docker's Engine API (v1.41, what docker 20.10's CLI speaks) on a unix
//! socket and, when asked, on TCP: `berth serve`. Every operation is the
//! library's own, on the same store as the CLI, so whichever door a user
//! comes in through sees one truth.
//!
//! The HTTP side is hyper on a single-threaded tokio runtime, made only when
//! serving: the CLI's commands never pay for it. The library is blocking, so
//! each request's work runs on tokio's blocking pool; streams (logs, pull
//! progress, wait, attach) are fed from there through channels.

mod archive;
mod attach;
mod body;
mod build;
mod containers;
mod create;
mod events;
mod exec;
mod images;
mod networks;
mod query;
mod stats;
mod system;
mod volumes;

use body::{ApiError, Body};
use hyper::{Method, Request, Response};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The newest and oldest API versions we answer (docker 20.10's range).
pub const API_VERSION: &str = "1.41";
pub const MIN_API_VERSION: &str = "1.24";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid -H {0:?}: expected unix:///PATH or tcp://HOST:PORT")]
    BadHost(String),
    #[error("another server is listening on {0}")]
    InUse(String),
    #[error("no such group {0:?}")]
    NoGroup(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn ioe(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.to_string();
    move |source| ServeError::Io { what, source }
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
}

impl std::str::FromStr for Host {
    type Err = ServeError;
    fn from_str(s: &str) -> Result<Host, ServeError> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.starts_with('/') {
                return Ok(Host::Unix(PathBuf::from(p)));
            }
        } else if let Some(a) = s.strip_prefix("tcp://") {
            if a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                return Ok(Host::Tcp(a.to_string()));
            }
        }
        Err(ServeError::BadHost(s.to_string()))
    }
}

/// TLS on the TCP hosts, as dockerd's --tls/--tlsverify: our certificate
/// and key, and with `verify` only clients whose certificate `ca` signed.
pub struct TlsOptions {
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct ServeOptions {
    pub root: PathBuf,
    pub hosts: Vec<Host>,
    pub tls: Option<TlsOptions>,
    /// The group that may use the unix sockets (as docker's `docker` group).
    pub group: Option<String>,
    pub default_registry: Option<String>,
    pub insecure_registries: Vec<String>,
    pub auth_file: PathBuf,
}

/// What every handler shares.
pub struct Ctx {
    pub opts: ServeOptions,
    /// Attach requests that came before their container started: `start`
    /// hands each the connection to the shim it makes.
    pending: Mutex<HashMap<String, Vec<Waiter>>>,
    /// Exec instances by id: created, running or done.
    execs: Mutex<HashMap<String, exec::Entry>>,
}

type Waiter = tokio::sync::oneshot::Sender<std::os::unix::net::UnixStream>;

impl Ctx {
    fn store(&self) -> Result<crate::image::store::Store, ApiError> {
        let mut s = crate::image::store::Store::open(&self.opts.root)?;
        if let Some(r) = &self.opts.default_registry {
            s.settings.default_registry = r.clone();
        }
        s.settings
            .insecure_registries
            .extend(self.opts.insecure_registries.iter().cloned());
        Ok(s)
    }

    fn root(&self) -> &std::path::Path {
        &self.opts.root
    }
}

/// Listens on every host until SIGTERM or SIGINT; running containers keep
/// running under their shims.
pub fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ioe("starting the runtime"))?;
    rt.block_on(serve_async(opts))
}

async fn serve_async(opts: ServeOptions) -> Result<(), ServeError> {
    let gid = match &opts.group {
        Some(g) => Some(
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| ServeError::NoGroup(g.clone()))?
                .gid,
        ),
        None => None,
    };
    let tls = opts.tls.as_ref().map(tls_config).transpose()?;
    let mut unix = Vec::new();
    let mut tcp = Vec::new();
    for h in &opts.hosts {
        match h {
            Host::Unix(p) => unix.push((p.clone(), bind_unix(p, gid)?)),
            Host::Tcp(a) => {
                if tls.is_none() {
                    eprintln!(
                        "WARNING: API listening on tcp://{a} without TLS: anyone who can reach it is root on this host"
                    );
                } else if !opts.tls.as_ref().is_some_and(|t| t.verify) {
                    eprintln!(
                        "WARNING: API listening on tcp://{a} with TLS but without --tlsverify: any client that reaches it is root on this host"
                    );
                }
                let l = tokio::net::TcpListener::bind(a)
                    .await
                    .map_err(ioe(format!("listening on {a}")))?;
                tcp.push(l);
            }
        }
    }
    let ctx = Arc::new(Ctx {
        opts,
        pending: Mutex::new(HashMap::new()),
        execs: Mutex::new(HashMap::new()),
    });
    {
        let root = ctx.opts.root.clone();
        tokio::task::spawn_blocking(move || containers::apply_restart_policies(&root));
    }
    for (_, l) in &unix {
        let l = l.try_clone().map_err(ioe("cloning the listener"))?;
        l.set_nonblocking(true).map_err(ioe("listener"))?;
        let l = tokio::net::UnixListener::from_std(l).map_err(ioe("listener"))?;
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                if let Ok((s, _)) = l.accept().await {
                    tokio::spawn(connection(ctx.clone(), s));
                }
            }
        });
    }
    for l in tcp {
        let ctx = ctx.clone();
        let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                let _ = s.set_nodelay(true);
                let ctx = ctx.clone();
                match &acceptor {
                    None => {
                        tokio::spawn(connection(ctx, s));
                    }
                    Some(a) => {
                        let a = a.clone();
                        tokio::spawn(async move {
                            // A handshake that stalls or fails costs one task, bounded.
                            let hs = tokio::time::timeout(
                                std::time::Duration::from_secs(10),
                                a.accept(s),
                            );
                            if let Ok(Ok(s)) = hs.await {
                                connection(ctx, s).await;
                            }
                        });
                    }
                }
            }
        });
    }
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(ioe("signals"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(ioe("signals"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    for (p, _) in &unix {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

fn tls_config(t: &TlsOptions) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, p: &std::path::Path, e: &dyn std::fmt::Display| {
        ServeError::Tls(format!("{what} {}: {e}", p.display()))
    };
    let certs = CertificateDer::pem_file_iter(&t.cert)
        .map_err(|e| bad("reading --tlscert", &t.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("reading --tlscert", &t.cert, &e))?;
    let key =
        PrivateKeyDer::from_pem_file(&t.key).map_err(|e| bad("reading --tlskey", &t.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let b = if t.verify {
        let ca =
            t.ca.as_ref()
                .ok_or_else(|| ServeError::Tls("--tlsverify needs --tlscacert".into()))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in
            CertificateDer::pem_file_iter(ca).map_err(|e| bad("reading --tlscacert", ca, &e))?
        {
            roots
                .add(c.map_err(|e| bad("reading --tlscacert", ca, &e))?)
                .map_err(|e| bad("--tlscacert", ca, &e))?;
        }
        let v =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ServeError::Tls(e.to_string()))?;
        b.with_client_cert_verifier(v)
    } else {
        b.with_no_client_auth()
    };
    let cfg = b
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(format!("--tlscert and --tlskey: {e}")))?;
    Ok(Arc::new(cfg))
}

/// Binds a unix socket at `p`, 0660 and owned by root and `gid`. A socket
/// file that nobody answers on is a dead server's: it is replaced; one that
/// answers is another live server's, and we refuse.
fn bind_unix(
    p: &std::path::Path,
    gid: Option<nix::unistd::Gid>,
) -> Result<std::os::unix::net::UnixListener, ServeError> {
    use std::os::unix::fs::PermissionsExt;
    if std::os::unix::net::UnixStream::connect(p).is_ok() {
        return Err(ServeError::InUse(p.display().to_string()));
    }
    if let Ok(m) = std::fs::symlink_metadata(p) {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_socket() {
            return Err(ServeError::Io {
                what: format!("{} exists and is not a socket", p.display()),
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        std::fs::remove_file(p).map_err(ioe(format!("removing {}", p.display())))?;
    }
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(ioe(format!("creating {}", d.display())))?;
    }
    // Made 0600 by the umask and opened up only once owned as it should be.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let l = std::os::unix::net::UnixListener::bind(p);
    nix::sys::stat::umask(old);
    let l = l.map_err(ioe(format!("listening on {}", p.display())))?;
    if let Some(g) = gid {
        nix::unistd::chown(p, Some(nix::unistd::Uid::from_raw(0)), Some(g))
            .map_err(|e| ioe(format!("chown {}", p.display()))(e.into()))?;
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660))
        .map_err(ioe(format!("chmod {}", p.display())))?;
    Ok(l)
}

async fn connection<S>(ctx: Arc<Ctx>, s: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(s);
    let svc = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(ctx, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .with_upgrades()
        .await;
}

pub type Req = Request<hyper::body::Incoming>;

async fn handle(ctx: Arc<Ctx>, req: Req) -> Response<Body> {
    let mut r = match route(ctx, req).await {
        Ok(r) => r,
        Err(e) => e.response(),
    };
    let h = r.headers_mut();
    h.insert("Api-Version", API_VERSION.parse().expect("header"));
    h.insert("Ostype", "linux".parse().expect("header"));
    h.insert("Docker-Experimental", "false".parse().expect("header"));
    h.insert(
        "Server",
        concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")
            .parse()
            .expect("header"),
    );
    r
}

/// Splits `/v1.41/containers/x/json` into the path's parts, checking the
/// version against what we speak, as docker does.
fn parts(path: &str) -> Result<Vec<String>, ApiError> {
    let mut segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    if let Some(v) = segs.first().and_then(|s| s.strip_prefix('v')) {
        if let Some((maj, min)) = v.split_once('.') {
            if let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>()) {
                let (max_maj, max_min) = (1, 41);
                if (maj, min) > (max_maj, max_min) {
                    return Err(ApiError::bad(format!(
                        "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                    )));
                }
                if (maj, min) < (1, 24) {
                    return Err(ApiError::bad(format!(
                        "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                    )));
                }
                segs.remove(0);
            }
        }
    }
    Ok(segs)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn route(ctx: Arc<Ctx>, req: Req) -> Result<Response<Body>, ApiError> {
    let segs = parts(req.uri().path())?;
    let q = query::Query::parse(req.uri().query());
    let m = req.method().clone();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    use Method as M;
    match (&m, s.as_slice()) {
        (&M::GET | &M::HEAD, ["_ping"]) => Ok(system::ping()),
        (&M::GET, ["version"]) => Ok(system::version()),
        (&M::GET, ["info"]) => system::info(ctx).await,
        (&M::GET, ["events"]) => events::events(ctx, q).await,
        (&M::GET, ["containers", "json"]) => containers::list(ctx, q).await,
        (&M::POST, ["containers", "create"]) => containers::create(ctx, q, req).await,
        (&M::GET, ["containers", id, "json"]) => containers::inspect(ctx, id, q).await,
        (&M::POST, ["containers", id, "start"]) => containers::start(ctx, id).await,
        (&M::POST, ["containers", id, "stop"]) => containers::stop(ctx, id, q).await,
        (&M::POST, ["containers", id, "restart"]) => containers::restart(ctx, id, q).await,
        (&M::POST, ["containers", id, "kill"]) => containers::kill(ctx, id, q).await,
        (&M::POST, ["containers", id, "pause"]) => containers::pause(ctx, id, true).await,
        (&M::POST, ["containers", id, "unpause"]) => containers::pause(ctx, id, false).await,
        (&M::POST, ["containers", id, "rename"]) => containers::rename(ctx, id, q).await,
        (&M::POST, ["containers", id, "wait"]) => containers::wait(ctx, id, q).await,
        (&M::POST, ["containers", id, "resize"]) => containers::resize(ctx, id, q).await,
        (&M::GET, ["containers", id, "logs"]) => containers::logs(ctx, id, q).await,
        (&M::POST, ["containers", id, "attach"]) => {
            attach::attach(ctx, id.to_string(), q, req).await
        }
        (&M::GET, ["containers", id, "export"]) => containers::export(ctx, id).await,
        (&M::GET, ["containers", id, "stats"]) => stats::stats(ctx, id, q).await,
        (&M::GET, ["containers", id, "top"]) => stats::top(ctx, id, q).await,
        (&M::HEAD, ["containers", id, "archive"]) => archive::head(ctx, id, q).await,
        (&M::GET, ["containers", id, "archive"]) => archive::get(ctx, id, q).await,
        (&M::PUT, ["containers", id, "archive"]) => archive::put(ctx, id, q, req).await,
        (&M::GET, ["system", "df"]) => stats::df(ctx).await,
        (&M::POST, ["build"]) => build::build(ctx, q, req).await,
        (&M::GET, ["images", "search"]) => images::search(ctx, q).await,
        (&M::GET, ["containers", id, "changes"]) => containers::changes(ctx, id).await,
        (&M::POST, ["containers", id, "update"]) => containers::update(ctx, id, req).await,
        (&M::POST, ["containers", id, "exec"]) => exec::create(ctx, id, req).await,
        (&M::POST, ["exec", id, "start"]) => exec::start(ctx, id, req).await,
        (&M::GET, ["exec", id, "json"]) => exec::inspect(ctx, id).await,
        (&M::POST, ["exec", id, "resize"]) => exec::resize(ctx, id, q).await,
        (&M::DELETE, ["containers", id]) => containers::remove(ctx, id, q).await,
        (&M::POST, ["containers", "prune"]) => containers::prune(ctx).await,
        (&M::GET, ["images", "json"]) => images::list(ctx, q).await,
        (&M::POST, ["images", "create"]) => images::create(ctx, q, req).await,
        (&M::GET, ["images", "get"]) => images::get(ctx, q.all("names")).await,
        (&M::POST, ["images", "load"]) => images::load(ctx, q, req).await,
        (&M::POST, ["commit"]) => images::commit(ctx, q).await,
        (&M::POST, ["images", "prune"]) => images::prune(ctx, q).await,
        (&M::POST, ["auth"]) => images::auth(ctx, req).await,
        (&M::GET, ["images", rest @ .., "get"]) if !rest.is_empty() => {
            images::get(ctx, vec![rest.join("/")]).await
        }
        (&M::POST, ["images", rest @ .., "push"]) if !rest.is_empty() => {
            images::push(ctx, &rest.join("/"), q, req).await
        }
        (&M::GET, ["images", rest @ .., "json"]) if !rest.is_empty() => {
            images::inspect(ctx, &rest.join("/")).await
        }
        (&M::GET, ["images", rest @ .., "history"]) if !rest.is_empty() => {
            images::history(ctx, &rest.join("/")).await
        }
        (&M::POST, ["images", rest @ .., "tag"]) if !rest.is_empty() => {
            images::tag(ctx, &rest.join("/"), q).await
        }
        (&M::DELETE, ["images", rest @ ..]) if !rest.is_empty() => {
            images::remove(ctx, &rest.join("/"), q).await
        }
        (&M::GET, ["networks"]) => networks::list(ctx, q).await,
        (&M::POST, ["networks", "create"]) => networks::create(ctx, req).await,
        (&M::POST, ["networks", "prune"]) => networks::prune(ctx).await,
        (&M::GET, ["networks", name]) => networks::inspect(ctx, name).await,
        (&M::DELETE, ["networks", name]) => networks::remove(ctx, name).await,
        (&M::POST, ["networks", name, "connect"]) => networks::connect(ctx, name, req, true).await,
        (&M::POST, ["networks", name, "disconnect"]) => {
            networks::connect(ctx, name, req, false).await
        }
        (&M::GET, ["volumes"]) => volumes::list(ctx, q).await,
        (&M::POST, ["volumes", "create"]) => volumes::create(ctx, req).await,
        (&M::POST, ["volumes", "prune"]) => volumes::prune(ctx, q).await,
        (&M::GET, ["volumes", name]) => volumes::inspect(ctx, name).await,
        (&M::DELETE, ["volumes", name]) => volumes::remove(ctx, name, q).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: {} {}",
            m,
            req.uri().path()
        ))),
    }
}

/// Runs library work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker: {e}")))?
}
