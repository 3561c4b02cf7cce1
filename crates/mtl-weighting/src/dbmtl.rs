//! DB-MTL — dual-balancing multi-task learning.
//!
//! Lin, Ye, Zhang, Kwok, "Dual-Balancing for Multi-Task Learning", 2023
//! (<https://arxiv.org/abs/2308.12029>), as LibMTL implements it (`weighting/DB_MTL.py`).
//!
//! Loss-scale balancing: the task gradients are those of log L_t, i.e. g_t / L_t.
//! Gradient-magnitude balancing: a running average ĝ_t ← h_t + (β/k^σ)(ĝ_t − h_t) of those
//! gradients (k the step, ĝ starting at 0; β = 0.9, σ = 0 by default), then every task is
//! scaled to the largest running norm: the update is Σ_t (max_s ‖ĝ_s‖ / ‖ĝ_t‖) ĝ_t. The
//! `[T, P]` running average lives on the device and is saved in checkpoints (so the shared
//! parameters' route only, as in LibMTL: the representation's width changes with the batch).

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::base::{Invalid, MethodConfig, checks};
use crate::buffer::{DeviceBuffer, HostMatrix};
use crate::gram::{combine, gram, host};

/// DB-MTL.
#[derive(Module, Debug)]
pub struct DbMtl {
    num_tasks: usize,
    beta: f64,
    beta_sigma: f64,
    #[module(skip)]
    step: u64,
    #[module(skip)]
    buffer: DeviceBuffer,
}

#[derive(Serialize, Deserialize)]
struct DbMtlState {
    step: u64,
    buffer: Option<HostMatrix>,
}

impl DbMtl {
    /// DB-MTL reads the shared parameters' gradients.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::ParameterGradients];

    /// DB-MTL over `num_tasks` tasks with EMA rate β and its decay exponent σ.
    pub fn new(num_tasks: usize, beta: f64, beta_sigma: f64) -> Self {
        Self { num_tasks, beta, beta_sigma, step: 0, buffer: DeviceBuffer::default() }
    }
}

/// Row `t` of `g` divided by `d[t]`.
pub(crate) fn scale_rows(g: Tensor<2>, s: &[f64]) -> Tensor<2> {
    let device = g.device();
    let col =
        Tensor::<1>::from_data(TensorData::new(s.iter().map(|x| *x as f32).collect(), [s.len()]), &device);
    g * col.unsqueeze_dim::<2>(1)
}

impl WeightingMethod for DbMtl {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_gradients(
        &mut self,
        _ctx: &StepContext,
        gradients: Tensor<2>,
        losses: Tensor<1>,
    ) -> GradientCombination {
        self.step += 1;
        let inv: Vec<f64> = host(losses).iter().map(|l| 1.0 / (l + 1e-8)).collect();
        let h = scale_rows(gradients.clone(), &inv);
        let old = self.buffer.get(&h).unwrap_or_else(|| h.zeros_like());
        let rate = self.beta / (self.step as f64).powf(self.beta_sigma);
        let buffer = h.clone() + (old - h).mul_scalar(rate);
        self.buffer.set(buffer.clone());
        let k = gram(&buffer);
        let norms: Vec<f64> = (0..self.num_tasks).map(|i| k[i][i].max(0.0).sqrt()).collect();
        let max = norms.iter().copied().fold(0.0f64, f64::max);
        let alpha: Vec<f64> = norms.iter().map(|n| max / (n + 1e-8)).collect();
        let gradient = combine(buffer, &alpha).gradient;
        // Weights of the current task gradients g_t in the step's share of the update.
        let w: Vec<f32> = alpha.iter().zip(&inv).map(|(a, i)| (a * i * (1.0 - rate)) as f32).collect();
        let weights = Tensor::from_data(TensorData::new(w, [self.num_tasks]), &gradients.device());
        GradientCombination { gradient, weights }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(DbMtlState { step: self.step, buffer: self.buffer.to_host() })
            .expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            self.step = 0;
            return self.buffer.restore(None);
        }
        let s: DbMtlState =
            serde_json::from_value(state.clone()).map_err(|e| format!("DB-MTL state: {e}"))?;
        self.step = s.step;
        self.buffer.restore(s.buffer)
    }
}

/// Settings of [`DbMtl`] (`[weighting.db_mtl]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbMtlConfig {
    /// EMA rate β of the log-loss gradients. Default 0.9 (LibMTL's).
    pub beta: f64,
    /// Decay exponent σ of the rate (β/k^σ). Default 0.
    pub beta_sigma: f64,
}

impl Default for DbMtlConfig {
    fn default() -> Self {
        Self { beta: 0.9, beta_sigma: 0.0 }
    }
}

impl MethodConfig for DbMtlConfig {
    type Method = DbMtl;

    fn check(&self) -> Result<(), Invalid> {
        Invalid::unless((0.0..1.0).contains(&self.beta), "beta", || {
            format!("{} is not in [0, 1)", self.beta)
        })?;
        checks::non_negative("beta_sigma", self.beta_sigma)
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> DbMtl {
        DbMtl::new(num_tasks, self.beta, self.beta_sigma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn log_gradients_are_averaged_and_scaled_to_the_largest_norm() {
        let device = Device::ndarray();
        let mut db = DbMtl::new(2, 0.9, 0.0);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let g = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 1.0]], &device);
        let losses = Tensor::<1>::from_floats([2.0, 0.5], &device);
        // Step 1: h = (g₁/2, g₂/0.5) = ((1, 0), (0, 2)); buffer = 0.1·h = ((0.1, 0), (0, 0.2));
        // norms 0.1, 0.2 → α = (2, 1): update (0.2, 0.2).
        let out = db.combine_gradients(&ctx, g.clone(), losses.clone());
        let u = out.gradient.into_data().to_vec::<f32>().unwrap();
        assert!((u[0] - 0.2).abs() < 1e-6 && (u[1] - 0.2).abs() < 1e-6, "{u:?}");
        // Step 2, same batch: buffer = h + 0.9(buffer − h) = 0.19·h → update 0.38·(1, 1).
        let out = db.combine_gradients(&ctx, g.clone(), losses.clone());
        let u = out.gradient.into_data().to_vec::<f32>().unwrap();
        assert!((u[0] - 0.38).abs() < 1e-6 && (u[1] - 0.38).abs() < 1e-6, "{u:?}");
        // The state survives a checkpoint.
        let mut other = DbMtl::new(2, 0.9, 0.0);
        other.load_state(&db.state()).unwrap();
        let a = db.combine_gradients(&ctx, g.clone(), losses.clone()).gradient.into_data();
        let b = other.combine_gradients(&ctx, g, losses).gradient.into_data();
        assert_eq!(a, b);
    }
}
