use berth::container::lifecycle;
use berth::container::opts::CreateOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Memory limit (512m, 1g...)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory plus swap (-1: unlimited swap)
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// CPUs (1.5)
    #[arg(long)]
    pub cpus: Option<String>,
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// no, always, unless-stopped or on-failure[:MAX-RETRIES]
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let o = CreateOptions {
        memory: a.memory.clone(),
        memory_swap: a.memory_swap.clone(),
        cpus: a.cpus.clone(),
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        restart: a.restart.clone(),
        ..Default::default()
    };
    if berth::container::spec::resources(&o)?
        .as_object()
        .is_none_or(|m| m.is_empty())
        && o.restart.is_none()
    {
        anyhow::bail!("update: nothing to update: give a limit or --restart");
    }
    super::containers::each(&a.containers, |n| {
        lifecycle::update(&g.root, n, &o)?;
        println!("{n}");
        Ok(())
    })
}
