//! Validation: the raw [`FileConfig`] becomes a [`RunConfig`] whose values are all in range.
//! Every check names the TOML key and what is allowed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use mtl_data::{SplitFractions, SyntheticConfig, TaskKind, TaskSpec};
use mtl_model::architecture::HpsConfig;
use mtl_model::encoder::MlpConfig;
use mtl_model::{ArchitectureConfig, MultiTaskModelConfig};
use mtl_weighting::{UwConfig, WeightingConfig, WeightingInput};

use super::error::ConfigError;
use super::load::load_file;
use super::schema::{
    ArchitectureName, FileConfig, GradientsName, MethodName, MlpSection, OptimizerName, TaskKindName,
};
use crate::metrics::MetricKind;

/// One task with its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    /// Name and kind.
    pub spec: TaskSpec,
    /// Metrics to report, in order.
    pub metrics: Vec<MetricKind>,
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
    /// Generator settings.
    pub synthetic: SyntheticConfig,
    /// Split fractions.
    pub split: SplitFractions,
    /// Tasks in order.
    pub tasks: Vec<TaskConfig>,
    /// The network.
    pub model: MultiTaskModelConfig,
    /// The weighting method.
    pub weighting: WeightingConfig,
    /// What the weighting method reads.
    pub weighting_input: WeightingInput,
    /// Loop and optimizer.
    pub train: TrainConfig,
    /// The resolved TOML (file plus overrides), written to the run folder.
    pub toml: String,
}

impl RunConfig {
    /// Read, override and validate a config file.
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let (file, toml) = load_file(path, overrides)?;
        resolve(path, file, toml)
    }

    /// Validate TOML `text` as if read from `source` (used by tests and examples).
    pub fn from_toml(source: &Path, text: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let (file, toml) = super::load::parse_text(source, text, overrides)?;
        resolve(source, file, toml)
    }

    /// Task specs in order.
    pub fn task_specs(&self) -> Vec<TaskSpec> {
        self.tasks.iter().map(|t| t.spec.clone()).collect()
    }

    /// The run folder: `<output_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.output_dir.join(&self.name)
    }
}

/// Validate `file` (read from `path`) into a [`RunConfig`].
pub fn resolve(path: &Path, file: FileConfig, toml: String) -> Result<RunConfig, ConfigError> {
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
            (TaskKindName::Multiclass, Some(c)) if c >= 2 => TaskKind::Multiclass { classes: c },
            (TaskKindName::Multiclass, Some(c)) => {
                return Err(invalid(&key("classes"), format!("{c} classes; use at least 2")));
            }
            (TaskKindName::Multiclass, None) => {
                return Err(invalid(&key("classes"), "multiclass tasks need `classes = N`".into()));
            }
            (_, Some(_)) => {
                return Err(invalid(
                    &key("classes"),
                    "only multiclass tasks take `classes`; remove it".into(),
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
        tasks.push(TaskConfig { spec: TaskSpec { name: t.name.clone(), kind }, metrics });
    }

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
    };
    let data_err = |e: mtl_data::DataError| match e {
        mtl_data::DataError::InvalidSetting { key, message } => invalid(&key, message),
    };
    synthetic.validate(tasks.len()).map_err(data_err)?;
    let split = SplitFractions {
        train: file.data.split.train,
        valid: file.data.split.valid,
        test: file.data.split.test,
    };
    split.validate().map_err(data_err)?;
    if split.valid <= 0.0 {
        return Err(invalid(
            "data.split.valid",
            "model selection needs a validation split; use a fraction above 0".into(),
        ));
    }

    // Model.
    let mlp = |section: &MlpSection,
               key: &str,
               default: &[usize],
               d_input: usize|
     -> Result<MlpConfig, ConfigError> {
        let hidden = section.hidden.clone().unwrap_or_else(|| default.to_vec());
        if hidden.contains(&0) {
            return Err(invalid(&format!("{key}.hidden"), "layer widths must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&section.dropout) {
            return Err(invalid(&format!("{key}.dropout"), format!("{} is not in [0, 1)", section.dropout)));
        }
        Ok(MlpConfig { d_input, hidden, activation: section.activation, dropout: section.dropout })
    };
    let encoder = mlp(&file.model.encoder, "model.encoder", &[256, 256], synthetic.features)?;
    let head = mlp(&file.model.head, "model.head", &[64], encoder.d_output())?;
    let architecture = match file.model.architecture {
        ArchitectureName::Hps => ArchitectureConfig::Hps(HpsConfig { encoder }),
    };
    let model = MultiTaskModelConfig {
        architecture,
        head_hidden: head.hidden,
        head_activation: head.activation,
        head_dropout: head.dropout,
        task_outputs: tasks.iter().map(|t| t.spec.kind.output_dim()).collect(),
    };

    // Weighting.
    let weighting = match file.weighting.method {
        MethodName::Ew => WeightingConfig::Ew,
        MethodName::Uw => {
            let v = file.weighting.uw.init_log_var;
            if !v.is_finite() {
                return Err(invalid("weighting.uw.init_log_var", "must be a finite number".into()));
            }
            WeightingConfig::Uw(UwConfig { init_log_var: v })
        }
    };
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
    let optimizer = match t.optimizer {
        OptimizerName::Adam => {
            OptimizerConfig::Adam { betas: t.betas, eps: t.eps, weight_decay: t.weight_decay }
        }
        OptimizerName::Adamw => {
            OptimizerConfig::AdamW { betas: t.betas, eps: t.eps, weight_decay: t.weight_decay }
        }
        OptimizerName::Sgd => OptimizerConfig::Sgd { momentum: t.momentum, weight_decay: t.weight_decay },
    };

    Ok(RunConfig {
        source: path.to_path_buf(),
        name: file.run.name.clone(),
        seed: file.run.seed,
        output_dir: PathBuf::from(&file.run.output_dir),
        synthetic,
        split,
        tasks,
        model,
        weighting,
        weighting_input,
        train: TrainConfig {
            epochs: t.epochs,
            batch_size: t.batch_size,
            drop_last: t.drop_last,
            lr: t.lr,
            optimizer,
            clip_grad_norm: t.clip_grad_norm,
        },
        toml,
    })
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
        resolve(p, f, t)
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
            (&["data.synthetic.correlation=2.0"], "data.synthetic.correlation"),
            (&["data.split.train=0.5"], "data.split"),
            (&["tasks.1.metrics=[\"r2\"]"], "tasks[1].metrics"),
            (&["tasks.0.classes=3"], "tasks[0].classes"),
            (&["tasks.1.name=\"a\""], "tasks[1].name"),
            (&["weighting.method=uw", "weighting.gradients=parameters"], "weighting.gradients"),
            (&["train.momentum=0.9"], "train.momentum"),
            (&["model.encoder.dropout=1.0"], "model.encoder.dropout"),
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
    fn ew_accepts_every_input() {
        let c = run("", &["weighting.gradients=representation"]).unwrap();
        assert_eq!(c.weighting_input, WeightingInput::RepresentationGradients);
    }
}
