//! The command line: argument definitions and the commands they run.
//!
//! Exit codes (returned by [`Error::exit_code`]): 0 success, 1 training failed (e.g. a NaN
//! loss), 2 bad input (config, data, checkpoint, backend choice, arguments).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::backend::{BackendChoice, SelectedDevice, list_devices, select_device};
use crate::bench::{BenchOptions, run_bench};
use crate::compare::{CompareArgs, run_compare};
use crate::config::RunConfig;
use crate::error::Error;
use crate::evaluate::json_f64;
use crate::export::{ExportFormat, export};
use crate::io::atomic_write;
use crate::plots::plot_run;
use crate::predict::{InputSchema, default_output, predict, write_predictions};
use crate::runs::{CheckpointChoice, SplitChoice, open_run};
use crate::stl::train_baselines;
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
        /// CSV file with a header naming exactly the run's feature columns (see RUN_DIR/inputs.json);
        /// for a run trained on CSV tables, a file in the training files' format (extra columns
        /// such as labels are ignored).
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
    Affinity(crate::affinity::AffinityArgs),
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
    /// List the backends and devices this build can use.
    Devices,
    /// Measure training throughput beside the PyTorch reference.
    Bench(BenchOptions),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Train { config, set, out, resume, overwrite, single_task, quiet, backend } => {
            let (config_path, run_dir) = match &resume {
                Some(dir) => (dir.join("config.toml"), Some(dir.clone())),
                None => (config.expect("clap requires CONFIG without --resume"), out),
            };
            let config = RunConfig::from_file(&config_path, &set)?;
            let device = select_device(backend.backend, backend.device)?;
            if single_task {
                return train_single_task(&config, run_dir, &device, quiet);
            }
            let options = TrainOptions {
                device,
                quiet,
                run_dir,
                resume: resume.is_some(),
                overwrite,
                stop_after_epoch: None,
                reference: None,
            };
            let summary = train(&config, &options)?;
            println!("{}", summary.run_dir.join("summary.json").display());
            Ok(())
        }
        Command::Eval { run_dir, split, checkpoint, json, backend } => {
            let device = select_device(backend.backend, backend.device)?;
            let run = open_run(&run_dir, checkpoint, &device)?;
            let (e, d) = run.evaluate(split, &device)?;
            if json {
                let out = serde_json::json!({
                    "run_dir": run_dir,
                    "split": split,
                    "checkpoint": checkpoint,
                    "epoch": run.meta.epochs_done,
                    "best_epoch": run.meta.best_epoch,
                    "metrics": e.to_json(&run.config.tasks),
                    "delta": d,
                });
                println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
            } else {
                let epoch = match checkpoint {
                    CheckpointChoice::Best => run.meta.best_epoch,
                    CheckpointChoice::Last => run.meta.epochs_done,
                };
                println!(
                    "{} — {} split, {} checkpoint (epoch {epoch})",
                    run_dir.display(),
                    split.name(),
                    checkpoint.name()
                );
                println!("{:<16} {:<12} {:>12}", "task", "metric", "value");
                for (t, task) in run.config.tasks.iter().enumerate() {
                    println!("{:<16} {:<12} {:>12.6}", task.spec.name, "loss", e.losses[t]);
                    for (k, v) in &e.metrics[t] {
                        println!("{:<16} {:<12} {:>12.6}", task.spec.name, k.name(), v);
                    }
                }
                if let Some(d) = d {
                    println!("vs single-task: Δp {:+.3}%  Δm {:+.3}%", d.delta_p, d.delta_m);
                }
            }
            Ok(())
        }
        Command::Predict { run_dir, input, split, output, checkpoint, backend } => {
            let device = select_device(backend.backend, backend.device)?;
            let schema = InputSchema::load(&run_dir)?;
            let run = open_run(&run_dir, checkpoint, &device)?;
            let output =
                output.unwrap_or_else(|| default_output(&run_dir, input.as_deref(), split.map(|s| s.name())));
            let d = schema.features.len();
            let (features, labels) = match (&input, split) {
                (Some(path), _) => (schema.read_csv(path)?.0, None),
                (None, Some(s)) => {
                    let data = run.split(s)?;
                    (data.features.clone(), Some(data))
                }
                (None, None) => unreachable!("clap requires --input or --split"),
            };
            let outputs = predict(&run.model, &run.config.tasks, &features, d, &device.device);
            write_predictions(&output, &run.config.tasks, &outputs, labels.as_ref())?;
            eprintln!("{} rows predicted", features.len() / d.max(1));
            println!("{}", output.display());
            Ok(())
        }
        Command::Export { run_dir, format: ExportFormat::Safetensors, checkpoint, out } => {
            let device = select_device(BackendChoice::Ndarray, None)?;
            let run = open_run(&run_dir, checkpoint, &device)?;
            let out = out.unwrap_or_else(|| run_dir.join("export"));
            let written = export(&run, &out)?;
            println!("{}", written.weights.display());
            println!("{}", written.description.display());
            Ok(())
        }
        Command::Plot { run_dir } => {
            for path in plot_run(&run_dir)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Compare(args) => run_compare(&args),
        Command::Affinity(args) => crate::affinity::run_affinity(&args),
        Command::Data { config, set, json } => {
            let report = crate::data_report::describe(&RunConfig::from_file(&config, &set)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
            } else {
                for line in report.lines() {
                    println!("{line}");
                }
            }
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

/// `mtl train --single-task`: train (or reuse) one baseline per task and record their
/// metrics in `RUN_DIR/stl.json`.
fn train_single_task(
    config: &RunConfig,
    run_dir: Option<PathBuf>,
    device: &SelectedDevice,
    quiet: bool,
) -> Result<(), Error> {
    let mut dirs = Vec::new();
    let mut announce = |b: &crate::stl::Baseline, trained: bool| {
        if !quiet {
            let what = if trained { "training" } else { "reusing" };
            eprintln!("{what} the single-task baseline of `{}` in {}", b.task, b.run_dir.display());
        }
        dirs.push((b.task.clone(), b.key.clone(), b.run_dir.clone()));
    };
    let reference = train_baselines(config, device, quiet, &mut announce)?;
    let mut tasks = serde_json::Map::new();
    for (t, (task, key, dir)) in dirs.iter().enumerate() {
        let scores = |s: &[(crate::metrics::MetricKind, f64)]| -> serde_json::Value {
            s.iter()
                .map(|(k, v)| (k.name().to_string(), json_f64(*v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        tasks.insert(
            task.clone(),
            serde_json::json!({
                "run_dir": dir,
                "key": key,
                "valid": scores(&reference.valid[t]),
                "test": scores(&reference.test[t]),
            }),
        );
    }
    let dir = run_dir.unwrap_or_else(|| config.run_dir());
    std::fs::create_dir_all(&dir).map_err(crate::error::io(&dir))?;
    let path = dir.join("stl.json");
    atomic_write(&path, &serde_json::to_vec_pretty(&serde_json::Value::Object(tasks)).expect("JSON"))?;
    println!("{}", path.display());
    Ok(())
}
