//! DSelect-k: MMoE whose gates select k experts through a differentiable, binary-encoded
//! selection instead of a dense softmax.
//!
//! Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong, Chi, "DSelect-k:
//! Differentiable Selection in the Mixture of Experts with Applications to Multi-Task
//! Learning", NeurIPS 2021 (<https://arxiv.org/abs/2106.03760>), §3 (per-example gate), as in
//! the authors' TensorFlow code (google-research/dselect_k_moe) and LibMTL's port:
//!
//! - m = ⌈log₂ n⌉ bits address n experts; selector i has logits z⁽ⁱ⁾ = W_i x ∈ R^m;
//! - the smooth-step S(t) = 0 for t ≤ −γ/2, 1 for t ≥ γ/2, else −2t³/γ³ + 3t/(2γ) + 1/2;
//! - selector i puts r⁽ⁱ⁾_j = Π_l (S(z_l) if bit l of j is set else 1 − S(z_l)) on expert j, a
//!   distribution that becomes one-hot once every |z_l| ≥ γ/2;
//! - the gate is w = Σ_i softmax(A x)_i r⁽ⁱ⁾, so at most k experts have non-zero weight once the
//!   selectors have converged;
//! - the regulariser λ·Σ_i H(r⁽ⁱ⁾) (batch mean) pushes the selectors to converge.
//!
//! When n is not a power of two, codes ≥ n are not experts: as in the reference code the
//! penalty Σ_i 1/Σ_{j<n} r⁽ⁱ⁾_j (minus its optimum 1) moves mass onto real experts, and here the
//! gate is also renormalised so that its weights always sum to 1. Initialisation as the
//! reference: selector logits' layer U(−γ/100, γ/100), selector weights' layer U(−0.05, 0.05).

use burn::module::{Module, ParamId};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;

use crate::Input;
use burn::tensor::{Device, Tensor};

use crate::architecture::gate::{SharedExperts, StemConfig, mix};
use crate::encoder::EncoderConfig;
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Configuration of [`DselectK`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DselectKConfig {
    /// Each expert's network.
    pub expert: EncoderConfig,
    /// Number of experts n ≥ 2.
    pub experts: usize,
    /// Number of selectors k (at most k non-zero gate weights), 1 ≤ k ≤ n.
    pub k: usize,
    /// Width γ of the smooth-step's transition.
    pub gamma: f64,
    /// Weight λ of the entropy regulariser.
    pub entropy_weight: f64,
    /// Number of tasks (one gate each).
    pub num_tasks: usize,
    /// What the gates read.
    pub stem: StemConfig,
}

/// One task's DSelect-k gate.
#[derive(Module, Debug)]
pub struct DselectGate {
    /// Selector logits, `d_gate → k·m`.
    pub(crate) z_logits: Linear,
    /// Selector weights' logits, `d_gate → k`.
    pub(crate) w_logits: Linear,
}

/// Experts shared by every task, one DSelect-k gate per task.
#[derive(Module, Debug)]
pub struct DselectK {
    pool: SharedExperts,
    pub(crate) gates: Vec<DselectGate>,
    #[module(skip)]
    bits: usize,
    #[module(skip)]
    k: usize,
    #[module(skip)]
    gamma: f64,
    #[module(skip)]
    entropy_weight: f64,
}

impl DselectKConfig {
    /// Bits m = ⌈log₂ n⌉ of the expert codes.
    pub fn bits(&self) -> usize {
        self.experts.next_power_of_two().trailing_zeros() as usize
    }

    /// Build on `device`.
    pub fn init(&self, device: &Device) -> DselectK {
        let (d, m, g) = (self.stem.d_output(), self.bits(), self.gamma);
        let uniform = |r: f64| Initializer::Uniform { min: -r, max: r };
        DselectK {
            pool: SharedExperts::new(&self.expert, self.experts, &self.stem, device),
            gates: (0..self.num_tasks)
                .map(|_| DselectGate {
                    z_logits: LinearConfig::new(d, self.k * m)
                        .with_initializer(uniform(g / 100.0))
                        .init(device),
                    w_logits: LinearConfig::new(d, self.k).with_initializer(uniform(0.05)).init(device),
                })
                .collect(),
            bits: m,
            k: self.k,
            gamma: g,
            entropy_weight: self.entropy_weight,
        }
    }

    /// Width of each task representation: an expert's output.
    pub fn d_task(&self) -> usize {
        self.expert.d_output()
    }
}

/// The smooth-step S_γ, elementwise. Clamping first gives the flat pieces and their zero
/// gradient.
pub fn smooth_step<const D: usize>(t: Tensor<D>, gamma: f64) -> Tensor<D> {
    let t = t.clamp(-gamma / 2.0, gamma / 2.0);
    t.clone().powi_scalar(3).mul_scalar(-2.0 / gamma.powi(3)) + t.mul_scalar(1.5 / gamma).add_scalar(0.5)
}

impl DselectK {
    /// Selector distributions r⁽ⁱ⁾ over the n experts, and the gate's selector weights.
    ///
    /// # Shapes
    /// - features: `[batch, d_gate]`
    /// - output: `[batch, k, n]` and `[batch, k]`
    fn selectors(&self, t: usize, features: Tensor<2>) -> (Tensor<3>, Tensor<2>) {
        let [batch, _] = features.dims();
        let (n, m, k) = (self.pool.count(), self.bits, self.k);
        let device = features.device();
        let gate = &self.gates[t];
        let s = smooth_step(gate.z_logits.forward(features.clone()), self.gamma).reshape([batch, k, 1, m]);
        // Bit l of expert j, most significant first (numpy's binary_repr in the reference).
        let codes: Vec<f32> =
            (0..n).flat_map(|j| (0..m).map(move |l| ((j >> (m - 1 - l)) & 1) as f32)).collect();
        let c = Tensor::<1>::from_floats(codes.as_slice(), &device).reshape([1, 1, n, m]);
        let factors = c.clone() * s.clone() + (c.neg().add_scalar(1.0)) * (s.neg().add_scalar(1.0)); // [batch, k, n, m]
        let mut r = factors.clone().narrow(3, 0, 1);
        for l in 1..m {
            r = r * factors.clone().narrow(3, l, 1);
        }
        let r = r.reshape([batch, k, n]);
        (r, softmax(gate.w_logits.forward(features), 1))
    }

    fn weights_from(&self, r: Tensor<3>, a: Tensor<2>) -> Tensor<2> {
        let [batch, _, n] = r.dims();
        let w = a.unsqueeze_dim::<3>(1).matmul(r).reshape([batch, n]); // [batch, n]
        if n.is_power_of_two() { w } else { w.clone() / w.sum_dim(1).clamp_min(1e-12) }
    }

    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, n·d_expert (+ d_stem)]`
    pub fn shared(&self, x: Input) -> Tensor<2> {
        self.pool.shared(x)
    }

    /// Task `t`'s gated mixture of the experts in `z`.
    pub fn task_input(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        let (experts, features) = self.pool.unpack(x, z);
        let (r, a) = self.selectors(t, features);
        mix(self.weights_from(r, a), experts)
    }

    /// Every task's gate weights, `[batch, n]`.
    pub fn gate_weights(&self, x: &Input) -> Vec<Tensor<2>> {
        let features = self.pool.features(x);
        (0..self.gates.len())
            .map(|t| {
                let (r, a) = self.selectors(t, features.clone());
                self.weights_from(r, a)
            })
            .collect()
    }

    /// λ · batch mean of Σ_tasks Σ_i H(r⁽ⁱ⁾) (+ the non-power-of-two penalty). Shape `[1]`.
    pub fn regularizer(&self, x: &Input) -> Tensor<1> {
        let features = self.pool.features(x);
        let n = self.pool.count();
        let terms: Vec<Tensor<1>> = (0..self.gates.len())
            .map(|t| {
                let (r, _) = self.selectors(t, features.clone()); // [batch, k, n]
                let entropy = (r.clone() * r.clone().add_scalar(1e-6).log()).neg().sum_dim(2); // [batch, k, 1]
                let mut term = entropy.sum_dim(1).mean().mul_scalar(self.entropy_weight);
                if !n.is_power_of_two() {
                    let mass = r.sum_dim(2).clamp_min(1e-6); // [batch, k, 1]
                    term = term + mass.recip().add_scalar(-1.0).sum_dim(1).mean();
                }
                term
            })
            .collect();
        Tensor::cat(terms, 0).sum()
    }

    /// Every task's mixture into `g` (see [`crate::graph`]): the selectors of `selectors`.
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, tasks: usize) -> Vec<String> {
        let (n, m, k, gamma) = (self.pool.count(), self.bits, self.k, self.gamma);
        let codes: Vec<f32> =
            (0..n).flat_map(|j| (0..m).map(move |l| ((j >> (m - 1 - l)) & 1) as f32)).collect();
        self.pool.trace(g, "architecture.pool", x, tasks, |g, t, f| {
            let p = format!("architecture.gates.{t}");
            let z = g.linear(&format!("{p}.z_logits"), &self.gates[t].z_logits, f);
            // smooth_step: clamp to ±γ/2, then −2/γ³ · t³ + 3/(2γ) · t + 1/2.
            let (lo, hi) =
                (g.floats(vec![(-gamma / 2.0) as f32], vec![]), g.floats(vec![(gamma / 2.0) as f32], vec![]));
            let z = g.op("Clip", &[&z, &lo, &hi], vec![]);
            let cube = g.op("Mul", &[&z, &z], vec![]);
            let cube = g.op("Mul", &[&cube, &z], vec![]);
            let (a, b, half) = (
                g.floats(vec![(-2.0 / gamma.powi(3)) as f32], vec![]),
                g.floats(vec![(1.5 / gamma) as f32], vec![]),
                g.floats(vec![0.5], vec![]),
            );
            let s = g.op("Mul", &[&cube, &a], vec![]);
            let lin = g.op("Mul", &[&z, &b], vec![]);
            let s = g.op("Add", &[&s, &lin], vec![]);
            let s = g.op("Add", &[&s, &half], vec![]);
            let s = g.reshape(&s, &[-1, k as i64, 1, m as i64]);
            let c = g.floats(codes.clone(), vec![1, 1, n, m]);
            let not_c = g.floats(codes.iter().map(|v| 1.0 - v).collect(), vec![1, 1, n, m]);
            let one = g.floats(vec![1.0], vec![]);
            let not_s = g.op("Sub", &[&one, &s], vec![]);
            let on = g.op("Mul", &[&c, &s], vec![]);
            let off = g.op("Mul", &[&not_c, &not_s], vec![]);
            let factors = g.op("Add", &[&on, &off], vec![]); // [batch, k, n, m]
            let mut r = g.narrow(&factors, 3, 0, 1);
            for l in 1..m {
                let f = g.narrow(&factors, 3, l, 1);
                r = g.op("Mul", &[&r, &f], vec![]);
            }
            let r = g.reshape(&r, &[-1, k as i64, n as i64]);
            let wl = g.linear(&format!("{p}.w_logits"), &self.gates[t].w_logits, f);
            let a = g.softmax(&wl, 1);
            let w = g.mix(&a, &r); // [batch, n]
            if n.is_power_of_two() {
                w
            } else {
                let total = g.sum(&w, 1, true);
                let eps = g.floats(vec![1e-12], vec![]);
                let total = g.op("Max", &[&total, &eps], vec![]);
                g.op("Div", &[&w, &total], vec![])
            }
        })
    }

    /// The experts' and the stem's parameters.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        param_ids(&self.pool)
    }
}
