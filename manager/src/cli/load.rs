use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Archive to read (default: stdin)
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let input = a.input.as_deref().filter(|p| p.as_os_str() != "-");
    for n in berth::image::archive::load(&store, input)? {
        if !a.quiet {
            println!("Loaded image: {}", berth::image::reference::familiar(&n));
        }
    }
    Ok(())
}
