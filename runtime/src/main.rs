//! berth-runtime: runc's command line over the berth_runtime library.

mod cli;
mod logging;

use clap::Parser;

fn main() {
    // The container's init re-executes us from a sealed memfd: no clap, no
    // logger setup, straight to the code that runs inside the container.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init") {
        berth_runtime::init::main();
    }
    let cli = cli::Cli::parse();
    logging::init(&cli.global);
    let code = match cli::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            logging::error(&msg);
            1
        }
    };
    std::process::exit(code);
}
