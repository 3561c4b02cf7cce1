//! IMTL-L — impartial multi-task learning, loss part.
//!
//! Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang, "Towards Impartial Multi-task Learning",
//! ICLR 2021 (<https://openreview.net/forum?id=IMPnRXEWpvr>), §3.1.
//!
//! Each task has a learnable scale s_t, trained by the optimizer with the network on
//!
//!   L = Σ_t e^{s_t} L_t − s_t,
//!
//! whose stationary point in s_t is e^{s_t} L_t = 1: every scaled loss is driven to the same
//! value, so no task dominates by the scale of its loss. The weight of task t is e^{s_t};
//! s starts at 0. LibMTL: `weighting/IMTL.py` (the loss part of its IMTL).

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use serde::{Deserialize, Serialize};

/// IMTL-L with one learnable log-scale per task.
#[derive(Module, Debug)]
pub struct ImtlL {
    /// s_t. Shape `[T]`.
    pub log_scale: Param<Tensor<1>>,
}

impl ImtlL {
    /// IMTL-L weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// `num_tasks` log-scales at 0 on `device`.
    pub fn new(num_tasks: usize, device: &Device) -> Self {
        Self { log_scale: Param::from_tensor(Tensor::zeros([num_tasks], device)) }
    }
}

impl WeightingMethod for ImtlL {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let s = self.log_scale.val();
        let scale = s.clone().exp();
        let loss = (scale.clone() * losses - s).sum();
        LossCombination { loss, weights: scale.detach().inner() }
    }
}

/// Settings of [`ImtlL`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImtlLConfig {}

impl MethodConfig for ImtlLConfig {
    type Method = ImtlL;

    fn init(&self, num_tasks: usize, device: &Device) -> ImtlL {
        ImtlL::new(num_tasks, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imtl_l_loss_and_gradients_match_the_closed_form() {
        let device = Device::ndarray().autodiff();
        let mut m = ImtlL::new(2, &device);
        m.log_scale = Param::from_tensor(Tensor::from_floats([0.0, 1.0], &device));
        let losses = Tensor::<1>::from_floats([2.0, 3.0], &device).require_grad();
        let ctx = StepContext::first_step(WeightingInput::Losses);
        let out = m.combine_losses(&ctx, losses.clone());
        let e = std::f32::consts::E;
        // L = 2 − 0 + 3e − 1.
        let got = out.loss.clone().inner().into_scalar::<f32>();
        assert!((got - (1.0 + 3.0 * e)).abs() < 1e-5, "{got}");
        let grads = out.loss.backward();
        // ∂L/∂s_t = e^{s_t} L_t − 1 = 1, 3e − 1; ∂L/∂L_t = e^{s_t} = 1, e.
        let gs = m.log_scale.val().grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        assert!((gs[0] - 1.0).abs() < 1e-5 && (gs[1] - (3.0 * e - 1.0)).abs() < 1e-5, "{gs:?}");
        let gl = losses.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        assert!((gl[0] - 1.0).abs() < 1e-6 && (gl[1] - e).abs() < 1e-5, "{gl:?}");
    }
}
