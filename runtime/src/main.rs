//! berth-runtime: runc's command line over the berth_runtime library.

mod cli;
mod logging;

use clap::Parser;

// musl's malloc maps and unmaps pages for every few small allocations: clap
// and serde alone spent ~30 ms in mmap/munmap before `run` did any work.
// dlmalloc keeps freed memory for reuse. (Static glibc's malloc is fine.)
// Its one global lock is safe across our forks: the runtime has no threads.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() {
    // The container's init re-executes us (a read-only bind mount of this
    // binary, or a sealed memfd copy): no clap, no logger setup, straight to
    // the code that runs inside the container.
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
