//! `mtl train`: one run (fresh or resumed) with progress and plots, or with `--single-task`
//! the baselines of every task; also the training helpers of the other commands.

use std::path::PathBuf;

use mtl_train::Error;
use mtl_train::backend::SelectedDevice;
use mtl_train::config::RunConfig;
use mtl_train::evaluate::json_f64;
use mtl_train::fit::{FitOptions, RunSummary, fit, writers};
use mtl_train::io::atomic_write;
use mtl_train::metrics::MetricKind;
use mtl_train::parallel::World;
use mtl_train::stl::{Baseline, StlReference, ensure_baselines};

use crate::report::observers::{PlotObserver, ProgressObserver};

/// Train `config` into its run folder with the library's writers, a progress bar (unless
/// `quiet`) and the plots at the end.
pub fn train(config: &RunConfig, options: &FitOptions, quiet: bool) -> Result<RunSummary, Error> {
    let mut observers = writers(config);
    if !quiet {
        observers.push(ProgressObserver::default());
    }
    observers.push(PlotObserver::default());
    Ok(fit(config, options, &mut observers)?.summary)
}

/// Several processes on one machine share its cores: unless `RAYON_NUM_THREADS` says otherwise,
/// each CPU backend gets cores / (processes on this machine) threads (at least one).
fn share_cores(world: &World) {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / world.local_size()).max(1);
    // Fails only when the pool already exists (nothing has started it yet).
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
}

/// Train the baselines of `config` that do not exist yet (continuing interrupted ones),
/// calling `announce(baseline, trained)` before each: `trained` is false when it is reused.
pub fn train_baselines(
    config: &RunConfig,
    device: &SelectedDevice,
    quiet: bool,
    announce: &mut dyn FnMut(&Baseline, bool),
) -> Result<StlReference, Error> {
    ensure_baselines(config, announce, &mut |b, resume| {
        train(&b.config, &FitOptions::continuing(device.clone(), b.run_dir.clone(), resume), quiet)
            .map(|_| ())
    })
}

/// Options that continue the run in `dir` if it has a checkpoint, else start it afresh there.
pub fn continue_in(device: &SelectedDevice, dir: PathBuf, reference: Option<StlReference>) -> FitOptions {
    let resume = dir.join("checkpoints").join("last").exists();
    FitOptions { reference, ..FitOptions::continuing(device.clone(), dir, resume) }
}

/// Arguments of `mtl train` (see the `Train` command of the CLI).
#[derive(Debug)]
pub struct TrainArgs {
    /// The config file, or `RUN_DIR/config.toml` with `resume`.
    pub config: PathBuf,
    /// `--set` overrides.
    pub set: Vec<String>,
    /// `--out` or the resumed folder.
    pub run_dir: Option<PathBuf>,
    /// `--resume`.
    pub resume: bool,
    /// `--overwrite`.
    pub overwrite: bool,
    /// `--single-task`.
    pub single_task: bool,
    /// `--quiet`.
    pub quiet: bool,
}

/// Run `mtl train`, choosing the device once the config has been read.
pub fn run_with(
    args: TrainArgs,
    device: impl FnOnce() -> Result<SelectedDevice, Error>,
    world: &World,
) -> Result<(), Error> {
    if args.resume
        && let Some(dir) = &args.run_dir
        && !args.config.exists()
    {
        let message = if dir.is_dir() {
            "has no config.toml to resume from: its run stopped before it began, or it is not a run folder; \
             start the run afresh there with `mtl train CONFIG --out DIR --overwrite`"
        } else {
            "does not exist (check the path; a run that stopped before its folder was made is started with \
             `mtl train CONFIG --out DIR`)"
        };
        return Err(Error::RunDir { path: dir.clone(), message: message.into() });
    }
    let config = RunConfig::from_file(&args.config, &args.set)?;
    let device = device()?;
    if args.single_task {
        return train_single_task(&config, args.run_dir, &device, args.quiet);
    }
    if world.is_parallel() {
        share_cores(world);
    }
    let options = FitOptions {
        run_dir: args.run_dir,
        resume: args.resume,
        overwrite: args.overwrite,
        world: world.clone(),
        ..FitOptions::new(device)
    };
    let summary = train(&config, &options, args.quiet)?;
    if world.is_writer() {
        println!("{}", summary.run_dir.join("summary.json").display());
    }
    Ok(())
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
    let mut announce = |b: &Baseline, trained: bool| {
        if !quiet {
            let what = if trained { "training" } else { "reusing" };
            eprintln!("{what} the single-task baseline of `{}` in {}", b.task, b.run_dir.display());
        }
        dirs.push((b.task.clone(), b.key.clone(), b.run_dir.clone()));
    };
    let reference = train_baselines(config, device, quiet, &mut announce)?;
    let scores = |s: &[(MetricKind, f64)]| -> serde_json::Value {
        s.iter().map(|(k, v)| (k.name().to_string(), json_f64(*v))).collect::<serde_json::Map<_, _>>().into()
    };
    let mut tasks = serde_json::Map::new();
    for (t, (task, key, dir)) in dirs.iter().enumerate() {
        let entry = serde_json::json!({
            "run_dir": dir,
            "key": key,
            "valid": scores(&reference.valid[t]),
            "test": scores(&reference.test[t]),
        });
        tasks.insert(task.clone(), entry);
    }
    let dir = run_dir.unwrap_or_else(|| config.run_dir());
    mtl_train::io::create_dir_all(&dir)?;
    let path = dir.join("stl.json");
    atomic_write(&path, &serde_json::to_vec_pretty(&serde_json::Value::Object(tasks)).expect("JSON"))?;
    println!("{}", path.display());
    Ok(())
}
