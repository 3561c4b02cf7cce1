//! Model selection: the monitored value, the best epoch, reduce-on-plateau and early stopping,
//! decided in one place whose state ([`Selection`]) lives in the checkpoint, so a resumed run
//! replays the same decisions as an uninterrupted one.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Monitor, RunConfig};
use crate::delta::{Delta, delta};
use crate::error::Error;
use crate::evaluate::Evaluation;
use crate::schedule::{EarlyStopping, PlateauState, Schedule};
use crate::stl::StlReference;

/// What the selector has decided so far; saved with every checkpoint (flattened into
/// `state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Epoch (1-based) of the best value of `train.monitor` so far.
    pub best_epoch: usize,
    /// Validation loss (sum of task losses) of that epoch.
    pub best_valid_loss: f64,
    /// Best value of `train.monitor` so far, in "higher is better" form.
    #[serde(default)]
    pub best_monitor: Option<f64>,
    /// Reduce-on-plateau state.
    #[serde(default)]
    pub plateau: PlateauState,
    /// Whether early stopping ended the run.
    #[serde(default)]
    pub stopped_early: bool,
    /// The resolved `train.monitor` the run selects on (kept across resumes).
    #[serde(default)]
    pub monitor: String,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            best_epoch: 0,
            best_valid_loss: f64::INFINITY,
            best_monitor: None,
            plateau: PlateauState::default(),
            stopped_early: false,
            monitor: String::new(),
        }
    }
}

/// One epoch's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The monitored value as written in the logs.
    pub raw: f64,
    /// Whether the epoch is the best so far.
    pub improved: bool,
    /// Whether reduce-on-plateau cut the learning rate.
    pub cut: bool,
}

/// The decisions of a run: which value is monitored, and what follows from it each epoch.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The monitor, `auto` resolved.
    pub monitor: Monitor,
    /// A note for the log when a resumed run keeps a monitor other than the config's.
    pub note: Option<String>,
    early: EarlyStopping,
    epochs: usize,
    /// `train.select = "last"`: every epoch replaces the selected one.
    last: bool,
}

impl Selector {
    /// The selector of `config`, its monitor checked against the baselines found.
    pub fn new(config: &RunConfig, reference: Option<&StlReference>) -> Result<Self, Error> {
        Ok(Self {
            monitor: resolve_monitor(config, reference)?,
            note: None,
            early: config.train.early_stopping,
            epochs: config.train.epochs,
            last: config.train.select_last,
        })
    }

    /// On a resume: keep the monitor the run started with (a run begun when `auto` still chose
    /// Δp where baselines existed keeps it; an explicit change is refused, since values of two
    /// monitors cannot be compared).
    pub fn resume(&mut self, config: &RunConfig, started: &Selection) -> Result<(), Error> {
        let resolved = self.monitor;
        self.monitor = keep_monitor(config, &started.monitor, resolved)?;
        if self.monitor != resolved {
            self.note = Some(format!(
                "the run began selecting on {} (chosen by `auto` before it meant the loss) and keeps doing so",
                self.monitor.name(&config.tasks)
            ));
        }
        Ok(())
    }

    /// Decide after epoch `epoch` (0-based): update `state` with the epoch's validation.
    pub fn end_epoch(
        &self,
        state: &mut Selection,
        schedule: &Schedule,
        epoch: usize,
        valid: &Evaluation,
        valid_delta: Option<&Delta>,
    ) -> Verdict {
        let (raw, score) = monitor_value(self.monitor, valid, valid_delta);
        let improved = self.last || self.early.improves(score, state.best_monitor);
        if improved {
            state.best_epoch = epoch + 1;
            state.best_monitor = Some(score);
            state.best_valid_loss = valid.total_loss();
        }
        let cut = schedule.end_epoch(&mut state.plateau, score);
        state.stopped_early = epoch + 1 < self.epochs && self.early.should_stop(epoch + 1, state.best_epoch);
        Verdict { raw, improved, cut }
    }

    /// The best value in the monitor's own sign (for the summary).
    pub fn best_raw(&self, state: &Selection) -> Option<f64> {
        state.best_monitor.map(|s| match self.monitor {
            Monitor::Auto | Monitor::Loss | Monitor::DeltaM => -s,
            Monitor::Metric { metric, .. } if !metric.higher_is_better() => -s,
            _ => s,
        })
    }

    /// Epochs without improvement that end the run (0 when early stopping is off).
    pub fn patience(&self) -> usize {
        self.early.patience.unwrap_or(0)
    }
}

/// The monitor with `auto` resolved (the validation loss, whatever baselines exist), checked
/// against the baselines available.
fn resolve_monitor(config: &RunConfig, reference: Option<&StlReference>) -> Result<Monitor, Error> {
    let usable = reference.map(|r| delta(&r.valid, &r.valid, &config.tasks));
    let invalid = |message: String| {
        Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "train.monitor".into(),
            message,
        })
    };
    match (config.train.monitor, usable) {
        // The config alone decides: baselines that happen to exist do not change the selection.
        (Monitor::Auto, _) => Ok(Monitor::Loss),
        (Monitor::DeltaP | Monitor::DeltaM, None) => Err(invalid(
            "needs the single-task baselines of this config; train them first with `mtl train --single-task CONFIG` \
             (or use `mtl compare`, which trains them), or use \"loss\""
                .into(),
        )),
        (Monitor::DeltaP | Monitor::DeltaM, Some(Err(e))) => Err(invalid(format!("Δ is undefined: {e}; use \"loss\""))),
        (m, _) => Ok(m),
    }
}

/// On a resume, the monitor the run started with: values of different monitors cannot be
/// compared, so a run begun on Δp or Δm under the earlier `auto` keeps it, and an explicit
/// change is refused.
fn keep_monitor(config: &RunConfig, started: &str, now: Monitor) -> Result<Monitor, Error> {
    let name = now.name(&config.tasks);
    if started.is_empty() || started == name {
        return Ok(now);
    }
    match (config.train.monitor, started) {
        // Runs begun when `auto` picked Δp (or Δm) where baselines existed keep it.
        (Monitor::Auto, "delta_p") => Ok(Monitor::DeltaP),
        (Monitor::Auto, "delta_m") => Ok(Monitor::DeltaM),
        _ => Err(Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "train.monitor".into(),
            message: format!(
                "the run selected its best epoch on {started} and would now use {name}; values of the two \
                 cannot be compared, so resume with train.monitor = \"{started}\" or start a new run"
            ),
        })),
    }
}

/// The monitored value as written (`raw`) and in "higher is better" form (`score`).
fn monitor_value(monitor: Monitor, e: &Evaluation, d: Option<&Delta>) -> (f64, f64) {
    match monitor {
        Monitor::Auto | Monitor::Loss => (e.total_loss(), -e.total_loss()),
        Monitor::DeltaP => {
            let v = d.map_or(f64::NAN, |d| d.delta_p);
            (v, v)
        }
        // Δm is published lower-is-better.
        Monitor::DeltaM => {
            let v = d.map_or(f64::NAN, |d| d.delta_m);
            (v, -v)
        }
        Monitor::Metric { task, metric } => {
            let v = e.metrics[task].iter().find(|(k, _)| *k == metric).map_or(f64::NAN, |(_, v)| *v);
            (v, if metric.higher_is_better() { v } else { -v })
        }
    }
}
