//! Checkpoints: model and weighting parameters, optimizer state and trainer state, written
//! atomically.
//!
//! A checkpoint is a folder with `model.bpk` (burnpack record of [`TrainState`]), `optim.bpk`
//! (optimizer record) and `state.json` ([`CheckpointMeta`]), written whole by
//! [`crate::io::atomic_dir`]: a crash leaves either the old or the new checkpoint complete;
//! [`load`] falls back to the renamed-away copy if it finds no checkpoint under the final
//! name.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

pub use crate::error::CheckpointError;
use crate::error::Error;
use crate::io;
use crate::step::TrainState;

/// Version of the checkpoint layout; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Trainer state saved beside the parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub steps_done: usize,
    /// The selector's decisions so far (best epoch, plateau, early stop, monitor).
    #[serde(flatten)]
    pub selection: crate::selection::Selection,
    /// Random state: the run seed. Data order and dropout of epoch e are drawn from
    /// (seed, e), so (seed, epochs_done) is the whole RNG state.
    pub seed: u64,
    /// Host-side state of the weighting method (loss histories and such).
    pub weighting_state: serde_json::Value,
    /// The resolved config the run was trained with (its `config.toml`), so that a checkpoint
    /// loaded with another config can say which keys differ. Absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// Write a checkpoint of `state`, `optim` and `meta` to `dir`, atomically (see
/// [`crate::io::atomic_dir`]): a failed write leaves the previous checkpoint as it was.
pub fn save(
    dir: &Path,
    state: &TrainState,
    optim: &ModuleOptimizer,
    meta: &CheckpointMeta,
) -> Result<(), CheckpointError> {
    io::atomic_dir(dir, |tmp| {
        let model = state.clone().into_record().into_bytes().map_err(unencodable(tmp.join("model.bpk")))?;
        io::write_synced(&tmp.join("model.bpk"), &model)?;
        let optim_bytes = optim.into_bytes().map_err(unencodable(tmp.join("optim.bpk")))?;
        io::write_synced(&tmp.join("optim.bpk"), &optim_bytes)?;
        let json = serde_json::to_vec_pretty(meta).map_err(unencodable(tmp.join("state.json")))?;
        io::write_synced(&tmp.join("state.json"), &json)
    })
    .map_err(|e| match e {
        Error::Io { path, cause } => CheckpointError::Write { path, cause },
        other => CheckpointError::Write {
            path: dir.to_path_buf(),
            cause: std::io::Error::other(other.to_string()),
        },
    })
}

fn unencodable<E: std::fmt::Display>(path: PathBuf) -> impl FnOnce(E) -> Error {
    move |e| Error::Io { path, cause: std::io::Error::other(e.to_string()) }
}

/// The folder to read: `dir`, or the copy a crash mid-swap left behind.
fn readable(dir: &Path) -> Result<PathBuf, CheckpointError> {
    if dir.join("state.json").exists() {
        return Ok(dir.to_path_buf());
    }
    let old = io::moved_away(dir);
    if old.join("state.json").exists() {
        return Ok(old);
    }
    Err(CheckpointError::Missing {
        path: dir.to_path_buf(),
        hint: "the run stopped before its first epoch ended; start it afresh into the same folder with \
               `mtl train CONFIG --out DIR --overwrite`"
            .into(),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    fs::read(path).map_err(|e| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        message: crate::os::os_message(&e),
    })
}

/// Read only the trainer state of the checkpoint in `dir`.
pub fn load_meta(dir: &Path) -> Result<CheckpointMeta, CheckpointError> {
    read_meta(&readable(dir)?)
}

/// `state.json` of a checkpoint folder known to exist.
fn read_meta(dir: &Path) -> Result<CheckpointMeta, CheckpointError> {
    let path = dir.join("state.json");
    let meta: CheckpointMeta = serde_json::from_slice(&read(&path)?)
        .map_err(|e| CheckpointError::Corrupt { path: path.clone(), message: e.to_string() })?;
    if meta.format_version != FORMAT_VERSION {
        return Err(CheckpointError::Corrupt {
            path,
            message: format!("layout version {} (this mtl reads {FORMAT_VERSION})", meta.format_version),
        });
    }
    Ok(meta)
}

/// Load the checkpoint in `dir` into freshly built `state` and `optim`, built from the
/// config whose resolved TOML is `config` (named in the error when they do not fit).
pub fn load(
    dir: &Path,
    state: TrainState,
    optim: ModuleOptimizer,
    config: &str,
) -> Result<(TrainState, ModuleOptimizer, CheckpointMeta), CheckpointError> {
    let (state, meta, dir) = load_parameters(dir, state, config)?;
    let optim_path = dir.join("optim.bpk");
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(read(&optim_path)?))
        .map_err(|e| CheckpointError::Corrupt { path: optim_path, message: e.to_string() })?;
    Ok((state, optim, meta))
}

/// Load only the parameters (model and weighting) of the checkpoint in `dir`, for evaluation,
/// prediction and export; `config` as for [`load`].
pub fn load_state(
    dir: &Path,
    state: TrainState,
    config: &str,
) -> Result<(TrainState, CheckpointMeta), CheckpointError> {
    let (state, meta, _) = load_parameters(dir, state, config)?;
    Ok((state, meta))
}

fn load_parameters(
    dir: &Path,
    state: TrainState,
    config: &str,
) -> Result<(TrainState, CheckpointMeta, PathBuf), CheckpointError> {
    let dir = readable(dir)?;
    let meta = read_meta(&dir)?;
    let model_path = dir.join("model.bpk");
    let corrupt = |e: &dyn std::fmt::Display| CheckpointError::Corrupt {
        path: model_path.clone(),
        message: e.to_string(),
    };
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(read(&model_path)?)).map_err(|e| corrupt(&e))?;
    let state =
        state.try_load_record(record).map_err(|e| mismatch(&dir, &meta, config).unwrap_or(corrupt(&e)))?;
    Ok((state, meta, dir))
}

/// The config keys that differ between the checkpoint's run and `config`, as an error; `None`
/// for a checkpoint that does not record its config, or whose config shows no difference that
/// could change the network (run names, loop lengths and the like never do).
fn mismatch(dir: &Path, meta: &CheckpointMeta, config: &str) -> Option<CheckpointError> {
    let changes = crate::config::changed_keys(meta.config.as_deref()?, config);
    let shaping: Vec<String> = changes
        .iter()
        .filter(|c| !["run.", "train.", "affinity.", "eval."].iter().any(|p| c.key.starts_with(p)))
        .map(ToString::to_string)
        .collect();
    (!shaping.is_empty()).then(|| CheckpointError::Mismatch { path: dir.to_path_buf(), changes: shaping })
}
