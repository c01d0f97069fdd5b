//! Named volumes: `<root>/volumes/<name>/_data` plus `volume.json`. A volume
//! is filled from the image's content at its mount point the first time a
//! container uses it while it is still empty, as docker does.
//!
//! Who uses a volume is read from the container records (their mounts), so
//! there is no second list to keep in sync.

use crate::container::{write_atomic, ContainerStore};
use crate::image::lock::FileLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("volume {0} already exists")]
    Exists(String),
    #[error("invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("volume {0} is in use by container {1}")]
    InUse(String, String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

fn ioe<S: std::fmt::Display>(what: S) -> impl FnOnce(io::Error) -> VolumeError {
    move |source| VolumeError::Io {
        what: what.to_string(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub scope: String,
    /// Made for a `-v /path` without a name: removed with its container by `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
    /// Set once the image's content was copied in (or the volume was used).
    #[serde(default)]
    pub populated: bool,
}

pub struct VolumeStore {
    root: PathBuf,
    dir: PathBuf,
}

impl VolumeStore {
    pub fn open(root: &Path) -> Result<VolumeStore, VolumeError> {
        let dir = root.join("volumes");
        fs::create_dir_all(&dir).map_err(ioe(format!("creating {}", dir.display())))?;
        Ok(VolumeStore {
            root: root.to_path_buf(),
            dir,
        })
    }

    fn lock(&self) -> Result<FileLock, VolumeError> {
        FileLock::exclusive(&self.dir.join(".lock")).map_err(ioe("locking the volume store"))
    }

    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        let p = self.dir.join(name).join("volume.json");
        let b = fs::read(&p).map_err(|_| VolumeError::NotFound(name.to_string()))?;
        serde_json::from_slice(&b).map_err(|e| VolumeError::Io {
            what: p.display().to_string(),
            source: io::Error::other(e),
        })
    }

    fn save(&self, v: &Volume) -> Result<(), VolumeError> {
        let p = self.dir.join(&v.name).join("volume.json");
        write_atomic(&p, &serde_json::to_vec_pretty(v).expect("volume json"))
            .map_err(ioe(format!("writing {}", p.display())))
    }

    pub fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume, VolumeError> {
        if !crate::container::opts::valid_volume_name(name) {
            return Err(VolumeError::BadName(name.to_string()));
        }
        let _l = self.lock()?;
        if self.get(name).is_ok() {
            return Err(VolumeError::Exists(name.to_string()));
        }
        self.create_locked(name, labels, anonymous)
    }

    fn create_locked(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume, VolumeError> {
        let data = self.data_dir(name);
        fs::create_dir_all(&data).map_err(ioe(format!("creating {}", data.display())))?;
        let v = Volume {
            name: name.to_string(),
            driver: "local".into(),
            mountpoint: data.display().to_string(),
            created_at: crate::container::now_rfc3339(),
            labels,
            scope: "local".into(),
            anonymous,
            populated: false,
        };
        if let Err(e) = self.save(&v) {
            let _ = fs::remove_dir_all(self.dir.join(name));
            return Err(e);
        }
        Ok(v)
    }

    /// The volume, created if missing (as `-v name:/path` does). The bool says it was created.
    pub fn ensure(&self, name: &str) -> Result<(Volume, bool), VolumeError> {
        if !crate::container::opts::valid_volume_name(name) {
            return Err(VolumeError::BadName(name.to_string()));
        }
        let _l = self.lock()?;
        match self.get(name) {
            Ok(v) => Ok((v, false)),
            Err(_) => Ok((self.create_locked(name, BTreeMap::new(), false)?, true)),
        }
    }

    pub fn list(&self) -> Vec<Volume> {
        let mut v: Vec<Volume> = fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Containers (ids) whose records mount the volume.
    pub fn users(&self, name: &str) -> Vec<String> {
        ContainerStore::open(&self.root)
            .map(|cs| {
                cs.list()
                    .into_iter()
                    .filter(|c| {
                        c.mounts.iter().any(|m| {
                            m.kind == crate::container::record::MountKind::Volume && m.name == name
                        })
                    })
                    .map(|c| c.id)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let _l = self.lock()?;
        self.get(name)?;
        if let Some(u) = self.users(name).first() {
            if !force {
                return Err(VolumeError::InUse(name.to_string(), u[..12].to_string()));
            }
        }
        let d = self.dir.join(name);
        let _ = fs::remove_file(d.join("volume.json"));
        fs::remove_dir_all(&d).map_err(ioe(format!("removing {}", d.display())))
    }

    /// Removes unused volumes (anonymous ones only unless `all`), returns their names.
    pub fn prune(&self, all: bool) -> Result<Vec<String>, VolumeError> {
        let mut out = Vec::new();
        for v in self.list() {
            if (all || v.anonymous) && self.users(&v.name).is_empty() {
                self.remove(&v.name, false)?;
                out.push(v.name);
            }
        }
        Ok(out)
    }

    /// Copies `src` (the image's content at the mount point, a directory
    /// held by an fd; none if the image has nothing there) into an empty,
    /// never-populated volume, once.
    pub fn populate(&self, name: &str, src: Option<&fsroot::Entry>) -> Result<(), VolumeError> {
        let _l = self.lock()?;
        let mut v = self.get(name)?;
        if v.populated {
            return Ok(());
        }
        let data = self.data_dir(name);
        let empty = fs::read_dir(&data)
            .map(|mut r| r.next().is_none())
            .unwrap_or(false);
        if let Some(src) = src.filter(|s| empty && s.meta.is_dir()) {
            let what = || format!("copying the image's content into volume {name}");
            let dst = fsroot::open_dir(&data).map_err(ioe(what()))?;
            fsroot::copy_tree(src, dst.as_fd()).map_err(ioe(what()))?;
            // The volume's root takes the mode and owner of the image's directory.
            std::os::unix::fs::chown(&data, Some(src.meta.uid()), Some(src.meta.gid()))
                .and_then(|_| {
                    fs::set_permissions(&data, fs::Permissions::from_mode(src.meta.mode() & 0o7777))
                })
                .map_err(ioe(what()))?;
        }
        v.populated = true;
        self.save(&v)
    }
}
