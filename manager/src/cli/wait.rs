use berth::container::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::each(&a.containers, |n| {
        println!("{}", lifecycle::wait(&g.root, n)?);
        Ok(())
    })
}
