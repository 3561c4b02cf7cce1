//! What a finished run reports (`summary.json`).

use std::path::PathBuf;

use serde::Serialize;

/// What a finished run reports (`summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Run name.
    pub name: String,
    /// Run folder.
    pub run_dir: PathBuf,
    /// Backend used.
    pub backend: String,
    /// Seed.
    pub seed: u64,
    /// Epochs asked for.
    pub epochs: usize,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Whether training is over: all epochs ran, or early stopping ended it.
    pub finished: bool,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// What selected the best epoch (`train.monitor`, with `auto` resolved).
    pub monitor: String,
    /// `"last"` when `train.select = "last"` (the reported epoch is the last one, not the
    /// monitor's best); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
    /// Its value at the best epoch (validation split).
    pub best_monitor: Option<f64>,
    /// Epoch (1-based) whose checkpoint is `best/`.
    pub best_epoch: usize,
    /// Its validation loss (sum over tasks).
    pub best_valid_loss: f64,
    /// Learning rate of the last step.
    pub final_lr: f64,
    /// Parameters of the network.
    pub parameters: usize,
    /// Of which shared by the tasks.
    pub shared_parameters: usize,
    /// Sharing architecture and encoder, e.g. `mmoe (mlp)`.
    pub architecture: String,
    /// Weighting method and the input it read.
    pub weighting: String,
    /// Seconds spent in this process.
    pub wall_s: f64,
    /// Best checkpoint on the validation split: `{task: {loss, metrics…}}`.
    pub valid: serde_json::Value,
    /// Best checkpoint on the test split (null when the run was interrupted).
    pub test: serde_json::Value,
    /// Δp and Δm over the single-task baselines, when they exist:
    /// `{valid: {delta_p, delta_m}, test: {…}, baselines: [run folders]}`; else null.
    pub delta: serde_json::Value,
    /// Best checkpoint's mean gate weights on the validation split, `{task: {expert: w}}`;
    /// null for architectures without gates.
    pub gates: serde_json::Value,
}
