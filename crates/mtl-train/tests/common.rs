//! Shared fixtures of the trainer's integration tests: a small, fast config.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use mtl_train::backend::{BackendChoice, SelectedDevice, select_device};
use mtl_train::config::RunConfig;
use mtl_train::fit::{FitOptions, RunSummary, fit, writers};
use mtl_train::stl::{Baseline, StlReference, ensure_baselines};

/// Three tasks of three kinds on 600 synthetic samples; dropout and UW on, so that resume and
/// checkpoint tests cover the dropout seeding and the weighting parameters.
pub const SMALL: &str = r#"
[run]
name = "t"
seed = 7

[data.synthetic]
samples = 600
features = 12
correlation = 0.9

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[[tasks]]
name = "c"
kind = "multiclass"
classes = 3

[model.encoder]
hidden = [32]
dropout = 0.1

[model.head]
hidden = [8]

[weighting]
method = "uw"

[train]
epochs = 4
batch_size = 64
lr = 3e-3
"#;

pub fn config(overrides: &[&str]) -> RunConfig {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::from_toml(Path::new("small.toml"), SMALL, &o).expect("fixture config is valid")
}

pub fn options(run_dir: PathBuf, backend: BackendChoice) -> FitOptions {
    let device = select_device(backend, None).expect("CPU backends are always there");
    FitOptions { run_dir: Some(run_dir), ..FitOptions::new(device) }
}

/// Train `config` with every writer of the run folder (no progress, no plots).
pub fn train(config: &RunConfig, options: &FitOptions) -> Result<RunSummary, mtl_train::Error> {
    Ok(fit(config, options, &mut writers(config))?.summary)
}

/// Train the missing baselines of `config` on `device`, as `mtl train --single-task` does.
pub fn train_baselines(
    config: &RunConfig,
    device: &SelectedDevice,
    announce: &mut dyn FnMut(&Baseline, bool),
) -> Result<StlReference, mtl_train::Error> {
    ensure_baselines(config, announce, &mut |b, resume| {
        train(&b.config, &FitOptions::continuing(device.clone(), b.run_dir.clone(), resume)).map(|_| ())
    })
}

/// The metrics.jsonl lines without their wall-clock times.
pub fn log_without_times(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .expect("metrics.jsonl exists")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("valid JSON line");
            v.as_object_mut().expect("object").remove("wall_s");
            v.as_object_mut().expect("object").remove("train_s");
            v
        })
        .collect()
}

/// Burn's backend random generators are process-wide, so tests that seed and train must not
/// interleave: each holds this lock while it runs.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
