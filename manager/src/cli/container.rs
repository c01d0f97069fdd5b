//! `berth container <verb>`: docker's container group.

use berth::container::{inspect, lifecycle, ContainerStore};
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand)]
pub enum Verb {
    /// List containers
    #[command(alias = "list")]
    Ls(super::ps::Args),
    /// Show low-level information on containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    #[command(flatten)]
    Verb(super::containers::Verb),
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Go-template subset, e.g. '{{.State.Status}}'
    #[arg(short, long)]
    pub format: Option<String>,
    /// Add SizeRw (the container layer's size)
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask (berth never asks)
    #[arg(short, long)]
    pub force: bool,
}

/// The container's inspect JSON if `name` names one (for the top-level `inspect`).
/// An ambiguous container prefix is an error of its own rather than a miss.
pub fn find_for_inspect(
    g: &super::Globals,
    name: &str,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Ok(cs) = ContainerStore::open(&g.root) else {
        return Ok(None);
    };
    match cs.find(name) {
        Ok(c) => Ok(Some(inspect::to_json(&cs, &c, false))),
        Err(e @ berth::container::ContainerError::Ambiguous(_)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

pub fn inspect(g: &super::Globals, a: InspectArgs) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let mut out = Vec::new();
    for n in &a.containers {
        out.push(inspect::to_json(&cs, &cs.find(n)?, a.size));
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

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    match a.command {
        Verb::Ls(a) => super::ps::run(g, a),
        Verb::Inspect(a) => inspect(g, a),
        Verb::Prune(_) => {
            for id in lifecycle::prune(&g.root)? {
                println!("{id}");
            }
            Ok(())
        }
        Verb::Verb(v) => super::containers::run_verb(g, v),
    }
}
