//! Configuration: the TOML schema (`schema`), reading and `--set` overrides (`load`), and
//! validation into the [`RunConfig`] the trainer uses (`resolve`).

mod check;
mod columns;
pub mod data;
mod diff;
mod error;
mod load;
mod model;
mod resolve;
pub mod schema;
mod table;

pub use diff::{KeyChange, changed_keys};
pub use error::ConfigError;
pub use load::{apply_override, load_file, parse_text};
pub use resolve::{AffinityPlan, ClassWeights, Monitor, OptimizerConfig, RunConfig, TaskConfig, TrainConfig};
