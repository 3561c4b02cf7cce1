//! The command line: argument definitions and their dispatch to `commands/`.
//!
//! Exit codes (returned by [`Error::exit_code`]): 0 success, 1 training failed (e.g. a NaN
//! loss), 2 bad input (config, data, checkpoint, backend choice, arguments, file system, a run
//! folder being written by another process).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use mtl_train::Error;
use mtl_train::backend::{select_device, select_device_for};
use mtl_train::export::ExportFormat;
use mtl_train::parallel::World;
use mtl_train::runs::{CheckpointChoice, SplitChoice};

use crate::args::BackendArgs;
use crate::commands::affinity::AffinityArgs;
use crate::commands::bench::BenchOptions;
use crate::commands::compare::CompareArgs;
use crate::commands::{self, train::TrainArgs};

/// mtl — multi-task deep learning from a TOML file.
#[derive(Debug, Parser)]
#[command(name = "mtl", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
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
        /// Train the single-task baselines (one network per task, same encoder and budget)
        /// instead, or reuse them when they exist; their metrics go to RUN_DIR/stl.json.
        #[arg(long, conflicts_with = "resume")]
        single_task: bool,
        /// No progress bar or epoch lines.
        #[arg(long, short)]
        quiet: bool,
        /// Backend and device.
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Recompute a run's metrics from a checkpoint.
    Eval {
        /// The run folder.
        run_dir: PathBuf,
        /// Which split.
        #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
        split: SplitChoice,
        /// Which checkpoint.
        #[arg(long, value_enum, default_value_t = CheckpointChoice::Best)]
        checkpoint: CheckpointChoice,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Backend and device.
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Write per-task predictions of a run as CSV.
    Predict {
        /// The run folder.
        run_dir: PathBuf,
        /// CSV or Parquet file holding the run's feature columns (see RUN_DIR/inputs.json):
        /// for generated data exactly those columns (an extra one is an error); for a run
        /// trained on CSV tables, a file in the training files' format (extra columns such as
        /// labels are ignored).
        #[arg(long, required_unless_present = "split", conflicts_with = "split")]
        input: Option<PathBuf>,
        /// Predict one of the run's own splits instead (adds TASK_label columns).
        #[arg(long, value_enum)]
        split: Option<SplitChoice>,
        /// Output CSV (default: RUN_DIR/predictions/<input name or split>.csv).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Which checkpoint.
        #[arg(long, value_enum, default_value_t = CheckpointChoice::Best)]
        checkpoint: CheckpointChoice,
        /// Write multiclass predictions as class ids 0..K−1 even where the classes have names.
        #[arg(long)]
        ids: bool,
        /// Backend and device.
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Export a run's weights for other frameworks.
    Export {
        /// The run folder.
        run_dir: PathBuf,
        /// Format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
        format: ExportFormat,
        /// Which checkpoint.
        #[arg(long, value_enum, default_value_t = CheckpointChoice::Best)]
        checkpoint: CheckpointChoice,
        /// Output folder (default: RUN_DIR/export).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Backend and device the weights are read on (the files do not depend on it).
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Draw a run's curves (loss, metrics, task weights, learning rate) into RUN_DIR/plots.
    Plot {
        /// The run folder.
        run_dir: PathBuf,
    },
    /// Compare weighting methods, architectures and config values over seeds, with
    /// single-task baselines, Δm, tables and plots.
    Compare(CompareArgs),
    /// Measure task affinity (gradient cosines, TAG's look-ahead, gate overlap) in a short
    /// training run; with --groups K, choose K task groups and write a config per group.
    Affinity(AffinityArgs),
    /// Validate a config file without training.
    Check {
        /// The TOML config.
        config: PathBuf,
        /// Override a config key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Describe a config's data: labelled samples, missing rate and class balance (or target
    /// mean and std) per task and split, with warnings.
    Data {
        /// The TOML config.
        config: PathBuf,
        /// Override a config key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the embedded generator's samples (`[data.synthetic]`, with its categorical, id and
    /// multi-hot columns) to a CSV or Parquet file.
    Synth {
        /// The TOML config (its data.source must be "synthetic").
        config: PathBuf,
        /// Rows to write (default: `data.synthetic.samples`).
        #[arg(long)]
        rows: Option<usize>,
        /// The file: `….csv`, `….csv.gz` or `….parquet` (the name chooses the format).
        #[arg(long)]
        out: PathBuf,
        /// Override a config key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List the backends and devices this build can use.
    Devices,
    /// Measure training throughput beside the PyTorch reference.
    Bench(BenchOptions),
}

/// Run a parsed command line as one process of `world`.
pub fn run(cli: Cli, world: &World) -> Result<(), Error> {
    if world.is_parallel()
        && !matches!(
            cli.command,
            Command::Train { single_task: false, .. } | Command::Devices | Command::Bench(_)
        )
    {
        return Err(Error::Usage(
            "under mpirun/srun, mtl runs `train` (without --single-task), `devices` and `bench`; run the other \
             commands as one process, without the launcher"
                .into(),
        ));
    }
    match cli.command {
        Command::Train { config, set, out, resume, overwrite, single_task, quiet, backend } => {
            let (config, run_dir) = match &resume {
                Some(dir) => (dir.join("config.toml"), Some(dir.clone())),
                None => (config.expect("clap requires CONFIG without --resume"), out),
            };
            let args =
                TrainArgs { config, set, run_dir, resume: resume.is_some(), overwrite, single_task, quiet };
            // The config is read before the device is chosen, so a bad config is reported first.
            let device = || select_device_for(backend.backend, backend.device, world.local_rank());
            commands::train::run_with(args, device, world)
        }
        Command::Eval { run_dir, split, checkpoint, json, backend } => {
            let device = select_device(backend.backend, backend.device)?;
            commands::eval::run(&run_dir, split, checkpoint, json, &device)
        }
        Command::Predict { run_dir, input, split, output, checkpoint, ids, backend } => {
            let device = select_device(backend.backend, backend.device)?;
            let source = match (input, split) {
                (Some(path), _) => commands::predict::Source::File(path),
                (None, Some(s)) => commands::predict::Source::Split(s),
                (None, None) => unreachable!("clap requires --input or --split"),
            };
            commands::predict::run(&run_dir, source, output, checkpoint, ids, &device)
        }
        Command::Export { run_dir, format, checkpoint, out, backend } => {
            let device = select_device(backend.backend, backend.device)?;
            commands::export::run(&run_dir, format, checkpoint, out, &device)
        }
        Command::Plot { run_dir } => commands::plot::run(&run_dir),
        Command::Synth { config, rows, out, set } => commands::synth::run(&config, &set, rows, &out),
        Command::Compare(args) => commands::compare::run_compare(&args),
        Command::Affinity(args) => commands::affinity::run_affinity(&args),
        Command::Data { config, set, json } => commands::data::run(&config, &set, json),
        Command::Check { config, set } => commands::check::run(&config, &set),
        Command::Devices => commands::devices::run(world),
        Command::Bench(options) => commands::bench::run_bench(&options, world),
    }
}
