#[derive(clap::Args)]
pub struct Args {
    pub container: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    for l in berth::container::commit::diff(&g.root, &a.container)? {
        println!("{l}");
    }
    Ok(())
}
