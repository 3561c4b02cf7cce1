//! Command-line arguments shared by several commands.

use clap::Args;
use mtl_train::backend::BackendChoice;

/// Backend selection, shared by the commands that compute.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Where to compute: a GPU through wgpu, or the flex / ndarray CPU backends.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Which GPU (see `mtl devices`).
    #[arg(long)]
    pub device: Option<usize>,
}
