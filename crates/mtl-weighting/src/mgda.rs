//! MGDA — multiple-gradient descent as multi-objective optimisation.
//!
//! Sener, Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018
//! (<https://arxiv.org/abs/1810.04650>).
//!
//! The update is the minimum-norm point of the convex hull of the (normalised) task
//! gradients, `min_{λ ∈ Δ} ‖Σ_t λ_t ĝ_t‖²`, solved exactly on the T×T Gram matrix by Wolfe's
//! active-set min-norm-point algorithm ([`min_norm_point`]). The paper's Algorithm 2, LibMTL
//! (250 iterations, tolerance 1e-5) and TorchJD (100 iterations, γ < 1e-3) run Frank–Wolfe,
//! which approaches the same point but, where 0 lies in the hull, stops with ‖d‖ up to ~1% of
//! the gradients' norm where the answer is 0; here d is 0 to rounding there. Checked against
//! TorchJD 0.18.0's `MGDA` run to convergence (`tests/fixtures/torchjd/`). The gradient normalisation
//! of the paper's code (`mgda_gn` in LibMTL) is `weighting.mgda.normalization`:
//! `none` (ĝ = g), `l2` (g/‖g‖), `loss` (g/L), `loss+` (g/(L‖g‖)). The update is Σ λ_t ĝ_t,
//! so the reported weight of task t is λ_t times its normaliser. On the representation route
//! this is the paper's MGDA-UB (gradients with respect to the shared representation).

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gram::Gram;
use crate::gram::combine_through_gram;
use crate::gram::min_norm_point;
use serde::{Deserialize, Serialize};

/// How MGDA normalises each task gradient before the min-norm solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MgdaNormalization {
    /// No normalisation (LibMTL's default).
    #[default]
    None,
    /// Divide by the gradient's L2 norm.
    L2,
    /// Divide by the task loss.
    Loss,
    /// Divide by the loss times the L2 norm (`"loss+"`).
    #[serde(rename = "loss+")]
    LossPlus,
}

/// Min-norm multiple-gradient descent.
#[derive(Module, Debug)]
pub struct Mgda {
    #[module(skip)]
    normalization: MgdaNormalization,
}

impl Mgda {
    /// MGDA reads gradients: of the shared parameters by default, or of the representation
    /// (MGDA-UB).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// MGDA with the given normalisation.
    pub fn new(normalization: MgdaNormalization) -> Self {
        Self { normalization }
    }

    /// Task weights for Gram matrix `k` and losses: `(λ_t · s_t)` where `s_t` normalises.
    pub fn weights(&self, k: &[Vec<f64>], losses: &[f64]) -> Vec<f64> {
        let t = k.len();
        let s: Vec<f64> = (0..t)
            .map(|i| {
                let norm = k[i][i].sqrt().max(1e-12);
                let loss = losses[i].abs().max(1e-12);
                match self.normalization {
                    MgdaNormalization::None => 1.0,
                    MgdaNormalization::L2 => 1.0 / norm,
                    MgdaNormalization::Loss => 1.0 / loss,
                    MgdaNormalization::LossPlus => 1.0 / (loss * norm),
                }
            })
            .collect();
        let scaled: Vec<Vec<f64>> = (0..t).map(|i| (0..t).map(|j| s[i] * k[i][j] * s[j]).collect()).collect();
        let lambda = min_norm_point(&scaled);
        lambda.iter().zip(&s).map(|(l, s)| l * s).collect()
    }
}

impl WeightingMethod for Mgda {
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

    fn gram_weights(&mut self, _ctx: &StepContext, k: &Gram, losses: &[f64], _device: &Device) -> Vec<f64> {
        self.weights(k, losses)
    }
}

/// Settings of [`Mgda`] (`[weighting.mgda]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MgdaConfig {
    /// `"none"`, `"l2"`, `"loss"` or `"loss+"`: gradient normalisation before the min-norm
    /// solve. Default none (LibMTL's).
    pub normalization: MgdaNormalization,
}

impl MethodConfig for MgdaConfig {
    type Method = Mgda;

    fn init(&self, _num_tasks: usize, _device: &Device) -> Mgda {
        Mgda::new(self.normalization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gram::gram;

    #[test]
    fn two_task_mgda_matches_its_closed_form() {
        // λ₁ = clamp((g₂ − g₁)·g₂ / ‖g₁ − g₂‖², 0, 1). g₁ = (1, 0), g₂ = (1, 2):
        // (0, 2)·(1, 2) / ‖(0, −2)‖² = 4/4 → λ₁ = 1: g₁ is already the min-norm point.
        let mgda = Mgda::new(MgdaNormalization::None);
        let k = vec![vec![1.0, 1.0], vec![1.0, 5.0]];
        assert_eq!(mgda.weights(&k, &[1.0, 1.0]), vec![1.0, 0.0]);
        // g₁ = (2, 0), g₂ = (0, 1): λ₁ = (0 − 0 + 1)/(4 + 1) = 0.2.
        let k = vec![vec![4.0, 0.0], vec![0.0, 1.0]];
        let w = mgda.weights(&k, &[1.0, 1.0]);
        assert!((w[0] - 0.2).abs() < 1e-12 && (w[1] - 0.8).abs() < 1e-12, "{w:?}");
        // The combined gradient (0.4, 0.8) has the same projection on both gradients.
    }

    #[test]
    fn matches_the_pytorch_reference_frank_wolfe() {
        // shared/bench/mtl_lib.py (torch 2.15.0): `frank_wolfe(G)` on the fixed G of the PCGrad
        // test gives [0.28781511, 0.37650248, 0.20165211, 0.13403030] after its 250 iterations
        // (from the uniform start, without reaching its 1e-5 stop). mtl starts from the best
        // pair and reaches at least as low a norm, at the same point to 1e-3.
        use burn::tensor::Device;
        let g = Tensor::<2>::from_floats(crate::pcgrad::tests::REFERENCE_G, &Device::ndarray());
        let k = gram(&g);
        let want = [0.28781510716067094, 0.37650248385247026, 0.20165211235260488, 0.13403029663425328];
        let got = Mgda::new(MgdaNormalization::None).weights(&k, &[1.0; 4]);
        let norm = |w: &[f64]| crate::gram::quad(&k, w);
        assert!(norm(&got) <= norm(&want) + 1e-9, "{got:?}");
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-3, "{got:?}");
        }
    }

    #[test]
    fn regression_the_update_is_zero_where_the_hull_holds_the_origin() {
        // Issue #20: Frank–Wolfe stopped with ‖d‖ up to 0.8% of the rms gradient norm here.
        // (1, 0), (0, 1), (−1, −1) average to 0; so do (3, 1), (−1, −3), (−2, 2) with weights
        // (1, 1, 1)/3 … and (2, 0), (−1, 0) on a line in R² with weights (1/3, 2/3).
        use burn::tensor::Device;
        let device = Device::ndarray();
        for rows in [
            vec![[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]],
            vec![[3.0, 1.0], [-1.0, -3.0], [-2.0, 2.0]],
            vec![[2.0, 0.0], [-1.0, 0.0]],
        ] {
            let t = rows.len();
            let g = Tensor::<2>::from_data(
                burn::tensor::TensorData::new(rows.iter().flatten().map(|x| *x as f32).collect(), [t, 2]),
                &device,
            );
            let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
            let c = Mgda::new(MgdaNormalization::None).combine_gradients(&ctx, g, Tensor::ones([t], &device));
            let d = c.gradient.into_data().to_vec::<f32>().unwrap();
            assert!(d.iter().all(|x| x.abs() < 1e-6), "{rows:?}: {d:?}");
        }
    }

    #[test]
    fn normalisations_rescale_before_the_solve() {
        // With l2 normalisation the unit gradients (1, 0) and (0, 1) get λ = (½, ½), so the
        // weights are ½ / ‖g_t‖.
        let k = vec![vec![4.0, 0.0], vec![0.0, 1.0]];
        let w = Mgda::new(MgdaNormalization::L2).weights(&k, &[1.0, 1.0]);
        assert!((w[0] - 0.25).abs() < 1e-12 && (w[1] - 0.5).abs() < 1e-12, "{w:?}");
        let w = Mgda::new(MgdaNormalization::Loss).weights(&k, &[2.0, 1.0]);
        // ĝ = (1, 0), (0, 1) again → λ = ½, weights ½ / L_t.
        assert!((w[0] - 0.25).abs() < 1e-12 && (w[1] - 0.5).abs() < 1e-12, "{w:?}");
        let w = Mgda::new(MgdaNormalization::LossPlus).weights(&k, &[2.0, 1.0]);
        // ĝ = (½, 0), (0, 1): λ = (0.8, 0.2); weights λ / (L‖g‖) = 0.8/4, 0.2/1.
        assert!((w[0] - 0.2).abs() < 1e-12 && (w[1] - 0.2).abs() < 1e-12, "{w:?}");
    }
}
