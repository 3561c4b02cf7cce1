//! SI — scale-invariant loss: L = Σ_t log L_t.
//!
//! The "scale-invariant" baseline of Navon et al., "Multi-Task Learning as a Bargaining Game"
//! (Nash-MTL), ICML 2022 (<https://arxiv.org/abs/2202.01017>), §6 and its code
//! (`methods/weight_methods.py`, `ScaleInvariantLinearScalarization`). Multiplying a task's
//! loss by a constant adds a constant to L and leaves the gradient unchanged; the gradient
//! weighs task t by ∂L/∂L_t = 1 / L_t. (GLS is the same up to the factor L/T.)

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gls::LOG_FLOOR;
use serde::{Deserialize, Serialize};

/// Scale-invariant weighting.
#[derive(Module, Debug)]
pub struct Si {
    num_tasks: usize,
}

impl Si {
    /// SI weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// SI over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

impl WeightingMethod for Si {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        debug_assert_eq!(losses.dims()[0], self.num_tasks);
        let clamped = losses.clamp_min(LOG_FLOOR);
        let weights = clamped.clone().detach().inner().recip();
        LossCombination { loss: clamped.log().sum(), weights }
    }
}

/// Settings of [`Si`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiConfig {}

impl MethodConfig for SiConfig {
    type Method = Si;

    fn init(&self, num_tasks: usize, _device: &Device) -> Si {
        Si::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn si_sums_log_losses_and_is_blind_to_loss_scale() {
        let device = Device::ndarray().autodiff();
        let ctx = StepContext::first_step(WeightingInput::Losses);
        let grad_of = |scale: f32| {
            let losses = Tensor::<1>::from_floats([2.0 * scale, 3.0], &device).require_grad();
            let out = Si::new(2).combine_losses(&ctx, losses.clone());
            let value = out.loss.clone().inner().into_scalar::<f32>();
            let w = out.weights.into_data().to_vec::<f32>().unwrap();
            // ∂L/∂θ for L_1 = scale·θ₁ (θ₁ = 2): (1/L_1)·scale = 1/2 whatever the scale.
            let g = losses.grad(&out.loss.backward()).unwrap().into_data().to_vec::<f32>().unwrap();
            (value, w, g[0] * scale)
        };
        let (v, w, g) = grad_of(1.0);
        assert!((v - (2.0f32.ln() + 3.0f32.ln())).abs() < 1e-6);
        assert!((w[0] - 0.5).abs() < 1e-6 && (w[1] - 1.0 / 3.0).abs() < 1e-6, "{w:?}");
        let (v100, _, g100) = grad_of(100.0);
        assert!((v100 - v - 100.0f32.ln()).abs() < 1e-5, "a constant shift");
        assert!((g - 0.5).abs() < 1e-6 && (g100 - 0.5).abs() < 1e-6, "{g} {g100}");
    }
}
