//! CAGrad — conflict-averse gradient descent.
//!
//! Liu, Liu, Jin, Stone, Liu, "Conflict-Averse Gradient Descent for Multi-task Learning",
//! NeurIPS 2021 (<https://arxiv.org/abs/2110.14048>), Algorithm 1.
//!
//! With g₀ the mean gradient and c = α‖g₀‖ (α = `weighting.cagrad.c`), solve on the simplex
//!
//!   min_w  g_wᵀ g₀ + c‖g_w‖,   g_w = Σ_t w_t g_t,
//!
//! then update with d = (g₀ + (c/‖g_w‖) g_w) / s, where the rescale s is 1 + α² (rescale = 1,
//! the default of the paper's code and LibMTL), 1 + α (rescale = 2) or 1 (rescale = 0). In
//! Gram terms g_wᵀg₀ = wᵀKb with b = 1/T and ‖g_w‖² = wᵀKw; the convex T-dimensional problem is
//! solved on the host by a log-barrier Newton method (LibMTL calls scipy's SLSQP on the CPU
//! with the full gradients copied there). α = 0 gives the mean gradient. Checked against
//! TorchJD 0.18.0's `CAGrad` (no rescale, Clarabel) in `tests/fixtures/torchjd/`.

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, largest_diagonal, mat_vec, quad, solve_bordered};
use serde::{Deserialize, Serialize};

/// Conflict-averse gradient descent.
#[derive(Module, Debug)]
pub struct CaGrad {
    c: f64,
    rescale: usize,
}

impl CaGrad {
    /// CAGrad reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// CAGrad with conflict weight `c` (α) and rescale mode 0, 1 or 2.
    pub fn new(c: f64, rescale: usize) -> Self {
        Self { c, rescale }
    }

    /// The weights of the original gradients in d.
    pub fn weights(&self, k: &Gram) -> Vec<f64> {
        let t = k.len();
        let b = vec![1.0 / t as f64; t];
        let g0_norm = quad(k, &b).max(0.0).sqrt();
        let c = self.c * g0_norm;
        let w = if c > 0.0 { solve_simplex(k, &b, c) } else { b.clone() };
        let gw_norm = quad(k, &w).max(0.0).sqrt();
        let lambda = if gw_norm > 1e-12 { c / gw_norm } else { 0.0 };
        let s = match self.rescale {
            0 => 1.0,
            2 => 1.0 + self.c,
            _ => 1.0 + self.c * self.c,
        };
        (0..t).map(|i| (b[i] + lambda * w[i]) / s).collect()
    }
}

/// min_{w ∈ Δ} F(w), F(w) = wᵀKb + c·√(wᵀKw), by a primal log-barrier method (Boyd &
/// Vandenberghe, §11.3): for τ = 10⁻²…10⁻¹⁵ times the largest K_tt, damped Newton on
/// F(w) − τ Σ log w_t under Σ w_t = 1 (the bordered KKT system, Jacobi-scaled), each from the
/// last one's answer; F is then within T·τ of its minimum. Newton's steps follow F's curvature, so gradients whose norms differ by
/// orders of magnitude (a Gram matrix conditioned 10⁸) cost no more steps, where projected
/// gradient descent crawls (TorchJD calls Clarabel, the paper's code scipy's SLSQP).
fn solve_simplex(k: &Gram, b: &[f64], c: f64) -> Vec<f64> {
    let t = b.len();
    let kb = mat_vec(k, b);
    let Some(scale) = largest_diagonal(k) else { return b.to_vec() };
    // F is not smooth where g_w = 0 (0 in the hull), which Newton cannot cross: √(wᵀKw) is
    // smoothed to √(wᵀKw + ε) with ε = (τ/c)², which moves F by at most τ, the barrier's own
    // bias, and vanishes with it.
    let eps = |tau: f64| (tau / c).powi(2);
    let barrier = |w: &[f64], tau: f64| {
        let a: f64 = w.iter().zip(&kb).map(|(x, y)| x * y).sum();
        a + c * (quad(k, w).max(0.0) + eps(tau)).sqrt() - tau * w.iter().map(|x| x.ln()).sum::<f64>()
    };
    let mut w = vec![1.0 / t as f64; t];
    let mut tau = 1e-2 * scale;
    while tau > 1e-15 * scale {
        for _ in 0..100 {
            let kw = mat_vec(k, &w);
            let s = (quad(k, &w).max(0.0) + eps(tau)).sqrt();
            let grad: Vec<f64> = (0..t).map(|i| kb[i] + c * kw[i] / s - tau / w[i]).collect();
            let h = |i: usize, j: usize| {
                c / s * (k[i][j] - kw[i] * kw[j] / (s * s)) + if i == j { tau / (w[i] * w[i]) } else { 0.0 }
            };
            let d: Vec<f64> = (0..t).map(|i| 1.0 / h(i, i).max(f64::MIN_POSITIVE).sqrt()).collect();
            // [D H D  D1; (D1)ᵀ 0] [y; ν] = [−D∇; 0], Δ = D y.
            let dhd: Gram = (0..t).map(|i| (0..t).map(|j| d[i] * h(i, j) * d[j]).collect()).collect();
            let rhs: Vec<f64> = (0..t).map(|i| -d[i] * grad[i]).collect();
            let Some(y) = solve_bordered(&dhd, &d, &rhs, 0.0) else { break };
            let step: Vec<f64> = (0..t).map(|i| d[i] * y[i]).collect();
            let decrement = -step.iter().zip(&grad).map(|(s, g)| s * g).sum::<f64>();
            if decrement.is_nan() || decrement <= 1e-13 * scale {
                break;
            }
            let f0 = barrier(&w, tau);
            let mut st = step
                .iter()
                .zip(&w)
                .filter(|(s, _)| **s < 0.0)
                .map(|(s, x)| -0.99 * x / s)
                .fold(1.0, f64::min);
            loop {
                let cand: Vec<f64> = w.iter().zip(&step).map(|(x, s)| x + st * s).collect();
                if barrier(&cand, tau) <= f0 - 1e-4 * st * decrement {
                    w = cand;
                    break;
                }
                st *= 0.5;
                if st < 1e-12 {
                    break;
                }
            }
            if st < 1e-12 {
                break;
            }
        }
        tau *= 0.1;
    }
    let sum: f64 = w.iter().sum();
    w.iter().map(|x| x / sum).collect()
}

impl WeightingMethod for CaGrad {
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
        self.weights(k)
    }
}

/// Settings of [`CaGrad`] (`[weighting.cagrad]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaGradConfig {
    /// Conflict weight α (c = α‖g₀‖). Default 0.5 (LibMTL's `calpha`; the paper uses 0.4 on
    /// NYUv2).
    pub c: f64,
    /// 0: no rescale, 1: divide by 1 + α² (default), 2: divide by 1 + α.
    pub rescale: usize,
}

impl Default for CaGradConfig {
    fn default() -> Self {
        Self { c: 0.5, rescale: 1 }
    }
}

impl MethodConfig for CaGradConfig {
    type Method = CaGrad;

    fn check(&self) -> Result<(), Invalid> {
        Invalid::unless(self.c >= 0.0 && self.c.is_finite(), "c", || {
            format!("{} is not a weight ≥ 0", self.c)
        })?;
        Invalid::unless(self.rescale <= 2, "rescale", || format!("{}: use 0, 1 or 2", self.rescale))
    }

    fn init(&self, _num_tasks: usize, _device: &Device) -> CaGrad {
        CaGrad::new(self.c, self.rescale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `F(w) = wᵀKb + c·√(wᵀKw)`.
    fn objective(k: &Gram, b: &[f64], c: f64, w: &[f64]) -> f64 {
        let kb = mat_vec(k, b);
        w.iter().zip(&kb).map(|(a, x)| a * x).sum::<f64>() + c * quad(k, w).max(0.0).sqrt()
    }

    #[test]
    fn c_zero_is_the_mean_gradient() {
        let k = vec![vec![1.0, -0.5, 0.2], vec![-0.5, 2.0, 0.1], vec![0.2, 0.1, 0.5]];
        let w = CaGrad::new(0.0, 1).weights(&k);
        assert!(w.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn the_inner_problem_is_solved_and_the_update_follows_the_formula() {
        // Two conflicting gradients; compare the solver with a fine grid on the simplex.
        let k = vec![vec![1.0, -0.8], vec![-0.8, 4.0]];
        let b = [0.5, 0.5];
        let (alpha, g0) = (0.5, (quad(&k, &b)).sqrt());
        let c = alpha * g0;
        let w = solve_simplex(&k, &b, c);
        let best = (0..=10_000)
            .map(|i| i as f64 / 10_000.0)
            .map(|x| objective(&k, &b, c, &[x, 1.0 - x]))
            .fold(f64::INFINITY, f64::min);
        assert!(objective(&k, &b, c, &w) <= best + 1e-9, "{w:?}");
        // d = (g₀ + c/‖g_w‖ · g_w) / (1 + α²).
        let weights = CaGrad::new(alpha, 1).weights(&k);
        let lambda = c / quad(&k, &w).sqrt();
        for t in 0..2 {
            let want = (0.5 + lambda * w[t]) / (1.0 + alpha * alpha);
            assert!((weights[t] - want).abs() < 1e-12);
        }
        // The update conflicts less with the worse-off task than the mean does: its smallest
        // inner product with a task gradient is larger.
        let min_dot = |v: &[f64]| mat_vec(&k, v).into_iter().fold(f64::INFINITY, f64::min);
        assert!(min_dot(&weights) * (1.0 + alpha * alpha) > min_dot(&b));
    }
}
