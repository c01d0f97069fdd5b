//! docker's `image inspect` JSON, for the CLI and the Engine API.

use super::store::{Image, Store};

/// docker's `image inspect` shape, plus the manifest digest berth keeps.
pub fn to_json(store: &Store, img: &Image) -> serde_json::Value {
    let c = &img.config;
    serde_json::json!({
        "Id": img.record.id,
        "Digest": img.record.manifest,
        "RepoTags": img.record.names,
        "RepoDigests": img.record.repo_digests,
        "Created": c.created,
        "Comment": c.comment.clone().unwrap_or_default(),
        "Author": c.author,
        "Architecture": c.architecture,
        "Os": c.os,
        "Variant": c.variant,
        "Size": img.record.size,
        "Config": c.config,
        "RootFS": {"Type": c.rootfs.kind, "Layers": c.rootfs.diff_ids},
        "ManifestMediaType": img.record.manifest_media_type,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDirs": store.layer_dirs(img)}},
        "History": c.history,
    })
}
