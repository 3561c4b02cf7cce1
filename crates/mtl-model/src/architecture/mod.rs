//! Sharing architectures: what the tasks share and what each task's head receives.
//!
//! Runtime choice is an enum pair, like Burn's `ActivationConfig` / `Activation`:
//! [`ArchitectureConfig`] → `init` → [`Architecture`], both generated from the one table of
//! architectures (`architectures!` in `base.rs`). Adding an architecture = one file here, one
//! line in the table plus its arms of the architecture-specific methods, one README row and its
//! tests.
//!
//! Every architecture splits its forward pass in two so that the weighting methods can reach
//! the shared part: [`Architecture::shared`] computes the shared representation `z` from the
//! input, and [`Architecture::task_input`] turns `z` (plus the input, for gates) into task
//! `t`'s representation. The parameters used by `shared` are the shared parameters.

mod base;
mod cgc;
mod cross_stitch;
mod dselect_k;
pub mod gate;
mod hps;
mod mmoe;
mod omoe;
mod ple;
#[cfg(test)]
mod tests;

pub use base::{Architecture, ArchitectureConfig};
pub use cgc::CgcConfig;
pub use cross_stitch::{CrossStitch, CrossStitchConfig};
pub use dselect_k::{DselectGate, DselectK, DselectKConfig, smooth_step};
pub use gate::StemConfig;
pub use hps::{Hps, HpsConfig};
pub use mmoe::{Mmoe, MmoeConfig};
pub use omoe::{Omoe, OmoeConfig};
pub use ple::{Ple, PleConfig};
