//! `mongo-emulator` binary: parses the command line, binds, prints the connection URI as the
//! first line of stdout and serves until killed.
#![warn(missing_docs)]

use std::io::Write;
use std::process::ExitCode;

use mongo_emulator::{config::USAGE, parse_args, Cli, Server};

/// Makes SIGINT and SIGTERM terminate the process even if the parent started it with them
/// ignored (a shell's `cmd &` ignores SIGINT), so "run until killed" holds for test harnesses.
#[cfg(unix)]
fn default_termination_signals() {
    // SAFETY: called before any thread is spawned; installing the default disposition touches
    // no Rust state and no handler code runs in signal context.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_termination_signals() {}

fn main() -> ExitCode {
    default_termination_signals();
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Cli::Run(config)) => config,
        Ok(Cli::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mongo-emulator: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("mongo-emulator: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    runtime.block_on(async move {
        let verbose = config.verbose;
        let server = match Server::bind(config).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("mongo-emulator: cannot bind: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{}", server.uri()).and_then(|()| stdout.flush()).is_err() {
            // Nobody reads stdout any more; keep serving anyway.
        }
        drop(stdout);
        if verbose {
            eprintln!("[mongo-emulator] emulator listening on {}", server.uri());
        }
        server.run().await;
        ExitCode::SUCCESS
    })
}
