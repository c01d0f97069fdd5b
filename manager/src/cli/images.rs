use berth::image::reference::split_name;
use berth::image::time;

#[derive(clap::Args)]
pub struct Args {
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show manifest digests
    #[arg(long)]
    pub digests: bool,
    /// Show all images (the default; accepted for docker compatibility)
    #[arg(short, long)]
    pub all: bool,
    /// "json", or a Go-template subset per image, e.g. '{{.Repository}}:{{.Tag}} {{.ID}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Only images whose repository matches
    pub repository: Option<String>,
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
    let mut rows = Vec::new();
    for r in &recs {
        let created = r.created.as_deref().and_then(time::parse_rfc3339);
        let names: Vec<Option<&String>> = if r.names.is_empty() {
            vec![None]
        } else {
            r.names.iter().map(Some).collect()
        };
        for n in names {
            let (repo, tag) = n.map(|n| split_name(n)).unwrap_or(("<none>", "<none>"));
            if let Some(f) = &filter {
                if repo != f.name() {
                    continue;
                }
            }
            let digest = r
                .repo_digests
                .iter()
                .find(|d| d.starts_with(&format!("{repo}@")))
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
                    "Digest": digest.clone().unwrap_or_else(|| r.manifest.to_string()),
                    "Names": r.names, "Created": r.created, "CreatedAt": created, "Size": r.size,
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
        let mut seen = std::collections::HashSet::new();
        for (_, _, r, _, _) in &rows {
            if seen.insert(&r.id) {
                println!("{}", r.id.short());
            }
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
