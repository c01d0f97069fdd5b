//! The build cache: `<root>/build-cache/<key>` names the image a step made,
//! the key being the hash of the step's parent image and its `created_by`
//! (which holds the content hash of what COPY/ADD copy and the build args
//! a RUN saw): docker's classic rule. The images themselves live in the
//! store like any other; an entry whose image is gone is a miss.

use super::BuildError;
use crate::image::digest::{Digest, Hasher};
use std::path::{Path, PathBuf};

fn path(root: &Path, parent: &str, created_by: &str) -> PathBuf {
    let mut h = Hasher::new();
    h.update(parent.as_bytes());
    h.update(b"\n");
    h.update(created_by.as_bytes());
    root.join("build-cache").join(h.finish().hex())
}

/// The image id a step with this parent and `created_by` made before.
pub fn lookup(root: &Path, parent: &str, created_by: &str) -> Option<String> {
    let s = std::fs::read_to_string(path(root, parent, created_by)).ok()?;
    Digest::parse(s.trim()).ok().map(|d| d.to_string())
}

pub fn record(root: &Path, parent: &str, created_by: &str, id: &Digest) -> Result<(), BuildError> {
    let p = path(root, parent, created_by);
    let io = |source| BuildError::Io {
        what: "writing the build cache".into(),
        source,
    };
    std::fs::create_dir_all(p.parent().expect("a parent")).map_err(io)?;
    berth_common::fs::write_atomic(&p, id.to_string().as_bytes()).map_err(io)
}

/// Marks an image as a build step's parent: `images` hides it while it has
/// no name, as docker hides its intermediate images (`images -a` shows them).
pub fn mark_parent(root: &Path, id: &Digest) -> Result<(), BuildError> {
    let dir = root.join("build-cache/parents");
    let io = |source| BuildError::Io {
        what: "writing the build cache".into(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    berth_common::fs::write_atomic(&dir.join(id.hex()), b"").map_err(io)
}

/// The ids (hex) of the images builds made steps on.
pub fn parents(root: &Path) -> std::collections::HashSet<String> {
    std::fs::read_dir(root.join("build-cache/parents"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}
