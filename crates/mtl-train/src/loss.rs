//! Masked per-task losses: the mean over labelled samples only.
//!
//! L_t = Σ_i m_i·ℓ(ŷ_i, y_i) / Σ_i m_i. A batch without any label for a task gives L_t = 0
//! (the denominator is floored) that still depends on the outputs, so its backward runs and
//! contributes nothing. Training masks may carry class weights (m_i = w_{y_i} for a labelled
//! sample), which makes L_t the class-weighted mean of PyTorch's `CrossEntropyLoss(weight=w)`.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use mtl_data::TaskKind;

/// Per-sample loss of a task of `kind`. `output`: `[batch, d_out]`; `target`: `[batch]`.
/// Returns `[batch]`.
///
/// - regression: squared error (ŷ − y)²;
/// - binary: cross-entropy with logits, −[y·log σ(x) + (1 − y)·log σ(−x)] (stable form);
/// - multiclass: cross-entropy with logits, −log softmax(x)_y;
/// - multilabel: the binary cross-entropy of each label, averaged over the labels
///   (PyTorch's `BCEWithLogitsLoss` on the `[batch, labels]` matrix, per row).
pub fn per_sample_loss(kind: TaskKind, output: Tensor<2>, target: Tensor<1>) -> Tensor<1> {
    let [b, _] = output.dims();
    match kind {
        TaskKind::Multilabel { labels } => {
            let y = label_bits(target, labels); // [batch, labels]
            let pos = log_sigmoid(output.clone()) * y.clone();
            let neg = log_sigmoid(output.neg()) * y.neg().add_scalar(1.0);
            (pos + neg).mean_dim(1).reshape([b]).neg()
        }
        TaskKind::Regression => (output.reshape([b]) - target).square(),
        TaskKind::Binary => {
            let x = output.reshape([b]);
            let pos = log_sigmoid(x.clone()) * target.clone();
            let neg = log_sigmoid(x.neg()) * target.neg().add_scalar(1.0);
            (pos + neg).neg()
        }
        TaskKind::Multiclass { classes } => {
            let logp = log_softmax(output, 1); // [batch, classes]
            (logp * target.one_hot::<2>(classes)).sum_dim(1).reshape([b]).neg()
        }
    }
}

/// A multilabel target (bit mask, see [`mtl_data::encode_labels`]) as 0/1 columns.
/// `target`: `[batch]`; returns `[batch, labels]`.
pub fn label_bits(target: Tensor<1>, labels: usize) -> Tensor<2> {
    let [b] = target.dims();
    let powers: Vec<f32> = (0..labels).map(|k| (1u32 << k) as f32).collect();
    let powers = Tensor::<1>::from_floats(powers.as_slice(), &target.device()).reshape([1, labels]);
    // ⌊m / 2^k⌋ mod 2, exact for m < 2^24.
    (target.reshape([b, 1]) / powers).floor().remainder_scalar(2.0)
}

/// Mean loss over the labelled samples (`mask` > 0), weighted by the mask. Returns `[1]`.
pub fn masked_loss(kind: TaskKind, output: Tensor<2>, target: Tensor<1>, mask: Tensor<1>) -> Tensor<1> {
    // Floored so that a batch without labels gives 0/ε = 0; any real weight sum is far above.
    let count = mask.clone().sum().clamp_min(1e-12);
    (per_sample_loss(kind, output, target) * mask).sum() / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tolerance};

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0] as f64
    }

    #[test]
    fn mse_by_hand() {
        let d = Device::ndarray();
        let out = Tensor::<2>::from_floats([[1.0], [2.0], [5.0]], &d);
        let y = Tensor::<1>::from_floats([0.0, 2.0, 3.0], &d);
        // (1 + 0 + 4) / 3
        let l = masked_loss(TaskKind::Regression, out.clone(), y.clone(), Tensor::ones([3], &d));
        assert!((scalar(l) - 5.0 / 3.0).abs() < 1e-6);
        // third sample unlabelled: (1 + 0) / 2
        let l = masked_loss(TaskKind::Regression, out, y, Tensor::from_floats([1.0, 1.0, 0.0], &d));
        assert!((scalar(l) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn bce_with_logits_by_hand() {
        let d = Device::ndarray();
        let out = Tensor::<2>::from_floats([[0.0], [2.0], [-1.0]], &d);
        let y = Tensor::<1>::from_floats([1.0, 0.0, 0.0], &d);
        // ln 2, ln(1 + e²), ln(1 + e^-1)
        let want = [2f64.ln(), (1.0 + 2f64.exp()).ln(), (1.0 + (-1f64).exp()).ln()];
        let got = per_sample_loss(TaskKind::Binary, out.clone(), y.clone());
        got.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats(want.map(|v| v as f32), &d).into_data(),
            Tolerance::default(),
        );
        // Large logits stay finite.
        let big = per_sample_loss(
            TaskKind::Binary,
            Tensor::from_floats([[100.0]], &d),
            Tensor::from_floats([0.0], &d),
        );
        assert!((scalar(big) - 100.0).abs() < 1e-3);
    }

    #[test]
    fn cross_entropy_by_hand() {
        let d = Device::ndarray();
        let out = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], &d);
        let y = Tensor::<1>::from_floats([2.0, 0.0], &d);
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let want = ((lse - 3.0) + 3f64.ln()) / 2.0;
        let l = masked_loss(TaskKind::Multiclass { classes: 3 }, out, y, Tensor::ones([2], &d));
        assert!((scalar(l) - want).abs() < 1e-5, "{want}");
    }

    #[test]
    fn multilabel_bce_by_hand() {
        let d = Device::ndarray();
        // Sample 1: labels {0, 2} of 3 (mask 0b101 = 5), sample 2: {1} (2).
        let y = Tensor::<1>::from_floats([mtl_data::encode_labels(&[true, false, true]), 2.0], &d);
        label_bits(y.clone(), 3)
            .into_data()
            .assert_eq(&Tensor::<2>::from_floats([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], &d).into_data(), true);
        let out = Tensor::<2>::from_floats([[0.0, 1.0, -2.0], [3.0, 0.0, 0.0]], &d);
        let sp = |x: f64| (1.0 + x.exp()).ln(); // −log σ(−x) = softplus(x)
        // Row 1: −log σ(0), −log σ(−1), −log σ(−2) → sp(0), sp(1), sp(2)
        let row1 = (sp(0.0) + sp(1.0) + sp(2.0)) / 3.0;
        // Row 2: −log σ(−3), −log σ(0), −log σ(0)
        let row2 = (sp(3.0) + sp(0.0) + sp(0.0)) / 3.0;
        let got = per_sample_loss(TaskKind::Multilabel { labels: 3 }, out, y);
        got.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([row1 as f32, row2 as f32], &d).into_data(),
            Tolerance::default(),
        );
    }

    #[test]
    fn class_weighted_masks_give_the_weighted_mean() {
        // PyTorch 2.5: F.cross_entropy(x, y, weight=torch.tensor([1., 3.])) with x = [[0, 0],
        // [2, 0], [0, 1]], y = [1, 0, 1] = (3·ln 2 + 1·ln(1 + e⁻²) + 3·ln(1 + e⁻¹)) / 7.
        let d = Device::ndarray();
        let out = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<1>::from_floats([1.0, 0.0, 1.0], &d);
        let w = [3.0f64, 1.0, 3.0];
        let l = [2f64.ln(), (1.0 + (-2f64).exp()).ln(), (1.0 + (-1f64).exp()).ln()];
        let want = (w[0] * l[0] + w[1] * l[1] + w[2] * l[2]) / 7.0;
        let mask = Tensor::<1>::from_floats([3.0, 1.0, 3.0], &d);
        let got = scalar(masked_loss(TaskKind::Multiclass { classes: 2 }, out, y, mask));
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // A lone sample of weight 0.25 is still the mean of itself.
        let got = scalar(masked_loss(
            TaskKind::Regression,
            Tensor::from_floats([[3.0], [9.0]], &d),
            Tensor::from_floats([1.0, 0.0], &d),
            Tensor::from_floats([0.25, 0.0], &d),
        ));
        assert!((got - 4.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn fully_masked_batch_gives_zero_and_backward_runs() {
        let d = Device::ndarray().autodiff();
        let out = Tensor::<2>::from_floats([[1.0], [2.0]], &d).require_grad();
        let l = masked_loss(
            TaskKind::Binary,
            out.clone(),
            Tensor::from_floats([1.0, 0.0], &d),
            Tensor::zeros([2], &d),
        );
        assert_eq!(scalar(l.clone().inner()), 0.0);
        let g = out.grad(&l.backward()).unwrap();
        g.into_data().assert_eq(&Tensor::<2>::zeros([2, 1], &Device::ndarray()).into_data(), true);
    }
}
