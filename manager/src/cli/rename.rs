use berth::container::ContainerStore;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    pub new_name: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let c = cs.find(&a.container)?;
    cs.rename(&c.id, &a.new_name)?;
    berth::events::emit(
        &g.root,
        "container",
        "rename",
        &c.id,
        &[
            ("name", &a.new_name),
            ("oldName", &c.name),
            ("image", &c.image),
        ],
    );
    Ok(())
}
