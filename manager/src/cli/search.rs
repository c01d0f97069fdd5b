use anyhow::bail;
use berth::image::search::{self, Found};

#[derive(clap::Args)]
pub struct Args {
    /// [REGISTRY/]TERM
    pub term: String,
    /// At most this many results (1 to 100)
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// stars=N, is-official=true|false, is-automated=true|false
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Go template (fields Name, Description, StarCount, IsOfficial, IsAutomated)
    #[arg(long)]
    pub format: Option<String>,
    /// Whole descriptions
    #[arg(long)]
    pub no_trunc: bool,
}

fn parse_bool(k: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("invalid filter '{k}={v}': expected true or false"),
    }
}

/// docker's filters: every one given must hold.
fn keep(filters: &[(String, String)], f: &Found) -> anyhow::Result<bool> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "stars" => {
                let n: u64 = v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("invalid filter 'stars={v}': not a number"))?;
                f.star_count >= n
            }
            "is-official" => f.is_official == parse_bool(k, v)?,
            "is-automated" => f.is_automated == parse_bool(k, v)?,
            _ => bail!("invalid filter '{k}'"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// docker's stringutils.Ellipsis.
fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    let mut out: String = chars[..max - 1].iter().collect();
    out.push('…');
    out
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    if !(1..=100).contains(&a.limit) {
        bail!("limit {} is outside the range of [1, 100]", a.limit);
    }
    let filters: Vec<(String, String)> = a
        .filter
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))
        })
        .collect::<anyhow::Result<_>>()?;
    // Filters checked before any request, as the daemon does.
    let probe = Found {
        name: String::new(),
        description: String::new(),
        star_count: 0,
        is_official: false,
        is_automated: false,
    };
    keep(&filters, &probe)?;
    let store = g.store()?;
    let mut found = Vec::new();
    for f in search::search(&store, &g.auth_file(), &a.term, a.limit)? {
        if keep(&filters, &f)? {
            found.push(f);
        }
    }
    let ok = |b: bool| if b { "[OK]" } else { "" };
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|f| {
            let d = f.description.replace('\n', " ");
            let d = if a.no_trunc { d } else { ellipsis(&d, 45) };
            serde_json::json!({
                "Name": f.name, "Description": d, "StarCount": f.star_count.to_string(),
                "IsOfficial": ok(f.is_official), "IsAutomated": ok(f.is_automated),
            })
        })
        .collect();
    let tpl = a.format.as_deref().unwrap_or(
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}",
    );
    berth::format::print_rows(tpl, &rows, &|f| match f {
        "StarCount" => Some("STARS"),
        "IsOfficial" => Some("OFFICIAL"),
        "IsAutomated" => Some("AUTOMATED"),
        _ => None,
    })?;
    Ok(())
}
