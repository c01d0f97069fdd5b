//! Blobs (content-addressed files) and unpacked layers of the store.

use super::*;

impl Store {
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
}
