//! Ways to balance tasks in multi-task learning: a weighting method turns the T task losses
//! (or the T task gradients) into one update.
//!
//! The crate needs only Burn tensors, so any Burn user can balance their own losses with it.
//! Each method is one file implementing [`WeightingMethod`]; [`WeightingConfig`] →
//! [`WeightingConfig::init`] → [`Weighting`] is the runtime enum pair. Trainable state (such as
//! the log-variances of uncertainty weighting) lives in Burn parameters inside [`Weighting`],
//! which is a `Module`, so the trainer's optimizer and checkpoints carry it.
#![warn(missing_docs)]
// Tests use burn-ndarray, deprecated upstream but kept as our reference CPU backend.
#![cfg_attr(test, allow(deprecated))]

mod aligned;
mod base;
mod buffer;
mod cagrad;
mod config;
mod conflict_free;
mod dbmtl;
mod dwa;
mod ew;
mod fairgrad;
mod famo;
mod gls;
mod graddrop;
mod gradnorm;
mod gradvac;
pub mod gram;
mod imtl;
mod imtl_l;
mod mgda;
mod moco;
pub(crate) mod nash;
mod pcgrad;
mod rlw;
mod si;
mod stch;
mod upgrad;
mod uw;
mod weighting;

pub use aligned::AlignedMtl;
pub use base::{GradientCombination, LossCombination, StepContext, WeightingInput, WeightingMethod};
pub use cagrad::CaGrad;
pub use config::{
    CaGradConfig, DbMtlConfig, DwaConfig, FairGradConfig, FamoConfig, GradNormConfig, GradVacConfig,
    ImtlConfig, MgdaConfig, NashMtlConfig, StchConfig, UpGradConfig, UwConfig, WeightingConfig,
};
pub use conflict_free::ConFig;
pub use dbmtl::DbMtl;
pub use dwa::Dwa;
pub use ew::Ew;
pub use fairgrad::FairGrad;
pub use famo::Famo;
pub use gls::Gls;
pub use graddrop::GradDrop;
pub use gradnorm::GradNorm;
pub use gradvac::GradVac;
pub use imtl::{Imtl, ImtlG};
pub use imtl_l::ImtlL;
pub use mgda::{Mgda, MgdaNormalization};
pub use moco::{MoCo, MoCoRates};
pub use nash::NashMtl;
pub use pcgrad::PcGrad;
pub use rlw::Rlw;
pub use si::Si;
pub use stch::Stch;
pub use upgrad::UpGrad;
pub use uw::Uw;
pub use weighting::Weighting;
