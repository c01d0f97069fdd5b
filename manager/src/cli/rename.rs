use berth::container::ContainerStore;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    pub new_name: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    ContainerStore::open(&g.root)?.rename(&a.container, &a.new_name)?;
    Ok(())
}
