#[derive(clap::Args)]
pub struct Args {
    /// The image to name
    pub source: String,
    /// The new name, [registry/]repo[:tag]
    pub target: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    store.tag(&a.source, &a.target)?;
    // Named as `rmi` names it in its untag: in full.
    let name = store
        .parse_reference(&a.target)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| a.target.clone());
    berth::events::emit(&g.root, "image", "tag", &a.source, &[("name", &name)]);
    Ok(())
}
