//! Mean absolute error over labelled samples: Σ m·|ŷ − y| / Σ m.

use burn::tensor::{Device, Tensor};

use super::base::{Metric, MetricKind, Sums, column};

/// Mean absolute error.
#[derive(Debug)]
pub struct Mae {
    sums: Sums,
}

impl Mae {
    pub(crate) fn new(device: Device) -> Self {
        Self { sums: Sums::new(device) }
    }
}

impl Metric for Mae {
    fn kind(&self) -> MetricKind {
        MetricKind::Mae
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        let err = (column(output) - target.clone()).abs() * mask.clone();
        self.sums.add(vec![err.sum(), mask.clone().sum()]);
    }

    fn compute(&self) -> f64 {
        let s = self.sums.read(2);
        s[0] / s[1]
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}
