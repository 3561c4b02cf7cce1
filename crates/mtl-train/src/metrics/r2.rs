//! Coefficient of determination R² = 1 − SSE / SST over labelled samples, with
//! SST = Σ y² − (Σ y)² / n (as scikit-learn's `r2_score`, single output).

use burn::tensor::{Device, Tensor};

use super::base::{Metric, MetricKind, Sums, column};

/// R².
#[derive(Debug)]
pub struct R2 {
    sums: Sums,
}

impl R2 {
    pub(crate) fn new(device: Device) -> Self {
        Self { sums: Sums::new(device) }
    }
}

impl Metric for R2 {
    fn kind(&self) -> MetricKind {
        MetricKind::R2
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        let y = target.clone() * mask.clone();
        let sse = (column(output) - target.clone()).square() * mask.clone();
        self.sums.add(vec![sse.sum(), y.clone().sum(), (y * target.clone()).sum(), mask.clone().sum()]);
    }

    fn compute(&self) -> f64 {
        let s = self.sums.read(4);
        let (sse, sy, syy, n) = (s[0], s[1], s[2], s[3]);
        let sst = syy - sy * sy / n;
        // A constant target (SST = 0, up to the f32 sums' rounding) leaves R² undefined:
        // NaN, as scikit-learn's `r2_score(force_finite=False)`, not −inf or a huge value.
        if n == 0.0 || sst <= 1e-6 * syy.abs() {
            return f64::NAN;
        }
        1.0 - sse / sst
    }

    fn reset(&mut self) {
        self.sums.reset();
    }
}
