//! Accuracy over labelled samples. Binary: predicted 1 when the logit is > 0 (p > ½).
//! Multiclass: the arg-max class.

use burn::tensor::{Device, Tensor};
use mtl_data::TaskKind;

use super::base::{Metric, MetricKind, Sums, column};

/// Accuracy.
#[derive(Debug)]
pub struct Accuracy {
    multiclass: bool,
    sums: Sums,
}

impl Accuracy {
    pub(crate) fn new(kind: TaskKind, device: Device) -> Self {
        Self { multiclass: matches!(kind, TaskKind::Multiclass { .. }), sums: Sums::new(device) }
    }
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
        let correct = predicted(output, self.multiclass).equal(target.clone()).float() * mask.clone();
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
