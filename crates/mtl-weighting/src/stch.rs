//! STCH — smooth Tchebycheff scalarisation.
//!
//! Lin, Zhang, Wang, Liu, Zhang, "Smooth Tchebycheff Scalarization for Multi-Objective
//! Optimization", ICML 2024 (<https://arxiv.org/abs/2402.19078>), as in the authors' MTL code
//! and LibMTL (`weighting/STCH.py`).
//!
//! For the first `warmup_epochs` epochs the loss is Σ_t log L_t, and during the last of them the
//! batch losses are averaged into a nadir point z. Afterwards
//!
//!   L = T · μ · log Σ_t exp(log(L_t / z_t) / μ),
//!
//! a smooth maximum of the log-relative losses (μ → 0 gives the Tchebycheff max). The task
//! weights ∂L/∂L_t are 1/L_t during warm-up and T·softmax(log(L/z)/μ)_t / L_t after. The nadir
//! sum stays on the device until the nadir is formed; it and the nadir are saved in
//! checkpoints.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::base::{Invalid, MethodConfig, checks};
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gram::host;

const TINY: f64 = 1e-20;

/// Smooth Tchebycheff scalarisation.
#[derive(Module, Debug)]
pub struct Stch {
    num_tasks: usize,
    mu: f64,
    warmup_epochs: usize,
    #[module(skip)]
    sum: Option<Box<Tensor<1>>>,
    #[module(skip)]
    count: usize,
    #[module(skip)]
    nadir: Option<Vec<f64>>,
}

#[derive(Serialize, Deserialize)]
struct StchState {
    sum: Option<Vec<f64>>,
    count: usize,
    nadir: Option<Vec<f64>>,
}

impl Stch {
    /// STCH weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// STCH over `num_tasks` tasks with smoothing μ and the warm-up length in epochs.
    pub fn new(num_tasks: usize, mu: f64, warmup_epochs: usize) -> Self {
        Self { num_tasks, mu, warmup_epochs, sum: None, count: 0, nadir: None }
    }

    /// The nadir point, once formed.
    pub fn nadir(&self) -> Option<&[f64]> {
        self.nadir.as_deref()
    }
}

impl WeightingMethod for Stch {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let device = losses.device();
        let t = self.num_tasks;
        if ctx.epoch <= self.warmup_epochs && self.nadir.is_none() {
            let logs = losses.clone().add_scalar(TINY).log();
            let weights = losses.clone().detach().inner().add_scalar(TINY).recip();
            if ctx.epoch == self.warmup_epochs {
                let l = losses.clone().detach().inner();
                self.sum = Some(Box::new(self.sum.take().map_or(l.clone(), |s| *s + l)));
                self.count += 1;
            }
            return LossCombination { loss: logs.sum(), weights };
        }
        let nadir = match &self.nadir {
            Some(n) => n.clone(),
            None => {
                let n: Vec<f64> = match self.sum.take() {
                    Some(s) => host(*s).iter().map(|x| x / self.count as f64).collect(),
                    // No warm-up step was seen (e.g. warmup_epochs beyond a resumed run's start):
                    // the first losses serve as the nadir.
                    None => host(losses.clone().detach().inner()),
                };
                self.nadir = Some(n.clone());
                n
            }
        };
        let z =
            Tensor::<1>::from_data(TensorData::new(nadir.iter().map(|x| *x as f32).collect(), [t]), &device);
        let rel = (losses.clone() / z).add_scalar(TINY).log();
        let max = rel.clone().detach().max();
        let scaled = (rel - max).div_scalar(self.mu);
        let loss = scaled.clone().exp().sum().log().mul_scalar(self.mu * t as f64);
        let weights = softmax(scaled.detach().inner(), 0).mul_scalar(t as f64)
            / losses.detach().inner().add_scalar(TINY);
        LossCombination { loss, weights }
    }

    fn state(&self) -> serde_json::Value {
        let s = StchState {
            sum: self.sum.clone().map(|s| host(*s)),
            count: self.count,
            nadir: self.nadir.clone(),
        };
        serde_json::to_value(s).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            (self.sum, self.count, self.nadir) = (None, 0, None);
            return Ok(());
        }
        let s: StchState = serde_json::from_value(state.clone()).map_err(|e| format!("STCH state: {e}"))?;
        if s.nadir.as_ref().is_some_and(|n| n.len() != self.num_tasks) {
            return Err(format!("STCH state holds another number of tasks than {}", self.num_tasks));
        }
        // The running sum only exists within the warm-up's last epoch, which a checkpoint (at an
        // epoch's end) never interrupts; it is kept for completeness.
        self.sum = None;
        self.count = s.count;
        self.nadir = s.nadir.or_else(|| s.sum.map(|v| v.iter().map(|x| x / s.count.max(1) as f64).collect()));
        Ok(())
    }
}

/// Settings of [`Stch`] (`[weighting.stch]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StchConfig {
    /// Smoothing μ > 0. Default 1 (LibMTL's).
    pub mu: f64,
    /// Epochs of Σ log L before the smooth max; the last one forms the nadir. Default 4.
    pub warmup_epochs: usize,
}

impl Default for StchConfig {
    fn default() -> Self {
        Self { mu: 1.0, warmup_epochs: 4 }
    }
}

impl MethodConfig for StchConfig {
    type Method = Stch;

    fn check(&self) -> Result<(), Invalid> {
        checks::positive("mu", self.mu, "smoothing")
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> Stch {
        Stch::new(num_tasks, self.mu, self.warmup_epochs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn ctx(epoch: usize) -> StepContext {
        StepContext { epoch, step: 0, steps_per_epoch: 2, input: WeightingInput::Losses }
    }

    #[test]
    fn warmup_sums_log_losses_then_the_smooth_max_uses_the_nadir() {
        let device = Device::ndarray().autodiff();
        let mut stch = Stch::new(2, 1.0, 1);
        let l = |a: f32, b: f32| Tensor::<1>::from_floats([a, b], &device);
        // Epoch 0: Σ log L.
        let out = stch.combine_losses(&ctx(0), l(2.0, 4.0));
        assert!((out.loss.inner().into_scalar::<f32>() - 8.0f32.ln()).abs() < 1e-5);
        // Epoch 1 (the last warm-up epoch) averages (1, 4) and (3, 2) into the nadir (2, 3).
        stch.combine_losses(&ctx(1), l(1.0, 4.0));
        stch.combine_losses(&ctx(1), l(3.0, 2.0));
        // Epoch 2: L = T·μ·log Σ exp(log(L/z)/μ) = 2·log(1/2·... ) with L = (1, 6): L/z = (½, 2)
        // → 2·log(½ + 2) = 2 log 2.5 (the max shift cancels out of the value's gradient only).
        let losses = l(1.0, 6.0).require_grad();
        let out = stch.combine_losses(&ctx(2), losses.clone());
        assert_eq!(stch.nadir(), Some(&[2.0, 3.0][..]));
        let value = out.loss.clone().inner().into_scalar::<f32>() as f64;
        // The value is shifted by T·max(log(L/z)) = 2·log 2.
        assert!((value - (2.0 * 2.5f64.ln() - 2.0 * 2.0f64.ln())).abs() < 1e-5, "{value}");
        // ∂L/∂L_t = T·softmax(log(L/z))_t / L_t = 2·(0.2, 0.8) / (1, 6).
        let g = losses.grad(&out.loss.backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        let w = out.weights.into_data().to_vec::<f32>().unwrap();
        for (a, b) in [(g[0], 0.4), (g[1], 1.6 / 6.0), (w[0], 0.4), (w[1], 1.6 / 6.0)] {
            assert!((a as f64 - b).abs() < 1e-5, "{g:?} {w:?}");
        }
        let mut other = Stch::new(2, 1.0, 1);
        other.load_state(&stch.state()).unwrap();
        assert_eq!(other.nadir(), stch.nadir());
    }
}
