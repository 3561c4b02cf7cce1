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
    // Under mpirun/srun this joins the job (and must happen before any thread pool starts).
    let world = match mtl_train::parallel::World::from_environment() {
        Ok(world) => world,
        Err(e) => return fail(e, None),
    };
    match cli::run(cli, &world) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e, Some(&world)),
    }
}

/// Report `e` and map it to its exit code. In a job of several processes, the message names
/// the rank and the whole job is ended with the code, so no rank waits for one that stopped.
fn fail(e: mtl_train::Error, world: Option<&mtl_train::parallel::World>) -> ExitCode {
    let e = anyhow::Error::from(e);
    let code = e.downcast_ref::<mtl_train::Error>().map_or(1, mtl_train::Error::exit_code);
    match world.filter(|w| w.is_parallel()) {
        Some(world) => {
            eprintln!("error ({}, on {}): {e:#}", world.label(), world.host());
            world.abort_job(code);
        }
        None => eprintln!("error: {e:#}"),
    }
    ExitCode::from(code as u8)
}
