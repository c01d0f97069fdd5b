#[derive(clap::Args)]
pub struct Args {
    /// Registry host[:port]
    pub registry: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    g.auth_file().remove(&a.registry)?;
    println!("Removing login credentials for {}", a.registry);
    Ok(())
}
