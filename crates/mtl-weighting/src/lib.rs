//! Ways to balance tasks in multi-task learning: a weighting method turns the T task losses
//! (or the T task gradients) into one update.
//!
//! The crate needs only Burn tensors, so any Burn user can balance their own losses with it.
//! Each method is one file implementing [`WeightingMethod`] with its settings
//! ([`MethodConfig`]: the paper's defaults, `check`, `init`); `registry.rs` holds the one
//! table of methods from which [`WeightingConfig`] → [`WeightingConfig::init`] → [`Weighting`],
//! the runtime enum pair, and every list over the methods are generated. Trainable state (such as
//! the log-variances of uncertainty weighting) lives in Burn parameters inside [`Weighting`],
//! which is a `Module`, so the trainer's optimizer and checkpoints carry it.
#![warn(missing_docs)]
// Tests use burn-ndarray, deprecated upstream but kept as our reference CPU backend.
#![cfg_attr(test, allow(deprecated))]

mod aligned;
mod base;
mod buffer;
mod cagrad;
mod conflict_free;
mod dbmtl;
mod dualproj;
mod dwa;
mod ew;
mod fairgrad;
mod famo;
mod gls;
mod graddrop;
mod gradnorm;
mod gradvac;
pub mod gram;
pub mod host;
mod imtl;
mod imtl_l;
mod mgda;
mod moco;
pub(crate) mod nash;
mod pcgrad;
#[cfg(test)]
mod peer;
mod registry;
mod rlw;
mod sdmgrad;
mod si;
mod stch;
mod upgrad;
mod uw;

pub use aligned::{AlignedMtl, AlignedMtlConfig};
pub use base::{
    GradientCombination, Invalid, LossCombination, MethodConfig, StepContext, WeightingInput,
    WeightingMethod, checks,
};
pub use cagrad::{CaGrad, CaGradConfig};
pub use conflict_free::{ConFig, ConFigConfig};
pub use dbmtl::{DbMtl, DbMtlConfig};
pub use dualproj::{DualProj, DualProjConfig};
pub use dwa::{Dwa, DwaConfig};
pub use ew::{Ew, EwConfig};
pub use fairgrad::{FairGrad, FairGradConfig};
pub use famo::{Famo, FamoConfig};
pub use gls::{Gls, GlsConfig};
pub use graddrop::{GradDrop, GradDropConfig};
pub use gradnorm::{GradNorm, GradNormConfig};
pub use gradvac::{GradVac, GradVacConfig};
pub use gram::combine_through_gram;
pub use imtl::{Imtl, ImtlConfig, ImtlG, ImtlGConfig};
pub use imtl_l::{ImtlL, ImtlLConfig};
pub use mgda::{Mgda, MgdaConfig, MgdaNormalization};
pub use moco::{MoCo, MoCoConfig};
pub use nash::{NashMtl, NashMtlConfig};
pub use pcgrad::{PcGrad, PcGradConfig};
pub use registry::{Weighting, WeightingConfig};
pub use rlw::{Rlw, RlwConfig};
pub use sdmgrad::{SdmGrad, SdmGradConfig};
pub use si::{Si, SiConfig};
pub use stch::{Stch, StchConfig};
pub use upgrad::{UpGrad, UpGradConfig};
pub use uw::{Uw, UwConfig};
