//! IMTL-G — impartial multi-task learning, gradient part.
//!
//! Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang, "Towards Impartial Multi-task Learning",
//! ICLR 2021 (<https://openreview.net/forum?id=IMPnRXEWpvr>), §3.2.
//!
//! Find the update g = Σ_t α_t g_t (Σ α_t = 1) whose projections on the unit task gradients
//! u_t = g_t/‖g_t‖ are all equal. The paper writes the closed form α_{2..T} = g₁Uᵀ(DUᵀ)⁻¹
//! (D the rows g₁ − g_t, U the rows u₁ − u_t); equivalently g_tᵀg = (Kα)_t ∝ ‖g_t‖, so
//! α ∝ K⁻¹n with n the gradient norms, normalised to Σ α = 1. With more tasks than gradient
//! dimensions, or dependent gradients, K is singular and the paper's inverse does not exist
//! (f32 noise then yields huge, meaningless weights); as TorchJD 0.18's `IMTLG`, α ∝ pinv(K)·n,
//! the least-squares solution of minimum norm, on the directions the gradients span
//! ([`crate::gram::gram_eigen`]: rank judged on the cosine matrix against f32 rounding,
//! [`f32_gram_rtol`]). When Σ pinv(K)·n vanishes (e.g. two opposite gradients)
//! no such combination exists and, as in TorchJD, the weights are zero. Checked against
//! TorchJD's `IMTLG` (`tests/fixtures/torchjd/`).
//!
//! [`Imtl`] is the paper's full method, IMTL = IMTL-L + IMTL-G, as LibMTL's `IMTL`: the losses
//! are scaled to e^{s_t}L_t − s_t, so the task gradients become e^{s_t}g_t, IMTL-G combines those,
//! and s follows ∂/∂s_t = e^{s_t}L_t − 1. LibMTL updates s with the model's optimizer; here the
//! T numbers take their own Adam step (`weighting.imtl.lr`, default 1e-3), since the gradient
//! routes never back-propagate into the weighting's parameters.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig, checks};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, HostAdam, f32_gram_rtol, pinv_mul};
use serde::{Deserialize, Serialize};

/// IMTL-G.
#[derive(Module, Debug)]
pub struct ImtlG {
    num_tasks: usize,
}

impl ImtlG {
    /// IMTL-G reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// IMTL-G over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

/// IMTL-G's α from the Gram matrix: pinv(K)·n / Σ(pinv(K)·n), n the gradient norms, with
/// cosine-matrix eigenvalues below `rtol` of the largest counted as zero ([`pinv_mul`]);
/// zeros where the sum vanishes.
pub fn imtl_g_weights(k: &Gram, rtol: f64) -> Vec<f64> {
    let t = k.len();
    let n: Vec<f64> = (0..t).map(|i| k[i][i].max(0.0).sqrt()).collect();
    let v = pinv_mul(k, &n, rtol);
    let (sum, size) = (v.iter().sum::<f64>(), v.iter().map(|x| x.abs()).sum::<f64>());
    if !sum.is_finite() || sum.abs() <= 1e-12 * size {
        return vec![0.0; t];
    }
    v.iter().map(|x| x / sum).collect()
}

impl WeightingMethod for ImtlG {
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
        imtl_g_weights(k, f32_gram_rtol(self.num_tasks))
    }
}

/// IMTL = IMTL-L + IMTL-G.
#[derive(Module, Debug)]
pub struct Imtl {
    num_tasks: usize,
    lr: f64,
    #[module(skip)]
    state: ImtlState,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ImtlState {
    s: Vec<f64>,
    #[serde(flatten)]
    adam: HostAdam,
}

impl Imtl {
    /// IMTL reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] = ImtlG::INPUTS;

    /// IMTL over `num_tasks` tasks; `lr` is the Adam learning rate of the loss scales.
    pub fn new(num_tasks: usize, lr: f64) -> Self {
        let z = vec![0.0; num_tasks];
        Self { num_tasks, lr, state: ImtlState { s: z, adam: HostAdam::new(num_tasks) } }
    }

    /// The loss scales e^{s_t}.
    pub fn scales(&self) -> Vec<f64> {
        self.state.s.iter().map(|x| x.exp()).collect()
    }
}

impl WeightingMethod for Imtl {
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
        let e = self.scales();
        let scaled: Gram = (0..self.num_tasks)
            .map(|i| (0..self.num_tasks).map(|j| e[i] * e[j] * k[i][j]).collect())
            .collect();
        let w: Vec<f64> = imtl_g_weights(&scaled, f32_gram_rtol(self.num_tasks))
            .iter()
            .zip(&e)
            .map(|(a, e)| a * e)
            .collect();
        let g: Vec<f64> = losses.iter().zip(&e).map(|(l, e)| e * l - 1.0).collect();
        let st = &mut self.state;
        st.adam.step(&mut st.s, &g, self.lr);
        w
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            *self = Imtl::new(self.num_tasks, self.lr);
            return Ok(());
        }
        let s: ImtlState = serde_json::from_value(state.clone()).map_err(|e| format!("IMTL state: {e}"))?;
        if s.s.len() != self.num_tasks || !s.adam.fits(self.num_tasks) {
            return Err(format!("IMTL state holds another number of tasks than {}", self.num_tasks));
        }
        self.state = s;
        Ok(())
    }
}

/// Settings of [`ImtlG`]: none (an empty `[weighting.imtl_g]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImtlGConfig {}

impl MethodConfig for ImtlGConfig {
    type Method = ImtlG;

    fn init(&self, num_tasks: usize, _device: &Device) -> ImtlG {
        ImtlG::new(num_tasks)
    }
}

/// Settings of [`Imtl`] (`[weighting.imtl]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImtlConfig {
    /// Adam learning rate of the loss scales. Default 1e-3.
    pub lr: f64,
}

impl Default for ImtlConfig {
    fn default() -> Self {
        Self { lr: 1e-3 }
    }
}

impl MethodConfig for ImtlConfig {
    type Method = Imtl;

    fn check(&self) -> Result<(), Invalid> {
        checks::positive("lr", self.lr, "learning rate")
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> Imtl {
        Imtl::new(num_tasks, self.lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gram::gram;
    use burn::tensor::Device;

    #[test]
    fn projections_on_the_unit_gradients_are_equal() {
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats(
            [[3.0, 0.0, 1.0, 0.5], [0.5, 2.0, -1.0, 0.0], [-1.0, 0.5, 0.5, 4.0]],
            &device,
        );
        let k = gram(&g);
        let alpha = imtl_g_weights(&k, f32_gram_rtol(3));
        assert!((alpha.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{alpha:?}");
        // g·u_t = Σ_j α_j K_jt / ‖g_t‖ must be the same for every t.
        let proj: Vec<f64> =
            (0..3).map(|t| (0..3).map(|j| alpha[j] * k[j][t]).sum::<f64>() / k[t][t].sqrt()).collect();
        assert!(proj.iter().all(|p| (p - proj[0]).abs() < 1e-4 * proj[0].abs()), "{proj:?}");
        assert!(proj[0] > 0.0);
    }

    #[test]
    fn imtl_starts_as_imtl_g_and_drives_the_scaled_losses_to_one() {
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device);
        let losses = Tensor::<1>::from_floats([4.0, 0.5], &device);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let mut imtl = Imtl::new(2, 0.05);
        let w = imtl
            .combine_gradients(&ctx, g.clone(), losses.clone())
            .weights
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let want = imtl_g_weights(&gram(&g), f32_gram_rtol(2));
        assert!(w.iter().zip(&want).all(|(a, b)| (*a as f64 - b).abs() < 1e-6), "{w:?} vs {want:?}");
        for _ in 0..500 {
            imtl.combine_gradients(&ctx, g.clone(), losses.clone());
        }
        // e^{s_t}·L_t → 1: s → (−log 4, log 2).
        let scaled: Vec<f64> = imtl.scales().iter().zip([4.0, 0.5]).map(|(e, l)| e * l).collect();
        assert!(scaled.iter().all(|x| (x - 1.0).abs() < 0.05), "{scaled:?}");
        let mut other = Imtl::new(2, 0.05);
        other.load_state(&imtl.state()).unwrap();
        assert_eq!(other.scales(), imtl.scales());
    }

    #[test]
    fn two_orthogonal_gradients_get_weights_inverse_to_their_norms() {
        // g₁ = (2, 0), g₂ = (0, 1): equal projections need α₁·2 = α₂·1 → α = (1/3, 2/3).
        let a = imtl_g_weights(&vec![vec![4.0, 0.0], vec![0.0, 1.0]], 1e-9);
        assert!((a[0] - 1.0 / 3.0).abs() < 1e-12 && (a[1] - 2.0 / 3.0).abs() < 1e-12, "{a:?}");
        // Identical gradients: pinv(K)·n = (K/4)(1, 1) = (1/2, 1/2).
        let a = imtl_g_weights(&vec![vec![1.0, 1.0], vec![1.0, 1.0]], 1e-9);
        assert!(a.iter().all(|x| (x - 0.5).abs() < 1e-12), "{a:?}");
        // Opposite gradients: n is orthogonal to K's range, no combination exists: zeros.
        assert_eq!(imtl_g_weights(&vec![vec![1.0, -1.0], vec![-1.0, 1.0]], 1e-9), vec![0.0, 0.0]);
    }

    #[test]
    fn regression_more_tasks_than_dimensions_use_the_pseudo_inverse() {
        // Issue #20: G = [[1, 0], [0, 1], [.6, .8]] (T = 3 > P = 2) gave w = [1.5, 2, −2.5] and
        // d = 0, since f32 noise slipped past the singularity test. TorchJD 0.18.0 (torch 2.15,
        // float64): `IMTLG().gramian_weighting(G @ G.T)` → [0.3514, 0.2432, 0.4054] =
        // (13, 9, 15)/37, `IMTLG()(G)` → [0.5946, 0.5676] = (22, 21)/37.
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], &device);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let losses = Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device);
        let c = ImtlG::new(3).combine_gradients(&ctx, g, losses);
        let w = c.weights.into_data().to_vec::<f32>().unwrap();
        let d = c.gradient.into_data().to_vec::<f32>().unwrap();
        let close = |a: &[f32], b: &[f64]| a.iter().zip(b).all(|(x, y)| (f64::from(*x) - y).abs() < 1e-5);
        assert!(close(&w, &[13.0 / 37.0, 9.0 / 37.0, 15.0 / 37.0]), "{w:?}");
        assert!(close(&d, &[22.0 / 37.0, 21.0 / 37.0]), "{d:?}");
    }
}
