//! Encoders: the networks that turn inputs into representations. Usable as the shared
//! encoder, as experts and as per-task towers.

mod mlp;

pub use mlp::{Mlp, MlpConfig};
