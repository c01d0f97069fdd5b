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

mod blobs;
mod images;
mod removal;

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
}
