//! berth-shim: one small process per container (or per exec session) that
//! owns the container's stdio, its log file and its exit status, so that the
//! manager can exit as soon as the container is created.
//!
//! It talks to the OCI runtime only through runc's command line, so any
//! runc-compatible runtime (runc, crun, berth-runtime) can be plugged in.
//!
//! ```text
//!  caller (manager)        shim P0 (foreground)      P1          P2 (the shim daemon)              runtime
//!  ----------------        --------------------      --          -------------------               -------
//!  berth-shim create ...──▶ check args, lock DIR
//!                          pipe(sync), fork ───────▶ setsid
//!                                                    fork ──────▶ subreaper, stdio->/dev/null,
//!                                                    exit(0)      close inherited fds,
//!                          waitpid(P1)                            signalfd, bind DIR/attach,
//!                                                                 pipes or console socket
//!                                                                 RUNTIME create ... ID ─────────▶ forks init
//!                                                                 (tty: recv pty master) ◀──────── SCM_RIGHTS
//!                                                                 [--start: RUNTIME start ID] ───▶
//!                          read sync ◀─────────────────────────── {"pid":N,"shim_pid":M}
//!  stdout line, exit 0 ◀── or {"error":"<runtime stderr, verbatim>"} + exit 1
//!
//!                                                                 poll loop: output -> log + clients,
//!  berth-shim attach DIR ─── unix socket DIR/attach (frames) ───▶ clients -> stdin / resize / signal,
//!  berth-shim kill DIR SIG ─────────────────────────────────────▶ SIGCHLD -> reap everything
//!                                                                 init exits: drain output,
//!                                                                 [--rm: RUNTIME delete --force ID],
//!                                                                 write DIR/exit (temp+rename),
//!                                                                 send exit frame to clients, exit
//! ```
//!
//! The shim is single-threaded from start to end, so forking is always safe.
//! See README.md in this directory for the file layout of DIR and the wire
//! format of the attach socket.

mod args;
mod attach;
mod client;
mod daemon;
mod exit;
mod io;
mod log;
mod runtime;
mod sock;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            eprintln!("{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        args::Command::Help => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        args::Command::Run(opts) => daemon::run(*opts),
        args::Command::Attach(opts) => client::attach(opts),
        args::Command::Kill { dir, signal } => client::kill(&dir, signal).map(|_| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("berth-shim: {e:#}");
            ExitCode::from(125)
        }
    }
}
