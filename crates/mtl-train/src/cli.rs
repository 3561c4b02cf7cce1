//! The command line: argument definitions and the commands they run.
//!
//! Exit codes (returned by [`Error::exit_code`]): 0 success, 1 training failed (e.g. a NaN
//! loss), 2 bad input (config, data, checkpoint, backend choice, arguments).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::backend::{BackendChoice, list_devices, select_device};
use crate::bench::{BenchOptions, run_bench};
use crate::config::RunConfig;
use crate::error::Error;
use crate::trainer::{TrainOptions, train};

/// mtl — multi-task deep learning from a TOML file.
#[derive(Debug, Parser)]
#[command(name = "mtl", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Backend selection, shared by the commands that compute.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Where to compute: a GPU through wgpu, or the flex / ndarray CPU backends.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Which GPU (see `mtl devices`).
    #[arg(long)]
    pub device: Option<usize>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model from a config file (or continue a run with --resume).
    Train {
        /// The TOML config (not needed with --resume, which reads RUN_DIR/config.toml).
        #[arg(required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Override a config key, e.g. --set train.epochs=5 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Run folder (default: <run.output_dir>/<run.name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in this folder from its last checkpoint.
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "out", "overwrite"])]
        resume: Option<PathBuf>,
        /// Replace an existing run folder.
        #[arg(long)]
        overwrite: bool,
        /// No progress bar or epoch lines.
        #[arg(long, short)]
        quiet: bool,
        /// Backend and device.
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Validate a config file without training.
    Check {
        /// The TOML config.
        config: PathBuf,
        /// Override a config key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List the backends and devices this build can use.
    Devices,
    /// Measure training throughput beside the PyTorch reference.
    Bench(BenchOptions),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Train { config, set, out, resume, overwrite, quiet, backend } => {
            let (config_path, run_dir) = match &resume {
                Some(dir) => (dir.join("config.toml"), Some(dir.clone())),
                None => (config.expect("clap requires CONFIG without --resume"), out),
            };
            let config = RunConfig::from_file(&config_path, &set)?;
            let device = select_device(backend.backend, backend.device)?;
            let options = TrainOptions {
                device,
                quiet,
                run_dir,
                resume: resume.is_some(),
                overwrite,
                stop_after_epoch: None,
            };
            let summary = train(&config, &options)?;
            println!("{}", summary.run_dir.join("summary.json").display());
            Ok(())
        }
        Command::Check { config, set } => {
            let c = RunConfig::from_file(&config, &set)?;
            let tasks: Vec<String> =
                c.tasks.iter().map(|t| format!("{} ({})", t.spec.name, t.spec.kind.name())).collect();
            println!(
                "{}: ok — {} tasks [{}], {} with {} ({}), {} epochs of batch {}, run folder {}",
                config.display(),
                c.tasks.len(),
                tasks.join(", "),
                c.model.architecture.name(),
                c.weighting.name(),
                c.weighting_input.name(),
                c.train.epochs,
                c.train.batch_size,
                c.run_dir().display()
            );
            Ok(())
        }
        Command::Devices => {
            for line in list_devices() {
                println!("{line}");
            }
            Ok(())
        }
        Command::Bench(options) => run_bench(&options),
    }
}
