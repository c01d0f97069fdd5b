//! Image records (images.json): commit, lookup, tags.

use super::*;

impl Store {
    // ---- image records ----

    fn db_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    pub(super) fn load_db(&self) -> Result<Db, StoreError> {
        match fs::read(self.db_path()) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| StoreError::Json {
                what: "images.json".into(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Db::default()),
            Err(e) => Err(ioe("reading images.json")(e)),
        }
    }

    pub(super) fn save_db(&self, db: &Db) -> Result<(), StoreError> {
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
                    .unwrap_or_else(|| crate::image::types::OCI_MANIFEST.into());
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
                        .unwrap_or_else(|| crate::image::types::OCI_MANIFEST.into()),
                    names: names.to_vec(),
                    repo_digests: repo_digest.into_iter().collect(),
                    layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
                    chain_ids: chains,
                    size,
                    created: config.created.clone(),
                    added: crate::image::time::now_unix(),
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

    pub(super) fn find<'a>(&self, db: &'a Db, s: &str) -> Result<&'a ImageRecord, StoreError> {
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
        crate::image::merged::Merged::open(&self.layer_dirs(image))
            .ok()?
            .read(Path::new(rel))
    }

    /// The image's config converted for the runtime (conversion.md), with
    /// `Config.User` resolved against the image's own /etc/passwd and /etc/group.
    pub fn runtime_config(
        &self,
        image: &Image,
    ) -> Result<crate::image::config::RuntimeConfig, crate::image::config::ConfigError> {
        let text = |p| {
            self.read_image_file(image, p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let (passwd, group) = (text("etc/passwd"), text("etc/group"));
        crate::image::config::convert(&image.config, passwd.as_deref(), group.as_deref())
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
}
