//! Hard parameter sharing (HPS): one encoder shared by every task, f_t(x) = h_t(g(x)).
//!
//! Caruana, "Multitask Learning", Machine Learning 28, 1997
//! (<https://doi.org/10.1023/A:1007379606734>). The "shared-bottom" baseline of the MMoE paper.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::encoder::{Encoder, EncoderConfig};
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Configuration of [`Hps`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HpsConfig {
    /// The shared encoder.
    pub encoder: EncoderConfig,
}

/// Hard parameter sharing: every task reads the same encoder output.
#[derive(Module, Debug)]
pub struct Hps {
    encoder: Encoder,
}

impl HpsConfig {
    /// Build on `device`.
    pub fn init(&self, device: &Device) -> Hps {
        Hps { encoder: self.encoder.init(device) }
    }

    /// Width of the task representation: the encoder's output.
    pub fn d_task(&self) -> usize {
        self.encoder.d_output()
    }
}

impl Hps {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_encoder]`
    pub fn shared(&self, x: Input) -> Tensor<2> {
        self.encoder.forward(x)
    }

    /// Every task receives the shared representation itself.
    pub fn task_input(&self, _t: usize, _x: &Input, z: Tensor<2>) -> Tensor<2> {
        z
    }

    /// Every task's representation into `g` (see [`crate::graph`]): the encoder's output.
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, tasks: usize) -> Vec<String> {
        vec![self.encoder.trace(g, "architecture.encoder", x); tasks]
    }

    /// The encoder's parameters.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        param_ids(&self.encoder)
    }
}
