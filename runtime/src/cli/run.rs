use super::create::CreateFlags;
use super::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Do not wait for the container to exit
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    pub keep: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    Ok(berth_runtime::container::run(
        &a.flags.opts(g, &a.id),
        a.detach,
        a.keep,
    )?)
}
