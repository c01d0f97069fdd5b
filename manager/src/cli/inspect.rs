use berth::image::store::Store;

#[derive(clap::Args)]
pub struct Args {
    /// Go-template subset, e.g. '{{.Id}}' or '{{json .Config}}', one line per image
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only objects of this type: container, image, network or volume
    #[arg(long = "type", value_parser = ["container", "image", "network", "volume"])]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub use berth::image::inspect::to_json;

/// One object named `name`, looked for in docker's order (containers
/// first: a container name never parses as an image id), or only among
/// `kind`.
fn find(
    g: &super::Globals,
    store: &Store,
    name: &str,
    kind: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let want = |k: &str| kind.is_none_or(|x| x == k);
    if want("container") {
        if let Some(c) = super::container::find_for_inspect(g, name)? {
            return Ok(c);
        }
    }
    if want("image") {
        match store.resolve(name) {
            Ok(i) => return Ok(to_json(store, &i)),
            Err(e) if kind.is_some() => return Err(e.into()),
            Err(_) => {}
        }
    }
    if want("network") {
        if let Ok(n) = berth::network::docker::find(&g.root, name) {
            return Ok(berth::network::docker::inspect_json(&n));
        }
    }
    if want("volume") {
        if let Ok(v) = berth::volume::VolumeStore::open(&g.root).and_then(|vs| vs.get(name)) {
            return Ok(serde_json::to_value(v)?);
        }
    }
    match kind {
        Some(k) => anyhow::bail!("no such {k}: {name}"),
        None => anyhow::bail!("no such object: {name}"),
    }
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for i in &a.images {
        match find(g, &store, i, a.kind.as_deref()) {
            Ok(v) => out.push(v),
            Err(e) => missing.push(e),
        }
    }
    // As docker: what was found is printed (an empty list too), then one
    // line for each name that was not.
    super::network::print_inspect(&out, a.format.as_deref())?;
    let last = missing.pop();
    for e in missing {
        eprintln!("berth: {}", super::error_line(&e));
    }
    last.map_or(Ok(()), Err)
}
