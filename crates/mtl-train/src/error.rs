//! The errors of the trainer and their exit codes.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::os::{io_advice, os_message};

/// Everything that can stop a command. [`Error::exit_code`] maps it to the documented code:
/// 2 for bad input (config, data, checkpoint, backend choice, file system, a run folder being
/// written), 1 for a failed run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A data problem.
    #[error(transparent)]
    Data(#[from] mtl_data::DataError),
    /// A checkpoint that cannot be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The requested backend or device is not available.
    #[error("{0}")]
    Backend(String),
    /// The run folder is not usable as asked.
    #[error("run folder `{path}`: {message}")]
    RunDir {
        /// The folder.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// An input file (e.g. for `mtl predict`) is not usable.
    #[error("input file `{path}`{}: {message}", line.map_or(String::new(), |l| format!(" line {l}")))]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// What is wrong and what to do.
        message: String,
    },
    /// Command-line arguments that cannot work together or have bad values.
    #[error("{0}")]
    Usage(String),
    /// A loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}: {what}; {kept}. Lower `train.lr` or set `train.clip_grad_norm`"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// Which loss, and its value.
        what: String,
        /// Which checkpoint was kept.
        kept: String,
    },
    /// Another process of a data-parallel job stopped (its own message says why).
    #[error("rank {rank} of the job stopped with exit code {code} (its message is above); every rank stops")]
    Peer {
        /// The first rank that failed.
        rank: usize,
        /// Its exit code, which this rank exits with too.
        code: i32,
    },
    /// The ranks of a data-parallel job ended up with different models (a failed run, exit 1).
    #[error("{0}")]
    RanksDiverged(String),
    /// The processes of a data-parallel job disagree (another config or data on one rank).
    #[error("{0}")]
    Ranks(String),
    /// A file or folder could not be written or read: bad input (a path, a permission, a full or
    /// read-only file system), reported once with what to do.
    #[error("cannot use `{path}`: {}; {}", os_message(cause), io_advice(cause.kind()))]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why (not a `source`: the message already says it, and a chain would say it twice).
        cause: std::io::Error,
    },
}

impl Error {
    /// Process exit code: 2 for bad input, 1 for a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_)
            | Error::Data(_)
            | Error::Checkpoint(_)
            | Error::Backend(_)
            | Error::RunDir { .. }
            | Error::Input { .. }
            | Error::Usage(_)
            | Error::Ranks(_)
            | Error::Io { .. } => 2,
            Error::Peer { code, .. } => *code,
            Error::Diverged { .. } | Error::RanksDiverged(_) => 1,
        }
    }
}

/// Attach a path to an I/O error.
pub fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |cause| Error::Io { path, cause }
}

/// A checkpoint problem; exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// No checkpoint where one was expected.
    #[error("no checkpoint in `{path}`: {hint}")]
    Missing {
        /// The folder.
        path: PathBuf,
        /// What to do.
        hint: String,
    },
    /// A file is unreadable, truncated, or does not fit the model.
    #[error(
        "checkpoint file `{path}` cannot be used: {message}; it is corrupt or from another config or version — start a new run, or resume from another checkpoint"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The checkpoint's network is not the one the config describes.
    #[error(
        "checkpoint `{path}` was trained with another config: {}; use the run's own config (RUN_DIR/config.toml, \
         without --set for these keys), or train a new run (--out DIR, or --overwrite)",
        changes.join("; ")
    )]
    Mismatch {
        /// The checkpoint folder.
        path: PathBuf,
        /// The config keys that differ, with both values.
        changes: Vec<String>,
    },
    /// Writing failed; the previous checkpoint is left as it was.
    #[error(
        "cannot write checkpoint `{path}`: {}; the previous checkpoint is unchanged; {}",
        os_message(cause),
        io_advice(cause.kind())
    )]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}
