//! The architecture enum pair, generated from the one table of architectures
//! ([`architectures!`]), and the dispatch of the architecture-specific methods.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::encoder::EncoderConfig;
use crate::graph::{Graph, GraphInput};

use crate::architecture::PleConfig;

/// Calls `$callback! { … }` with the table of architectures: one
/// `Variant, name, ConfigType, ModuleType, "doc";` per architecture, in the order of the
/// [`Architecture`] enum (which checkpoints record). Adding an architecture: its file, a line
/// here, the arms of the architecture-specific methods below, its `[model]` settings in the
/// trainer, a README row and its tests.
#[macro_export]
macro_rules! architectures {
    ($callback:ident) => {
        $callback! {
            Hps, hps, $crate::architecture::HpsConfig, $crate::architecture::Hps, "Hard parameter sharing: one shared encoder.";
            Mmoe, mmoe, $crate::architecture::MmoeConfig, $crate::architecture::Mmoe, "Multi-gate mixture of experts.";
            Omoe, omoe, $crate::architecture::OmoeConfig, $crate::architecture::Omoe, "One-gate mixture of experts.";
            Cgc, cgc, $crate::architecture::CgcConfig, $crate::architecture::Ple, "Customized gate control (a one-level PLE).";
            Ple, ple, $crate::architecture::PleConfig, $crate::architecture::Ple, "Progressive layered extraction.";
            CrossStitch, cross_stitch, $crate::architecture::CrossStitchConfig, $crate::architecture::CrossStitch, "Cross-stitch columns.";
            DselectK, dselect_k, $crate::architecture::DselectKConfig, $crate::architecture::DselectK, "MMoE with DSelect-k gates.";
        }
    };
}

macro_rules! define_architectures {
    ($($variant:ident, $name:ident, $config:ty, $module:ty, $doc:literal;)*) => {
        /// Which architecture to build, with its settings.
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ArchitectureConfig {
            $(#[doc = $doc] $variant($config),)*
        }

        /// A built architecture.
        #[derive(Module, Debug)]
        pub enum Architecture {
            $(#[doc = $doc] $variant($module),)*
        }

        impl ArchitectureConfig {
            /// Every config name (`model.architecture`), in table order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// Build the architecture on `device`.
            pub fn init(&self, device: &Device) -> Architecture {
                match self {
                    $(Self::$variant(c) => Architecture::$variant(c.init(device)),)*
                }
            }

            /// Width of each task representation (the input width of the heads).
            pub fn d_task(&self) -> usize {
                match self {
                    $(Self::$variant(c) => c.d_task(),)*
                }
            }

            /// Config name (`model.architecture`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($name),)*
                }
            }
        }

        impl Architecture {
            /// The shared representation `z`.
            ///
            /// # Shapes
            /// - input: `[batch, d_input]`
            /// - output: `[batch, d_shared]`
            pub fn shared(&self, x: Input) -> Tensor<2> {
                match self {
                    $(Self::$variant(a) => a.shared(x),)*
                }
            }

            /// Ids of the shared parameters (those used by [`Architecture::shared`]).
            pub fn shared_param_ids(&self) -> Vec<ParamId> {
                match self {
                    $(Self::$variant(a) => a.shared_param_ids(),)*
                }
            }
        }
    };
}

architectures!(define_architectures);

impl ArchitectureConfig {
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
    /// Task `t`'s representation, from the shared representation `z` and the input `x`.
    ///
    /// # Shapes
    /// - x: `[batch, d_input]`, z: `[batch, d_shared]`
    /// - output: `[batch, d_task]`
    pub fn task_input(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        match self {
            Architecture::Hps(a) => a.task_input(t, x, z),
            Architecture::Mmoe(a) => a.task_input(t, x, z),
            Architecture::Omoe(_) => z,
            Architecture::Cgc(a) | Architecture::Ple(a) => a.task_input(t, x, z),
            Architecture::CrossStitch(a) => a.task_input(t, x, z),
            Architecture::DselectK(a) => a.task_input(t, x, z),
        }
    }

    /// Each task's gate weights (cross-stitch: its row of the last mixing matrix), for logging.
    ///
    /// # Shapes
    /// - output: `T` tensors `[batch, gate width]`; `None` without gates
    pub fn gate_weights(&self, x: &Input, num_tasks: usize) -> Option<Vec<Tensor<2>>> {
        match self {
            Architecture::Hps(_) => None,
            Architecture::Mmoe(a) => Some(a.gate_weights(x)),
            Architecture::Omoe(a) => Some(a.gate_weights(x, num_tasks)),
            Architecture::Cgc(a) | Architecture::Ple(a) => Some(a.gate_weights(x)),
            Architecture::CrossStitch(a) => Some(a.mixing_weights(x)),
            Architecture::DselectK(a) => Some(a.gate_weights(x)),
        }
    }

    /// Every task's representation (the heads' input) into `g`, the module named
    /// `architecture` (see [`crate::graph`]).
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, num_tasks: usize) -> Vec<String> {
        match self {
            Architecture::Hps(a) => a.trace(g, x, num_tasks),
            Architecture::Mmoe(a) => a.trace(g, x, num_tasks),
            Architecture::Omoe(a) => a.trace(g, x, num_tasks),
            Architecture::Cgc(a) | Architecture::Ple(a) => a.trace(g, x, num_tasks),
            Architecture::CrossStitch(a) => a.trace(g, x, num_tasks),
            Architecture::DselectK(a) => a.trace(g, x, num_tasks),
        }
    }

    /// A loss term the architecture adds to every step (DSelect-k's entropy regulariser),
    /// independent of the task weights. Shape `[1]`.
    pub fn regularizer(&self, x: &Input) -> Option<Tensor<1>> {
        match self {
            Architecture::DselectK(a) => Some(a.regularizer(x)),
            _ => None,
        }
    }
}
