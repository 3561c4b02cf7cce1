//! The training loop: epochs of seeded batches, per-epoch validation, checkpoints, logs, and
//! the final test evaluation of the best checkpoint.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use mtl_data::{MultiTaskBatch, MultiTaskDataset, Splits, batch_indices, epoch_permutation, sampled_epoch};
use mtl_model::{parameter_count, parameter_count_of};
use mtl_weighting::{StepContext, WeightingMethod};
use serde::Serialize;

use crate::affinity::AffinityTracker;
use crate::backend::SelectedDevice;
use crate::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use crate::config::{ConfigError, Monitor, RunConfig, TaskConfig};
use crate::delta::{Delta, delta};
use crate::error::{Error, io};
use crate::evaluate::{Evaluation, evaluate, json_f64};
use crate::grads::clip_global_norm;
use crate::io::{append_json_line, atomic_write, truncate_epochs};
use crate::metrics::host_values;
use crate::optimizer::build_optimizer;
use crate::plots::plot_run;
use crate::predict::InputSchema;
use crate::progress::Progress;
use crate::schedule::{PlateauState, Schedule};
use crate::step::{TrainState, batch_losses, inner_batch, train_step};
use crate::stl::{self, StlReference};

/// How to run a training.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Where to train.
    pub device: SelectedDevice,
    /// No progress output.
    pub quiet: bool,
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
    let mut weighted = Cow::Borrowed(train);
    let mut used = Vec::with_capacity(tasks.len());
    for (t, task) in tasks.iter().enumerate() {
        let Some(spec) = &task.class_weights else {
            used.push(None);
            continue;
        };
        let classes = task.spec.kind.output_dim().max(2);
        let w = spec.values(&train.class_counts(t, classes));
        for (m, y) in weighted.to_mut().masks[t].iter_mut().zip(&train.targets[t]) {
            *m *= w[*y as usize] as f32;
        }
        used.push(Some(w));
    }
    (weighted, used)
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

/// The backend seed of epoch `epoch` (dropout masks), derived from the run seed.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    // SplitMix64 step: decorrelates consecutive epochs.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(epoch as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn prepare_run_dir(dir: &Path, options: &TrainOptions) -> Result<(), Error> {
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

/// The monitor with `auto` resolved, checked against the baselines available.
fn resolve_monitor(
    config: &RunConfig,
    reference: Option<&StlReference>,
) -> Result<(Monitor, Option<String>), Error> {
    let names = task_names(config);
    let usable = reference.map(|r| delta(&r.valid, &r.valid, &names));
    let invalid = |message: String| {
        Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "train.monitor".into(),
            message,
        })
    };
    match (config.train.monitor, usable) {
        (Monitor::Auto, Some(Ok(_))) => Ok((Monitor::DeltaP, None)),
        (Monitor::Auto, Some(Err(e))) => {
            Ok((Monitor::Loss, Some(format!("single-task baselines found, but Δ is undefined ({e}); selecting on the loss"))))
        }
        (Monitor::Auto, None) => Ok((Monitor::Loss, None)),
        (Monitor::DeltaP | Monitor::DeltaM, None) => Err(invalid(
            "needs the single-task baselines of this config; train them first with `mtl train --single-task CONFIG` \
             (or use `mtl compare`, which trains them), or use \"loss\""
                .into(),
        )),
        (Monitor::DeltaP | Monitor::DeltaM, Some(Err(e))) => Err(invalid(format!("Δ is undefined: {e}; use \"loss\""))),
        (m, _) => Ok((m, None)),
    }
}

/// On a resume, the monitor the run started with: values of different monitors cannot be
/// compared, so `auto` keeps its first resolution (e.g. `loss` even if baselines appeared
/// since), and an explicit change is refused.
fn keep_monitor(config: &RunConfig, meta: &CheckpointMeta, now: Monitor) -> Result<Monitor, Error> {
    let name = now.name(&config.tasks);
    if meta.monitor.is_empty() || meta.monitor == name {
        return Ok(now);
    }
    match (config.train.monitor, meta.monitor.as_str()) {
        (Monitor::Auto, "loss") => Ok(Monitor::Loss),
        _ => Err(Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "train.monitor".into(),
            message: format!(
                "the run selected its best epoch on {} and would now use {name}; values of the two \
                 cannot be compared, so resume with train.monitor = \"{}\" or start a new run",
                meta.monitor, meta.monitor
            ),
        })),
    }
}

fn task_names(config: &RunConfig) -> Vec<String> {
    config.tasks.iter().map(|t| t.spec.name.clone()).collect()
}

/// The monitored value as written (`raw`) and in "higher is better" form (`score`).
fn monitor_value(monitor: Monitor, e: &Evaluation, d: Option<&Delta>) -> (f64, f64) {
    match monitor {
        Monitor::Auto | Monitor::Loss => (e.total_loss(), -e.total_loss()),
        Monitor::DeltaP => {
            let v = d.map_or(f64::NAN, |d| d.delta_p);
            (v, v)
        }
        Monitor::DeltaM => {
            let v = d.map_or(f64::NAN, |d| d.delta_m);
            (v, v)
        }
        Monitor::Metric { task, metric } => {
            let v = e.metrics[task].iter().find(|(k, _)| *k == metric).map_or(f64::NAN, |(_, v)| *v);
            (v, if metric.higher_is_better() { v } else { -v })
        }
    }
}

/// Train `config` as `options` say, writing the run folder. Returns the summary.
pub fn train(config: &RunConfig, options: &TrainOptions) -> Result<RunSummary, Error> {
    let started = Instant::now();
    let run_dir = options.run_dir.clone().unwrap_or_else(|| config.run_dir());
    let splits = prepare_data(config)?;
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
    let reference = match &options.reference {
        Some(r) => Some(r.clone()),
        None => stl::find_reference(config)?,
    };
    let (mut monitor, mut monitor_note) = resolve_monitor(config, reference.as_ref())?;
    prepare_run_dir(&run_dir, options)?;
    let ckpt_dir = run_dir.join("checkpoints");
    let metrics_path = run_dir.join("metrics.jsonl");
    let steps_path = run_dir.join("steps.jsonl");

    let device = options.device.device.clone().autodiff();
    let eval_device = options.device.device.clone();
    let tasks = config.task_specs();
    let names = task_names(config);
    let t_count = tasks.len();

    let mut state = init_state(config, &device);
    let mut optim = build_optimizer(&config.train.optimizer);
    let mut meta = CheckpointMeta {
        format_version: FORMAT_VERSION,
        epochs_done: 0,
        steps_done: 0,
        best_epoch: 0,
        best_valid_loss: f64::INFINITY,
        seed: config.seed,
        weighting_state: serde_json::Value::Null,
        best_monitor: None,
        plateau: PlateauState::default(),
        stopped_early: false,
        monitor: String::new(),
    };
    if options.resume {
        let (s, o, m) = checkpoint::load(&ckpt_dir.join("last"), state, optim)?;
        state = s;
        optim = o;
        meta = m;
        state.weighting.load_state(&meta.weighting_state).map_err(|message| {
            checkpoint::CheckpointError::Corrupt { path: ckpt_dir.join("last/state.json"), message }
        })?;
        truncate_epochs(&metrics_path, meta.epochs_done)?;
        truncate_epochs(&steps_path, meta.epochs_done)?;
        let resolved = monitor;
        monitor = keep_monitor(config, &meta, monitor)?;
        if monitor != resolved {
            monitor_note = Some(format!(
                "the run began selecting on {} (before baselines existed) and keeps doing so",
                monitor.name(&config.tasks)
            ));
        }
    }
    meta.monitor = monitor.name(&config.tasks);
    // On a resume this records the `--set` overrides (e.g. more epochs) too.
    atomic_write(&run_dir.join("config.toml"), config.toml.as_bytes())?;
    InputSchema::for_config(config).save(&run_dir)?;

    let parameters = parameter_count(&state.model);
    let shared_parameters = parameter_count_of(&state.model, &state.model.shared_param_ids());

    let train_config = &config.train;
    let n_train = splits.train.len();
    let (train_data, class_weights) = weight_classes(&splits.train, &config.tasks);
    let steps_per_epoch =
        batch_indices(&(0..n_train).collect::<Vec<_>>(), train_config.batch_size, train_config.drop_last)
            .len();
    if steps_per_epoch == 0 {
        return Err(Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "train.batch_size".into(),
            message: format!(
                "{} is larger than the {n_train} training samples and drop_last is set",
                train_config.batch_size
            ),
        }));
    }
    let schedule = Schedule {
        lr: train_config.lr,
        kind: train_config.schedule,
        warmup_steps: (train_config.warmup_epochs * steps_per_epoch as f64).round() as usize,
        total_steps: train_config.epochs * steps_per_epoch,
    };
    let early = train_config.early_stopping;
    let last_epoch = options.stop_after_epoch.map_or(train_config.epochs, |s| s.min(train_config.epochs));
    let progress = Progress::new((train_config.epochs * steps_per_epoch) as u64, options.quiet);
    progress.set_position((meta.epochs_done * steps_per_epoch) as u64);
    progress.line(&format!(
        "training `{}` on {} — {} tasks, {} on a {} encoder, {} parameters ({} shared), {} train / {} valid / {} test samples, {} via {}, selecting on {}",
        config.name,
        options.device.description,
        t_count,
        config.model.architecture.name(),
        config.model.architecture.encoder().name(),
        parameters,
        shared_parameters,
        n_train,
        splits.valid.len(),
        splits.test.len(),
        config.weighting.name(),
        config.weighting_input.name(),
        monitor.name(&config.tasks),
    ));
    if let Some(note) = &monitor_note {
        progress.line(&format!("note: {note}"));
    }
    for (task, w) in tasks.iter().zip(&class_weights) {
        if let Some(w) = w {
            let w: Vec<String> = w.iter().map(|v| format!("{v:.3}")).collect();
            progress.line(&format!("class weights of `{}`: [{}]", task.name, w.join(", ")));
        }
    }
    if train_data.groups.is_some() {
        let sizes: Vec<usize> = (0..t_count)
            .map(|t| train_data.groups.as_ref().map_or(0, |g| g.iter().filter(|&&s| s == t).count()))
            .collect();
        let p = config.sampling.probabilities(&sizes);
        let shares: Vec<String> = tasks
            .iter()
            .zip(&sizes)
            .zip(&p)
            .map(|((t, n), p)| format!("{} {n} samples → {:.1}%", t.name, p * 100.0))
            .collect();
        progress.line(&format!("multi-input sampling ({:?}): {}", config.sampling, shares.join(", ")));
    }
    let refresh = (steps_per_epoch / 10).max(1);
    // Measured on the steps of this invocation (a resumed run starts a new average).
    let mut affinity = config.affinity.map(|(every, lr)| (every, AffinityTracker::new(names.clone(), lr)));
    let mut best_state =
        if meta.best_epoch > 0 { Some(load_best(&ckpt_dir, config, &device)?) } else { None };
    let mut lr = schedule.lr(meta.steps_done, meta.epochs_done, &meta.plateau);

    for epoch in meta.epochs_done..last_epoch {
        if meta.stopped_early {
            break;
        }
        let epoch_started = Instant::now();
        progress.set_epoch(epoch + 1, train_config.epochs);
        device.seed(epoch_seed(config.seed, epoch));
        let order = match &train_data.groups {
            Some(groups) => sampled_epoch(groups, t_count, config.sampling, config.seed, epoch),
            None => epoch_permutation(n_train, config.seed, epoch),
        };
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut weight_sum: Option<Tensor<1>> = None;
        let mut stats_sum: Option<Tensor<1>> = None;
        for (i, idx) in
            batch_indices(&order, train_config.batch_size, train_config.drop_last).into_iter().enumerate()
        {
            let batch = MultiTaskBatch::gather(&train_data, idx, &device);
            if let Some((_, tracker)) =
                affinity.as_mut().filter(|(every, _)| meta.steps_done.is_multiple_of(*every))
            {
                let measured = Instant::now();
                let step = crate::affinity::measure(&state.model, &batch, &tasks, tracker.lr());
                tracker.add(&step, measured.elapsed().as_secs_f64());
            }
            let ctx =
                StepContext { epoch, step: meta.steps_done, steps_per_epoch, input: config.weighting_input };
            let (mut grads, report) = train_step(&mut state, &batch, &tasks, &ctx);
            if let Some(max_norm) = train_config.clip_grad_norm {
                clip_global_norm(&state, &mut grads, max_norm);
            }
            lr = schedule.lr(meta.steps_done, epoch, &meta.plateau);
            state = optim.step(lr, state, grads);
            let after = state
                .weighting
                .wants_losses_after_step()
                .then(|| batch_losses(&state.model.valid(), &inner_batch(&batch), &tasks));
            state.weighting.after_step(&ctx, report.losses.clone(), after);
            meta.steps_done += 1;
            if config.log_steps {
                append_json_line(
                    &steps_path,
                    &serde_json::json!({
                        "epoch": epoch + 1,
                        "step": meta.steps_done,
                        "lr": lr,
                        "loss": named(&tasks, &host_values(report.losses.clone())),
                        "weights": named(&tasks, &host_values(report.weights.clone())),
                    }),
                )?;
            }
            loss_sum = Some(loss_sum.map_or(report.losses.clone(), |s| s + report.losses));
            weight_sum = Some(weight_sum.map_or(report.weights.clone(), |s| s + report.weights));
            if let Some(g) = report.gradient_stats {
                stats_sum = Some(stats_sum.map_or(g.clone(), |s| s + g));
            }
            progress.advance(1);
            if (i + 1) % refresh == 0 {
                let means: Vec<f64> = host_values(loss_sum.clone().expect("a step ran"))
                    .iter()
                    .map(|s| s / (i + 1) as f64)
                    .collect();
                progress.set_message(loss_message(&tasks, &means));
            }
        }
        let steps = steps_per_epoch as f64;
        let train_losses: Vec<f64> =
            host_values(loss_sum.expect("an epoch has steps")).iter().map(|s| s / steps).collect();
        let weights: Vec<f64> =
            host_values(weight_sum.expect("an epoch has steps")).iter().map(|s| s / steps).collect();
        let kept = || match meta.epochs_done {
            0 => "no checkpoint was written yet".to_string(),
            e => format!("the last good checkpoint (epoch {e}) is in `{}`", ckpt_dir.join("last").display()),
        };
        check_finite(&tasks, &train_losses, "training", epoch + 1, &kept)?;

        state.weighting.end_epoch(epoch, &train_losses);
        let valid = evaluate(
            &state.model.valid(),
            &splits.valid,
            &config.tasks,
            train_config.batch_size.max(256),
            &eval_device,
        );
        check_finite(&tasks, &valid.losses, "validation", epoch + 1, &kept)?;
        let valid_delta = reference.as_ref().and_then(|r| delta(&valid.metrics, &r.valid, &names).ok());
        let (raw, score) = monitor_value(monitor, &valid, valid_delta.as_ref());

        meta.epochs_done = epoch + 1;
        meta.weighting_state = state.weighting.state();
        let improved = early.improves(score, meta.best_monitor);
        if improved {
            meta.best_epoch = epoch + 1;
            meta.best_monitor = Some(score);
            meta.best_valid_loss = valid.total_loss();
        }
        let cut = schedule.end_epoch(&mut meta.plateau, score);
        meta.stopped_early = epoch + 1 < train_config.epochs && early.should_stop(epoch + 1, meta.best_epoch);
        let gradients = stats_sum.map(|s| {
            let v: Vec<f64> = host_values(s).iter().map(|x| x / steps).collect();
            serde_json::json!({
                "norm": named(&tasks, &v[..t_count]),
                "cos_mean": json_f64(v[t_count]),
                "cos_min": json_f64(v[t_count + 1]),
            })
        });
        let mut line = serde_json::json!({
            "epoch": epoch + 1,
            "step": meta.steps_done,
            "lr": lr,
            "wall_s": epoch_started.elapsed().as_secs_f64(),
            "train": {
                "loss": named(&tasks, &train_losses),
                "weights": named(&tasks, &weights),
            },
            "valid": valid.to_json(&config.tasks),
            "monitor": json_f64(raw),
            "best_epoch": meta.best_epoch,
        });
        if let Some((_, tracker)) = &affinity {
            line["affinity"] = serde_json::json!({"steps": tracker.steps(), "seconds": tracker.seconds()});
        }
        if let Some(g) = gradients {
            line["train"]["gradients"] = g;
        }
        if let Some(labels) = config.model.architecture.gate_labels() {
            line["valid_gates"] = valid.gates_json(&config.tasks, &labels);
        }
        if let Some(d) = &valid_delta {
            line["valid_delta"] = serde_json::to_value(d).expect("numbers serialise");
        }
        append_json_line(&metrics_path, &line)?;
        if improved {
            checkpoint::save(&ckpt_dir.join("best"), &state, &optim, &meta)?;
            best_state = Some(state.clone());
        }
        checkpoint::save(&ckpt_dir.join("last"), &state, &optim, &meta)?;
        progress.line(&format!(
            "epoch {}/{}  train {}  valid {}{}{}",
            epoch + 1,
            train_config.epochs,
            loss_message(&tasks, &train_losses),
            metric_message(&config.tasks, &valid),
            valid_delta.map_or(String::new(), |d| format!(" Δp={:+.2}% Δm={:+.2}%", d.delta_p, d.delta_m)),
            if improved { "  (best)" } else { "" }
        ));
        if cut {
            progress.line(&format!(
                "{} stalled: learning rate cut to {:.3e} (reduce-on-plateau)",
                monitor.name(&config.tasks),
                schedule.lr(meta.steps_done, epoch + 1, &meta.plateau)
            ));
        }
        if meta.stopped_early {
            progress.line(&format!(
                "early stopping after epoch {}: {} has not improved for {} epochs (best epoch {})",
                epoch + 1,
                monitor.name(&config.tasks),
                early.patience.unwrap_or(0),
                meta.best_epoch
            ));
        }
    }
    progress.finish();
    if let Some((every, tracker)) = &affinity {
        tracker.report().save(&run_dir)?;
        let total = started.elapsed().as_secs_f64();
        progress.line(&format!(
            "affinity: {} steps measured (every {every}), {:.1} s = {:.0} % of the {:.1} s run; RUN_DIR/affinity.json",
            tracker.steps(),
            tracker.seconds(),
            100.0 * tracker.seconds() / total.max(1e-9),
            total
        ));
    }

    let finished = meta.epochs_done >= train_config.epochs || meta.stopped_early;
    let best = best_state.unwrap_or_else(|| state.clone()).model.valid();
    let batch = train_config.batch_size.max(256);
    let valid = evaluate(&best, &splits.valid, &config.tasks, batch, &eval_device);
    let test = finished.then(|| evaluate(&best, &splits.test, &config.tasks, batch, &eval_device));
    let delta_json = match (&reference, &test) {
        (Some(r), Some(test)) => {
            let v = delta(&valid.metrics, &r.valid, &names).ok();
            let t = delta(&test.metrics, &r.test, &names).ok();
            serde_json::json!({"valid": v, "test": t, "baselines": r.run_dirs})
        }
        _ => serde_json::Value::Null,
    };
    let summary = RunSummary {
        name: config.name.clone(),
        run_dir: run_dir.clone(),
        backend: options.device.description.clone(),
        seed: config.seed,
        epochs: train_config.epochs,
        epochs_done: meta.epochs_done,
        finished,
        stopped_early: meta.stopped_early,
        monitor: monitor.name(&config.tasks),
        best_monitor: meta.best_monitor.map(|s| monitor_value_raw(monitor, s)),
        best_epoch: meta.best_epoch,
        best_valid_loss: meta.best_valid_loss,
        final_lr: lr,
        parameters,
        shared_parameters,
        architecture: format!(
            "{} ({})",
            config.model.architecture.name(),
            config.model.architecture.encoder().name()
        ),
        weighting: format!("{} ({})", config.weighting.name(), config.weighting_input.name()),
        wall_s: started.elapsed().as_secs_f64(),
        valid: valid.to_json(&config.tasks),
        test: test.as_ref().map_or(serde_json::Value::Null, |t| t.to_json(&config.tasks)),
        delta: delta_json,
        gates: config
            .model
            .architecture
            .gate_labels()
            .map_or(serde_json::Value::Null, |labels| valid.gates_json(&config.tasks, &labels)),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    atomic_write(&run_dir.join("summary.json"), &json)?;
    if let Some(test) = &test {
        let d = summary.delta.get("test").and_then(|d| serde_json::from_value::<Delta>(d.clone()).ok());
        progress.line(&format!(
            "test (best epoch {}): {}{}",
            meta.best_epoch,
            metric_message(&config.tasks, test),
            d.map_or(String::new(), |d| format!(
                "  Δp={:+.2}% Δm={:+.2}% vs single-task",
                d.delta_p, d.delta_m
            )),
        ));
    }
    if let Err(e) = plot_run(&run_dir) {
        progress.line(&format!("warning: plots not written: {e}"));
    }
    Ok(summary)
}

/// A "higher is better" score back in the monitor's own sign.
fn monitor_value_raw(monitor: Monitor, score: f64) -> f64 {
    match monitor {
        Monitor::Auto | Monitor::Loss => -score,
        Monitor::Metric { metric, .. } if !metric.higher_is_better() => -score,
        _ => score,
    }
}

fn load_best(ckpt_dir: &Path, config: &RunConfig, device: &Device) -> Result<TrainState, Error> {
    let fresh = init_state(config, device);
    let (state, _, _) =
        checkpoint::load(&ckpt_dir.join("best"), fresh, build_optimizer(&config.train.optimizer))?;
    Ok(state)
}

fn check_finite(
    tasks: &[mtl_data::TaskSpec],
    losses: &[f64],
    split: &str,
    epoch: usize,
    kept: &dyn Fn() -> String,
) -> Result<(), Error> {
    match losses.iter().position(|l| !l.is_finite()) {
        None => Ok(()),
        Some(t) => Err(Error::Diverged {
            epoch,
            what: format!("the {split} loss of task `{}` is {}", tasks[t].name, losses[t]),
            kept: kept(),
        }),
    }
}

fn named(tasks: &[mtl_data::TaskSpec], values: &[f64]) -> serde_json::Value {
    tasks
        .iter()
        .zip(values)
        .map(|(t, v)| (t.name.clone(), json_f64(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn loss_message(tasks: &[mtl_data::TaskSpec], losses: &[f64]) -> String {
    tasks.iter().zip(losses).map(|(t, l)| format!("{}={l:.4}", t.name)).collect::<Vec<_>>().join(" ")
}

fn metric_message(tasks: &[crate::config::TaskConfig], e: &Evaluation) -> String {
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
