use berth::container::ContainerStore;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let c = ContainerStore::open(&g.root)?.find(&a.container)?;
    for p in &c.ports {
        println!("{p}");
    }
    Ok(())
}
