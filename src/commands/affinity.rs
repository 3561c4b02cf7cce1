//! `mtl affinity CONFIG`: a short training run that measures task affinity every step, prints
//! the matrices and, with `--groups K`, chooses K task groups and writes one config per group.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::args::BackendArgs;
use mtl_train::affinity::AffinityReport;
use mtl_train::affinity::grouping::best_partition;
use mtl_train::backend::select_device;
use mtl_train::config::RunConfig;
use mtl_train::fit::FitOptions;
use mtl_train::io::atomic_write;
use mtl_train::{Error, io_error as io};

use crate::commands::train::train;

/// Arguments of `mtl affinity`.
#[derive(Debug, Clone, Args)]
pub struct AffinityArgs {
    /// The TOML config.
    pub config: PathBuf,
    /// Epochs of the measuring run (default: the config's `train.epochs`, at most 3).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Measure every this many steps.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// Choose this many task groups (each task in exactly one) and write a config per group.
    #[arg(long)]
    pub groups: Option<usize>,
    /// Override a config key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Replace an existing measuring run.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Backend and device.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `RUN_DIR/groups.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupsReport {
    /// Number of groups.
    pub k: usize,
    /// The groups, as task names.
    pub groups: Vec<Vec<String>>,
    /// Σ over tasks of the mean look-ahead affinity received from their group-mates.
    pub score: f64,
    /// The config written for each group.
    pub configs: Vec<PathBuf>,
}

fn print_matrix(title: &str, tasks: &[String], m: &[Vec<Option<f64>>]) {
    println!("{title}");
    println!("{:<14}{}", "", tasks.iter().map(|t| format!("{t:>12}")).collect::<String>());
    for (name, row) in tasks.iter().zip(m) {
        let cells: String =
            row.iter().map(|v| v.map_or(format!("{:>12}", "—"), |v| format!("{v:>12.4}"))).collect();
        println!("{name:<14}{cells}");
    }
}

/// Run `mtl affinity`.
pub fn run_affinity(args: &AffinityArgs) -> Result<(), Error> {
    let base = RunConfig::from_file(&args.config, &args.set)?;
    if args.every == 0 {
        return Err(Error::Usage("--every must be at least 1".into()));
    }
    if base.tasks.len() < 2 {
        return Err(Error::Usage("task affinity needs a config with at least two tasks".into()));
    }
    if let Some(k) = args.groups.filter(|&k| k == 0 || k > base.tasks.len()) {
        return Err(Error::Usage(format!("--groups {k}: choose between 1 and {} groups", base.tasks.len())));
    }
    let epochs = args.epochs.unwrap_or(base.train.epochs.min(3));
    let mut set = args.set.clone();
    set.push(format!("affinity.every={}", args.every));
    set.push(format!("train.epochs={epochs}"));
    set.push(format!("run.name=\"{}-affinity\"", base.name));
    let config = RunConfig::from_file(&args.config, &set)?;
    let device = select_device(args.backend.backend, args.backend.device)?;
    let options = FitOptions { overwrite: args.overwrite, ..FitOptions::new(device) };
    let summary = train(&config, &options, args.quiet)?;
    let run_dir = summary.run_dir;
    let path = run_dir.join("affinity.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let report: AffinityReport = serde_json::from_str(&text).expect("written by this run");
    println!("{} measured steps, {:.1} s of measuring", report.steps, report.seconds);
    print_matrix("look-ahead affinity Z(row → column) (TAG):", &report.tasks, &report.lookahead);
    print_matrix("gradient cosine, shared parameters:", &report.tasks, &report.parameter_cosine);
    print_matrix("gradient cosine, shared representation:", &report.tasks, &report.representation_cosine);
    if let Some(g) = &report.gate_overlap {
        print_matrix("gate overlap:", &report.tasks, g);
    }
    if let Some(k) = args.groups {
        let (groups, score) = best_partition(&report.lookahead_matrix(), k);
        let dir = run_dir.join("groups");
        mtl_train::io::create_dir_all(&dir)?;
        let mut configs = Vec::with_capacity(groups.len());
        let mut names = Vec::with_capacity(groups.len());
        for (g, members) in groups.iter().enumerate() {
            let tasks: Vec<String> = members.iter().map(|&t| report.tasks[t].clone()).collect();
            let mut file = base.file.clone();
            file.run.name = format!("{}-group{}", base.name, g + 1);
            file.run.tasks = Some(tasks.clone());
            let path = dir.join(format!("{}.toml", file.run.name));
            let text = toml::to_string(&file).expect("a parsed config serialises back to TOML");
            let header = format!(
                "# Task group {} of {k} chosen by `mtl affinity` (look-ahead affinity, TAG's rule) from {}\n",
                g + 1,
                args.config.display()
            );
            atomic_write(&path, format!("{header}{text}").as_bytes())?;
            println!("group {}: {}  →  {}", g + 1, tasks.join(", "), path.display());
            configs.push(path);
            names.push(tasks);
        }
        println!("score (Σ mean affinity received from group-mates): {score:.4}");
        let out = GroupsReport { k, groups: names, score, configs };
        atomic_write(&run_dir.join("groups.json"), &serde_json::to_vec_pretty(&out).expect("serialises"))?;
    }
    println!("{}", path.display());
    Ok(())
}
