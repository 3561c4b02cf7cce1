//! FairGrad — fair resource allocation in multi-task learning.
//!
//! Ban, Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024
//! (<https://arxiv.org/abs/2402.15638>).
//!
//! The update Σ_t w_t g_t uses the α-fair allocation w > 0 of K w = w^{−1/α} (element-wise;
//! K the Gram matrix, unnormalised as in the authors' code). α = 1 is proportional fairness
//! (Nash-MTL's equation), α → ∞ approaches max-min fairness. The authors solve it with scipy's
//! `least_squares` on the CPU; here it is the minimiser of a strictly convex T-dimensional
//! function, found by damped Newton ([`crate::nash::power_barrier_weights`]). For orthogonal
//! gradients w_t = ‖g_t‖^{−2α/(α+1)}. When no solution exists (0 lies in the convex hull of the
//! gradients) the previous weights are kept (1/T at the start, the authors' starting point) and
//! the step is counted ([`WeightingMethod::reused_weight_steps`]).
//!
//! Checked against TorchJD 0.18.0's `FairGrad` (`tests/fixtures/torchjd/`).

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig, checks};
use crate::gram::Gram;
use crate::gram::combine_through_gram;
use crate::nash::{SolvedWeights, power_barrier_weights};
use serde::{Deserialize, Serialize};

/// FairGrad.
#[derive(Module, Debug)]
pub struct FairGrad {
    num_tasks: usize,
    alpha: f64,
    /// The last solution and the count of steps without one.
    #[module(skip)]
    state: SolvedWeights,
}

impl FairGrad {
    /// FairGrad reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// FairGrad over `num_tasks` tasks with fairness α > 0.
    pub fn new(num_tasks: usize, alpha: f64) -> Self {
        Self { num_tasks, alpha, state: SolvedWeights::default() }
    }
}

impl WeightingMethod for FairGrad {
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

    fn gram_weights(&mut self, _ctx: &StepContext, k: &Gram, _losses: &[f64], _device: &Device) -> Vec<f64> {
        self.state.record(power_barrier_weights(k, 1.0 / self.alpha));

        self.state.weights_or(1.0 / self.num_tasks as f64, self.num_tasks)
    }

    fn reused_weight_steps(&self) -> Option<u64> {
        Some(self.state.reused())
    }

    fn state(&self) -> serde_json::Value {
        self.state.to_json()
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        // Checkpoints from before FairGrad kept a state hold `null`: it starts afresh.
        self.state = SolvedWeights::from_json(state, self.num_tasks, "FairGrad")?;
        Ok(())
    }
}

/// Settings of [`FairGrad`] (`[weighting.fairgrad]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FairGradConfig {
    /// Fairness α > 0 (1 = proportional fairness). Default 1.
    pub alpha: f64,
}

impl Default for FairGradConfig {
    fn default() -> Self {
        Self { alpha: 1.0 }
    }
}

impl MethodConfig for FairGradConfig {
    type Method = FairGrad;

    fn check(&self) -> Result<(), Invalid> {
        checks::positive("alpha", self.alpha, "α")
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> FairGrad {
        FairGrad::new(num_tasks, self.alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gram::mat_vec;

    #[test]
    fn orthogonal_gradients_get_the_closed_form() {
        // K = diag(4, 1/4), α = 2 (p = ½): w_t = K_tt^{−1/(1+p)} = 4^{−2/3}, 4^{2/3}.
        let k = vec![vec![4.0, 0.0], vec![0.0, 0.25]];
        let w = power_barrier_weights(&k, 0.5).unwrap();
        assert!(
            (w[0] - 4f64.powf(-2.0 / 3.0)).abs() < 1e-9 && (w[1] - 4f64.powf(2.0 / 3.0)).abs() < 1e-9,
            "{w:?}"
        );
    }

    #[test]
    fn the_solution_satisfies_the_alpha_fair_equation() {
        let k = vec![vec![2.0, 0.5, -0.3], vec![0.5, 1.0, 0.2], vec![-0.3, 0.2, 0.8]];
        for alpha in [0.5, 1.0, 3.0] {
            let p = 1.0 / alpha;
            let w = power_barrier_weights(&k, p).unwrap();
            let kw = mat_vec(&k, &w);
            for i in 0..3 {
                assert!(w[i] > 0.0 && (kw[i] - w[i].powf(-p)).abs() < 1e-8, "α {alpha}: {w:?} {kw:?}");
            }
        }
    }

    #[test]
    fn a_step_without_a_solution_keeps_the_last_weights_and_counts() {
        let device = Device::ndarray();
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let losses = Tensor::<1>::from_floats([1.0, 1.0], &device);
        let mut fair = FairGrad::new(2, 1.0);
        let g = Tensor::<2>::from_floats([[2.0, 1.0], [-2.0, 1.0]], &device);
        let w = fair.combine_gradients(&ctx, g, losses.clone()).weights.into_data().to_vec::<f32>().unwrap();
        assert!(w.iter().all(|x| (x - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6), "{w:?}");
        let opposite = Tensor::<2>::from_floats([[1.0, 1.0], [-1.0, -1.0]], &device);
        let again =
            fair.combine_gradients(&ctx, opposite, losses).weights.into_data().to_vec::<f32>().unwrap();
        assert_eq!((again, fair.reused_weight_steps()), (w, Some(1)));
        let mut other = FairGrad::new(2, 1.0);
        other.load_state(&fair.state()).unwrap();
        assert_eq!(other.state, fair.state);
    }
}
