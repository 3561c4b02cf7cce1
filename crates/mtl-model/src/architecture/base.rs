//! The architecture enum pair and its dispatch.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

use crate::encoder::EncoderConfig;

use crate::architecture::{
    CgcConfig, CrossStitch, CrossStitchConfig, DselectK, DselectKConfig, Hps, HpsConfig, Mmoe, MmoeConfig,
    Omoe, OmoeConfig, Ple, PleConfig,
};

/// Which architecture to build, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchitectureConfig {
    /// Hard parameter sharing: one shared encoder.
    Hps(HpsConfig),
    /// Multi-gate mixture of experts.
    Mmoe(MmoeConfig),
    /// One-gate mixture of experts.
    Omoe(OmoeConfig),
    /// Customized gate control.
    Cgc(CgcConfig),
    /// Progressive layered extraction.
    Ple(PleConfig),
    /// Cross-stitch columns.
    CrossStitch(CrossStitchConfig),
    /// MMoE with DSelect-k gates.
    DselectK(DselectKConfig),
}

/// A built architecture.
#[derive(Module, Debug)]
pub enum Architecture {
    /// Hard parameter sharing.
    Hps(Hps),
    /// Multi-gate mixture of experts.
    Mmoe(Mmoe),
    /// One-gate mixture of experts.
    Omoe(Omoe),
    /// Customized gate control (a one-level PLE).
    Cgc(Ple),
    /// Progressive layered extraction.
    Ple(Ple),
    /// Cross-stitch columns.
    CrossStitch(CrossStitch),
    /// DSelect-k.
    DselectK(DselectK),
}

impl ArchitectureConfig {
    /// Build the architecture on `device`.
    pub fn init(&self, device: &Device) -> Architecture {
        match self {
            ArchitectureConfig::Hps(c) => Architecture::Hps(c.init(device)),
            ArchitectureConfig::Mmoe(c) => Architecture::Mmoe(c.init(device)),
            ArchitectureConfig::Omoe(c) => Architecture::Omoe(c.init(device)),
            ArchitectureConfig::Cgc(c) => Architecture::Cgc(c.init(device)),
            ArchitectureConfig::Ple(c) => Architecture::Ple(c.init(device)),
            ArchitectureConfig::CrossStitch(c) => Architecture::CrossStitch(c.init(device)),
            ArchitectureConfig::DselectK(c) => Architecture::DselectK(c.init(device)),
        }
    }

    /// Width of each task representation (the input width of the heads).
    pub fn d_task(&self) -> usize {
        match self {
            ArchitectureConfig::Hps(c) => c.d_task(),
            ArchitectureConfig::Mmoe(c) => c.d_task(),
            ArchitectureConfig::Omoe(c) => c.d_task(),
            ArchitectureConfig::Cgc(c) => c.d_task(),
            ArchitectureConfig::Ple(c) => c.d_task(),
            ArchitectureConfig::CrossStitch(c) => c.d_task(),
            ArchitectureConfig::DselectK(c) => c.d_task(),
        }
    }

    /// Config name (`model.architecture`).
    pub fn name(&self) -> &'static str {
        match self {
            ArchitectureConfig::Hps(_) => "hps",
            ArchitectureConfig::Mmoe(_) => "mmoe",
            ArchitectureConfig::Omoe(_) => "omoe",
            ArchitectureConfig::Cgc(_) => "cgc",
            ArchitectureConfig::Ple(_) => "ple",
            ArchitectureConfig::CrossStitch(_) => "cross_stitch",
            ArchitectureConfig::DselectK(_) => "dselect_k",
        }
    }

    /// The encoder the architecture is built from (the shared encoder, each expert, each
    /// column): what reads the input rows.
    pub fn encoder(&self) -> &EncoderConfig {
        match self {
            ArchitectureConfig::Hps(c) => &c.encoder,
            ArchitectureConfig::Mmoe(c) => &c.expert,
            ArchitectureConfig::Omoe(c) => &c.expert,
            ArchitectureConfig::Cgc(c) => &c.expert,
            ArchitectureConfig::Ple(c) => &c.expert,
            ArchitectureConfig::CrossStitch(c) => &c.column,
            ArchitectureConfig::DselectK(c) => &c.expert,
        }
    }

    /// Labels of the columns of [`Architecture::gate_weights`] (experts, or for cross-stitch
    /// the task columns); `None` when the architecture has no gates.
    pub fn gate_labels(&self) -> Option<Vec<String>> {
        let numbered = |prefix: &str, n: usize| (1..=n).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
        let ple = |c: &PleConfig| {
            let mut v = numbered("shared", c.shared_experts);
            v.extend(numbered("own", c.task_experts));
            v
        };
        match self {
            ArchitectureConfig::Hps(_) => None,
            ArchitectureConfig::Mmoe(c) => Some(numbered("expert", c.experts)),
            ArchitectureConfig::Omoe(c) => Some(numbered("expert", c.experts)),
            ArchitectureConfig::DselectK(c) => Some(numbered("expert", c.experts)),
            ArchitectureConfig::Cgc(c) => Some(ple(&c.as_ple())),
            ArchitectureConfig::Ple(c) => Some(ple(c)),
            ArchitectureConfig::CrossStitch(c) => Some(numbered("column", c.num_tasks)),
        }
    }
}

impl Architecture {
    /// The shared representation `z`.
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_shared]`
    pub fn shared(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Architecture::Hps(a) => a.shared(x),
            Architecture::Mmoe(a) => a.shared(x),
            Architecture::Omoe(a) => a.shared(x),
            Architecture::Cgc(a) | Architecture::Ple(a) => a.shared(x),
            Architecture::CrossStitch(a) => a.shared(x),
            Architecture::DselectK(a) => a.shared(x),
        }
    }

    /// Task `t`'s representation, from the shared representation `z` and the input `x`.
    ///
    /// # Shapes
    /// - x: `[batch, d_input]`, z: `[batch, d_shared]`
    /// - output: `[batch, d_task]`
    pub fn task_input(&self, t: usize, x: &Tensor<2>, z: Tensor<2>) -> Tensor<2> {
        match self {
            Architecture::Hps(a) => a.task_input(t, x, z),
            Architecture::Mmoe(a) => a.task_input(t, x, z),
            Architecture::Omoe(_) => z,
            Architecture::Cgc(a) | Architecture::Ple(a) => a.task_input(t, x, z),
            Architecture::CrossStitch(a) => a.task_input(t, x, z),
            Architecture::DselectK(a) => a.task_input(t, x, z),
        }
    }

    /// Ids of the shared parameters (those used by [`Architecture::shared`]).
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        match self {
            Architecture::Hps(a) => a.shared_param_ids(),
            Architecture::Mmoe(a) => a.shared_param_ids(),
            Architecture::Omoe(a) => a.shared_param_ids(),
            Architecture::Cgc(a) | Architecture::Ple(a) => a.shared_param_ids(),
            Architecture::CrossStitch(a) => a.shared_param_ids(),
            Architecture::DselectK(a) => a.shared_param_ids(),
        }
    }

    /// Each task's gate weights (cross-stitch: its row of the last mixing matrix), for logging.
    ///
    /// # Shapes
    /// - output: `T` tensors `[batch, gate width]`; `None` without gates
    pub fn gate_weights(&self, x: &Tensor<2>, num_tasks: usize) -> Option<Vec<Tensor<2>>> {
        match self {
            Architecture::Hps(_) => None,
            Architecture::Mmoe(a) => Some(a.gate_weights(x)),
            Architecture::Omoe(a) => Some(a.gate_weights(x, num_tasks)),
            Architecture::Cgc(a) | Architecture::Ple(a) => Some(a.gate_weights(x)),
            Architecture::CrossStitch(a) => Some(a.mixing_weights(x)),
            Architecture::DselectK(a) => Some(a.gate_weights(x)),
        }
    }

    /// A loss term the architecture adds to every step (DSelect-k's entropy regulariser),
    /// independent of the task weights. Shape `[1]`.
    pub fn regularizer(&self, x: &Tensor<2>) -> Option<Tensor<1>> {
        match self {
            Architecture::DselectK(a) => Some(a.regularizer(x)),
            _ => None,
        }
    }
}
