//! Validation: the raw [`FileConfig`] becomes a [`RunConfig`] whose values are all in range.
//! Every check names the TOML key and what is allowed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use mtl_data::table::Preprocessing;
use mtl_data::{MultiMnistConfig, Sampling, SplitFractions, SyntheticConfig, TaskKind, TaskSpec};
use mtl_model::MultiTaskModelConfig;
use mtl_weighting::{WeightingConfig, WeightingInput};

use super::error::ConfigError;
use super::load::load_file;
use super::schema::{
    ClassWeightsValue, DataSourceKind, FileConfig, GradientsName, OptimizerName, SamplingName, ScheduleName,
    TaskKindName,
};
use crate::config::data::{CsvSource, DataSource};
use crate::metrics::MetricKind;
use crate::schedule::{EarlyStopping, ScheduleKind};

/// What selects the best checkpoint, stops early and drives reduce-on-plateau.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    /// `delta_p` when single-task baselines exist, else `loss`.
    Auto,
    /// Sum of the validation task losses (lower is better).
    Loss,
    /// LibMTL's Δp over the single-task baselines (higher is better).
    DeltaP,
    /// The flat Δm of Nash-MTL/FAMO (higher is better).
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

/// `[train]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Number of epochs (≥ 1).
    pub epochs: usize,
    /// Batch size (≥ 1).
    pub batch_size: usize,
    /// Drop the last short batch.
    pub drop_last: bool,
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
    /// Measure task affinity every this many steps (`affinity.every`; 0 = off) with this
    /// look-ahead learning rate.
    pub affinity: Option<(usize, f64)>,
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

    /// The run folder: `<output_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output_dir.join(&self.name)
    }
}

/// Validate `file` (read from `path`) into a [`RunConfig`]; a CSV source's preprocessing is
/// fitted unless `saved` gives it.
pub fn resolve(
    path: &Path,
    file: FileConfig,
    toml: String,
    saved: Option<Preprocessing>,
) -> Result<RunConfig, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };

    if file.run.name.trim().is_empty() || file.run.name.contains(['/', '\\']) {
        return Err(invalid("run.name", "use a non-empty name without path separators".into()));
    }

    // Tasks.
    if file.tasks.is_empty() {
        return Err(invalid("tasks", "add at least one [[tasks]] table".into()));
    }
    let data_err = |e: mtl_data::DataError| match e {
        mtl_data::DataError::InvalidSetting { key, message } => invalid(&key, message),
        other => invalid("data", other.to_string()),
    };
    let split = SplitFractions {
        train: file.data.split.train,
        valid: file.data.split.valid,
        test: file.data.split.test,
    };
    split.validate().map_err(data_err)?;
    // A csv source whose every training file has its own validation file needs no fraction.
    let valid_files = file.data.source == DataSourceKind::Csv
        && (file.data.csv.valid.is_some()
            || file.tasks.iter().all(|t| t.files.as_ref().is_some_and(|f| f.valid.is_some())));
    if split.valid <= 0.0 && !valid_files {
        return Err(invalid(
            "data.split.valid",
            "model selection needs a validation split; use a fraction above 0".into(),
        ));
    }
    let table = super::table::resolve_table(path, &file, &split, saved)?;

    let mut seen = HashSet::new();
    let mut tasks = Vec::with_capacity(file.tasks.len());
    for (i, t) in file.tasks.iter().enumerate() {
        let key = |k: &str| format!("tasks[{i}].{k}");
        if t.name.trim().is_empty() {
            return Err(invalid(&key("name"), "give the task a name".into()));
        }
        if !seen.insert(t.name.clone()) {
            return Err(invalid(
                &key("name"),
                format!("`{}` is used twice; task names must be unique", t.name),
            ));
        }
        let kind = match (t.kind, t.classes) {
            (TaskKindName::Multiclass, classes) if t.labels.is_some() => {
                let (_, prep) = table.as_ref().expect("`labels` is refused for other sources");
                let kind = prep.labels[i].kind();
                if let Some(c) = classes.filter(|&c| kind.output_dim() != c) {
                    return Err(invalid(
                        &key("classes"),
                        format!(
                            "{c} classes, but the training split has {}; remove `classes` or list the names in `labels`",
                            kind.output_dim()
                        ),
                    ));
                }
                kind
            }
            (TaskKindName::Multiclass, Some(c)) if c >= 2 => TaskKind::Multiclass { classes: c },
            (TaskKindName::Multiclass, Some(c)) => {
                return Err(invalid(&key("classes"), format!("{c} classes; use at least 2")));
            }
            (TaskKindName::Multiclass, None) => {
                return Err(invalid(&key("classes"), "multiclass tasks need `classes = N`".into()));
            }
            (TaskKindName::Multilabel, classes) => {
                let n = match (&t.columns, classes) {
                    (Some(cols), Some(c)) if c != cols.len() => {
                        return Err(invalid(
                            &key("classes"),
                            format!("{c} labels but `columns` lists {}; remove `classes`", cols.len()),
                        ));
                    }
                    (Some(cols), _) => cols.len(),
                    (None, Some(c)) => c,
                    (None, None) => {
                        return Err(invalid(
                            &key("classes"),
                            "multilabel tasks need `classes = N` labels (csv: the label `columns`)".into(),
                        ));
                    }
                };
                if !(1..=mtl_data::MAX_LABELS).contains(&n) {
                    return Err(invalid(
                        &key("classes"),
                        format!("{n} labels; a multilabel task has 1 to {} labels", mtl_data::MAX_LABELS),
                    ));
                }
                TaskKind::Multilabel { labels: n }
            }
            (_, Some(_)) => {
                return Err(invalid(
                    &key("classes"),
                    "only multiclass and multilabel tasks take `classes`; remove it".into(),
                ));
            }
            (TaskKindName::Regression, None) => TaskKind::Regression,
            (TaskKindName::Binary, None) => TaskKind::Binary,
        };
        let allowed = MetricKind::for_task(kind);
        let metrics = match &t.metrics {
            None => allowed.to_vec(),
            Some(names) => {
                let mut out = Vec::new();
                for n in names {
                    let names_allowed: Vec<&str> = allowed.iter().map(|m| m.name()).collect();
                    match MetricKind::from_name(n) {
                        Some(m) if allowed.contains(&m) => out.push(m),
                        _ => {
                            return Err(invalid(
                                &key("metrics"),
                                format!(
                                    "`{n}` is not a {} metric; use any of {}",
                                    kind.name(),
                                    names_allowed.join(", ")
                                ),
                            ));
                        }
                    }
                }
                if out.is_empty() {
                    return Err(invalid(
                        &key("metrics"),
                        "list at least one metric or remove the key".into(),
                    ));
                }
                out
            }
        };
        let class_weights = match (&t.class_weights, t.pos_weight, kind) {
            (None, None, _) => None,
            (_, _, TaskKind::Regression) => {
                return Err(invalid(
                    &key("class_weights"),
                    "regression tasks have no classes; remove it".into(),
                ));
            }
            (_, _, TaskKind::Multilabel { .. }) => {
                return Err(invalid(
                    &key("class_weights"),
                    "class weights of multilabel tasks are not supported yet; remove it".into(),
                ));
            }
            (Some(_), Some(_), _) => {
                return Err(invalid(&key("pos_weight"), "give class_weights or pos_weight, not both".into()));
            }
            (None, Some(_), TaskKind::Multiclass { .. }) => {
                return Err(invalid(&key("pos_weight"), "applies to binary tasks; use class_weights".into()));
            }
            (None, Some(w), _) if w > 0.0 && w.is_finite() => Some(ClassWeights::Fixed(vec![1.0, w])),
            (None, Some(w), _) => {
                return Err(invalid(&key("pos_weight"), format!("{w}; use a positive weight")));
            }
            (Some(ClassWeightsValue::Named(n)), _, _) if n == "balanced" => Some(ClassWeights::Balanced),
            (Some(ClassWeightsValue::Named(n)), _, _) => {
                return Err(invalid(
                    &key("class_weights"),
                    format!("`{n}`: write \"balanced\" or one weight per class"),
                ));
            }
            (Some(ClassWeightsValue::List(w)), _, kind) => {
                if w.len() != kind.output_dim().max(2) {
                    return Err(invalid(
                        &key("class_weights"),
                        format!(
                            "{} weights for {} classes; give one per class",
                            w.len(),
                            kind.output_dim().max(2)
                        ),
                    ));
                }
                if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || w.iter().all(|v| *v == 0.0) {
                    return Err(invalid(&key("class_weights"), "weights must be ≥ 0 and not all 0".into()));
                }
                Some(ClassWeights::Fixed(w.clone()))
            }
        };
        tasks.push(TaskConfig { spec: TaskSpec { name: t.name.clone(), kind }, metrics, class_weights });
    }
    let data_tasks = tasks.clone();
    let single_task = match &file.run.single_task {
        None => None,
        Some(name) => {
            let Some(i) = data_tasks.iter().position(|t| &t.spec.name == name) else {
                let names: Vec<&str> = data_tasks.iter().map(|t| t.spec.name.as_str()).collect();
                return Err(invalid(
                    "run.single_task",
                    format!("no task is named `{name}`; use one of {}", names.join(", ")),
                ));
            };
            tasks = vec![data_tasks[i].clone()];
            Some(i)
        }
    };
    let subset = match &file.run.tasks {
        None => None,
        Some(_) if single_task.is_some() => {
            return Err(invalid("run.tasks", "give run.single_task or run.tasks, not both".into()));
        }
        Some(names) => {
            let mut picked = Vec::with_capacity(names.len());
            for name in names {
                let Some(i) = data_tasks.iter().position(|t| &t.spec.name == name) else {
                    let all: Vec<&str> = data_tasks.iter().map(|t| t.spec.name.as_str()).collect();
                    return Err(invalid(
                        "run.tasks",
                        format!("no task is named `{name}`; use names from {}", all.join(", ")),
                    ));
                };
                if picked.contains(&i) {
                    return Err(invalid("run.tasks", format!("`{name}` is listed twice")));
                }
                picked.push(i);
            }
            if picked.is_empty() {
                return Err(invalid("run.tasks", "list at least one task, or remove the key".into()));
            }
            picked.sort_unstable();
            tasks = picked.iter().map(|&i| data_tasks[i].clone()).collect();
            Some(picked)
        }
    };

    // Data.
    let s = &file.data.synthetic;
    let synthetic = SyntheticConfig {
        samples: s.samples,
        features: s.features,
        correlation: s.correlation,
        scale: s.scale,
        sin_terms: s.sin_terms,
        noise_std: s.noise_std,
        seed: s.seed.unwrap_or(file.run.seed),
        categorical_features: s.categorical_features,
        categories: s.categories,
        task_groups: s.task_groups.clone(),
    };
    let data = match file.data.source {
        DataSourceKind::Synthetic => {
            synthetic.validate(data_tasks.len()).map_err(data_err)?;
            DataSource::Synthetic(synthetic)
        }
        DataSourceKind::MultiMnist => {
            let m = &file.data.multi_mnist;
            let dir = m.dir.as_ref().map_or_else(DataSource::default_dir, PathBuf::from);
            DataSource::MultiMnist(MultiMnistConfig {
                left_dir: dir.join(&m.left),
                right_dir: dir.join(&m.right),
                seed: m.seed.unwrap_or(file.run.seed),
            })
        }
        DataSourceKind::Csv => {
            let (table, prep) = table.expect("resolved for a csv source");
            DataSource::Csv(Box::new(CsvSource { table, prep }))
        }
    };
    let sampling = match file.data.sampling {
        SamplingName::Proportional => Sampling::Proportional,
        SamplingName::Uniform => Sampling::Uniform,
        SamplingName::Temperature if file.data.temperature > 0.0 && file.data.temperature.is_finite() => {
            Sampling::Temperature(file.data.temperature)
        }
        SamplingName::Temperature => {
            return Err(invalid(
                "data.temperature",
                format!("{}; use a value above 0", file.data.temperature),
            ));
        }
    };
    if sampling != Sampling::Proportional && !data.multi_input() {
        return Err(invalid(
            "data.sampling",
            "task sampling applies to multi-input mode (each task with its own `files`); remove it".into(),
        ));
    }

    // Model.
    let task_outputs = tasks.iter().map(|t| t.spec.kind.output_dim()).collect();
    let model_section = data.bind_model(&file.model).map_err(|(key, message)| invalid(&key, message))?;
    let model = super::model::resolve_model(path, &model_section, data.d_input(), task_outputs)?;

    // Weighting.
    let weighting = file.weighting.chosen();
    weighting.check().map_err(|e| {
        invalid(&format!("weighting.{}.{}", file.weighting.method.name(), e.field), e.message)
    })?;
    let supported = weighting.inputs();
    let weighting_input = match file.weighting.gradients {
        None => supported[0],
        Some(g) => {
            let want = match g {
                GradientsName::Losses => WeightingInput::Losses,
                GradientsName::Representation => WeightingInput::RepresentationGradients,
                GradientsName::Parameters => WeightingInput::ParameterGradients,
            };
            if !supported.contains(&want) {
                let names: Vec<&str> = supported.iter().map(|i| i.name()).collect();
                return Err(invalid(
                    "weighting.gradients",
                    format!(
                        "method `{}` cannot read `{}`; use {}",
                        weighting.name(),
                        want.name(),
                        names.join(" or ")
                    ),
                ));
            }
            want
        }
    };

    // Training.
    let t = &file.train;
    if t.epochs == 0 {
        return Err(invalid("train.epochs", "train for at least 1 epoch".into()));
    }
    if t.batch_size == 0 {
        return Err(invalid("train.batch_size", "use a batch size of at least 1".into()));
    }
    if !(t.lr > 0.0 && t.lr.is_finite()) {
        return Err(invalid("train.lr", format!("{} is not a positive learning rate", t.lr)));
    }
    if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
        return Err(invalid("train.weight_decay", "use a value ≥ 0".into()));
    }
    if !(0.0..1.0).contains(&t.momentum) {
        return Err(invalid("train.momentum", format!("{} is not in [0, 1)", t.momentum)));
    }
    if t.momentum > 0.0 && t.optimizer != OptimizerName::Sgd {
        return Err(invalid(
            "train.momentum",
            "momentum applies to `optimizer = \"sgd\"` only; remove it".into(),
        ));
    }
    for (i, b) in t.betas.iter().enumerate() {
        if !(0.0..1.0).contains(b) {
            return Err(invalid(&format!("train.betas[{i}]"), format!("{b} is not in [0, 1)")));
        }
    }
    if !(t.eps > 0.0 && t.eps.is_finite()) {
        return Err(invalid("train.eps", "use a small positive value such as 1e-8".into()));
    }
    if let Some(c) = t.clip_grad_norm
        && !(c > 0.0 && c.is_finite())
    {
        return Err(invalid(
            "train.clip_grad_norm",
            "use a positive norm, or remove the key to disable clipping".into(),
        ));
    }
    let monitor = resolve_monitor(&t.monitor, &tasks, single_task.is_some())
        .map_err(|m| invalid("train.monitor", m))?;
    let sc = &t.schedule;
    if !(sc.warmup_epochs >= 0.0 && sc.warmup_epochs.is_finite()) {
        return Err(invalid("train.schedule.warmup_epochs", "use a number of epochs ≥ 0".into()));
    }
    if !(sc.min_lr >= 0.0 && sc.min_lr <= t.lr) {
        return Err(invalid(
            "train.schedule.min_lr",
            format!("{} must lie in [0, train.lr = {}]", sc.min_lr, t.lr),
        ));
    }
    let schedule = match sc.kind {
        ScheduleName::Constant => ScheduleKind::Constant,
        ScheduleName::Step => {
            if sc.step_epochs == 0 {
                return Err(invalid("train.schedule.step_epochs", "use at least 1 epoch".into()));
            }
            if !(sc.gamma > 0.0 && sc.gamma.is_finite()) {
                return Err(invalid(
                    "train.schedule.gamma",
                    format!("{} is not a positive factor", sc.gamma),
                ));
            }
            ScheduleKind::Step { every: sc.step_epochs, gamma: sc.gamma }
        }
        ScheduleName::Cosine => ScheduleKind::Cosine { min_lr: sc.min_lr },
        ScheduleName::Plateau => {
            if !(sc.factor > 0.0 && sc.factor < 1.0) {
                return Err(invalid("train.schedule.factor", format!("{} is not in (0, 1)", sc.factor)));
            }
            if !(sc.threshold >= 0.0 && sc.threshold.is_finite()) {
                return Err(invalid("train.schedule.threshold", "use a value ≥ 0".into()));
            }
            ScheduleKind::Plateau {
                factor: sc.factor,
                patience: sc.patience,
                threshold: sc.threshold,
                min_lr: sc.min_lr,
            }
        }
    };
    let es = &t.early_stopping;
    if es.patience == Some(0) {
        return Err(invalid(
            "train.early_stopping.patience",
            "use at least 1 epoch, or remove the key to turn early stopping off".into(),
        ));
    }
    if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
        return Err(invalid("train.early_stopping.min_delta", "use a value ≥ 0".into()));
    }
    let optimizer = match t.optimizer {
        OptimizerName::Adam => {
            OptimizerConfig::Adam { betas: t.betas, eps: t.eps, weight_decay: t.weight_decay }
        }
        OptimizerName::Adamw => {
            OptimizerConfig::AdamW { betas: t.betas, eps: t.eps, weight_decay: t.weight_decay }
        }
        OptimizerName::Sgd => OptimizerConfig::Sgd { momentum: t.momentum, weight_decay: t.weight_decay },
    };
    let a = &file.affinity;
    let lookahead_lr = a.lookahead_lr.unwrap_or(t.lr);
    if !(lookahead_lr > 0.0 && lookahead_lr.is_finite()) {
        return Err(invalid("affinity.lookahead_lr", format!("{lookahead_lr}; use a rate above 0")));
    }
    if a.every > 0 && tasks.len() < 2 {
        return Err(invalid("affinity.every", "task affinity needs at least two trained tasks".into()));
    }
    let affinity = (a.every > 0).then_some((a.every, lookahead_lr));

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
        train: TrainConfig {
            epochs: t.epochs,
            batch_size: t.batch_size,
            drop_last: t.drop_last,
            lr: t.lr,
            optimizer,
            clip_grad_norm: t.clip_grad_norm,
            schedule,
            warmup_epochs: sc.warmup_epochs,
            monitor,
            early_stopping: EarlyStopping { patience: es.patience, min_delta: es.min_delta },
        },
        affinity,
        toml,
        file,
    })
}

fn resolve_monitor(text: &str, tasks: &[TaskConfig], single: bool) -> Result<Monitor, String> {
    let relative = |m: Monitor| {
        if single {
            Err(format!(
                "`{text}` compares with single-task baselines, which a single-task run cannot; use \"loss\" or \"TASK.METRIC\""
            ))
        } else {
            Ok(m)
        }
    };
    match text {
        "auto" => Ok(Monitor::Auto),
        "loss" => Ok(Monitor::Loss),
        "delta_p" => relative(Monitor::DeltaP),
        "delta_m" => relative(Monitor::DeltaM),
        _ => {
            let allowed = || {
                let mut names = vec!["auto".to_string(), "loss".into(), "delta_p".into(), "delta_m".into()];
                for t in tasks {
                    names.extend(t.metrics.iter().map(|m| format!("{}.{}", t.spec.name, m.name())));
                }
                names.join(", ")
            };
            let Some((task, metric)) = text.rsplit_once('.') else {
                return Err(format!("`{text}` is not a monitor; use one of {}", allowed()));
            };
            let Some(t) = tasks.iter().position(|t| t.spec.name == task) else {
                return Err(format!("no trained task is named `{task}`; use one of {}", allowed()));
            };
            match MetricKind::from_name(metric) {
                Some(m) if tasks[t].metrics.contains(&m) => Ok(Monitor::Metric { task: t, metric: m }),
                _ => Err(format!("task `{task}` reports no metric `{metric}`; use one of {}", allowed())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    const BASE: &str =
        "[[tasks]]\nname = \"a\"\nkind = \"regression\"\n[[tasks]]\nname = \"b\"\nkind = \"binary\"\n";

    fn run(extra: &str, overrides: &[&str]) -> Result<RunConfig, ConfigError> {
        let p = Path::new("c.toml");
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let (f, t) = parse_text(p, &format!("{BASE}{extra}"), &o)?;
        resolve(p, f, t, None)
    }

    #[test]
    fn defaults_resolve() {
        let c = run("", &[]).unwrap();
        assert_eq!(c.train.epochs, 20);
        assert_eq!(c.tasks[1].metrics, vec![MetricKind::Accuracy, MetricKind::Auc, MetricKind::F1]);
        assert_eq!(c.weighting_input, WeightingInput::Losses);
        assert_eq!(c.model.task_outputs, vec![1, 1]);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&[&str], &str)] = &[
            (&["train.epochs=0"], "train.epochs"),
            (&["train.lr=-1"], "train.lr"),
            (&["tasks.0.column=\"y\""], "tasks[0].column"),
            (&["tasks.0.class_weights=[1.0, 2.0]"], "tasks[0].class_weights"),
            (&["tasks.1.class_weights=[1.0, 2.0, 3.0]"], "tasks[1].class_weights"),
            (&["tasks.1.class_weights=\"even\""], "tasks[1].class_weights"),
            (&["tasks.1.pos_weight=-1.0"], "tasks[1].pos_weight"),
            (&["data.sampling=\"uniform\""], "data.sampling"),
            (
                &[
                    "data.csv.numeric=[\"a\"]",
                    "data.source=\"csv\"",
                    "data.csv.train=\"t.csv\"",
                    "data.csv.delimiter=\"ab\"",
                ],
                "data.csv.delimiter",
            ),
            (&["data.source=\"csv\""], "data.csv.numeric"),
            (&["run.tasks=[\"zz\"]"], "run.tasks"),
            (&["run.tasks=[\"a\", \"a\"]"], "run.tasks"),
            (&["run.tasks=[\"a\"]", "run.single_task=a"], "run.tasks"),
            (&["affinity.lookahead_lr=-1.0"], "affinity.lookahead_lr"),
            (&["affinity.every=1", "run.single_task=a"], "affinity.every"),
            (&["data.synthetic.task_groups=[0, 2]"], "data.synthetic.task_groups"),
            (&["data.synthetic.correlation=2.0"], "data.synthetic.correlation"),
            (&["data.split.train=0.5"], "data.split"),
            (&["tasks.1.metrics=[\"r2\"]"], "tasks[1].metrics"),
            (&["tasks.0.classes=3"], "tasks[0].classes"),
            (&["tasks.1.name=\"a\""], "tasks[1].name"),
            (&["weighting.method=uw", "weighting.gradients=parameters"], "weighting.gradients"),
            (&["weighting.method=gls", "weighting.gradients=representation"], "weighting.gradients"),
            (&["weighting.method=dwa", "weighting.dwa.temperature=0"], "weighting.dwa.temperature"),
            (&["weighting.method=pcgrad", "weighting.gradients=losses"], "weighting.gradients"),
            (&["weighting.method=cagrad", "weighting.cagrad.rescale=3"], "weighting.cagrad.rescale"),
            (
                &["weighting.method=nash_mtl", "weighting.nash_mtl.update_weights_every=0"],
                "weighting.nash_mtl",
            ),
            (&["train.momentum=0.9"], "train.momentum"),
            (&["model.encoder.dropout=1.0"], "model.encoder.dropout"),
            (&["train.monitor=a.accuracy"], "train.monitor"),
            (&["train.monitor=zz"], "train.monitor"),
            (&["run.single_task=c"], "run.single_task"),
            (&["run.single_task=a", "train.monitor=delta_p"], "train.monitor"),
            (&["train.early_stopping.patience=0"], "train.early_stopping.patience"),
            (&["train.schedule.kind=plateau", "train.schedule.factor=1.5"], "train.schedule.factor"),
            (&["train.schedule.kind=step", "train.schedule.step_epochs=0"], "train.schedule.step_epochs"),
            (&["train.schedule.min_lr=1.0"], "train.schedule.min_lr"),
        ];
        for (o, key) in cases {
            let e = run("", o).unwrap_err().to_string();
            assert!(e.contains(key), "{o:?}: {e}");
        }
    }

    #[test]
    fn multiclass_needs_classes() {
        let e = run("[[tasks]]\nname = \"m\"\nkind = \"multiclass\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("tasks[2].classes"), "{e}");
        let c = run("[[tasks]]\nname = \"m\"\nkind = \"multiclass\"\nclasses = 4\n", &[]).unwrap();
        assert_eq!(c.tasks[2].spec.kind, TaskKind::Multiclass { classes: 4 });
        assert_eq!(c.model.task_outputs, vec![1, 1, 4]);
    }

    #[test]
    fn a_task_group_trains_its_tasks_on_all_tasks_data() {
        let c = run("", &["run.tasks=[\"b\"]", "affinity.every=0"]).unwrap();
        assert_eq!(c.tasks.len(), 1);
        assert_eq!(c.tasks[0].spec.name, "b");
        assert_eq!((c.data_tasks.len(), c.subset.clone()), (2, Some(vec![1])));
        let c = run("", &["affinity.every=3"]).unwrap();
        assert_eq!(c.affinity, Some((3, 1e-3)), "look-ahead rate defaults to train.lr");
    }

    #[test]
    fn monitors_and_single_task_resolve() {
        let c = run("", &["train.monitor=b.auc"]).unwrap();
        assert_eq!(c.train.monitor, Monitor::Metric { task: 1, metric: MetricKind::Auc });
        let c = run("", &["run.single_task=b", "train.monitor=b.auc"]).unwrap();
        assert_eq!(c.tasks.len(), 1);
        assert_eq!(c.data_tasks.len(), 2);
        assert_eq!(c.single_task, Some(1));
        assert_eq!(c.train.monitor, Monitor::Metric { task: 0, metric: MetricKind::Auc });
        assert_eq!(c.model.task_outputs, vec![1]);
    }

    #[test]
    fn every_listed_method_resolves_and_the_readme_documents_it() {
        let readme = include_str!("../../../../README.md");
        for name in WeightingConfig::NAMES {
            let c = run("", &[&format!("weighting.method={name}")]).unwrap();
            assert_eq!(c.weighting.name(), *name);
            assert!(readme.contains(&format!("| `{name}` |")), "README's weighting table lacks `{name}`");
        }
        // The schema's names are exactly the listed ones: an unknown name's error lists them all.
        let e = run("", &["weighting.method=nope"]).unwrap_err().to_string();
        let listed = e.matches('`').count() / 2;
        assert!(listed >= WeightingConfig::NAMES.len(), "{e}");
        for name in WeightingConfig::NAMES {
            assert!(e.contains(&format!("`{name}`")), "{name} missing from: {e}");
        }
    }

    #[test]
    fn ew_accepts_every_input() {
        let c = run("", &["weighting.gradients=representation"]).unwrap();
        assert_eq!(c.weighting_input, WeightingInput::RepresentationGradients);
    }
}
