//! berth: a daemonless docker-like CLI. Each verb parses its arguments in
//! cli/<verb>.rs and calls into the library; there is no daemon, every
//! command works on the store under --root directly, with file locks.

use clap::{Parser, Subcommand};

// musl's malloc maps and unmaps pages for every few small allocations: clap
// and serde alone spent ~30 ms in mmap/munmap before `run` did any work.
// dlmalloc keeps freed memory for reuse. (Static glibc's malloc is fine.)
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

mod cli;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Daemonless container manager",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    globals: cli::Globals,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from a Dockerfile
    Build(cli::build::Args),
    /// List images
    Images(cli::images::Args),
    /// Manage images
    Image(cli::image::Args),
    /// Import a rootfs tarball as a one-layer image
    Import(cli::import::Args),
    /// Show low-level information on images
    Inspect(cli::inspect::Args),
    /// Show the history of an image
    History(cli::history::Args),
    /// Load images from a docker-save or OCI archive
    Load(cli::load::Args),
    /// Log in to a registry
    Login(cli::login::Args),
    /// Log out from a registry
    Logout(cli::logout::Args),
    /// Manage networks
    Network(cli::network::Args),
    /// Pull an image from a registry
    Pull(cli::pull::Args),
    /// Push an image to a registry
    Push(cli::push::Args),
    /// Remove images
    Rmi(cli::rmi::Args),
    /// Save images to a docker-save or OCI archive
    Save(cli::save::Args),
    /// Search a registry for images
    Search(cli::search::Args),
    /// Give an image another name
    Tag(cli::tag::Args),
    /// Serve docker's Engine API on a socket (for docker's CLI, compose, SDKs)
    Serve(cli::serve::Args),
    #[command(flatten)]
    Containers(cli::containers::Command),
}

/// A closed stdout (`berth ... | head -1`) ends berth quietly, by SIGPIPE,
/// as it ends docker: Rust ignores SIGPIPE, so print! panics instead. The
/// signal stays ignored elsewhere: a write to a closed socket (a shim that
/// is done) is an error berth handles, not a death.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            // SAFETY: restoring the default action and raising the signal
            // ends the process at once; nothing else runs.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
        }
        default(info);
    }));
}

fn main() {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    cli.globals.init_logging();
    // A shim's exit command or a health checker may outlive its container,
    // even its whole store (a removed test root): they must not make it again.
    if let Command::Containers(
        cli::containers::Command::InternalExited { id }
        | cli::containers::Command::InternalHealth { id },
    ) = &cli.command
    {
        if !cli.globals.root.join("containers").join(id).exists() {
            return;
        }
    }
    if let Err(e) = cli.globals.ensure_root() {
        eprintln!("berth: {}", cli::error_line(&e));
        std::process::exit(1);
    }
    if matches!(
        cli.command,
        Command::Pull(_) | Command::Push(_) | Command::Load(_) | Command::Import(_)
    ) {
        berth::image::store::clean_tmp_on_signals(&cli.globals.root);
    }
    let res = match cli.command {
        Command::Build(a) => cli::build::run(&cli.globals, a),
        Command::Images(a) => cli::images::run(&cli.globals, a),
        Command::Image(a) => cli::image::run(&cli.globals, a),
        Command::Import(a) => cli::import::run(&cli.globals, a),
        Command::Inspect(a) => cli::inspect::run(&cli.globals, a),
        Command::History(a) => cli::history::run(&cli.globals, a),
        Command::Load(a) => cli::load::run(&cli.globals, a),
        Command::Login(a) => cli::login::run(&cli.globals, a),
        Command::Logout(a) => cli::logout::run(&cli.globals, a),
        Command::Network(a) => cli::network::run(&cli.globals, a),
        Command::Pull(a) => cli::pull::run(&cli.globals, a),
        Command::Push(a) => cli::push::run(&cli.globals, a),
        Command::Rmi(a) => cli::rmi::run(&cli.globals, a),
        Command::Save(a) => cli::save::run(&cli.globals, a),
        Command::Search(a) => cli::search::run(&cli.globals, a),
        Command::Tag(a) => cli::tag::run(&cli.globals, a),
        Command::Serve(a) => cli::serve::run(&cli.globals, a),
        Command::Containers(c) => cli::containers::run(&cli.globals, c),
    };
    if let Err(e) = res {
        eprintln!("berth: {}", cli::error_line(&e));
        std::process::exit(cli::error_exit_code());
    }
}
