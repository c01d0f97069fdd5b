use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Kill the container first if it is still running
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    berth_runtime::container::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
