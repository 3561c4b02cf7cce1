//! Multi-gate Mixture-of-Experts (MMoE): f_t(x) = h_t(Σ_i w_{t,i}(x) g_i(x)) with one softmax
//! gate w_t per task over experts g_1 … g_E shared by all tasks.
//!
//! Ma, Zhao, Yi, Chen, Hong, Chi, "Modeling Task Relationships in Multi-task Learning with
//! Multi-gate Mixture-of-Experts", KDD 2018 (<https://doi.org/10.1145/3219819.3220007>),
//! eq. (5)–(6). Experts are copies of the configured encoder; each gate is a linear layer and a
//! softmax reading the input features (or the gates' stem, see [`StemConfig`]).
//!
//! Shared part: the experts (and a learned stem); `z` = the stacked expert outputs (then the
//! stem's features). Task part: the task's gate and the mixture.

use burn::module::{Module, ParamId};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::architecture::gate::{
    SharedExperts, StemConfig, gate_layer, mix, softmax_gate, trace_softmax_gate,
};
use crate::encoder::EncoderConfig;
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Configuration of [`Mmoe`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MmoeConfig {
    /// Each expert's network.
    pub expert: EncoderConfig,
    /// Number of experts E.
    pub experts: usize,
    /// Number of tasks (one gate each).
    pub num_tasks: usize,
    /// What the gates read.
    pub stem: StemConfig,
}

/// Experts shared by every task, one gate per task.
#[derive(Module, Debug)]
pub struct Mmoe {
    pool: SharedExperts,
    gates: Vec<Linear>,
}

impl MmoeConfig {
    /// Build on `device`.
    pub fn init(&self, device: &Device) -> Mmoe {
        Mmoe {
            pool: SharedExperts::new(&self.expert, self.experts, &self.stem, device),
            gates: (0..self.num_tasks)
                .map(|_| gate_layer(self.stem.d_output(), self.experts, device))
                .collect(),
        }
    }

    /// Width of each task representation: an expert's output.
    pub fn d_task(&self) -> usize {
        self.expert.d_output()
    }
}

impl Mmoe {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, E·d_expert (+ d_stem)]`
    pub fn shared(&self, x: Input) -> Tensor<2> {
        self.pool.shared(x)
    }

    /// Task `t`'s mixture of the experts in `z`.
    pub fn task_input(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        let (experts, features) = self.pool.unpack(x, z);
        mix(softmax_gate(&self.gates[t], features), experts)
    }

    /// Every task's gate weights.
    ///
    /// # Shapes
    /// - output: `T` tensors `[batch, E]`
    pub fn gate_weights(&self, x: &Input) -> Vec<Tensor<2>> {
        let features = self.pool.features(x);
        self.gates.iter().map(|g| softmax_gate(g, features.clone())).collect()
    }

    /// Every task's mixture into `g` (see [`crate::graph`]).
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, tasks: usize) -> Vec<String> {
        self.pool.trace(g, "architecture.pool", x, tasks, |g, t, f| {
            trace_softmax_gate(g, &format!("architecture.gates.{t}"), &self.gates[t], f)
        })
    }

    /// The experts' and the stem's parameters.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        param_ids(&self.pool)
    }
}
