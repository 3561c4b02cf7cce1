//! Mean squared error over labelled samples: Σ m·(ŷ − y)² / Σ m.

use burn::tensor::{Device, Tensor};

use super::base::{Metric, MetricKind, Sums, column};

/// Mean squared error.
#[derive(Debug)]
pub struct Mse {
    sums: Sums,
}

impl Mse {
    pub(crate) fn new(device: Device) -> Self {
        Self { sums: Sums::new(device) }
    }
}

impl Metric for Mse {
    fn kind(&self) -> MetricKind {
        MetricKind::Mse
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        let err = (column(output) - target.clone()).square() * mask.clone();
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
