use berth::container::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub time: Option<u32>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::each(&a.containers, |n| {
        lifecycle::restart(&g.root, n, a.time)?;
        println!("{n}");
        Ok(())
    })
}
