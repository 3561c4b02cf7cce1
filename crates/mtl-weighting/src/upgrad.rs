//! UPGrad — unconflicting projection of gradients (Jacobian descent).
//!
//! Quinton, Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
//! (<https://arxiv.org/abs/2406.16232>), the default aggregator of TorchJD.
//!
//! Each task gradient g_i is projected onto the dual cone of all task gradients
//! {x : g_tᵀx ≥ 0 ∀t}, and the projections are averaged. In the Gram space the projection of
//! g_i is Σ_t v_t g_t with v = argmin_{v ≥ e_i} vᵀKv (a box-constrained QP, solved here by
//! coordinate descent on the host), so the weights are w = (1/T) Σ_i v⁽ⁱ⁾. As in TorchJD, K is
//! scaled by its trace and regularised with `reg_eps`·I before the solve. When no two
//! gradients conflict every v⁽ⁱ⁾ = e_i and UPGrad is the mean gradient.

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig, checks};
use crate::gram::Gram;
use crate::gram::combine_through_gram;
use serde::{Deserialize, Serialize};

/// UPGrad.
#[derive(Module, Debug)]
pub struct UpGrad {
    reg_eps: f64,
}

impl UpGrad {
    /// UPGrad reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// UPGrad with diagonal regularisation `reg_eps` (TorchJD's default 1e-4).
    pub fn new(reg_eps: f64) -> Self {
        Self { reg_eps }
    }
}

/// `argmin_{v ≥ lower} ½ vᵀKv` by cyclic coordinate descent (K with a positive diagonal).
fn box_qp(k: &Gram, lower: &[f64]) -> Vec<f64> {
    let t = lower.len();
    let mut v = lower.to_vec();
    for _ in 0..10_000 {
        let mut change: f64 = 0.0;
        for j in (0..t).filter(|j| k[*j][*j] > 0.0) {
            let kv: f64 = (0..t).map(|m| k[j][m] * v[m]).sum();
            let next = (v[j] - kv / k[j][j]).max(lower[j]);
            change = change.max((next - v[j]).abs());
            v[j] = next;
        }
        if change < 1e-13 {
            break;
        }
    }
    v
}

/// The weights v of the projection of Σ_t u_t g_t onto the dual cone of the gradients:
/// v = argmin_{v ≥ u} vᵀK̂v with K̂ = K / tr K + `reg_eps`·I (TorchJD's normalisation and
/// regularisation). A zero Gram matrix leaves u as it is.
pub fn dual_cone_weights(k: &Gram, u: &[f64], reg_eps: f64) -> Vec<f64> {
    let t = k.len();
    let trace: f64 = (0..t).map(|i| k[i][i]).sum();
    if trace <= 0.0 {
        return u.to_vec();
    }
    let kr: Gram = (0..t)
        .map(|i| (0..t).map(|j| k[i][j] / trace + if i == j { reg_eps } else { 0.0 }).collect())
        .collect();
    box_qp(&kr, u)
}

/// UPGrad's task weights from the Gram matrix: the mean of the projections of each g_i.
pub fn upgrad_weights(k: &Gram, reg_eps: f64) -> Vec<f64> {
    let t = k.len();
    let trace: f64 = (0..t).map(|i| k[i][i]).sum();
    if trace <= 0.0 {
        return vec![1.0 / t as f64; t];
    }
    let mut w = vec![0.0; t];
    for i in 0..t {
        let mut e = vec![0.0; t];
        e[i] = 1.0;
        for (a, b) in w.iter_mut().zip(dual_cone_weights(k, &e, reg_eps)) {
            *a += b / t as f64;
        }
    }
    w
}

impl WeightingMethod for UpGrad {
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
        upgrad_weights(k, self.reg_eps)
    }
}

/// Settings of [`UpGrad`] (`[weighting.upgrad]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpGradConfig {
    /// Diagonal regularisation of the normalised Gram matrix. Default 1e-4 (TorchJD's).
    pub reg_eps: f64,
}

impl Default for UpGradConfig {
    fn default() -> Self {
        Self { reg_eps: 1e-4 }
    }
}

impl MethodConfig for UpGradConfig {
    type Method = UpGrad;

    fn check(&self) -> Result<(), Invalid> {
        checks::non_negative("reg_eps", self.reg_eps)
    }

    fn init(&self, _num_tasks: usize, _device: &Device) -> UpGrad {
        UpGrad::new(self.reg_eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_gradients_give_the_mean() {
        let k = vec![vec![1.0, 0.5, 0.1], vec![0.5, 2.0, 0.0], vec![0.1, 0.0, 3.0]];
        let w = upgrad_weights(&k, 1e-4);
        assert!(w.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn conflicting_gradients_are_projected_onto_the_dual_cone() {
        // g₁ = (1, 0), g₂ = (−1, 1): projections g₁ + ½g₂ = (½, ½) and g₁ + g₂ = (0, 1), so
        // w = ½[(1, ½) + (1, 1)] = (1, ¾) (up to the 1e-4 regularisation).
        let k = vec![vec![1.0, -1.0], vec![-1.0, 2.0]];
        let w = upgrad_weights(&k, 1e-4);
        assert!((w[0] - 1.0).abs() < 1e-3 && (w[1] - 0.75).abs() < 1e-3, "{w:?}");
        // Without regularisation the hand values are exact.
        let w = upgrad_weights(&k, 0.0);
        assert!((w[0] - 1.0).abs() < 1e-9 && (w[1] - 0.75).abs() < 1e-9, "{w:?}");
        // The update does not conflict with any task: g_tᵀd ≥ 0.
        for row in &k {
            assert!(row[0] * w[0] + row[1] * w[1] >= -1e-12);
        }
    }
}
