//! FAMO — fast adaptive multitask optimisation.
//!
//! Liu, Liu, Stone, Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023
//! (<https://arxiv.org/abs/2306.03792>), Algorithm 1 and the authors' code
//! (`methods/weight_methods.py`, `FAMO`).
//!
//! Task logits ξ (zero at the start) give z = softmax(ξ). With D_t = L_t − L_t* + ε (L* = 0,
//! ε = 1e-8) the step minimises
//!
//!   L = Σ_t z_t log D_t / c,   c = Σ_t z_t / D_t (a constant),
//!
//! so task t's gradient is weighted by z_t / (c D_t). After the optimizer step the same batch
//! is evaluated again (the trainer's after-step hook) and δ_t = log D_t(before) − log D_t(after)
//! is the decrease of each log-loss; ξ takes one Adam step (lr 0.025, weight decay 1e-3,
//! β = (0.9, 0.999)) along ∇_ξ = J_softmax(ξ)ᵀ δ = z ⊙ (δ − zᵀδ), raising the weight of tasks
//! whose loss fell least. ξ and its Adam moments are host state saved in checkpoints. Cost:
//! one extra forward per step, no per-task backward.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::base::{Invalid, MethodConfig, checks};
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gram::{HostAdam, host};

const EPS: f64 = 1e-8;

/// FAMO.
#[derive(Module, Debug)]
pub struct Famo {
    num_tasks: usize,
    lr: f64,
    weight_decay: f64,
    #[module(skip)]
    state: FamoState,
}

/// ξ and its Adam moments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct FamoState {
    xi: Vec<f64>,
    #[serde(flatten)]
    adam: HostAdam,
}

impl Famo {
    /// FAMO weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// FAMO over `num_tasks` tasks with the logits' Adam learning rate and weight decay.
    pub fn new(num_tasks: usize, lr: f64, weight_decay: f64) -> Self {
        let zeros = vec![0.0; num_tasks];
        Self { num_tasks, lr, weight_decay, state: FamoState { xi: zeros, adam: HostAdam::new(num_tasks) } }
    }

    /// z = softmax(ξ).
    pub fn z(&self) -> Vec<f64> {
        let max = self.state.xi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self.state.xi.iter().map(|x| (x - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    /// The logits ξ.
    pub fn logits(&self) -> &[f64] {
        &self.state.xi
    }
}

impl WeightingMethod for Famo {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let device = losses.device();
        let z = self.z();
        let d_host: Vec<f64> = host(losses.clone().detach().inner()).iter().map(|l| l + EPS).collect();
        let c: f64 = z.iter().zip(&d_host).map(|(z, d)| z / d).sum();
        let coef: Vec<f32> = z.iter().map(|z| (z / c) as f32).collect();
        let coef = Tensor::<1>::from_data(TensorData::new(coef, [self.num_tasks]), &device);
        let loss = (losses.add_scalar(EPS).log() * coef).sum();
        let weights: Vec<f32> = z.iter().zip(&d_host).map(|(z, d)| (z / (c * d)) as f32).collect();
        LossCombination {
            loss,
            weights: Tensor::from_data(TensorData::new(weights, [self.num_tasks]), &device.inner()),
        }
    }

    fn wants_losses_after_step(&self) -> bool {
        true
    }

    fn after_step(&mut self, _ctx: &StepContext, losses_before: Tensor<1>, losses_after: Option<Tensor<1>>) {
        let Some(after) = losses_after else { return };
        let (before, after) = (host(losses_before), host(after));
        let delta: Vec<f64> =
            before.iter().zip(&after).map(|(b, a)| (b + EPS).ln() - (a + EPS).ln()).collect();
        let z = self.z();
        let zd: f64 = z.iter().zip(&delta).map(|(z, d)| z * d).sum();
        let s = &mut self.state;
        // PyTorch Adam: L2 weight decay is added to the gradient.
        let g: Vec<f64> =
            (0..self.num_tasks).map(|i| z[i] * (delta[i] - zd) + self.weight_decay * s.xi[i]).collect();
        s.adam.step(&mut s.xi, &g, self.lr);
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            *self = Famo::new(self.num_tasks, self.lr, self.weight_decay);
            return Ok(());
        }
        let s: FamoState = serde_json::from_value(state.clone()).map_err(|e| format!("FAMO state: {e}"))?;
        if s.xi.len() != self.num_tasks || !s.adam.fits(self.num_tasks) {
            return Err(format!("FAMO state holds another number of tasks than {}", self.num_tasks));
        }
        self.state = s;
        Ok(())
    }
}

/// Settings of [`Famo`] (`[weighting.famo]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FamoConfig {
    /// Adam learning rate of the task logits. Default 0.025 (the paper's).
    pub lr: f64,
    /// Adam weight decay of the logits. Default 1e-3 (the paper's).
    pub weight_decay: f64,
}

impl Default for FamoConfig {
    fn default() -> Self {
        Self { lr: 0.025, weight_decay: 1e-3 }
    }
}

impl MethodConfig for FamoConfig {
    type Method = Famo;

    fn check(&self) -> Result<(), Invalid> {
        checks::positive("lr", self.lr, "learning rate")?;
        checks::non_negative("weight_decay", self.weight_decay)
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> Famo {
        Famo::new(num_tasks, self.lr, self.weight_decay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn ctx() -> StepContext {
        StepContext::first_step(WeightingInput::Losses)
    }

    #[test]
    fn the_loss_weighs_each_task_by_z_over_c_d() {
        let device = Device::ndarray().autodiff();
        let mut famo = Famo::new(2, 0.025, 1e-3);
        let losses = Tensor::<1>::from_floats([1.0, 4.0], &device).require_grad();
        let out = famo.combine_losses(&ctx(), losses.clone());
        // z = (½, ½), c = ½(1 + ¼) = 5/8: L = (log 1 + log 4)·½ / (5/8) = 0.8·log 4.
        let got = out.loss.clone().inner().into_scalar::<f32>() as f64;
        assert!((got - 0.8 * 4.0f64.ln()).abs() < 1e-5, "{got}");
        // ∂L/∂L_t = z_t / (c L_t) = 0.8, 0.2 (they sum to 1).
        let g = losses.grad(&out.loss.backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        let w = out.weights.into_data().to_vec::<f32>().unwrap();
        for (a, b) in [(g[0], 0.8), (g[1], 0.2), (w[0], 0.8), (w[1], 0.2)] {
            assert!((a - b).abs() < 1e-5, "{g:?} {w:?}");
        }
    }

    #[test]
    fn the_logits_take_one_adam_step_towards_the_slower_task() {
        let device = Device::ndarray();
        let mut famo = Famo::new(2, 0.025, 1e-3);
        // Task 0's loss halves, task 1's stays: δ = (log 2, 0), z = (½, ½),
        // ∇ξ = z ⊙ (δ − zᵀδ) = (¼ log 2, −¼ log 2). Adam's first step is −lr·sign(∇).
        let before = Tensor::<1>::from_floats([2.0, 3.0], &device);
        let after = Tensor::<1>::from_floats([1.0, 3.0], &device);
        famo.after_step(&ctx(), before, Some(after));
        let xi = famo.logits();
        assert!((xi[0] + 0.025).abs() < 1e-8 && (xi[1] - 0.025).abs() < 1e-8, "{xi:?}");
        assert!(famo.z()[1] > famo.z()[0], "the task that did not improve gains weight");
        let mut other = Famo::new(2, 0.025, 1e-3);
        other.load_state(&famo.state()).unwrap();
        assert_eq!(other.z(), famo.z());
    }
}
