//! The `mtl` binary: parse the command line, run the command, map errors to exit codes
//! (0 success, 1 training failed, 2 bad input).
//!
//! The app over the `mtl-train` library (as ripgrep's `crates/core` over its libraries):
//! `cli.rs` parses and dispatches, `commands/` holds one module per command, `report/` what
//! people look at (plots, progress bars).

use std::process::ExitCode;

use clap::Parser;

mod args;
mod cli;
mod commands;
mod report;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("error: {e:#}");
            let code = e.downcast_ref::<mtl_train::Error>().map_or(1, mtl_train::Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}
