//! DWA — dynamic weight average.
//!
//! Liu, Johns, Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019
//! (<https://arxiv.org/abs/1803.10704>), eq. 7.
//!
//! With L̄_t(e) the mean training loss of task t over epoch e, the relative descent rate
//! r_t(e) = L̄_t(e−1) / L̄_t(e−2) sets the weights of epoch e:
//!
//!   w_t(e) = T · exp(r_t(e) / τ) / Σ_i exp(r_i(e) / τ),   L = Σ_t w_t L_t,
//!
//! and w_t = 1 for the first two epochs, which have no history. τ = 2 in the paper and in
//! LibMTL (`weighting/DWA.py`, `T`). A task whose loss falls more slowly gets more weight.
//! Like LibMTL, the averages are the epoch means of the unweighted training losses.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::base::{Invalid, MethodConfig, checks};
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};

/// Dynamic weight average.
#[derive(Module, Debug)]
pub struct Dwa {
    num_tasks: usize,
    temperature: f64,
    /// Mean training loss of each task, per finished epoch (the last two are used).
    #[module(skip)]
    history: Vec<Vec<f64>>,
}

#[derive(Serialize, Deserialize)]
struct DwaState {
    history: Vec<Vec<f64>>,
}

impl Dwa {
    /// DWA weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// DWA over `num_tasks` tasks with temperature τ.
    pub fn new(num_tasks: usize, temperature: f64) -> Self {
        Self { num_tasks, temperature, history: Vec::new() }
    }

    /// The weights of the coming epoch, from the history so far.
    pub fn weights(&self) -> Vec<f64> {
        let n = self.history.len();
        if n < 2 {
            return vec![1.0; self.num_tasks];
        }
        let (prev, prev2) = (&self.history[n - 1], &self.history[n - 2]);
        let r: Vec<f64> = prev.iter().zip(prev2).map(|(a, b)| a / b / self.temperature).collect();
        let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = r.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| self.num_tasks as f64 * x / sum).collect()
    }
}

impl WeightingMethod for Dwa {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let device = losses.device();
        let w: Vec<f32> = self.weights().iter().map(|w| *w as f32).collect();
        let weights = Tensor::<1>::from_data(TensorData::new(w, [self.num_tasks]), &device);
        LossCombination { loss: (losses * weights.clone()).sum(), weights: weights.inner() }
    }

    fn end_epoch(&mut self, _epoch: usize, mean_losses: &[f64]) {
        self.history.push(mean_losses.to_vec());
        if self.history.len() > 2 {
            self.history.remove(0);
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(DwaState { history: self.history.clone() }).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            self.history.clear();
            return Ok(());
        }
        let s: DwaState = serde_json::from_value(state.clone()).map_err(|e| format!("DWA state: {e}"))?;
        if s.history.iter().any(|h| h.len() != self.num_tasks) {
            return Err(format!("DWA state holds losses of another number of tasks than {}", self.num_tasks));
        }
        self.history = s.history;
        Ok(())
    }
}

/// Settings of [`Dwa`] (`[weighting.dwa]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DwaConfig {
    /// Softmax temperature τ. Default 2 (the paper's and LibMTL's).
    pub temperature: f64,
}

impl Default for DwaConfig {
    fn default() -> Self {
        Self { temperature: 2.0 }
    }
}

impl MethodConfig for DwaConfig {
    type Method = Dwa;

    fn check(&self) -> Result<(), Invalid> {
        checks::positive("temperature", self.temperature, "temperature")
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> Dwa {
        Dwa::new(num_tasks, self.temperature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn ctx() -> StepContext {
        StepContext { epoch: 2, step: 0, steps_per_epoch: 1, input: WeightingInput::Losses }
    }

    #[test]
    fn dwa_reproduces_its_formula_on_a_loss_history() {
        let mut dwa = Dwa::new(2, 2.0);
        assert_eq!(dwa.weights(), vec![1.0, 1.0], "no history: equal weights");
        dwa.end_epoch(0, &[1.0, 2.0]);
        assert_eq!(dwa.weights(), vec![1.0, 1.0], "one epoch: still equal");
        dwa.end_epoch(1, &[0.5, 1.8]);
        // r = (0.5, 0.9); w = 2·softmax(r / 2) = 2·e^{0.25} / (e^{0.25} + e^{0.45}), ...
        let (a, b) = (0.25f64.exp(), 0.45f64.exp());
        let want = [2.0 * a / (a + b), 2.0 * b / (a + b)];
        let w = dwa.weights();
        assert!((w[0] - want[0]).abs() < 1e-12 && (w[1] - want[1]).abs() < 1e-12, "{w:?}");
        assert!(w[1] > w[0], "the slower task gets more weight");
        // Only the last two epochs count.
        dwa.end_epoch(2, &[0.25, 1.8]);
        let w = dwa.weights(); // r = (0.5, 1.0)
        let (a, b) = (0.25f64.exp(), 0.5f64.exp());
        assert!((w[0] - 2.0 * a / (a + b)).abs() < 1e-12, "{w:?}");

        // The loss is Σ w_t L_t with those weights.
        let device = Device::ndarray().autodiff();
        let losses = Tensor::<1>::from_floats([3.0, 5.0], &device);
        let out = dwa.combine_losses(&ctx(), losses);
        let got = out.loss.inner().into_scalar::<f32>() as f64;
        assert!((got - (3.0 * w[0] + 5.0 * w[1])).abs() < 1e-5, "{got}");
    }

    #[test]
    fn dwa_state_round_trips() {
        let mut dwa = Dwa::new(2, 2.0);
        dwa.end_epoch(0, &[1.0, 2.0]);
        dwa.end_epoch(1, &[0.5, 1.8]);
        let mut other = Dwa::new(2, 2.0);
        other.load_state(&dwa.state()).unwrap();
        assert_eq!(other.weights(), dwa.weights());
        assert!(Dwa::new(3, 2.0).load_state(&dwa.state()).is_err());
    }
}
