//! Aligned-MTL — independent component alignment.
//!
//! Senushkin, Patakin, Kuznetsov, Konushin, "Independent Component Alignment for Multi-Task
//! Learning", CVPR 2023 (<https://arxiv.org/abs/2305.19000>), Algorithm 1, as LibMTL's
//! `Aligned_MTL` computes it.
//!
//! With the eigendecomposition K = VΛVᵀ of the Gram matrix, restricted to the directions the
//! gradients span ([`gram_eigen`]: rank judged on the cosine matrix against f32 rounding, so a
//! small-norm task keeps its direction), the aligning transform is
//! B = √λ_min · V Λ^{−1/2} Vᵀ and the task weights are w = B·1: the gradient system is made
//! orthogonal with equal component norms (condition number 1), scaled to the smallest
//! component. For orthogonal task gradients, w_t = min_s ‖g_s‖ / ‖g_t‖. On the representation
//! route this is the paper's Aligned-MTL-UB. Checked against TorchJD 0.18.0's `AlignedMTL`
//! (`tests/fixtures/torchjd/`; TorchJD uses B·1/T).

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;

use crate::base::MethodConfig;
use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, f32_gram_rtol, gram_eigen};
use serde::{Deserialize, Serialize};

/// Aligned-MTL.
#[derive(Module, Debug)]
pub struct AlignedMtl {
    num_tasks: usize,
}

impl AlignedMtl {
    /// Aligned-MTL reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// Aligned-MTL over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

/// Aligned-MTL's weights w = B·1.
pub fn aligned_weights(k: &Gram) -> Vec<f64> {
    let t = k.len();
    let kept = gram_eigen(k, f32_gram_rtol(t));
    if kept.is_empty() {
        return vec![0.0; t];
    }
    let min = kept.iter().map(|(l, _)| *l).fold(f64::INFINITY, f64::min);
    // w_i = √λ_min Σ_k V_ik λ_k^{−½} Σ_j V_jk.
    (0..t)
        .map(|i| kept.iter().map(|(l, v)| v[i] / l.sqrt() * v.iter().sum::<f64>()).sum::<f64>() * min.sqrt())
        .collect()
}

impl WeightingMethod for AlignedMtl {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_gradients(
        &mut self,
        ctx: &StepContext,
        gradients: Tensor<2>,
        losses: Tensor<1>,
    ) -> GradientCombination {
        combine_through_gram(self, ctx, gradients, losses)
    }

    fn weights_from_gram(&self) -> bool {
        true
    }

    fn gram_weights(&mut self, _ctx: &StepContext, k: &Gram, _losses: &[f64], _device: &Device) -> Vec<f64> {
        debug_assert_eq!(k.len(), self.num_tasks);
        aligned_weights(k)
    }
}

/// Settings of [`AlignedMtl`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignedMtlConfig {}

impl MethodConfig for AlignedMtlConfig {
    type Method = AlignedMtl;

    fn init(&self, num_tasks: usize, _device: &Device) -> AlignedMtl {
        AlignedMtl::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gram::symmetric_eigen;

    #[test]
    fn orthogonal_gradients_are_scaled_to_the_smallest_norm() {
        // Norms 2, 1, 4: w = (½, 1, ¼).
        let k = vec![vec![4.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 16.0]];
        let w = aligned_weights(&k);
        for (a, b) in w.iter().zip([0.5, 1.0, 0.25]) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
    }

    #[test]
    fn the_aligned_system_is_orthogonal_with_equal_norms() {
        // The rows of B G are √λ_min times an orthonormal system: (BG)(BG)ᵀ = B K B = λ_min·I.
        let k = vec![vec![2.0, 0.5, -0.3], vec![0.5, 1.0, 0.2], vec![-0.3, 0.2, 0.8]];
        let (lambda, v) = symmetric_eigen(&k);
        let min = lambda.iter().copied().fold(f64::INFINITY, f64::min);
        let b: Gram = (0..3)
            .map(|i| {
                (0..3)
                    .map(|j| (0..3).map(|m| v[i][m] * v[j][m] / lambda[m].sqrt()).sum::<f64>() * min.sqrt())
                    .collect()
            })
            .collect();
        for i in 0..3 {
            for j in 0..3 {
                let bkb: f64 = (0..3)
                    .flat_map(|p| (0..3).map(move |q| (p, q)))
                    .map(|(p, q)| b[i][p] * k[p][q] * b[q][j])
                    .sum();
                let want = if i == j { min } else { 0.0 };
                assert!((bkb - want).abs() < 1e-10, "({i}, {j}) {bkb}");
            }
        }
        let w = aligned_weights(&k);
        for i in 0..3 {
            assert!((w[i] - b[i].iter().sum::<f64>()).abs() < 1e-12);
        }
    }
}
