//! EW — equal weighting: every task counts the same, L = Σ_t L_t.
//!
//! The baseline of every MTL paper. Like LibMTL's `EW` (which multiplies by ones despite its
//! docstring's 1/T), the weights are 1, so a run with one task equals single-task training.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{GradientCombination, LossCombination, StepContext, WeightingInput, WeightingMethod};
use serde::{Deserialize, Serialize};

/// Equal weighting. Works on every input: the sum of the losses or of the gradients.
#[derive(Module, Debug)]
pub struct Ew {
    num_tasks: usize,
}

impl Ew {
    /// Inputs EW supports: all three; losses by default.
    pub const INPUTS: &'static [WeightingInput] = &[
        WeightingInput::Losses,
        WeightingInput::RepresentationGradients,
        WeightingInput::ParameterGradients,
    ];

    /// Equal weighting of `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

impl WeightingMethod for Ew {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_losses(&mut self, _ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        let device = losses.device();
        LossCombination { weights: Tensor::ones([self.num_tasks], &device.inner()), loss: losses.sum() }
    }

    fn combine_gradients(
        &mut self,
        _ctx: &StepContext,
        gradients: Tensor<2>,
        _losses: Tensor<1>,
    ) -> GradientCombination {
        let device = gradients.device();
        GradientCombination {
            weights: Tensor::ones([self.num_tasks], &device),
            // [T, P] -> [P]
            gradient: gradients.sum_dim(0).squeeze_dim(0),
        }
    }

    fn weights_from_gram(&self) -> bool {
        true
    }

    fn solves_from_gram(&self) -> bool {
        false
    }

    fn gram_weights(
        &mut self,
        _ctx: &StepContext,
        _k: &crate::gram::Gram,
        _losses: &[f64],
        _device: &burn::tensor::Device,
    ) -> Vec<f64> {
        vec![1.0; self.num_tasks]
    }
}

/// Settings of [`Ew`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EwConfig {}

impl MethodConfig for EwConfig {
    type Method = Ew;

    fn init(&self, num_tasks: usize, _device: &Device) -> Ew {
        Ew::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tolerance};

    fn ctx(input: WeightingInput) -> StepContext {
        StepContext::first_step(input)
    }

    #[test]
    fn ew_sums_losses_with_unit_weights() {
        let device = Device::ndarray();
        let out = Ew::new(3)
            .combine_losses(&ctx(WeightingInput::Losses), Tensor::from_floats([0.5, 1.0, 2.0], &device));
        out.loss.into_data().assert_approx_eq::<f32>(
            &Tensor::<1>::from_floats([3.5], &device).into_data(),
            Tolerance::default(),
        );
        out.weights
            .into_data()
            .assert_eq(&Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device).into_data(), true);
    }

    #[test]
    fn ew_sums_gradients() {
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, -2.0], [3.0, 4.0]], &device);
        let out = Ew::new(2).combine_gradients(
            &ctx(WeightingInput::ParameterGradients),
            g,
            Tensor::zeros([2], &device),
        );
        out.gradient.into_data().assert_eq(&Tensor::<1>::from_floats([4.0, 2.0], &device).into_data(), true);
    }
}
