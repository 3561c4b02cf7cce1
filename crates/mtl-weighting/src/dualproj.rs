//! DualProj — projection of the mean gradient onto the dual cone of the task gradients.
//!
//! Quinton, Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
//! (<https://arxiv.org/abs/2406.16232>), §2 and Proposition 1; TorchJD's `DualProj`
//! aggregator (torchjd 0.5, `torchjd/aggregation/dualproj.py`, with its default preference,
//! the mean).
//!
//! The update is the point of the dual cone {x : g_tᵀx ≥ 0 ∀t} nearest to the mean gradient
//! ḡ = (1/T) Σ_t g_t, so no task's loss increases to first order. By Proposition 1 of the paper
//! it is Σ_t v_t g_t with v = argmin_{v ≥ u} vᵀKv, u = (1/T, …, 1/T), K = GGᵀ: the same
//! box-constrained QP as UPGrad's, solved once instead of once per task. K is scaled by its
//! trace and regularised with `reg_eps`·I, as in TorchJD. When ḡ conflicts with no task, v = u
//! and DualProj is the mean gradient.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::base::{
    GradientCombination, Invalid, MethodConfig, StepContext, WeightingInput, WeightingMethod, checks,
};
use crate::gram::Gram;
use crate::gram::combine_through_gram;
use crate::upgrad::dual_cone_weights;

/// DualProj.
#[derive(Module, Debug)]
pub struct DualProj {
    reg_eps: f64,
}

impl DualProj {
    /// DualProj reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// DualProj with diagonal regularisation `reg_eps` (TorchJD's default 1e-4).
    pub fn new(reg_eps: f64) -> Self {
        Self { reg_eps }
    }

    /// The task weights for Gram matrix `k`.
    pub fn weights(&self, k: &Gram) -> Vec<f64> {
        let t = k.len();
        dual_cone_weights(k, &vec![1.0 / t as f64; t], self.reg_eps)
    }
}

impl WeightingMethod for DualProj {
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
        self.weights(k)
    }
}

/// Settings of [`DualProj`] (`[weighting.dualproj]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DualProjConfig {
    /// Diagonal regularisation of the normalised Gram matrix. Default 1e-4 (TorchJD's).
    pub reg_eps: f64,
}

impl Default for DualProjConfig {
    fn default() -> Self {
        Self { reg_eps: 1e-4 }
    }
}

impl MethodConfig for DualProjConfig {
    type Method = DualProj;

    fn check(&self) -> Result<(), Invalid> {
        checks::non_negative("reg_eps", self.reg_eps)
    }

    fn init(&self, _num_tasks: usize, _device: &Device) -> DualProj {
        DualProj::new(self.reg_eps)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn gram_of(rows: &[[f64; 2]]) -> Gram {
        rows.iter().map(|a| rows.iter().map(|b| a[0] * b[0] + a[1] * b[1]).collect()).collect()
    }

    #[test]
    fn a_mean_gradient_without_conflict_is_kept() {
        // g₁ = (1, 0), g₂ = (0, 1): ḡ = (½, ½) agrees with both, so v = u.
        let w = DualProj::new(1e-4).weights(&gram_of(&[[1.0, 0.0], [0.0, 1.0]]));
        assert!(w.iter().all(|x| (x - 0.5).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn a_conflicting_mean_is_projected_onto_the_dual_cone_by_hand() {
        // g₁ = (1, 0), g₂ = (−2, 1): ḡ = (−½, ½) conflicts with g₁ (g₁ᵀḡ = −½). The nearest
        // point of the cone {x₁ ≥ 0, −2x₁ + x₂ ≥ 0} is (0, ½) = 1·g₁ + ½·g₂, so v = (1, ½):
        // K = [[1, −2], [−2, 5]], at v = (1, ½) Kv = (0, ½), the KKT point of min_{v ≥ u} vᵀKv
        // (v₁ free with zero gradient, v₂ at its bound with a positive one).
        let rows = [[1.0, 0.0], [-2.0, 1.0]];
        let w = DualProj::new(0.0).weights(&gram_of(&rows));
        assert!((w[0] - 1.0).abs() < 1e-9 && (w[1] - 0.5).abs() < 1e-9, "{w:?}");
        let d = [w[0] * rows[0][0] + w[1] * rows[1][0], w[0] * rows[0][1] + w[1] * rows[1][1]];
        assert!(d[0].abs() < 1e-9 && (d[1] - 0.5).abs() < 1e-9, "{d:?}");
        // TorchJD's regularisation moves it only slightly.
        let r = DualProj::new(1e-4).weights(&gram_of(&rows));
        assert!((r[0] - 1.0).abs() < 1e-3 && (r[1] - 0.5).abs() < 1e-3, "{r:?}");
    }

    #[test]
    fn combine_returns_the_projected_gradient_on_the_device() {
        let device = Device::ndarray();
        let g = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, -2.0, 1.0], [2, 2]), &device);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let out = DualProj::new(0.0).combine_gradients(&ctx, g, Tensor::zeros([2], &device));
        let d = out.gradient.into_data().to_vec::<f32>().unwrap();
        assert!(d[0].abs() < 1e-5 && (d[1] - 0.5).abs() < 1e-5, "{d:?}");
    }
}
