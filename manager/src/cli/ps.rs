use berth::container::{lifecycle, Container, ContainerStore, State, Status};
use berth::image::time::{ago, parse_rfc3339};

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default: running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Only ids
    #[arg(short, long)]
    pub quiet: bool,
    /// name=, id=, status=, label=, ancestor=
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// json, or a template like '{{.Names}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Show the size of each container's layer
    #[arg(short, long)]
    pub size: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// The N last created containers, whatever their state
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    /// The last created container, whatever its state
    #[arg(short = 'l', long)]
    pub latest: bool,
}

pub use berth::container::listing::status_text;

fn matches(c: &Container, st: &State, f: &str) -> anyhow::Result<bool> {
    let (k, v) = f
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("invalid --filter {f:?}: expected KEY=VALUE"))?;
    berth::container::listing::matches(c, st, k, v).ok_or_else(|| {
        anyhow::anyhow!(
            "invalid --filter {f:?}: keys are name, id, status, label, ancestor, exited, health"
        )
    })
}

pub fn command_text(c: &Container, trunc: bool) -> String {
    // docker's daemon: the path as is, each argument holding a space in
    // single quotes.
    let s = c
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if trunc && s.chars().count() > 20 {
        format!("\"{}…\"", s.chars().take(19).collect::<String>())
    } else {
        format!("\"{s}\"")
    }
}

/// `80/tcp -> 0.0.0.0:8080` (berth port) → `0.0.0.0:8080->80/tcp` (docker ps).
fn ports_column(ports: &[String]) -> String {
    ports
        .iter()
        .map(|p| match p.split_once(" -> ") {
            Some((c, h)) => format!("{h}->{c}"),
            None => p.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The PORTS column, docker's `0.0.0.0:8089->80/udp`: none once it stopped.
fn published(c: &Container, st: &State) -> String {
    match st.status {
        Status::Running => ports_column(&c.ports),
        _ => String::new(),
    }
}

/// One row as docker's `ps --format` sees it (a short ID unless `full`).
pub fn row_json(c: &Container, st: &State, full: bool) -> serde_json::Value {
    serde_json::json!({
        "ID": if full { c.id.as_str() } else { c.short_id() }, "Names": c.name, "Image": c.image, "ImageID": c.image_id,
        "Command": command_text(c, !full), "CreatedAt": c.created, "State": st.name(),
        "Status": status_text(c, st), "ExitCode": st.exit_code, "Pid": st.pid,
        "Ports": published(c, st), "Labels": c.labels,
        "RunningFor": parse_rfc3339(&c.created).map(ago).unwrap_or_default(), "Mounts": c.mounts.iter().map(|m| m.destination.clone()).collect::<Vec<_>>(),
    })
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    lifecycle::reap_auto_removed(&g.root);
    let cs = ContainerStore::open(&g.root)?;
    let mut rows = Vec::new();
    for c in cs.list() {
        let st = cs.state(&c);
        // As in docker, only a status filter, -n or -l reach past the running
        // ones without -a.
        let all = a.all
            || a.last.is_some()
            || a.latest
            || a.filter.iter().any(|f| f.starts_with("status="));
        if !all && st.status != Status::Running && !st.restarting {
            continue;
        }
        let mut ok = true;
        for f in &a.filter {
            ok &= matches(&c, &st, f)?;
        }
        if ok {
            rows.push((c, st));
        }
    }
    rows.sort_by(|x, y| y.0.created.cmp(&x.0.created));
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        rows.truncate(n);
    }
    if a.quiet {
        for (c, _) in &rows {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(());
    }
    match a.format.as_deref() {
        Some("json") => {
            let v: Vec<_> = rows
                .iter()
                .map(|(c, st)| row_json(c, st, a.no_trunc))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        Some(t) => {
            let v: Vec<_> = rows
                .iter()
                .map(|(c, st)| row_json(c, st, a.no_trunc))
                .collect();
            berth::format::print_rows(t, &v, &|f| match f {
                "ID" => Some("CONTAINER ID"),
                "RunningFor" => Some("CREATED"),
                _ => None,
            })?;
            return Ok(());
        }
        None => {}
    }
    let mut table = vec![vec![
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    if a.size {
        table[0].push("SIZE".into());
    }
    for (c, st) in &rows {
        let created = parse_rfc3339(&c.created).map(ago).unwrap_or_default();
        let mut r = vec![
            if a.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            },
            c.image.clone(),
            command_text(c, !a.no_trunc),
            created,
            status_text(c, st),
            published(c, st),
            c.name.clone(),
        ];
        if a.size {
            r.push(super::output::size(
                super::output::dir_size(&cs.dir_of(&c.id).join("upper")),
                false,
            ));
        }
        table.push(r);
    }
    super::output::print_table(&table);
    Ok(())
}
