//! Nash-MTL — multi-task learning as a bargaining game.
//!
//! Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, "Multi-Task Learning as a
//! Bargaining Game", ICML 2022 (<https://arxiv.org/abs/2202.01017>).
//!
//! The update d = Σ_t α_t g_t uses the Nash bargaining solution α > 0 of Kα = 1/α
//! (element-wise) on the raw Gram matrix K = GGᵀ, as the authors' code does
//! (`methods/weight_methods.py`, `NashMTL`: it normalises K by its Frobenius norm N inside the
//! solve but constrains `α · N`, so its α solves the raw equation) and as TorchJD 0.18's
//! `NashMTL` does; then ‖d‖ = √T, and d is clipped to norm `max_norm` (default 1, theirs; 0
//! turns it off). The authors solve the equation by sequential convex approximation with
//! CVXPY/ECOS; here it is the unique minimiser of the strictly convex
//! f(α) = ½ αᵀKα − Σ_t log α_t (its gradient Kα − 1/α vanishes exactly there), found by
//! [`power_barrier_weights`]. For orthogonal gradients α_t = 1/‖g_t‖. `update_weights_every`
//! reuses the weights for that many steps, as in the authors' code (the clipping still
//! follows each step's gradients). When the problem has no solution (0 lies in the convex hull
//! of the gradients) the previous weights are kept (ones at the start, as the authors'), and
//! the step is counted ([`WeightingMethod::reused_weight_steps`]; `metrics.jsonl` and the log
//! report it).
//!
//! Checked against TorchJD 0.18.0's `NashMTL` (`tests/fixtures/torchjd/`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig, checks};
use crate::gram::{Gram, combine, gram, largest_diagonal, mat_vec, min_norm_point, quad, solve_spd_damped};

/// Nash-MTL.
#[derive(Module, Debug)]
pub struct NashMtl {
    num_tasks: usize,
    update_weights_every: usize,
    max_norm: f64,
    /// The last solution (before clipping) and the count of steps without one.
    #[module(skip)]
    state: SolvedWeights,
}

/// What a method that solves for its weights keeps between steps (Nash-MTL, FairGrad): the
/// last solution, and how many steps found none and reused it. Saved in checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SolvedWeights {
    /// The last solution (`alpha` in checkpoints from before the count existed).
    #[serde(alias = "alpha")]
    last: Option<Vec<f64>>,
    /// Steps on which no solution existed and `last` was reused.
    #[serde(default)]
    reused: u64,
}

impl SolvedWeights {
    /// Keep a new solution, or count a step without one.
    pub(crate) fn record(&mut self, solved: Option<Vec<f64>>) {
        match solved {
            Some(w) => self.last = Some(w),
            None => self.reused += 1,
        }
    }

    /// The last solution, or `start` for each of `num_tasks` tasks before the first.
    pub(crate) fn weights_or(&self, start: f64, num_tasks: usize) -> Vec<f64> {
        self.last.clone().unwrap_or_else(|| vec![start; num_tasks])
    }

    pub(crate) fn reused(&self) -> u64 {
        self.reused
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("numbers serialise")
    }

    /// Restore [`SolvedWeights::to_json`]; `null` (a checkpoint without it) starts afresh.
    pub(crate) fn from_json(
        state: &serde_json::Value,
        num_tasks: usize,
        method: &str,
    ) -> Result<Self, String> {
        if state.is_null() {
            return Ok(Self::default());
        }
        let s: Self = serde_json::from_value(state.clone()).map_err(|e| format!("{method} state: {e}"))?;
        if s.last.as_ref().is_some_and(|w| w.len() != num_tasks) {
            return Err(format!("{method} state holds weights of another number of tasks than {num_tasks}"));
        }
        Ok(s)
    }
}

impl NashMtl {
    /// Nash-MTL reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// Nash-MTL over `num_tasks` tasks, solving every `update_weights_every` steps and clipping
    /// the update to norm `max_norm` (0 = no clipping).
    pub fn new(num_tasks: usize, update_weights_every: usize, max_norm: f64) -> Self {
        Self {
            num_tasks,
            update_weights_every: update_weights_every.max(1),
            max_norm,
            state: SolvedWeights::default(),
        }
    }
}

/// The α > 0 with Kα = 1/α, or `None` when there is none.
pub fn nash_weights(k: &Gram) -> Option<Vec<f64>> {
    power_barrier_weights(k, 1.0)
}

/// Whether Kw = w^{−p} has no solution w > 0: exactly when a non-negative, non-zero
/// combination of the gradients is zero (0 lies in their convex hull; then dᵀKw = 0 for that
/// d ≥ 0 while dᵀw^{−p} > 0). Otherwise ½wᵀKw grows quadratically on the positive orthant
/// and a unique minimiser exists. "Zero" is a squared distance below 1e-10 of the largest
/// squared gradient norm, the resolution of a Gram matrix formed in f32.
pub fn barrier_has_no_solution(k: &Gram) -> bool {
    let Some(scale) = largest_diagonal(k) else { return true };
    k.iter().flatten().any(|x| !x.is_finite()) || quad(k, &min_norm_point(k)) <= 1e-10 * scale
}

/// The w > 0 with Kw = w^{−p} (element-wise), or `None` when there is none
/// ([`barrier_has_no_solution`]). p = 1 is Nash-MTL; p = 1/α is FairGrad's α-fair allocation.
///
/// w is the minimiser of the strictly convex f(w) = ½ wᵀKw − Σ φ(w_t) with φ' = w^{−p}
/// (φ = log for p = 1), found by damped Newton on K scaled to a unit largest diagonal (the
/// solution scales back as w = ŵ·s^{−1/(1+p)}), from the orthogonal-case solution rescaled to
/// the best point of its ray. A step is accepted on Armijo's test on f (which carries the
/// iterate far from the answer) or on a sufficient decrease of the equations' residual
/// relative to the size of their terms (which carries it the last digits: near the answer f
/// moves by ~1e-16, below what Armijo on f resolves, and Armijo alone froze the iterate short
/// of it; issue #20). It stops when every equation holds to 1e-12 of its terms,
/// |(Kw)_t − w_t^{−p}| ≤ 1e-12·(Σ_j |K_tj| w_j + w_t^{−p}); an iterate that can make no more
/// progress in f64 is kept if within 1e-8.
pub fn power_barrier_weights(k: &Gram, p: f64) -> Option<Vec<f64>> {
    if barrier_has_no_solution(k) {
        return None;
    }
    let scale = largest_diagonal(k)?;
    let kh: Gram = k.iter().map(|r| r.iter().map(|x| x / scale).collect()).collect();
    let w = barrier_newton(&kh, p)?;
    let c = scale.powf(-1.0 / (1.0 + p));
    Some(w.iter().map(|x| x * c).collect())
}

/// The residuals g = Kw − w^{−p} of the equations (= ∇f) and the size of each one's terms,
/// Σ_j |K_tj| w_j + w_t^{−p}, which bounds what rounding leaves of g_t.
fn barrier_terms(k: &Gram, w: &[f64], p: f64) -> (Vec<f64>, Vec<f64>) {
    let t = k.len();
    let kw = mat_vec(k, w);
    let g = (0..t).map(|i| kw[i] - w[i].powf(-p)).collect();
    let size = (0..t).map(|i| (0..t).map(|j| k[i][j].abs() * w[j]).sum::<f64>() + w[i].powf(-p)).collect();
    (g, size)
}

/// max_t |(Kw)_t − w_t^{−p}| relative to the size of the equation's terms: how well w solves
/// Kw = w^{−p}, as far as rounding allows where (Kw)_t cancels (the solver's stop test, for
/// the tests that check its answers).
#[cfg(test)]
pub(crate) fn barrier_residual(k: &Gram, w: &[f64], p: f64) -> f64 {
    let (g, size) = barrier_terms(k, w, p);
    g.iter().zip(&size).map(|(g, s)| g.abs() / s).fold(0.0, f64::max)
}

fn barrier_newton(k: &Gram, p: f64) -> Option<Vec<f64>> {
    let t = k.len();
    let eval = |a: &[f64]| barrier_terms(k, a, p);
    let merit = |g: &[f64], size: &[f64]| g.iter().zip(size).map(|(g, s)| (g / s).powi(2)).sum::<f64>();
    let log = (p - 1.0).abs() < 1e-12;
    let f = |a: &[f64]| {
        let phi = |x: f64| if log { x.ln() } else { x.powf(1.0 - p) / (1.0 - p) };
        0.5 * quad(k, a) - a.iter().map(|x| phi(*x)).sum::<f64>()
    };
    let mut a: Vec<f64> = (0..t).map(|i| k[i][i].powf(-1.0 / (1.0 + p))).collect();
    let ray = (a.iter().map(|x| x.powf(1.0 - p)).sum::<f64>() / quad(k, &a)).powf(1.0 / (1.0 + p));
    a.iter_mut().for_each(|x| *x *= ray);
    for _ in 0..500 {
        let (g, size) = eval(&a);
        if g.iter().zip(&size).all(|(g, s)| g.abs() <= 1e-12 * s) {
            return Some(a);
        }
        // The Newton step H·step = −g, H = K + p·diag(w^{−p−1}) positive definite but, with
        // weights of very different sizes, badly scaled: solved with its diagonal scaled to one
        // (Jacobi) by Cholesky (damped where rounding hides a direction's curvature), plus one
        // step of iterative refinement.
        let d: Vec<f64> = (0..t).map(|i| 1.0 / (k[i][i] + p * a[i].powf(-p - 1.0)).sqrt()).collect();
        let hs: Gram = (0..t)
            .map(|i| {
                let diag = |j: usize| if i == j { p * a[i].powf(-p - 1.0) } else { 0.0 };
                (0..t).map(|j| (k[i][j] + diag(j)) * d[i] * d[j]).collect()
            })
            .collect();
        let rhs: Vec<f64> = (0..t).map(|i| -g[i] * d[i]).collect();
        let mut y = solve_spd_damped(&hs, &rhs)?;
        let hy = mat_vec(&hs, &y);
        if let Some(dy) = solve_spd_damped(&hs, &(0..t).map(|i| rhs[i] - hy[i]).collect::<Vec<_>>()) {
            y.iter_mut().zip(dy).for_each(|(y, dy)| *y += dy);
        }
        let step: Vec<f64> = y.iter().zip(&d).map(|(y, d)| y * d).collect();
        // Backtrack until Armijo holds on f or on the weighted residual ‖W g‖² (W = 1/size,
        // fixed for the search; the Newton step is a descent direction for it, slope −2‖W g‖²,
        // whatever W), which stays resolvable in f64 down to the answer. Start from the longest
        // step that keeps every weight positive (within 1% of the boundary).
        let m0 = merit(&g, &size);
        let (f0, slope) = (f(&a), step.iter().zip(&g).map(|(s, g)| s * g).sum::<f64>());
        let mut s =
            step.iter().zip(&a).filter(|(d, _)| **d < 0.0).map(|(d, x)| -0.99 * x / d).fold(1.0, f64::min);
        loop {
            let cand: Vec<f64> = a.iter().zip(&step).map(|(x, d)| x + s * d).collect();
            if f(&cand) <= f0 + 1e-4 * s * slope || merit(&eval(&cand).0, &size) <= (1.0 - 1e-4 * s) * m0 {
                a = cand;
                break;
            }
            s *= 0.5;
            if s < 1e-16 {
                // No progress is possible in f64: keep the iterate only if it is close.
                return (m0.sqrt() <= 1e-8).then_some(a);
            }
        }
    }
    let (g, size) = eval(&a);
    (merit(&g, &size).sqrt() <= 1e-8).then_some(a)
}

impl NashMtl {
    /// This step's weights: solved every `update_weights_every` steps (else the last ones),
    /// clipped to `max_norm`; `k` is called only when a solve or the clipping needs K.
    fn step_weights(&mut self, ctx: &StepContext, k: impl FnOnce() -> Gram) -> Vec<f64> {
        let solve = self.state.last.is_none() || ctx.step.is_multiple_of(self.update_weights_every);
        let k = (solve || self.max_norm > 0.0).then(k);
        if let Some(k) = k.as_ref().filter(|_| solve) {
            self.state.record(nash_weights(k));
        }
        let mut w = self.state.weights_or(1.0, self.num_tasks);
        if let Some(k) = k.as_ref().filter(|_| self.max_norm > 0.0) {
            let norm = quad(k, &w).max(0.0).sqrt();
            if norm > self.max_norm {
                w.iter_mut().for_each(|x| *x *= self.max_norm / norm);
            }
        }
        w
    }
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
        // The Gram matrix (one device product and a host read) only when a solve or the
        // clipping needs it: a reused, unclipped step costs just the combination.
        let w = self.step_weights(ctx, || gram(&gradients));
        combine(gradients, &w)
    }

    fn weights_from_gram(&self) -> bool {
        true
    }

    /// False: `combine_gradients` reads K only on the steps that solve (or clip), so that the
    /// steps reusing the last weights make no host read at all.
    fn solves_from_gram(&self) -> bool {
        false
    }

    fn gram_weights(&mut self, ctx: &StepContext, k: &Gram, _losses: &[f64], _device: &Device) -> Vec<f64> {
        self.step_weights(ctx, || k.clone())
    }

    fn reused_weight_steps(&self) -> Option<u64> {
        Some(self.state.reused())
    }

    fn state(&self) -> serde_json::Value {
        self.state.to_json()
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = SolvedWeights::from_json(state, self.num_tasks, "Nash-MTL")?;
        Ok(())
    }
}

/// Settings of [`NashMtl`] (`[weighting.nash_mtl]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NashMtlConfig {
    /// Solve for new weights every this many steps. Default 1.
    pub update_weights_every: usize,
    /// Clip the update Σ α_t g_t to this norm; 0 = no clipping. Default 1 (the authors' and
    /// TorchJD's).
    pub max_norm: f64,
}

impl Default for NashMtlConfig {
    fn default() -> Self {
        Self { update_weights_every: 1, max_norm: 1.0 }
    }
}

impl MethodConfig for NashMtlConfig {
    type Method = NashMtl;

    fn check(&self) -> Result<(), Invalid> {
        Invalid::unless(self.update_weights_every > 0, "update_weights_every", || {
            "use at least 1 step".into()
        })?;
        checks::non_negative("max_norm", self.max_norm)
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> NashMtl {
        NashMtl::new(num_tasks, self.update_weights_every, self.max_norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(step: usize) -> StepContext {
        StepContext { epoch: 0, step, steps_per_epoch: 4, input: WeightingInput::ParameterGradients }
    }

    fn gram_of(rows: &[[f64; 2]]) -> Gram {
        rows.iter().map(|a| rows.iter().map(|b| a[0] * b[0] + a[1] * b[1]).collect()).collect()
    }

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
        assert!(a.iter().all(|x| *x > 0.0) && barrier_residual(&k, &a, 1.0) < 1e-10, "{a:?}");
        // Opposite gradients have no solution.
        assert!(nash_weights(&vec![vec![1.0, -1.0], vec![-1.0, 1.0]]).is_none());
    }

    #[test]
    fn regression_newton_no_longer_freezes_short_of_the_answer() {
        // Issue #20: the old stop test (|g·α| < 1e-10) was below what Armijo on f resolves, so
        // these returned None and the step silently reused the previous weights.
        let k = gram_of(&[[3.0, 0.0], [-2.0, 1.0]]);
        let a = nash_weights(&k).expect("Kα = 1/α has a solution");
        assert!(barrier_residual(&k, &a, 1.0) < 1e-10, "{a:?}");
        // FairGrad α = 1 on G = [[2, 1], [−2, 1]]: K = [[5, −3], [−3, 5]], so for w = (c, c)
        // the equation is 2c = 1/c and w = (1/√2, 1/√2).
        let k = gram_of(&[[2.0, 1.0], [-2.0, 1.0]]);
        let w = power_barrier_weights(&k, 1.0).unwrap();
        let want = std::f64::consts::FRAC_1_SQRT_2;
        assert!(w.iter().all(|x| (x - want).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn every_solvable_integer_two_by_two_is_solved_and_only_those_are_refused() {
        // All G with entries in [−3, 3]. No solution exactly when 0 is in the hull of the two
        // rows: a zero row, or two antiparallel rows (det 0, negative dot product).
        let range = || (-3..=3).map(f64::from);
        let (mut solved, mut refused) = (0, 0);
        for (a, b, c, d) in range().flat_map(|a| {
            range().flat_map(move |b| range().flat_map(move |c| range().map(move |d| (a, b, c, d))))
        }) {
            let rows = [[a, b], [c, d]];
            let zero_row = (a == 0.0 && b == 0.0) || (c == 0.0 && d == 0.0);
            let antiparallel = a * d - b * c == 0.0 && a * c + b * d < 0.0;
            let k = gram_of(&rows);
            for p in [1.0, 2.0, 0.5, 0.1] {
                match power_barrier_weights(&k, p) {
                    Some(w) => {
                        assert!(!zero_row && !antiparallel, "{rows:?} p {p}: no solution exists, got {w:?}");
                        let r = barrier_residual(&k, &w, p);
                        assert!(w.iter().all(|x| *x > 0.0) && r < 1e-10, "{rows:?} p {p}: {w:?} r {r:e}");
                        solved += 1;
                    }
                    None => {
                        assert!(zero_row || antiparallel, "{rows:?} p {p}: solvable, but refused");
                        refused += 1;
                    }
                }
            }
        }
        // 2401 matrices, 193 without a solution (97 with a zero row, 96 antiparallel pairs):
        // 2208 solvable ones, each solved for every p.
        assert_eq!((solved, refused), (4 * 2208, 4 * 193));
    }

    #[test]
    fn random_and_ill_conditioned_problems_converge() {
        // Rows of norms up to 10⁶ apart, near-collinear rows, more tasks than dimensions, and
        // FairGrad's α from 0.1 to 10 (p = 1/α). (Checked once on 20,000 cases per p, and with
        // norms 10¹⁰ apart.)
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for case in 0..2000 {
            let (t, dim) = (2 + case % 7, 1 + case % 5);
            let base: Vec<f64> = (0..dim).map(|_| next()).collect();
            let rows: Vec<Vec<f64>> = (0..t)
                .map(|i| {
                    let scale = 10f64.powf(3.0 * next());
                    let spread = if case % 3 == 0 { 1e-3 } else { 1.0 };
                    base.iter()
                        .map(|b| scale * (b + spread * next()) * if i % 4 == 3 { -1.0 } else { 1.0 })
                        .collect()
                })
                .collect();
            let k: Gram = rows
                .iter()
                .map(|a| rows.iter().map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum()).collect())
                .collect();
            for p in [1.0, 0.5, 2.0, 0.1, 10.0] {
                match power_barrier_weights(&k, p) {
                    Some(w) => {
                        let r = barrier_residual(&k, &w, p);
                        assert!(r < 1e-10, "case {case} p {p}: residual {r:e}");
                    }
                    None => assert!(barrier_has_no_solution(&k), "case {case} p {p}: solvable, but refused"),
                }
            }
        }
    }

    #[test]
    fn the_update_has_norm_sqrt_t_and_is_clipped_to_max_norm() {
        let device = Device::ndarray();
        let losses = Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device);
        let g = Tensor::<2>::from_floats([[2.0, 0.0, 1.0], [0.0, 1.0, -0.5], [1.0, 1.0, 1.0]], &device);
        let norm = |c: GradientCombination| c.gradient.powi_scalar(2).sum().into_scalar::<f32>().sqrt();
        let raw = NashMtl::new(3, 1, 0.0).combine_gradients(&ctx(0), g.clone(), losses.clone());
        // αᵀKα = Σ α_t (Kα)_t = Σ 1 = T.
        assert!((norm(raw) - 3f32.sqrt()).abs() < 1e-5);
        let clipped = NashMtl::new(3, 1, 1.0).combine_gradients(&ctx(0), g, losses);
        assert!((norm(clipped) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn steps_without_a_solution_reuse_the_weights_and_are_counted() {
        let device = Device::ndarray();
        let mut nash = NashMtl::new(2, 1, 0.0);
        let losses = Tensor::<1>::from_floats([1.0, 1.0], &device);
        // Before any solution: ones, as the authors start.
        let opposite = Tensor::<2>::from_floats([[1.0, 0.0], [-2.0, 0.0]], &device);
        let w = nash.combine_gradients(&ctx(0), opposite.clone(), losses.clone()).weights;
        assert_eq!(w.into_data().to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
        assert_eq!(nash.reused_weight_steps(), Some(1));
        let g = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device);
        let w1 = nash.combine_gradients(&ctx(1), g, losses.clone()).weights.into_data();
        let w2 = nash.combine_gradients(&ctx(2), opposite, losses).weights.into_data();
        assert_eq!(w1, w2, "the last solution is reused");
        assert_eq!(nash.reused_weight_steps(), Some(2));
        let mut other = NashMtl::new(2, 1, 0.0);
        other.load_state(&nash.state()).unwrap();
        assert_eq!(other.state, nash.state, "the count and weights survive a resume");
    }

    #[test]
    fn weights_are_reused_between_updates_and_saved() {
        let device = Device::ndarray();
        let mut nash = NashMtl::new(2, 2, 0.0);
        let losses = Tensor::<1>::from_floats([1.0, 1.0], &device);
        let g1 = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device);
        let g2 = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 3.0]], &device);
        let w0 = nash.combine_gradients(&ctx(0), g1, losses.clone()).weights.into_data();
        let w1 = nash.combine_gradients(&ctx(1), g2.clone(), losses.clone()).weights.into_data();
        assert_eq!(w0, w1, "step 1 reuses step 0's weights");
        assert_eq!(nash.reused_weight_steps(), Some(0), "planned reuse is not counted");
        let mut other = NashMtl::new(2, 2, 0.0);
        other.load_state(&nash.state()).unwrap();
        assert_eq!(other.state, nash.state);
        // A checkpoint written before the count existed still loads.
        other.load_state(&serde_json::json!({ "alpha": [1.0, 2.0] })).unwrap();
        assert_eq!((other.state.last.clone(), other.reused_weight_steps()), (Some(vec![1.0, 2.0]), Some(0)));
        let w2 = nash.combine_gradients(&ctx(2), g2, losses).weights.into_data();
        assert_ne!(w0, w2, "step 2 solves again");
    }
}
