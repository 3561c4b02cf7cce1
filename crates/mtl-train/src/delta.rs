//! Δm: the relative improvement of a multi-task run over single-task (STL) baselines, in the
//! two conventions found in the literature. Both are in percent, and positive means better
//! than training each task alone.
//!
//! With `M_{t,m}` the run's value of metric `m` of task `t`, `B_{t,m}` the STL baseline's, and
//! `s_m = 1` when lower is better (loss-like: MSE, MAE) and `0` when higher is better:
//!
//! - **Δp** (LibMTL, Lin & Zhang, JMLR 2023, §"Evaluation"): average over the metrics of
//!   each task first, then over the tasks, so every task counts the same however many metrics
//!   it reports:
//!   `Δp = 100/T · Σ_t 1/|M_t| · Σ_{m ∈ M_t} (−1)^{s_m} (M_{t,m} − B_{t,m}) / B_{t,m}`.
//! - **Δm** (Maninis et al., CVPR 2019; used by Nash-MTL, ICML 2022, and FAMO, NeurIPS
//!   2023): a flat average over all `K` metrics of all tasks, so a task with more metrics
//!   weighs more: `Δm = 100/K · Σ_k (−1)^{s_k} (M_k − B_k) / B_k`.
//!
//! mtl divides by `|B|` rather than `B`: identical for the usual positive metrics, and it
//! keeps the sign meaning "better" when a baseline is negative (an R² below zero).
//!
//! The two can rank runs differently (see the tests). Unlike LibMTL's trainer, the baseline
//! here is a trained single-task network, not the multi-task network at epoch 0.

use serde::{Deserialize, Serialize};

use crate::metrics::MetricKind;

/// Metric values of each task, in task order: `(metric, value)` in config order.
pub type Scores = [Vec<(MetricKind, f64)>];

/// Both conventions for one run against one baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// LibMTL's Δp (per-task average first), percent.
    pub delta_p: f64,
    /// Nash-MTL/FAMO Δm (flat average over all metrics), percent.
    pub delta_m: f64,
}

/// Signed relative improvement of every metric in percent, `(−1)^{s} (M − B) / B · 100`, per
/// task. Fails when the two score lists do not hold the same metrics, or when a baseline value
/// is zero or not finite (the ratio is undefined).
pub fn relative_gains(run: &Scores, base: &Scores, task_names: &[String]) -> Result<Vec<Vec<f64>>, String> {
    if run.len() != base.len() || run.len() != task_names.len() {
        return Err(format!("{} tasks in the run, {} in the baseline", run.len(), base.len()));
    }
    let mut out = Vec::with_capacity(run.len());
    for ((r, b), name) in run.iter().zip(base).zip(task_names) {
        let mut gains = Vec::with_capacity(r.len());
        for (kind, value) in r {
            let Some((_, base_value)) = b.iter().find(|(k, _)| k == kind) else {
                return Err(format!("the baseline of task `{name}` has no {}", kind.name()));
            };
            if *base_value == 0.0 || !base_value.is_finite() {
                return Err(format!(
                    "the baseline {} of task `{name}` is {base_value}; a relative improvement is undefined",
                    kind.name()
                ));
            }
            let sign = if kind.higher_is_better() { 1.0 } else { -1.0 };
            gains.push(100.0 * sign * (value - base_value) / base_value.abs());
        }
        if gains.is_empty() {
            return Err(format!("task `{name}` reports no metric"));
        }
        out.push(gains);
    }
    Ok(out)
}

/// Δp and Δm of `run` against `base`; see the module documentation for the formulas.
pub fn delta(run: &Scores, base: &Scores, task_names: &[String]) -> Result<Delta, String> {
    let gains = relative_gains(run, base, task_names)?;
    let per_task: Vec<f64> = gains.iter().map(|g| g.iter().sum::<f64>() / g.len() as f64).collect();
    let delta_p = per_task.iter().sum::<f64>() / per_task.len() as f64;
    let flat: Vec<f64> = gains.into_iter().flatten().collect();
    let delta_m = flat.iter().sum::<f64>() / flat.len() as f64;
    Ok(Delta { delta_p, delta_m })
}

/// Read task scores from a summary's `{task: {metric: value, ...}}` JSON, in the order of
/// `tasks` (name, metrics).
pub fn scores_from_json(
    tasks: &[(String, Vec<MetricKind>)],
    json: &serde_json::Value,
) -> Result<Vec<Vec<(MetricKind, f64)>>, String> {
    tasks
        .iter()
        .map(|(name, metrics)| {
            let entry = json.get(name).ok_or_else(|| format!("no results for task `{name}`"))?;
            metrics
                .iter()
                .map(|k| {
                    let v = entry
                        .get(k.name())
                        .and_then(serde_json::Value::as_f64)
                        .ok_or_else(|| format!("no {} for task `{name}`", k.name()))?;
                    Ok((*k, v))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricKind::{Accuracy, Mse, R2};

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn base() -> Vec<Vec<(MetricKind, f64)>> {
        vec![vec![(Mse, 0.5), (R2, 0.8)], vec![(Accuracy, 0.9)]]
    }

    #[test]
    fn both_conventions_on_a_hand_computed_case() {
        // a: MSE 0.5 → 0.4 is +20 % (lower is better), R² 0.8 → 0.88 is +10 %;
        // b: accuracy 0.9 → 0.81 is −10 %.
        let run = vec![vec![(Mse, 0.4), (R2, 0.88)], vec![(Accuracy, 0.81)]];
        let gains = relative_gains(&run, &base(), &names()).unwrap();
        assert!((gains[0][0] - 20.0).abs() < 1e-9 && (gains[0][1] - 10.0).abs() < 1e-9);
        assert!((gains[1][0] + 10.0).abs() < 1e-9);
        let d = delta(&run, &base(), &names()).unwrap();
        // Δp = ((20 + 10)/2 + (−10)) / 2 = 2.5; Δm = (20 + 10 − 10) / 3 = 6.667.
        assert!((d.delta_p - 2.5).abs() < 1e-9, "{d:?}");
        assert!((d.delta_m - 20.0 / 3.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn the_conventions_can_rank_two_runs_differently() {
        let run1 = vec![vec![(Mse, 0.4), (R2, 0.88)], vec![(Accuracy, 0.81)]]; // Δp 2.5, Δm 6.67
        let run2 = vec![vec![(Mse, 0.5), (R2, 0.8)], vec![(Accuracy, 0.954)]]; // Δp 3.0, Δm 2.0
        let d1 = delta(&run1, &base(), &names()).unwrap();
        let d2 = delta(&run2, &base(), &names()).unwrap();
        assert!((d2.delta_p - 3.0).abs() < 1e-9 && (d2.delta_m - 2.0).abs() < 1e-9, "{d2:?}");
        assert!(d2.delta_p > d1.delta_p, "Δp prefers run 2");
        assert!(d1.delta_m > d2.delta_m, "Δm prefers run 1");
    }

    #[test]
    fn equal_scores_give_zero_and_bad_baselines_are_refused() {
        let d = delta(&base(), &base(), &names()).unwrap();
        assert_eq!((d.delta_p, d.delta_m), (0.0, 0.0));
        let zero = vec![vec![(Mse, 0.0), (R2, 0.8)], vec![(Accuracy, 0.9)]];
        let e = delta(&base(), &zero, &names()).unwrap_err();
        assert!(e.contains("task `a`") && e.contains("mse"), "{e}");
        let missing = vec![vec![(Mse, 0.5)], vec![(Accuracy, 0.9)]];
        assert!(delta(&base(), &missing, &names()).unwrap_err().contains("no r2"));
    }

    #[test]
    fn negative_baselines_keep_the_direction() {
        // An R² baseline of −0.5 improved to −0.25 is better, so the gain must be positive.
        let run = vec![vec![(R2, -0.25)]];
        let base = vec![vec![(R2, -0.5)]];
        let g = relative_gains(&run, &base, &["a".into()]).unwrap();
        assert!((g[0][0] - 50.0).abs() < 1e-9);
    }

    #[test]
    fn scores_are_read_from_summary_json() {
        let json = serde_json::json!({"a": {"loss": 1.0, "mse": 0.5, "r2": 0.8}, "b": {"accuracy": 0.9}});
        let tasks = vec![("a".to_string(), vec![Mse, R2]), ("b".to_string(), vec![Accuracy])];
        assert_eq!(scores_from_json(&tasks, &json).unwrap(), base());
        let tasks = vec![("c".to_string(), vec![Mse])];
        assert!(scores_from_json(&tasks, &json).unwrap_err().contains("task `c`"));
    }
}
