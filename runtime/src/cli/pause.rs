use super::Global;

#[derive(clap::Args)]
pub struct PauseArgs {
    pub id: String,
}

pub fn pause(g: &Global, a: PauseArgs) -> anyhow::Result<i32> {
    berth_runtime::container::pause(&g.root, &a.id)?;
    Ok(0)
}

pub fn resume(g: &Global, a: PauseArgs) -> anyhow::Result<i32> {
    berth_runtime::container::resume(&g.root, &a.id)?;
    Ok(0)
}
