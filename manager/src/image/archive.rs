//! `load` and `save`: docker-save tarballs (manifest.json) and OCI image
//! layout archives (oci-layout + index.json), in both directions.

use super::digest::{chain_ids, Digest};
use super::layers;
use super::store::{Image, Store, StoreError};
use super::types::{self, Descriptor, ImageConfig, Index, Manifest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading archive: {0}")]
    Read(io::Error),
    #[error("opening archive {0}: {1}")]
    Open(String, io::Error),
    #[error("writing archive: {0}")]
    Write(io::Error),
    #[error("archive has no {0}")]
    Missing(String),
    #[error("not an image archive: neither manifest.json (docker) nor index.json (OCI) found")]
    Unknown,
    #[error("archive's {what} is invalid: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("archive's index has no linux/amd64 image")]
    NoPlatform,
    #[error("archive's {0} does not match its digest")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One docker-save manifest.json entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

struct Member {
    offset: u64,
    size: u64,
    link: Option<PathBuf>,
}

/// A tar archive indexed for random access by member path.
struct TarIndex {
    file: File,
    members: HashMap<PathBuf, Member>,
}

fn norm(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

impl TarIndex {
    fn new(mut file: File) -> Result<TarIndex, ArchiveError> {
        let mut members = HashMap::new();
        {
            let mut ar = tar::Archive::new(&mut file);
            for e in ar.entries().map_err(ArchiveError::Read)? {
                let e = e.map_err(ArchiveError::Read)?;
                let path = norm(&e.path().map_err(ArchiveError::Read)?);
                let link = match e.header().entry_type() {
                    tar::EntryType::Symlink => e
                        .link_name()
                        .map_err(ArchiveError::Read)?
                        .map(|l| norm(&path.parent().unwrap_or(Path::new("")).join(l))),
                    tar::EntryType::Link => {
                        e.link_name().map_err(ArchiveError::Read)?.map(|l| norm(&l))
                    }
                    _ => None,
                };
                members.insert(
                    path,
                    Member {
                        offset: e.raw_file_position(),
                        size: e.size(),
                        link,
                    },
                );
            }
        }
        Ok(TarIndex { file, members })
    }

    fn has(&self, p: &str) -> bool {
        self.members.contains_key(Path::new(p))
    }

    fn member(&self, p: &str) -> Result<&Member, ArchiveError> {
        let mut path = norm(Path::new(p));
        for _ in 0..16 {
            let m = self
                .members
                .get(&path)
                .ok_or_else(|| ArchiveError::Missing(p.to_string()))?;
            match &m.link {
                Some(l) => path = l.clone(),
                None => return Ok(m),
            }
        }
        Err(ArchiveError::Missing(p.to_string()))
    }

    fn open(&self, p: &str) -> Result<(io::Take<File>, u64), ArchiveError> {
        let m = self.member(p)?;
        let mut f = self.file.try_clone().map_err(ArchiveError::Read)?;
        f.seek(SeekFrom::Start(m.offset))
            .map_err(ArchiveError::Read)?;
        Ok((f.take(m.size), m.size))
    }

    fn read(&self, p: &str) -> Result<Vec<u8>, ArchiveError> {
        let (mut r, size) = self.open(p)?;
        let mut v = Vec::with_capacity(size as usize);
        r.read_to_end(&mut v).map_err(ArchiveError::Read)?;
        Ok(v)
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, p: &str) -> Result<T, ArchiveError> {
        serde_json::from_slice(&self.read(p)?).map_err(|source| ArchiveError::Json {
            what: p.to_string(),
            source,
        })
    }
}

fn blob_member(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Loads every image in the archive at `path` (or stdin when None).
/// Returns the names (or ids, for untagged images) loaded.
pub fn load(store: &Store, path: Option<&Path>) -> Result<Vec<String>, ArchiveError> {
    let _w = store.writer_lock()?;
    let (file, spooled) = match path {
        Some(p) => (
            File::open(p).map_err(|e| ArchiveError::Open(p.display().to_string(), e))?,
            None,
        ),
        None => {
            // Random access is needed (docker archives list layers after
            // the files), so stdin is spooled into the store's tmp dir first.
            let tmp = store.tmp_path("load");
            let mut f = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(ArchiveError::Read)?;
            io::copy(&mut io::stdin().lock(), &mut f).map_err(ArchiveError::Read)?;
            f.seek(SeekFrom::Start(0)).map_err(ArchiveError::Read)?;
            (f, Some(tmp))
        }
    };
    let res = (|| {
        let idx = TarIndex::new(file)?;
        if idx.has("manifest.json") {
            load_docker(store, &idx)
        } else if idx.has("index.json") {
            load_oci(store, &idx)
        } else {
            Err(ArchiveError::Unknown)
        }
    })();
    if let Some(t) = spooled {
        let _ = std::fs::remove_file(t);
    }
    res
}

fn normalize_name(store: &Store, n: &str) -> Option<String> {
    store.parse_reference(n).ok().and_then(|r| {
        if r.digest.is_none() {
            r.tagged_name()
        } else {
            None
        }
    })
}

fn load_docker(store: &Store, idx: &TarIndex) -> Result<Vec<String>, ArchiveError> {
    let entries: Vec<DockerEntry> = idx.read_json("manifest.json")?;
    let mut loaded = Vec::new();
    for e in entries {
        let config_raw = idx.read(&e.config)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_raw).map_err(|source| ArchiveError::Json {
                what: e.config.clone(),
                source,
            })?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(ArchiveError::Corrupt(format!(
                "{} (layer count differs from manifest.json)",
                e.config
            )));
        }
        let chains = chain_ids(&config.rootfs.diff_ids);
        let mut descs = Vec::new();
        for ((lp, diff), chain) in e.layers.iter().zip(&config.rootfs.diff_ids).zip(&chains) {
            let (mut r, size) = idx.open(lp)?;
            let mut head = [0u8; 4];
            let n = r.read(&mut head).map_err(ArchiveError::Read)?;
            let media_type = match layers::sniff(&mut &head[..n]).map_err(ArchiveError::Read)? {
                layers::Compression::Gzip => types::OCI_LAYER_GZIP,
                layers::Compression::Zstd => types::OCI_LAYER_ZSTD,
                layers::Compression::None => types::OCI_LAYER,
            };
            let (r, _) = idx.open(lp)?;
            let digest =
                if media_type == types::OCI_LAYER && store.has_blob(diff) && store.has_layer(chain)
                {
                    diff.clone()
                } else {
                    store
                        .ingest_layer(r, None, diff, chain, true, !store.has_layer(chain))?
                        .0
                };
            descs.push(Descriptor {
                media_type: media_type.into(),
                digest,
                size,
                platform: None,
                annotations: None,
                urls: None,
            });
        }
        let config_digest = store.put_blob(&config_raw)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(types::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: types::OCI_CONFIG.into(),
                digest: config_digest,
                size: config_raw.len() as u64,
                platform: None,
                annotations: None,
                urls: None,
            },
            layers: descs,
            annotations: None,
        };
        let md = store.put_blob(&serde_json::to_vec(&manifest).expect("manifest"))?;
        let names: Vec<String> = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .filter_map(|n| normalize_name(store, n))
            .collect();
        let img = store.commit_image(&md, &names, None)?;
        loaded.extend(if names.is_empty() {
            vec![img.record.id.to_string()]
        } else {
            names
        });
    }
    Ok(loaded)
}

fn read_verified(idx: &TarIndex, d: &Digest) -> Result<Vec<u8>, ArchiveError> {
    let b = idx.read(&blob_member(d))?;
    if &Digest::of(&b) != d {
        return Err(ArchiveError::Corrupt(blob_member(d)));
    }
    Ok(b)
}

fn load_oci(store: &Store, idx: &TarIndex) -> Result<Vec<String>, ArchiveError> {
    let index: Index = idx.read_json("index.json")?;
    let mut loaded = Vec::new();
    for top in &index.manifests {
        let mut desc = top.clone();
        if types::is_index(&desc.media_type) {
            let nested: Index = serde_json::from_slice(&read_verified(idx, &desc.digest)?)
                .map_err(|source| ArchiveError::Json {
                    what: blob_member(&desc.digest),
                    source,
                })?;
            desc = nested
                .pick_linux_amd64()
                .ok_or(ArchiveError::NoPlatform)?
                .clone();
        }
        let manifest_raw = read_verified(idx, &desc.digest)?;
        let manifest: Manifest =
            serde_json::from_slice(&manifest_raw).map_err(|source| ArchiveError::Json {
                what: blob_member(&desc.digest),
                source,
            })?;
        let config_raw = read_verified(idx, &manifest.config.digest)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_raw).map_err(|source| ArchiveError::Json {
                what: blob_member(&manifest.config.digest),
                source,
            })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ArchiveError::Corrupt(format!(
                "{} (layer count differs from config)",
                blob_member(&desc.digest)
            )));
        }
        let chains = chain_ids(&config.rootfs.diff_ids);
        for ((l, diff), chain) in manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .zip(&chains)
        {
            let (want_blob, want_layer) = (!store.has_blob(&l.digest), !store.has_layer(chain));
            if want_blob || want_layer {
                let (r, _) = idx.open(&blob_member(&l.digest))?;
                store.ingest_layer(r, Some(&l.digest), diff, chain, want_blob, want_layer)?;
            }
        }
        store.put_blob(&config_raw)?;
        let md = store.put_blob(&manifest_raw)?;
        let ann = top.annotations.clone().unwrap_or_default();
        let name = ann
            .get(types::CONTAINERD_NAME)
            .or_else(|| {
                ann.get(types::REF_NAME)
                    .filter(|n| n.contains(':') || n.contains('/'))
            })
            .and_then(|n| normalize_name(store, n));
        let names: Vec<String> = name.into_iter().collect();
        let img = store.commit_image(&md, &names, None)?;
        loaded.extend(if names.is_empty() {
            vec![img.record.id.to_string()]
        } else {
            names
        });
    }
    Ok(loaded)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, p: &str) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, p, io::empty())
        .map_err(ArchiveError::Write)
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, p: &str, data: &[u8]) -> Result<(), ArchiveError> {
    b.append_data(&mut file_header(data.len() as u64), p, data)
        .map_err(ArchiveError::Write)
}

/// Writes `images` (each with the names to record for it) as one archive.
pub fn save<W: Write>(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    out: W,
) -> Result<(), ArchiveError> {
    let mut b = tar::Builder::new(out);
    match format {
        Format::DockerArchive => save_docker(store, images, &mut b)?,
        Format::OciArchive => save_oci(store, images, &mut b)?,
    }
    b.into_inner()
        .map_err(ArchiveError::Write)?
        .flush()
        .map_err(ArchiveError::Write)
}

fn save_docker<W: Write>(
    store: &Store,
    images: &[(Image, Vec<String>)],
    b: &mut tar::Builder<W>,
) -> Result<(), ArchiveError> {
    let mut written = HashSet::new();
    let mut entries = Vec::new();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (img, names) in images {
        let cfg_name = format!("{}.json", img.record.id.hex());
        if written.insert(cfg_name.clone()) {
            add_bytes(b, &cfg_name, &img.config_raw)?;
        }
        let mut layer_paths = Vec::new();
        for ((l, chain), diff) in img
            .manifest
            .layers
            .iter()
            .zip(&img.record.chain_ids)
            .zip(&img.config.rootfs.diff_ids)
        {
            // Docker archives carry uncompressed layers named by diff id.
            let p = format!("{}/layer.tar", diff.hex());
            if written.insert(p.clone()) {
                let size = store.layer_meta(chain)?.size;
                add_dir(b, &format!("{}/", diff.hex()))?;
                let r =
                    layers::decompress(store.open_blob(&l.digest)?).map_err(ArchiveError::Read)?;
                b.append_data(&mut file_header(size), &p, r)
                    .map_err(ArchiveError::Write)?;
            }
            layer_paths.push(p);
        }
        for n in names {
            let (repo, tag) = super::reference::split_name(n);
            repos
                .entry(repo.to_string())
                .or_default()
                .insert(tag.to_string(), img.record.id.hex().to_string());
        }
        entries.push(DockerEntry {
            config: cfg_name,
            repo_tags: Some(names.clone()),
            layers: layer_paths,
        });
    }
    add_bytes(
        b,
        "manifest.json",
        &serde_json::to_vec(&entries).expect("manifest.json"),
    )?;
    add_bytes(
        b,
        "repositories",
        &serde_json::to_vec(&repos).expect("repositories"),
    )
}

fn save_oci<W: Write>(
    store: &Store,
    images: &[(Image, Vec<String>)],
    b: &mut tar::Builder<W>,
) -> Result<(), ArchiveError> {
    add_bytes(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add_dir(b, "blobs/")?;
    add_dir(b, "blobs/sha256/")?;
    let mut written = HashSet::new();
    let mut manifests = Vec::new();
    for (img, names) in images {
        for l in &img.manifest.layers {
            if written.insert(l.digest.clone()) {
                let f = store.open_blob(&l.digest)?;
                b.append_data(&mut file_header(l.size), blob_member(&l.digest), f)
                    .map_err(ArchiveError::Write)?;
            }
        }
        for (d, raw) in [
            (&img.record.id, &img.config_raw),
            (&img.record.manifest, &img.manifest_raw),
        ] {
            if written.insert(d.clone()) {
                add_bytes(b, &blob_member(d), raw)?;
            }
        }
        let desc = |ann: Option<BTreeMap<String, String>>| Descriptor {
            media_type: img.record.manifest_media_type.clone(),
            digest: img.record.manifest.clone(),
            size: img.manifest_raw.len() as u64,
            platform: None,
            annotations: ann,
            urls: None,
        };
        if names.is_empty() {
            manifests.push(desc(None));
        }
        for n in names {
            let ann = BTreeMap::from([
                (types::REF_NAME.to_string(), n.clone()),
                (types::CONTAINERD_NAME.to_string(), n.clone()),
            ]);
            manifests.push(desc(Some(ann)));
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(types::OCI_INDEX.into()),
        manifests,
        annotations: None,
    };
    add_bytes(b, "index.json", &serde_json::to_vec(&index).expect("index"))
}
