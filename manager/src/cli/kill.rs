use berth::container::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::each(&a.containers, |n| {
        lifecycle::kill(&g.root, n, &a.signal)?;
        println!("{n}");
        Ok(())
    })
}
