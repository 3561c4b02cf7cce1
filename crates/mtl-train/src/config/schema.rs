//! The TOML file schema: what a user writes, with documented defaults.
//!
//! Every struct denies unknown keys, so a typo is an error (with a suggestion) rather than a
//! silently ignored setting. Values are checked in `resolve/`, which turns this raw form into
//! the validated [`RunConfig`](super::RunConfig).

use mtl_model::ActivationKind;
use serde::{Deserialize, Serialize};

/// A whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[run]`: name, seed, output folder.
    #[serde(default)]
    pub run: RunSection,
    /// `[data]`: where the samples come from and how they are split.
    #[serde(default)]
    pub data: DataSection,
    /// `[[tasks]]`: one table per task, in order.
    pub tasks: Vec<TaskSection>,
    /// `[model]`: architecture, encoder and heads.
    #[serde(default)]
    pub model: ModelSection,
    /// `[weighting]`: how task losses are balanced.
    #[serde(default)]
    pub weighting: WeightingSection,
    /// `[train]`: epochs, batches, optimizer.
    #[serde(default)]
    pub train: TrainSection,
    /// `[affinity]`: task-affinity measurement during training.
    #[serde(default)]
    pub affinity: AffinitySection,
}

/// `[affinity]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AffinitySection {
    /// Measure the task-affinity matrices every this many training steps (on the step's
    /// batch, before its update); 0 = off. Default 0.
    pub every: usize,
    /// Learning rate of TAG's virtual look-ahead step. Default: `train.lr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookahead_lr: Option<f64>,
    /// Measure only steps before this one (the run's first `steps` steps; training goes on
    /// unmeasured); absent = the whole run. `mtl affinity --steps` sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
}

/// `[run]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Run name; the run folder is `<output_dir>/<name>`. Default `"run"`.
    pub name: String,
    /// Seed of everything random: data split, data order, weights, dropout. Default 0.
    pub seed: u64,
    /// Folder that holds run folders, relative to the working directory. Default `"runs"`.
    pub output_dir: String,
    /// Train only this task (a single-task baseline) on the same data; absent = all tasks.
    /// `mtl train --single-task` sets it for each task in turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_task: Option<String>,
    /// Train only these tasks (a task group, e.g. from `mtl affinity --groups`) on the data
    /// of all the config's tasks; absent = all tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<String>>,
}

impl Default for RunSection {
    fn default() -> Self {
        Self { name: "run".into(), seed: 0, output_dir: "runs".into(), single_task: None, tasks: None }
    }
}

/// Data sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSourceKind {
    /// The embedded generator of the MMoE paper (`[data.synthetic]`).
    #[default]
    Synthetic,
    /// MultiMNIST-style overlays built from IDX files (`[data.multi_mnist]`).
    MultiMnist,
    /// CSV tables (`[data.csv]`, label columns in `[[tasks]]`).
    Csv,
}

/// Multi-input task sampling as written in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingName {
    /// p_t ∝ n_t: every sample once per epoch.
    #[default]
    Proportional,
    /// p_t = 1/T.
    Uniform,
    /// p_t ∝ n_t^{1/τ}, τ = `data.temperature`.
    Temperature,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Where samples come from. Default `"synthetic"`.
    pub source: DataSourceKind,
    /// `[data.synthetic]`: generator settings.
    pub synthetic: SyntheticSection,
    /// `[data.multi_mnist]`: image folders.
    pub multi_mnist: MultiMnistSection,
    /// `[data.csv]`: table files and feature columns.
    pub csv: CsvSection,
    /// `[data.split]`: train/valid/test fractions (for the splits without their own file).
    pub split: mtl_data::SplitFractions,
    /// Multi-input mode: how an epoch shares its draws among the tasks. Default
    /// `"proportional"`.
    pub sampling: SamplingName,
    /// Temperature τ of `sampling = "temperature"`. Default 2.
    pub temperature: f64,
    /// Standardise every regression target with the training split's mean and std (a task's
    /// `standardize` overrides it): losses on the standardised scale, metrics and predictions
    /// on the original one. Default false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub standardize_targets: bool,
    /// `mtl data` and `mtl check` warn when the regression targets' standard deviations differ
    /// by more than this factor. Default 100 (left out of the written config when default, so
    /// baseline cache keys stay as they were).
    #[serde(skip_serializing_if = "is_default_scale_warning")]
    pub target_scale_warning: f64,
}

fn is_default_scale_warning(v: &f64) -> bool {
    *v == 100.0
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            source: DataSourceKind::default(),
            synthetic: SyntheticSection::default(),
            multi_mnist: MultiMnistSection::default(),
            csv: CsvSection::default(),
            split: mtl_data::SplitFractions::default(),
            sampling: SamplingName::default(),
            temperature: 2.0,
            standardize_targets: false,
            target_scale_warning: 100.0,
        }
    }
}

/// `[data.csv]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvSection {
    /// Folder that relative file paths start from; `$MTL_DATA_DIR` at its start stands for that
    /// variable (else `../shared/data`). Default: the working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Training file (single-input mode; in multi-input mode each task names its own files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train: Option<String>,
    /// Validation file; absent = `data.split.valid` of the training file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<String>,
    /// Test file; absent = `data.split.test` of the training file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// The first line names the columns. Default true.
    pub header: bool,
    /// Column names of a file without a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Field separator, one ASCII character. Default `","`.
    pub delimiter: String,
    /// Cell values meaning "missing" besides the empty cell, e.g. `["?"]`. Default none.
    pub missing: Vec<String>,
    /// Skip lines starting with this character. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Numeric feature columns: names, globs (`"x*"`), ranges (`"f1..f103"`) or `"*"` (every
    /// column that is not a label, excluded, or categorical).
    pub numeric: Vec<String>,
    /// Categorical feature columns (vocabularies fitted on the training split; unseen and
    /// missing values share id 0), written as `numeric` is. They need
    /// `model.encoder.kind = "tabular"`.
    pub categorical: Vec<String>,
    /// Columns that are neither features nor labels (ids, timestamps), left out of the
    /// patterns of `numeric`/`categorical`; names or patterns. Default none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Standardise numeric columns with the training mean and std. Default true.
    pub standardize: bool,
    /// Multi-hot (sequence) columns: each cell a list of ids (`a|b|c` in a text file, a list
    /// in Parquet), embedded and pooled. Names. Default none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub multi_hot: Vec<String>,
    /// Separator of the ids of a multi-hot cell in a text file. Default `"|"`.
    pub list_separator: String,
    /// Vocabulary values seen fewer times in the training rows map to the unknown id.
    /// Default 1.
    pub min_count: u64,
    /// At most this many values per vocabulary (the most frequent). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_vocab: Option<usize>,
    /// Per id column (categorical or multi-hot): `[data.csv.embedding.NAME]`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub embedding: std::collections::BTreeMap<String, EmbeddingSection>,
    /// Stream the training file (read it chunk by chunk every epoch, through a shuffle buffer)
    /// when it would take more memory than this: `"auto"` (a quarter of the machine's memory),
    /// a size such as `"512MB"` or `"4GB"` (`"0"`: always stream), or `"unlimited"` (never).
    pub memory_budget: String,
    /// Rows of a streaming run's shuffle buffer. Default 1000000.
    pub shuffle_buffer: usize,
}

/// `[data.csv.embedding.NAME]`: how one id column is embedded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSection {
    /// Hash the values into this many buckets (ids 1..=N; no vocabulary, unseen values
    /// welcome).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_buckets: Option<u64>,
    /// Look up this other id column's table (and use its ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// Multi-hot: ids kept per row (the first ones). Default the longest training list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Multi-hot: `"mean"` (default) or `"sum"` of the ids' embeddings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooling: Option<mtl_data::table::PoolingKind>,
}

impl Default for CsvSection {
    fn default() -> Self {
        Self {
            dir: None,
            train: None,
            valid: None,
            test: None,
            header: true,
            columns: None,
            delimiter: ",".into(),
            missing: Vec::new(),
            comment: None,
            numeric: Vec::new(),
            categorical: Vec::new(),
            exclude: Vec::new(),
            standardize: true,
            multi_hot: Vec::new(),
            list_separator: "|".into(),
            min_count: 1,
            max_vocab: None,
            embedding: Default::default(),
            memory_budget: "auto".into(),
            shuffle_buffer: mtl_data::table::DEFAULT_SHUFFLE_BUFFER,
        }
    }
}

/// One value or a list of them (`positive = ">50K"` or `positive = [">50K", ">50K."]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Class weights: a list, one per class, or `"balanced"` (n / (K·n_k) on the training split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClassWeightsValue {
    /// `"balanced"`.
    Named(String),
    /// One weight per class.
    List(Vec<f64>),
}

/// A task's own files in multi-input mode (`[tasks.files]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFilesSection {
    /// Training file.
    pub train: String,
    /// Validation file; absent = `data.split.valid` of the training file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<String>,
    /// Test file; absent = `data.split.test` of the training file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
}

/// `[data.multi_mnist]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiMnistSection {
    /// Folder holding the data set folders. Default: `$MTL_DATA_DIR`, else `../shared/data`.
    pub dir: Option<String>,
    /// Folder (under `dir`) of the left images' IDX files. Default `"mnist"`.
    pub left: String,
    /// Folder of the partners' IDX files. Default `"mnist"` (`"fashion-mnist"` for
    /// MultiFashion; one of each for Multi-(Fashion+MNIST)).
    pub right: String,
    /// Seed of the partner draws; default: `run.seed`.
    pub seed: Option<u64>,
}

impl Default for MultiMnistSection {
    fn default() -> Self {
        Self { dir: None, left: "mnist".into(), right: "mnist".into(), seed: None }
    }
}

/// `[data.synthetic]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSection {
    /// Samples generated before the split. Default 12000.
    pub samples: usize,
    /// Input dimension d. Default 100.
    pub features: usize,
    /// Pairwise task correlation p in [0, 1]. Default 0.9.
    pub correlation: f64,
    /// Norm c of the task weight vectors. Default 1.
    pub scale: f64,
    /// Number of sine terms m. Default 10.
    pub sin_terms: usize,
    /// Label noise standard deviation. Default 0.1.
    pub noise_std: f64,
    /// Generator seed; default: `run.seed`.
    pub seed: Option<u64>,
    /// Number of leading features turned into category codes (balanced quantile bins of the
    /// Gaussian feature), for the tabular encoder. Default 0.
    pub categorical_features: usize,
    /// Categories of each such feature. Default 8.
    pub categories: usize,
    /// Group id of each task, e.g. `[0, 0, 1, 1]`: tasks correlate (p) within their group and
    /// not across groups. Default: one group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_groups: Vec<usize>,
    /// γ in [0, 1], with `task_groups`: the groups lean on one common direction (weight γ) and
    /// each has its own sine terms, so tasks of different groups are different nonlinear
    /// functions of overlapping projections — groups that conflict. Default 0 (orthogonal).
    #[serde(skip_serializing_if = "is_zero")]
    pub group_conflict: f64,
    /// `mtl synth` only: high-cardinality id columns `id0`, `id1`, … (heavy-tailed draws from
    /// `id_cardinality` ids, each id nudging every task's latent). Default 0.
    pub id_features: usize,
    /// Distinct ids of each id and multi-hot column. Default 1000000.
    pub id_cardinality: u64,
    /// `mtl synth` only: multi-hot columns `hist0`, … (0..=`multi_hot_max_len` ids per row).
    /// Default 0.
    pub multi_hot_features: usize,
    /// Longest list of a multi-hot column. Default 10.
    pub multi_hot_max_len: usize,
    /// `[data.synthetic.funnel]`: a click → conversion funnel (two binary tasks) in place of
    /// the thresholded labels. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funnel: Option<FunnelSection>,
}

/// `[data.synthetic.funnel]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunnelSection {
    /// Mean click probability over the impressions. Default 0.05.
    pub click_rate: f64,
    /// Mean conversion probability over all impressions. Default 0.1.
    pub conversion_rate: f64,
    /// Share of each latent's variance from an unobserved latent shared by the click and the
    /// conversion, in [0, 1). Default 0 (independent given the features).
    pub confounding: f64,
}

impl Default for FunnelSection {
    fn default() -> Self {
        Self { click_rate: 0.05, conversion_rate: 0.1, confounding: 0.0 }
    }
}

impl Default for SyntheticSection {
    fn default() -> Self {
        Self {
            samples: 12_000,
            features: 100,
            correlation: 0.9,
            scale: 1.0,
            sin_terms: 10,
            noise_std: 0.1,
            seed: None,
            categorical_features: 0,
            categories: 8,
            task_groups: Vec::new(),
            group_conflict: 0.0,
            id_features: 0,
            id_cardinality: 1_000_000,
            multi_hot_features: 0,
            multi_hot_max_len: 10,
            funnel: None,
        }
    }
}

/// `train.select`: which epoch a run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectName {
    /// The best epoch by `train.monitor`.
    #[default]
    Best,
    /// The last epoch trained.
    Last,
}

impl SelectName {
    /// Whether this is the default.
    pub fn is_best(&self) -> bool {
        *self == SelectName::Best
    }
}

/// Task kinds as written in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKindName {
    /// Real-valued target.
    Regression,
    /// 0/1 target.
    Binary,
    /// One of `classes` classes.
    Multiclass,
    /// Any subset of `classes` labels (csv: of the `columns`).
    Multilabel,
}

/// One `[[tasks]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSection {
    /// Task name (unique), used in logs and files.
    pub name: String,
    /// `"regression"`, `"binary"` or `"multiclass"`.
    pub kind: TaskKindName,
    /// Number of classes (multiclass) or labels (multilabel); required for them unless a csv
    /// source's `labels` / `columns` give it, refused for the other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Metrics to report; default: all metrics of the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
    /// Metrics that enter Δm (a subset of `metrics`); default: the kind's primary metric (MSE,
    /// AUC or accuracy), or the first reported metric when that one is not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_metrics: Option<Vec<String>>,
    /// Regression: standardise this task's target with the training split's mean and std
    /// (default: `data.standardize_targets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardize: Option<bool>,
    /// CSV: the label column. Default: the task name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// CSV, multilabel: one 0/1 column per label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// CSV, binary: the value(s) meaning 1. Default: cells read 0/1 or false/true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<OneOrMany>,
    /// CSV, binary: the value(s) meaning 0; other values are errors. Default: anything not
    /// positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative: Option<OneOrMany>,
    /// CSV, multiclass: the class names in id order, or `"infer"` (sorted values of the
    /// training split). Default: cells are class ids 0..classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<OneOrMany>,
    /// Binary and multiclass: weight of each class in the training loss, or `"balanced"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weights: Option<ClassWeightsValue>,
    /// Binary: weight of the positive class (class weights `[1, pos_weight]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_weight: Option<f64>,
    /// CSV multi-input mode: this task's own files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<TaskFilesSection>,
}

/// Architectures a config may name (`model.architecture`), generated from the model crate's
/// table of architectures (`mtl_model::architectures!`).
macro_rules! architecture_name {
    ($($variant:ident, $name:ident, $config:ty, $module:ty, $doc:literal;)*) => {
        /// Sharing architectures a config may name.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum ArchitectureName {
            $(#[doc = $doc] $name,)*
        }
    };
}

mtl_model::architectures!(architecture_name);

// The enum is generated from a table, whose lines cannot carry `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for ArchitectureName {
    fn default() -> Self {
        ArchitectureName::hps
    }
}

/// Encoders a config may name (`[model.encoder] kind`), generated from the model crate's table
/// of encoders (`mtl_model::encoders!`).
macro_rules! encoder_kind {
    ($($variant:ident, $name:ident, $config:ty, $module:ty, $doc:literal;)*) => {
        /// Encoders a config may name.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum EncoderKind {
            $(#[doc = $doc] $name,)*
        }
    };
}

mtl_model::encoders!(encoder_kind);

// The enum is generated from a table, whose lines cannot carry `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for EncoderKind {
    fn default() -> Self {
        EncoderKind::mlp
    }
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Sharing architecture. Default `"hps"`.
    pub architecture: ArchitectureName,
    /// `[model.encoder]`: the shared encoder, each expert, each cross-stitch column.
    pub encoder: EncoderSection,
    /// `[model.head]`: each task's tower.
    pub head: MlpSection,
    /// `[model.experts]`: the mixture-of-experts architectures.
    pub experts: ExpertsSection,
    /// `[model.ple]`.
    pub ple: PleSection,
    /// `[model.cross_stitch]`.
    pub cross_stitch: CrossStitchSection,
    /// `[model.dselect_k]`.
    pub dselect_k: DselectKSection,
    /// `[model.chain]`: binary tasks that are steps of one funnel. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainSection>,
}

/// `[model.chain]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// The steps' task names in funnel order, e.g. `["click", "conversion"]`.
    pub tasks: Vec<String>,
    /// How knowledge passes along the chain. Default `"esmm"`.
    #[serde(default)]
    pub kind: ChainKind,
    /// ESCM²: weight λ of the counterfactual risk. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterfactual_weight: Option<f64>,
    /// ESCM²: smallest propensity (pCTR) an inverse propensity weight divides by. Default 0.05.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propensity_floor: Option<f64>,
    /// AITM: weight α of the behavioural expectation calibrator. Default 0.6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrator_weight: Option<f64>,
}

/// `model.chain.kind`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ChainKind {
    /// ESMM: each later step is trained on the joint event over every row.
    #[default]
    esmm,
    /// ESCM² with the inverse propensity score estimator: ESMM plus the counterfactual risk.
    escm2_ips,
    /// ESCM² with the doubly robust estimator (an imputation tower per later step).
    escm2_dr,
    /// AITM: attention over the step before's transferred representation, the joint as each
    /// later step's output, and the calibrator's penalty.
    aitm,
}

/// `[model.encoder]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderSection {
    /// `"mlp"` (default), `"cnn"` or `"tabular"`.
    pub kind: EncoderKind,
    /// Fully connected layers (after the convs or the embeddings). Default `[256, 256]`; `[50]`
    /// for a CNN (LeNet).
    pub hidden: Option<Vec<usize>>,
    /// Activation. Default `"relu"`.
    pub activation: ActivationKind,
    /// Dropout after every fully connected layer, in [0, 1). Default 0.
    pub dropout: f64,
    /// CNN: image shape `[channels, height, width]`; its product must equal the feature count.
    pub input_shape: Option<[usize; 3]>,
    /// CNN: output channels of each conv stage. Default `[10, 20]` (LeNet).
    pub channels: Option<Vec<usize>>,
    /// CNN: square kernel of every conv. Default 5.
    pub kernel_size: usize,
    /// CNN: max-pool window after every conv; 1 = none. Default 2.
    pub pool: usize,
    /// Tabular: indices of the categorical feature columns (0-based, increasing).
    pub categorical: Vec<usize>,
    /// Tabular: number of categories of each categorical column.
    pub cardinalities: Vec<usize>,
    /// Tabular: embedding width of each categorical column (of each embedding table, for a
    /// csv source whose columns share tables); default 8 for every one.
    pub embedding_dims: Option<Vec<usize>>,
    /// Tabular: the embedding fields a csv source's preprocessing gives (never written by a
    /// user; empty = one field per `categorical` column).
    #[serde(skip)]
    pub fields: Vec<mtl_data::table::IdField>,
}

impl Default for EncoderSection {
    fn default() -> Self {
        Self {
            kind: EncoderKind::mlp,
            hidden: None,
            activation: ActivationKind::Relu,
            dropout: 0.0,
            input_shape: None,
            channels: None,
            kernel_size: 5,
            pool: 2,
            categorical: Vec::new(),
            cardinalities: Vec::new(),
            embedding_dims: None,
            fields: Vec::new(),
        }
    }
}

/// `[model.experts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpertsSection {
    /// MMoE, OMoE, DSelect-k: number of experts. Default 8.
    pub count: usize,
    /// CGC, PLE: experts shared by all tasks (per level). Default 2.
    pub shared: usize,
    /// CGC, PLE: experts of each task (per level). Default 1.
    pub per_task: usize,
    /// Fully connected layers of each expert, replacing `[model.encoder] hidden` (experts are
    /// usually narrower than a shared-bottom encoder). Default: the encoder's.
    pub hidden: Option<Vec<usize>>,
    /// CNN encoders: channels of the gates' conv stem. Default 8.
    pub gate_stem_channels: usize,
}

impl Default for ExpertsSection {
    fn default() -> Self {
        Self { count: 8, shared: 2, per_task: 1, hidden: None, gate_stem_channels: 8 }
    }
}

/// `[model.ple]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PleSection {
    /// Extraction levels, at most the encoder's number of blocks. Default 2 (or 1 for a
    /// one-block encoder).
    pub levels: Option<usize>,
}

/// `[model.cross_stitch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossStitchSection {
    /// Initial diagonal of the mixing matrices, in (0, 1]. Default 0.9 (the paper's α_S).
    pub self_weight: f64,
}

impl Default for CrossStitchSection {
    fn default() -> Self {
        Self { self_weight: 0.9 }
    }
}

/// `[model.dselect_k]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DselectKSection {
    /// Number of selectors (non-zero experts per gate). Default 2.
    pub k: usize,
    /// Smooth-step width γ. Default 1.
    pub gamma: f64,
    /// Weight λ of the selectors' entropy regulariser. Default 0.1.
    pub entropy_weight: f64,
}

impl Default for DselectKSection {
    fn default() -> Self {
        Self { k: 2, gamma: 1.0, entropy_weight: 0.1 }
    }
}

/// An MLP's settings (`[model.head]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpSection {
    /// Hidden layer widths. Default `[256, 256]` for the encoder, `[64]` for heads.
    pub hidden: Option<Vec<usize>>,
    /// Activation. Default `"relu"`.
    pub activation: ActivationKind,
    /// Dropout probability in [0, 1). Default 0.
    pub dropout: f64,
}

impl Default for MlpSection {
    fn default() -> Self {
        Self { hidden: None, activation: ActivationKind::Relu, dropout: 0.0 }
    }
}

/// What a weighting method reads, as written in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradientsName {
    /// Task losses only.
    Losses,
    /// Per-task gradients of the shared representation.
    Representation,
    /// Per-task gradients of the shared parameters.
    Parameters,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `[weighting]` and its `[weighting.<method>]` sections, generated from the weighting
/// registry (`mtl_weighting::weighting_methods!`): each section is the method's own settings
/// type, with the method's own defaults.
macro_rules! weighting_section {
    ($($variant:ident, $name:ident, $method:ty, $config:ty, $doc:literal;)*) => {
        /// Weighting methods a config may name (`weighting.method`).
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum MethodName {
            $(#[doc = $doc] $name,)*
        }

        // Generated from a table, whose lines cannot carry `#[default]`.
        #[allow(clippy::derivable_impls)]
        impl Default for MethodName {
            fn default() -> Self {
                MethodName::ew
            }
        }

        /// `[weighting]`.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct WeightingSection {
            /// Method. Default `"ew"`.
            pub method: MethodName,
            /// What the method reads; default: the method's own default.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub gradients: Option<GradientsName>,
            /// Also log every step's task weights and losses to `RUN_DIR/steps.jsonl` (one host
            /// read per step). Default false: weights are logged per epoch in `metrics.jsonl`.
            pub log_steps: bool,
            $(
                #[doc = concat!("`[weighting.", stringify!($name), "]`: settings of ", $doc)]
                #[serde(skip_serializing_if = "is_default")]
                pub $name: $config,
            )*
        }

        impl WeightingSection {
            /// The chosen method with its section's settings.
            pub fn chosen(&self) -> mtl_weighting::WeightingConfig {
                match self.method {
                    $(MethodName::$name => mtl_weighting::WeightingConfig::$variant(self.$name.clone()),)*
                }
            }
        }

        impl MethodName {
            /// The config name.
            pub fn name(self) -> &'static str {
                match self {
                    $(MethodName::$name => stringify!($name),)*
                }
            }
        }
    };
}

mtl_weighting::weighting_methods!(weighting_section);

/// Optimizers a config may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Adam (L2 weight decay added to the gradient).
    #[default]
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
    /// Stochastic gradient descent with optional momentum.
    Sgd,
}

/// Where the training split lives while training (`train.device_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceData {
    /// On a GPU: resident when it fits the budget, else prefetched; on the CPU: host.
    #[default]
    Auto,
    /// Uploaded once; batches formed on the device.
    Resident,
    /// Batches gathered on the host by a background thread, one step ahead.
    Prefetch,
    /// Batches gathered on the host between steps.
    Host,
}

impl DeviceData {
    /// `true` for the default.
    pub fn is_auto(&self) -> bool {
        *self == DeviceData::Auto
    }
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Passes over the training split. Default 20.
    pub epochs: usize,
    /// Samples per step. Default 256.
    pub batch_size: usize,
    /// Drop the last, shorter batch of each epoch. Default false.
    pub drop_last: bool,
    /// Cut every batch into this many fixed parts, computed one by one and summed in a fixed
    /// order, so that a data-parallel run gives the same numbers bit for bit on any number of
    /// processes that divides it (and on one). Default: unset (one part per process, the
    /// fastest; results then agree across process counts to f32 rounding only).
    pub parts: Option<usize>,
    /// Where the training split lives while training: `"auto"` (on a GPU: on the device when it
    /// fits `device_data_budget_mb`, else prefetched; on the CPU backends: gathered on the host), `"resident"` (uploaded once, every batch
    /// formed on the device), `"prefetch"` (each batch gathered on the host by a background
    /// thread while the step before runs) or `"host"` (gathered on the host between steps).
    /// The same batches in the same order every way. Default `"auto"`.
    #[serde(skip_serializing_if = "DeviceData::is_auto")]
    pub device_data: DeviceData,
    /// The GPU memory `device_data = "auto"` may fill with the training split, in MiB.
    /// Default: a quarter of the GPU's memory (1024 MiB where the driver does not report it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_data_budget_mb: Option<u64>,
    /// `"adam"`, `"adamw"` or `"sgd"`. Default `"adam"`.
    pub optimizer: OptimizerName,
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Weight decay (L2 for adam/sgd, decoupled for adamw). Default 0.
    pub weight_decay: f64,
    /// SGD momentum (0 = none). Default 0.
    pub momentum: f64,
    /// Adam/AdamW (β1, β2). Default [0.9, 0.999].
    pub betas: [f64; 2],
    /// Adam/AdamW ε. Default 1e-8 (PyTorch's; Burn's own default is 1e-5).
    pub eps: f64,
    /// Clip the global gradient norm to this value; absent = no clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// What picks the best checkpoint (on the validation split), drives early stopping and
    /// reduce-on-plateau: `"loss"` (sum of task losses), `"delta_p"` / `"delta_m"` (relative
    /// improvement over the single-task baselines, which must exist), `"TASK.METRIC"` (e.g.
    /// `"y1.r2"`), or `"auto"`: the loss. Default `"auto"`.
    pub monitor: String,
    /// Which epoch's weights the run reports and `best/` holds: `"best"` (by `monitor` on the
    /// validation split) or `"last"` (a fixed-epoch protocol). Default `"best"` (left out of
    /// the written config, so baseline cache keys stay as they were).
    #[serde(skip_serializing_if = "SelectName::is_best")]
    pub select: SelectName,
    /// `[train.schedule]`: learning-rate schedule.
    pub schedule: ScheduleSection,
    /// `[train.early_stopping]`: stop when the monitored value stalls.
    pub early_stopping: crate::schedule::EarlyStopping,
}

/// Learning-rate schedules a config may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleName {
    /// `train.lr` throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `step_epochs` epochs.
    Step,
    /// Cosine decay to `min_lr` over the run, after the warm-up.
    Cosine,
    /// Multiply by `factor` when the monitor has not improved for more than `patience` epochs.
    Plateau,
}

/// `[train.schedule]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// `"constant"`, `"step"`, `"cosine"` or `"plateau"`. Default `"constant"`.
    pub kind: ScheduleName,
    /// Linear warm-up over this many epochs (fractions allowed), for any kind. Default 0.
    pub warmup_epochs: f64,
    /// step: epochs between decays. Default 10.
    pub step_epochs: usize,
    /// step: decay factor. Default 0.1.
    pub gamma: f64,
    /// plateau: decay factor. Default 0.1.
    pub factor: f64,
    /// plateau: epochs without improvement tolerated. Default 10.
    pub patience: usize,
    /// plateau: relative improvement that counts. Default 1e-4.
    pub threshold: f64,
    /// cosine: final rate; plateau: floor. Default 0.
    pub min_lr: f64,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            kind: ScheduleName::Constant,
            warmup_epochs: 0.0,
            step_epochs: 10,
            gamma: 0.1,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            min_lr: 0.0,
        }
    }
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 256,
            drop_last: false,
            parts: None,
            device_data: DeviceData::Auto,
            device_data_budget_mb: None,
            optimizer: OptimizerName::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            momentum: 0.0,
            betas: [0.9, 0.999],
            eps: 1e-8,
            clip_grad_norm: None,
            monitor: "auto".into(),
            select: SelectName::Best,
            schedule: ScheduleSection::default(),
            early_stopping: crate::schedule::EarlyStopping::default(),
        }
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}
