//! The on-disk image store.
//!
//! ```text
//! <root>/blobs/sha256/<hex>        content-addressed blobs (manifests, configs, layer tars)
//! <root>/layers/<chain hex>/diff   an unpacked layer in overlayfs form, shared by all images
//! <root>/layers/<chain hex>/layer.json
//! <root>/images.json               image records: id (config digest) -> manifest, names
//! <root>/holds/<id hex>/<holder>   users of an image (containers); rmi refuses while any exist
//! <root>/tmp/                      work in progress, renamed into place when complete
//! <root>/locks/{images,gc}.lock
//! ```
//!
//! Crash safety comes from ordering: blobs and layers are complete and
//! renamed into place before the image record that points at them is written
//! (itself temp + rename), so a half-pulled image is never visible; leftovers
//! in tmp/ and unreferenced blobs are collected by `gc`.
//!
//! Locking: writers (pull, load, import) hold `gc.lock` shared for their
//! whole run so garbage collection (exclusive) never deletes what they have
//! written but not yet recorded; every read-modify-write of images.json
//! holds `images.lock` exclusively.

use super::digest::{chain_ids, Digest, HashingReader, TeeReader};
use super::layers::{self, LayerError};
use super::lock::FileLock;
use super::reference::{Reference, ReferenceError, DOCKER_HUB};
use super::types::{ImageConfig, Manifest};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image reference {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
    #[error("image {image} is in use by {holders}")]
    InUse { image: String, holders: String },
    #[error("image {0} is referenced by several names: remove them one by one or use -f")]
    SeveralNames(String),
    #[error("content of {expected} does not match its digest (got {actual})")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("layer {blob} unpacks to diff id {actual}, but the image config says {expected}")]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("invalid {what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("image {id} is broken: {why}")]
    Broken { id: String, why: String },
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

fn ioe(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.to_string();
    move |source| StoreError::Io { what, source }
}

/// Registry settings read from `<root>/registries.json`; the CLI may override them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default = "default_registry")]
    pub default_registry: String,
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// The most one layer may unpack to (its uncompressed tar), in bytes;
    /// none by default, as docker. A gzip bomb then fails at that size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_layer_size: Option<u64>,
}

fn default_registry() -> String {
    DOCKER_HUB.to_string()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_registry: default_registry(),
            insecure_registries: Vec::new(),
            max_layer_size: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest: docker's image id.
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub layers: Vec<Digest>,
    pub chain_ids: Vec<Digest>,
    /// Unpacked size: the sum of the layers' uncompressed tar sizes.
    pub size: u64,
    #[serde(default)]
    pub created: Option<String>,
    pub added: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Db {
    images: Vec<ImageRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
}

/// A resolved image with its documents parsed.
#[derive(Debug, Clone)]
pub struct Image {
    pub record: ImageRecord,
    pub manifest: Manifest,
    pub manifest_raw: Vec<u8>,
    pub config: ImageConfig,
    pub config_raw: Vec<u8>,
}

/// Removes a temp path on drop unless `keep` was called.
struct TmpGuard(Option<PathBuf>);

impl TmpGuard {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
        }
    }
}

/// Image metadata (the db, image holds) must survive a power cut: nothing
/// could rebuild it. See `berth_common::fs`.
pub use berth_common::fs::write_durable;

/// Makes SIGINT, SIGTERM and SIGHUP remove this process's work in progress
/// under `<root>/tmp` (named with our pid, see `unique`) before it dies, as
/// a finished command would have. Call it before any thread is spawned: the
/// signals are blocked here and taken by a thread of their own, and every
/// later thread inherits the mask. Not for commands that start containers,
/// whose processes would inherit it too.
pub fn clean_tmp_on_signals(root: &Path) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    if set.thread_block().is_err() {
        return;
    }
    let tmp = root.join("tmp");
    std::thread::spawn(move || {
        let Ok(sig) = set.wait() else { return };
        let pid = std::process::id().to_string();
        for e in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name();
            if name.to_string_lossy().split('-').nth(1) == Some(pid.as_str()) {
                let p = e.path();
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
        std::process::exit(128 + sig as i32);
    });
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        super::time::now_unix()
    )
}

/// A blob being written: a temp file that becomes `blobs/sha256/<hex>` on commit.
pub struct BlobWriter {
    tmp: PathBuf,
    file: BufWriter<File>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

pub struct Store {
    root: PathBuf,
    pub settings: Settings,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["blobs/sha256", "layers", "tmp", "locks", "holds"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(ioe(format!("creating {}", p.display())))?;
        }
        let sp = root.join("registries.json");
        let settings = match fs::read(&sp) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| StoreError::Json {
                what: sp.display().to_string(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Settings::default(),
            Err(e) => return Err(ioe(sp.display())(e)),
        };
        Ok(Store {
            root: root.to_path_buf(),
            settings,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn parse_reference(&self, s: &str) -> Result<Reference, StoreError> {
        Ok(Reference::parse(s, &self.settings.default_registry)?)
    }

    /// Held (shared) by anything that adds content, for its whole run.
    pub fn writer_lock(&self) -> Result<FileLock, StoreError> {
        FileLock::shared(&self.root.join("locks/gc.lock")).map_err(ioe("locking the store"))
    }

    fn images_lock(&self) -> Result<FileLock, StoreError> {
        FileLock::exclusive(&self.root.join("locks/images.lock"))
            .map_err(ioe("locking images.json"))
    }

    /// A fresh path under tmp/ (not created).
    pub fn tmp_path(&self, prefix: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{prefix}-{}", unique()))
    }

    // ---- blobs ----

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A blob's bytes, verified against its digest before they are used.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let data = fs::read(self.blob_path(d)).map_err(ioe(format!("reading blob {d}")))?;
        let actual = Digest::of(&data);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        Ok(data)
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        File::open(self.blob_path(d)).map_err(ioe(format!("opening blob {d}")))
    }

    pub fn put_blob(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let d = Digest::of(data);
        if !self.has_blob(&d) {
            let mut w = self.blob_writer()?;
            w.write_all(data).map_err(ioe("writing blob"))?;
            self.commit_blob(w, &d)?;
        }
        Ok(d)
    }

    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        let tmp = self.tmp_path("blob");
        let f = File::create(&tmp).map_err(ioe(format!("creating {}", tmp.display())))?;
        Ok(BlobWriter {
            tmp,
            file: BufWriter::with_capacity(256 * 1024, f),
        })
    }

    /// Moves a written blob into place; the caller has verified its digest.
    pub fn commit_blob(&self, w: BlobWriter, d: &Digest) -> Result<(), StoreError> {
        let BlobWriter { tmp, file } = w;
        let guard = TmpGuard(Some(tmp.clone()));
        let f = file
            .into_inner()
            .map_err(|e| ioe("writing blob")(e.into_error()))?;
        f.sync_data().map_err(ioe("syncing blob"))?;
        fs::rename(&tmp, self.blob_path(d)).map_err(ioe(format!("storing blob {d}")))?;
        guard.keep();
        Ok(())
    }

    /// Where the blob is being written (removed by `discard_blob`).
    pub fn tmp_path_of(w: &BlobWriter) -> &Path {
        &w.tmp
    }

    pub fn discard_blob(&self, w: BlobWriter) {
        let _ = fs::remove_file(&w.tmp);
    }

    // ---- layers ----

    pub fn layer_path(&self, chain: &Digest) -> PathBuf {
        self.root.join("layers").join(chain.hex())
    }

    /// The directory to use as an overlay lowerdir for this layer.
    pub fn layer_diff(&self, chain: &Digest) -> PathBuf {
        self.layer_path(chain).join("diff")
    }

    pub fn has_layer(&self, chain: &Digest) -> bool {
        self.layer_path(chain).join("layer.json").is_file()
    }

    pub fn layer_meta(&self, chain: &Digest) -> Result<LayerMeta, StoreError> {
        let p = self.layer_path(chain).join("layer.json");
        let b = fs::read(&p).map_err(ioe(format!("reading layer {chain}")))?;
        serde_json::from_slice(&b).map_err(|source| StoreError::Json {
            what: p.display().to_string(),
            source,
        })
    }

    /// Streams one layer blob from `r`: it is stored as a blob if `want_blob`
    /// and unpacked into the layer `chain` if `want_layer`, both verified
    /// (blob digest, then diff id) before anything is moved into place.
    /// `progress` is told the compressed bytes read so far.
    pub fn ingest_layer<R: Read>(
        &self,
        r: R,
        expected_blob: Option<&Digest>,
        diff_id: &Digest,
        chain: &Digest,
        want_blob: bool,
        want_layer: bool,
    ) -> Result<(Digest, u64), StoreError> {
        let shown = expected_blob
            .map(|d| d.to_string())
            .unwrap_or_else(|| format!("with diff id {diff_id}"));
        let blob_ok = |actual: &Digest| match expected_blob {
            Some(e) if e != actual => Err(StoreError::DigestMismatch {
                expected: e.clone(),
                actual: actual.clone(),
            }),
            _ => Ok(()),
        };
        let mut writer = if want_blob {
            Some(self.blob_writer()?)
        } else {
            None
        };
        let blob_guard = TmpGuard(writer.as_ref().map(|w| w.tmp.clone()));
        let ltmp = self.tmp_path("layer");
        let layer_guard = TmpGuard(Some(ltmp.clone()));
        let sink: Box<dyn Write> = match writer.as_mut() {
            Some(w) => Box::new(w),
            None => Box::new(io::sink()),
        };
        let mut net = HashingReader::new(TeeReader::new(r, sink));
        let computed: (Digest, u64);
        if want_layer {
            let diff_dir = ltmp.join("diff");
            fs::create_dir_all(&diff_dir)
                .map_err(ioe(format!("creating {}", diff_dir.display())))?;
            let dec =
                layers::decompress(&mut net).map_err(ioe(format!("reading layer {shown}")))?;
            let dec = layers::Bounded::new(dec, self.settings.max_layer_size.unwrap_or(u64::MAX));
            let mut diff = HashingReader::new(dec);
            let res = layers::unpack(&mut diff, &diff_dir);
            // A download or digest failure explains a broken tar better than the tar error does.
            if let Err(e) = res {
                drop(diff);
                if let Ok((actual, _)) = net.drain() {
                    blob_ok(&actual)?;
                }
                return Err(match e {
                    LayerError::Tar(ioerr) => ioe(format!("reading layer {shown}"))(ioerr),
                    other => other.into(),
                });
            }
            let (actual_diff, size) = diff
                .drain()
                .map_err(ioe(format!("reading layer {shown}")))?;
            let (actual, blob_size) = net.drain().map_err(ioe(format!("reading layer {shown}")))?;
            blob_ok(&actual)?;
            if &actual_diff != diff_id {
                return Err(StoreError::DiffIdMismatch {
                    blob: actual,
                    expected: diff_id.clone(),
                    actual: actual_diff,
                });
            }
            computed = (actual, blob_size);
            if blob_size > 0 && size / blob_size >= 100 {
                log::warn!(
                    "layer {shown} expands {}x: {blob_size} bytes unpack to {size}",
                    size / blob_size
                );
            }
            let meta = LayerMeta {
                chain_id: chain.clone(),
                diff_id: diff_id.clone(),
                size,
            };
            write_durable(
                &ltmp.join("layer.json"),
                &serde_json::to_vec(&meta).expect("layer meta"),
            )
            .map_err(ioe("writing layer.json"))?;
        } else {
            let (actual, blob_size) = net.drain().map_err(ioe(format!("reading layer {shown}")))?;
            blob_ok(&actual)?;
            computed = (actual, blob_size);
        }
        if let Some(w) = writer {
            self.commit_blob(w, &computed.0)?;
        }
        blob_guard.keep();
        if want_layer {
            match fs::rename(&ltmp, self.layer_path(chain)) {
                Ok(()) => layer_guard.keep(),
                // Someone else unpacked the same layer meanwhile: theirs is as good.
                Err(e) if self.has_layer(chain) => {
                    log::debug!("layer {chain} appeared concurrently: {e}")
                }
                Err(e) => return Err(ioe(format!("storing layer {chain}"))(e)),
            }
        }
        Ok(computed)
    }

    /// Stores an unpacked layer built elsewhere under tmp/ (by `import`).
    pub fn commit_layer_dir(&self, tmp: &Path, meta: &LayerMeta) -> Result<(), StoreError> {
        write_durable(
            &tmp.join("layer.json"),
            &serde_json::to_vec(meta).expect("layer meta"),
        )
        .map_err(ioe("writing layer.json"))?;
        match fs::rename(tmp, self.layer_path(&meta.chain_id)) {
            Ok(()) => Ok(()),
            Err(_) if self.has_layer(&meta.chain_id) => {
                let _ = fs::remove_dir_all(tmp);
                Ok(())
            }
            Err(e) => Err(ioe(format!("storing layer {}", meta.chain_id))(e)),
        }
    }

    // ---- image records ----

    fn db_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn load_db(&self) -> Result<Db, StoreError> {
        match fs::read(self.db_path()) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| StoreError::Json {
                what: "images.json".into(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Db::default()),
            Err(e) => Err(ioe("reading images.json")(e)),
        }
    }

    fn save_db(&self, db: &Db) -> Result<(), StoreError> {
        write_durable(&self.db_path(), &serde_json::to_vec_pretty(db).expect("db"))
            .map_err(ioe("writing images.json"))
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(self.load_db()?.images)
    }

    /// Records an image whose manifest, config and layers are all in the
    /// store, and gives it `names` (taken away from any other image).
    pub fn commit_image(
        &self,
        manifest_digest: &Digest,
        names: &[String],
        repo_digest: Option<String>,
    ) -> Result<Image, StoreError> {
        let manifest_raw = self.read_blob(manifest_digest)?;
        let manifest: Manifest =
            serde_json::from_slice(&manifest_raw).map_err(|source| StoreError::Json {
                what: format!("manifest {manifest_digest}"),
                source,
            })?;
        let config_raw = self.read_blob(&manifest.config.digest)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_raw).map_err(|source| StoreError::Json {
                what: format!("image config {}", manifest.config.digest),
                source,
            })?;
        let chains = chain_ids(&config.rootfs.diff_ids);
        if chains.len() != manifest.layers.len() {
            return Err(StoreError::Broken {
                id: manifest.config.digest.to_string(),
                why: format!(
                    "{} layers in the manifest but {} diff ids in the config",
                    manifest.layers.len(),
                    chains.len()
                ),
            });
        }
        let mut size = 0;
        for (c, l) in chains.iter().zip(&manifest.layers) {
            if !self.has_layer(c) || !self.has_blob(&l.digest) {
                return Err(StoreError::Broken {
                    id: manifest.config.digest.to_string(),
                    why: format!("layer {} is missing", l.digest),
                });
            }
            size += self.layer_meta(c)?.size;
        }
        let _l = self.images_lock()?;
        let mut db = self.load_db()?;
        for r in db.images.iter_mut() {
            r.names.retain(|n| !names.contains(n));
        }
        let id = manifest.config.digest.clone();
        let rec = match db.images.iter_mut().find(|r| r.id == id) {
            Some(r) => {
                r.manifest = manifest_digest.clone();
                r.manifest_media_type = manifest
                    .media_type
                    .clone()
                    .unwrap_or_else(|| super::types::OCI_MANIFEST.into());
                r.layers = manifest.layers.iter().map(|l| l.digest.clone()).collect();
                r.chain_ids = chains;
                r.size = size;
                for n in names {
                    if !r.names.contains(n) {
                        r.names.push(n.clone());
                    }
                }
                if let Some(rd) = &repo_digest {
                    if !r.repo_digests.contains(rd) {
                        r.repo_digests.push(rd.clone());
                    }
                }
                r.clone()
            }
            None => {
                let r = ImageRecord {
                    id: id.clone(),
                    manifest: manifest_digest.clone(),
                    manifest_media_type: manifest
                        .media_type
                        .clone()
                        .unwrap_or_else(|| super::types::OCI_MANIFEST.into()),
                    names: names.to_vec(),
                    repo_digests: repo_digest.into_iter().collect(),
                    layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
                    chain_ids: chains,
                    size,
                    created: config.created.clone(),
                    added: super::time::now_unix(),
                };
                db.images.push(r.clone());
                r
            }
        };
        self.save_db(&db)?;
        Ok(Image {
            record: rec,
            manifest,
            manifest_raw,
            config,
            config_raw,
        })
    }

    fn find<'a>(&self, db: &'a Db, s: &str) -> Result<&'a ImageRecord, StoreError> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        let is_hex = !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        // A name first: "abc" could be both a repository and an id prefix.
        if let Ok(r) = self.parse_reference(s) {
            let hit = if let Some(d) = &r.digest {
                db.images.iter().find(|i| {
                    &i.manifest == d
                        && (i.repo_digests.iter().any(|rd| rd.starts_with(&r.name()))
                            || i.names
                                .iter()
                                .any(|n| n.starts_with(&format!("{}:", r.name()))))
                })
            } else {
                let full = r.tagged_name().unwrap_or_default();
                db.images.iter().find(|i| i.names.contains(&full))
            };
            if let Some(h) = hit {
                return Ok(h);
            }
        }
        if is_hex && (hex.len() >= 3 || s.starts_with("sha256:")) {
            let hits: Vec<_> = db
                .images
                .iter()
                .filter(|i| i.id.hex().starts_with(hex))
                .collect();
            match hits.len() {
                1 => return Ok(hits[0]),
                0 => {}
                _ => return Err(StoreError::Ambiguous(s.to_string())),
            }
        }
        Err(StoreError::NotFound(s.to_string()))
    }

    /// Finds an image by name[:tag], name@digest, id or unique id prefix.
    pub fn resolve(&self, s: &str) -> Result<Image, StoreError> {
        let db = self.load_db()?;
        let rec = self.find(&db, s)?.clone();
        self.load_image(rec)
    }

    pub fn load_image(&self, record: ImageRecord) -> Result<Image, StoreError> {
        let manifest_raw = self.read_blob(&record.manifest)?;
        let manifest: Manifest =
            serde_json::from_slice(&manifest_raw).map_err(|source| StoreError::Json {
                what: format!("manifest {}", record.manifest),
                source,
            })?;
        let config_raw = self.read_blob(&record.id)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_raw).map_err(|source| StoreError::Json {
                what: format!("image config {}", record.id),
                source,
            })?;
        Ok(Image {
            record,
            manifest,
            manifest_raw,
            config,
            config_raw,
        })
    }

    /// The unpacked layer directories, topmost first: the order of overlayfs `lowerdir=`.
    pub fn layer_dirs(&self, image: &Image) -> Vec<PathBuf> {
        image
            .record
            .chain_ids
            .iter()
            .rev()
            .map(|c| self.layer_diff(c))
            .collect()
    }

    /// Reads a file as it appears in the image's merged root (whiteouts,
    /// opaque directories and the image's own symlinks honoured, none of them
    /// followed out of it), e.g. `etc/passwd` to resolve users.
    pub fn read_image_file(&self, image: &Image, rel: &str) -> Option<Vec<u8>> {
        super::merged::Merged::open(&self.layer_dirs(image))
            .ok()?
            .read(Path::new(rel))
    }

    /// The image's config converted for the runtime (conversion.md), with
    /// `Config.User` resolved against the image's own /etc/passwd and /etc/group.
    pub fn runtime_config(
        &self,
        image: &Image,
    ) -> Result<super::config::RuntimeConfig, super::config::ConfigError> {
        let text = |p| {
            self.read_image_file(image, p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let (passwd, group) = (text("etc/passwd"), text("etc/group"));
        super::config::convert(&image.config, passwd.as_deref(), group.as_deref())
    }

    /// Adds a name to an image.
    pub fn tag(&self, source: &str, target: &str) -> Result<String, StoreError> {
        let r = self.parse_reference(target)?;
        let name = match (r.tagged_name(), &r.digest) {
            (Some(n), None) => n,
            _ => {
                return Err(ReferenceError::Invalid(
                    target.to_string(),
                    "a tag target cannot have a digest",
                )
                .into())
            }
        };
        let _l = self.images_lock()?;
        let mut db = self.load_db()?;
        let id = self.find(&db, source)?.id.clone();
        for i in db.images.iter_mut() {
            i.names.retain(|n| n != &name);
            if i.id == id {
                i.names.push(name.clone());
            }
        }
        self.save_db(&db)?;
        Ok(name)
    }

    /// Remembers that a registry knows the image as `name@digest` (after a push).
    pub fn add_repo_digest(&self, id: &Digest, repo_digest: &str) -> Result<(), StoreError> {
        let _l = self.images_lock()?;
        let mut db = self.load_db()?;
        if let Some(r) = db.images.iter_mut().find(|r| &r.id == id) {
            if !r.repo_digests.iter().any(|x| x == repo_digest) {
                r.repo_digests.push(repo_digest.to_string());
            }
        }
        self.save_db(&db)
    }

    // ---- holds: users of an image ----

    fn holds_dir(&self, id: &Digest) -> PathBuf {
        self.root.join("holds").join(id.hex())
    }

    /// Marks `holder` (a container id) as using the image: rmi and prune leave it alone.
    /// Race-free order for a caller: `hold` first, then `resolve` again; if the
    /// image is gone by then (an rmi won), `release` and report it missing.
    pub fn hold(&self, id: &Digest, holder: &str) -> Result<(), StoreError> {
        let d = self.holds_dir(id);
        fs::create_dir_all(&d).map_err(ioe("creating image hold"))?;
        write_durable(&d.join(holder), b"").map_err(ioe("creating image hold"))
    }

    pub fn release(&self, id: &Digest, holder: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.holds_dir(id).join(holder)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ioe("removing image hold")(e)),
            _ => {
                // Fails while other holders remain, as it should.
                let _ = fs::remove_dir(self.holds_dir(id));
                Ok(())
            }
        }
    }

    pub fn holders(&self, id: &Digest) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.holds_dir(id))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// `rmi`: untags a name, or deletes the image when no name is left.
    /// Returns docker-style "Untagged: x" / "Deleted: id" lines.
    pub fn remove(&self, s: &str, force: bool) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        {
            let _l = self.images_lock()?;
            let mut db = self.load_db()?;
            let rec = self.find(&db, s)?.clone();
            let by_name = self
                .parse_reference(s)
                .ok()
                .and_then(|r| r.tagged_name())
                .filter(|n| rec.names.contains(n));
            let idx = db
                .images
                .iter()
                .position(|i| i.id == rec.id)
                .expect("found");
            let holders = self.holders(&rec.id);
            match by_name {
                Some(n) if rec.names.len() > 1 => {
                    db.images[idx].names.retain(|x| x != &n);
                    out.push(format!("Untagged: {n}"));
                }
                _ => {
                    if rec.names.len() > 1 && !force {
                        return Err(StoreError::SeveralNames(rec.id.short().to_string()));
                    }
                    if !holders.is_empty() {
                        if !force {
                            return Err(StoreError::InUse {
                                image: s.to_string(),
                                holders: holders.join(", "),
                            });
                        }
                        // In use: drop the names but keep the record so the
                        // layers under the container stay (docker does the same).
                        for n in db.images[idx].names.drain(..) {
                            out.push(format!("Untagged: {n}"));
                        }
                    } else {
                        let r = db.images.remove(idx);
                        for n in &r.names {
                            out.push(format!("Untagged: {n}"));
                        }
                        out.push(format!("Deleted: {}", r.id));
                    }
                }
            }
            self.save_db(&db)?;
        }
        self.gc(false)?;
        Ok(out)
    }

    /// Removes unused images: dangling ones, or with `all` every image no container holds.
    pub fn prune(&self, all: bool) -> Result<Vec<Digest>, StoreError> {
        let mut removed = Vec::new();
        {
            let _l = self.images_lock()?;
            let mut db = self.load_db()?;
            db.images.retain(|i| {
                let remove = (all || i.names.is_empty()) && self.holders(&i.id).is_empty();
                if remove {
                    removed.push(i.id.clone());
                }
                !remove
            });
            self.save_db(&db)?;
        }
        self.gc(true)?;
        Ok(removed)
    }

    /// Deletes blobs and layers no image record references, and stale temp
    /// files. Without `wait`, skips when a writer is busy (it runs again later).
    pub fn gc(&self, wait: bool) -> Result<(), StoreError> {
        let lock_path = self.root.join("locks/gc.lock");
        let _gc = if wait {
            FileLock::exclusive(&lock_path).map_err(ioe("locking the store"))?
        } else {
            match FileLock::try_exclusive(&lock_path).map_err(ioe("locking the store"))? {
                Some(l) => l,
                None => {
                    log::debug!("a pull or load is running: garbage collection skipped");
                    return Ok(());
                }
            }
        };
        let _l = self.images_lock()?;
        let db = self.load_db()?;
        let mut blobs = std::collections::HashSet::new();
        let mut chains = std::collections::HashSet::new();
        for i in &db.images {
            blobs.insert(i.manifest.hex().to_string());
            blobs.insert(i.id.hex().to_string());
            blobs.extend(i.layers.iter().map(|d| d.hex().to_string()));
            chains.extend(i.chain_ids.iter().map(|d| d.hex().to_string()));
        }
        let trash = self.tmp_path("gc");
        for e in fs::read_dir(self.root.join("blobs/sha256"))
            .map_err(ioe("listing blobs"))?
            .flatten()
        {
            if !blobs.contains(&*e.file_name().to_string_lossy()) {
                let _ = fs::remove_file(e.path());
            }
        }
        for e in fs::read_dir(self.root.join("layers"))
            .map_err(ioe("listing layers"))?
            .flatten()
        {
            if !chains.contains(&*e.file_name().to_string_lossy()) {
                // Rename first so a half-deleted layer is never visible under its chain id.
                if fs::rename(e.path(), &trash).is_ok() {
                    let _ = fs::remove_dir_all(&trash);
                }
            }
        }
        // With the exclusive lock no writer is running: tmp/ holds only wreckage.
        for e in fs::read_dir(self.root.join("tmp"))
            .map_err(ioe("listing tmp"))?
            .flatten()
        {
            let p = e.path();
            let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
        }
        Ok(())
    }
}
