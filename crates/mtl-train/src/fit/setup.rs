//! What a run needs before its first step: the data splits, the training state (fresh or from
//! the `last` checkpoint), the optimizer, the schedule and the selector.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor};
use mtl_data::{MultiTaskDataset, Splits, TaskSpec, batch_indices};
use mtl_model::{parameter_count, parameter_count_of};
use mtl_weighting::WeightingMethod;

use super::epoch::EpochMeans;
use super::observer::{Observers, RunStart};
use crate::backend::SelectedDevice;
use crate::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use crate::config::{ConfigError, RunConfig, TaskConfig};
use crate::delta::delta;
use crate::error::{Error, io_error as io};
use crate::evaluate::{Evaluation, evaluate, json_f64};
use crate::optimizer::build_optimizer;
use crate::schedule::Schedule;
use crate::selection::{Selection, Selector, Verdict};
use crate::step::TrainState;
use crate::stl::{self, StlReference};

/// How to run a training.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Where to train.
    pub device: SelectedDevice,
    /// Run folder; default `<run.output_dir>/<run.name>`.
    pub run_dir: Option<PathBuf>,
    /// Continue the run in `run_dir` from its `last` checkpoint.
    pub resume: bool,
    /// Replace an existing run folder instead of refusing.
    pub overwrite: bool,
    /// Stop after this many epochs in total, as if interrupted (for tests and time-boxed runs).
    pub stop_after_epoch: Option<usize>,
    /// Single-task baselines to compare with; `None` looks them up by the config's key in
    /// `<run.output_dir>/stl/` (see [`crate::stl`]).
    pub reference: Option<StlReference>,
}

impl FitOptions {
    /// A fresh run on `device` into the config's run folder.
    pub fn new(device: SelectedDevice) -> Self {
        Self {
            device,
            run_dir: None,
            resume: false,
            overwrite: false,
            stop_after_epoch: None,
            reference: None,
        }
    }
}

/// Build the data splits of a run (only the trained tasks' columns for a single-task or a
/// task-group run).
pub fn prepare_data(config: &RunConfig) -> Result<Splits, Error> {
    let specs: Vec<_> = config.data_tasks.iter().map(|t| t.spec.clone()).collect();
    let splits = config.data.splits(&specs, &config.split, config.seed)?;
    if let mtl_model::encoder::EncoderConfig::Tabular(t) = config.model.architecture.encoder() {
        for (part, split) in [(&splits.train, "train"), (&splits.valid, "valid"), (&splits.test, "test")] {
            part.check_categories(&t.categorical, &t.cardinalities, split)?;
        }
    }
    let picked = match (&config.single_task, &config.subset) {
        (Some(t), _) => vec![*t],
        (None, Some(s)) => s.clone(),
        (None, None) => return Ok(splits),
    };
    Ok(Splits {
        train: splits.train.select_tasks(&picked),
        valid: splits.valid.select_tasks(&picked),
        test: splits.test.select_tasks(&picked),
    })
}

/// The training split with each task's class weights folded into its label masks (the masked
/// loss Σ m_i·ℓ_i / Σ m_i then becomes the class-weighted mean), and the weights used per task
/// (`None` for unweighted tasks). Weights are computed from the training split's class counts.
/// Without class weights the split is borrowed, not copied.
pub fn weight_classes<'a>(
    train: &'a MultiTaskDataset,
    tasks: &[TaskConfig],
) -> (Cow<'a, MultiTaskDataset>, Vec<Option<Vec<f64>>>) {
    if tasks.iter().all(|t| t.class_weights.is_none()) {
        return (Cow::Borrowed(train), vec![None; tasks.len()]);
    }
    let mut weighted = train.clone();
    let used = weight_classes_in_place(&mut weighted, tasks);
    (Cow::Owned(weighted), used)
}

/// [`weight_classes`] on an owned split, without a copy.
fn weight_classes_in_place(train: &mut MultiTaskDataset, tasks: &[TaskConfig]) -> Vec<Option<Vec<f64>>> {
    let mut used = Vec::with_capacity(tasks.len());
    for (t, task) in tasks.iter().enumerate() {
        let Some(spec) = &task.class_weights else {
            used.push(None);
            continue;
        };
        let classes = task.spec.kind.output_dim().max(2);
        let w = spec.values(&train.class_counts(t, classes));
        let targets = &train.targets[t];
        for (m, y) in train.masks[t].iter_mut().zip(targets) {
            *m *= w[*y as usize] as f32;
        }
        used.push(Some(w));
    }
    used
}

/// A fresh, fully initialised training state on `device` (autodiff), seeded by the run seed.
pub fn init_state(config: &RunConfig, device: &Device) -> TrainState {
    device.seed(config.seed);
    let state = TrainState {
        model: config.model.init(device),
        weighting: config.weighting.init(config.tasks.len(), device),
    };
    // Parameters are initialised lazily; draw them now, in a fixed order, so later seeding
    // (dropout) cannot change them.
    state.visit(&mut Materialize);
    state
}

struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Everything the loop carries from epoch to epoch.
pub(super) struct Run<'c> {
    pub config: &'c RunConfig,
    pub options: &'c FitOptions,
    pub run_dir: PathBuf,
    pub train_data: MultiTaskDataset,
    pub valid_data: MultiTaskDataset,
    pub test_data: MultiTaskDataset,
    pub class_weights: Vec<Option<Vec<f64>>>,
    pub tasks: Vec<TaskSpec>,
    pub names: Vec<String>,
    pub device: Device,
    pub eval_device: Device,
    pub optim: ModuleOptimizer,
    pub meta: CheckpointMeta,
    pub best_state: Option<TrainState>,
    pub reference: Option<StlReference>,
    pub selector: Selector,
    pub schedule: Schedule,
    pub steps_per_epoch: usize,
    pub last_epoch: usize,
    pub lr: f64,
}

impl<'c> Run<'c> {
    /// Check the data, find the baselines, prepare the folder, and build or restore the state.
    pub fn new(config: &'c RunConfig, options: &'c FitOptions) -> Result<(Self, TrainState), Error> {
        let run_dir = options.run_dir.clone().unwrap_or_else(|| config.run_dir());
        let splits = prepare_data(config)?;
        check_labelled(&splits)?;
        let Splits { train: mut train_data, valid: valid_data, test: test_data } = splits;
        let reference = match &options.reference {
            Some(r) => Some(r.clone()),
            None => stl::find_reference(config)?,
        };
        let mut selector = Selector::new(config, reference.as_ref())?;
        prepare_run_dir(&run_dir, options)?;
        let device = options.device.device.clone().autodiff();
        let mut state = init_state(config, &device);
        let mut optim = build_optimizer(&config.train.optimizer);
        let mut meta = CheckpointMeta {
            format_version: FORMAT_VERSION,
            epochs_done: 0,
            steps_done: 0,
            selection: Selection::default(),
            seed: config.seed,
            weighting_state: serde_json::Value::Null,
        };
        if options.resume {
            (state, optim, meta) = resume(&run_dir, state, optim)?;
            selector.resume(config, &meta.selection)?;
        }
        meta.selection.monitor = selector.monitor.name(&config.tasks);
        let class_weights = weight_classes_in_place(&mut train_data, &config.tasks);
        let steps_per_epoch = steps_per_epoch(config, train_data.len())?;
        let train = &config.train;
        let schedule = Schedule {
            lr: train.lr,
            kind: train.schedule,
            warmup_steps: (train.warmup_epochs * steps_per_epoch as f64).round() as usize,
            total_steps: train.epochs * steps_per_epoch,
        };
        let best_state = if meta.selection.best_epoch > 0 {
            let fresh = init_state(config, &device);
            Some(
                checkpoint::load(
                    &run_dir.join("checkpoints/best"),
                    fresh,
                    build_optimizer(&train.optimizer),
                )?
                .0,
            )
        } else {
            None
        };
        let lr = schedule.lr(meta.steps_done, meta.epochs_done, &meta.selection.plateau);
        let run = Self {
            config,
            options,
            run_dir,
            train_data,
            valid_data,
            test_data,
            class_weights,
            tasks: config.task_specs(),
            names: config.task_names(),
            eval_device: options.device.device.clone(),
            device,
            optim,
            meta,
            best_state,
            reference,
            selector,
            schedule,
            steps_per_epoch,
            last_epoch: options.stop_after_epoch.map_or(train.epochs, |s| s.min(train.epochs)),
            lr,
        };
        Ok((run, state))
    }

    pub fn start_event(&self) -> RunStart<'_> {
        RunStart {
            config: self.config,
            run_dir: &self.run_dir,
            resumed: self.options.resume,
            epochs_done: self.meta.epochs_done,
            steps_per_epoch: self.steps_per_epoch,
            epochs: self.config.train.epochs,
            tasks: &self.tasks,
        }
    }

    /// The lines that open a run: what is trained where, and how.
    pub fn banner(&self, state: &TrainState) -> Vec<String> {
        let c = self.config;
        let parameters = parameter_count(&state.model);
        let shared = parameter_count_of(&state.model, &state.model.shared_param_ids());
        let mut lines = vec![format!(
            "training `{}` on {} — {} tasks, {} on a {} encoder, {parameters} parameters ({shared} shared), {} train / {} valid / {} test samples, {} via {}, selecting on {}",
            c.name,
            self.options.device.description,
            self.tasks.len(),
            c.model.architecture.name(),
            c.model.architecture.encoder().name(),
            self.train_data.len(),
            self.valid_data.len(),
            self.test_data.len(),
            c.weighting.name(),
            c.weighting_input.name(),
            self.selector.monitor.name(&c.tasks),
        )];
        lines.extend(self.selector.note.as_ref().map(|n| format!("note: {n}")));
        for (task, w) in self.tasks.iter().zip(&self.class_weights) {
            if let Some(w) = w {
                let w: Vec<String> = w.iter().map(|v| format!("{v:.3}")).collect();
                lines.push(format!("class weights of `{}`: [{}]", task.name, w.join(", ")));
            }
        }
        if let Some(groups) = &self.train_data.groups {
            let sizes: Vec<usize> =
                (0..self.tasks.len()).map(|t| groups.iter().filter(|&&s| s == t).count()).collect();
            let p = c.sampling.probabilities(&sizes);
            let shares: Vec<String> = (self.tasks.iter().zip(&sizes).zip(&p))
                .map(|((t, n), p)| format!("{} {n} samples → {:.1}%", t.name, p * 100.0))
                .collect();
            lines.push(format!("multi-input sampling ({:?}): {}", c.sampling, shares.join(", ")));
        }
        lines
    }

    /// Validate after epoch `epoch`, let the selector decide, and build the epoch's record.
    pub fn end_epoch(
        &mut self,
        state: &mut TrainState,
        epoch: usize,
        means: &EpochMeans,
        started: Instant,
        observers: &Observers,
    ) -> Result<(Evaluation, Verdict, serde_json::Value), Error> {
        self.check_finite(&means.losses, "training", epoch + 1)?;
        state.weighting.end_epoch(epoch, &means.losses);
        let batch = self.config.train.batch_size.max(256);
        let valid =
            evaluate(&state.model.valid(), &self.valid_data, &self.config.tasks, batch, &self.eval_device);
        self.check_finite(&valid.losses, "validation", epoch + 1)?;
        let valid_delta =
            self.reference.as_ref().and_then(|r| delta(&valid.metrics, &r.valid, &self.names).ok());
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
        if let Some(labels) = self.config.model.architecture.gate_labels() {
            record["valid_gates"] = valid.gates_json(&self.config.tasks, &labels);
        }
        if let Some(d) = &valid_delta {
            record["valid_delta"] = serde_json::to_value(d).expect("numbers serialise");
        }
        Ok((valid, verdict, record))
    }

    /// The lines that close an epoch: its losses and metrics, then any decision taken.
    pub fn epoch_notes(
        &self,
        epoch: usize,
        means: &EpochMeans,
        valid: &Evaluation,
        v: Verdict,
    ) -> Vec<String> {
        let c = self.config;
        let monitor = self.selector.monitor.name(&c.tasks);
        let valid_delta =
            self.reference.as_ref().and_then(|r| delta(&valid.metrics, &r.valid, &self.names).ok());
        let mut lines = vec![format!(
            "epoch {}/{}  train {}  valid {}{}{}",
            epoch + 1,
            c.train.epochs,
            loss_message(&self.tasks, &means.losses),
            metric_message(&c.tasks, valid),
            valid_delta.map_or(String::new(), |d| format!(" Δp={:+.2}% Δm={:+.2}%", d.delta_p, d.delta_m)),
            if v.improved { "  (best)" } else { "" }
        )];
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
}

/// Every task needs a labelled sample in the training and validation splits.
fn check_labelled(splits: &Splits) -> Result<(), Error> {
    for (part, name) in [(&splits.train, "training"), (&splits.valid, "validation")] {
        if let Some(t) = (0..part.num_tasks()).find(|&t| part.masks[t].iter().all(|m| *m == 0.0)) {
            return Err(Error::Data(mtl_data::DataError::InvalidSetting {
                key: "data".into(),
                message: format!(
                    "task `{}` has no labelled sample in the {name} split ({} samples); add labels or change the split (`mtl data CONFIG` shows the counts)",
                    part.tasks[t].name,
                    part.len()
                ),
            }));
        }
    }
    Ok(())
}

fn steps_per_epoch(config: &RunConfig, n_train: usize) -> Result<usize, Error> {
    let train = &config.train;
    let steps = batch_indices(&(0..n_train).collect::<Vec<_>>(), train.batch_size, train.drop_last).len();
    if steps > 0 {
        return Ok(steps);
    }
    Err(Error::Config(ConfigError::Invalid {
        path: config.source.clone(),
        key: "train.batch_size".into(),
        message: format!(
            "{} is larger than the {n_train} training samples and drop_last is set",
            train.batch_size
        ),
    }))
}

fn prepare_run_dir(dir: &Path, options: &FitOptions) -> Result<(), Error> {
    let occupied = dir.join("metrics.jsonl").exists() || dir.join("checkpoints").exists();
    if occupied && !options.resume {
        if !options.overwrite {
            return Err(Error::RunDir {
                path: dir.to_path_buf(),
                message: "already holds a run; continue it with `mtl train --resume DIR`, replace it with \
                          --overwrite, or choose another `run.name` (e.g. --set run.name=NEW) or --out"
                    .into(),
            });
        }
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    if options.resume && !dir.join("checkpoints").exists() {
        return Err(Error::RunDir {
            path: dir.to_path_buf(),
            message: "has no checkpoints to resume from; check the path, or start the run without --resume"
                .into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// The state, optimizer and meta of the run's `last` checkpoint.
fn resume(
    run_dir: &Path,
    state: TrainState,
    optim: ModuleOptimizer,
) -> Result<(TrainState, ModuleOptimizer, CheckpointMeta), Error> {
    let last = run_dir.join("checkpoints").join("last");
    let (mut state, optim, meta) = checkpoint::load(&last, state, optim)?;
    state
        .weighting
        .load_state(&meta.weighting_state)
        .map_err(|message| checkpoint::CheckpointError::Corrupt { path: last.join("state.json"), message })?;
    Ok((state, optim, meta))
}

/// `{task: value}` for the logs.
pub(super) fn named(tasks: &[TaskSpec], values: &[f64]) -> serde_json::Value {
    tasks
        .iter()
        .zip(values)
        .map(|(t, v)| (t.name.clone(), json_f64(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `a=0.1234 b=0.5678`.
pub(super) fn loss_message(tasks: &[TaskSpec], losses: &[f64]) -> String {
    tasks.iter().zip(losses).map(|(t, l)| format!("{}={l:.4}", t.name)).collect::<Vec<_>>().join(" ")
}

/// `a[mse=0.1 r2=0.9] b[…]`.
pub(super) fn metric_message(tasks: &[TaskConfig], e: &Evaluation) -> String {
    tasks
        .iter()
        .zip(&e.metrics)
        .map(|(t, ms)| {
            let values: Vec<String> = ms.iter().map(|(k, v)| format!("{}={v:.4}", k.name())).collect();
            format!("{}[{}]", t.spec.name, values.join(" "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use mtl_data::{TaskKind, TaskSpec};

    use super::*;
    use crate::config::ClassWeights;

    #[test]
    fn balanced_class_weights_by_hand() {
        // Labelled classes 0, 0, 0, 1 (the fifth sample is unlabelled): n = 4, K = 2,
        // w = n / (K·n_k) = [4/6, 4/2].
        let data = MultiTaskDataset {
            features: vec![0.0; 5],
            num_features: 1,
            tasks: vec![TaskSpec { name: "b".into(), kind: TaskKind::Binary }],
            targets: vec![vec![0.0, 0.0, 1.0, 0.0, 1.0]],
            masks: vec![vec![1.0, 1.0, 1.0, 1.0, 0.0]],
            groups: None,
        };
        let task = |w| TaskConfig { spec: data.tasks[0].clone(), metrics: Vec::new(), class_weights: w };
        let (weighted, used) = weight_classes(&data, &[task(Some(ClassWeights::Balanced))]);
        let w = used[0].clone().unwrap();
        assert!((w[0] - 4.0 / 6.0).abs() < 1e-12 && (w[1] - 2.0).abs() < 1e-12, "{w:?}");
        let m: Vec<f32> = [w[0], w[0], w[1], w[0], 0.0].iter().map(|v| *v as f32).collect();
        assert_eq!(weighted.masks[0], m, "an unlabelled sample stays at 0");
        let (same, used) = weight_classes(&data, &[task(None)]);
        assert!(matches!(same, Cow::Borrowed(_)), "no copy without class weights");
        assert_eq!((same.into_owned(), used), (data.clone(), vec![None]));
    }
}
