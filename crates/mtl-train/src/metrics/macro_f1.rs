//! Macro-F1 for multiclass tasks: the unweighted mean of per-class F1 = 2·TP/(2·TP + FP + FN),
//! over the classes that occur among the labels or the predictions (scikit-learn's
//! `f1_score(average="macro")` with its default labels).

use burn::tensor::{Device, Tensor};

use super::accuracy::predicted;
use super::base::{Metric, MetricKind, host};

/// Macro-averaged F1, from a confusion matrix kept on the device.
#[derive(Debug)]
pub struct MacroF1 {
    classes: usize,
    device: Device,
    /// `[classes, classes]`, rows = true class, columns = predicted class.
    confusion: Option<Tensor<2>>,
}

impl MacroF1 {
    pub(crate) fn new(classes: usize, device: Device) -> Self {
        Self { classes, device, confusion: None }
    }
}

impl Metric for MacroF1 {
    fn kind(&self) -> MetricKind {
        MetricKind::MacroF1
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        let [b, _] = output.dims();
        let truth = target.clone().one_hot::<2>(self.classes) * mask.clone().reshape([b, 1]);
        let pred = predicted(output, true).one_hot::<2>(self.classes);
        let batch = truth.transpose().matmul(pred); // [classes, classes]
        self.confusion = Some(match self.confusion.take() {
            Some(c) => c + batch,
            None => batch,
        });
    }

    fn compute(&self) -> f64 {
        let k = self.classes;
        let c = match &self.confusion {
            Some(c) => host(c.clone().reshape([k * k])),
            None => return f64::NAN,
        };
        let _ = &self.device;
        let mut total = 0.0;
        let mut present = 0;
        for i in 0..k {
            let tp = c[i * k + i];
            let row: f64 = (0..k).map(|j| c[i * k + j]).sum(); // TP + FN
            let col: f64 = (0..k).map(|j| c[j * k + i]).sum(); // TP + FP
            if row + col > 0.0 {
                total += 2.0 * tp / (row + col);
                present += 1;
            }
        }
        if present == 0 { f64::NAN } else { total / present as f64 }
    }

    fn reset(&mut self) {
        self.confusion = None;
    }
}
