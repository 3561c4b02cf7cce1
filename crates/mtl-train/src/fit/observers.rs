//! The library's observers: what a run writes into its folder. The app adds progress and
//! plots; a run that should write nothing (a data-parallel rank other than 0, a test) passes
//! fewer.

use std::path::PathBuf;
use std::time::Instant;

use super::format::named;
use super::observer::{EpochEnd, Observer, Observers, RunEnd, RunStart, StepEnd, StepStart};
use crate::affinity::{AffinityTracker, measure};
use crate::checkpoint;
use crate::config::{AffinityPlan, RunConfig};
use crate::error::Error;
use crate::io::{append_json_line, atomic_write, truncate_epochs};
use crate::metrics::host_values;
use crate::predict::InputSchema;

/// Everything a run writes into its folder: the run record (config, inputs, summary), the
/// metrics log, the step log (written with `weighting.log_steps`), the checkpoints and, with
/// `affinity.every`, the affinity measurement.
pub fn writers<'a>(config: &RunConfig) -> Observers<'a> {
    let mut o = Observers::none().with(RunRecord).with(MetricsLog::default());
    o.push(StepLog::new(config.log_steps));
    o.push(Checkpointer::default());
    if let Some(plan) = config.affinity {
        o.push(AffinityProbe::new(config.task_names(), plan));
    }
    o
}

/// `config.toml` (the resolved config, `--set` overrides included) and `inputs.json` at the
/// start; `summary.json` at the end.
#[derive(Debug, Default)]
pub struct RunRecord;

impl Observer for RunRecord {
    fn start(&mut self, run: &RunStart, _notes: &mut Vec<String>) -> Result<(), Error> {
        atomic_write(&run.run_dir.join("config.toml"), run.config.toml.as_bytes())?;
        InputSchema::for_config(run.config).with_targets(run.config, run.target_scales).save(run.run_dir)
    }

    fn end(&mut self, end: &RunEnd, _notes: &mut Vec<String>) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(end.summary).expect("summary serialises");
        atomic_write(&end.run_dir.join("summary.json"), &json)
    }
}

/// `metrics.jsonl`: one line per epoch. On a resume, lines past the checkpoint are dropped.
#[derive(Debug, Default)]
pub struct MetricsLog {
    path: PathBuf,
}

impl Observer for MetricsLog {
    fn start(&mut self, run: &RunStart, _notes: &mut Vec<String>) -> Result<(), Error> {
        self.path = run.run_dir.join("metrics.jsonl");
        if run.resumed {
            truncate_epochs(&self.path, run.epochs_done)?;
        }
        Ok(())
    }

    fn after_epoch(&mut self, epoch: &EpochEnd) -> Result<(), Error> {
        append_json_line(&self.path, epoch.record)
    }
}

/// `steps.jsonl`: every step's task weights, losses and learning rate (one host read a step),
/// when `weighting.log_steps` asks for it. On a resume, lines past the checkpoint are dropped
/// either way, so a log written before the interruption never runs ahead of the metrics.
#[derive(Debug, Default)]
pub struct StepLog {
    path: PathBuf,
    tasks: Vec<mtl_data::TaskSpec>,
    write: bool,
}

impl StepLog {
    /// A step log that writes when `write` is set.
    pub fn new(write: bool) -> Self {
        Self { write, ..Self::default() }
    }
}

impl Observer for StepLog {
    fn start(&mut self, run: &RunStart, _notes: &mut Vec<String>) -> Result<(), Error> {
        self.path = run.run_dir.join("steps.jsonl");
        self.tasks = run.tasks.to_vec();
        if run.resumed {
            truncate_epochs(&self.path, run.epochs_done)?;
        }
        Ok(())
    }

    fn after_step(&mut self, step: &StepEnd) -> Result<(), Error> {
        if !self.write {
            return Ok(());
        }
        let line = serde_json::json!({
            "epoch": step.epoch + 1,
            "step": step.step,
            "lr": step.lr,
            "loss": named(&self.tasks, &host_values(step.report.losses.clone())),
            "weights": named(&self.tasks, &host_values(step.report.weights.clone())),
        });
        append_json_line(&self.path, &line)
    }
}

/// `checkpoints/best/` when an epoch improves the monitor, and `checkpoints/last/` every epoch,
/// each written atomically.
#[derive(Debug, Default)]
pub struct Checkpointer {
    dir: PathBuf,
}

impl Checkpointer {
    fn save(&self, which: &str, epoch: &EpochEnd) -> Result<(), Error> {
        Ok(checkpoint::save(&self.dir.join(which), epoch.state, epoch.optim, epoch.meta)?)
    }
}

impl Observer for Checkpointer {
    fn start(&mut self, run: &RunStart, _notes: &mut Vec<String>) -> Result<(), Error> {
        self.dir = run.run_dir.join("checkpoints");
        Ok(())
    }

    fn after_epoch(&mut self, epoch: &EpochEnd) -> Result<(), Error> {
        if epoch.improved {
            self.save("best", epoch)?;
        }
        self.save("last", epoch)
    }
}

/// Task affinity measured on the batch of every `every`-th step (of the first `until`, when
/// set), before its update (`[affinity]`); `affinity.json` at the end. A resumed run averages
/// the steps of this invocation only.
#[derive(Debug)]
pub struct AffinityProbe {
    every: usize,
    until: Option<usize>,
    tracker: AffinityTracker,
}

impl AffinityProbe {
    /// Measure as `plan` says.
    pub fn new(tasks: Vec<String>, plan: AffinityPlan) -> Self {
        Self { every: plan.every, until: plan.until, tracker: AffinityTracker::new(tasks, plan.lookahead_lr) }
    }
}

impl Observer for AffinityProbe {
    fn before_step(&mut self, step: &StepStart) -> Result<(), Error> {
        let measured_part = self.until.is_none_or(|until| step.step < until);
        if measured_part && step.step.is_multiple_of(self.every) {
            let started = Instant::now();
            let measured = measure(&step.state.model, step.batch, step.tasks, self.tracker.lr());
            self.tracker.add(step.step, &measured, started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    fn epoch_fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![(
            "affinity",
            serde_json::json!({"steps": self.tracker.steps(), "seconds": self.tracker.seconds()}),
        )]
    }

    fn end(&mut self, end: &RunEnd, notes: &mut Vec<String>) -> Result<(), Error> {
        self.tracker.report().save(end.run_dir)?;
        self.tracker.save_steps(end.run_dir)?;
        let t = &self.tracker;
        notes.push(format!(
            "affinity: {} steps measured (every {}), {:.1} s = {:.0} % of the {:.1} s run; RUN_DIR/affinity.json",
            t.steps(),
            self.every,
            t.seconds(),
            100.0 * t.seconds() / end.wall_s.max(1e-9),
            end.wall_s
        ));
        Ok(())
    }
}
