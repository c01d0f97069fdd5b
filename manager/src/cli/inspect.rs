use berth::image::store::{Image, Store};

#[derive(clap::Args)]
pub struct Args {
    /// Go-template subset, e.g. '{{.Id}}' or '{{json .Config}}', one line per image
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

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

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let mut out = Vec::new();
    for i in &a.images {
        // Containers first, as docker does: a container name never parses as an image id.
        if let Some(c) = super::container::find_for_inspect(g, i)? {
            out.push(c);
            continue;
        }
        out.push(to_json(&store, &store.resolve(i)?));
    }
    match &a.format {
        Some(f) => {
            for v in &out {
                println!("{}", berth::format::render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}
