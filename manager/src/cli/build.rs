//! `build`: an image from a Dockerfile (see berth::build).

use anyhow::Context;
use berth::build::{self, BuildError, BuildOptions, ContextSource};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Name and optionally a tag, NAME[:TAG] (repeatable)
    #[arg(short, long = "tag")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short, long = "file")]
    pub file: Option<PathBuf>,
    /// A build-time variable, KEY=VALUE or KEY (from the environment)
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// The stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache
    #[arg(long)]
    pub no_cache: bool,
    /// A label for the image, KEY=VALUE (repeatable)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Print only the image id
    #[arg(short, long)]
    pub quiet: bool,
    /// The network of RUN: bridge, none or host
    #[arg(long)]
    pub network: Option<String>,
    /// Always pull the FROM images, even those the store has
    #[arg(long)]
    pub pull: bool,
    /// Write the image id to this file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// A directory, or - for a tar on stdin
    pub context: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let o = BuildOptions {
        dockerfile: a.file,
        tags: a.tags,
        build_args: a
            .build_args
            .iter()
            .map(|b| match b.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (b.clone(), std::env::var(b).ok()),
            })
            .collect(),
        target: a.target,
        no_cache: a.no_cache,
        quiet: a.quiet,
        network: a.network,
        labels: a
            .labels
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        pull: a.pull,
        auth_file: std::env::var_os("BERTH_AUTH_FILE").map(PathBuf::from),
    };
    if let Some(p) = &a.iidfile {
        // docker removes a stale one first, so a failed build leaves none.
        let _ = std::fs::remove_file(p);
    }
    let src = if a.context == "-" {
        ContextSource::Tar(Box::new(std::io::stdin()))
    } else {
        let d = PathBuf::from(&a.context);
        if !d.is_dir() {
            anyhow::bail!("unable to prepare context: path {:?} not found", a.context);
        }
        ContextSource::Dir(d)
    };
    let mut out = std::io::stdout();
    match build::build(&g.root, src, &o, &mut out) {
        Ok(id) => {
            if let Some(p) = &a.iidfile {
                berth_common::fs::write_atomic(p, id.to_string().as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            Ok(())
        }
        Err(BuildError::RunFailed { command, code }) => {
            // docker's CLI exits with the RUN's own code.
            eprintln!("The command '{command}' returned a non-zero code: {code}");
            std::process::exit(code.clamp(1, 255));
        }
        Err(BuildError::Interrupted(sig)) => std::process::exit(128 + sig),
        Err(e) => Err(e.into()),
    }
}
