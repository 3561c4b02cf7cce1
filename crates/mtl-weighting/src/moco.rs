//! MoCo — multi-objective gradient correction.
//!
//! Fernando, Shen, Liu, Chaudhury, Murugesan, Chen, "Mitigating Gradient Bias in
//! Multi-objective Learning: A Provably Convergent Approach", ICLR 2023
//! (<https://openreview.net/forum?id=dLAYGdKTi2>), as LibMTL implements it
//! (`weighting/MoCo.py`).
//!
//! Each task gradient is rescaled to its loss, ĝ_t = L_t g_t/‖g_t‖; a tracking variable
//! Y ← Y − (β/k^{βσ})(Y − Ĝ) (k the step, Y starting at 0) corrects their stochastic bias, and
//! the weights take a softmax (mirror) step λ ← softmax(λ − (γ/k^{γσ})(YYᵀ + ρI)λ) from
//! λ = 1/T. The update is Yᵀλ. Defaults β = 0.5, βσ = 0.5, γ = 0.1, γσ = 0.5, ρ = 0. Y
//! (`[T, P]`) stays on the device and is saved in checkpoints, so only the shared parameters'
//! route is offered (the representation's width changes with the batch).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::base::{
    GradientCombination, Invalid, MethodConfig, StepContext, WeightingInput, WeightingMethod, checks,
};
use crate::buffer::{DeviceBuffer, HostMatrix};
use crate::dbmtl::scale_rows;
use crate::gram::{combine, gram, host, mat_vec};

/// MoCo's step sizes (`[weighting.moco]`); the defaults are LibMTL's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MoCoConfig {
    /// Tracking rate β.
    pub beta: f64,
    /// Its decay exponent.
    pub beta_sigma: f64,
    /// Weight step γ.
    pub gamma: f64,
    /// Its decay exponent.
    pub gamma_sigma: f64,
    /// ℓ₂ regularisation ρ of the weight step.
    pub rho: f64,
}

impl Default for MoCoConfig {
    fn default() -> Self {
        Self { beta: 0.5, beta_sigma: 0.5, gamma: 0.1, gamma_sigma: 0.5, rho: 0.0 }
    }
}

/// MoCo.
#[derive(Module, Debug)]
pub struct MoCo {
    num_tasks: usize,
    #[module(skip)]
    rates: MoCoConfig,
    #[module(skip)]
    step: u64,
    #[module(skip)]
    lambda: Vec<f64>,
    #[module(skip)]
    y: DeviceBuffer,
}

#[derive(Serialize, Deserialize)]
struct MoCoState {
    step: u64,
    lambda: Vec<f64>,
    y: Option<HostMatrix>,
}

impl MoCo {
    /// MoCo reads the shared parameters' gradients.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::ParameterGradients];

    /// MoCo over `num_tasks` tasks.
    pub fn new(num_tasks: usize, rates: MoCoConfig) -> Self {
        Self {
            num_tasks,
            rates,
            step: 0,
            lambda: vec![1.0 / num_tasks as f64; num_tasks],
            y: DeviceBuffer::default(),
        }
    }
}

impl WeightingMethod for MoCo {
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
        let t = self.num_tasks;
        let k = gram(&gradients);
        let l = host(losses);
        let s: Vec<f64> = (0..t).map(|i| l[i] / (k[i][i].max(0.0).sqrt() + 1e-8)).collect();
        let ghat = scale_rows(gradients, &s);
        let y_old = self.y.get(&ghat).unwrap_or_else(|| ghat.zeros_like());
        let r = self.rates;
        let step = self.step as f64;
        let y = y_old.clone() - (y_old - ghat).mul_scalar(r.beta / step.powf(r.beta_sigma));
        self.y.set(y.clone());
        let mut yy = gram(&y);
        for (i, row) in yy.iter_mut().enumerate() {
            row[i] += r.rho;
        }
        let g = mat_vec(&yy, &self.lambda);
        let rate = r.gamma / step.powf(r.gamma_sigma);
        let logits: Vec<f64> = self.lambda.iter().zip(&g).map(|(x, d)| x - rate * d).collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        self.lambda = e.iter().map(|x| x / sum).collect();
        combine(y, &self.lambda)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(MoCoState { step: self.step, lambda: self.lambda.clone(), y: self.y.to_host() })
            .expect("numbers serialise")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if state.is_null() {
            *self = MoCo::new(self.num_tasks, self.rates);
            return Ok(());
        }
        let s: MoCoState = serde_json::from_value(state.clone()).map_err(|e| format!("MoCo state: {e}"))?;
        if s.lambda.len() != self.num_tasks {
            return Err(format!("MoCo state holds another number of tasks than {}", self.num_tasks));
        }
        self.step = s.step;
        self.lambda = s.lambda;
        self.y.restore(s.y)
    }
}

impl MethodConfig for MoCoConfig {
    type Method = MoCo;

    fn check(&self) -> Result<(), Invalid> {
        checks::non_negative("beta", self.beta)?;
        checks::non_negative("beta_sigma", self.beta_sigma)?;
        checks::non_negative("gamma", self.gamma)?;
        checks::non_negative("gamma_sigma", self.gamma_sigma)?;
        checks::non_negative("rho", self.rho)
    }

    fn init(&self, num_tasks: usize, _device: &Device) -> MoCo {
        MoCo::new(num_tasks, *self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn one_step_by_hand() {
        let device = Device::ndarray();
        let rates = MoCoConfig { beta: 0.5, beta_sigma: 0.5, gamma: 0.1, gamma_sigma: 0.5, rho: 0.0 };
        let mut moco = MoCo::new(2, rates);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        // ĝ = L_t·g_t/‖g_t‖ = (2, 0), (0, 1); Y = 0 − 0.5(0 − Ĝ) = 0.5Ĝ = ((1, 0), (0, 0.5)).
        // YYᵀ λ with λ = (½, ½): (0.5, 0.125); λ = softmax((½, ½) − 0.1·(0.5, 0.125)).
        let g = Tensor::<2>::from_floats([[4.0, 0.0], [0.0, 3.0]], &device);
        let losses = Tensor::<1>::from_floats([2.0, 1.0], &device);
        let out = moco.combine_gradients(&ctx, g, losses);
        let (a, b) = ((0.5f64 - 0.05).exp(), (0.5f64 - 0.0125).exp());
        let l = [a / (a + b), b / (a + b)];
        let w = out.weights.into_data().to_vec::<f32>().unwrap();
        assert!((w[0] as f64 - l[0]).abs() < 1e-6 && (w[1] as f64 - l[1]).abs() < 1e-6, "{w:?}");
        let u = out.gradient.into_data().to_vec::<f32>().unwrap();
        assert!((u[0] as f64 - l[0]).abs() < 1e-5 && (u[1] as f64 - 0.5 * l[1]).abs() < 1e-5, "{u:?}");
        let mut other = MoCo::new(2, rates);
        other.load_state(&moco.state()).unwrap();
        assert_eq!(other.lambda, moco.lambda);
    }
}
