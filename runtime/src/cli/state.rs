use super::Global;

#[derive(clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    println!("{}", berth_runtime::container::state(&g.root, &a.id)?);
    Ok(0)
}
