//! The HTTP side of the distribution API: one `Client` per registry and
//! repository, answering 401 challenges (bearer token or basic), retrying
//! transport failures, and `BlobStream`, a blob download that resumes with
//! `Range` after a dropped connection.

use super::auth::{self, AuthFile};
use super::digest::Digest;
use super::progress::{Counting, Item};
use super::reference::{Reference, DOCKER_HUB};
use super::registry::RegistryError;
use super::store::{Store, StoreError};
use super::types;
use std::io::{self, Read};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Concurrent layer downloads, docker's default.
pub const PARALLEL: usize = 3;
const RETRIES: u32 = 5;
/// docker's cap on a manifest (or index).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// The most an image config may hold: real ones are a few KiB.
pub const MAX_CONFIG: u64 = 8 << 20;

/// A download must move at least `STALL_BYTES` in every `stall_window()`:
/// a read timeout alone lets a server that sends a byte now and then keep a
/// pull alive for ever.
const STALL_BYTES: u64 = 16 << 10;

fn stall_window() -> Duration {
    // Tests shorten it; a user may lengthen it for a very slow link.
    let secs = std::env::var("BERTH_STALL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Plain HTTP only for loopback and registries the user marked insecure.
pub fn uses_http(registry: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|r| r == registry) {
        return true;
    }
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map(|x| x.0).unwrap_or(registry)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<Ipv4Addr>()
            .is_ok_and(|ip| ip.octets()[0] == 127)
}

/// PEM certificates in `<root>/certs.d/<registry>/*.crt` (docker's layout):
/// extra roots for a private registry with its own CA.
fn registry_cas(
    store: &Store,
    registry: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, RegistryError> {
    use rustls::pki_types::pem::PemObject;
    let dir = store.root().join("certs.d").join(registry);
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    files.sort();
    for f in files {
        let bad = |detail: String| RegistryError::Invalid {
            what: format!("certificate {}", f.display()),
            detail,
        };
        for c in
            rustls::pki_types::CertificateDer::pem_file_iter(&f).map_err(|e| bad(e.to_string()))?
        {
            out.push(c.map_err(|e| bad(e.to_string()))?);
        }
    }
    Ok(out)
}

fn tls_config(
    cas: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<std::sync::Arc<rustls::ClientConfig>, RegistryError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for c in cas {
        roots.add(c).map_err(|e| RegistryError::Invalid {
            what: "registry ca certificate".into(),
            detail: e.to_string().to_lowercase(),
        })?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Invalid {
            what: "tls setup".into(),
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(cfg))
}

pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Re-openable, so a 401 on the first try can be answered and the upload repeated.
    File(PathBuf, u64, Option<&'a Item>),
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    registry: String,
    repo: String,
    pub(super) creds: Option<(String, String)>,
    push: bool,
    authz: Mutex<Option<String>>,
}

fn detail_of(resp: ureq::Response) -> String {
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    // The distribution spec's error body: {"errors":[{"code","message"}]}.
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["errors"][0]["message"].as_str().map(|s| s.to_string()))
        .unwrap_or_else(|| text.trim().chars().take(200).collect());
    format!("status {status}: {}", msg.to_lowercase())
}

impl Client {
    pub fn new(
        store: &Store,
        reference: &Reference,
        auth: &AuthFile,
        push: bool,
    ) -> Result<Client, RegistryError> {
        // A registry with its own CA under certs.d is spoken to over TLS, even on loopback.
        let cas = registry_cas(store, &reference.registry)?;
        let http =
            cas.is_empty() && uses_http(&reference.registry, &store.settings.insecure_registries);
        let host = if reference.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &reference.registry
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(60))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")));
        let agent = if cas.is_empty() {
            agent
        } else {
            agent.tls_config(tls_config(cas)?)
        };
        let scheme = if http { "http" } else { "https" };
        let default_port = if http { 80 } else { 443 };
        let (name, port) = match host.rsplit_once(':') {
            Some((h, p)) if h.starts_with('[') || !h.contains(':') => {
                (h, p.parse().unwrap_or(default_port))
            }
            _ => (host, default_port),
        };
        let agent = match super::proxy::for_host(scheme, name, port) {
            Some(p) => {
                log::debug!("{host} through the proxy {p}");
                agent.proxy(ureq::Proxy::new(&p).map_err(|e| RegistryError::Invalid {
                    what: format!("proxy {p:?}"),
                    detail: e.to_string(),
                })?)
            }
            None => agent,
        }
        .build();
        Ok(Client {
            agent,
            base: format!("{}://{host}", if http { "http" } else { "https" }),
            registry: reference.registry.clone(),
            repo: reference.repository.clone(),
            creds: auth.get(&reference.registry)?,
            push,
            authz: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repo)
    }

    /// Answers a 401 challenge: fetches a bearer token or switches to basic auth.
    fn authenticate(&self, challenge: Option<&str>) -> Result<(), RegistryError> {
        let c = challenge
            .and_then(auth::parse_challenge)
            .ok_or_else(|| RegistryError::AuthRequired(self.registry.clone()))?;
        match c.scheme.as_str() {
            "basic" => {
                let (u, p) = self
                    .creds
                    .as_ref()
                    .ok_or_else(|| RegistryError::AuthRequired(self.registry.clone()))?;
                *self.authz.lock().unwrap() = Some(auth::basic(u, p));
                Ok(())
            }
            "bearer" => {
                let realm = c
                    .params
                    .get("realm")
                    .ok_or_else(|| RegistryError::Invalid {
                        what: "auth challenge".into(),
                        detail: "bearer without realm".into(),
                    })?;
                // No repository: a registry-wide request (the catalog).
                let scope = if self.repo.is_empty() {
                    "registry:catalog:*".to_string()
                } else {
                    format!(
                        "repository:{}:{}",
                        self.repo,
                        if self.push { "pull,push" } else { "pull" }
                    )
                };
                let mut req = self.agent.get(realm).query("scope", &scope);
                if let Some(s) = c.params.get("service") {
                    req = req.query("service", s);
                }
                if let Some((u, p)) = &self.creds {
                    req = req.set("Authorization", &auth::basic(u, p));
                }
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(401 | 403, _)) if self.creds.is_none() => {
                        return Err(RegistryError::AuthRequired(self.registry.clone()))
                    }
                    Err(ureq::Error::Status(401 | 403, _)) => {
                        return Err(RegistryError::Unauthorized(self.registry.clone()))
                    }
                    Err(ureq::Error::Status(_, r)) => {
                        return Err(RegistryError::Http {
                            url: realm.clone(),
                            detail: detail_of(r),
                        })
                    }
                    Err(e) => return Err(RegistryError::Transport(e.to_string().to_lowercase())),
                };
                let v: serde_json::Value =
                    serde_json::from_reader(resp.into_reader().take(1 << 20)).map_err(|e| {
                        RegistryError::Invalid {
                            what: "token response".into(),
                            detail: e.to_string(),
                        }
                    })?;
                let tok = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| RegistryError::Invalid {
                        what: "token response".into(),
                        detail: "no token".into(),
                    })?;
                *self.authz.lock().unwrap() = Some(format!("Bearer {tok}"));
                Ok(())
            }
            other => Err(RegistryError::Invalid {
                what: "auth challenge".into(),
                detail: format!("unsupported scheme {other:?}"),
            }),
        }
    }

    /// One request with auth; transport errors on idempotent requests are retried.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body,
    ) -> Result<Result<ureq::Response, ureq::Response>, RegistryError> {
        let mut authed_once = false;
        let mut attempt = 0;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self.authz.lock().unwrap().as_ref() {
                req = req.set("Authorization", a);
            }
            let res = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::File(p, size, item) => {
                    let f = std::fs::File::open(p).map_err(|e| RegistryError::Http {
                        url: url.into(),
                        detail: e.to_string(),
                    })?;
                    let req = req
                        .set("Content-Length", &size.to_string())
                        .set("Content-Type", "application/octet-stream");
                    match item {
                        Some(i) => {
                            i.reset();
                            req.send(Counting { inner: f, item: i })
                        }
                        None => req.send(f),
                    }
                }
            };
            match res {
                Ok(r) => return Ok(Ok(r)),
                Err(ureq::Error::Status(401, r)) if !authed_once => {
                    authed_once = true;
                    let ch = r.header("www-authenticate").map(|s| s.to_string());
                    self.authenticate(ch.as_deref())?;
                }
                Err(ureq::Error::Status(401, _)) => {
                    return Err(if self.creds.is_some() {
                        RegistryError::Unauthorized(self.registry.clone())
                    } else {
                        RegistryError::AuthRequired(self.registry.clone())
                    })
                }
                // A registry behind a proxy or being restarted: worth another try.
                Err(ureq::Error::Status(502..=504, r))
                    if attempt < RETRIES && matches!(method, "GET" | "HEAD") =>
                {
                    attempt += 1;
                    log::warn!(
                        "{url}: status {}; retrying ({attempt}/{RETRIES})",
                        r.status()
                    );
                    std::thread::sleep(Duration::from_millis(100 << attempt));
                }
                Err(ureq::Error::Status(_, r)) => return Ok(Err(r)),
                // A refused certificate will not get better by asking again.
                Err(e)
                    if attempt < RETRIES
                        && matches!(method, "GET" | "HEAD" | "PUT")
                        && !e.to_string().to_lowercase().contains("certificate") =>
                {
                    attempt += 1;
                    log::warn!("{e}; retrying ({attempt}/{RETRIES})");
                    std::thread::sleep(Duration::from_millis(100 << attempt));
                }
                Err(e) => return Err(RegistryError::Transport(e.to_string().to_lowercase())),
            }
        }
    }

    fn expect_ok(
        &self,
        url: &str,
        r: Result<ureq::Response, ureq::Response>,
    ) -> Result<ureq::Response, RegistryError> {
        r.map_err(|resp| RegistryError::Http {
            url: url.into(),
            detail: detail_of(resp),
        })
    }

    /// GET of `path` from the registry's root (`/v2/_catalog?n=100`):
    /// the body (at most `limit` bytes), or `None` if the registry has no
    /// such endpoint (404, 405 or 501).
    pub fn get_from_root(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let url = format!("{}{path}", self.base);
        let r = match self.send("GET", &url, &[], &Body::Empty)? {
            Err(r) if matches!(r.status(), 404 | 405 | 501) => return Ok(None),
            r => self.expect_ok(&url, r)?,
        };
        let mut body = Vec::new();
        r.into_reader()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| RegistryError::Transport(format!("{url}: {e}")))?;
        Ok(Some(body))
    }

    /// Checks the registry answers and the credentials (if any) are accepted.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        let r = self.send("GET", &url, &[], &Body::Empty)?;
        self.expect_ok(&url, r)?;
        Ok(())
    }

    /// (bytes, media type) of a manifest by tag or digest.
    pub fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let r = match self.send("GET", &url, &[("Accept", MANIFEST_ACCEPT)], &Body::Empty)? {
            Ok(r) => r,
            Err(r) if r.status() == 404 => {
                return Err(RegistryError::NotFound(format!(
                    "{}/{}:{reference}",
                    self.registry, self.repo
                )))
            }
            Err(r) => {
                return Err(RegistryError::Http {
                    url,
                    detail: detail_of(r),
                })
            }
        };
        let ct = r.content_type().to_string();
        let too_big = || RegistryError::Invalid {
            what: format!("manifest {reference}"),
            detail: format!("larger than {} MiB", MAX_MANIFEST >> 20),
        };
        if r.header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|l| l > MAX_MANIFEST)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        Progressing::new(r.into_reader())
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut body)
            .map_err(|e| RegistryError::Http {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        if body.len() as u64 > MAX_MANIFEST {
            return Err(too_big());
        }
        let kind = types::manifest_kind(&body)
            .filter(|k| !k.is_empty())
            .unwrap_or(ct);
        Ok((body, kind))
    }

    fn blob_response(&self, d: &Digest, offset: u64) -> Result<ureq::Response, RegistryError> {
        let url = self.url(&format!("blobs/{d}"));
        let range = format!("bytes={offset}-");
        let headers: Vec<(&str, &str)> = if offset > 0 {
            vec![("Range", &range)]
        } else {
            vec![]
        };
        let r = self.send("GET", &url, &headers, &Body::Empty)?;
        self.expect_ok(&url, r)
    }

    /// A small blob (an image config) in memory: its declared `size`, at
    /// most `MAX_CONFIG`.
    pub fn blob_bytes(&self, d: &Digest, size: u64) -> Result<Vec<u8>, RegistryError> {
        if size > MAX_CONFIG {
            return Err(RegistryError::Invalid {
                what: format!("blob {d}"),
                detail: format!("declares {size} bytes, more than {} MiB", MAX_CONFIG >> 20),
            });
        }
        let mut v = Vec::new();
        BlobStream::new(self, d.clone(), Some(size))
            .read_to_end(&mut v)
            .map_err(|e| RegistryError::Http {
                url: self.url(&format!("blobs/{d}")),
                detail: e.to_string(),
            })?;
        if Digest::of(&v) != *d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual: Digest::of(&v),
            }
            .into());
        }
        Ok(v)
    }

    pub fn has_blob(&self, d: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{d}"));
        match self.send("HEAD", &url, &[], &Body::Empty)? {
            Ok(_) => Ok(true),
            Err(r) if r.status() == 404 => Ok(false),
            Err(r) => Err(RegistryError::Http {
                url,
                detail: detail_of(r),
            }),
        }
    }

    fn absolute(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else {
            format!("{}{loc}", self.base)
        }
    }

    /// POST then a monolithic PUT of the whole blob.
    pub fn upload(&self, d: &Digest, body: Body) -> Result<(), RegistryError> {
        let url = self.url("blobs/uploads/");
        let r = self.send("POST", &url, &[("Content-Length", "0")], &Body::Bytes(&[]))?;
        let r = self.expect_ok(&url, r)?;
        let loc = r.header("location").ok_or_else(|| RegistryError::Invalid {
            what: "upload response".into(),
            detail: "no Location header".into(),
        })?;
        let loc = self.absolute(loc);
        let put = format!(
            "{loc}{}digest={d}",
            if loc.contains('?') { '&' } else { '?' }
        );
        let r = self.send("PUT", &put, &[], &body)?;
        self.expect_ok(&put, r)?;
        Ok(())
    }

    /// POST, then PATCH chunks of `chunk` bytes (Content-Range), then a
    /// closing PUT with the digest: the distribution spec's chunked upload.
    pub fn upload_chunked(
        &self,
        d: &Digest,
        path: &std::path::Path,
        size: u64,
        chunk: u64,
        item: &Item,
    ) -> Result<(), RegistryError> {
        let url = self.url("blobs/uploads/");
        let r = self.send("POST", &url, &[("Content-Length", "0")], &Body::Bytes(&[]))?;
        let r = self.expect_ok(&url, r)?;
        let missing_loc = || RegistryError::Invalid {
            what: "upload response".into(),
            detail: "no Location header".into(),
        };
        let mut loc = self.absolute(r.header("location").ok_or_else(missing_loc)?);
        let io_err = |e: io::Error| RegistryError::Http {
            url: path.display().to_string(),
            detail: e.to_string(),
        };
        let mut f = std::fs::File::open(path).map_err(io_err)?;
        let mut buf = vec![0u8; chunk.min(size).max(1) as usize];
        let mut off = 0u64;
        while off < size {
            let n = chunk.min(size - off) as usize;
            f.read_exact(&mut buf[..n]).map_err(io_err)?;
            let range = format!("{off}-{}", off + n as u64 - 1);
            let headers = [
                ("Content-Range", range.as_str()),
                ("Content-Type", "application/octet-stream"),
            ];
            let r = self.send("PATCH", &loc, &headers, &Body::Bytes(&buf[..n]))?;
            let r = self.expect_ok(&loc, r)?;
            loc = self.absolute(r.header("location").ok_or_else(missing_loc)?);
            off += n as u64;
            item.inc(n as u64);
        }
        let put = format!(
            "{loc}{}digest={d}",
            if loc.contains('?') { '&' } else { '?' }
        );
        let r = self.send("PUT", &put, &[("Content-Length", "0")], &Body::Bytes(&[]))?;
        self.expect_ok(&put, r)?;
        Ok(())
    }

    pub fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        raw: &[u8],
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{tag}"));
        let r = self.send(
            "PUT",
            &url,
            &[("Content-Type", media_type)],
            &Body::Bytes(raw),
        )?;
        self.expect_ok(&url, r)?;
        Ok(())
    }
}

/// A blob download that resumes with `Range` after a dropped connection.
pub struct BlobStream<'a> {
    client: &'a Client,
    digest: Digest,
    size: Option<u64>,
    offset: u64,
    inner: Option<Box<dyn Read + Send + Sync>>,
    failures: u32,
}

impl<'a> BlobStream<'a> {
    pub fn new(client: &'a Client, digest: Digest, size: Option<u64>) -> Self {
        BlobStream {
            client,
            digest,
            size,
            offset: 0,
            inner: None,
            failures: 0,
        }
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.inner.is_none() {
                if let Err(e) = self.connect_checked() {
                    self.failures += 1;
                    if self.failures > RETRIES {
                        return Err(e);
                    }
                    log::warn!("blob {}: {e}; retrying", self.digest);
                    std::thread::sleep(Duration::from_millis(200 << self.failures));
                    continue;
                }
            }
            // Never more than the descriptor declared: one byte past it is
            // enough to tell a lie.
            let buf = match self.size {
                Some(s) => {
                    let n = (s.saturating_sub(self.offset) + 1).min(buf.len() as u64) as usize;
                    &mut buf[..n]
                }
                None => buf,
            };
            let r = self.inner.as_mut().expect("connected").read(buf);
            if let (Ok(n), Some(s)) = (&r, self.size) {
                if self.offset + *n as u64 > s {
                    return Err(io::Error::other(format!(
                        "blob {} is larger than its declared {s} bytes",
                        self.digest
                    )));
                }
            }
            match r {
                Ok(0) if self.size.is_some_and(|s| self.offset < s) => {
                    self.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed early",
                    ))?;
                }
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) => self.fail(e)?,
            }
        }
    }
}

impl BlobStream<'_> {
    fn fail(&mut self, e: io::Error) -> io::Result<()> {
        self.inner = None;
        self.failures += 1;
        if self.failures > RETRIES {
            return Err(e);
        }
        log::warn!(
            "blob {}: {e} at byte {}; resuming",
            self.digest,
            self.offset
        );
        std::thread::sleep(Duration::from_millis(100 << self.failures));
        Ok(())
    }

    fn connect_checked(&mut self) -> io::Result<()> {
        let r = self
            .client
            .blob_response(&self.digest, self.offset)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let full = self.offset > 0 && r.status() == 200;
        let mut reader = r.into_reader();
        if full {
            // No Range support: skip what we already have.
            io::copy(&mut (&mut reader).take(self.offset), &mut io::sink())?;
        }
        self.inner = Some(Box::new(Progressing::new(reader)));
        Ok(())
    }
}

/// A reader that fails once a whole stall window passes with less than
/// `STALL_BYTES` read: the server is alive but does not deliver.
pub struct Progressing<R> {
    inner: R,
    window: Duration,
    since: std::time::Instant,
    bytes: u64,
}

impl<R> Progressing<R> {
    pub fn new(inner: R) -> Self {
        Progressing {
            inner,
            window: stall_window(),
            since: std::time::Instant::now(),
            bytes: 0,
        }
    }
}

impl<R: Read> Read for Progressing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes >= STALL_BYTES {
            self.bytes = 0;
            self.since = std::time::Instant::now();
        } else if n > 0 && self.since.elapsed() > self.window {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "stalled: less than {} KiB in {} s",
                    STALL_BYTES >> 10,
                    self.window.as_secs()
                ),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        assert!(uses_http("localhost:5000", &[]));
        assert!(uses_http("127.0.0.1:5000", &[]));
        assert!(uses_http("127.1.2.3", &[]));
        assert!(uses_http("[::1]:5000", &[]));
        assert!(!uses_http("10.0.0.1:5000", &[]));
        assert!(!uses_http("registry.example.org", &[]));
        assert!(uses_http(
            "registry.example.org",
            &["registry.example.org".to_string()]
        ));
    }
}
