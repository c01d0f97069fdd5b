use berth::image::progress::Progress;
use berth::image::registry;

#[derive(clap::Args)]
pub struct Args {
    /// The image to push, NAME[:TAG]
    pub image: String,
    /// Where to push it, if not under its own name
    pub destination: Option<String>,
    #[arg(short, long)]
    pub quiet: bool,
    /// Push every tag of the repository NAME
    #[arg(short, long)]
    pub all_tags: bool,
    /// Upload blobs larger than this many bytes in chunks of this size (0: one request each)
    #[arg(long, default_value_t = 64 << 20)]
    pub chunk_size: u64,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    if !a.all_tags {
        return push_one(g, &store, &a, &a.image, a.destination.as_deref());
    }
    if a.destination.is_some() {
        anyhow::bail!("--all-tags pushes under the image's own names: no destination");
    }
    if berth::image::reference::split_name(&a.image).1 != "<none>" {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    let repo = store.parse_reference(&a.image)?.name();
    let mut names: Vec<String> = store
        .images()?
        .into_iter()
        .flat_map(|r| r.names)
        .filter(|n| berth::image::reference::split_name(n).0 == repo)
        .collect();
    names.sort();
    if names.is_empty() {
        anyhow::bail!("an image does not exist locally with the tag: {}", a.image);
    }
    for n in &names {
        push_one(g, &store, &a, n, None)?;
    }
    Ok(())
}

fn push_one(
    g: &super::Globals,
    store: &berth::image::store::Store,
    a: &Args,
    image: &str,
    destination: Option<&str>,
) -> anyhow::Result<()> {
    let img = store.resolve(image)?;
    let target = store.parse_reference(destination.unwrap_or(image))?;
    let progress = Progress::new(a.quiet);
    let d = registry::push(
        store,
        &img,
        &target,
        &g.auth_file(),
        &progress,
        a.chunk_size,
    )?;
    println!(
        "{}: digest: {d} size: {}",
        target.tag.as_deref().unwrap_or("latest"),
        img.manifest_raw.len()
    );
    Ok(())
}
