use berth::container::{cgroup, top, ContainerStore, Status};
use berth::format::TabWriter;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    /// Options for ps (default -ef), as docker takes them
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let c = cs.find(&a.container)?;
    if cs.state(&c).status != Status::Running {
        anyhow::bail!("container {} is not running", c.name);
    }
    let t = top::top(&cgroup::pids(&c.id), &a.ps_options.join(" "))?;
    let mut rows = vec![t.titles];
    rows.extend(t.rows);
    // docker's top table: minwidth 20, padding 3.
    let w = TabWriter {
        min_width: 20,
        padding: 3,
    };
    print!("{}", w.layout(&rows));
    Ok(())
}
