//! GradVac — gradient vaccine.
//!
//! Wang, Tsvetkov, Firat, Cao, "Gradient Vaccine: Investigating and Improving Multi-task
//! Optimization in Massively Multilingual Models", ICLR 2021
//! (<https://arxiv.org/abs/2010.05874>), Algorithm 1, whole-model granularity.
//!
//! PCGrad only acts on negative cosines; GradVac pulls every pair towards an adaptive target
//! cosine φ̂_ij, an exponential moving average of the observed cosines (φ̂ ← (1 − β)φ̂ + βφ,
//! targets start at 0, β = `weighting.gradvac.beta`, 0.5 by default as in LibMTL). For each i,
//! over the other tasks j in random order, with φ = cos(g_i^VC, g_j): if φ < φ̂_ij,
//!
//!   g_i^VC ← g_i^VC + ‖g_i^VC‖ (φ̂ √(1 − φ²) − φ √(1 − φ̂²)) / (‖g_j‖ √(1 − φ̂²)) · g_j,
//!
//! which sets the cosine to exactly φ̂. The update is Σ_i g_i^VC. As for PCGrad, the
//! coefficients of each g_i^VC over the original gradients are tracked on the host with the
//! Gram matrix; the targets are T×T host state saved in checkpoints. With all targets at 0 the
//! first step equals PCGrad's.

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, random_orders};

/// Gradient vaccine.
#[derive(Module, Debug)]
pub struct GradVac {
    num_tasks: usize,
    beta: f64,
    #[module(skip)]
    targets: Vec<Vec<f64>>,
}

#[derive(Serialize, Deserialize)]
struct GradVacState {
    targets: Vec<Vec<f64>>,
}

impl GradVac {
    /// GradVac reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// GradVac over `num_tasks` tasks with EMA rate `beta`.
    pub fn new(num_tasks: usize, beta: f64) -> Self {
        Self { num_tasks, beta, targets: vec![vec![0.0; num_tasks]; num_tasks] }
    }

    /// One step on Gram matrix `k` with visiting orders: the weights of the original
    /// gradients; updates the targets.
    pub fn weights(&mut self, k: &Gram, orders: &[Vec<usize>]) -> Vec<f64> {
        let t = k.len();
        let mut total = vec![0.0; t];
        for (i, order) in orders.iter().enumerate() {
            let mut c = vec![0.0; t];
            c[i] = 1.0;
            for &j in order.iter().filter(|j| **j != i) {
                let kc: Vec<f64> = (0..t).map(|m| (0..t).map(|n| k[m][n] * c[n]).sum()).collect();
                let norm_i = c.iter().zip(&kc).map(|(a, b)| a * b).sum::<f64>().max(0.0).sqrt();
                let norm_j = k[j][j].max(0.0).sqrt();
                if norm_i <= 0.0 || norm_j <= 0.0 {
                    continue;
                }
                let phi = (kc[j] / (norm_i * norm_j)).clamp(-1.0, 1.0);
                let target = self.targets[i][j];
                if phi < target {
                    let w = norm_i
                        * (target * (1.0 - phi * phi).sqrt() - phi * (1.0 - target * target).sqrt())
                        / (norm_j * (1.0 - target * target).sqrt());
                    c[j] += w;
                }
                self.targets[i][j] = (1.0 - self.beta) * target + self.beta * phi;
            }
            for (s, x) in total.iter_mut().zip(&c) {
                *s += x;
            }
        }
        total
    }
}

impl WeightingMethod for GradVac {
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

    fn gram_weights(&mut self, _ctx: &StepContext, k: &Gram, _losses: &[f64], device: &Device) -> Vec<f64> {
        let t = self.num_tasks;
        let orders = random_orders(t, device);

        self.weights(k, &orders)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(GradVacState { targets: self.targets.clone() }).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            self.targets = vec![vec![0.0; self.num_tasks]; self.num_tasks];
            return Ok(());
        }
        let s: GradVacState =
            serde_json::from_value(state.clone()).map_err(|e| format!("GradVac state: {e}"))?;
        if s.targets.len() != self.num_tasks || s.targets.iter().any(|r| r.len() != self.num_tasks) {
            return Err(format!("GradVac state holds another number of tasks than {}", self.num_tasks));
        }
        self.targets = s.targets;
        Ok(())
    }
}

/// Settings of [`GradVac`] (`[weighting.gradvac]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradVacConfig {
    /// EMA rate of the target cosines. Default 0.5 (LibMTL's; the paper uses 1e-2).
    pub beta: f64,
}

impl Default for GradVacConfig {
    fn default() -> Self {
        Self { beta: 0.5 }
    }
}

impl MethodConfig for GradVacConfig {
    type Method = GradVac;

    fn check(&self) -> Result<(), Invalid> {
        Invalid::unless(self.beta > 0.0 && self.beta <= 1.0, "beta", || {
            format!("{} is not in (0, 1]", self.beta)
        })
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> GradVac {
        GradVac::new(num_tasks, self.beta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcgrad::pcgrad_weights;

    #[test]
    fn with_zero_targets_the_first_step_is_pcgrad() {
        let k = vec![vec![1.0, -1.0, 0.3], vec![-1.0, 2.0, -0.5], vec![0.3, -0.5, 1.5]];
        let orders = vec![vec![1, 2], vec![2, 0], vec![0, 1]];
        let w = GradVac::new(3, 0.5).weights(&k, &orders);
        let want = pcgrad_weights(&k, &orders);
        assert!(w.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12), "{w:?} vs {want:?}");
    }

    #[test]
    fn a_pair_below_its_target_is_moved_exactly_onto_it() {
        // g₁ = (1, 0), g₂ = (0, 1): cosine 0 < target 0.5 → g₁^VC has cosine 0.5 with g₂.
        let k = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let mut gv = GradVac::new(2, 0.5);
        gv.targets = vec![vec![0.0, 0.5], vec![0.5, 0.0]];
        let w = gv.weights(&k, &[vec![1], vec![0]]);
        // g₁^VC = g₁ + w₁₂ g₂ with w₁₂ = (0.5·1 − 0)/(1·√0.75) = 1/√3: cos = (1/√3)/√(1 + 1/3) = ½.
        let c = 1.0 / 3.0f64.sqrt();
        assert!((w[0] - (1.0 + c)).abs() < 1e-12 && (w[1] - (1.0 + c)).abs() < 1e-12, "{w:?}");
        // The targets moved halfway to the observed cosine 0.
        assert!((gv.targets[0][1] - 0.25).abs() < 1e-12);
        let mut other = GradVac::new(2, 0.5);
        other.load_state(&gv.state()).unwrap();
        assert_eq!(other.targets, gv.targets);
    }
}
