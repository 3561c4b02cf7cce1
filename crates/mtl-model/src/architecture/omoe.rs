//! One-gate Mixture-of-Experts (OMoE): the ablation of MMoE in which one softmax gate, shared by
//! every task, mixes the experts: f_t(x) = h_t(Σ_i w_i(x) g_i(x)).
//!
//! Ma et al., KDD 2018 (<https://doi.org/10.1145/3219819.3220007>), §4.2 ("OMoE"). The gate is
//! shared, so it belongs to the shared part with the experts; every task reads the same mixture.

use burn::module::{Module, ParamId};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::architecture::gate::{
    Stem, StemConfig, gate_features, gate_layer, mix, run_experts, softmax_gate, trace_experts,
    trace_gate_features, trace_softmax_gate,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Configuration of [`Omoe`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OmoeConfig {
    /// Each expert's network.
    pub expert: EncoderConfig,
    /// Number of experts E.
    pub experts: usize,
    /// What the gate reads.
    pub stem: StemConfig,
}

/// Experts and one gate, all shared.
#[derive(Module, Debug)]
pub struct Omoe {
    experts: Vec<Encoder>,
    gate: Linear,
    stem: Option<Stem>,
}

impl OmoeConfig {
    /// Build on `device`.
    pub fn init(&self, device: &Device) -> Omoe {
        Omoe {
            experts: (0..self.experts).map(|_| self.expert.init(device)).collect(),
            gate: gate_layer(self.stem.d_output(), self.experts, device),
            stem: self.stem.init(device),
        }
    }

    /// Width of the task representation: an expert's output.
    pub fn d_task(&self) -> usize {
        self.expert.d_output()
    }
}

impl Omoe {
    /// The gated mixture, read by every task.
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_expert]`
    pub fn shared(&self, x: Input) -> Tensor<2> {
        mix(self.weights(&x), run_experts(&self.experts, &x))
    }

    fn weights(&self, x: &Input) -> Tensor<2> {
        softmax_gate(&self.gate, gate_features(self.stem.as_ref(), x))
    }

    /// The one gate's weights, `[batch, E]`, given to each of the `num_tasks` tasks.
    pub fn gate_weights(&self, x: &Input, num_tasks: usize) -> Vec<Tensor<2>> {
        vec![self.weights(x); num_tasks]
    }

    /// The mixture, every task's representation, into `g` (see [`crate::graph`]).
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, tasks: usize) -> Vec<String> {
        let blocks = self.experts.first().map_or(0, Encoder::num_blocks);
        let experts = trace_experts(g, "architecture.experts", &self.experts, 0..blocks, x);
        let features = trace_gate_features(g, self.stem.as_ref(), "architecture", x);
        let w = trace_softmax_gate(g, "architecture.gate", &self.gate, &features);
        vec![g.mix(&w, &experts); tasks]
    }

    /// Every parameter: experts, gate and stem.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        param_ids(self)
    }
}
