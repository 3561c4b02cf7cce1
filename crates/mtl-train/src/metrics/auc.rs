//! Area under the ROC curve for binary tasks, by the Mann–Whitney U statistic with average
//! ranks for ties (equal to scikit-learn's `roc_auc_score`). Scores stay on the device during
//! the epoch; `compute` reads them once and sorts on the host. NaN when only one class occurs.
//! Multilabel: the mean of the per-label AUCs over the labels where both classes occur
//! (scikit-learn's `average="macro"`, which instead fails on such a label).

use burn::tensor::Tensor;
use mtl_data::{TaskKind, decode_labels};

use super::base::{Metric, MetricKind, column, host};

/// ROC AUC.
#[derive(Debug)]
pub struct Auc {
    kind: TaskKind,
    /// Binary: the logit column; multilabel: all logits, row-major.
    scores: Vec<Tensor<1>>,
    targets: Vec<Tensor<1>>,
    masks: Vec<Tensor<1>>,
}

impl Auc {
    pub(crate) fn new(kind: TaskKind) -> Self {
        Self { kind, scores: Vec::new(), targets: Vec::new(), masks: Vec::new() }
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
        self.scores.push(match self.kind {
            TaskKind::Multilabel { .. } => output.clone().flatten(0, 1),
            _ => column(output),
        });
        self.targets.push(target.clone());
        self.masks.push(mask.clone());
    }

    fn compute(&self) -> f64 {
        if let Some(per_label) = self.per_label() {
            let defined: Vec<f64> = per_label.into_iter().filter(|a| !a.is_nan()).collect();
            return if defined.is_empty() {
                f64::NAN
            } else {
                defined.iter().sum::<f64>() / defined.len() as f64
            };
        }
        if self.scores.is_empty() {
            return f64::NAN;
        }
        let s = host(Tensor::cat(self.scores.clone(), 0));
        let y = host(Tensor::cat(self.targets.clone(), 0));
        let m = host(Tensor::cat(self.masks.clone(), 0));
        let keep: Vec<usize> = (0..m.len()).filter(|&i| m[i] > 0.0).collect();
        let scores: Vec<f64> = keep.iter().map(|&i| s[i]).collect();
        let labels: Vec<bool> = keep.iter().map(|&i| y[i] > 0.5).collect();
        roc_auc(&scores, &labels)
    }

    fn reset(&mut self) {
        *self = Self::new(self.kind);
    }

    /// Multilabel: each label's AUC (NaN where the label has one class only).
    fn per_label(&self) -> Option<Vec<f64>> {
        let TaskKind::Multilabel { labels } = self.kind else { return None };
        if self.scores.is_empty() {
            return Some(vec![f64::NAN; labels]);
        }
        let s = host(Tensor::cat(self.scores.clone(), 0));
        let y = host(Tensor::cat(self.targets.clone(), 0));
        let m = host(Tensor::cat(self.masks.clone(), 0));
        let keep: Vec<usize> = (0..m.len()).filter(|&i| m[i] > 0.0).collect();
        Some(
            (0..labels)
                .map(|k| {
                    let scores: Vec<f64> = keep.iter().map(|&i| s[i * labels + k]).collect();
                    let on: Vec<bool> = keep.iter().map(|&i| decode_labels(y[i] as f32, labels)[k]).collect();
                    roc_auc(&scores, &on)
                })
                .collect(),
        )
    }
}
