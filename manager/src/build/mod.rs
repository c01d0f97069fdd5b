//! `berth build`: images from a Dockerfile and a context, step by step as
//! docker's classic builder makes them.
//!
//! ```text
//! parser  (text -> instructions)   shell (variable substitution)
//!    \                               /
//!     builder: stages, one step at a time ── cache (parent + created_by -> image)
//!        |-- config-only steps: a new config, `#(nop)` history, empty_layer
//!        |-- COPY/ADD: copy (context + .dockerignore -> layer tar)
//!        `-- RUN: run (a container through the shim and the runtime; its
//!            upper dir -> layer tar, as `commit` writes it)
//!     every layer goes through the image store's ingest_layer
//! ```
//!
//! Progress goes to a sink the caller gives (the CLI's stdout; an API
//! server's response), never to stdout directly.

pub mod builder;
pub mod cache;
pub mod context;
pub mod copy;
pub mod fetch;
pub mod gofmt;
pub mod parser;
pub mod run;
pub mod shell;

use crate::image::digest::Digest;
use crate::image::store::Store;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("dockerfile parse error line {line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error(transparent)]
    Shell(#[from] shell::ShellError),
    #[error("COPY failed: {0}")]
    Copy(String),
    /// docker's words, which scripts look for.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error("the build was interrupted by signal {0}")]
    Interrupted(i32),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    #[error(transparent)]
    Registry(#[from] crate::image::registry::RegistryError),
    #[error("{0}")]
    Other(String),
}

pub enum ContextSource {
    Dir(PathBuf),
    /// A tar (maybe gzip or zstd) with the Dockerfile inside: `build -`.
    Tar(Box<dyn Read>),
}

#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// `-f`: a host path for a directory context, a path inside a tar one.
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--build-arg K=V`, or `K` alone (the value from our environment; None if unset).
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub quiet: bool,
    pub network: Option<String>,
    pub labels: Vec<(String, String)>,
    /// `--pull`: pull every FROM image, even one the store has.
    pub pull: bool,
    /// Credentials for the pulls of FROM images (default: the store's auth.json).
    pub auth_file: Option<PathBuf>,
}

/// Builds and names the image; its id.
pub fn build(
    root: &Path,
    src: ContextSource,
    o: &BuildOptions,
    out: &mut dyn Write,
) -> Result<Digest, BuildError> {
    let store = Store::open(root)?;
    if let Some(n) = &o.network {
        if !matches!(n.as_str(), "none" | "host" | "bridge" | "default") {
            return Err(BuildError::Other(format!(
                "invalid --network {n:?}: expected bridge, none or host"
            )));
        }
    }
    let mut names = Vec::new();
    for t in &o.tags {
        let r = store.parse_reference(t)?;
        names.push(
            r.tagged_name().ok_or_else(|| {
                BuildError::Other(format!("invalid tag {t:?}: expected NAME[:TAG]"))
            })?,
        );
    }
    let _w = store.writer_lock()?;
    run::reap_orphans(root);
    let (ctx, text) = match src {
        ContextSource::Dir(d) => {
            let ctx = context::Context::dir(&d)?;
            let text = match &o.dockerfile {
                Some(f) => std::fs::read(f).map_err(|source| BuildError::Io {
                    what: format!("reading the Dockerfile {}", f.display()),
                    source,
                })?,
                None => ctx.read("Dockerfile", 16 << 20)?.ok_or_else(|| {
                    BuildError::Other(format!(
                        "cannot find the Dockerfile: {}/Dockerfile does not exist",
                        d.display()
                    ))
                })?,
            };
            (ctx, text)
        }
        ContextSource::Tar(r) => {
            let ctx = context::Context::tar(r, store.tmp_path("build-context"))?;
            let name = o
                .dockerfile
                .clone()
                .unwrap_or_else(|| PathBuf::from("Dockerfile"));
            let text = ctx
                .read(&name.to_string_lossy(), 16 << 20)?
                .ok_or_else(|| {
                    BuildError::Other(format!(
                        "cannot find the Dockerfile {} in the context tar",
                        name.display()
                    ))
                })?;
            (ctx, text)
        }
    };
    let df = parser::parse(&String::from_utf8_lossy(&text))?;
    let mut b = builder::Builder::new(root, Store::open(root)?, ctx, o, out);
    let img = b.run(&df)?;
    let id = img.record.id.clone();
    if !names.is_empty() {
        store.commit_image(&img.record.manifest, &names, None)?;
    }
    if o.quiet {
        let _ = writeln!(out, "{id}");
    } else {
        let _ = writeln!(out, "Successfully built {}", &id.hex()[..12]);
        for t in &o.tags {
            let shown = if t.rsplit('/').next().is_some_and(|l| l.contains(':')) {
                t.clone()
            } else {
                format!("{t}:latest")
            };
            let _ = writeln!(out, "Successfully tagged {shown}");
        }
    }
    Ok(id)
}
