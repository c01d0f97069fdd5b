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
    /// Upload blobs larger than this many bytes in chunks of this size (0: one request each)
    #[arg(long, default_value_t = 64 << 20)]
    pub chunk_size: u64,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let img = store.resolve(&a.image)?;
    let target = store.parse_reference(a.destination.as_deref().unwrap_or(&a.image))?;
    let progress = Progress::new(a.quiet);
    let d = registry::push(
        &store,
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
