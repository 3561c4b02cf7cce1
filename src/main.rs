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
    tune_allocator();
    quiet_broken_pipe();
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

/// The exit status of a command whose standard output was closed under it (`mtl data | head`):
/// 128 + SIGPIPE, what the shell reports for a tool the signal stopped.
const BROKEN_PIPE_EXIT: i32 = 141;

/// End quietly when standard output is closed under the command, as a Unix tool stopped by
/// SIGPIPE does: Rust ignores the signal, so `println!` panics with "Broken pipe" instead, and
/// the workspace forbids the `unsafe` that would restore the signal. Every file a command
/// writes is written atomically, so stopping there loses nothing.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = (payload.downcast_ref::<String>().map(String::as_str))
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        default(info);
    }));
}

/// glibc's allocator settings the process runs with (see [`tune_allocator`]).
const MALLOC_SETTINGS: [(&str, &str); 2] =
    [("MALLOC_MMAP_THRESHOLD_", "1073741824"), ("MALLOC_TRIM_THRESHOLD_", "1073741824")];

/// Keep large buffers in the allocator's heap instead of mapping fresh pages for each one.
///
/// glibc serves an allocation above its mmap threshold (dynamic, 128 KiB to 32 MiB) with a fresh
/// mapping, whose pages fault in one by one and are unmapped on free. A step that updates the
/// 10^6-row embedding tables of a click-log model allocates buffers of ~32 MB many times over;
/// depending on the heap's history (which thread allocated, what the data loading freed) they
/// were mapped afresh every step: the same epoch took 55 s in one run and 72–80 s in another
/// (BENCHMARKS.md, issue 18). Fixed thresholds of 1 GiB (freed memory kept for reuse) made
/// every run take the fast path (54.8 and 56.1 s). glibc reads them from the environment when
/// the process starts, and the workspace forbids `unsafe` (`mallopt`), so the binary sets them
/// and executes itself once more; a user's own `MALLOC_*` or `GLIBC_TUNABLES` settings win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    let set = |name: &str| std::env::var_os(name).is_some();
    if set("GLIBC_TUNABLES") || MALLOC_SETTINGS.iter().any(|(name, _)| set(name)) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        again.arg0(arg0);
    }
    again.args(args).envs(MALLOC_SETTINGS);
    // `exec` returns only when it failed: then run as started.
    let _ = again.exec();
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

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
