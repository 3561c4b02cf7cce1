//! Data for the mtl multi-task trainer: task descriptions, in-memory multi-task datasets,
//! seeded splits, batching onto a Burn device, the embedded synthetic generator of the MMoE
//! paper, IDX image files and the MultiMNIST family built from them, CSV tables, and task
//! sampling for multi-input mode.
#![warn(missing_docs)]
// Tests use burn-ndarray, deprecated upstream but kept as our reference CPU backend.
#![cfg_attr(test, allow(deprecated))]

mod batch;
mod dataset;
mod error;
pub mod funnel;
pub mod idx;
mod multi_mnist;
mod resident;
mod sampling;
mod split;
mod synthetic;
pub mod table;
mod task;

pub use batch::{
    BatchShare, HostBatch, MultiTaskBatch, batch_indices, batch_ranges, epoch_permutation, id_data,
};
pub use dataset::{FeatureRows, MultiTaskDataset};
pub use error::DataError;
pub use multi_mnist::MultiMnistConfig;
pub use resident::{DeviceOrder, ResidentSplit};
pub use sampling::{Sampling, sampled_epoch};
pub use split::{SplitFractions, Splits};
pub use synthetic::SyntheticConfig;
pub use task::{MAX_LABELS, TaskId, TaskKind, TaskSpec, decode_labels, encode_labels};
