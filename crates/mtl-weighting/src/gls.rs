//! GLS — geometric loss strategy.
//!
//! Chennupati, Sistu, Yogamani, Rawashdeh, "MultiNet++: Multi-Stream Feature Aggregation and
//! Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019
//! (<https://arxiv.org/abs/1904.08492>).
//!
//! L = (Π_t L_t)^{1/T}, the geometric mean of the task losses, computed as exp(mean_t log L_t)
//! (the same value, without overflow). Its gradient weighs task t by ∂L/∂L_t = L / (T·L_t):
//! tasks with small losses get larger weights, and the result does not depend on the scale of
//! any one loss. LibMTL: `weighting/GLS.py`; TorchJD: `GeometricMean`.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use serde::{Deserialize, Serialize};

/// Losses below this are treated as this value inside the logarithm, so that a task with no
/// labelled sample in a batch (loss 0) neither gives −∞ nor receives a gradient.
pub(crate) const LOG_FLOOR: f64 = 1e-12;

/// Geometric loss strategy.
#[derive(Module, Debug)]
pub struct Gls {
    num_tasks: usize,
}

impl Gls {
    /// GLS weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// GLS over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

impl WeightingMethod for Gls {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let clamped = losses.clamp_min(LOG_FLOOR);
        let loss = clamped.clone().log().mean().exp();
        let t = self.num_tasks as f64;
        let weights =
            (loss.clone().detach().inner().expand([self.num_tasks]) / clamped.detach().inner()).div_scalar(t);
        LossCombination { loss, weights }
    }
}

/// Settings of [`Gls`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlsConfig {}

impl MethodConfig for GlsConfig {
    type Method = Gls;

    fn init(&self, num_tasks: usize, _device: &Device) -> Gls {
        Gls::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn gls_is_the_geometric_mean_with_its_gradient() {
        let device = Device::ndarray().autodiff();
        let losses = Tensor::<1>::from_floats([1.0, 4.0, 2.0], &device).require_grad();
        let ctx = StepContext::first_step(WeightingInput::Losses);
        let out = Gls::new(3).combine_losses(&ctx, losses.clone());
        // (1·4·2)^{1/3} = 2.
        assert!((out.loss.clone().inner().into_scalar::<f32>() - 2.0).abs() < 1e-6);
        // ∂L/∂L_t = L / (T·L_t) = 2/3, 1/6, 1/3.
        let want = [2.0 / 3.0, 1.0 / 6.0, 1.0 / 3.0];
        let w = out.weights.into_data().to_vec::<f32>().unwrap();
        let g = losses.grad(&out.loss.backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        for t in 0..3 {
            assert!((w[t] - want[t]).abs() < 1e-6 && (g[t] - want[t]).abs() < 1e-6, "{w:?} {g:?}");
        }
    }

    #[test]
    fn a_task_without_labels_gets_no_gradient() {
        let device = Device::ndarray().autodiff();
        let losses = Tensor::<1>::from_floats([0.0, 4.0], &device).require_grad();
        let ctx = StepContext::first_step(WeightingInput::Losses);
        let out = Gls::new(2).combine_losses(&ctx, losses.clone());
        let g = losses.grad(&out.loss.backward()).unwrap().into_data().to_vec::<f32>().unwrap();
        assert!(g.iter().all(|x| x.is_finite()), "{g:?}");
        assert_eq!(g[0], 0.0);
    }
}
