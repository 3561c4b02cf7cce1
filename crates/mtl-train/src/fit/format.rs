//! The text and JSON shapes of per-task values in the logs.

use mtl_data::TaskSpec;

use crate::config::TaskConfig;
use crate::evaluate::{Evaluation, json_f64};

/// `{task: value}` for the logs.
pub(super) fn named(tasks: &[TaskSpec], values: &[f64]) -> serde_json::Value {
    tasks
        .iter()
        .zip(values)
        .map(|(t, v)| (t.name.clone(), json_f64(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `a=0.1234 b=0.5678`.
pub(super) fn loss_message(tasks: &[TaskSpec], losses: &[f64]) -> String {
    tasks.iter().zip(losses).map(|(t, l)| format!("{}={l:.4}", t.name)).collect::<Vec<_>>().join(" ")
}

/// `a[mse=0.1 r2=0.9] b[…]`.
pub(super) fn metric_message(tasks: &[TaskConfig], e: &Evaluation) -> String {
    tasks
        .iter()
        .zip(&e.metrics)
        .map(|(t, ms)| {
            let values: Vec<String> = ms.iter().map(|(k, v)| format!("{}={v:.4}", k.name())).collect();
            format!("{}[{}]", t.spec.name, values.join(" "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
