#[derive(clap::Args)]
pub struct Args {
    /// CONTAINER:PATH, a host path, or - (a tar on stdin)
    pub source: String,
    /// CONTAINER:PATH, a host path, or - (a tar on stdout)
    pub dest: String,
}

fn split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    use berth::container::cp;
    match (split(&a.source), split(&a.dest)) {
        (Some((c, p)), None) if a.dest == "-" => {
            let out = std::io::stdout().lock();
            let mut out = cp::tar_from_container(&g.root, c, p, std::io::BufWriter::new(out))?;
            std::io::Write::flush(&mut out)?;
        }
        (None, Some((c, p))) if a.source == "-" => {
            cp::tar_to_container(&g.root, std::io::stdin().lock(), c, p)?
        }
        (Some((c, p)), None) => cp::from_container(&g.root, c, p, std::path::Path::new(&a.dest))?,
        (None, Some((c, p))) => cp::to_container(&g.root, std::path::Path::new(&a.source), c, p)?,
        _ => anyhow::bail!("exactly one of the source and the destination must be CONTAINER:PATH"),
    }
    Ok(())
}
