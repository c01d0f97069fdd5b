use berth::container::logs::{self, LogOptions};

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end ("all" for every line)
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// 10m, 1h, an RFC 3339 time or unix seconds
    #[arg(long)]
    pub since: Option<String>,
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let tail = match a.tail.as_deref() {
        None | Some("all") => None,
        Some(t) => Some(
            t.parse()
                .map_err(|_| anyhow::anyhow!("invalid --tail {t:?}: expected a number or all"))?,
        ),
    };
    let since = a.since.as_deref().map(logs::parse_since).transpose()?;
    logs::show(
        &g.root,
        &a.container,
        &LogOptions {
            follow: a.follow,
            tail,
            since,
            timestamps: a.timestamps,
        },
    )?;
    Ok(())
}
