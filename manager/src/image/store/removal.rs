//! Holds (the containers using an image), and what takes images and
//! blobs away: rmi, prune and gc.

use super::*;

impl Store {
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
