//! All metrics of one task.

use burn::tensor::{Device, Tensor};
use mtl_data::TaskKind;

use super::base::{Metric, MetricKind};

/// The metrics chosen for one task.
#[derive(Debug)]
pub struct TaskMetrics {
    metrics: Vec<Box<dyn Metric>>,
}

impl TaskMetrics {
    /// Accumulators for `kinds` on a task of `task_kind`.
    pub fn new(kinds: &[MetricKind], task_kind: TaskKind, device: &Device) -> Self {
        Self { metrics: kinds.iter().map(|k| k.build(task_kind, device)).collect() }
    }

    /// Add a batch to every metric.
    pub fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        for m in &mut self.metrics {
            m.update(output, target, mask);
        }
    }

    /// `(metric, value)` pairs, in config order.
    pub fn compute(&self) -> Vec<(MetricKind, f64)> {
        self.metrics.iter().map(|m| (m.kind(), m.compute())).collect()
    }

    /// The per-label values of the metrics that average over labels (multilabel AUC).
    pub fn per_label(&self) -> Vec<(MetricKind, Vec<f64>)> {
        self.metrics.iter().filter_map(|m| m.per_label().map(|v| (m.kind(), v))).collect()
    }
}
