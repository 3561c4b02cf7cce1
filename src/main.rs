//! The `mtl` binary: parse the command line, run the command, map errors to exit codes
//! (0 success, 1 training failed, 2 bad input).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mtl_train::cli::Cli::parse();
    match mtl_train::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("error: {e:#}");
            let code = e.downcast_ref::<mtl_train::Error>().map_or(1, mtl_train::Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}
