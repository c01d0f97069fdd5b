use berth::image::progress::Progress;
use berth::image::registry;

#[derive(clap::Args)]
pub struct Args {
    /// NAME[:TAG|@DIGEST]
    pub reference: String,
    /// No progress output
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let r = store.parse_reference(&a.reference)?;
    let progress = Progress::new(a.quiet);
    let (img, digest) = registry::pull(&store, &r, &g.auth_file(), &progress)?;
    berth::events::emit(
        &g.root,
        "image",
        "pull",
        &r.to_string(),
        &[("name", &r.to_string())],
    );
    progress.line(&format!("Digest: {digest}"));
    progress.line(&format!(
        "Status: Downloaded image for {r} ({})",
        img.record.id.short()
    ));
    println!("{r}");
    Ok(())
}
