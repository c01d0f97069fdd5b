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

/// Pulls `reference` with docker's progress lines on stderr and an event;
/// the image's id.
pub fn pull(
    g: &super::Globals,
    store: &berth::image::store::Store,
    reference: &str,
    quiet: bool,
) -> anyhow::Result<String> {
    let r = store.parse_reference(reference)?;
    let img = registry::pull_reported(store, &r, &g.auth_file(), &Progress::new(quiet))?;
    Ok(img.record.id.to_string())
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    pull(g, &store, &a.reference, a.quiet)?;
    println!("{}", store.parse_reference(&a.reference)?);
    Ok(())
}
