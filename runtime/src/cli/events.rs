use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Print resource usage once and exit
    #[arg(long)]
    pub stats: bool,
    /// Seconds between stats (streaming mode)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let secs: f64 = a
        .interval
        .trim_end_matches('s')
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid --interval {:?}", a.interval))?;
    loop {
        let s = berth_runtime::container::stats(&g.root, &a.id)?;
        println!(
            "{}",
            serde_json::json!({"type": "stats", "id": a.id, "data": s})
        );
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
    }
}
