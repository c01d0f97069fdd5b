use anyhow::Context;
use berth::image::archive::{self, Format};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// File to write (default: stdout)
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// docker-archive or oci-archive
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => Format::DockerArchive,
        "oci-archive" | "oci" => Format::OciArchive,
        f => anyhow::bail!("unknown format {f:?}: use docker-archive or oci-archive"),
    };
    let store = g.store()?;
    let mut images = Vec::new();
    for i in &a.images {
        let img = store.resolve(i)?;
        let names = super::names_for(&store, i, &img);
        images.push((img, names));
    }
    match &a.output {
        Some(p) => {
            // Write beside the target and rename, so a failed save leaves nothing.
            let tmp = p.with_file_name(format!(
                ".{}.tmp",
                p.file_name().unwrap_or_default().to_string_lossy()
            ));
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let res = archive::save(&store, &images, format, std::io::BufWriter::new(f));
            match res {
                Ok(()) => {
                    std::fs::rename(&tmp, p).with_context(|| format!("writing {}", p.display()))?
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
            }
        }
        None => {
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "refusing to write an archive to a terminal: use -o FILE or a redirect"
                );
            }
            archive::save(
                &store,
                &images,
                format,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )?;
        }
    }
    Ok(())
}
