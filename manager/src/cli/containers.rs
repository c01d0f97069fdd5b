//! The container verbs, flattened into berth's top-level commands (and the
//! `container` group), each parsed in its own file.

use clap::Subcommand;

/// The verbs on containers, written once: flattened into berth's top level
/// and into the `container` group.
#[derive(Subcommand)]
pub enum Verb {
    /// Create and start a container
    Run(Box<super::run::Args>),
    /// Create a container without starting it
    Create(Box<super::create::Args>),
    /// Start stopped containers
    Start(super::start::Args),
    /// Stop running containers (stop signal, then SIGKILL)
    Stop(super::stop::Args),
    /// Send a signal to running containers
    Kill(super::kill::Args),
    /// Restart containers
    Restart(super::restart::Args),
    /// Freeze every process of containers
    Pause(super::pause::Args),
    /// Thaw paused containers
    Unpause(super::pause::Args),
    /// Change the limits or restart policy of containers
    Update(super::update::Args),
    /// Remove containers
    Rm(super::rm::Args),
    /// Show a container's output
    Logs(super::logs::Args),
    /// Run a command in a running container
    Exec(super::exec::Args),
    /// Attach to a running container's stdio
    Attach(super::attach::Args),
    /// Wait for containers to stop; print their exit codes
    Wait(super::wait::Args),
    /// Show the processes of a container
    Top(super::top::Args),
    /// Rename a container
    Rename(super::rename::Args),
    /// Make an image of a container's changes
    Commit(super::commit::Args),
    /// Show the files a container changed
    Diff(super::diff::Args),
    /// Write a container's filesystem as a tar
    Export(super::export::Args),
    /// Copy files between a container and the host
    Cp(super::cp::Args),
    /// Show containers' resource usage
    Stats(super::stats::Args),
    /// Show a container's published ports
    Port(super::port::Args),
}

pub fn run_verb(g: &super::Globals, v: Verb) -> anyhow::Result<()> {
    match v {
        Verb::Run(a) => super::run::run(g, *a),
        Verb::Create(a) => super::create::run(g, *a),
        Verb::Start(a) => super::start::run(g, a),
        Verb::Stop(a) => super::stop::run(g, a),
        Verb::Kill(a) => super::kill::run(g, a),
        Verb::Restart(a) => super::restart::run(g, a),
        Verb::Pause(a) => super::pause::pause(g, a),
        Verb::Unpause(a) => super::pause::unpause(g, a),
        Verb::Update(a) => super::update::run(g, a),
        Verb::Rm(a) => super::rm::run(g, a),
        Verb::Logs(a) => super::logs::run(g, a),
        Verb::Exec(a) => super::exec::run(g, a),
        Verb::Attach(a) => super::attach::run(g, a),
        Verb::Wait(a) => super::wait::run(g, a),
        Verb::Top(a) => super::top::run(g, a),
        Verb::Rename(a) => super::rename::run(g, a),
        Verb::Commit(a) => super::commit::run(g, a),
        Verb::Diff(a) => super::diff::run(g, a),
        Verb::Export(a) => super::export::run(g, a),
        Verb::Cp(a) => super::cp::run(g, a),
        Verb::Stats(a) => super::stats::run(g, a),
        Verb::Port(a) => super::port::run(g, a),
    }
}

/// The top-level commands about containers and the host: the verbs, and
/// what docker has only at the top (`ps`) or as groups.
#[derive(Subcommand)]
pub enum Command {
    #[command(flatten)]
    Verb(Verb),
    /// List containers
    Ps(super::ps::Args),
    /// Manage containers
    Container(super::container::Args),
    /// Manage volumes
    Volume(super::volume::Args),
    /// System-wide information
    System(super::system::Args),
    /// Show berth's version
    Version(super::version::Args),
    /// Show system information
    Info(super::info::Args),
    /// Show what berth did: containers, images, networks, volumes
    Events(super::events::Args),
    /// Run by a container's shim when it exits: applies its restart policy
    #[command(hide = true)]
    InternalExited { id: String },
    /// Run at each start of a container with a health check: runs the check
    #[command(hide = true)]
    InternalHealth { id: String },
}

pub fn run(g: &super::Globals, c: Command) -> anyhow::Result<()> {
    match c {
        Command::Verb(v) => run_verb(g, v),
        Command::Ps(a) => super::ps::run(g, a),
        Command::Events(a) => super::events::run(g, a),
        Command::InternalHealth { id } => Ok(berth::container::health::monitor(&g.root, &id)?),
        // Our stderr is the shim's log: a failed restart is told there.
        Command::InternalExited { id } => berth::container::lifecycle::on_exit(&g.root, &id)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("restart of {id}: {e}")),
        Command::Container(a) => super::container::run(g, a),
        Command::Volume(a) => super::volume::run(g, a),
        Command::System(a) => super::system::run(g, a),
        Command::Version(a) => super::version::run(g, a),
        Command::Info(a) => super::info::run(g, a),
    }
}
