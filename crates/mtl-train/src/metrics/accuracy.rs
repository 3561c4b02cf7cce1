//! Accuracy over labelled samples. Binary: predicted 1 when the logit is > 0 (p > ½).
//! Multiclass: the arg-max class. Multilabel: the share of correct label decisions (each
//! label's logit > 0), i.e. 1 − Hamming loss.

use burn::tensor::{Device, Tensor};
use mtl_data::TaskKind;

use super::base::{Metric, MetricKind, Sums, column};

/// Accuracy.
#[derive(Debug)]
pub struct Accuracy {
    kind: TaskKind,
    sums: Sums,
}

impl Accuracy {
    pub(crate) fn new(kind: TaskKind, device: Device) -> Self {
        Self { kind, sums: Sums::new(device) }
    }
}

/// Multilabel: predicted and true label matrices, masked rows zeroed. `[batch, labels]` each.
pub(crate) fn label_decisions(
    output: &Tensor<2>,
    target: &Tensor<1>,
    mask: &Tensor<1>,
    labels: usize,
) -> (Tensor<2>, Tensor<2>) {
    let [b, _] = output.dims();
    let m = mask.clone().reshape([b, 1]);
    let pred = output.clone().greater_elem(0.0).float() * m.clone();
    (pred, crate::loss::label_bits(target.clone(), labels) * m)
}

/// Predicted class ids as floats. `[batch]`.
pub(crate) fn predicted(output: &Tensor<2>, multiclass: bool) -> Tensor<1> {
    if multiclass {
        let [b, _] = output.dims();
        output.clone().argmax(1).reshape([b]).float()
    } else {
        column(output).greater_elem(0.0).float()
    }
}

impl Metric for Accuracy {
    fn kind(&self) -> MetricKind {
        MetricKind::Accuracy
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        if let TaskKind::Multilabel { labels } = self.kind {
            let (pred, y) = label_decisions(output, target, mask, labels);
            // Wrong decisions of labelled rows: |pred − y| (masked rows are 0 in both).
            let wrong = (pred - y).abs().sum();
            let decisions = mask.clone().sum().mul_scalar(labels as f32);
            self.sums.add(vec![decisions.clone() - wrong, decisions]);
            return;
        }
        let multiclass = matches!(self.kind, TaskKind::Multiclass { .. });
        let correct = predicted(output, multiclass).equal(target.clone()).float() * mask.clone();
        self.sums.add(vec![correct.sum(), mask.clone().sum()]);
    }

    fn compute(&self) -> f64 {
        let s = self.sums.read(2);
        s[0] / s[1]
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}
