#[derive(clap::Args)]
pub struct Args {
    /// Remove even if in use (the names go; the image stays until unused) or multiply named
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let mut failed = None;
    for i in &a.images {
        match store.remove(i, a.force) {
            Ok(lines) => {
                for l in &lines {
                    if let Some(n) = l.strip_prefix("Untagged: ") {
                        berth::events::emit(&g.root, "image", "untag", n, &[("name", n)]);
                        println!("Untagged: {}", berth::image::reference::familiar(n));
                        continue;
                    } else if let Some(d) = l.strip_prefix("Deleted: ") {
                        berth::events::emit(&g.root, "image", "delete", d, &[]);
                    }
                    println!("{l}");
                }
            }
            Err(e) => {
                if a.images.len() > 1 {
                    eprintln!("berth: {e}");
                }
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) if a.images.len() == 1 => Err(e.into()),
        Some(_) => anyhow::bail!("some images could not be removed"),
        None => Ok(()),
    }
}
