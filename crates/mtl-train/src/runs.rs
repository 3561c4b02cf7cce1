//! Reading a finished (or interrupted) run folder back: its config and a checkpoint, for
//! `mtl eval`, `mtl predict` and `mtl export`.

use std::path::{Path, PathBuf};

use burn::module::Module;
use mtl_data::MultiTaskDataset;
use mtl_model::MultiTaskModel;
use serde::Serialize;

use crate::backend::SelectedDevice;
use crate::checkpoint::{self, CheckpointMeta};
use crate::config::RunConfig;
use crate::delta::{Delta, delta};
use crate::error::Error;
use crate::evaluate::Evaluation;
use crate::fit::{init_state, prepare_data, prepare_run_data};
use crate::stl;

/// Which checkpoint of a run to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum CheckpointChoice {
    /// The best epoch on the validation split.
    Best,
    /// The last completed epoch.
    Last,
}

impl CheckpointChoice {
    /// Folder name under `checkpoints/`.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointChoice::Best => "best",
            CheckpointChoice::Last => "last",
        }
    }
}

/// Which split of a run's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SplitChoice {
    /// Training split.
    Train,
    /// Validation split.
    Valid,
    /// Test split.
    Test,
}

impl SplitChoice {
    /// How it is written.
    pub fn name(self) -> &'static str {
        match self {
            SplitChoice::Train => "train",
            SplitChoice::Valid => "valid",
            SplitChoice::Test => "test",
        }
    }
}

/// A run folder with one of its checkpoints loaded.
#[derive(Debug)]
pub struct OpenedRun {
    /// The folder.
    pub dir: PathBuf,
    /// Its config (`config.toml`).
    pub config: RunConfig,
    /// The network, without autodiff.
    pub model: MultiTaskModel,
    /// The checkpoint's trainer state (epoch, ...).
    pub meta: CheckpointMeta,
    /// Which checkpoint.
    pub checkpoint: CheckpointChoice,
}

/// Open the run in `dir` and load its `which` checkpoint on `device`.
pub fn open_run(dir: &Path, which: CheckpointChoice, device: &SelectedDevice) -> Result<OpenedRun, Error> {
    let config_path = dir.join("config.toml");
    if !config_path.exists() {
        return Err(Error::RunDir {
            path: dir.to_path_buf(),
            message: "is not a run folder (no config.toml); give the folder `mtl train` printed".into(),
        });
    }
    crate::lock::ensure_not_written(dir)?;
    // A run trained on tables keeps its fitted preprocessing; older or non-table runs have none.
    let saved = crate::predict::InputSchema::load(dir).ok().and_then(|s| s.table);
    let config = RunConfig::from_run_file(&config_path, saved)?;
    let folder = dir.join("checkpoints").join(which.name());
    if !folder.join("state.json").exists() && !crate::io::moved_away(&folder).join("state.json").exists() {
        return Err(missing_checkpoint(dir, which).into());
    }
    let state = init_state(&config, &device.device.clone().autodiff());
    let (state, meta) =
        checkpoint::load_state(&dir.join("checkpoints").join(which.name()), state, &config.toml)?;
    Ok(OpenedRun { dir: dir.to_path_buf(), config, model: state.model.valid(), meta, checkpoint: which })
}

/// "No such checkpoint", with the ones the run has and how to use them.
fn missing_checkpoint(dir: &Path, which: CheckpointChoice) -> checkpoint::CheckpointError {
    let present: Vec<&str> = [CheckpointChoice::Best, CheckpointChoice::Last]
        .into_iter()
        .filter(|c| dir.join("checkpoints").join(c.name()).join("state.json").exists())
        .map(CheckpointChoice::name)
        .collect();
    let hint = match present.as_slice() {
        [] => format!(
            "the run has no checkpoint (it stopped before its first epoch ended); train it again with \
             `mtl train CONFIG --out {0} --overwrite`",
            dir.display()
        ),
        some => format!(
            "the run has {}; choose one with {}",
            some.join(" and "),
            some.iter().map(|c| format!("`--checkpoint {c}`")).collect::<Vec<_>>().join(" or ")
        ),
    };
    checkpoint::CheckpointError::Missing { path: dir.join("checkpoints").join(which.name()), hint }
}

impl OpenedRun {
    /// The run's own data split.
    pub fn split(&self, split: SplitChoice) -> Result<MultiTaskDataset, Error> {
        let splits = prepare_data(&self.config)?;
        Ok(match split {
            SplitChoice::Train => splits.train,
            SplitChoice::Valid => splits.valid,
            SplitChoice::Test => splits.test,
        })
    }

    /// Losses and metrics on `split`, and Δ against the single-task baselines if they exist.
    pub fn evaluate(
        &self,
        split: SplitChoice,
        device: &SelectedDevice,
    ) -> Result<(Evaluation, Option<Delta>), Error> {
        let data = prepare_run_data(&self.config)?;
        let data = match split {
            SplitChoice::Train => data.train,
            SplitChoice::Valid => data.valid,
            SplitChoice::Test => data.test,
        };
        let batch = self.config.train.batch_size.max(256);
        let e = data.evaluate(&self.model, &self.config.tasks, batch, &device.device)?;
        let d = match (stl::find_reference(&self.config)?, split) {
            (Some(r), SplitChoice::Valid) => delta(&e.baseline_scores(), &r.valid, &self.config.tasks).ok(),
            (Some(r), SplitChoice::Test) => delta(&e.baseline_scores(), &r.test, &self.config.tasks).ok(),
            _ => None,
        };
        Ok((e, d))
    }
}
