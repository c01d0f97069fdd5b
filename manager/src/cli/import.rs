use anyhow::Context;
use berth::image::import::{self, ImportOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Rootfs tarball, or "-" for stdin
    pub file: String,
    /// Name for the new image
    pub reference: Option<String>,
    /// Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message for the history
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let names = match &a.reference {
        Some(r) => {
            let r = store.parse_reference(r)?;
            vec![r
                .tagged_name()
                .context("an import name cannot carry a digest")?]
        }
        None => vec![],
    };
    let opts = ImportOptions {
        changes: a.change,
        message: a.message,
        names,
    };
    let img = if a.file == "-" {
        import::import(&store, std::io::stdin().lock(), &opts)?
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?;
        import::import(&store, f, &opts)?
    };
    println!("{}", img.record.id);
    Ok(())
}
