//! Evaluation: masked losses and metrics of a model on a split, accumulated on the device.

use burn::tensor::{Device, Tensor};
use mtl_data::{MultiTaskBatch, MultiTaskDataset, batch_indices};
use mtl_model::MultiTaskModel;

use crate::config::TaskConfig;
use crate::loss::per_sample_loss;
use crate::metrics::{MetricKind, TaskMetrics};

/// Losses and metrics of every task on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean loss of each task over its labelled samples.
    pub losses: Vec<f64>,
    /// Per task, `(metric, value)` in config order.
    pub metrics: Vec<Vec<(MetricKind, f64)>>,
    /// Per task, the mean gate weight of each expert (cross-stitch: of each column) over the
    /// split; `None` for architectures without gates.
    pub gates: Option<Vec<Vec<f64>>>,
    /// Per task, the per-label values of metrics that average over labels (multilabel AUC);
    /// empty for other tasks.
    pub per_label: Vec<Vec<(MetricKind, Vec<f64>)>>,
}

impl Evaluation {
    /// Sum of the task losses (model selection criterion).
    pub fn total_loss(&self) -> f64 {
        self.losses.iter().sum()
    }

    /// `{task: {"loss": l, metric: v, ...}}` for logs and summaries.
    pub fn to_json(&self, tasks: &[TaskConfig]) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (t, task) in tasks.iter().enumerate() {
            let mut m = serde_json::Map::new();
            m.insert("loss".into(), json_f64(self.losses[t]));
            for (k, v) in &self.metrics[t] {
                m.insert(k.name().into(), json_f64(*v));
            }
            for (k, values) in self.per_label.get(t).into_iter().flatten() {
                let values: Vec<serde_json::Value> = values.iter().map(|v| json_f64(*v)).collect();
                m.insert(format!("{}_per_label", k.name()), values.into());
            }
            out.insert(task.spec.name.clone(), m.into());
        }
        out.into()
    }

    /// `{task: {label: mean weight}}` with `labels` naming the gate's columns; null without
    /// gates.
    pub fn gates_json(&self, tasks: &[TaskConfig], labels: &[String]) -> serde_json::Value {
        let Some(gates) = &self.gates else { return serde_json::Value::Null };
        let mut out = serde_json::Map::new();
        for (task, g) in tasks.iter().zip(gates) {
            let m: serde_json::Map<_, _> =
                labels.iter().zip(g).map(|(l, v)| (l.clone(), json_f64(*v))).collect();
            out.insert(task.spec.name.clone(), m.into());
        }
        out.into()
    }
}

/// A JSON number, or null for NaN/inf (JSON has no such numbers).
pub fn json_f64(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map(Into::into).unwrap_or(serde_json::Value::Null)
}

/// Evaluate `model` (a non-autodiff copy, e.g. from `valid()`) on `data` in batches.
pub fn evaluate(
    model: &MultiTaskModel,
    data: &MultiTaskDataset,
    tasks: &[TaskConfig],
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    let mut metrics: Vec<TaskMetrics> =
        tasks.iter().map(|t| TaskMetrics::new(&t.metrics, t.spec.kind, device)).collect();
    let mut loss_sums: Option<Tensor<1>> = None; // [2T]: Σ m·ℓ then Σ m, per task
    let mut gate_sums: Option<Vec<Tensor<1>>> = None; // T × [gate width]: Σ over rows
    let order: Vec<usize> = (0..data.len()).collect();
    for idx in batch_indices(&order, batch_size, false) {
        let batch = MultiTaskBatch::gather(data, idx, device);
        let outputs = model.forward(batch.inputs.clone());
        if let Some(gates) = model.gate_weights(&batch.inputs) {
            let sums = gates.into_iter().map(|g| g.sum_dim(0).squeeze_dim::<1>(0));
            gate_sums = Some(match gate_sums {
                Some(acc) => acc.into_iter().zip(sums).map(|(a, b)| a + b).collect(),
                None => sums.collect(),
            });
        }
        let mut parts = Vec::with_capacity(2 * tasks.len());
        for (t, out) in outputs.iter().enumerate() {
            let (y, m) = (&batch.targets[t], &batch.masks[t]);
            match data.target_scale(t) {
                // Metrics on the original scale; the loss stays on the standardised one.
                Some((mean, std)) => metrics[t].update(
                    &(out.clone() * std as f32 + mean as f32),
                    &(y.clone() * std as f32 + mean as f32),
                    m,
                ),
                None => metrics[t].update(out, y, m),
            }
            let l = per_sample_loss(tasks[t].spec.kind, out.clone(), y.clone());
            parts.push((l * m.clone()).sum());
            parts.push(m.clone().sum());
        }
        let sums = Tensor::cat(parts, 0);
        loss_sums = Some(match loss_sums {
            Some(s) => s + sums,
            None => sums,
        });
    }
    let sums = loss_sums.map(crate::metrics::host_values).unwrap_or_else(|| vec![0.0; 2 * tasks.len()]);
    Evaluation {
        losses: (0..tasks.len()).map(|t| sums[2 * t] / sums[2 * t + 1]).collect(),
        metrics: metrics.iter().map(TaskMetrics::compute).collect(),
        per_label: metrics.iter().map(TaskMetrics::per_label).collect(),
        gates: gate_sums.map(|g| {
            let n = data.len().max(1) as f64;
            g.into_iter().map(|s| crate::metrics::host_values(s).iter().map(|v| v / n).collect()).collect()
        }),
    }
}
