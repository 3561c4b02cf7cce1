//! RLW — random loss weighting.
//!
//! Lin, Ye, Xu, Shi, Zhang, "Reasonable Effectiveness of Random Weighting: A Litmus Test for
//! Multi-Task Learning", TMLR 2022 (<https://arxiv.org/abs/2111.10603>).
//!
//! Every step draws λ ~ N(0, I_T) and weighs the losses by w = softmax(λ):
//! L = Σ_t w_t L_t. Normal-softmax is the paper's default and LibMTL's (`weighting/RLW.py`).
//! The draw uses the backend's generator, which the trainer seeds per epoch from the run seed,
//! so runs (and resumes) are reproducible on one backend.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor};

use crate::base::MethodConfig;
use crate::base::{LossCombination, StepContext, WeightingInput, WeightingMethod};
use serde::{Deserialize, Serialize};

/// Random loss weighting.
#[derive(Module, Debug)]
pub struct Rlw {
    num_tasks: usize,
}

impl Rlw {
    /// RLW weighs losses only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::Losses];

    /// RLW over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

impl WeightingMethod for Rlw {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let device = losses.device().inner();
        let lambda = Tensor::<1>::random([self.num_tasks], Distribution::Normal(0.0, 1.0), &device);
        let weights = softmax(lambda, 0);
        let w = Tensor::from_inner(weights.clone());
        LossCombination { loss: (losses * w).sum(), weights }
    }
}

/// Settings of [`Rlw`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlwConfig {}

impl MethodConfig for RlwConfig {
    type Method = Rlw;

    fn init(&self, num_tasks: usize, _device: &Device) -> Rlw {
        Rlw::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn ctx() -> StepContext {
        StepContext::first_step(WeightingInput::Losses)
    }

    fn draw(rlw: &mut Rlw, device: &Device) -> (Vec<f32>, f32) {
        let losses = Tensor::<1>::from_floats([1.0, 2.0, 4.0], device);
        let out = rlw.combine_losses(&ctx(), losses);
        (out.weights.into_data().to_vec::<f32>().unwrap(), out.loss.inner().into_scalar::<f32>())
    }

    #[test]
    fn rlw_weights_are_a_fresh_point_of_the_simplex_each_step() {
        let device = Device::ndarray().autodiff();
        let mut rlw = Rlw::new(3);
        device.seed(5);
        let (w1, l1) = draw(&mut rlw, &device);
        let (w2, _) = draw(&mut rlw, &device);
        for w in [&w1, &w2] {
            assert!(w.iter().all(|x| *x > 0.0) && (w.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{w:?}");
        }
        assert_ne!(w1, w2, "resampled every step");
        assert!((l1 - (w1[0] + 2.0 * w1[1] + 4.0 * w1[2])).abs() < 1e-5);
        // Same seed, same weights.
        device.seed(5);
        assert_eq!(draw(&mut rlw, &device).0, w1);
    }
}
