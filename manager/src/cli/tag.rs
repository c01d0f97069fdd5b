#[derive(clap::Args)]
pub struct Args {
    /// The image to name
    pub source: String,
    /// The new name, [registry/]repo[:tag]
    pub target: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    g.store()?.tag(&a.source, &a.target)?;
    Ok(())
}
