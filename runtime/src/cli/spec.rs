use super::Global;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A config for running without root (user namespace mapping our ids)
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(_g: &Global, a: Args) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{} already exists: remove it first", path.display());
    }
    let spec = berth_runtime::config::default_spec(a.rootless);
    std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
        .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    Ok(0)
}
