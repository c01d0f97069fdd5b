use berth::container::{cgroup, ContainerStore, Status};

#[derive(clap::Args)]
pub struct Args {
    /// Print one sample and exit (the only mode for now)
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Include stopped containers
    #[arg(short, long)]
    pub all: bool,
    /// json for scripts
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let list = if a.containers.is_empty() {
        cs.list()
            .into_iter()
            .filter(|c| a.all || cs.state(c).status == Status::Running)
            .collect()
    } else {
        a.containers
            .iter()
            .map(|n| cs.find(n))
            .collect::<Result<Vec<_>, _>>()?
    };
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    let samples = cgroup::sample(&ids, std::time::Duration::from_millis(200));
    if a.format.as_deref() == Some("json") {
        let v: Vec<_> = list
            .iter()
            .zip(&samples)
            .map(|(c, s)| {
                serde_json::json!({"ID": c.id, "Name": c.name, "CPUPerc": s.cpu_percent,
                "MemUsage": s.mem_usage, "MemLimit": s.mem_limit, "PIDs": s.pids})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut rows = vec![vec![
        "CONTAINER ID".to_string(),
        "NAME".into(),
        "CPU %".into(),
        "MEM USAGE / LIMIT".into(),
        "MEM %".into(),
        "PIDS".into(),
    ]];
    for (c, s) in list.iter().zip(&samples) {
        let lim = if s.mem_limit == 0 {
            cgroup::host_memory()
        } else {
            s.mem_limit
        };
        rows.push(vec![
            c.short_id().to_string(),
            c.name.clone(),
            format!("{:.2}%", s.cpu_percent),
            format!(
                "{} / {}",
                super::ps::human_size(s.mem_usage),
                super::ps::human_size(lim)
            ),
            format!(
                "{:.2}%",
                if lim > 0 {
                    s.mem_usage as f64 * 100.0 / lim as f64
                } else {
                    0.0
                }
            ),
            s.pids.to_string(),
        ]);
    }
    super::ps::print_table(&rows);
    Ok(())
}
