use anyhow::Context;
use std::io::Write;

#[derive(clap::Args)]
pub struct Args {
    /// Write to a file instead of stdout
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    pub container: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    match &a.output {
        Some(p) => {
            let tmp = p.with_extension("berth-tmp");
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let res =
                berth::container::commit::export(&g.root, &a.container, std::io::BufWriter::new(f))
                    .map_err(anyhow::Error::from)
                    .and_then(|mut w| Ok(w.flush()?));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, p)?;
        }
        None => {
            if nix::unistd::isatty(1).unwrap_or(false) {
                anyhow::bail!("refusing to write a tar to a terminal: use -o FILE or redirect");
            }
            let mut w = berth::container::commit::export(
                &g.root,
                &a.container,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )?;
            w.flush()?;
        }
    }
    Ok(())
}
