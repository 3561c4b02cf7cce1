//! Validation: the raw [`FileConfig`] becomes a [`RunConfig`] whose values are all in range.
//! Every check names the TOML key and what is allowed; one module per section (`tasks`,
//! `sources`, `weighting`, `training`; the model in `config/model.rs`, tables in
//! `config/table.rs`), sharing the checks of `check.rs`.

mod sources;
mod tasks;
mod training;
mod weighting;

use std::path::{Path, PathBuf};

use mtl_data::table::Preprocessing;
use mtl_data::{Sampling, SplitFractions, TaskSpec};
use mtl_model::MultiTaskModelConfig;
use mtl_weighting::{WeightingConfig, WeightingInput};

use super::check::Check;
use super::error::ConfigError;
use super::load::load_file;
use super::schema::FileConfig;
use crate::config::data::DataSource;
use crate::metrics::MetricKind;
use crate::schedule::{EarlyStopping, ScheduleKind};

/// What selects the best checkpoint, stops early and drives reduce-on-plateau.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss: the default depends on the config alone, not on which baselines
    /// happen to exist.
    Auto,
    /// Sum of the validation task losses (lower is better).
    Loss,
    /// LibMTL's Δp over the single-task baselines (higher is better).
    DeltaP,
    /// Δm as published by Nash-MTL/FAMO (lower is better).
    DeltaM,
    /// One metric of one task, in its own direction.
    Metric {
        /// Index into the trained tasks.
        task: usize,
        /// The metric.
        metric: MetricKind,
    },
}

impl Monitor {
    /// How it is written in a config.
    pub fn name(&self, tasks: &[TaskConfig]) -> String {
        match self {
            Monitor::Auto => "auto".into(),
            Monitor::Loss => "loss".into(),
            Monitor::DeltaP => "delta_p".into(),
            Monitor::DeltaM => "delta_m".into(),
            Monitor::Metric { task, metric } => format!("{}.{}", tasks[*task].spec.name, metric.name()),
        }
    }
}

/// One task with its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    /// Name and kind.
    pub spec: TaskSpec,
    /// Metrics to report, in order.
    pub metrics: Vec<MetricKind>,
    /// The reported metrics that enter Δm (`tasks[i].delta_metrics`).
    pub delta_metrics: Vec<MetricKind>,
    /// Regression: train on the standardised target (`tasks[i].standardize`, default
    /// `data.standardize_targets`).
    pub standardize: bool,
    /// Class weights of the training loss (binary and multiclass).
    pub class_weights: Option<ClassWeights>,
}

/// How a task's classes are weighted in the training loss: a labelled sample of class k
/// counts w_k times, and the loss is Σ w_{y_i}·ℓ_i / Σ w_{y_i} over the labelled samples
/// (PyTorch's `CrossEntropyLoss(weight=w)`). Validation losses and metrics are unweighted.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassWeights {
    /// One weight per class.
    Fixed(Vec<f64>),
    /// w_k = n / (K·n_k) on the training split (scikit-learn's "balanced").
    Balanced,
}

impl ClassWeights {
    /// The weight of each of `classes` classes given the training split's class counts.
    pub fn values(&self, counts: &[usize]) -> Vec<f64> {
        match self {
            ClassWeights::Fixed(w) => w.clone(),
            ClassWeights::Balanced => {
                let n: usize = counts.iter().sum();
                let k = counts.len() as f64;
                counts.iter().map(|&c| if c == 0 { 0.0 } else { n as f64 / (k * c as f64) }).collect()
            }
        }
    }
}

/// Optimizer settings after validation.
#[derive(Debug, Clone, PartialEq)]
pub enum OptimizerConfig {
    /// Adam with L2 weight decay.
    Adam {
        /// (β1, β2).
        betas: [f64; 2],
        /// ε.
        eps: f64,
        /// L2 penalty (0 = none).
        weight_decay: f64,
    },
    /// AdamW with decoupled weight decay.
    AdamW {
        /// (β1, β2).
        betas: [f64; 2],
        /// ε.
        eps: f64,
        /// Decoupled decay.
        weight_decay: f64,
    },
    /// SGD.
    Sgd {
        /// Momentum (0 = none).
        momentum: f64,
        /// L2 penalty (0 = none).
        weight_decay: f64,
    },
}

/// `[affinity]` after validation: what the training run measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AffinityPlan {
    /// Measure every this many steps (at least 1).
    pub every: usize,
    /// Learning rate of TAG's look-ahead step (default `train.lr`).
    pub lookahead_lr: f64,
    /// Measure only steps before this one; `None` = the whole run.
    pub until: Option<usize>,
}

/// `[train]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Number of epochs (≥ 1).
    pub epochs: usize,
    /// Batch size (≥ 1).
    pub batch_size: usize,
    /// Drop the last short batch.
    pub drop_last: bool,
    /// Fixed parts of every batch (`train.parts`), for results that do not depend on the
    /// number of processes; `None`: one part per process.
    pub parts: Option<usize>,
    /// Where the training split lives (`train.device_data`).
    pub device_data: crate::config::schema::DeviceData,
    /// `train.device_data_budget_mb` in bytes; `None`: the default budget.
    pub device_data_budget: Option<u64>,
    /// Learning rate (> 0).
    pub lr: f64,
    /// Optimizer.
    pub optimizer: OptimizerConfig,
    /// Global gradient-norm clipping threshold.
    pub clip_grad_norm: Option<f64>,
    /// Learning-rate rule.
    pub schedule: ScheduleKind,
    /// Linear warm-up, in epochs.
    pub warmup_epochs: f64,
    /// What picks the best epoch.
    pub monitor: Monitor,
    /// Report the last epoch instead of the best (`train.select = "last"`).
    pub select_last: bool,
    /// When to stop before `epochs`.
    pub early_stopping: EarlyStopping,
}

/// A validated run: everything the trainer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The file it came from (for messages).
    pub source: PathBuf,
    /// Run name.
    pub name: String,
    /// Master seed.
    pub seed: u64,
    /// Folder holding run folders.
    pub output_dir: PathBuf,
    /// Where the samples come from.
    pub data: DataSource,
    /// Split fractions.
    pub split: SplitFractions,
    /// Multi-input mode: how an epoch shares its draws among the tasks.
    pub sampling: Sampling,
    /// The tasks trained, in order (one with `run.single_task`).
    pub tasks: Vec<TaskConfig>,
    /// Every task of the config: the data holds all of them even when one is trained.
    pub data_tasks: Vec<TaskConfig>,
    /// Index into `data_tasks` of the task trained alone (`run.single_task`).
    pub single_task: Option<usize>,
    /// Indices into `data_tasks` of the trained tasks when `run.tasks` picks a group.
    pub subset: Option<Vec<usize>>,
    /// The network.
    pub model: MultiTaskModelConfig,
    /// The weighting method.
    pub weighting: WeightingConfig,
    /// What the weighting method reads.
    pub weighting_input: WeightingInput,
    /// Log every step's weights and losses (`weighting.log_steps`).
    pub log_steps: bool,
    /// Loop and optimizer.
    pub train: TrainConfig,
    /// Measure task affinity (`[affinity]` with `every` > 0); `None` when off.
    pub affinity: Option<AffinityPlan>,
    /// The resolved TOML (file plus overrides), written to the run folder.
    pub toml: String,
    /// The parsed file (plus overrides), from which derived configs (baselines, grid cells)
    /// are built.
    pub file: FileConfig,
}

impl RunConfig {
    /// Read, override and validate a config file.
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let (file, toml) = load_file(path, overrides)?;
        resolve(path, file, toml, None)
    }

    /// Read a run folder's `config.toml` with the table preprocessing saved in its
    /// `inputs.json` (so that the data files are not refitted, and need not exist for
    /// `mtl predict --input`).
    pub fn from_run_file(path: &Path, saved: Option<Preprocessing>) -> Result<Self, ConfigError> {
        let (file, toml) = load_file(path, &[])?;
        resolve(path, file, toml, saved)
    }

    /// Validate TOML `text` as if read from `source`, with a CSV source's preprocessing taken
    /// from `saved` instead of refitted (a derived config with the same `[data]` and seed).
    pub fn from_toml_with(
        source: &Path,
        text: &str,
        saved: Option<Preprocessing>,
    ) -> Result<Self, ConfigError> {
        let (file, toml) = super::load::parse_text(source, text, &[])?;
        resolve(source, file, toml, saved)
    }

    /// Validate TOML `text` as if read from `source` (used by tests and examples).
    pub fn from_toml(source: &Path, text: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let (file, toml) = super::load::parse_text(source, text, overrides)?;
        resolve(source, file, toml, None)
    }

    /// Task specs in order.
    pub fn task_specs(&self) -> Vec<TaskSpec> {
        self.tasks.iter().map(|t| t.spec.clone()).collect()
    }

    /// The trained tasks' names, in order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.spec.name.clone()).collect()
    }

    /// The feature columns of a source without id columns of its own (a generated dataset)
    /// that `model.encoder.categorical` names as category codes, with their cardinalities:
    /// loading moves them to the model's integer id columns. Empty for a table source, whose
    /// preprocessing makes the ids.
    pub fn float_id_columns(&self) -> Vec<(usize, usize)> {
        let e = &self.file.model.encoder;
        match self.data {
            DataSource::Csv(_) => Vec::new(),
            _ => e.categorical.iter().copied().zip(e.cardinalities.iter().copied()).collect(),
        }
    }

    /// The run folder: `<output_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output_dir.join(&self.name)
    }
}

/// Validate `file` (read from `path`) into a [`RunConfig`]; a CSV source's preprocessing is
/// fitted unless `saved` gives it. One function per section; each error names its key.
pub fn resolve(
    path: &Path,
    file: FileConfig,
    toml: String,
    saved: Option<Preprocessing>,
) -> Result<RunConfig, ConfigError> {
    let check = Check { path };
    check.file_name("run.name", &file.run.name, "run name")?;
    check.ensure(!file.tasks.is_empty(), "tasks", || "add at least one [[tasks]] table".into())?;
    let split = sources::resolve_split(check, &file)?;
    let table = super::table::resolve_table(path, &file, &split, saved)?;
    let data_tasks = tasks::resolve_tasks(check, &file, table.as_ref())?;
    let tasks::Selected { tasks, single_task, subset } = tasks::select_tasks(check, &file, &data_tasks)?;
    let data = sources::resolve_source(check, &file, table)?;
    let sampling = sources::resolve_sampling(check, &file, &data)?;

    let task_outputs = tasks.iter().map(|t| t.spec.kind.output_dim()).collect();
    let model_section =
        data.bind_model(&file.model).map_err(|(key, message)| check.invalid(&key, message))?;
    let mut model = super::model::resolve_model(path, &model_section, data.d_input(), task_outputs)?;
    let chain = file.model.chain.as_ref();
    model.chains = super::model::resolve_chain(path, chain, &tasks, &data_tasks, data.multi_input())?
        .into_iter()
        .collect();
    if !model.chains.is_empty() {
        (model.counterfactual, model.transfer) = super::model::resolve_chain_kind(path, chain)?;
    }
    let (weighting, weighting_input) = weighting::resolve_weighting(check, &file.weighting)?;
    let train = training::resolve_train(check, &file.train, &tasks, single_task.is_some())?;
    let affinity = training::resolve_affinity(check, &file.affinity, train.lr, tasks.len())?;

    Ok(RunConfig {
        source: path.to_path_buf(),
        name: file.run.name.clone(),
        seed: file.run.seed,
        output_dir: PathBuf::from(&file.run.output_dir),
        data,
        sampling,
        split,
        tasks,
        data_tasks,
        single_task,
        subset,
        model,
        weighting,
        weighting_input,
        log_steps: file.weighting.log_steps,
        train,
        affinity,
        toml,
        file,
    })
}

#[cfg(test)]
mod tests;
