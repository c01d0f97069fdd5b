//! runc's command line. One file per verb: arguments only; the work is in
//! the berth_runtime library.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version,
    // runc's shape ("NAME version X" then "spec: Y"): dockerd and podman
    // parse the version out of it and warn on anything else.
    long_version = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.1"),
    about = "A runc-compatible OCI container runtime",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct Global {
    /// Directory for the state of containers
    #[arg(long, global = true, default_value = berth_runtime::state::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported: this is an error)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for compatibility with runc (before the verb); rootless mode is detected
    #[arg(long = "rootless", hide = true)]
    pub rootless_mode: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a container from a bundle
    Create(create::Args),
    /// Run the process of a created container
    Start(start::Args),
    /// Print the state of a container as JSON
    State(state::Args),
    /// Send a signal to a container's init (or all its processes)
    Kill(kill::Args),
    /// Delete a stopped container (or kill and delete with --force)
    Delete(delete::Args),
    /// Create, start and wait for a container
    Run(run::Args),
    /// List containers
    List(list::Args),
    /// Write a default config.json
    Spec(spec::Args),
    /// Print the features this runtime supports as JSON
    Features(features::Args),
    /// Run a process in a running container
    Exec(exec::Args),
    /// List the processes of a container
    Ps(ps::Args),
    /// Freeze all processes of a container
    Pause(pause::PauseArgs),
    /// Thaw a paused container
    Resume(pause::PauseArgs),
    /// Print container events (with --stats, resource usage once)
    Events(events::Args),
    /// Change the resource limits of a running container
    Update(update::Args),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if cli.global.systemd_cgroup {
        anyhow::bail!("--systemd-cgroup: the systemd cgroup manager is not supported by berth-runtime (it drives cgroupfs directly)");
    }
    let g = &cli.global;
    match cli.command {
        Command::Create(a) => create::run(g, a),
        Command::Start(a) => start::run(g, a),
        Command::State(a) => state::run(g, a),
        Command::Kill(a) => kill::run(g, a),
        Command::Delete(a) => delete::run(g, a),
        Command::Run(a) => run::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::Spec(a) => spec::run(g, a),
        Command::Features(a) => features::run(g, a),
        Command::Exec(a) => exec::run(g, a),
        Command::Ps(a) => ps::run(g, a),
        Command::Pause(a) => pause::pause(g, a),
        Command::Resume(a) => pause::resume(g, a),
        Command::Events(a) => events::run(g, a),
        Command::Update(a) => update::run(g, a),
    }
}
