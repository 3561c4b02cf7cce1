//! GradNorm — gradient normalisation for adaptive loss balancing.
//!
//! Chen, Badrinarayanan, Lee, Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss
//! Balancing in Deep Multitask Networks", ICML 2018 (<https://arxiv.org/abs/1711.02257>), with
//! LibMTL's parameterisation (`weighting/GradNorm.py`).
//!
//! Task weights w = T·softmax(s) (so Σ w_t = T). With G_t = w_t‖g_t‖ the weighted gradient
//! norms (on the shared parameters or the representation), Ḡ their mean, the inverse training
//! rates r_t = L̃_t / mean(L̃) where L̃_t = L_t / L_t(0) (L_t(0): task t's mean training loss of
//! the first epoch), the weights minimise
//!
//!   L_grad = Σ_t |G_t − Ḡ·r_t^α|   (Ḡ·r^α held constant),
//!
//! and the update is Σ_t w_t g_t. The first epoch is equal weighting. ∂L_grad/∂s is formed on
//! the host from the T gradient norms (the Gram diagonal): ∂L/∂w_t = sign(G_t − Ḡr_t^α)‖g_t‖,
//! then through the softmax. As in the paper (which gives the weights their own learning rate),
//! s takes an Adam step of its own (`weighting.gradnorm.lr`), state saved in checkpoints.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig, checks};
use crate::gram::Gram;
use crate::gram::HostAdam;
use crate::gram::combine_through_gram;

/// GradNorm.
#[derive(Module, Debug)]
pub struct GradNorm {
    num_tasks: usize,
    alpha: f64,
    lr: f64,
    #[module(skip)]
    state: GradNormState,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct GradNormState {
    s: Vec<f64>,
    #[serde(flatten)]
    adam: HostAdam,
    initial_losses: Option<Vec<f64>>,
}

impl GradNorm {
    /// GradNorm reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// GradNorm over `num_tasks` tasks with restoring force α and the weights' Adam lr.
    pub fn new(num_tasks: usize, alpha: f64, lr: f64) -> Self {
        let z = vec![0.0; num_tasks];
        Self {
            num_tasks,
            alpha,
            lr,
            state: GradNormState { s: z, adam: HostAdam::new(num_tasks), initial_losses: None },
        }
    }

    /// Current weights w = T·softmax(s).
    pub fn weights(&self) -> Vec<f64> {
        let max = self.state.s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self.state.s.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| self.num_tasks as f64 * x / sum).collect()
    }

    /// ∂L_grad/∂s for gradient norms `norms` and losses `losses`.
    pub fn grad_s(&self, norms: &[f64], losses: &[f64], initial: &[f64]) -> Vec<f64> {
        let t = self.num_tasks;
        let w = self.weights();
        let g: Vec<f64> = w.iter().zip(norms).map(|(w, n)| w * n).collect();
        let g_mean = g.iter().sum::<f64>() / t as f64;
        let tilde: Vec<f64> = losses.iter().zip(initial).map(|(l, l0)| l / l0).collect();
        let tilde_mean = tilde.iter().sum::<f64>() / t as f64;
        let dw: Vec<f64> = (0..t)
            .map(|i| {
                let target = g_mean * (tilde[i] / tilde_mean).powf(self.alpha);
                (g[i] - target).signum() * norms[i]
            })
            .collect();
        // w = T·softmax(s): ∂w_i/∂s_j = w_i(δ_ij − w_j/T).
        let wdw: f64 = w.iter().zip(&dw).map(|(a, b)| a * b).sum::<f64>() / t as f64;
        (0..t).map(|j| w[j] * (dw[j] - wdw)).collect()
    }
}

impl WeightingMethod for GradNorm {
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
        let Some(initial) = self.state.initial_losses.clone() else {
            let w = vec![1.0; self.num_tasks];
            return w;
        };
        let w = self.weights();
        let norms: Vec<f64> = (0..self.num_tasks).map(|i| k[i][i].max(0.0).sqrt()).collect();
        let d = self.grad_s(&norms, losses, &initial);
        let st = &mut self.state;
        st.adam.step(&mut st.s, &d, self.lr);
        w
    }

    fn end_epoch(&mut self, _epoch: usize, mean_losses: &[f64]) {
        if self.state.initial_losses.is_none() && mean_losses.iter().all(|l| *l > 0.0) {
            self.state.initial_losses = Some(mean_losses.to_vec());
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            *self = GradNorm::new(self.num_tasks, self.alpha, self.lr);
            return Ok(());
        }
        let s: GradNormState =
            serde_json::from_value(state.clone()).map_err(|e| format!("GradNorm state: {e}"))?;
        if s.s.len() != self.num_tasks || !s.adam.fits(self.num_tasks) {
            return Err(format!("GradNorm state holds another number of tasks than {}", self.num_tasks));
        }
        self.state = s;
        Ok(())
    }
}

/// Settings of [`GradNorm`] (`[weighting.gradnorm]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradNormConfig {
    /// Restoring force α. Default 1.5 (the paper's and LibMTL's).
    pub alpha: f64,
    /// Adam learning rate of the weight logits. Default 0.025.
    pub lr: f64,
}

impl Default for GradNormConfig {
    fn default() -> Self {
        Self { alpha: 1.5, lr: 0.025 }
    }
}

impl MethodConfig for GradNormConfig {
    type Method = GradNorm;

    fn check(&self) -> Result<(), Invalid> {
        checks::non_negative("alpha", self.alpha)?;
        checks::positive("lr", self.lr, "learning rate")
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> GradNorm {
        GradNorm::new(num_tasks, self.alpha, self.lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_gradient_matches_finite_differences_of_the_gradnorm_loss() {
        let mut gn = GradNorm::new(3, 1.5, 0.01);
        gn.state.s = vec![0.2, -0.1, 0.4];
        let norms = [2.0, 0.5, 1.0];
        let losses = [0.8, 0.9, 0.3];
        let initial = [1.0, 1.0, 1.0];
        // L_grad(s) with the target Ḡ·r^α held at its value for the current s.
        let w0 = gn.weights();
        let gbar = w0.iter().zip(&norms).map(|(w, n)| w * n).sum::<f64>() / 3.0;
        let mean = losses.iter().sum::<f64>() / 3.0;
        let target: Vec<f64> = losses.iter().map(|l| gbar * (l / mean).powf(1.5)).collect();
        let lgrad = |g: &GradNorm| -> f64 {
            g.weights().iter().zip(&norms).zip(&target).map(|((w, n), c)| (w * n - c).abs()).sum()
        };
        let d = gn.grad_s(&norms, &losses, &initial);
        for (j, dj) in d.iter().enumerate() {
            let mut plus = GradNorm::new(3, 1.5, 0.01);
            plus.state.s = gn.state.s.clone();
            plus.state.s[j] += 1e-6;
            let mut minus = GradNorm::new(3, 1.5, 0.01);
            minus.state.s = gn.state.s.clone();
            minus.state.s[j] -= 1e-6;
            let fd = (lgrad(&plus) - lgrad(&minus)) / 2e-6;
            assert!((fd - dj).abs() < 1e-6, "s_{j}: {fd} vs {dj}");
        }
        assert!((gn.weights().iter().sum::<f64>() - 3.0).abs() < 1e-12, "Σ w = T");
    }

    #[test]
    fn the_first_epoch_is_equal_weighting_and_then_weights_move() {
        use burn::tensor::Device;
        let device = Device::ndarray();
        let mut gn = GradNorm::new(2, 1.5, 0.1);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let g = Tensor::<2>::from_floats([[3.0, 0.0], [0.0, 1.0]], &device);
        let losses = Tensor::<1>::from_floats([1.0, 1.0], &device);
        let out = gn.combine_gradients(&ctx, g.clone(), losses.clone());
        assert_eq!(out.weights.into_data().to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
        gn.end_epoch(0, &[1.0, 1.0]);
        gn.combine_gradients(&ctx, g, losses);
        // Equal training rates, so the larger gradient (task 0) loses weight.
        let w = gn.weights();
        assert!(w[0] < 1.0 && w[1] > 1.0, "{w:?}");
    }
}
