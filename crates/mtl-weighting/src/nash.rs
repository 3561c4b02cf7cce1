//! Nash-MTL — multi-task learning as a bargaining game.
//!
//! Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, "Multi-Task Learning as a
//! Bargaining Game", ICML 2022 (<https://arxiv.org/abs/2202.01017>).
//!
//! The update Σ_t α_t g_t uses the Nash bargaining solution α > 0 of Gα = 1/α (element-wise),
//! with G the Gram matrix scaled by its Frobenius norm, as the authors' code does
//! (`methods/weight_methods.py`, `NashMTL`). The authors solve it by sequential convex
//! approximation with CVXPY; here it is the unique minimiser of the strictly convex
//! f(α) = ½ αᵀGα − Σ_t log α_t (its gradient Gα − 1/α vanishes exactly there), found by a
//! damped Newton method on the T×T problem. For orthogonal gradients α_t ∝ 1/‖g_t‖.
//! `update_weights_every` reuses the weights for that many steps, as in the paper's code.
//! When the problem has no minimiser (a positive combination of the gradients is zero) the
//! previous weights are kept (equal weights at the start).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig};
use crate::gram::{Gram, combine, gram, mat_vec, quad, solve};

/// Nash-MTL.
#[derive(Module, Debug)]
pub struct NashMtl {
    num_tasks: usize,
    update_weights_every: usize,
    #[module(skip)]
    alpha: Option<Vec<f64>>,
}

#[derive(Serialize, Deserialize)]
struct NashState {
    alpha: Option<Vec<f64>>,
}

impl NashMtl {
    /// Nash-MTL reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// Nash-MTL over `num_tasks` tasks, solving every `update_weights_every` steps.
    pub fn new(num_tasks: usize, update_weights_every: usize) -> Self {
        Self { num_tasks, update_weights_every: update_weights_every.max(1), alpha: None }
    }
}

/// The α > 0 with Kα = 1/α, or `None` when there is none.
pub fn nash_weights(k: &Gram) -> Option<Vec<f64>> {
    power_barrier_weights(k, 1.0)
}

/// The w > 0 with Kw = w^{−p} (element-wise), or `None` when there is none: the minimiser of
/// the strictly convex ½ wᵀKw − Σ φ(w_t) with φ' = w^{−p} (φ = log for p = 1), by damped
/// Newton. p = 1 is Nash-MTL; p = 1/α is FairGrad's α-fair allocation.
pub fn power_barrier_weights(k: &Gram, p: f64) -> Option<Vec<f64>> {
    let t = k.len();
    let phi = |x: f64| if (p - 1.0).abs() < 1e-12 { x.ln() } else { x.powf(1.0 - p) / (1.0 - p) };
    let f = |a: &[f64]| 0.5 * quad(k, a) - a.iter().map(|x| phi(*x)).sum::<f64>();
    let d: Vec<f64> = (0..t).map(|i| k[i][i]).collect();
    if d.iter().any(|x| *x <= 0.0) {
        return None;
    }
    // Start from the orthogonal-case solution K_tt w = w^{−p}.
    let mut a: Vec<f64> = d.iter().map(|x| x.powf(-1.0 / (1.0 + p))).collect();
    let mut fa = f(&a);
    for _ in 0..100 {
        let ka = mat_vec(k, &a);
        let grad: Vec<f64> = (0..t).map(|i| ka[i] - a[i].powf(-p)).collect();
        if grad.iter().zip(&a).all(|(g, x)| (g * x).abs() < 1e-10) {
            return Some(a);
        }
        let h: Gram = (0..t)
            .map(|i| (0..t).map(|j| k[i][j] + if i == j { p * a[i].powf(-p - 1.0) } else { 0.0 }).collect())
            .collect();
        let step = solve(&h, &grad.iter().map(|g| -g).collect::<Vec<_>>())?;
        let slope: f64 = step.iter().zip(&grad).map(|(s, g)| s * g).sum();
        let mut s = 1.0;
        loop {
            let cand: Vec<f64> = a.iter().zip(&step).map(|(x, d)| x + s * d).collect();
            if cand.iter().all(|x| *x > 0.0) {
                let fc = f(&cand);
                if fc <= fa + 1e-4 * s * slope {
                    a = cand;
                    fa = fc;
                    break;
                }
            }
            s *= 0.5;
            if s < 1e-12 {
                return None;
            }
        }
        if a.iter().any(|x| !x.is_finite() || *x > 1e12) {
            return None;
        }
    }
    None
}

impl WeightingMethod for NashMtl {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_gradients(
        &mut self,
        ctx: &StepContext,
        gradients: Tensor<2>,
        _losses: Tensor<1>,
    ) -> GradientCombination {
        if self.alpha.is_none() || ctx.step.is_multiple_of(self.update_weights_every) {
            let k = gram(&gradients);
            let norm = k.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                let scaled: Gram = k.iter().map(|r| r.iter().map(|x| x / norm).collect()).collect();
                if let Some(a) = nash_weights(&scaled) {
                    self.alpha = Some(a);
                }
            }
        }
        let w = self.alpha.clone().unwrap_or_else(|| vec![1.0; self.num_tasks]);
        combine(gradients, &w)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(NashState { alpha: self.alpha.clone() }).expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            self.alpha = None;
            return Ok(());
        }
        let s: NashState =
            serde_json::from_value(state.clone()).map_err(|e| format!("Nash-MTL state: {e}"))?;
        if s.alpha.as_ref().is_some_and(|a| a.len() != self.num_tasks) {
            return Err(format!(
                "Nash-MTL state holds weights of another number of tasks than {}",
                self.num_tasks
            ));
        }
        self.alpha = s.alpha;
        Ok(())
    }
}

/// Settings of [`NashMtl`] (`[weighting.nash_mtl]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NashMtlConfig {
    /// Solve for new weights every this many steps. Default 1.
    pub update_weights_every: usize,
}

impl Default for NashMtlConfig {
    fn default() -> Self {
        Self { update_weights_every: 1 }
    }
}

impl MethodConfig for NashMtlConfig {
    type Method = NashMtl;

    fn check(&self) -> Result<(), Invalid> {
        Invalid::unless(self.update_weights_every > 0, "update_weights_every", || {
            "use at least 1 step".into()
        })
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> NashMtl {
        NashMtl::new(num_tasks, self.update_weights_every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_gradients_get_weights_inverse_to_their_norms() {
        let k = vec![vec![4.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 0.25]];
        let a = nash_weights(&k).unwrap();
        for (x, want) in a.iter().zip([0.5, 1.0, 2.0]) {
            assert!((x - want).abs() < 1e-9, "{a:?}");
        }
    }

    #[test]
    fn the_solution_satisfies_the_bargaining_equation() {
        let k = vec![vec![2.0, 0.5, -0.3], vec![0.5, 1.0, 0.2], vec![-0.3, 0.2, 0.8]];
        let a = nash_weights(&k).unwrap();
        let ka = mat_vec(&k, &a);
        for i in 0..3 {
            assert!(a[i] > 0.0 && (ka[i] - 1.0 / a[i]).abs() < 1e-8, "{a:?} {ka:?}");
        }
        // Opposite gradients have no solution.
        assert!(nash_weights(&vec![vec![1.0, -1.0], vec![-1.0, 1.0]]).is_none());
    }

    #[test]
    fn weights_are_reused_between_updates_and_saved() {
        use burn::tensor::Device;
        let device = Device::ndarray();
        let mut nash = NashMtl::new(2, 2);
        let ctx = |step| StepContext {
            epoch: 0,
            step,
            steps_per_epoch: 4,
            input: WeightingInput::ParameterGradients,
        };
        let losses = Tensor::<1>::from_floats([1.0, 1.0], &device);
        let g1 = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device);
        let g2 = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 3.0]], &device);
        let w0 = nash.combine_gradients(&ctx(0), g1, losses.clone()).weights.into_data();
        let w1 = nash.combine_gradients(&ctx(1), g2.clone(), losses.clone()).weights.into_data();
        assert_eq!(w0, w1, "step 1 reuses step 0's weights");
        let mut other = NashMtl::new(2, 2);
        other.load_state(&nash.state()).unwrap();
        assert_eq!(other.alpha, nash.alpha);
        let w2 = nash.combine_gradients(&ctx(2), g2, losses).weights.into_data();
        assert_ne!(w0, w2, "step 2 solves again");
    }
}
