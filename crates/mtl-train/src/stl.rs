//! Single-task baselines (STL): one network per task, with the same data, split, seed,
//! encoder, heads and training budget as the multi-task config, and equal weighting of its one
//! loss.
//!
//! A baseline is an ordinary run folder, `<run.output_dir>/stl/<task>-<key>`, where `key` is a
//! SHA-256 digest (16 hex digits) of the baseline's complete resolved config with the run name
//! and output folder left out. Any config that would train the same baseline (whatever its
//! weighting method, name, or the grid cell it belongs to) finds it there, so
//! `mtl train --single-task`, `mtl train` and `mtl compare` share baselines and never train one
//! twice. A change to anything that matters (data, split, seed, model, epochs, optimizer, ...)
//! changes the key.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::RunConfig;
use crate::config::schema::{FileConfig, WeightingSection};
use crate::delta::scores_from_json;
use crate::error::Error;
use crate::metrics::MetricKind;

/// One task's baseline: where it lives and how to train it.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The task.
    pub task: String,
    /// Content key of its config.
    pub key: String,
    /// Its run folder.
    pub run_dir: PathBuf,
    /// Its config (`run.single_task` set).
    pub config: RunConfig,
}

/// Validation and test scores of the baselines of every task, in task order.
#[derive(Debug, Clone, PartialEq)]
pub struct StlReference {
    /// Best-checkpoint validation metrics of each task's baseline.
    pub valid: Vec<Vec<(MetricKind, f64)>>,
    /// Its test metrics.
    pub test: Vec<Vec<(MetricKind, f64)>>,
    /// The baselines' run folders.
    pub run_dirs: Vec<PathBuf>,
}

/// The config of task `task`'s baseline, derived from a multi-task `file`.
pub fn baseline_file(file: &FileConfig, task: &str) -> FileConfig {
    let mut f = file.clone();
    f.run.name = format!("stl-{task}");
    f.run.single_task = Some(task.to_string());
    // A task group's baselines are those of the whole config; measuring is not training.
    f.run.tasks = None;
    f.affinity = Default::default();
    f.weighting = WeightingSection::default();
    // A monitor on this task's metric still applies; Δ-based or other tasks' monitors do not.
    if !f.train.monitor.starts_with(&format!("{task}.")) {
        f.train.monitor = "auto".into();
    }
    f
}

/// Content key of a baseline's config: what matters for its result, not its name or folder.
/// The `[weighting]` table is left out (a baseline always uses equal weighting on its one
/// loss), so that new weighting methods and their settings do not change existing keys.
pub fn config_key(file: &FileConfig) -> String {
    let mut f = file.clone();
    f.run.name = String::new();
    f.run.output_dir = String::new();
    let mut table = toml::Table::try_from(&f).expect("a parsed config serialises back to TOML");
    table.remove("weighting");
    let text = toml::to_string(&table).expect("a TOML table serialises");
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The baselines of every trained task of a multi-task `config`.
pub fn baselines(config: &RunConfig) -> Result<Vec<Baseline>, Error> {
    // A baseline keeps `[data]` and the seed, so a CSV source's fitted preprocessing is the
    // same: reuse it rather than read and fit the training file once per task.
    let saved = match &config.data {
        crate::config::data::DataSource::Csv(c) => Some(c.prep.clone()),
        _ => None,
    };
    config
        .tasks
        .iter()
        .map(|t| {
            let file = baseline_file(&config.file, &t.spec.name);
            let key = config_key(&file);
            let text = toml::to_string(&file).expect("a parsed config serialises back to TOML");
            let stl = RunConfig::from_toml_with(&config.source, &text, saved.clone())?;
            let run_dir = config.output_dir.join("stl").join(format!("{}-{key}", t.spec.name));
            Ok(Baseline { task: t.spec.name.clone(), key, run_dir, config: stl })
        })
        .collect()
}

/// The summary of a finished run in `dir`, if there is one.
pub fn finished_summary(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("finished").and_then(serde_json::Value::as_bool).unwrap_or(false).then_some(v)
}

/// The baselines' scores when every task's baseline has finished; `None` otherwise (or for a
/// single-task config, which is a baseline itself).
pub fn find_reference(config: &RunConfig) -> Result<Option<StlReference>, Error> {
    if config.single_task.is_some() {
        return Ok(None);
    }
    let mut reference = StlReference { valid: Vec::new(), test: Vec::new(), run_dirs: Vec::new() };
    for (b, t) in baselines(config)?.iter().zip(&config.tasks) {
        let Some(summary) = finished_summary(&b.run_dir) else { return Ok(None) };
        let tasks = [(t.spec.name.clone(), t.metrics.clone())];
        let (Ok(mut valid), Ok(mut test)) =
            (scores_from_json(&tasks, &summary["valid"]), scores_from_json(&tasks, &summary["test"]))
        else {
            return Ok(None);
        };
        reference.valid.push(valid.remove(0));
        reference.test.push(test.remove(0));
        reference.run_dirs.push(b.run_dir.clone());
    }
    Ok(Some(reference))
}

/// Make sure every baseline of `config` is finished: `announce(baseline, trained)` is called
/// for each (`trained` is false when it is reused), and `train(baseline, resume)` for each that
/// is not finished, with `resume` set when an interrupted one has a checkpoint to continue
/// from. The caller trains (with the observers it wants); this function only decides.
pub fn ensure_baselines(
    config: &RunConfig,
    announce: &mut dyn FnMut(&Baseline, bool),
    train: &mut dyn FnMut(&Baseline, bool) -> Result<(), Error>,
) -> Result<StlReference, Error> {
    if config.single_task.is_some() {
        return Err(Error::Config(crate::config::ConfigError::Invalid {
            path: config.source.clone(),
            key: "run.single_task".into(),
            message: "this config already trains one task; remove the key to train baselines for all".into(),
        }));
    }
    for b in baselines(config)? {
        let done = finished_summary(&b.run_dir).is_some();
        announce(&b, !done);
        if !done {
            train(&b, b.run_dir.join("checkpoints").join("last").exists())?;
        }
    }
    find_reference(config)?.ok_or_else(|| Error::RunDir {
        path: config.output_dir.join("stl"),
        message: "a single-task baseline finished without usable validation and test results; delete its \
                  folder to train it again"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "[[tasks]]\nname = \"a\"\nkind = \"regression\"\n[[tasks]]\nname = \"b\"\nkind = \"binary\"\n";

    fn config(overrides: &[&str]) -> RunConfig {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RunConfig::from_toml(Path::new("c.toml"), BASE, &o).unwrap()
    }

    #[test]
    fn keys_ignore_names_and_weighting_but_not_what_matters() {
        let key = |o: &[&str]| baselines(&config(o)).unwrap()[0].key.clone();
        let k = key(&[]);
        assert_eq!(k.len(), 16);
        assert_eq!(
            k,
            key(&[
                "run.name=other",
                "weighting.method=uw",
                "weighting.cagrad.c=0.9",
                "run.output_dir=elsewhere"
            ])
        );
        assert_eq!(k, key(&["train.monitor=b.auc"]), "a monitor on another task does not apply");
        for changed in [&["run.seed=1"][..], &["train.epochs=3"], &["model.encoder.hidden=[8]"]] {
            assert_ne!(k, key(changed), "{changed:?}");
        }
        let b = baselines(&config(&[])).unwrap();
        assert_ne!(b[0].key, b[1].key, "one baseline per task");
        assert_eq!(b[1].config.tasks.len(), 1);
        assert_eq!(b[1].config.tasks[0].spec.name, "b");
        assert!(b[1].run_dir.starts_with("runs/stl"));
    }
}
