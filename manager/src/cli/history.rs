use berth::image::time;

#[derive(clap::Args)]
pub struct Args {
    pub image: String,
    /// Show full ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(short, long)]
    pub quiet: bool,
    /// Go template (fields ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment)
    #[arg(long)]
    pub format: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let img = store.resolve(&a.image)?;
    // Non-empty history entries map, in order, onto the layers.
    let mut sizes = img
        .record
        .chain_ids
        .iter()
        .map(|c| store.layer_meta(c).map(|m| m.size).unwrap_or(0));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for h in &img.config.history {
        let size = if h.empty_layer {
            0
        } else {
            sizes.next().unwrap_or(0)
        };
        let by = h.created_by.clone().unwrap_or_default();
        let by = if a.no_trunc || by.chars().count() <= 45 {
            by
        } else {
            format!("{}…", by.chars().take(44).collect::<String>())
        };
        rows.push(vec![
            "<missing>".into(),
            h.created
                .as_deref()
                .and_then(time::parse_rfc3339)
                .map(time::ago)
                .unwrap_or_else(|| "N/A".into()),
            by,
            super::output::size(size, false),
            h.comment.clone().unwrap_or_default(),
        ]);
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top[0] = if a.no_trunc {
            img.record.id.to_string()
        } else {
            img.record.id.short().to_string()
        };
    }
    if a.quiet {
        rows.iter().for_each(|r| println!("{}", r[0]));
        return Ok(());
    }
    if let Some(f) = &a.format {
        let created: Vec<String> = img
            .config
            .history
            .iter()
            .rev()
            .map(|h| h.created.clone().unwrap_or_default())
            .collect();
        let v: Vec<serde_json::Value> = rows
            .iter()
            .zip(created)
            .map(|(r, at)| {
                serde_json::json!({"ID": r[0], "CreatedSince": r[1], "CreatedAt": at,
                    "CreatedBy": r[2], "Size": r[3], "Comment": r[4]})
            })
            .collect();
        berth::format::print_rows(f, &v, &|f| match f {
            "ID" => Some("IMAGE"),
            "CreatedSince" => Some("CREATED"),
            _ => None,
        })?;
        return Ok(());
    }
    rows.insert(
        0,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    );
    super::output::print_table(&rows);
    Ok(())
}
