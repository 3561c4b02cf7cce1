//! What each finished run (a cell's seed, a grouped cell's seed, a seed's baselines)
//! contributes to the tables.

use std::path::PathBuf;

use mtl_train::Error;
use mtl_train::config::{RunConfig, TaskConfig};
use mtl_train::delta::{delta, scores_from_json};
use mtl_train::stl::{StlReference, finished_summary};

use super::grid::{Cell, SweepPoint};

/// What one finished run contributed.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    /// `method`, or `stl` for the baselines.
    pub(super) method: String,
    pub(super) architecture: String,
    pub(super) sweep: SweepPoint,
    pub(super) seed: u64,
    /// Test metric values, `task.metric` → value, in task/metric order.
    pub(super) metrics: Vec<(String, f64)>,
    /// LibMTL's Δp (higher is better).
    pub(super) delta_p: Option<f64>,
    /// Δm as published (lower is better).
    pub(super) delta_m: Option<f64>,
    /// Metrics left out of Δ because they are undefined (`task.metric (why)`).
    pub(super) left_out: Vec<String>,
    pub(super) wall_s: f64,
}

/// One seed of a grouped cell: each task's test metrics from its group's run, Δ against the
/// single-task baselines over all tasks.
pub(super) fn grouped_outcome(
    cell: &Cell,
    seed: u64,
    tasks: &[TaskConfig],
    configs: &[RunConfig],
    summaries: &[serde_json::Value],
    reference: Option<&StlReference>,
) -> Result<Outcome, Error> {
    let mut scores = Vec::with_capacity(tasks.len());
    for t in tasks {
        let g = configs
            .iter()
            .position(|c| c.tasks.iter().any(|u| u.spec.name == t.spec.name))
            .expect("a partition");
        let one = [(t.spec.name.clone(), t.metrics.clone())];
        scores.push(test_scores(&one, &summaries[g])?.remove(0));
    }
    let d = reference.and_then(|r| delta(&scores, &r.test, tasks).ok());
    Ok(Outcome {
        method: cell.method.clone(),
        architecture: cell.architecture.clone(),
        sweep: cell.sweep.clone(),
        seed,
        metrics: metric_pairs(tasks, &scores),
        delta_p: d.as_ref().map(|d| d.delta_p),
        delta_m: d.as_ref().map(|d| d.delta_m).filter(|v| v.is_finite()),
        left_out: d.map(|d| d.left_out).unwrap_or_default(),
        wall_s: summaries.iter().filter_map(|s| s["wall_s"].as_f64()).sum(),
    })
}

pub(super) fn metric_pairs(
    tasks: &[TaskConfig],
    scores: &[Vec<(mtl_train::metrics::MetricKind, f64)>],
) -> Vec<(String, f64)> {
    tasks
        .iter()
        .zip(scores)
        .flat_map(|(t, s)| s.iter().map(move |(k, v)| (format!("{}.{}", t.spec.name, k.name()), *v)))
        .collect()
}

pub(super) fn stl_outcome(
    config: &RunConfig,
    point: &SweepPoint,
    r: &StlReference,
) -> Result<Outcome, Error> {
    let wall_s = r.run_dirs.iter().filter_map(|d| finished_summary(d)?.get("wall_s")?.as_f64()).sum();
    Ok(Outcome {
        method: "stl".into(),
        architecture: config.model.architecture.name().into(),
        sweep: point.clone(),
        seed: config.seed,
        metrics: metric_pairs(&config.tasks, &r.test),
        delta_p: Some(0.0),
        delta_m: Some(0.0),
        left_out: Vec::new(),
        wall_s,
    })
}

/// The test metrics of `tasks` in a run's summary, or an error naming its folder.
pub(super) fn test_scores(
    tasks: &[(String, Vec<mtl_train::metrics::MetricKind>)],
    summary: &serde_json::Value,
) -> Result<Vec<Vec<(mtl_train::metrics::MetricKind, f64)>>, Error> {
    scores_from_json(tasks, &summary["test"]).map_err(|m| Error::RunDir {
        path: PathBuf::from(summary["run_dir"].as_str().unwrap_or("?")),
        message: format!("summary.json has no usable test results ({m}); delete the folder to rerun it"),
    })
}

pub(super) fn run_outcome(
    cell: &Cell,
    config: &RunConfig,
    summary: &serde_json::Value,
) -> Result<Outcome, Error> {
    let tasks: Vec<(String, Vec<_>)> =
        config.tasks.iter().map(|t| (t.spec.name.clone(), t.metrics.clone())).collect();
    let scores = test_scores(&tasks, summary)?;
    let d = |k: &str| summary.pointer(&format!("/delta/test/{k}")).and_then(serde_json::Value::as_f64);
    Ok(Outcome {
        method: cell.method.clone(),
        architecture: cell.architecture.clone(),
        sweep: cell.sweep.clone(),
        seed: config.seed,
        metrics: metric_pairs(&config.tasks, &scores),
        delta_p: d("delta_p"),
        delta_m: d("delta_m"),
        left_out: summary
            .pointer("/delta/test/left_out")
            .and_then(serde_json::Value::as_array)
            .map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default(),
        wall_s: summary["wall_s"].as_f64().unwrap_or(f64::NAN),
    })
}
