//! Encoders: the networks that turn inputs into representations. Usable as the shared
//! encoder, as experts and as per-task columns; [`EncoderConfig`] / [`Encoder`] is the runtime
//! choice, generated from the one table of encoders (`encoders!` in `base.rs`).

mod base;
mod cnn;
mod mlp;
mod tabular;

pub use base::{Encoder, EncoderConfig};
pub use cnn::{Cnn, CnnConfig, trace_conv};
pub use mlp::{Mlp, MlpConfig};
pub use tabular::{
    EmbeddingField, EmbeddingTable, MAX_TABLE_IDS, Pooling, Tabular, TabularConfig, fields_per_column,
};
