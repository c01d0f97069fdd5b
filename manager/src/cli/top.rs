use berth::container::{cgroup, ContainerStore, Status};

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let c = cs.find(&a.container)?;
    if cs.state(&c).status != Status::Running {
        anyhow::bail!("container {} is not running", c.name);
    }
    let mut rows = vec![vec![
        "PID".to_string(),
        "USER".into(),
        "TIME".into(),
        "COMMAND".into(),
    ]];
    for p in cgroup::pids(&c.id) {
        let Some(info) = cgroup::proc_info(p) else {
            continue;
        };
        rows.push(vec![
            p.to_string(),
            info.uid.to_string(),
            info.time,
            info.cmd,
        ]);
    }
    super::output::print_table(&rows);
    Ok(())
}
