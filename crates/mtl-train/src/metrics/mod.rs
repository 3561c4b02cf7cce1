//! Per-task evaluation metrics, accumulated on the device.
//!
//! Each metric keeps running sums as device tensors; `update` launches a few tensor ops and
//! never waits for the device. `compute` reads the sums back once (at the end of an epoch).
//! Masked samples (no label) are left out of every metric.

mod accuracy;
mod auc;
mod base;
mod f1;
mod macro_f1;
mod mean_error;
mod r2;
mod task;
#[cfg(test)]
mod tests;

pub use base::host as host_values;
pub use base::{Metric, MetricKind};
pub use task::TaskMetrics;
