//! The metric trait and the list of metrics.

use burn::tensor::{Device, Tensor};
use mtl_data::TaskKind;

/// A metric of one task, accumulated over batches.
pub trait Metric: Send + std::fmt::Debug {
    /// Which metric this is.
    fn kind(&self) -> MetricKind;
    /// Add a batch. `output`: `[batch, d_out]` values or logits; `target`, `mask`: `[batch]`.
    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>);
    /// The value over everything seen since the last reset (reads the device once).
    fn compute(&self) -> f64;
    /// Forget everything seen.
    fn reset(&mut self);
    /// Values per label behind the metric, where it is an average over labels (multilabel
    /// AUC); `None` otherwise.
    fn per_label(&self) -> Option<Vec<f64>> {
        None
    }
}

/// The metrics mtl reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Mean squared error (regression, ↓).
    Mse,
    /// Mean absolute error (regression, ↓).
    Mae,
    /// Coefficient of determination 1 − SSE/SST (regression, ↑).
    R2,
    /// Fraction of correct predictions (binary: logit > 0; multiclass: arg-max; multilabel:
    /// of the label decisions, i.e. 1 − Hamming loss) (↑).
    Accuracy,
    /// Area under the ROC curve (binary; multilabel: mean over the labels that have both
    /// classes, "macro") (↑).
    Auc,
    /// F1 of the positive class (binary; multilabel: micro-averaged over all label decisions) (↑).
    F1,
    /// Unweighted mean of per-class F1 over the classes present (multiclass, ↑).
    MacroF1,
}

impl MetricKind {
    /// Every metric.
    pub const ALL: [MetricKind; 7] = [
        MetricKind::Mse,
        MetricKind::Mae,
        MetricKind::R2,
        MetricKind::Accuracy,
        MetricKind::Auc,
        MetricKind::F1,
        MetricKind::MacroF1,
    ];

    /// Name in configs and logs.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Mse => "mse",
            MetricKind::Mae => "mae",
            MetricKind::R2 => "r2",
            MetricKind::Accuracy => "accuracy",
            MetricKind::Auc => "auc",
            MetricKind::F1 => "f1",
            MetricKind::MacroF1 => "macro_f1",
        }
    }

    /// Look a metric up by its config name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether a larger value is better (Δm and model selection need the direction).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, MetricKind::Mse | MetricKind::Mae)
    }

    /// The metric of a task kind that enters Δm by default (see [`crate::delta`]): MSE for
    /// regression, AUC for binary and multilabel, accuracy for multiclass.
    pub fn primary(kind: TaskKind) -> MetricKind {
        match kind {
            TaskKind::Regression => MetricKind::Mse,
            TaskKind::Binary | TaskKind::Multilabel { .. } => MetricKind::Auc,
            TaskKind::Multiclass { .. } => MetricKind::Accuracy,
        }
    }

    /// The metrics that apply to a task kind; all of them are the default.
    pub fn for_task(kind: TaskKind) -> &'static [MetricKind] {
        match kind {
            TaskKind::Regression => &[MetricKind::Mse, MetricKind::Mae, MetricKind::R2],
            TaskKind::Binary | TaskKind::Multilabel { .. } => {
                &[MetricKind::Accuracy, MetricKind::Auc, MetricKind::F1]
            }
            TaskKind::Multiclass { .. } => &[MetricKind::Accuracy, MetricKind::MacroF1],
        }
    }

    /// A fresh accumulator of this metric for a task of `kind`.
    pub fn build(self, kind: TaskKind, device: &Device) -> Box<dyn Metric> {
        use super::*;
        let d = device.clone();
        match (self, kind) {
            (MetricKind::Mse, _) => Box::new(mean_error::MeanError::squared(d)),
            (MetricKind::Mae, _) => Box::new(mean_error::MeanError::absolute(d)),
            (MetricKind::R2, _) => Box::new(r2::R2::new(d)),
            (MetricKind::Accuracy, _) => Box::new(accuracy::Accuracy::new(kind, d)),
            (MetricKind::Auc, _) => Box::new(auc::Auc::new(kind)),
            (MetricKind::F1, _) => Box::new(f1::F1::new(kind, d)),
            (MetricKind::MacroF1, TaskKind::Multiclass { classes }) => {
                Box::new(macro_f1::MacroF1::new(classes, d))
            }
            (MetricKind::MacroF1, _) => panic!("macro_f1 needs a multiclass task"),
        }
    }
}

/// Running sums on the device: `add` folds in a `[k]` tensor of batch sums.
#[derive(Debug, Clone)]
pub(crate) struct Sums {
    device: Device,
    acc: Option<Tensor<1>>,
}

impl Sums {
    pub(crate) fn new(device: Device) -> Self {
        Self { device, acc: None }
    }

    /// Add one batch's sums (each a `[1]` tensor).
    pub(crate) fn add(&mut self, parts: Vec<Tensor<1>>) {
        let batch = Tensor::cat(parts, 0);
        self.acc = Some(match self.acc.take() {
            Some(a) => a + batch,
            None => batch,
        });
    }

    /// The sums as f64 on the host (zeros of length `k` when nothing was added).
    pub(crate) fn read(&self, k: usize) -> Vec<f64> {
        match &self.acc {
            Some(a) => host(a.clone()),
            None => {
                let _ = &self.device;
                vec![0.0; k]
            }
        }
    }

    pub(crate) fn reset(&mut self) {
        self.acc = None;
    }
}

/// Read a 1-d tensor back to the host as f64.
pub fn host(t: Tensor<1>) -> Vec<f64> {
    mtl_weighting::host::read_f32(t).into_iter().map(f64::from).collect()
}

/// The first output column as a `[batch]` vector.
pub(crate) fn column(output: &Tensor<2>) -> Tensor<1> {
    let [b, _] = output.dims();
    output.clone().slice([0..b, 0..1]).reshape([b])
}
