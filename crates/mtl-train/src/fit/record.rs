//! The end of an epoch (validation, the selector's verdict, the `metrics.jsonl` record and the
//! lines that report it) and of a run (the best state on the validation and test splits, Δ over
//! the baselines, the summary).

use std::time::Instant;

use burn::module::Module;
use mtl_weighting::WeightingMethod;

use mtl_model::{parameter_count, parameter_count_of};

use super::epoch::EpochMeans;
use super::format::{loss_message, metric_message, named};
use super::observer::Observers;
use super::setup::Run;
use super::summary::RunSummary;
use crate::delta::{Delta, delta};
use crate::error::Error;
use crate::evaluate::{Evaluation, json_f64};
use crate::selection::Verdict;
use crate::step::TrainState;

/// An epoch's validation and what follows from it.
#[derive(Debug)]
pub(super) struct Validated {
    /// Losses and metrics of the epoch's last state on the validation split.
    pub valid: Evaluation,
    /// Δp/Δm over the baselines, when they exist and Δ is defined.
    pub delta: Option<Delta>,
    /// The selector's decision.
    pub verdict: Verdict,
    /// The epoch's `metrics.jsonl` line.
    pub record: serde_json::Value,
}

impl Run<'_> {
    /// Validate after epoch `epoch`, let the selector decide, and build the epoch's record.
    pub fn end_epoch(
        &mut self,
        state: &mut TrainState,
        epoch: usize,
        means: &EpochMeans,
        started: Instant,
        observers: &Observers,
    ) -> Result<Validated, Error> {
        self.check_finite(&means.losses, "training", epoch + 1)?;
        state.weighting.end_epoch(epoch, &means.losses);
        let batch = self.config.train.batch_size.max(256);
        let valid =
            self.valid_data.evaluate(&state.model.valid(), &self.config.tasks, batch, &self.eval_device)?;
        self.check_finite(&valid.losses, "validation", epoch + 1)?;
        let valid_delta = self
            .reference
            .as_ref()
            .and_then(|r| delta(&valid.baseline_scores(), &r.valid, &self.config.tasks).ok());
        self.meta.epochs_done = epoch + 1;
        self.meta.weighting_state = state.weighting.state();
        let verdict = self.selector.end_epoch(
            &mut self.meta.selection,
            &self.schedule,
            epoch,
            &valid,
            valid_delta.as_ref(),
        );
        let mut record = serde_json::json!({
            "epoch": epoch + 1,
            "step": self.meta.steps_done,
            "lr": self.lr,
            "wall_s": started.elapsed().as_secs_f64(),
            "train_s": means.train_s,
            "train": {
                "loss": named(&self.tasks, &means.losses),
                "weights": named(&self.tasks, &means.weights),
            },
            "valid": valid.to_json(&self.config.tasks),
            "monitor": json_f64(verdict.raw),
            "best_epoch": self.meta.selection.best_epoch,
        });
        for (key, value) in observers.epoch_fields() {
            record[key] = value;
        }
        if let Some(g) = &means.gradients {
            let t = self.tasks.len();
            record["train"]["gradients"] = serde_json::json!({
                "norm": named(&self.tasks, &g[..t]),
                "cos_mean": json_f64(g[t]),
                "cos_min": json_f64(g[t + 1]),
            });
        }
        if let Some(n) = means.reused_weight_steps {
            record["train"]["reused_weight_steps"] = n.into();
        }
        if let Some(labels) = self.config.model.architecture.gate_labels() {
            record["valid_gates"] = valid.gates_json(&self.config.tasks, &labels);
        }
        if let Some(d) = &valid_delta {
            record["valid_delta"] = serde_json::to_value(d).expect("numbers serialise");
        }
        Ok(Validated { valid, delta: valid_delta, verdict, record })
    }

    /// The lines that close an epoch: its losses and metrics, then any decision taken.
    pub fn epoch_notes(&self, epoch: usize, means: &EpochMeans, validated: &Validated) -> Vec<String> {
        let c = self.config;
        let monitor = self.selector.monitor.name(&c.tasks);
        let v = validated.verdict;
        let mut lines = vec![format!(
            "epoch {}/{}  train {}  valid {}{}{}",
            epoch + 1,
            c.train.epochs,
            loss_message(&self.tasks, &means.losses),
            metric_message(&c.tasks, &validated.valid),
            validated
                .delta
                .as_ref()
                .map_or(String::new(), |d| format!(" Δp={:+.2}% Δm={:+.2}%", d.delta_p, d.delta_m)),
            if v.improved { "  (best)" } else { "" }
        )];
        if let Some(n) = means.reused_weight_steps.filter(|n| *n > 0) {
            lines.push(format!(
                "{}: {n} of {} steps found no weights (0 lies in the convex hull of the task gradients) \
                 and reused the previous ones",
                c.weighting.name(),
                self.steps_per_epoch
            ));
        }
        if v.cut {
            let lr = self.schedule.lr(self.meta.steps_done, epoch + 1, &self.meta.selection.plateau);
            lines.push(format!("{monitor} stalled: learning rate cut to {lr:.3e} (reduce-on-plateau)"));
        }
        if self.meta.selection.stopped_early {
            lines.push(format!(
                "early stopping after epoch {}: {monitor} has not improved for {} epochs (best epoch {})",
                epoch + 1,
                self.selector.patience(),
                self.meta.selection.best_epoch
            ));
        }
        lines
    }

    fn check_finite(&self, losses: &[f64], split: &str, epoch: usize) -> Result<(), Error> {
        let Some(t) = losses.iter().position(|l| !l.is_finite()) else { return Ok(()) };
        let kept = match self.meta.epochs_done {
            0 => "no checkpoint was written yet".to_string(),
            e => format!(
                "the last good checkpoint (epoch {e}) is in `{}`",
                self.run_dir.join("checkpoints").join("last").display()
            ),
        };
        Err(Error::Diverged {
            epoch,
            what: format!("the {split} loss of task `{}` is {}", self.tasks[t].name, losses[t]),
            kept,
        })
    }

    /// Evaluate the best state (the last one when no epoch was best) and summarise the run;
    /// returns the summary, that state, and the line that reports the test metrics (when the
    /// run finished).
    pub(super) fn finish(
        &self,
        state: TrainState,
        started: Instant,
    ) -> Result<(RunSummary, TrainState, Option<String>), Error> {
        let (config, meta) = (self.config, &self.meta);
        let finished = meta.epochs_done >= config.train.epochs || meta.selection.stopped_early;
        let parameters = parameter_count(&state.model);
        let shared_parameters = parameter_count_of(&state.model, &state.model.shared_param_ids());
        let best_state = self.best_state.clone().unwrap_or(state);
        let best = best_state.model.valid();
        let batch = config.train.batch_size.max(256);
        let valid = self.valid_data.evaluate(&best, &config.tasks, batch, &self.eval_device)?;
        let test = match finished {
            true => Some(self.test_data.evaluate(&best, &config.tasks, batch, &self.eval_device)?),
            false => None,
        };
        let test_delta = match (&self.reference, &test) {
            (Some(r), Some(test)) => delta(&test.baseline_scores(), &r.test, &self.config.tasks).ok(),
            _ => None,
        };
        let delta_json = match (&self.reference, &test) {
            (Some(r), Some(_)) => {
                let v = delta(&valid.baseline_scores(), &r.valid, &self.config.tasks).ok();
                serde_json::json!({"valid": v, "test": test_delta, "baselines": r.run_dirs})
            }
            _ => serde_json::Value::Null,
        };
        let test_line = test.as_ref().map(|t| {
            let vs = test_delta.as_ref().map_or(String::new(), |d| {
                format!(
                    "  Δp={:+.2}% (↑) Δm={:+.2}% (↓) vs single-task{}",
                    d.delta_p,
                    d.delta_m,
                    left_out_note(d)
                )
            });
            format!(
                "test ({} epoch {}): {}{vs}",
                if config.train.select_last { "last" } else { "best" },
                meta.selection.best_epoch,
                metric_message(&config.tasks, t)
            )
        });
        let architecture = &config.model.architecture;
        let gate_labels = architecture.gate_labels();
        let summary = RunSummary {
            name: config.name.clone(),
            run_dir: self.run_dir.clone(),
            backend: self.options.device.description.clone(),
            seed: config.seed,
            epochs: config.train.epochs,
            epochs_done: meta.epochs_done,
            finished,
            stopped_early: meta.selection.stopped_early,
            monitor: self.selector.monitor.name(&config.tasks),
            select: config.train.select_last.then(|| "last".to_string()),
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
        };
        Ok((summary, best_state, test_line))
    }
}

/// ` (left out: …)` when metrics were left out of Δ as undefined, else nothing.
fn left_out_note(d: &crate::delta::Delta) -> String {
    if d.left_out.is_empty() {
        String::new()
    } else {
        format!(" (left out, undefined: {})", d.left_out.join(", "))
    }
}
