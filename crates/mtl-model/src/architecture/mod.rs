//! Sharing architectures: what the tasks share and what each task's head receives.
//!
//! Runtime choice is an enum pair, like Burn's `ActivationConfig` / `Activation`:
//! [`ArchitectureConfig`] → `init` → [`Architecture`]. Adding an architecture = one file here,
//! one variant in each enum, one README row and its tests.
//!
//! Every architecture splits its forward pass in two so that the weighting methods can reach
//! the shared part: [`Architecture::shared`] computes the shared representation `z` from the
//! input, and [`Architecture::task_input`] turns `z` (plus the input, for gates) into task
//! `t`'s representation. The parameters used by `shared` are the shared parameters.

mod hps;

pub use hps::{Hps, HpsConfig};

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

/// Which architecture to build, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchitectureConfig {
    /// Hard parameter sharing: one shared encoder.
    Hps(HpsConfig),
}

/// A built architecture.
#[derive(Module, Debug)]
pub enum Architecture {
    /// Hard parameter sharing.
    Hps(Hps),
}

impl ArchitectureConfig {
    /// Build the architecture on `device`.
    pub fn init(&self, device: &Device) -> Architecture {
        match self {
            ArchitectureConfig::Hps(c) => Architecture::Hps(c.init(device)),
        }
    }

    /// Width of each task representation (the input width of the heads).
    pub fn d_task(&self) -> usize {
        match self {
            ArchitectureConfig::Hps(c) => c.d_task(),
        }
    }

    /// Config name (`model.architecture`).
    pub fn name(&self) -> &'static str {
        match self {
            ArchitectureConfig::Hps(_) => "hps",
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
        }
    }

    /// Ids of the shared parameters (those used by [`Architecture::shared`]).
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        match self {
            Architecture::Hps(a) => a.shared_param_ids(),
        }
    }
}
