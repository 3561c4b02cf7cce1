//! The mtl trainer as a library: a TOML config in, a validated [`config::RunConfig`], and a
//! trained run out — its state, events for observers, and a run folder.
//!
//! Library crates below this one (`mtl-model`, `mtl-weighting`, `mtl-data`) know nothing of
//! files or configs; this crate is where a config becomes a trained run folder. It never draws
//! and never prints progress: the `mtl` binary's observers do (see [`fit::Observer`]).
#![warn(missing_docs)]
// Tests use burn-ndarray, deprecated upstream but kept as our reference CPU backend.
#![cfg_attr(test, allow(deprecated))]

pub mod affinity;
pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod data_report;
pub mod delta;
mod error;
pub mod evaluate;
pub mod export;
pub mod fit;
pub mod grads;
pub mod input;
pub mod io;
pub mod lock;
pub mod loss;
pub mod metrics;
pub mod onnx;
pub mod optimizer;
pub mod os;
pub mod parallel;
pub mod parts;
pub mod predict;
pub mod profile;
pub mod pytorch;
pub mod runs;
pub mod schedule;
pub mod selection;
pub mod step;
pub mod stl;

pub use error::{Error, io_error};
