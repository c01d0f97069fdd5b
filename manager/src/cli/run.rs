//! `run`: `create`, then `start`, attached unless `-d`.

use super::create::CreateFlags;
use berth::container::lifecycle;

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Run in the background and print the container id
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let (c, o) = super::create::create(g, &a.flags)?;
    let started = match lifecycle::start(&g.root, &c, !a.detach) {
        Ok(s) => s,
        Err(e) => {
            // docker leaves a failed run's container behind; a clean slate is kinder.
            let _ = lifecycle::remove(&g.root, &c.id, true, true);
            if let Some(p) = &a.flags.cidfile {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.into());
        }
    };
    match started.attach {
        None => {
            println!("{}", c.id);
            Ok(())
        }
        Some(sock) => {
            match lifecycle::finish_attached(&g.root, &started.container, sock, o.interactive)? {
                Some(code) => super::exit_with(code),
                None => Ok(()),
            }
        }
    }
}
