//! Area under the ROC curve for binary tasks, by the Mann–Whitney U statistic with average
//! ranks for ties (equal to scikit-learn's `roc_auc_score`). Scores stay on the device during
//! the epoch; `compute` reads them once and sorts on the host. NaN when only one class occurs.

use burn::tensor::Tensor;

use super::base::{Metric, MetricKind, column, host};

/// ROC AUC.
#[derive(Debug, Default)]
pub struct Auc {
    scores: Vec<Tensor<1>>,
    targets: Vec<Tensor<1>>,
    masks: Vec<Tensor<1>>,
}

impl Auc {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

/// AUC of `scores` against 0/1 `labels` (Mann–Whitney, average ranks).
pub(crate) fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0; // ranks are 1-based
        for &k in &order[i..=j] {
            ranks[k] = avg;
        }
        i = j + 1;
    }
    let n_pos = labels.iter().filter(|&&l| l).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, l)| **l).map(|(r, _)| r).sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

impl Metric for Auc {
    fn kind(&self) -> MetricKind {
        MetricKind::Auc
    }

    fn update(&mut self, output: &Tensor<2>, target: &Tensor<1>, mask: &Tensor<1>) {
        self.scores.push(column(output));
        self.targets.push(target.clone());
        self.masks.push(mask.clone());
    }

    fn compute(&self) -> f64 {
        if self.scores.is_empty() {
            return f64::NAN;
        }
        let s = host(Tensor::cat(self.scores.clone(), 0));
        let y = host(Tensor::cat(self.targets.clone(), 0));
        let m = host(Tensor::cat(self.masks.clone(), 0));
        let keep: Vec<usize> = (0..s.len()).filter(|&i| m[i] > 0.0).collect();
        let scores: Vec<f64> = keep.iter().map(|&i| s[i]).collect();
        let labels: Vec<bool> = keep.iter().map(|&i| y[i] > 0.5).collect();
        roc_auc(&scores, &labels)
    }

    fn reset(&mut self) {
        *self = Self::default();
    }
}
