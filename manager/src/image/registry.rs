//! Pull and push over the distribution API (the HTTP details are in client.rs).
//!
//! ```text
//! pull:  GET /v2/<repo>/manifests/<tag|digest>   (401 → challenge → token → retry)
//!        [index → pick linux/amd64 → GET manifests/<digest>]
//!        GET blobs/<config>                        verified, small
//!        GET blobs/<layer> × N, in parallel        each streamed: sha256 → blob file
//!                                                  and → decompress → diff id → unpack
//!        record image                              only after every layer is in place
//! push:  HEAD blobs/<d> → POST blobs/uploads/ → [PATCH chunks] → PUT <location>?digest=<d>
//!        PUT manifests/<tag>                       the stored bytes, so the digest is unchanged
//! ```
//!
//! A connection that drops mid-blob is resumed with a `Range` request from
//! the byte reached, invisibly to the unpacker downstream.

use super::auth::{self, AuthFile};
use super::client::{BlobStream, Body, Client, PARALLEL};
use super::digest::{chain_ids, Digest};
use super::progress::{Counting, Item, Progress};
use super::reference::Reference;
use super::store::{Image, Store, StoreError};
use super::types::{self, ImageConfig, Index, Manifest};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{url}: {detail}")]
    Http { url: String, detail: String },
    /// A connection-level failure; ureq's message already names the URL.
    #[error("{0}")]
    Transport(String),
    #[error("{0}: authentication required (run `berth login`)")]
    AuthRequired(String),
    #[error("{0}: unauthorized: wrong credentials or no access")]
    Unauthorized(String),
    #[error("manifest unknown: {0}")]
    NotFound(String),
    #[error("manifest {got} does not match the requested digest {want}")]
    ManifestDigest { want: Digest, got: Digest },
    #[error("{0} has no linux/amd64 image")]
    NoPlatform(String),
    #[error("unsupported manifest type {0:?}")]
    Unsupported(String),
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("pushing by digest is not supported: push a tag")]
    PushDigest,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
}

fn parse<T: for<'de> serde::Deserialize<'de>>(raw: &[u8], what: &str) -> Result<T, RegistryError> {
    serde_json::from_slice(raw).map_err(|e| RegistryError::Invalid {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// A pull as `docker pull` reports it, for every caller (the CLI, the
/// Engine API, `build`'s FROM): the layers' progress, then `Digest:` and
/// `Status:` lines, and a `pull` event.
pub fn pull_reported(
    store: &Store,
    reference: &Reference,
    auth: &AuthFile,
    progress: &Progress,
) -> Result<Image, RegistryError> {
    let name = reference.to_string();
    let before = store.resolve(&name).ok().map(|i| i.record.id);
    let (img, digest) = pull(store, reference, auth, progress)?;
    crate::events::emit(store.root(), "image", "pull", &name, &[("name", &name)]);
    progress.line(&format!("Digest: {digest}"));
    let shown = super::reference::familiar(&name);
    progress.line(&if before.as_ref() == Some(&img.record.id) {
        format!("Status: Image is up to date for {shown}")
    } else {
        format!("Status: Downloaded newer image for {shown}")
    });
    Ok(img)
}

/// Pulls `reference` into the store. Returns the image and the digest the
/// registry knows it by (the index's, when the tag names an index).
pub fn pull(
    store: &Store,
    reference: &Reference,
    auth: &AuthFile,
    progress: &Progress,
) -> Result<(Image, Digest), RegistryError> {
    let client = Client::new(store, reference, auth, false)?;
    let (raw, kind) = client.manifest(&reference.api_reference())?;
    let top = Digest::of(&raw);
    if let Some(want) = &reference.digest {
        if &top != want {
            return Err(RegistryError::ManifestDigest {
                want: want.clone(),
                got: top,
            });
        }
    }
    let (raw, kind) = if types::is_index(&kind) {
        let idx: Index = parse(&raw, "image index")?;
        let d = idx
            .pick_linux_amd64()
            .ok_or_else(|| RegistryError::NoPlatform(reference.to_string()))?
            .digest
            .clone();
        let (raw, kind) = client.manifest(d.as_str())?;
        let got = Digest::of(&raw);
        if got != d {
            return Err(RegistryError::ManifestDigest { want: d, got });
        }
        (raw, kind)
    } else {
        (raw, kind)
    };
    if !types::is_manifest(&kind) {
        return Err(RegistryError::Unsupported(kind));
    }
    let manifest: Manifest = parse(&raw, "manifest")?;
    let config_raw = if store.has_blob(&manifest.config.digest) {
        store.read_blob(&manifest.config.digest)?
    } else {
        client.blob_bytes(&manifest.config.digest, manifest.config.size)?
    };
    let config: ImageConfig = parse(&config_raw, "image config")?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Invalid {
            what: "image".into(),
            detail: "config and manifest disagree on the number of layers".into(),
        });
    }
    let chains = chain_ids(&config.rootfs.diff_ids);
    let _w = store.writer_lock()?;
    progress.line(&format!("Pulling {reference}"));
    let jobs: Vec<usize> = (0..manifest.layers.len()).collect();
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<RegistryError>> = Mutex::new(None);
    let items: Vec<Item> = manifest
        .layers
        .iter()
        .map(|l| progress.item(l.digest.short(), l.size))
        .collect();
    items.iter().for_each(|i| i.status("Pulling fs layer"));
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(jobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() || first_error.lock().unwrap().is_some() {
                    break;
                }
                let l = &manifest.layers[i];
                let (want_blob, want_layer) =
                    (!store.has_blob(&l.digest), !store.has_layer(&chains[i]));
                if !want_blob && !want_layer {
                    items[i].done("Already exists");
                    continue;
                }
                items[i].status("Downloading");
                let stream = Counting {
                    inner: BlobStream::new(&client, l.digest.clone(), Some(l.size)),
                    item: &items[i],
                };
                match store.ingest_layer(
                    stream,
                    Some(&l.digest),
                    &config.rootfs.diff_ids[i],
                    &chains[i],
                    want_blob,
                    want_layer,
                ) {
                    Ok(_) => items[i].done("Pull complete"),
                    Err(e) => {
                        items[i].done("Failed");
                        first_error.lock().unwrap().get_or_insert(e.into());
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    store.put_blob(&config_raw)?;
    let md = store.put_blob(&raw)?;
    let repo_digest = format!("{}@{top}", reference.name());
    let names: Vec<String> = reference.tagged_name().into_iter().collect();
    let img = store.commit_image(&md, &names, Some(repo_digest))?;
    Ok((img, top))
}

/// Pushes a stored image as `target` (a tag). Blobs larger than `chunk`
/// bytes go up in chunks (0: always in one request). Returns the manifest digest.
pub fn push(
    store: &Store,
    image: &Image,
    target: &Reference,
    auth: &AuthFile,
    progress: &Progress,
    chunk: u64,
) -> Result<Digest, RegistryError> {
    if target.digest.is_some() {
        return Err(RegistryError::PushDigest);
    }
    let client = Client::new(store, target, auth, true)?;
    progress.line(&format!("Pushing {target}"));
    for l in &image.manifest.layers {
        let item = progress.item(l.digest.short(), l.size);
        if client.has_blob(&l.digest)? {
            item.done("Layer already exists");
            continue;
        }
        item.status("Pushing");
        if chunk > 0 && l.size > chunk {
            client.upload_chunked(&l.digest, &store.blob_path(&l.digest), l.size, chunk, &item)?;
        } else {
            client.upload(
                &l.digest,
                Body::File(store.blob_path(&l.digest), l.size, Some(&item)),
            )?;
        }
        item.done("Pushed");
    }
    if !client.has_blob(&image.record.id)? {
        client.upload(&image.record.id, Body::Bytes(&image.config_raw))?;
    }
    let media_type = image
        .manifest
        .media_type
        .clone()
        .unwrap_or_else(|| image.record.manifest_media_type.clone());
    client.put_manifest(
        target.tag.as_deref().unwrap_or("latest"),
        &media_type,
        &image.manifest_raw,
    )?;
    store.add_repo_digest(
        &image.record.id,
        &format!("{}@{}", target.name(), image.record.manifest),
    )?;
    Ok(image.record.manifest.clone())
}

/// `login`: checks the credentials against the registry, then stores them.
pub fn login(
    store: &Store,
    registry: &str,
    user: &str,
    password: &str,
    auth: &AuthFile,
) -> Result<(), RegistryError> {
    check_login(store, registry, user, password, auth)?;
    auth.set(registry, user, password)?;
    Ok(())
}

/// Checks credentials against the registry without storing them (the
/// Engine API's `/auth`: docker's CLI keeps them itself).
pub fn check_login(
    store: &Store,
    registry: &str,
    user: &str,
    password: &str,
    auth: &AuthFile,
) -> Result<(), RegistryError> {
    let r = Reference {
        registry: registry.to_string(),
        repository: "berth-login-check".into(),
        tag: None,
        digest: None,
    };
    let mut c = Client::new(store, &r, auth, false)?;
    c.creds = Some((user.to_string(), password.to_string()));
    c.ping()?;
    Ok(())
}
