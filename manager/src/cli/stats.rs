use berth::container::{cgroup, Container, ContainerStore, Status};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Print one sample and exit (else the table is redrawn every second)
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Include stopped containers
    #[arg(short, long)]
    pub all: bool,
    /// json, or a Go template (fields Container, Name, ID, CPUPerc, MemUsage,
    /// MemPerc, NetIO, BlockIO, PIDs)
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

fn select(cs: &ContainerStore, a: &Args) -> anyhow::Result<Vec<Container>> {
    Ok(if a.containers.is_empty() {
        cs.list()
            .into_iter()
            .filter(|c| a.all || cs.state(c).status == Status::Running)
            .collect()
    } else {
        a.containers
            .iter()
            .map(|n| cs.find(n))
            .collect::<Result<Vec<_>, _>>()?
    })
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let json = a.format.as_deref() == Some("json");
    let template = a.format.as_deref().filter(|f| *f != "json");
    if let Some(t) = template {
        // Checked before any sampling: a bad template is one line, at once.
        berth::format::Template::parse(t)?;
    }
    if a.no_stream || json {
        let list = select(&cs, &a)?;
        let samples = sample(&list, Duration::from_millis(200));
        if let Some(t) = template {
            return print_template(t, &a, &list, &samples);
        }
        return print(&list, &samples, json);
    }
    loop {
        // Re-read each round: containers started since show up, removed ones go.
        let list = select(&cs, &a)?;
        let samples = sample(&list, Duration::from_secs(1));
        print!("\x1b[2J\x1b[H");
        print(&list, &samples, false)?;
        use std::io::Write;
        std::io::stdout().flush()?;
    }
}

fn sample(list: &[Container], window: Duration) -> Vec<cgroup::Sample> {
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    let s = cgroup::sample(&ids, window);
    if ids.iter().all(|i| cgroup::pids(i).is_empty()) {
        // Nothing is running, so sample() did not wait: keep the pace anyway.
        std::thread::sleep(window);
    }
    s
}

/// `--format TEMPLATE`: docker's stats fields, as its table shows them.
fn print_template(
    t: &str,
    a: &Args,
    list: &[Container],
    samples: &[cgroup::Sample],
) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = list
        .iter()
        .zip(samples)
        .enumerate()
        .map(|(i, (c, s))| {
            let lim = if s.mem_limit == 0 {
                cgroup::host_memory()
            } else {
                s.mem_limit
            };
            let perc = if lim > 0 {
                s.mem_usage as f64 * 100.0 / lim as f64
            } else {
                0.0
            };
            serde_json::json!({
                "Container": a.containers.get(i).cloned().unwrap_or_else(|| c.short_id().to_string()),
                "Name": c.name, "ID": c.short_id(),
                "CPUPerc": format!("{:.2}%", s.cpu_percent),
                "MemUsage": format!("{} / {}", super::output::size(s.mem_usage, true), super::output::size(lim, true)),
                "MemPerc": format!("{perc:.2}%"),
                "NetIO": pair(s.net), "BlockIO": pair(s.block), "PIDs": s.pids.to_string(),
            })
        })
        .collect();
    berth::format::print_rows(t, &rows, &|f| match f {
        "ID" => Some("CONTAINER ID"),
        "CPUPerc" => Some("CPU %"),
        "MemUsage" => Some("MEM USAGE / LIMIT"),
        "MemPerc" => Some("MEM %"),
        "NetIO" => Some("NET I/O"),
        "BlockIO" => Some("BLOCK I/O"),
        "PIDs" => Some("PIDS"),
        _ => None,
    })?;
    Ok(())
}

/// docker's "1.2kB / 648B" (go-units, 3 significant digits).
fn pair((a, b): (u64, u64)) -> String {
    format!(
        "{} / {}",
        super::output::size(a, false),
        super::output::size(b, false)
    )
}

fn print(list: &[Container], samples: &[cgroup::Sample], json: bool) -> anyhow::Result<()> {
    if json {
        let v: Vec<_> = list
            .iter()
            .zip(samples)
            .map(|(c, s)| {
                serde_json::json!({"ID": c.id, "Name": c.name, "CPUPerc": s.cpu_percent,
                "MemUsage": s.mem_usage, "MemLimit": s.mem_limit, "PIDs": s.pids,
                "NetInput": s.net.0, "NetOutput": s.net.1,
                "BlockInput": s.block.0, "BlockOutput": s.block.1})
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
        "NET I/O".into(),
        "BLOCK I/O".into(),
        "PIDS".into(),
    ]];
    for (c, s) in list.iter().zip(samples) {
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
                super::output::size(s.mem_usage, true),
                super::output::size(lim, true)
            ),
            format!(
                "{:.2}%",
                if lim > 0 {
                    s.mem_usage as f64 * 100.0 / lim as f64
                } else {
                    0.0
                }
            ),
            pair(s.net),
            pair(s.block),
            s.pids.to_string(),
        ]);
    }
    super::output::print_table(&rows);
    Ok(())
}
