use berth::container::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn pause(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::each(&a.containers, |n| {
        lifecycle::pause(&g.root, n)?;
        println!("{n}");
        Ok(())
    })
}

pub fn unpause(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::each(&a.containers, |n| {
        lifecycle::unpause(&g.root, n)?;
        println!("{n}");
        Ok(())
    })
}
