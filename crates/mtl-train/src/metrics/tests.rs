//! Metrics against hand-computed values, over several batches and with masked samples.

use burn::tensor::{Device, Tensor};
use mtl_data::TaskKind;

use super::auc::roc_auc;
use super::{MetricKind, TaskMetrics};

#[allow(deprecated)]
fn device() -> Device {
    Device::ndarray()
}

fn col(values: &[f32]) -> Tensor<2> {
    Tensor::<1>::from_floats(values, &device()).reshape([values.len(), 1])
}

fn vec1(values: &[f32]) -> Tensor<1> {
    Tensor::from_floats(values, &device())
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
}

fn values(m: &TaskMetrics) -> Vec<f64> {
    m.compute().into_iter().map(|(_, v)| v).collect()
}

#[test]
fn regression_metrics_by_hand() {
    let kinds = MetricKind::for_task(TaskKind::Regression);
    let mut m = TaskMetrics::new(kinds, TaskKind::Regression, &device());
    // Batch 1: errors 0.5, 0; batch 2: errors −1, (masked) 100.
    m.update(&col(&[1.5, 2.0]), &vec1(&[1.0, 2.0]), &vec1(&[1.0, 1.0]));
    m.update(&col(&[2.0, 104.0]), &vec1(&[3.0, 4.0]), &vec1(&[1.0, 0.0]));
    let v = values(&m);
    // labelled y = 1, 2, 3 → mean 2, SST = 2; SSE = 0.25 + 0 + 1 = 1.25
    close(v[0], 1.25 / 3.0); // MSE
    close(v[1], 1.5 / 3.0); // MAE
    close(v[2], 1.0 - 1.25 / 2.0); // R²
}

#[test]
fn r2_of_a_constant_target_is_undefined_not_minus_infinity() {
    let mut m = TaskMetrics::new(&[MetricKind::R2], TaskKind::Regression, &device());
    m.update(&col(&[4.0, 6.0, 5.5]), &vec1(&[5.0, 5.0, 5.0]), &vec1(&[1.0, 1.0, 1.0]));
    assert!(values(&m)[0].is_nan(), "SST = 0: R² is undefined");
}

#[test]
fn binary_metrics_by_hand() {
    let kinds = MetricKind::for_task(TaskKind::Binary);
    let mut m = TaskMetrics::new(kinds, TaskKind::Binary, &device());
    // logits → predictions 1, 0 | 1, 0, (masked 1)
    m.update(&col(&[2.0, -1.0]), &vec1(&[1.0, 0.0]), &vec1(&[1.0, 1.0]));
    m.update(&col(&[0.5, -3.0, 9.0]), &vec1(&[0.0, 1.0, 0.0]), &vec1(&[1.0, 1.0, 0.0]));
    let v = values(&m);
    close(v[0], 2.0 / 4.0); // accuracy: correct are samples 1 and 2
    // AUC over scores [2, −1, 0.5, −3] with labels [1, 0, 0, 1]: pairs (pos, neg) where the
    // positive scores higher: (2 > −1), (2 > 0.5), (−3 < both) → 2 of 4.
    close(v[1], 0.5);
    // TP = 1, predicted positives = 2, actual positives = 2 → F1 = 2·1 / (2 + 2)
    close(v[2], 0.5);
}

#[test]
fn multiclass_metrics_by_hand() {
    let kind = TaskKind::Multiclass { classes: 3 };
    let mut m = TaskMetrics::new(MetricKind::for_task(kind), kind, &device());
    let logits = Tensor::<2>::from_floats(
        [[5.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 3.0], [0.0, 2.0, 0.0]],
        &device(),
    );
    m.update(&logits, &vec1(&[0.0, 1.0, 2.0, 2.0]), &vec1(&[1.0, 1.0, 1.0, 1.0]));
    let v = values(&m);
    close(v[0], 0.5); // predictions 0, 2, 2, 1 → two correct
    // per-class F1: class 0 → 1; class 1 → TP 0 → 0; class 2 → 2·1/(2·1 + 1 + 1) = 0.5
    close(v[1], (1.0 + 0.0 + 0.5) / 3.0);
}

#[test]
fn multilabel_metrics_by_hand() {
    let kind = TaskKind::Multilabel { labels: 2 };
    let mut m = TaskMetrics::new(MetricKind::for_task(kind), kind, &device());
    let enc = |a, b| mtl_data::encode_labels(&[a, b]);
    // Rows: truth {0,1} {1} {} (masked: {0}); logits decide {0} {0,1} {1} ({0,1}).
    let logits = Tensor::<2>::from_floats([[1.0, -1.0], [2.0, 0.5], [-3.0, 0.2], [9.0, 9.0]], &device());
    let y = vec1(&[enc(true, true), enc(false, true), enc(false, false), enc(true, false)]);
    m.update(&logits, &y, &vec1(&[1.0, 1.0, 1.0, 0.0]));
    let v = values(&m);
    // Decisions: row 1 (1,0) vs (1,1): 1 wrong; row 2 (1,1) vs (0,1): 1 wrong; row 3 (0,1) vs
    // (0,0): 1 wrong → 3 correct of 6.
    close(v[0], 0.5);
    // Label 0: scores [1, 2, −3], truth [1, 0, 0] → 1 of 2 pairs; label 1: scores [−1, 0.5, 0.2],
    // truth [1, 1, 0] → (−1 > 0.2)? no, (0.5 > 0.2) yes → 1 of 2. Macro mean 0.5.
    close(v[1], 0.5);
    // Micro F1: TP = 2 (row 1 label 0, row 2 label 1), predicted on = 4, truly on = 3.
    close(v[2], 2.0 * 2.0 / 7.0);
    // The per-label AUCs behind the mean: both 0.5 here.
    let per_label = m.per_label();
    assert_eq!(per_label.len(), 1);
    assert_eq!(per_label[0].0, MetricKind::Auc);
    assert_eq!(per_label[0].1.len(), 2);
    close(per_label[0].1[0], 0.5);
    close(per_label[0].1[1], 0.5);
}

#[test]
fn multilabel_per_label_auc_keeps_undefined_labels_as_nan() {
    let kind = TaskKind::Multilabel { labels: 2 };
    let mut m = TaskMetrics::new(&[MetricKind::Auc], kind, &device());
    let enc = |a, b| mtl_data::encode_labels(&[a, b]);
    // Label 0: scores [3, 1, 2], truth [1, 0, 0] → 2 of 2 pairs = 1; label 1 never on: undefined.
    let logits = Tensor::<2>::from_floats([[3.0, 0.0], [1.0, 0.0], [2.0, 0.0]], &device());
    m.update(
        &logits,
        &vec1(&[enc(true, false), enc(false, false), enc(false, false)]),
        &vec1(&[1.0, 1.0, 1.0]),
    );
    let per_label = &m.per_label()[0].1;
    close(per_label[0], 1.0);
    assert!(per_label[1].is_nan());
    close(values(&m)[0], 1.0); // the mean over the defined labels
}

#[test]
fn auc_matches_scikit_learn() {
    // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75 (its docs).
    close(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
    // Ties count one half: roc_auc_score([0, 1], [0.5, 0.5]) == 0.5.
    close(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
    assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_nan());
}

#[test]
fn directions() {
    assert!(!MetricKind::Mse.higher_is_better());
    assert!(!MetricKind::Mae.higher_is_better());
    for m in [MetricKind::R2, MetricKind::Accuracy, MetricKind::Auc, MetricKind::F1, MetricKind::MacroF1] {
        assert!(m.higher_is_better(), "{m:?}");
    }
}
