use berth::container::logs::parse_since;
use berth::events::{self, Event, FILTER_KEYS};

#[derive(clap::Args)]
pub struct Args {
    /// Events from this time on (10m, an RFC 3339 time or unix seconds)
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (with --since: only past events when it has passed)
    #[arg(long)]
    pub until: Option<String>,
    /// type=, event=, container=, image=, network=, volume=, label= (repeatable)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// json, or a Go template over the event (`{{.Action}} {{.Actor.ID}}`)
    #[arg(long)]
    pub format: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    for f in &a.filter {
        let key = f.split_once('=').map(|(k, _)| k);
        if !key.is_some_and(|k| FILTER_KEYS.contains(&k)) {
            anyhow::bail!(
                "invalid --filter {f:?}: expected KEY=VALUE with KEY one of {}",
                FILTER_KEYS.join(", ")
            );
        }
    }
    let nanos = |s: &str| parse_since(s).map(|t| (t * 1e9) as i64);
    let since = a.since.as_deref().map(nanos).transpose()?;
    let until = a.until.as_deref().map(nanos).transpose()?;
    let template = match a.format.as_deref() {
        None | Some("json") => None,
        Some(t) => Some(berth::format::Template::parse(t)?),
    };
    // One filter key matches if any of its values does; every key must match.
    let wanted = |e: &Event| {
        FILTER_KEYS.iter().all(|k| {
            let vals: Vec<&String> = a
                .filter
                .iter()
                .filter(|f| f.split_once('=').is_some_and(|(fk, _)| fk == *k))
                .collect();
            vals.is_empty() || vals.iter().any(|f| e.matches(f))
        })
    };
    let print = |e: &Event| -> anyhow::Result<()> {
        let line = match (&template, a.format.as_deref()) {
            (Some(t), _) => t.render(&serde_json::to_value(e)?)?,
            (None, Some("json")) => serde_json::to_string(e)?,
            _ => e.line(),
        };
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    if let Some(s) = since {
        for e in events::history(&g.root) {
            if e.time_nano >= s && until.is_none_or(|u| e.time_nano <= u) && wanted(&e) {
                if let Err(x) = print(&e) {
                    return done_if_pipe(x);
                }
            }
        }
    }
    if until.is_some_and(|u| u <= now) {
        return Ok(());
    }
    let mut err = None;
    events::follow(&g.root, until, |e| {
        if until.is_some_and(|u| e.time_nano > u) {
            return false;
        }
        if wanted(e) {
            if let Err(x) = print(e) {
                err = Some(x);
                return false;
            }
        }
        true
    });
    err.map_or(Ok(()), done_if_pipe)
}

/// `berth events | head -1`: once the reader is gone, so are we, quietly.
fn done_if_pipe(e: anyhow::Error) -> anyhow::Result<()> {
    match e.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    }
}
