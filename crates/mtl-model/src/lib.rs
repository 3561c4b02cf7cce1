//! Models of the mtl multi-task trainer: encoders, per-task heads and the sharing
//! architectures that decide what the tasks share.
//!
//! Every model is a plain Burn module (`XConfig` → `init(&device)` → `X` → `forward`), so it
//! runs on any device: wgpu, flex or ndarray.
#![warn(missing_docs)]
// Tests use burn-ndarray, deprecated upstream but kept as our reference CPU backend.
#![cfg_attr(test, allow(deprecated))]

mod activation;
pub mod architecture;
pub mod encoder;
pub mod graph;
mod head;
mod input;
mod model;
mod params;
mod transfer;

pub use activation::ActivationKind;
pub use architecture::{Architecture, ArchitectureConfig};
pub use head::{HeadConfig, TaskHead};
pub use input::Input;
pub use model::{
    Counterfactual, Estimator, MultiTaskModel, MultiTaskModelConfig, TracedTask, Transfer, chain_logit,
    conditional_logit,
};
pub use params::{param_ids, parameter_count, parameter_count_of};
pub use transfer::{Ait, AitConfig, calibrator_penalty};
