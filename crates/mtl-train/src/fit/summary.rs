//! The end of a run: the best state evaluated on the validation and test splits, Δ over the
//! baselines, and the summary (`summary.json`).

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use mtl_model::{parameter_count, parameter_count_of};
use serde::Serialize;

use super::setup::{Run, metric_message};
use crate::delta::{Delta, delta};
use crate::error::Error;
use crate::evaluate::evaluate;
use crate::step::TrainState;

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
    /// The test metrics as one line of text (not saved).
    #[serde(skip)]
    pub test_line: Option<String>,
}

impl Run<'_> {
    /// Evaluate the best state (the last one when no epoch was best) and summarise the run.
    pub(super) fn finish(&self, state: TrainState, started: Instant) -> Result<RunSummary, Error> {
        let (config, meta) = (self.config, &self.meta);
        let finished = meta.epochs_done >= config.train.epochs || meta.selection.stopped_early;
        let parameters = parameter_count(&state.model);
        let shared_parameters = parameter_count_of(&state.model, &state.model.shared_param_ids());
        let best = self.best_state.clone().unwrap_or(state).model.valid();
        let batch = config.train.batch_size.max(256);
        let valid = evaluate(&best, &self.valid_data, &config.tasks, batch, &self.eval_device);
        let test =
            finished.then(|| evaluate(&best, &self.test_data, &config.tasks, batch, &self.eval_device));
        let delta_json = match (&self.reference, &test) {
            (Some(r), Some(test)) => {
                let v = delta(&valid.metrics, &r.valid, &self.names).ok();
                let t = delta(&test.metrics, &r.test, &self.names).ok();
                serde_json::json!({"valid": v, "test": t, "baselines": r.run_dirs})
            }
            _ => serde_json::Value::Null,
        };
        let architecture = &config.model.architecture;
        let gate_labels = architecture.gate_labels();
        Ok(RunSummary {
            name: config.name.clone(),
            run_dir: self.run_dir.clone(),
            backend: self.options.device.description.clone(),
            seed: config.seed,
            epochs: config.train.epochs,
            epochs_done: meta.epochs_done,
            finished,
            stopped_early: meta.selection.stopped_early,
            monitor: self.selector.monitor.name(&config.tasks),
            best_monitor: self.selector.best_raw(&meta.selection),
            best_epoch: meta.selection.best_epoch,
            best_valid_loss: meta.selection.best_valid_loss,
            final_lr: self.lr,
            parameters,
            shared_parameters,
            architecture: format!("{} ({})", architecture.name(), architecture.encoder().name()),
            weighting: format!("{} ({})", config.weighting.name(), config.weighting_input.name()),
            wall_s: started.elapsed().as_secs_f64(),
            valid: valid.to_json(&config.tasks),
            test: test.as_ref().map_or(serde_json::Value::Null, |t| t.to_json(&config.tasks)),
            delta: delta_json,
            gates: gate_labels
                .map_or(serde_json::Value::Null, |labels| valid.gates_json(&config.tasks, &labels)),
            test_line: test.as_ref().map(|t| metric_message(&config.tasks, t)),
        })
    }
}

/// The line that reports the test metrics of a finished run.
pub(super) fn test_line(summary: &RunSummary) -> Option<String> {
    let metrics = summary.test_line.as_ref()?;
    let d = summary.delta.get("test").and_then(|d| serde_json::from_value::<Delta>(d.clone()).ok());
    Some(format!(
        "test (best epoch {}): {metrics}{}",
        summary.best_epoch,
        d.map_or(String::new(), |d| format!("  Δp={:+.2}% Δm={:+.2}% vs single-task", d.delta_p, d.delta_m)),
    ))
}
