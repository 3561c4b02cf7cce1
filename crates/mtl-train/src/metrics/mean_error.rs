//! Mean squared error Σ m·(ŷ − y)² / Σ m and mean absolute error Σ m·|ŷ − y| / Σ m over the
//! labelled samples: one accumulator, two error functions.

use burn::tensor::{Device, Tensor};

use super::base::{Metric, MetricKind, Sums, column};

/// MSE or MAE.
#[derive(Debug)]
pub struct MeanError {
    squared: bool,
    sums: Sums,
}

impl MeanError {
    /// Mean squared error.
    pub(crate) fn squared(device: Device) -> Self {
        Self { squared: true, sums: Sums::new(device) }
    }

    /// Mean absolute error.
    pub(crate) fn absolute(device: Device) -> Self {
        Self { squared: false, sums: Sums::new(device) }
    }
}

impl Metric for MeanError {
    fn kind(&self) -> MetricKind {
        if self.squared { MetricKind::Mse } else { MetricKind::Mae }
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        let diff = column(output) - target.clone();
        let err = if self.squared { diff.square() } else { diff.abs() } * mask.clone();
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
