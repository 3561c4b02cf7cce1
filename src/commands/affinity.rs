//! `mtl affinity CONFIG`: a short training run that measures task affinity every step, prints
//! the matrices and, with `--groups K`, chooses K task groups and writes one config per group.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::args::BackendArgs;
use mtl_train::affinity::grouping::{STABLE_SHARE, Stability, best_partition, stability};
use mtl_train::affinity::{AffinityReport, MATRICES, StepRecord, title};
use mtl_train::backend::{SelectedDevice, select_device};
use mtl_train::config::RunConfig;
use mtl_train::config::schema::DataSourceKind;
use mtl_train::fit::FitOptions;
use mtl_train::io::atomic_write;
use mtl_train::{Error, io_error as io};

use crate::commands::train::train;

/// Steps measured per run by default (BENCHMARKS.md "Issue 22": the output-gradient
/// similarity recovers both planted cases from the first 10 steps to the first 60).
pub const DEFAULT_STEPS: usize = 50;

/// Arguments of `mtl affinity`.
#[derive(Debug, Clone, Args)]
pub struct AffinityArgs {
    /// The TOML config.
    pub config: PathBuf,
    /// Epochs of each measuring run (default: enough for --steps steps, at most the config's
    /// `train.epochs`; a streamed source: `train.epochs`, at most 10). Given alone, every
    /// step of them is measured.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Measure the first this many training steps of each measuring run (the run lasts whole
    /// epochs; default 50). Affinities early in training carry the tasks' relations; later the
    /// shared structure is fitted and tasks compete for capacity (BENCHMARKS.md).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Measuring runs, seeds run.seed, run.seed + 1, … on the same data: their steps are
    /// pooled, and the stability of the groups is resampled over them.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Measure every this many steps.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// Choose this many task groups (each task in exactly one) and write a config per group.
    #[arg(long)]
    pub groups: Option<usize>,
    /// The affinity the groups are chosen by.
    #[arg(long, default_value = "output_similarity", value_parser = clap::builder::PossibleValuesParser::new(MATRICES))]
    pub by: String,
    /// Bootstrap resamples of the measured steps for the partition's stability (0: none).
    #[arg(long, default_value_t = 200)]
    pub resamples: usize,
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
    /// The affinity the groups were chosen by (`lookahead`, `parameter_cosine`, …).
    pub by: String,
    /// Σ over tasks of the mean affinity received from their group-mates.
    pub score: f64,
    /// How often bootstrap resamples of the measured steps give the same partition, and how
    /// often each pair of tasks shares a group; `None` with `--resamples 0`.
    pub stability: Option<Stability>,
    /// Whether at least [`STABLE_SHARE`] of the resamples agree.
    pub stable: Option<bool>,
    /// The measuring runs (one per seed) whose steps were pooled.
    pub runs: Vec<PathBuf>,
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

/// The stability lines: the share of agreeing resamples, each task's most frequent mates, and
/// a warning when the partition is not stable.
fn print_stability(s: &Stability, tasks: &[String]) {
    println!(
        "stability: {:.0} % of {} bootstrap resamples of the {} measuring run(s) and their {} steps give this partition",
        100.0 * s.share,
        s.resamples,
        s.runs,
        s.steps
    );
    let shares: Vec<Vec<Option<f64>>> =
        s.together.iter().map(|r| r.iter().map(|&v| Some(v)).collect()).collect();
    print_matrix("share of resamples in which two tasks share a group:", tasks, &shares);
    if s.runs == 1 {
        println!(
            "  (one measuring run: the resamples see the noise of its steps, not what another seed changes; --seeds 3 or more measure that too)"
        );
    }
    if s.share < STABLE_SHARE {
        eprintln!(
            "warning: the partition is not stable: {:.0} % of the resamples give it (below {:.0} %), so the measured affinities do not single it out; measure more seeds (--seeds), on more data, or with another --by, and treat these groups as a guess",
            100.0 * s.share,
            100.0 * STABLE_SHARE
        );
    }
}

/// The measuring runs of `mtl affinity`.
struct Measured {
    /// Their folders, by seed.
    run_dirs: Vec<PathBuf>,
    /// Each run's measured steps.
    runs: Vec<Vec<StepRecord>>,
    /// Seconds spent measuring, all runs together.
    seconds: f64,
    /// The look-ahead learning rate they used.
    lookahead_lr: f64,
}

/// One measuring run per seed — run.seed, run.seed + 1, … on the same generated dataset — of
/// `epochs` epochs, measured over the first `steps` steps (all when `None`).
fn measuring_runs(
    args: &AffinityArgs,
    base: &RunConfig,
    epochs: usize,
    steps: Option<usize>,
    device: &SelectedDevice,
) -> Result<Measured, Error> {
    let mut run_dirs = Vec::with_capacity(args.seeds);
    let mut runs: Vec<Vec<StepRecord>> = Vec::with_capacity(args.seeds);
    let mut seconds = 0.0;
    let mut lookahead_lr = f64::NAN;
    for i in 0..args.seeds {
        let mut set = args.set.clone();
        set.push(format!("affinity.every={}", args.every));
        set.push(format!("train.epochs={epochs}"));
        if let Some(steps) = steps {
            set.push(format!("affinity.steps={steps}"));
        }
        let name = match i {
            0 => format!("{}-affinity", base.name),
            _ => format!("{}-affinity-seed{}", base.name, i + 1),
        };
        set.push(format!("run.name=\"{name}\""));
        set.push(format!("run.seed={}", base.seed + i as u64));
        if base.file.data.source == DataSourceKind::Synthetic && base.file.data.synthetic.seed.is_none() {
            set.push(format!("data.synthetic.seed={}", base.seed));
        }
        let config = RunConfig::from_file(&args.config, &set)?;
        if args.seeds > 1 {
            eprintln!("measuring run {} of {} (seed {})", i + 1, args.seeds, base.seed + i as u64);
        }
        let options = FitOptions { overwrite: args.overwrite, ..FitOptions::new(device.clone()) };
        let summary = train(&config, &options, args.quiet)?;
        let path = summary.run_dir.join("affinity.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let report: AffinityReport = serde_json::from_str(&text).map_err(|e| Error::RunDir {
            path: path.clone(),
            message: format!("{e}; measure again with --overwrite"),
        })?;
        seconds += report.seconds;
        lookahead_lr = report.lookahead_lr;
        runs.push(StepRecord::load(&summary.run_dir)?);
        run_dirs.push(summary.run_dir);
    }
    Ok(Measured { run_dirs, runs, seconds, lookahead_lr })
}

/// The epochs of each measuring run and the steps of it to measure (`None`: all of them):
/// `--epochs` alone measures every step of them; else the first `--steps` steps (default
/// [`DEFAULT_STEPS`]), of as many whole epochs as that takes, at most the config's own.
fn measuring_length(args: &AffinityArgs, base: &RunConfig) -> Result<(usize, Option<usize>), Error> {
    if args.steps == Some(0) {
        return Err(Error::Usage("--steps must be at least 1".into()));
    }
    if args.epochs == Some(0) {
        return Err(Error::Usage("--epochs must be at least 1".into()));
    }
    Ok(match (args.epochs, args.steps) {
        (Some(epochs), steps) => (epochs, steps),
        (None, steps) => {
            let steps = steps.unwrap_or(DEFAULT_STEPS);
            let epochs = match mtl_train::fit::training_steps_per_epoch(base)? {
                Some(per_epoch) => steps.div_ceil(per_epoch).clamp(1, base.train.epochs.max(1)),
                None => base.train.epochs.min(10),
            };
            (epochs, Some(steps))
        }
    })
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
    if args.seeds == 0 {
        return Err(Error::Usage("--seeds must be at least 1".into()));
    }
    if args.groups.is_some() && args.by == "gate_overlap" && base.model.architecture.gate_labels().is_none() {
        return Err(Error::Usage(format!(
            "--by gate_overlap: the {} architecture has no gates; gate overlap needs a gated architecture (mmoe, omoe, cgc, ple, dselect_k, cross_stitch), or choose another --by",
            base.model.architecture.name()
        )));
    }
    let (epochs, steps) = measuring_length(args, &base)?;
    let device = select_device(args.backend.backend, args.backend.device)?;
    let measured = measuring_runs(args, &base, epochs, steps, &device)?;
    let run_dir = measured.run_dirs[0].clone();
    let tasks: Vec<String> = base.tasks.iter().map(|t| t.spec.name.clone()).collect();
    // The pooled means beside the first run's own, with their heat maps.
    let report = AffinityReport::of_records(
        tasks.clone(),
        measured.runs.iter().flatten(),
        measured.seconds,
        measured.lookahead_lr,
    );
    println!(
        "{} measured steps in {} run(s), {:.1} s of measuring; means over all of them:",
        report.steps,
        measured.runs.len(),
        measured.seconds
    );
    for kind in MATRICES {
        if let Some(m) = report.matrices.get(kind) {
            print_matrix(&format!("{}:", title(kind)), &tasks, m);
        }
    }
    let path = run_dir.join("affinity_pooled.json");
    atomic_write(&path, &serde_json::to_vec_pretty(&report).expect("report serialises"))?;
    crate::report::plots::plot_affinity_as(&report, &run_dir, "affinity_pooled")?;
    if let Some(k) = args.groups {
        let Some(mean) = report.matrices.matrix(&args.by) else {
            return Err(Error::Usage(format!("--by {}: no measured step has that affinity", args.by)));
        };
        choose_groups(args, &base, &measured, &tasks, &mean, k)?;
    }
    println!("{}", path.display());
    Ok(())
}

/// `--groups K`: the best partition of the pooled matrix `mean`, its stability over the
/// measuring runs, one config per group and `groups.json` in the first run's folder.
fn choose_groups(
    args: &AffinityArgs,
    base: &RunConfig,
    measured: &Measured,
    tasks: &[String],
    mean: &[Vec<f64>],
    k: usize,
) -> Result<(), Error> {
    let run_dir = &measured.run_dirs[0];
    let by_run: Vec<Vec<Vec<Vec<f64>>>> = (measured.runs.iter())
        .map(|r| r.iter().filter_map(|s| s.matrices.matrix(&args.by)).collect())
        .collect();
    let (groups, score) = best_partition(mean, k);
    let stability = (args.resamples > 0).then(|| stability(&by_run, &groups, k, args.resamples, base.seed));
    let dir = run_dir.join("groups");
    mtl_train::io::create_dir_all(&dir)?;
    let mut configs = Vec::with_capacity(groups.len());
    let mut names = Vec::with_capacity(groups.len());
    for (g, members) in groups.iter().enumerate() {
        let tasks: Vec<String> = members.iter().map(|&t| tasks[t].clone()).collect();
        let mut file = base.file.clone();
        file.run.name = format!("{}-group{}", base.name, g + 1);
        file.run.tasks = Some(tasks.clone());
        let path = dir.join(format!("{}.toml", file.run.name));
        let text = toml::to_string(&file).expect("a parsed config serialises back to TOML");
        let header = format!(
            "# Task group {} of {k} chosen by `mtl affinity` ({}, TAG's rule) from {}\n",
            g + 1,
            args.by,
            args.config.display()
        );
        atomic_write(&path, format!("{header}{text}").as_bytes())?;
        println!("group {}: {}  →  {}", g + 1, tasks.join(", "), path.display());
        configs.push(path);
        names.push(tasks);
    }
    println!("score (Σ mean {} received from group-mates): {score:.4}", args.by);
    if let Some(s) = &stability {
        print_stability(s, tasks);
    }
    let stable = stability.as_ref().map(|s| s.share >= STABLE_SHARE);
    let out = GroupsReport {
        k,
        groups: names,
        by: args.by.clone(),
        score,
        stability,
        stable,
        runs: measured.run_dirs.clone(),
        configs,
    };
    atomic_write(&run_dir.join("groups.json"), &serde_json::to_vec_pretty(&out).expect("serialises"))
}
