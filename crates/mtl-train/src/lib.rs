//! The mtl trainer: config schema and validation, the training loop, losses, metrics,
//! checkpoints, logs, and the command-line commands.
//!
//! Library crates below this one (`mtl-model`, `mtl-weighting`, `mtl-data`) know nothing of
//! files or configs; this crate is where a TOML file becomes a trained run folder.
#![warn(missing_docs)]
// Tests use burn-ndarray, deprecated upstream but kept as our reference CPU backend.
#![cfg_attr(test, allow(deprecated))]

pub mod affinity;
pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod compare;
pub mod config;
pub mod data;
pub mod data_report;
pub mod delta;
mod error;
pub mod evaluate;
pub mod export;
pub mod grads;
mod io;
pub mod loss;
pub mod metrics;
pub mod optimizer;
pub mod plots;
pub mod predict;
pub(crate) mod progress;
pub mod runs;
pub mod schedule;
pub mod step;
pub mod stl;
pub mod trainer;

pub use error::Error;
