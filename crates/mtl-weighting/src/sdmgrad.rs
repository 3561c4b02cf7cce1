//! SDMGrad — stochastic direction-oriented multi-objective gradient descent.
//!
//! Xiao, Ban, Ji, "Direction-oriented Multi-objective Learning: Simple and Provable
//! Stochastic Algorithms", NeurIPS 2023 (<https://arxiv.org/abs/2305.18409>), Algorithm 1;
//! follows the authors' supervised-learning code (`sdmgrad` in the NYU-v2 / Cityscapes
//! `utils.py` of their repository).
//!
//! SDMGrad searches the update near the mean gradient ḡ = (1/T) Σ_t g_t: the simplex weights
//! w minimise ½‖Gᵀw + λḡ‖², i.e. wᵀK̂w + 2λ wᵀK̂ū + λ²ūᵀK̂ū with ū = (1/T, …, 1/T), where
//! K̂ = GGᵀ / s² and s is the mean of √(K_tt + 1e-4) (the reference's scaling). As in the
//! reference, w is updated by `iterations` steps of SGD (learning rate `lr`, momentum ½, a
//! fresh momentum buffer every call) each followed by the Euclidean projection onto the
//! simplex, and w is kept from step to step (warm start; saved with checkpoints). The update
//! is d = (Gᵀw + λḡ) / (1 + λ), so the task weights are (w_t + λ/T) / (1 + λ): λ = 0 is a
//! stochastic MGDA, λ → ∞ the mean gradient.
//!
//! The paper's stochastic variant draws the gradients for w and for d from independent
//! batches; mtl computes both on the step's batch, as the authors' supervised code does.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::base::{
    GradientCombination, Invalid, MethodConfig, StepContext, WeightingInput, WeightingMethod, checks,
};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, mat_vec, project_simplex};

/// SDMGrad.
#[derive(Module, Debug)]
pub struct SdmGrad {
    #[module(skip)]
    config: SdmGradConfig,
    /// The simplex weights w, carried over steps.
    #[module(skip)]
    w: Vec<f64>,
}

impl SdmGrad {
    /// SDMGrad reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// SDMGrad for `num_tasks` tasks, w starting at the simplex centre.
    pub fn new(num_tasks: usize, config: SdmGradConfig) -> Self {
        Self { config, w: vec![1.0 / num_tasks as f64; num_tasks] }
    }

    /// Update w from the Gram matrix `k` and return the task weights of the update.
    pub fn weights(&mut self, k: &Gram) -> Vec<f64> {
        let t = k.len();
        let lambda = self.config.lambda;
        let scale = (0..t).map(|i| (k[i][i] + 1e-4).sqrt()).sum::<f64>() / t as f64;
        let kn: Gram = k.iter().map(|row| row.iter().map(|v| v / (scale * scale)).collect()).collect();
        // K̂ū: the row means of K̂.
        let kg: Vec<f64> = kn.iter().map(|row| row.iter().sum::<f64>() / t as f64).collect();
        let mut momentum: Option<Vec<f64>> = None;
        for _ in 0..self.config.iterations {
            // ∇(wᵀK̂w + 2λ wᵀK̂ū) = 2K̂w + 2λK̂ū.
            let grad: Vec<f64> =
                mat_vec(&kn, &self.w).iter().zip(&kg).map(|(a, b)| 2.0 * a + 2.0 * lambda * b).collect();
            let buf = match momentum.take() {
                None => grad,
                Some(m) => m.iter().zip(&grad).map(|(m, g)| 0.5 * m + g).collect(),
            };
            let stepped: Vec<f64> = self.w.iter().zip(&buf).map(|(w, b)| w - self.config.lr * b).collect();
            self.w = project_simplex(&stepped);
            momentum = Some(buf);
        }
        self.w.iter().map(|w| (w + lambda / t as f64) / (1.0 + lambda)).collect()
    }
}

impl WeightingMethod for SdmGrad {
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

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "w": self.w })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            return Ok(());
        }
        let w: Vec<f64> = state
            .get("w")
            .and_then(|w| serde_json::from_value(w.clone()).ok())
            .ok_or_else(|| format!("SDMGrad state {state} has no weight list `w`"))?;
        if w.len() != self.w.len() {
            return Err(format!("SDMGrad state holds {} weights for {} tasks", w.len(), self.w.len()));
        }
        self.w = w;
        Ok(())
    }
}

/// Settings of [`SdmGrad`] (`[weighting.sdmgrad]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SdmGradConfig {
    /// Pull λ ≥ 0 towards the mean gradient. Default 0.3 (the reference takes it as an
    /// argument and the paper tunes it per benchmark; 0 is MGDA-like, large values EW-like).
    pub lambda: f64,
    /// SGD steps on w per training step. Default 20 (the reference's).
    pub iterations: usize,
    /// Learning rate of those steps. Default 10 (the reference's; with it w often jumps to a
    /// vertex of the simplex, as in the reference).
    pub lr: f64,
}

impl Default for SdmGradConfig {
    fn default() -> Self {
        Self { lambda: 0.3, iterations: 20, lr: 10.0 }
    }
}

impl MethodConfig for SdmGradConfig {
    type Method = SdmGrad;

    fn check(&self) -> Result<(), Invalid> {
        checks::non_negative("lambda", self.lambda)?;
        Invalid::unless(self.iterations > 0, "iterations", || "use at least 1 step".into())?;
        checks::positive("lr", self.lr, "learning rate")
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> SdmGrad {
        SdmGrad::new(num_tasks, self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Task gradients as rows (T = 3, P = 4): the columns of the reference's `grads`.
    const G: [[f64; 4]; 3] = [[1.0, 0.2, 0.0, 0.5], [0.5, -1.0, 0.3, 0.0], [-0.3, 0.4, 0.9, -0.2]];

    fn gram_of(rows: &[[f64; 4]]) -> Gram {
        rows.iter()
            .map(|a| rows.iter().map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum()).collect())
            .collect()
    }

    // Expected values from the reference `sdmgrad` restated in NumPy 2.x (torch.optim.SGD with
    // momentum 0.5: buf = grad at the first step, then buf = 0.5·buf + grad; w -= lr·buf):
    //
    //     GG = grads.T @ grads; scale = np.mean(np.sqrt(np.diag(GG) + 1e-4)); GG /= scale**2
    //     Gg = GG.mean(axis=1)
    //     for i in range(niter):
    //         grad = 2 * GG @ w + 2 * lmbda * Gg
    //         buf = grad if i == 0 else 0.5 * buf + grad
    //         w = euclidean_proj_simplex(w - lr * buf)
    //
    // with grads = [[1, .5, -.3], [.2, -1, .4], [0, .3, .9], [.5, 0, -.2]], w = 1/3, λ = 0.3.

    #[test]
    fn reference_steps_with_the_default_learning_rate() {
        let mut m = SdmGrad::new(3, SdmGradConfig::default());
        let w = m.weights(&gram_of(&G));
        // Reference: w = (0, 1, 0), weights (w + 0.1) / 1.3.
        assert_eq!(m.w, vec![0.0, 1.0, 0.0]);
        let want = [0.1 / 1.3, 1.1 / 1.3, 0.1 / 1.3];
        assert!(w.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn reference_steps_with_a_small_learning_rate_and_a_warm_start() {
        let mut m = SdmGrad::new(3, SdmGradConfig { lr: 0.1, ..SdmGradConfig::default() });
        let w = m.weights(&gram_of(&G));
        let want = [0.294627738801, 0.263510110443, 0.441862150756];
        assert!(w.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-10), "{w:?}");
        // A second call starts from the w left by the first (fresh momentum).
        let w = m.weights(&gram_of(&G));
        let want = [0.294695500504, 0.263536409121, 0.441768090375];
        assert!(w.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-10), "{w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "weights sum to 1");
    }

    #[test]
    fn the_simplex_weights_survive_a_resume() {
        let mut m = SdmGrad::new(3, SdmGradConfig { lr: 0.1, ..SdmGradConfig::default() });
        m.weights(&gram_of(&G));
        let mut restored = SdmGrad::new(3, SdmGradConfig { lr: 0.1, ..SdmGradConfig::default() });
        restored.load_state(&m.state()).unwrap();
        assert_eq!(restored.weights(&gram_of(&G)), m.weights(&gram_of(&G)));
        assert!(restored.load_state(&serde_json::json!({"w": [0.5, 0.5]})).is_err(), "wrong task count");
    }

    #[test]
    fn a_large_lambda_gives_the_mean_gradient() {
        let mut m = SdmGrad::new(3, SdmGradConfig { lambda: 1e9, ..SdmGradConfig::default() });
        let w = m.weights(&gram_of(&G));
        assert!(w.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-8), "{w:?}");
    }
}
