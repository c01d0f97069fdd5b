//! Edits of a stored config.json: `update` sets its resources, each start
//! of a container that joins another's namespaces sets their paths, `exec`
//! takes its process. Each edited part is read and written typed; the rest
//! of the document is kept as it was. Never the whole `Spec` or `Process`:
//! oci-spec's `Process` deserializer checks `execCPUAffinity` with a regex,
//! 1.4 MB of berth's binary for a field berth never sets.

use super::super::{ioe, ContainerError, Result};
use oci_spec::runtime::{LinuxNamespace, LinuxResources, User};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A bundle's config.json, as stored.
pub struct Bundle {
    path: PathBuf,
    doc: Value,
}

fn invalid(what: &str) -> impl FnOnce(serde_json::Error) -> ContainerError + '_ {
    move |source| ContainerError::Json {
        what: what.to_string(),
        source,
    }
}

impl Bundle {
    /// The config.json at `path`.
    pub fn load(path: &Path) -> Result<Bundle> {
        let b = std::fs::read(path).map_err(ioe("reading config.json"))?;
        let doc = serde_json::from_slice(&b).map_err(invalid("config.json"))?;
        Ok(Bundle {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// Writes it back (temp + rename).
    pub fn save(&self) -> Result<()> {
        super::super::write_atomic(&self.path, &serde_json::to_vec(&self.doc).expect("spec"))
            .map_err(ioe("writing config.json"))
    }

    fn get<T: DeserializeOwned + Default>(&self, part: &'static str) -> Result<T> {
        match self.doc["linux"].get(part) {
            None | Some(Value::Null) => Ok(T::default()),
            Some(v) => T::deserialize(v).map_err(invalid(part)),
        }
    }

    fn set<T: Serialize>(&mut self, part: &str, v: &T) -> Result<()> {
        let linux = self
            .doc
            .get_mut("linux")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ContainerError::Other("invalid config.json: it has no linux".into()))?;
        linux.insert(
            part.to_string(),
            serde_json::to_value(v).expect("spec part"),
        );
        Ok(())
    }

    pub fn resources(&self) -> Result<LinuxResources> {
        self.get("resources")
    }

    pub fn set_resources(&mut self, r: &LinuxResources) -> Result<()> {
        self.set("resources", r)
    }

    pub fn namespaces(&self) -> Result<Vec<LinuxNamespace>> {
        self.get("namespaces")
    }

    pub fn set_namespaces(&mut self, n: &[LinuxNamespace]) -> Result<()> {
        self.set("namespaces", &n)
    }

    /// The container's process, to run another command as it runs.
    pub fn process(&self) -> Result<ExecProcess> {
        ExecProcess::deserialize(&self.doc["process"]).map_err(invalid("process"))
    }
}

/// A process of the container: what `exec` changes typed, the rest as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExecProcess {
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub terminal: bool,
    #[serde(default)]
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}
