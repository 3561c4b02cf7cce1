//! `mtl predict`: per-task predictions of a trained run on new rows (a CSV file) or on one of
//! the run's own splits, written as CSV.
//!
//! The input columns a run expects, and the preprocessing fitted on its training split, are
//! saved in the run folder as `inputs.json` ([`InputSchema`]) when training starts, so that
//! prediction applies exactly what training saw. Output columns, per task: `TASK` (the value
//! for regression, the class for binary and multiclass, the predicted label ids joined by `;`
//! for multilabel), `TASK_prob` (binary: probability of class 1) or `TASK_prob_K` (multiclass:
//! probability of class K; multilabel: of label K); with `--split`, also `TASK_label` (empty
//! where the sample has no label).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use mtl_data::table::Preprocessing;
use mtl_data::{FeatureRows, MultiTaskDataset, TaskKind, batch_indices, decode_labels, id_data};
use mtl_model::{Input, MultiTaskModel};
use serde::{Deserialize, Serialize};

use crate::config::data::DataSource;
use crate::config::{RunConfig, TaskConfig};
use crate::error::Error;
use crate::io::atomic_write;
use crate::metrics::host_values;

/// The input a run's network reads, saved as `RUN_DIR/inputs.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    /// Feature column names, in the order the network reads them.
    pub features: Vec<String>,
    /// Per-column `(x − mean) / std` fitted on the training split; `None` when the features
    /// are used as they are (the synthetic generator's are already standard normal).
    pub standardize: Option<Vec<(f64, f64)>>,
    /// CSV sources: the file format, vocabularies, scalers and class lists fitted on the
    /// training split. `mtl predict --input` reads files in that format (label and other
    /// columns are ignored), and reopening the run does not refit them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Preprocessing>,
    /// Standardised regression targets: task → `{mean, std}` of the training split. The
    /// network predicts `(y − mean) / std`; `mtl predict` writes `output · std + mean`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub targets: std::collections::BTreeMap<String, TargetScale>,
    /// Feature columns that hold category codes, `(position in features, cardinality)`:
    /// the network reads them as integer ids (`model.encoder.categorical` of a generated
    /// dataset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<(usize, usize)>,
    /// How the id columns' values become the network's ids ([`ID_MAPPING`]), written where
    /// the network reads ids so that the file says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_mapping: Option<String>,
}

/// How a run's id columns map values to the ids its network reads (`inputs.json`'s
/// `id_mapping`, the exports' `ids` input).
pub const ID_MAPPING: &str = "a categorical value values[i] of its column's vocabulary (table.categorical, table.multi_hot) is id i + 1; 0 = missing or unseen; a hashed column (hash_buckets N) maps a value to 1 + fnv1a64(value) mod N; a column that shares another's uses that column's map; a multi-hot column fills its max_len slots with its first ids, 0-padded; a generated dataset's code columns (codes: [position, cardinality]) give their codes as they are";

/// How a standardised target maps back: `y = output · std + mean`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetScale {
    /// Training-split mean.
    pub mean: f64,
    /// Training-split population standard deviation.
    pub std: f64,
}

impl InputSchema {
    /// The schema of `config`'s data.
    pub fn for_config(config: &RunConfig) -> Self {
        let schema = match &config.data {
            DataSource::Synthetic(_) => Self {
                features: (0..config.data.d_input()).map(|i| format!("x{i}")).collect(),
                standardize: None,
                table: None,
                targets: Default::default(),
                codes: config.float_id_columns(),
                id_mapping: None,
            },
            // Pixels in [0, 1], row-major: p0 … p783.
            DataSource::MultiMnist(_) => Self {
                features: (0..config.data.d_input()).map(|i| format!("p{i}")).collect(),
                standardize: None,
                table: None,
                targets: Default::default(),
                codes: config.float_id_columns(),
                id_mapping: None,
            },
            DataSource::Csv(c) => Self {
                features: c.prep.feature_names(),
                standardize: None,
                table: Some(c.prep.clone()),
                targets: Default::default(),
                codes: Vec::new(),
                id_mapping: None,
            },
        };
        let has_ids = !schema.codes.is_empty() || schema.table.as_ref().is_some_and(|t| t.num_ids() > 0);
        Self { id_mapping: has_ids.then(|| ID_MAPPING.to_string()), ..schema }
    }

    /// The names of the dense input columns, in the order the network reads them: the
    /// features without the id columns (a table's ids, a generated dataset's code columns).
    pub fn dense_names(&self) -> Vec<String> {
        let ids = self.table.as_ref().map_or(0, Preprocessing::num_ids);
        (self.features.iter().enumerate())
            .skip(ids)
            .filter(|(j, _)| !self.codes.iter().any(|(c, _)| c == j))
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// With the target scales of `config`'s trained tasks (in task order).
    pub fn with_targets(mut self, config: &RunConfig, scales: &[Option<(f64, f64)>]) -> Self {
        for (t, scale) in config.tasks.iter().zip(scales) {
            if let Some((mean, std)) = scale {
                self.targets.insert(t.spec.name.clone(), TargetScale { mean: *mean, std: *std });
            }
        }
        self
    }

    /// Per trained task of `config`, the class names its predictions are written with: the
    /// names of a multiclass task whose table labels are names (listed, or inferred from
    /// string labels); `None` where classes are ids.
    pub fn class_names(&self, config: &RunConfig) -> Vec<Option<Vec<String>>> {
        config
            .tasks
            .iter()
            .map(|t| {
                let i = config.data_tasks.iter().position(|d| d.spec.name == t.spec.name)?;
                match &self.table.as_ref()?.labels.get(i)?.map {
                    mtl_data::table::LabelMap::ClassNames { names } => Some(names.clone()),
                    _ => None,
                }
            })
            .collect()
    }

    /// Map the network's regression outputs of `tasks` back to the targets' original scale.
    pub fn unscale(&self, tasks: &[TaskConfig], outputs: &mut [Vec<Vec<f32>>]) {
        for (t, out) in tasks.iter().zip(outputs) {
            if let Some(s) = self.targets.get(&t.spec.name) {
                for row in out {
                    row[0] = (f64::from(row[0]) * s.std + s.mean) as f32;
                }
            }
        }
    }

    /// Write `inputs.json` into `run_dir`.
    pub fn save(&self, run_dir: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).expect("schema serialises");
        atomic_write(&run_dir.join("inputs.json"), &json)
    }

    /// Read `inputs.json` from `run_dir`.
    pub fn load(run_dir: &Path) -> Result<Self, Error> {
        let path = run_dir.join("inputs.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::RunDir {
            path: run_dir.to_path_buf(),
            message: format!(
                "cannot read inputs.json ({}); it is written when training starts — is this a run folder?",
                crate::os::os_message(&e)
            ),
        })?;
        serde_json::from_str(&text).map_err(|e| Error::RunDir {
            path: run_dir.to_path_buf(),
            message: format!("inputs.json is corrupt ({e}); train the run again"),
        })
    }

    /// Apply the saved preprocessing to row-major `features`.
    pub fn preprocess(&self, features: &mut [f32]) {
        if let Some(stats) = &self.standardize {
            for row in features.chunks_mut(stats.len()) {
                for (x, (mean, std)) in row.iter_mut().zip(stats) {
                    *x = ((*x as f64 - mean) / std) as f32;
                }
            }
        }
    }

    /// Read a CSV file with a header naming exactly the feature columns (in any order) — or,
    /// for a CSV-trained run, a file in the training files' format. Returns the network's
    /// inputs, preprocessed.
    pub fn read_csv(&self, path: &Path) -> Result<FeatureRows, Error> {
        if let Some(prep) = &self.table {
            return Ok(prep.read_features(path)?);
        }
        let features =
            if mtl_data::table::is_parquet(path) { self.read_parquet(path)? } else { self.read_text(path)? };
        FeatureRows::from_codes(features, self.features.len(), &self.codes, "input")
            .map_err(|e| Error::Input { path: path.to_path_buf(), line: None, message: e.to_string() })
    }

    /// The feature columns of a CSV file, row-major in schema order, preprocessed.
    fn read_text(&self, path: &Path) -> Result<Vec<f32>, Error> {
        let bad =
            |line: Option<u64>, message: String| Error::Input { path: path.to_path_buf(), line, message };
        // A missing file is a path problem (with its advice); a gzipped one is read as is.
        std::fs::metadata(path).map_err(crate::error::io_error(path))?;
        let file = mtl_data::table::open_text(path).map_err(|m| bad(None, m))?;
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(file);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(Some(1), e.to_string()))?
            .iter()
            .enumerate()
            .map(|(i, h)| if i == 0 { h.trim_start_matches('\u{feff}') } else { h }.to_string())
            .collect();
        if header.iter().all(|h| h.is_empty()) {
            return Err(bad(
                Some(1),
                "the file is empty; it needs a header naming the feature columns".into(),
            ));
        }
        let position: HashMap<&str, usize> =
            header.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();
        let missing: Vec<&str> =
            self.features.iter().filter(|f| !position.contains_key(f.as_str())).map(String::as_str).collect();
        let extra: Vec<&str> =
            header.iter().filter(|h| !self.features.contains(h)).map(String::as_str).collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing column(s) {}", list(&missing)));
            }
            if !extra.is_empty() {
                parts.push(format!("unexpected column(s) {}", list(&extra)));
            }
            return Err(bad(
                Some(1),
                format!(
                    "{}; the run reads exactly the {} columns {} (see inputs.json)",
                    parts.join(" and "),
                    self.features.len(),
                    list(&self.features.iter().map(String::as_str).collect::<Vec<_>>())
                ),
            ));
        }
        let order: Vec<usize> = self.features.iter().map(|f| position[f.as_str()]).collect();
        let mut features = Vec::new();
        let mut rows = 0;
        for record in reader.records() {
            let record = record.map_err(|e| bad(e.position().map(|p| p.line()), e.to_string()))?;
            let line = record.position().map(|p| p.line());
            for (&i, name) in order.iter().zip(&self.features) {
                let cell = &record[i];
                let v: f32 = cell
                    .parse()
                    .map_err(|_| bad(line, format!("column `{name}`: `{cell}` is not a number")))?;
                // NaN and infinities parse as floats but no training row held one.
                if !v.is_finite() {
                    return Err(bad(line, format!("column `{name}`: `{cell}` is not a finite number")));
                }
                features.push(v);
            }
            rows += 1;
        }
        if rows == 0 {
            return Err(bad(None, "no data rows after the header".into()));
        }
        self.preprocess(&mut features);
        Ok(features)
    }
}

impl InputSchema {
    /// A Parquet file holding the feature columns (numbers; other columns are not read).
    fn read_parquet(&self, path: &Path) -> Result<Vec<f32>, Error> {
        let format = mtl_data::table::CsvFormat::default();
        let table = mtl_data::table::RawTable::read_columns(path, &format, Some(&self.features))?;
        let columns: Vec<usize> =
            (self.features.iter()).map(|f| table.numeric_column(f)).collect::<Result<_, _>>()?;
        let mut features = Vec::with_capacity(table.rows.len() * columns.len());
        for (r, record) in table.rows.iter().enumerate() {
            for &c in &columns {
                let cell = &record[c];
                let v = cell.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    table.cell_error(r, c, format!("`{cell}` is not a finite number (a null or NaN cell?)"))
                })?;
                features.push(v);
            }
        }
        self.preprocess(&mut features);
        Ok(features)
    }
}

fn list(items: &[&str]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(|i| format!("`{i}`")).collect();
    if items.len() > SHOWN {
        s.push(format!("… ({} in all)", items.len()));
    }
    s.join(", ")
}

/// Per-task outputs of `model` for `rows`: for each task, one row of values per sample
/// (regression: `[value]`, binary: `[p(1)]`, multiclass: class probabilities; a binary task
/// that follows others in a chain: `[p(1) of its tower, p(1) of the chain's joint event]`).
pub fn predict(
    model: &MultiTaskModel,
    tasks: &[TaskConfig],
    rows: &FeatureRows,
    device: &Device,
) -> Vec<Vec<Vec<f32>>> {
    let (n, d, k) = (rows.rows, rows.num_dense(), rows.num_ids());
    let mut out: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(n); tasks.len()];
    let order: Vec<usize> = (0..n).collect();
    for idx in batch_indices(&order, 1024, false) {
        let (start, b) = (idx[0], idx.len());
        let dense = rows.dense[start * d..(start + b) * d].to_vec();
        let ids = (k > 0).then(|| {
            Tensor::<2, Int>::from_data(
                id_data(rows.ids[start * k..(start + b) * k].iter().copied(), b, k),
                device,
            )
        });
        let x = Input::new(Tensor::<2>::from_data(TensorData::new(dense, [b, d]), device), ids);
        let z = model.architecture.shared(x.clone());
        let (outputs, towers) = model.forward_with_towers(&x, z);
        for (t, (y, tower)) in outputs.into_iter().zip(towers).enumerate() {
            let y = match tasks[t].spec.kind {
                TaskKind::Regression => y,
                TaskKind::Binary if !model.follows(t).is_empty() => {
                    Tensor::cat(vec![sigmoid(tower), sigmoid(y)], 1)
                }
                TaskKind::Binary | TaskKind::Multilabel { .. } => sigmoid(y),
                TaskKind::Multiclass { .. } => softmax(y, 1),
            };
            let width = y.dims()[1];
            let values = host_values(y.flatten(0, 1));
            out[t].extend(values.chunks(width).map(|c| c.iter().map(|v| *v as f32).collect::<Vec<_>>()));
        }
    }
    out
}

/// Write predictions (and, with `labels`, the true labels) as CSV to `path`, atomically. A
/// multiclass task with `class_names[t]` writes its predicted (and true) class by name, else
/// by id. A chain step (a binary task with two values per row, see [`predict`]) writes its
/// tower's class and probability, then `TASK_joint_prob` and, with `labels`,
/// `TASK_joint_label` (its training label: the joint event's).
pub fn write_predictions(
    path: &Path,
    tasks: &[TaskConfig],
    outputs: &[Vec<Vec<f32>>],
    labels: Option<&MultiTaskDataset>,
    class_names: &[Option<Vec<String>>],
) -> Result<(), Error> {
    let class = |t: usize, k: usize| match class_names.get(t).and_then(Option::as_ref).and_then(|n| n.get(k))
    {
        Some(name) => name.clone(),
        None => k.to_string(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = Vec::new();
    let chained =
        |t: usize| tasks[t].spec.kind == TaskKind::Binary && outputs[t].first().is_some_and(|o| o.len() == 2);
    for (i, t) in tasks.iter().enumerate() {
        let name = &t.spec.name;
        header.push(name.clone());
        match t.spec.kind {
            TaskKind::Regression => {}
            TaskKind::Binary if chained(i) => {
                header.extend([format!("{name}_prob"), format!("{name}_joint_prob")])
            }
            TaskKind::Binary => header.push(format!("{name}_prob")),
            TaskKind::Multiclass { classes: k } | TaskKind::Multilabel { labels: k } => {
                header.extend((0..k).map(|k| format!("{name}_prob_{k}")))
            }
        }
        if labels.is_some() {
            header.push(if chained(i) { format!("{name}_joint_label") } else { format!("{name}_label") });
        }
    }
    let csv_err = |e: csv::Error| Error::Io { path: path.to_path_buf(), cause: e.into() };
    w.write_record(&header).map_err(csv_err)?;
    let n = outputs.first().map_or(0, Vec::len);
    // Row i gathers column i of every task's outputs and labels.
    #[allow(clippy::needless_range_loop)]
    for i in 0..n {
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        for (t, task) in tasks.iter().enumerate() {
            let o = &outputs[t][i];
            match task.spec.kind {
                TaskKind::Regression => row.push(o[0].to_string()),
                TaskKind::Binary => {
                    row.push(u8::from(o[0] >= 0.5).to_string());
                    row.extend(o.iter().map(f32::to_string));
                }
                TaskKind::Multiclass { .. } => {
                    let best = o.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(k, _)| k);
                    row.push(class(t, best));
                    row.extend(o.iter().map(f32::to_string));
                }
                TaskKind::Multilabel { .. } => {
                    row.push(label_set(&o.iter().map(|p| *p >= 0.5).collect::<Vec<_>>()));
                    row.extend(o.iter().map(f32::to_string));
                }
            }
            if let Some(d) = labels {
                row.push(if d.masks[t][i] > 0.0 {
                    match task.spec.kind {
                        TaskKind::Regression => {
                            let (mean, std) = d.target_scale(t).unwrap_or((0.0, 1.0));
                            ((f64::from(d.targets[t][i]) * std + mean) as f32).to_string()
                        }
                        TaskKind::Multilabel { labels } => label_set(&decode_labels(d.targets[t][i], labels)),
                        TaskKind::Multiclass { .. } => class(t, d.targets[t][i] as usize),
                        _ => (d.targets[t][i] as i64).to_string(),
                    }
                } else {
                    String::new()
                });
            }
        }
        w.write_record(&row).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io { path: path.to_path_buf(), cause: e.into_error() })?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::io::create_dir_all(parent)?;
    }
    atomic_write(path, &bytes)
}

/// A label set as its label ids joined by `;` (empty for the empty set).
fn label_set(on: &[bool]) -> String {
    on.iter().enumerate().filter(|(_, on)| **on).map(|(k, _)| k.to_string()).collect::<Vec<_>>().join(";")
}

/// Where `mtl predict` writes when `--output` is not given.
pub fn default_output(run_dir: &Path, input: Option<&Path>, split: Option<&str>) -> PathBuf {
    let stem = match (input, split) {
        (Some(p), _) => p.file_stem().map_or("input".into(), |s| s.to_string_lossy().to_string()),
        (None, Some(s)) => s.to_string(),
        (None, None) => "predictions".into(),
    };
    run_dir.join("predictions").join(format!("{stem}.csv"))
}
