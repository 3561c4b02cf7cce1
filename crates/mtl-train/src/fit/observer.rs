//! The observer seam of the fit loop: the loop emits events, observers turn them into side
//! effects (logs, checkpoints, progress, measurements, plots). The loop itself writes nothing.
//!
//! As in Burn's `burn-train` (its `LearnerEvent`s and event processors), what a run writes is
//! chosen by the observers it is given: a data-parallel run that lets only rank 0 write passes
//! the writing observers on rank 0 and none elsewhere, without a change to the loop.

use burn::optim::ModuleOptimizer;
use burn::tensor::Tensor;
use mtl_data::{MultiTaskBatch, TaskSpec};

use crate::checkpoint::CheckpointMeta;
use crate::config::RunConfig;
use crate::error::Error;
use crate::evaluate::Evaluation;
use crate::fit::summary::RunSummary;
use crate::step::{StepReport, TrainState};

/// The run as it starts (after any resume).
#[derive(Debug)]
pub struct RunStart<'a> {
    /// The resolved config.
    pub config: &'a RunConfig,
    /// The run folder.
    pub run_dir: &'a std::path::Path,
    /// Whether the run continues from a checkpoint.
    pub resumed: bool,
    /// Epochs already done (0 for a fresh run).
    pub epochs_done: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Epochs the run is asked for in total.
    pub epochs: usize,
    /// The tasks trained.
    pub tasks: &'a [TaskSpec],
    /// Per trained task, the `(mean, std)` its target is standardised with (see
    /// `MultiTaskDataset::target_scales`).
    pub target_scales: &'a [Option<(f64, f64)>],
}

/// A step about to run: the batch and the state before its update.
#[derive(Debug)]
pub struct StepStart<'a> {
    /// Optimizer steps taken before this one.
    pub step: usize,
    /// The network and weighting method before the update.
    pub state: &'a TrainState,
    /// The step's batch (on the autodiff device).
    pub batch: &'a MultiTaskBatch,
    /// The tasks.
    pub tasks: &'a [TaskSpec],
}

/// A step that has run.
#[derive(Debug)]
pub struct StepEnd<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based index of the step in its epoch.
    pub index: usize,
    /// Optimizer steps taken, this one included.
    pub step: usize,
    /// Learning rate of the step.
    pub lr: f64,
    /// The step's losses and weights (on the device).
    pub report: &'a StepReport,
    /// Sum of the task losses over the epoch's steps so far (on the device).
    pub loss_sum: &'a Tensor<1>,
}

/// An epoch that has ended: its training means, its validation, and the selector's decision.
pub struct EpochEnd<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// The line that `metrics.jsonl` records for the epoch (observers' fields included).
    pub record: &'a serde_json::Value,
    /// Validation of the epoch's last state.
    pub valid: &'a Evaluation,
    /// Whether the epoch is the best so far (its state becomes `best/`).
    pub improved: bool,
    /// The state after the epoch.
    pub state: &'a TrainState,
    /// The optimizer after the epoch.
    pub optim: &'a ModuleOptimizer,
    /// What a checkpoint of this epoch records.
    pub meta: &'a CheckpointMeta,
}

impl std::fmt::Debug for EpochEnd<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochEnd")
            .field("epoch", &self.epoch)
            .field("improved", &self.improved)
            .finish_non_exhaustive()
    }
}

/// The run has ended (all epochs, early stopping, or an interruption asked for).
#[derive(Debug)]
pub struct RunEnd<'a> {
    /// The run folder.
    pub run_dir: &'a std::path::Path,
    /// What the run reports (`summary.json`).
    pub summary: &'a RunSummary,
    /// Seconds the run took in this process.
    pub wall_s: f64,
}

/// Side effects of a run, called by the fit loop in this order: `start`, then per epoch
/// `epoch_start`, per step `before_step` / `after_step`, then `epoch_fields` and `after_epoch`;
/// at the end `end`. Every hook defaults to doing nothing. Observers report to people through
/// `notes` (a line of text each); every observer's `note` receives them, the loop's own lines
/// included.
pub trait Observer {
    /// The run starts.
    fn start(&mut self, _run: &RunStart, _notes: &mut Vec<String>) -> Result<(), Error> {
        Ok(())
    }

    /// Epoch `epoch` (0-based) of `epochs` starts.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize) {}

    /// A step is about to update the state.
    fn before_step(&mut self, _step: &StepStart) -> Result<(), Error> {
        Ok(())
    }

    /// A step has updated the state.
    fn after_step(&mut self, _step: &StepEnd) -> Result<(), Error> {
        Ok(())
    }

    /// Fields this observer adds to the epoch's `metrics.jsonl` line.
    fn epoch_fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }

    /// An epoch has ended.
    fn after_epoch(&mut self, _epoch: &EpochEnd) -> Result<(), Error> {
        Ok(())
    }

    /// The run has ended.
    fn end(&mut self, _end: &RunEnd, _notes: &mut Vec<String>) -> Result<(), Error> {
        Ok(())
    }

    /// A line for people (banner, epoch summary, warnings).
    fn note(&mut self, _text: &str) {}
}

/// The observers of one run, called in the order given.
#[derive(Default)]
pub struct Observers<'a> {
    list: Vec<Box<dyn Observer + 'a>>,
}

impl std::fmt::Debug for Observers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.list.len())
    }
}

impl<'a> Observers<'a> {
    /// No observers: the run writes nothing.
    pub fn none() -> Self {
        Self { list: Vec::new() }
    }

    /// Add an observer after the others.
    pub fn with(mut self, observer: impl Observer + 'a) -> Self {
        self.list.push(Box::new(observer));
        self
    }

    /// Add an observer after the others.
    pub fn push(&mut self, observer: impl Observer + 'a) {
        self.list.push(Box::new(observer));
    }

    fn forward(&mut self, notes: Vec<String>) {
        for text in &notes {
            self.note(text);
        }
    }

    /// Send a line to every observer.
    pub fn note(&mut self, text: &str) {
        self.list.iter_mut().for_each(|o| o.note(text));
    }

    pub(crate) fn start(&mut self, run: &RunStart) -> Result<(), Error> {
        let mut notes = Vec::new();
        for o in &mut self.list {
            o.start(run, &mut notes)?;
        }
        self.forward(notes);
        Ok(())
    }

    pub(crate) fn epoch_start(&mut self, epoch: usize, epochs: usize) {
        self.list.iter_mut().for_each(|o| o.epoch_start(epoch, epochs));
    }

    pub(crate) fn before_step(&mut self, step: &StepStart) -> Result<(), Error> {
        self.list.iter_mut().try_for_each(|o| o.before_step(step))
    }

    pub(crate) fn after_step(&mut self, step: &StepEnd) -> Result<(), Error> {
        self.list.iter_mut().try_for_each(|o| o.after_step(step))
    }

    pub(crate) fn epoch_fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.list.iter().flat_map(|o| o.epoch_fields()).collect()
    }

    pub(crate) fn after_epoch(&mut self, epoch: &EpochEnd) -> Result<(), Error> {
        self.list.iter_mut().try_for_each(|o| o.after_epoch(epoch))
    }

    pub(crate) fn end(&mut self, end: &RunEnd) -> Result<(), Error> {
        let mut notes = Vec::new();
        for o in &mut self.list {
            o.end(end, &mut notes)?;
        }
        self.forward(notes);
        Ok(())
    }
}
