//! `berth image <verb>`: docker's image command group.

use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand)]
pub enum Verb {
    /// List images
    #[command(alias = "list")]
    Ls(super::images::Args),
    /// Show low-level information on images
    Inspect(super::inspect::Args),
    /// Remove images
    Rm(super::rmi::Args),
    /// Remove unused images
    Prune(PruneArgs),
    /// Show the history of an image
    History(super::history::Args),
    /// Give an image another name
    Tag(super::tag::Args),
    /// Import a rootfs tarball
    Import(super::import::Args),
    /// Load images from an archive
    Load(super::load::Args),
    /// Save images to an archive
    Save(super::save::Args),
    /// Pull an image from a registry
    Pull(super::pull::Args),
    /// Push an image to a registry
    Push(super::push::Args),
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only untagged ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask (berth never asks; accepted for docker compatibility)
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    match a.command {
        Verb::Ls(a) => super::images::run(g, a),
        Verb::Inspect(mut a) => {
            a.kind.get_or_insert_with(|| "image".into());
            super::inspect::run(g, a)
        }
        Verb::Rm(a) => super::rmi::run(g, a),
        Verb::History(a) => super::history::run(g, a),
        Verb::Tag(a) => super::tag::run(g, a),
        Verb::Import(a) => super::import::run(g, a),
        Verb::Load(a) => super::load::run(g, a),
        Verb::Save(a) => super::save::run(g, a),
        Verb::Pull(a) => super::pull::run(g, a),
        Verb::Push(a) => super::push::run(g, a),
        Verb::Prune(p) => {
            let removed = g.store()?.prune(p.all)?;
            for id in &removed {
                println!("Deleted: {id}");
            }
            println!("Total images removed: {}", removed.len());
            Ok(())
        }
    }
}
