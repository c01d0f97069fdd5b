use berth::image::reference::{familiar, split_name};
use berth::image::time;

#[derive(clap::Args)]
pub struct Args {
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show manifest digests
    #[arg(long)]
    pub digests: bool,
    /// Show all images, the intermediate ones of builds too
    #[arg(short, long)]
    pub all: bool,
    /// "json", or a Go-template subset per image, e.g. '{{.Repository}}:{{.Tag}} {{.ID}}'
    #[arg(long)]
    pub format: Option<String>,
    /// dangling=true|false, label=KEY[=VALUE], before=IMAGE, since=IMAGE,
    /// reference=PATTERN (repeatable; each must hold)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Only images whose repository matches
    pub repository: Option<String>,
}

/// One `--filter` of docker's `images`.
enum Filter {
    Dangling(bool),
    Label(String, Option<String>),
    Before(i64),
    Since(i64),
    Reference(String),
}

/// `order`: each image's place in the store's order of arrival (images.json
/// keeps it). docker orders before/since by creation time, to the second;
/// two imports in one second do not tie in arrival.
fn filters(
    store: &berth::image::store::Store,
    order: &std::collections::HashMap<berth::image::digest::Digest, i64>,
    fs: &[String],
) -> anyhow::Result<Vec<Filter>> {
    let added = |s: &str| -> anyhow::Result<i64> { Ok(order[&store.resolve(s)?.record.id]) };
    fs.iter()
        .map(|f| {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("invalid filter {f:?}: expected KEY=VALUE"))?;
            Ok(match k {
                "dangling" => Filter::Dangling(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => anyhow::bail!("invalid filter {f:?}: dangling is true or false"),
                }),
                "label" => match v.split_once('=') {
                    Some((k, v)) => Filter::Label(k.into(), Some(v.into())),
                    None => Filter::Label(v.into(), None),
                },
                "before" => Filter::Before(added(v)?),
                "since" => Filter::Since(added(v)?),
                "reference" => Filter::Reference(v.into()),
                _ => anyhow::bail!(
                    "invalid filter {k:?}: want dangling, label, before, since or reference"
                ),
            })
        })
        .collect()
}

/// Go's path.Match for `*` and `?`: neither crosses a `/`.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pat[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(pat, &s[1..]))
        }
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&pat[1..], &s[1..]),
        (Some(p), Some(c)) if p == c => glob(&pat[1..], &s[1..]),
        _ => false,
    }
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let mut recs = store.images()?;
    recs.sort_by_key(|r| std::cmp::Reverse(r.added));
    let filter = a
        .repository
        .as_ref()
        .map(|r| store.parse_reference(r))
        .transpose()?;
    // `images REPO:TAG` lists that tag only; `images REPO` every tag.
    let want_tag = a.repository.as_deref().and_then(|r| {
        let last = r.rsplit('/').next().unwrap_or(r);
        if last.contains('@') {
            return None;
        }
        last.split_once(':').map(|(_, t)| t.to_string())
    });
    let order: std::collections::HashMap<_, i64> = store
        .images()?
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i as i64))
        .collect();
    let fs = filters(&store, &order, &a.filter)?;
    let labels = |r: &berth::image::store::ImageRecord| {
        store
            .resolve(&r.id.to_string())
            .ok()
            .and_then(|i| i.config.config.and_then(|c| c.labels))
            .unwrap_or_default()
    };
    // A build's steps, unnamed, under later ones: docker shows them with -a.
    let intermediate = if a.all {
        Default::default()
    } else {
        berth::build::cache::parents(&g.root)
    };
    let mut rows = Vec::new();
    for r in &recs {
        if r.names.is_empty() && intermediate.contains(r.id.hex()) {
            continue;
        }
        let keep = fs.iter().all(|f| match f {
            Filter::Dangling(d) => r.names.is_empty() == *d,
            Filter::Label(k, v) => labels(r)
                .get(k)
                .is_some_and(|x| v.as_ref().is_none_or(|v| v == x)),
            Filter::Before(t) => order[&r.id] < *t,
            Filter::Since(t) => order[&r.id] > *t,
            // Per name, below.
            Filter::Reference(_) => true,
        });
        if !keep {
            continue;
        }
        let created = r.created.as_deref().and_then(time::parse_rfc3339);
        let names: Vec<Option<&String>> = if r.names.is_empty() {
            vec![None]
        } else {
            r.names.iter().map(Some).collect()
        };
        for n in names {
            if let Some(f) = &filter {
                if n.is_none_or(|n| {
                    let (repo, tag) = split_name(n);
                    repo != f.name() || want_tag.as_deref().is_some_and(|t| t != tag)
                }) {
                    continue;
                }
            }
            let referenced = |p: &str| {
                n.map(|n| familiar(n)).is_some_and(|n| {
                    glob(p.as_bytes(), n.as_bytes())
                        || glob(p.as_bytes(), split_name(n).0.as_bytes())
                })
            };
            if !fs.iter().all(|f| match f {
                Filter::Reference(p) => referenced(p),
                _ => true,
            }) {
                continue;
            }
            let (repo, tag) = n
                .map(|n| split_name(familiar(n)))
                .unwrap_or(("<none>", "<none>"));
            let digest = r
                .repo_digests
                .iter()
                .find(|d| familiar(d).starts_with(&format!("{repo}@")))
                .and_then(|d| d.split_once('@'))
                .map(|x| x.1.to_string());
            rows.push((repo.to_string(), tag.to_string(), r, created, digest));
        }
    }
    if let Some(f) = &a.format {
        let v: Vec<_> = rows
            .iter()
            .map(|(repo, tag, r, created, digest)| {
                serde_json::json!({
                    "Id": r.id, "ID": r.id.short(), "Repository": repo, "Tag": tag,
                    "Digest": digest.clone().unwrap_or_else(|| "<none>".into()),
                    "Names": r.names, "Created": r.created, "CreatedAt": created,
                    "Size": super::output::size(r.size, false),
                })
            })
            .collect();
        if f == "json" {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            berth::format::print_rows(f, &v, &|f| match f {
                "ID" | "Id" => Some("IMAGE ID"),
                "CreatedSince" => Some("CREATED"),
                _ => None,
            })?;
        }
        return Ok(());
    }
    if a.quiet {
        // One line per row, an id repeated for each of its tags, as docker.
        for (_, _, r, _, _) in &rows {
            println!("{}", r.id.short());
        }
        return Ok(());
    }
    let mut table: Vec<Vec<String>> = vec![];
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    table.push(head.iter().map(|s| s.to_string()).collect());
    for (repo, tag, r, created, digest) in &rows {
        let mut row = vec![repo.clone(), tag.clone()];
        if a.digests {
            row.push(digest.clone().unwrap_or_else(|| "<none>".into()));
        }
        row.push(r.id.short().to_string());
        row.push(created.map(time::ago).unwrap_or_else(|| "N/A".into()));
        row.push(super::output::size(r.size, false));
        table.push(row);
    }
    super::output::print_table(&table);
    Ok(())
}
