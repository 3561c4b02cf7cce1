//! ConFIG — conflict-free inverse gradients.
//!
//! Liu, Chu, Thuerey, "ConFIG: Towards Conflict-free Training of Physics Informed Neural
//! Networks", ICLR 2025 (<https://arxiv.org/abs/2408.11104>), eq. 2–3.
//!
//! With the unit gradients u_t = g_t/‖g_t‖ stacked in U, the direction is the minimum-norm
//! solution of U g_u = 1 (equal, positive cosine with every task), g_u = Uᵀ(UUᵀ)⁻¹1, and the
//! length is the sum of the task gradients' projections on it:
//!
//!   g_ConFIG = (Σ_t g_tᵀ ĝ_u) ĝ_u,   ĝ_u = g_u / ‖g_u‖.
//!
//! In Gram terms g_u = Gᵀa with a = D⁻¹(D⁻¹KD⁻¹)⁻¹1 (D = diag of the norms), so the weights
//! are a · (1ᵀKa) / (aᵀKa). When UUᵀ is singular (more tasks than gradient dimensions, or
//! dependent gradients) the inverse becomes the pseudo-inverse, g_u = pinv(U)·1, the
//! least-squares direction of minimum norm, as in the authors' code (`torch.linalg.pinv`) and
//! TorchJD 0.18's `ConFIG`; eigenvalues of UUᵀ below its f32 rounding ([`f32_gram_rtol`]) count
//! as zero. A zero gradient contributes no unit vector (TorchJD's `nan_to_num`); a zero
//! direction gives a zero update. Checked against TorchJD's `ConFIG`
//! (`tests/fixtures/torchjd/`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, f32_gram_rtol, mat_vec, pinv_mul, quad};
use serde::{Deserialize, Serialize};

/// ConFIG.
#[derive(Module, Debug)]
pub struct ConFig {
    num_tasks: usize,
}

impl ConFig {
    /// ConFIG reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// ConFIG over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

/// ConFIG's weights of the original gradients; eigenvalues of UUᵀ below `rtol` of the largest
/// count as zero.
pub fn config_weights(k: &Gram, rtol: f64) -> Vec<f64> {
    let t = k.len();
    let n: Vec<f64> = (0..t).map(|i| k[i][i].max(0.0).sqrt()).collect();
    let inv = |i: usize| if n[i] > 0.0 { 1.0 / n[i] } else { 0.0 };
    let uu: Gram = (0..t).map(|i| (0..t).map(|j| k[i][j] * inv(i) * inv(j)).collect()).collect();
    let a: Vec<f64> =
        pinv_mul(&uu, &vec![1.0; t], rtol).iter().enumerate().map(|(i, b)| b * inv(i)).collect();
    let norm2 = quad(k, &a);
    if norm2.is_nan() || norm2 <= 0.0 || norm2.is_infinite() {
        return vec![0.0; t];
    }
    let projections: f64 = mat_vec(k, &a).iter().sum();
    a.iter().map(|x| x * projections / norm2).collect()
}

impl WeightingMethod for ConFig {
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
        config_weights(k, f32_gram_rtol(self.num_tasks))
    }
}

/// Settings of [`ConFig`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConFigConfig {}

impl MethodConfig for ConFigConfig {
    type Method = ConFig;

    fn init(&self, num_tasks: usize, _device: &Device) -> ConFig {
        ConFig::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gram::gram;
    use burn::tensor::Device;

    #[test]
    fn the_update_has_the_same_positive_cosine_with_every_task() {
        let g = Tensor::<2>::from_floats(
            [[1.0, 0.2, -0.5, 0.0, 0.3], [-0.6, 1.0, 0.1, 0.4, 0.0], [0.2, -0.3, 0.9, 0.5, -1.0]],
            &Device::ndarray(),
        );
        let k = gram(&g);
        let w = config_weights(&k, f32_gram_rtol(3));
        let kw = mat_vec(&k, &w);
        let norm = quad(&k, &w).sqrt();
        let cos: Vec<f64> = (0..3).map(|t| kw[t] / (norm * k[t][t].sqrt())).collect();
        assert!(cos.iter().all(|c| *c > 0.0 && (c - cos[0]).abs() < 1e-9), "{cos:?}");
        // Its length is the sum of the task gradients' projections on its direction.
        let projections: f64 = kw.iter().sum::<f64>() / norm;
        assert!((norm - projections).abs() < 1e-9);
    }

    #[test]
    fn orthogonal_gradients_of_equal_norm_give_their_sum() {
        // u = e₁, e₂; g_u = (1, 1); ĝ_u·g₁ = ĝ_u·g₂ = 1/√2 → length √2: the update is (1, 1).
        let w = config_weights(&vec![vec![1.0, 0.0], vec![0.0, 1.0]], 1e-9);
        assert!((w[0] - 1.0).abs() < 1e-12 && (w[1] - 1.0).abs() < 1e-12, "{w:?}");
        // A zero gradient adds no unit vector; opposite gradients give no direction.
        let w = config_weights(&vec![vec![1.0, 0.0], vec![0.0, 0.0]], 1e-9);
        assert!((w[0] - 1.0).abs() < 1e-12 && w[1] == 0.0, "{w:?}");
        assert_eq!(config_weights(&vec![vec![1.0, -1.0], vec![-1.0, 1.0]], 1e-9), vec![0.0, 0.0]);
    }

    #[test]
    fn regression_more_tasks_than_dimensions_use_the_pseudo_inverse() {
        // Issue #20: with T > P, UUᵀ is singular and the mean was used. TorchJD 0.18.0
        // (torch 2.15, float64): `ConFIG()(torch.tensor([[1., 0], [0, 1], [.6, .8]]))` →
        // [1.736216216216217, 1.6572972972972964].
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], &device);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let c = ConFig::new(3).combine_gradients(&ctx, g, Tensor::<1>::from_floats([1.0; 3], &device));
        let d = c.gradient.into_data().to_vec::<f32>().unwrap();
        assert!((d[0] - 1.736_216_2).abs() < 1e-5 && (d[1] - 1.657_297_3).abs() < 1e-5, "{d:?}");
    }
}
