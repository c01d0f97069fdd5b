use super::Global;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_g: &Global, _a: Args) -> anyhow::Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&berth_runtime::features::features())?
    );
    Ok(0)
}
