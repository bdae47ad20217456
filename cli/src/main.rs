//! `nico-keys`: the command-line client of the management API, for people (bot users, keys,
//! the audit trail) and for a key's holder (`whoami`).
//!
//! An HTTP client only (reqwest on rustls, no AWS SDK): it works against any deployment and
//! against `nico-local`, the same way. `main` parses, runs the command on a single-threaded
//! runtime (one request at a time; a short-lived process needs no more) and turns an error
//! into its message and exit code.

mod api;
mod args;
mod commands;
mod config;
mod error;
mod login;
mod output;
mod when;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let style = anstyle::Style::new().bold().fg_color(Some(anstyle::AnsiColor::Red.into()));
            let _ = writeln!(anstream::stderr(), "{style}error:{style:#} {error}");
            error.exit_code()
        }
    }
}
