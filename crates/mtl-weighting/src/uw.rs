//! UW — uncertainty weighting.
//!
//! Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
//! Geometry and Semantics", CVPR 2018 (<https://arxiv.org/abs/1705.07115>).
//!
//! Each task has a learnable log-variance s_t = log σ_t², trained by the optimizer with the
//! network:
//!
//!   L = Σ_t ½·e^{−s_t}·L_t + ½·s_t
//!
//! This is the regression form of the paper's eq. 7, applied to every task kind, as LibMTL
//! (`weighting/UW.py`) and `shared/bench/mtl_lib.py` do. The effective weight of task t is
//! ½·e^{−s_t}; at the optimum for fixed L_t, e^{s_t} = L_t, so weights move towards 1/(2 L_t).

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use crate::base::{Invalid, MethodConfig, checks};
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use serde::{Deserialize, Serialize};

/// Uncertainty weighting with one learnable log-variance per task.
#[derive(Module, Debug)]
pub struct Uw {
    /// s_t = log σ_t². Shape `[T]`.
    pub log_var: Param<Tensor<1>>,
}

impl Uw {
    /// UW weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// `num_tasks` log-variances initialised to `init_log_var` on `device`.
    pub fn new(num_tasks: usize, init_log_var: f64, device: &Device) -> Self {
        Self { log_var: Param::from_tensor(Tensor::full([num_tasks], init_log_var, device)) }
    }
}

impl WeightingMethod for Uw {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let s = self.log_var.val();
        let precision = s.clone().neg().exp().mul_scalar(0.5); // ½·e^{−s}
        let loss = (precision.clone() * losses + s.mul_scalar(0.5)).sum();
        LossCombination { loss, weights: precision.detach().inner() }
    }
}

/// Settings of [`Uw`] (`[weighting.uw]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UwConfig {
    /// Initial log-variance s_t of every task. Default 0 (weights ½), as in
    /// `shared/bench/mtl_lib.py`; LibMTL starts at −0.5.
    pub init_log_var: f64,
}

impl Default for UwConfig {
    fn default() -> Self {
        Self { init_log_var: 0.0 }
    }
}

impl MethodConfig for UwConfig {
    type Method = Uw;

    fn check(&self) -> Result<(), Invalid> {
        checks::finite("init_log_var", self.init_log_var)
    }

    fn init(&self, num_tasks: usize, device: &Device) -> Uw {
        Uw::new(num_tasks, self.init_log_var, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    #[test]
    fn uw_loss_and_gradients_match_the_closed_form() {
        let device = Device::ndarray().autodiff();
        let mut uw = Uw::new(2, 0.0, &device);
        uw.log_var = Param::from_tensor(Tensor::from_floats([0.0, 1.0], &device));
        let losses = Tensor::<1>::from_floats([2.0, 3.0], &device).require_grad();
        let ctx = StepContext::first_step(WeightingInput::Losses);
        let out = uw.combine_losses(&ctx, losses.clone());
        // L = ½·2 + 0 + ½·e^{-1}·3 + ½ = 1.5 + 1.5/e
        let e = std::f32::consts::E;
        let want = 1.5 + 1.5 / e;
        out.loss.clone().inner().into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([want], &device.clone().inner()).into_data(),
            Tolerance::default(),
        );
        out.weights.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([0.5, 0.5 / e], &device.clone().inner()).into_data(),
            Tolerance::default(),
        );
        let grads = out.loss.backward();
        // dL/ds_t = ½ − ½·e^{−s_t}·L_t ;  dL/dL_t = ½·e^{−s_t}
        let gs = uw.log_var.val().grad(&grads).unwrap();
        gs.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([0.5 - 1.0, 0.5 - 1.5 / e], &device.clone().inner()).into_data(),
            Tolerance::default(),
        );
        let gl = losses.grad(&grads).unwrap();
        gl.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([0.5, 0.5 / e], &device.inner()).into_data(),
            Tolerance::default(),
        );
    }
}
