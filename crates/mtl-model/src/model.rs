//! The whole multi-task network: an architecture plus one head per task.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::activation::ActivationKind;
use crate::architecture::{Architecture, ArchitectureConfig};
use crate::head::{HeadConfig, TaskHead};

/// Configuration of a [`MultiTaskModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTaskModelConfig {
    /// The sharing architecture.
    pub architecture: ArchitectureConfig,
    /// Hidden layers of every task head.
    pub head_hidden: Vec<usize>,
    /// Activation of the heads.
    pub head_activation: ActivationKind,
    /// Dropout of the heads.
    pub head_dropout: f64,
    /// Output width of each task's head, in task order.
    pub task_outputs: Vec<usize>,
}

/// Shared part plus per-task heads.
#[derive(Module, Debug)]
pub struct MultiTaskModel {
    /// What the tasks share.
    pub architecture: Architecture,
    /// One head per task, in task order.
    pub heads: Vec<TaskHead>,
}

impl MultiTaskModelConfig {
    /// Build the model on `device`.
    pub fn init(&self, device: &Device) -> MultiTaskModel {
        let d_task = self.architecture.d_task();
        let heads = self
            .task_outputs
            .iter()
            .map(|&d_output| {
                HeadConfig {
                    d_input: d_task,
                    hidden: self.head_hidden.clone(),
                    activation: self.head_activation,
                    dropout: self.head_dropout,
                    d_output,
                }
                .init(device)
            })
            .collect();
        MultiTaskModel { architecture: self.architecture.init(device), heads }
    }

    /// Whether any layer has a dropout rate above 0, so that a training forward draws random
    /// numbers: the encoder (every expert, column and gate stem of an architecture is built
    /// from it) or the heads.
    pub fn has_dropout(&self) -> bool {
        self.head_dropout > 0.0 || self.architecture.encoder().dropout() > 0.0
    }
}

impl MultiTaskModel {
    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.heads.len()
    }

    /// Per-task outputs (values or logits).
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `T` tensors `[batch, d_output_t]`
    pub fn forward(&self, x: Input) -> Vec<Tensor<2>> {
        let z = self.architecture.shared(x.clone());
        self.forward_from_shared(&x, z)
    }

    /// Per-task outputs from an already computed shared representation `z`.
    pub fn forward_from_shared(&self, x: &Input, z: Tensor<2>) -> Vec<Tensor<2>> {
        (0..self.num_tasks()).map(|t| self.forward_task_from_shared(t, x, z.clone())).collect()
    }

    /// Task `t`'s output from the shared representation `z`.
    pub fn forward_task_from_shared(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        self.heads[t].forward(self.architecture.task_input(t, x, z))
    }

    /// Each task's gate weights, `[batch, gate width]` (see [`Architecture::gate_weights`]).
    pub fn gate_weights(&self, x: &Input) -> Option<Vec<Tensor<2>>> {
        self.architecture.gate_weights(x, self.num_tasks())
    }

    /// The architecture's regulariser on `x`, if it has one. Shape `[1]`.
    pub fn regularizer(&self, x: &Input) -> Option<Tensor<1>> {
        self.architecture.regularizer(x)
    }

    /// Ids of the parameters shared by the tasks.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        self.architecture.shared_param_ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::architecture::HpsConfig;
    use crate::encoder::{EncoderConfig, MlpConfig};
    use crate::params::{param_ids, parameter_count};

    #[test]
    fn dropout_is_found_in_the_encoder_and_in_the_heads() {
        let plain = config();
        assert!(!plain.has_dropout());
        let heads = MultiTaskModelConfig { head_dropout: 0.25, ..config() };
        assert!(heads.has_dropout());
        let mut encoder = config();
        if let ArchitectureConfig::Hps(h) = &mut encoder.architecture
            && let EncoderConfig::Mlp(m) = &mut h.encoder
        {
            m.dropout = 1e-3;
        }
        assert!(encoder.has_dropout());
    }

    fn config() -> MultiTaskModelConfig {
        MultiTaskModelConfig {
            architecture: ArchitectureConfig::Hps(HpsConfig {
                encoder: EncoderConfig::Mlp(MlpConfig {
                    d_input: 6,
                    hidden: vec![8, 4],
                    activation: ActivationKind::Relu,
                    dropout: 0.0,
                }),
            }),
            head_hidden: vec![3],
            head_activation: ActivationKind::Relu,
            head_dropout: 0.0,
            task_outputs: vec![1, 5],
        }
    }

    #[test]
    fn hps_outputs_have_one_width_per_task() {
        let device = Device::ndarray();
        let model = config().init(&device);
        let out = model.forward(Tensor::zeros([2, 6], &device).into());
        assert_eq!(out.iter().map(|o| o.dims()).collect::<Vec<_>>(), vec![[2, 1], [2, 5]]);
    }

    #[test]
    fn hps_parameter_count_matches_a_hand_count() {
        let model = config().init(&Device::ndarray());
        let encoder = (6 * 8 + 8) + (8 * 4 + 4);
        let head = |out: usize| (4 * 3 + 3) + (3 * out + out);
        assert_eq!(parameter_count(&model), encoder + head(1) + head(5));
        // The shared parameters are exactly the encoder's four tensors.
        assert_eq!(model.shared_param_ids().len(), 4);
        assert_eq!(crate::params::parameter_count_of(&model, &model.shared_param_ids()), encoder);
        let all = param_ids(&model);
        assert_eq!(&all[..4], &model.shared_param_ids()[..]);
    }
}
