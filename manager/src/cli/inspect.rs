#[derive(clap::Args)]
pub struct Args {
    /// Go-template subset, e.g. '{{.Id}}' or '{{json .Config}}', one line per image
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub use berth::image::inspect::to_json;

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let mut out = Vec::new();
    for i in &a.images {
        // Containers first, as docker does: a container name never parses as an image id.
        if let Some(c) = super::container::find_for_inspect(g, i)? {
            out.push(c);
            continue;
        }
        out.push(to_json(&store, &store.resolve(i)?));
    }
    match &a.format {
        Some(f) => {
            for v in &out {
                println!("{}", berth::format::render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}
