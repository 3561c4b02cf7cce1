//! F1 of the positive class for binary tasks: 2·TP / (2·TP + FP + FN); 0 when there is no
//! positive among labels and predictions (scikit-learn's `zero_division=0`). Multilabel: the
//! same counts over every label decision (scikit-learn's `average="micro"`).

use burn::tensor::{Device, Tensor};

use mtl_data::TaskKind;

use super::accuracy::{label_decisions, predicted};
use super::base::{Metric, MetricKind, Sums};

/// Binary F1.
#[derive(Debug)]
pub struct F1 {
    kind: TaskKind,
    sums: Sums,
}

impl F1 {
    pub(crate) fn new(kind: TaskKind, device: Device) -> Self {
        Self { kind, sums: Sums::new(device) }
    }
}

impl Metric for F1 {
    fn kind(&self) -> MetricKind {
        MetricKind::F1
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        if let TaskKind::Multilabel { labels } = self.kind {
            let (pred, y) = label_decisions(output, target, mask, labels);
            let tp = (pred.clone() * y.clone()).sum();
            self.sums.add(vec![tp, pred.sum(), y.sum()]);
            return;
        }
        let pred = predicted(output, false) * mask.clone();
        let y = target.clone() * mask.clone();
        let tp = (pred.clone() * y.clone()).sum();
        // FP + FN = Σ pred + Σ y − 2·TP
        self.sums.add(vec![tp, pred.sum(), y.sum()]);
    }

    fn compute(&self) -> f64 {
        let s = self.sums.read(3);
        let (tp, npred, npos) = (s[0], s[1], s[2]);
        let denom = npred + npos;
        if denom == 0.0 { 0.0 } else { 2.0 * tp / denom }
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}
