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

/// docker's exit code for a container that could not start: 127 when its
/// command is not there, 126 when it cannot be run, else 125. docker reads
/// it from the runtime's error text, and so do we (the exec's own words).
fn start_failure_code(msg: &str) -> i32 {
    let exec = msg.contains("exec: ");
    if msg.contains("executable file not found")
        || exec && msg.contains("no such file or directory")
    {
        127
    } else if exec && msg.contains("permission denied") {
        126
    } else {
        125
    }
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::errors_exit_125();
    let (c, o) = super::create::create(g, &a.flags)?;
    let started = match lifecycle::start(&g.root, &c, !a.detach) {
        Ok(s) => s,
        Err(e) => {
            // A command that is not there or cannot run leaves the container
            // Created, as docker (--rm takes it); any other failure to start
            // (a port in use, a bad network) leaves nothing, as bad input.
            let e = anyhow::Error::from(e);
            let line = super::error_line(&e);
            let code = start_failure_code(&line);
            if c.auto_remove || code == 125 {
                let _ = lifecycle::remove(&g.root, &c.id, true, true);
                if let Some(p) = &a.flags.cidfile {
                    let _ = std::fs::remove_file(p);
                }
            }
            eprintln!("berth: {line}");
            std::process::exit(code);
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
