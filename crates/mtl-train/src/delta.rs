//! How a multi-task run compares with single-task (STL) baselines, in the two conventions of
//! the literature, both in percent.
//!
//! With `M_{t,m}` the run's value of metric `m` of task `t`, `B_{t,m}` the STL baseline's, and
//! `δ_m = 1` when higher is better (accuracy, AUC, F1, R²) and `0` when lower is better (MSE,
//! MAE):
//!
//! - **Δm** as published (Maninis et al., CVPR 2019; Nash-MTL, ICML 2022; FAMO, NeurIPS 2023),
//!   **lower is better**: `Δm = 100/K · Σ_k (−1)^{δ_k} (M_k − B_k) / B_k` over the `K` metrics
//!   chosen for Δm — by default one primary metric per task ([`MetricKind::primary`]: MSE for
//!   regression, AUC for binary and multilabel, accuracy for multiclass), or the task's
//!   `delta_metrics`. A run 5 % better than its baselines has Δm = −5.
//! - **Δp** (LibMTL, Lin & Zhang, JMLR 2023), **higher is better**: average over all the
//!   metrics each task reports first, then over the tasks:
//!   `Δp = 100/T · Σ_t 1/|M_t| · Σ_{m ∈ M_t} (−1)^{1−δ_m} (M_{t,m} − B_{t,m}) / B_{t,m}`.
//!
//! mtl divides by `|B|` rather than `B`: identical for the usual positive metrics, and it
//! keeps the direction when a baseline is negative (an R² below zero).
//!
//! **Undefined values** — a metric that is undefined in the run or the baseline (R² of a
//! constant target, AUC of a split with one class; `NaN` here, `null` in JSON) or a baseline of
//! exactly 0 (an F1 of a rare label) — leave their term out: Δ is taken over the metrics that
//! are defined, a task without any drops out of the averages, and [`Delta::left_out`] names
//! what was left out and why. Δ is undefined only when nothing is left.
//!
//! Unlike LibMTL's trainer, the baseline here is a trained single-task network, not the
//! multi-task network at epoch 0.

use serde::{Deserialize, Serialize};

use crate::config::TaskConfig;
use crate::metrics::MetricKind;

/// Metric values of each task, in task order: `(metric, value)` in config order; `NaN` for a
/// value that is undefined.
pub type Scores = [Vec<(MetricKind, f64)>];

/// Both conventions for one run against one baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// LibMTL's Δp over every reported metric (per-task average first), percent, higher is
    /// better.
    pub delta_p: f64,
    /// Δm as published (Nash-MTL, FAMO) over the Δm metrics, percent, lower is better.
    pub delta_m: f64,
    /// The metrics left out because they are undefined, as `task.metric (why)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
}

/// `100 · (M − B) / |B|` signed so that positive means better, or why it is undefined.
fn gain(kind: MetricKind, value: f64, base: f64) -> Result<f64, &'static str> {
    if !base.is_finite() {
        return Err("undefined in the baseline");
    }
    if !value.is_finite() {
        return Err("undefined in the run");
    }
    if base == 0.0 {
        return Err("the baseline is 0");
    }
    let sign = if kind.higher_is_better() { 1.0 } else { -1.0 };
    Ok(100.0 * sign * (value - base) / base.abs())
}

/// Δp and Δm of `run` against `base` for `tasks`; see the module documentation. Fails when the
/// score lists do not fit the tasks, or when no metric is defined.
pub fn delta(run: &Scores, base: &Scores, tasks: &[TaskConfig]) -> Result<Delta, String> {
    if run.len() != base.len() || run.len() != tasks.len() {
        return Err(format!("{} tasks in the run, {} in the baseline", run.len(), base.len()));
    }
    let mut left_out = Vec::new();
    let (mut per_task, mut flat) = (Vec::new(), Vec::new());
    for ((r, b), task) in run.iter().zip(base).zip(tasks) {
        let name = &task.spec.name;
        let mut gains = Vec::new();
        for (kind, value) in r {
            let Some((_, base_value)) = b.iter().find(|(k, _)| k == kind) else {
                return Err(format!("the baseline of task `{name}` has no {}", kind.name()));
            };
            match gain(*kind, *value, *base_value) {
                Ok(g) => {
                    gains.push(g);
                    if task.delta_metrics.contains(kind) {
                        // Δm is lower-is-better: the published sign is the opposite of a gain.
                        flat.push(-g);
                    }
                }
                Err(why) => left_out.push(format!("{name}.{} ({why})", kind.name())),
            }
        }
        if !gains.is_empty() {
            per_task.push(gains.iter().sum::<f64>() / gains.len() as f64);
        }
    }
    if per_task.is_empty() {
        return Err(format!(
            "no metric is defined in both the run and the baselines: {}",
            left_out.join(", ")
        ));
    }
    let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
    Ok(Delta { delta_p: mean(&per_task), delta_m: mean(&flat), left_out })
}

/// Read task scores from a summary's `{task: {metric: value, ...}}` JSON, in the order of
/// `tasks` (name, metrics). A `null` value is an undefined metric (`NaN`); a missing one is
/// an error. A chain step is scored by its `"tower"` metrics, as
/// [`Evaluation::baseline_scores`](crate::evaluate::Evaluation::baseline_scores) does.
pub fn scores_from_json(
    tasks: &[(String, Vec<MetricKind>)],
    json: &serde_json::Value,
) -> Result<Vec<Vec<(MetricKind, f64)>>, String> {
    tasks
        .iter()
        .map(|(name, metrics)| {
            let entry = json.get(name).ok_or_else(|| format!("no results for task `{name}`"))?;
            let entry = entry.get("tower").unwrap_or(entry);
            metrics
                .iter()
                .map(|k| match entry.get(k.name()) {
                    Some(serde_json::Value::Null) => Ok((*k, f64::NAN)),
                    Some(v) => v
                        .as_f64()
                        .map(|v| (*k, v))
                        .ok_or_else(|| format!("{} of task `{name}` is not a number", k.name())),
                    None => Err(format!("no {} for task `{name}`", k.name())),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use mtl_data::{TaskKind, TaskSpec};

    use super::*;
    use MetricKind::{Accuracy, Auc, F1, Mae, Mse, R2};

    fn task(name: &str, kind: TaskKind, metrics: &[MetricKind], delta: &[MetricKind]) -> TaskConfig {
        TaskConfig {
            spec: TaskSpec { name: name.into(), kind },
            metrics: metrics.to_vec(),
            delta_metrics: delta.to_vec(),
            standardize: false,
            class_weights: None,
        }
    }

    /// a: regression reporting MSE and R² (Δm on MSE); b: multiclass reporting accuracy.
    fn tasks() -> Vec<TaskConfig> {
        vec![
            task("a", TaskKind::Regression, &[Mse, R2], &[Mse]),
            task("b", TaskKind::Multiclass { classes: 3 }, &[Accuracy], &[Accuracy]),
        ]
    }

    fn base() -> Vec<Vec<(MetricKind, f64)>> {
        vec![vec![(Mse, 0.5), (R2, 0.8)], vec![(Accuracy, 0.9)]]
    }

    #[test]
    fn delta_m_follows_the_published_sign_on_a_hand_computed_case() {
        // Nash-MTL (Navon et al., ICML 2022, eq. in §6): Δm = (1/K) Σ_k (−1)^{δ_k} (M_k − M_b,k)/M_b,k,
        // δ_k = 1 when higher is better. MSE 0.5 → 0.4 (δ = 0): (0.4 − 0.5)/0.5 = −20 %;
        // AUC 0.8 → 0.76 (δ = 1): −(0.76 − 0.8)/0.8 = +5 %. Δm = (−20 + 5)/2 = −7.5: better.
        let tasks = vec![
            task("y", TaskKind::Regression, &[Mse, Mae], &[Mse]),
            task("c", TaskKind::Binary, &[Accuracy, Auc], &[Auc]),
        ];
        let base = vec![vec![(Mse, 0.5), (Mae, 0.6)], vec![(Accuracy, 0.7), (Auc, 0.8)]];
        let run = vec![vec![(Mse, 0.4), (Mae, 0.6)], vec![(Accuracy, 0.7), (Auc, 0.76)]];
        let d = delta(&run, &base, &tasks).unwrap();
        assert!((d.delta_m + 7.5).abs() < 1e-9, "{d:?}");
        // Δp (LibMTL, higher is better) over every metric: y (+20 + 0)/2 = 10, c (0 − 5)/2 = −2.5.
        assert!((d.delta_p - 3.75).abs() < 1e-9, "{d:?}");
        assert!(d.left_out.is_empty());
    }

    #[test]
    fn both_conventions_on_a_hand_computed_case() {
        // a: MSE 0.5 → 0.4 is +20 % (lower is better), R² 0.8 → 0.88 is +10 %;
        // b: accuracy 0.9 → 0.81 is −10 %.
        let run = vec![vec![(Mse, 0.4), (R2, 0.88)], vec![(Accuracy, 0.81)]];
        let d = delta(&run, &base(), &tasks()).unwrap();
        // Δp = ((20 + 10)/2 + (−10)) / 2 = 2.5; Δm over MSE and accuracy = −(20 − 10)/2 = −5.
        assert!((d.delta_p - 2.5).abs() < 1e-9, "{d:?}");
        assert!((d.delta_m + 5.0).abs() < 1e-9, "{d:?}");
        // The Δm metrics are the task's choice: with R² too, Δm = −(20 + 10 − 10)/3.
        let mut all = tasks();
        all[0].delta_metrics = vec![Mse, R2];
        let d = delta(&run, &base(), &all).unwrap();
        assert!((d.delta_m + 20.0 / 3.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn the_conventions_can_rank_two_runs_differently() {
        let mut tasks = tasks();
        tasks[0].delta_metrics = vec![Mse, R2];
        let run1 = vec![vec![(Mse, 0.4), (R2, 0.88)], vec![(Accuracy, 0.81)]]; // Δp 2.5, Δm −6.67
        let run2 = vec![vec![(Mse, 0.5), (R2, 0.8)], vec![(Accuracy, 0.954)]]; // Δp 3.0, Δm −2.0
        let d1 = delta(&run1, &base(), &tasks).unwrap();
        let d2 = delta(&run2, &base(), &tasks).unwrap();
        assert!((d2.delta_p - 3.0).abs() < 1e-9 && (d2.delta_m + 2.0).abs() < 1e-9, "{d2:?}");
        assert!(d2.delta_p > d1.delta_p, "Δp prefers run 2");
        assert!(d1.delta_m < d2.delta_m, "Δm (lower is better) prefers run 1");
    }

    #[test]
    fn undefined_values_are_left_out_and_named() {
        let d = delta(&base(), &base(), &tasks()).unwrap();
        assert_eq!((d.delta_p, d.delta_m), (0.0, 0.0));
        // A baseline MSE of 0 and an R² undefined in the run: task a drops out of both, b stays.
        let zero = vec![vec![(Mse, 0.0), (R2, 0.8)], vec![(Accuracy, 0.9)]];
        let run = vec![vec![(Mse, 0.1), (R2, f64::NAN)], vec![(Accuracy, 0.99)]];
        let d = delta(&run, &zero, &tasks()).unwrap();
        assert!((d.delta_p - 10.0).abs() < 1e-9 && (d.delta_m + 10.0).abs() < 1e-9, "{d:?}");
        assert_eq!(d.left_out, ["a.mse (the baseline is 0)", "a.r2 (undefined in the run)"]);
        // An F1 baseline of exactly 0 (a rare label) beside a defined AUC.
        let t = vec![task("r", TaskKind::Binary, &[Auc, F1], &[Auc])];
        let d = delta(&[vec![(Auc, 0.9), (F1, 0.2)]], &[vec![(Auc, 0.75), (F1, 0.0)]], &t).unwrap();
        assert!((d.delta_m + 20.0).abs() < 1e-9 && (d.delta_p - 20.0).abs() < 1e-9, "{d:?}");
        assert_eq!(d.left_out, ["r.f1 (the baseline is 0)"]);
        // When the Δm metric itself is undefined, Δp stays and Δm is NaN (shown as undefined).
        let d = delta(&[vec![(Auc, f64::NAN), (F1, 0.3)]], &[vec![(Auc, 0.75), (F1, 0.2)]], &t).unwrap();
        assert!(d.delta_m.is_nan() && (d.delta_p - 50.0).abs() < 1e-9, "{d:?}");
        // Nothing defined at all is an error naming what was left out.
        let e = delta(&[vec![(Auc, f64::NAN), (F1, 0.3)]], &[vec![(Auc, 0.75), (F1, 0.0)]], &t).unwrap_err();
        assert!(e.contains("r.auc (undefined in the run)") && e.contains("r.f1 (the baseline is 0)"), "{e}");
        let missing = vec![vec![(Mse, 0.5)], vec![(Accuracy, 0.9)]];
        assert!(delta(&base(), &missing, &tasks()).unwrap_err().contains("no r2"));
    }

    #[test]
    fn negative_baselines_keep_the_direction() {
        // An R² baseline of −0.5 improved to −0.25 is better: Δp positive, Δm negative.
        let t = vec![task("a", TaskKind::Regression, &[R2], &[R2])];
        let d = delta(&[vec![(R2, -0.25)]], &[vec![(R2, -0.5)]], &t).unwrap();
        assert!((d.delta_p - 50.0).abs() < 1e-9 && (d.delta_m + 50.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn the_primary_metric_of_each_kind() {
        assert_eq!(MetricKind::primary(TaskKind::Regression), Mse);
        assert_eq!(MetricKind::primary(TaskKind::Binary), Auc);
        assert_eq!(MetricKind::primary(TaskKind::Multilabel { labels: 3 }), Auc);
        assert_eq!(MetricKind::primary(TaskKind::Multiclass { classes: 4 }), Accuracy);
    }

    #[test]
    fn scores_are_read_from_summary_json_with_null_as_undefined() {
        let json = serde_json::json!({"a": {"loss": 1.0, "mse": 0.5, "r2": 0.8}, "b": {"accuracy": 0.9}});
        let tasks = vec![("a".to_string(), vec![Mse, R2]), ("b".to_string(), vec![Accuracy])];
        assert_eq!(scores_from_json(&tasks, &json).unwrap(), base());
        let tasks = vec![("c".to_string(), vec![Mse])];
        assert!(scores_from_json(&tasks, &json).unwrap_err().contains("task `c`"));
        let json = serde_json::json!({"a": {"mse": 0.5, "r2": null}});
        let s = scores_from_json(&[("a".to_string(), vec![Mse, R2])], &json).unwrap();
        assert!(s[0][1].1.is_nan());
        let e = scores_from_json(&[("a".to_string(), vec![Mae])], &json).unwrap_err();
        assert!(e.contains("no mae"), "{e}");
    }
}
