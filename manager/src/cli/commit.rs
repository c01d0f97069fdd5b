use berth::container::commit::{self, CommitOptions};

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub message: Option<String>,
    #[arg(short, long)]
    pub author: Option<String>,
    /// Dockerfile instruction for the new image's config (CMD, ENV, ...)
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Freeze the container while its layer is read
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    pub reference: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    berth::image::store::clean_tmp_on_signals(&g.root);
    let id = commit::commit(
        &g.root,
        &a.container,
        &CommitOptions {
            reference: a.reference,
            message: a.message,
            author: a.author,
            changes: a.change,
            pause: a.pause,
        },
    )?;
    println!("{id}");
    Ok(())
}
