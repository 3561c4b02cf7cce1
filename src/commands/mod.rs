//! One module per command of the `mtl` binary.

pub mod affinity;
pub mod bench;
pub mod check;
pub mod compare;
pub mod data;
pub mod devices;
pub mod eval;
pub mod export;
pub mod plot;
pub mod predict;
pub mod synth;
pub mod train;
