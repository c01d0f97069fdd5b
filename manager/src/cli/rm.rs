use berth::container::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    /// Kill a running container first
    #[arg(short, long)]
    pub force: bool,
    /// Remove its anonymous volumes too
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::each(&a.containers, |n| {
        lifecycle::remove(&g.root, n, a.force, a.volumes)?;
        println!("{n}");
        Ok(())
    })
}
