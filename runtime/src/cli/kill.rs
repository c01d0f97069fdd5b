use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Signal every process of the container, not just its init
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// Signal name (TERM, SIGTERM) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let sig = berth_runtime::signal::parse(&a.signal)?;
    berth_runtime::container::kill(&g.root, &a.id, sig, a.all)?;
    Ok(0)
}
