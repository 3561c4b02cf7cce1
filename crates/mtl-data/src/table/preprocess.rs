//! The preprocessing of a table, fitted on the training rows only and saved with the run:
//! vocabularies of the categorical columns (id 0 = unknown or missing), mean and standard
//! deviation of the numeric columns, and the class list of each label column.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::raw::{CsvFormat, RawTable};
use crate::dataset::FeatureRows;
use crate::error::DataError;
use crate::task::TaskKind;

/// How a task's label column maps to targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "map")]
pub enum LabelMap {
    /// A number.
    Regression,
    /// 1 for a value in `positive`, 0 for a value in `negative` (or, when `negative` is empty,
    /// for any other value). Without `positive`, the cells must read 0/1 or false/true.
    Binary {
        /// Values meaning class 1.
        positive: Vec<String>,
        /// Values meaning class 0; empty = everything that is not positive.
        negative: Vec<String>,
    },
    /// Class ids 0..n written as integers.
    ClassIds {
        /// Number of classes.
        classes: usize,
    },
    /// Class names; a class's id is its position.
    ClassNames {
        /// The classes, in id order.
        names: Vec<String>,
    },
    /// Class names found in the training rows, sorted; fitted into `ClassNames`.
    Infer,
    /// One 0/1 (or false/true) column per label; a sample whose label cells are all missing
    /// is unlabelled, one with some missing is an error.
    Multilabel {
        /// The label columns, in label order.
        columns: Vec<String>,
    },
}

/// One task's label column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelColumn {
    /// Column name.
    pub column: String,
    /// How values map to targets.
    #[serde(flatten)]
    pub map: LabelMap,
}

impl LabelColumn {
    /// The task kind this column yields once fitted (`Infer` must be fitted first).
    pub fn kind(&self) -> TaskKind {
        match &self.map {
            LabelMap::Regression => TaskKind::Regression,
            LabelMap::Binary { .. } => TaskKind::Binary,
            LabelMap::ClassIds { classes } => TaskKind::Multiclass { classes: *classes },
            LabelMap::ClassNames { names } => TaskKind::Multiclass { classes: names.len() },
            LabelMap::Infer => panic!("fit the label column `{}` before asking its kind", self.column),
            LabelMap::Multilabel { columns } => TaskKind::Multilabel { labels: columns.len() },
        }
    }

    /// The target of `cell` (not missing), or an error message.
    fn target(&self, cell: &str) -> Result<f32, String> {
        let list = |v: &[String]| v.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
        match &self.map {
            LabelMap::Regression => {
                parse_number(cell).ok_or_else(|| format!("`{cell}` is not a number (regression target)"))
            }
            LabelMap::Binary { positive, negative } if positive.is_empty() => {
                zero_one(cell).map(f32::from).ok_or_else(|| {
                    format!("`{cell}` is not 0/1 or false/true; name the positive value with the task's `positive`")
                })
            }
            LabelMap::Binary { positive, negative } => {
                if positive.iter().any(|p| p == cell) {
                    Ok(1.0)
                } else if negative.is_empty() || negative.iter().any(|n| n == cell) {
                    Ok(0.0)
                } else {
                    Err(format!(
                        "label `{cell}` is outside the declared classes (positive {}, negative {})",
                        list(positive),
                        list(negative)
                    ))
                }
            }
            LabelMap::ClassIds { classes } => match cell.parse::<usize>() {
                Ok(k) if k < *classes => Ok(k as f32),
                _ => Err(format!(
                    "label `{cell}` is outside the declared classes 0..={}; raise `classes` or list the class names in `labels`",
                    classes - 1
                )),
            },
            LabelMap::ClassNames { names } => {
                names.iter().position(|n| n == cell).map(|k| k as f32).ok_or_else(|| {
                    format!(
                        "label `{cell}` is outside the declared classes ({}); add it to the task's `labels`",
                        list(names)
                    )
                })
            }
            LabelMap::Infer | LabelMap::Multilabel { .. } => {
                panic!("fitted single-column labels only")
            }
        }
    }
}

/// A 0/1 cell (also false/true).
fn zero_one(cell: &str) -> Option<bool> {
    match cell {
        "0" | "false" | "False" | "FALSE" => Some(false),
        "1" | "true" | "True" | "TRUE" => Some(true),
        _ => None,
    }
}

/// A fitted categorical column: value → id (1-based; 0 = unknown or missing).
///
/// A vocabulary column maps the training values kept (at least `min_count` occurrences, the
/// `max_vocab` most frequent) to ids 1.. in sorted order; a hashed column (`hash_buckets = N`)
/// maps any value to `1 + fnv1a64(value) mod N` without a vocabulary; a column that `shares`
/// another's table takes that column's ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Column name.
    pub column: String,
    /// Training values, sorted; value `values[k]` has id `k + 1` (empty when hashed or shared).
    #[serde(default)]
    pub values: Vec<String>,
    /// Hashed ids: the number of buckets N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_buckets: Option<u64>,
    /// The column whose table (and ids) this one uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<String>,
}

/// The hash of hashed id columns: 64-bit FNV-1a of the cell's UTF-8 bytes (as trimmed; a
/// Parquet integer is hashed as its decimal text, so CSV and Parquet give the same ids).
/// In Python: `h = 0xcbf29ce484222325; for b in s.encode(): h = ((h ^ b) * 0x100000001b3) % 2**64`.
pub fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The largest number of ids a table may have: ids travel as 32-bit integers (signed on GPU
/// backends), so up to 2^31 of them.
pub const MAX_IDS: usize = 1 << 31;

impl Vocabulary {
    /// Number of ids, the unknown one included (of the column that owns the table).
    pub fn cardinality(&self) -> usize {
        match self.hash_buckets {
            Some(n) => n as usize + 1,
            None => self.values.len() + 1,
        }
    }

    /// The id of a (present) cell, by this column's own map (the owner's, for a sharing column).
    pub fn id(&self, cell: &str) -> u32 {
        // Both below MAX_IDS (config and fit checks), so below 2^31.
        match self.hash_buckets {
            Some(n) => 1 + (fnv1a64(cell) % n) as u32,
            None => self.values.binary_search_by(|v| v.as_str().cmp(cell)).map_or(0, |k| k as u32 + 1),
        }
    }
}

/// How a multi-hot column pools its ids' embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolingKind {
    /// The mean over the row's ids.
    #[default]
    Mean,
    /// Their sum.
    Sum,
}

/// A fitted multi-hot (sequence) column: each cell a list of ids, kept up to `max_len` (the
/// first ones), padded with 0; unknown values drop out (0 is padding, left out of the pool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiHot {
    /// The column's id map.
    #[serde(flatten)]
    pub ids: Vocabulary,
    /// Ids kept per row (the row's slots).
    pub max_len: usize,
    /// How the embeddings are pooled.
    #[serde(default)]
    pub pooling: PoolingKind,
}

/// Per-column id settings of a table source (`[data.csv.embedding.NAME]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdColumn {
    /// Hash values into N buckets instead of fitting a vocabulary.
    pub hash_buckets: Option<u64>,
    /// Use this other column's table and ids.
    pub share: Option<String>,
    /// Multi-hot: ids kept per row (default: the longest training list).
    pub max_len: Option<usize>,
    /// Multi-hot: pooling.
    pub pooling: PoolingKind,
}

/// The id columns' settings of a table source.
#[derive(Debug, Clone, PartialEq)]
pub struct IdSettings {
    /// Multi-hot columns (lists of ids), in row order after the categorical ones.
    pub multi_hot: Vec<String>,
    /// Per-column settings, by column name.
    pub columns: std::collections::BTreeMap<String, IdColumn>,
    /// Vocabulary values seen fewer times in the training rows map to the unknown id.
    pub min_count: u64,
    /// Keep at most this many values per vocabulary (the most frequent).
    pub max_vocab: Option<usize>,
}

impl Default for IdSettings {
    fn default() -> Self {
        Self { multi_hot: Vec::new(), columns: Default::default(), min_count: 1, max_vocab: None }
    }
}

/// One embedding field of the feature row (see the tabular encoder): columns
/// `start..start + len`, looking up table `table`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdField {
    /// First column of the row.
    pub start: usize,
    /// Columns (1, or a multi-hot column's `max_len`).
    pub len: usize,
    /// Index of its table among [`Preprocessing::table_cardinalities`].
    pub table: usize,
    /// A multi-hot column (pooled; id 0 = padding).
    pub multi_hot: bool,
    /// Its pooling.
    pub pooling: PoolingKind,
}

/// A fitted numeric column: x ↦ (x − mean) / std; a missing cell becomes the mean (0 after
/// scaling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Column name.
    pub column: String,
    /// Training mean.
    pub mean: f64,
    /// Training standard deviation (population); 1 for a constant column or when
    /// standardisation is off.
    pub std: f64,
    /// Whether values are standardised (else only missing cells are filled with the mean).
    pub standardize: bool,
}

/// Everything needed to turn a table file into network inputs the way training did.
///
/// Each row gives integer ids — the categorical columns (in config order), then each
/// multi-hot column's `max_len` id slots (in config order) — and dense values, the numeric
/// columns (in config order). [`Preprocessing::feature_names`] lists the ids, then the
/// numeric columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// How the files are written.
    pub format: CsvFormat,
    /// Categorical columns.
    pub categorical: Vec<Vocabulary>,
    /// Multi-hot columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub multi_hot: Vec<MultiHot>,
    /// Numeric columns.
    pub numeric: Vec<Scaler>,
    /// Label column of each task, fitted (`Infer` replaced by the class names found).
    pub labels: Vec<LabelColumn>,
}

impl Preprocessing {
    /// Fit on the rows `rows[k]` of each training table `tables[k]`: vocabularies, scalers and
    /// inferred classes see the training split only. (A [`Fitter`] fed the same rows chunk by
    /// chunk gives the same preprocessing.)
    pub fn fit(spec: FitSpec, tables: &[(&RawTable, &[usize])]) -> Result<Self, DataError> {
        let mut fitter = Fitter::new(spec);
        for (k, (table, rows)) in tables.iter().enumerate() {
            fitter.add(table, rows, k)?;
        }
        fitter.finish()
    }

    /// Number of columns, ids and numeric together.
    pub fn width(&self) -> usize {
        self.num_ids() + self.numeric.len()
    }

    /// Number of id columns: one per categorical column, `max_len` per multi-hot column.
    pub fn num_ids(&self) -> usize {
        self.categorical.len() + self.multi_hot.iter().map(|m| m.max_len).sum::<usize>()
    }

    /// Feature names in row order.
    pub fn feature_names(&self) -> Vec<String> {
        let slots =
            self.multi_hot.iter().flat_map(|m| (0..m.max_len).map(|k| format!("{}[{k}]", m.ids.column)));
        (self.categorical.iter().map(|v| v.column.clone()))
            .chain(slots)
            .chain(self.numeric.iter().map(|s| s.column.clone()))
            .collect()
    }

    /// The id map of every id column, categorical then multi-hot: the column's own, or for a
    /// sharing column the map of the column it shares.
    fn id_maps(&self) -> Vec<&Vocabulary> {
        let own: Vec<&Vocabulary> = self.own_maps().collect();
        let owner = |o: &String| own.iter().copied().find(|w| &w.column == o);
        own.iter().map(|&v| v.shares.as_ref().and_then(owner).unwrap_or(v)).collect()
    }

    /// Each id column's own map, categorical then multi-hot.
    fn own_maps(&self) -> impl Iterator<Item = &Vocabulary> {
        self.categorical.iter().chain(self.multi_hot.iter().map(|m| &m.ids))
    }

    /// Number of ids of each categorical column (the unknown id included).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.id_maps().iter().take(self.categorical.len()).map(|v| v.cardinality()).collect()
    }

    /// The embedding tables: one per id column that shares no other's, categorical then
    /// multi-hot; each entry its number of ids.
    pub fn table_cardinalities(&self) -> Vec<usize> {
        self.own_maps().filter(|v| v.shares.is_none()).map(Vocabulary::cardinality).collect()
    }

    /// The embedding fields over the id columns, in order.
    pub fn id_fields(&self) -> Vec<IdField> {
        let owners: Vec<&str> =
            self.own_maps().filter(|v| v.shares.is_none()).map(|v| v.column.as_str()).collect();
        let table = |v: &Vocabulary| {
            let owner = v.shares.as_deref().unwrap_or(&v.column);
            owners.iter().position(|o| *o == owner).unwrap_or(0)
        };
        let mut fields: Vec<IdField> = (self.categorical.iter().enumerate())
            .map(|(start, v)| IdField {
                start,
                len: 1,
                table: table(v),
                multi_hot: false,
                pooling: PoolingKind::Mean,
            })
            .collect();
        let mut start = self.categorical.len();
        for m in &self.multi_hot {
            fields.push(IdField {
                start,
                len: m.max_len,
                table: table(&m.ids),
                multi_hot: true,
                pooling: m.pooling,
            });
            start += m.max_len;
        }
        fields
    }

    /// The columns a file must have for [`features`](Self::features).
    pub fn feature_columns(&self) -> Vec<String> {
        (self.own_maps().map(|v| v.column.clone()))
            .chain(self.numeric.iter().map(|s| s.column.clone()))
            .collect()
    }

    /// Ids and dense values of `rows` of `table`, row-major.
    pub fn features(&self, table: &RawTable, rows: &[usize]) -> Result<FeatureRows, DataError> {
        let cat: Vec<usize> = (self.categorical.iter())
            .map(|v| categorical_column(table, &v.column))
            .collect::<Result<_, _>>()?;
        let bags: Vec<usize> = (self.multi_hot.iter())
            .map(|m| multi_hot_column(table, &m.ids.column))
            .collect::<Result<_, _>>()?;
        let num: Vec<usize> =
            self.numeric.iter().map(|s| table.numeric_column(&s.column)).collect::<Result<_, _>>()?;
        let maps = self.id_maps();
        let (cat_maps, bag_maps) = maps.split_at(self.categorical.len());
        let mut ids = Vec::with_capacity(rows.len() * self.num_ids());
        let mut out = Vec::with_capacity(rows.len() * self.numeric.len());
        for &r in rows {
            let record = &table.rows[r];
            for (v, &c) in cat_maps.iter().zip(&cat) {
                let cell = &record[c];
                ids.push(if self.format.is_missing(cell) { 0 } else { v.id(cell) });
            }
            for ((m, v), &c) in self.multi_hot.iter().zip(bag_maps).zip(&bags) {
                let filled = ids.len();
                ids.extend(table.items(r, c, &self.format).take(m.max_len).map(|item| v.id(item)));
                ids.resize(filled + m.max_len, 0);
            }
            for (s, &c) in self.numeric.iter().zip(&num) {
                let x = if self.format.is_missing(&record[c]) {
                    s.mean
                } else {
                    numeric_cell(table, r, c)? as f64
                };
                out.push(((x - s.mean) / s.std) as f32);
            }
        }
        Ok(FeatureRows { ids, dense: out, rows: rows.len() })
    }

    /// Ids and dense values of every row of the file at `path` (read with the saved format),
    /// for `mtl predict`; other columns (labels, ids) are ignored.
    pub fn read_features(&self, path: &std::path::Path) -> Result<FeatureRows, DataError> {
        let table = RawTable::read_columns(path, &self.format, Some(&self.feature_columns()))?;
        let rows: Vec<usize> = (0..table.rows.len()).collect();
        self.features(&table, &rows)
    }

    /// Targets and masks of task `task` for `rows` of `table`: a missing cell gives mask 0.
    pub fn labels(
        &self,
        task: usize,
        table: &RawTable,
        rows: &[usize],
    ) -> Result<(Vec<f32>, Vec<f32>), DataError> {
        let label = &self.labels[task];
        let mut targets = Vec::with_capacity(rows.len());
        let mut masks = Vec::with_capacity(rows.len());
        if let LabelMap::Multilabel { columns } = &label.map {
            let cols: Vec<usize> =
                columns.iter().map(|c| label_column(table, c, task, "columns")).collect::<Result<_, _>>()?;
            for &r in rows {
                let cells: Vec<&str> = cols.iter().map(|&c| &table.rows[r][c]).collect();
                let missing = cells.iter().filter(|c| self.format.is_missing(c)).count();
                if missing == cells.len() {
                    targets.push(0.0);
                    masks.push(0.0);
                    continue;
                }
                let mut on = Vec::with_capacity(cells.len());
                for (&c, cell) in cols.iter().zip(&cells) {
                    on.push(zero_one(cell).ok_or_else(|| {
                        let why = if self.format.is_missing(cell) {
                            "a missing label beside given ones; a multilabel sample is labelled in all its columns or in none"
                                .to_string()
                        } else {
                            format!("`{cell}` is not 0/1 or false/true (multilabel column)")
                        };
                        table.cell_error(r, c, why)
                    })?);
                }
                targets.push(crate::task::encode_labels(&on));
                masks.push(1.0);
            }
            return Ok((targets, masks));
        }
        let c = label_column(table, &label.column, task, "column")?;
        for &r in rows {
            let cell = &table.rows[r][c];
            if self.format.is_missing(cell) {
                targets.push(0.0);
                masks.push(0.0);
            } else {
                targets.push(
                    label
                        .target(cell)
                        .map_err(|m| table.cell_error(r, c, format!("{m} ({})", label.keys(task))))?,
                );
                masks.push(1.0);
            }
        }
        Ok((targets, masks))
    }
}

/// The column of task `task`'s label, or an error naming the config key that names it.
fn label_column(table: &RawTable, name: &str, task: usize, key: &str) -> Result<usize, DataError> {
    let found = table.column(name, "label").and_then(|c| table.expect_scalar(c, "label").map(|_| c));
    found.map_err(|e| e.with_advice(&format!("set `tasks[{task}].{key}` (default: the task's name)")))
}

impl LabelColumn {
    /// The config keys of task `task` that say how its cells map to targets.
    fn keys(&self, task: usize) -> String {
        let keys: &[&str] = match &self.map {
            LabelMap::Regression => &["kind"],
            LabelMap::Binary { positive, .. } if positive.is_empty() => &["kind", "positive"],
            LabelMap::Binary { .. } => &["positive", "negative"],
            LabelMap::ClassIds { .. } => &["classes", "labels"],
            LabelMap::ClassNames { .. } | LabelMap::Infer => &["labels"],
            LabelMap::Multilabel { .. } => &["columns"],
        };
        keys.iter().map(|k| format!("`tasks[{task}].{k}`")).collect::<Vec<_>>().join(", ")
    }
}

fn parse_number(cell: &str) -> Option<f32> {
    cell.parse::<f32>().ok().filter(|v| v.is_finite())
}

fn numeric_cell(table: &RawTable, row: usize, column: usize) -> Result<f32, DataError> {
    let cell = &table.rows[row][column];
    parse_number(cell).ok_or_else(|| {
        table.cell_error(
            row,
            column,
            format!("`{cell}` is not a number; list the column under `categorical`, or declare `{cell}` in `data.csv.missing`"),
        )
    })
}

/// The column of a categorical feature, which must hold one value per row.
fn categorical_column(table: &RawTable, name: &str) -> Result<usize, DataError> {
    let c = table.column(name, "categorical feature")?;
    table.expect_scalar(c, "categorical feature")?;
    Ok(c)
}

/// The column of a multi-hot feature.
fn multi_hot_column(table: &RawTable, name: &str) -> Result<usize, DataError> {
    let c = table.column(name, "multi-hot feature")?;
    table.expect_ids(c)?;
    Ok(c)
}

/// What a preprocessing is fitted from: the columns and settings of a table source.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSpec {
    /// How the files are written.
    pub format: CsvFormat,
    /// Categorical feature columns.
    pub categorical: Vec<String>,
    /// Numeric feature columns.
    pub numeric: Vec<String>,
    /// Standardise numeric columns.
    pub standardize: bool,
    /// Label column of each task.
    pub labels: Vec<LabelColumn>,
    /// Multi-hot columns, hashing, shared tables and vocabulary limits.
    pub ids: IdSettings,
    /// One source per task: task `t`'s inferred classes come from source `t` alone.
    pub multi_input: bool,
}

/// A preprocessing fitted in one pass over the training rows, fed in any number of chunks
/// (in file order): value counts of each vocabulary, the longest list of each multi-hot
/// column, running sums of each numeric column, the label values of inferred classes. The
/// sums run in row order whatever the chunking, so the result does not depend on it.
#[derive(Debug)]
pub struct Fitter {
    spec: FitSpec,
    /// Per id column (categorical then multi-hot): the columns whose values its vocabulary
    /// counts (itself and those sharing it, each flagged multi-hot), `None` without one.
    members: Vec<Option<Vec<(String, bool)>>>,
    counts: Vec<HashMap<String, u64>>,
    longest: Vec<usize>,
    /// Per numeric column: count, Σx, Σx².
    sums: Vec<(usize, f64, f64)>,
    classes: Vec<BTreeSet<String>>,
    /// The first table seen, without rows (for errors about the whole fit).
    first: Option<RawTable>,
}

impl Fitter {
    /// A fit of `spec` that has seen no row yet.
    pub fn new(spec: FitSpec) -> Self {
        let ids = &spec.ids;
        let setting = |name: &str| ids.columns.get(name).cloned().unwrap_or_default();
        let all: Vec<&String> = spec.categorical.iter().chain(&ids.multi_hot).collect();
        let members: Vec<Option<Vec<(String, bool)>>> = (all.iter())
            .map(|name| {
                let s = setting(name);
                (s.share.is_none() && s.hash_buckets.is_none()).then(|| {
                    // The owner's vocabulary counts the values of every column sharing its table.
                    (all.iter())
                        .filter(|m| **m == *name || setting(m).share.as_deref() == Some(name.as_str()))
                        .map(|m| (m.to_string(), ids.multi_hot.contains(m)))
                        .collect()
                })
            })
            .collect();
        Self {
            counts: vec![HashMap::new(); members.len()],
            members,
            longest: vec![1; ids.multi_hot.len()],
            sums: vec![(0, 0.0, 0.0); spec.numeric.len()],
            classes: vec![BTreeSet::new(); spec.labels.len()],
            first: None,
            spec,
        }
    }

    /// Count the rows `rows` of `table`, a chunk of source `source` (0 unless multi-input).
    pub fn add(&mut self, table: &RawTable, rows: &[usize], source: usize) -> Result<(), DataError> {
        let format = &self.spec.format;
        if self.first.is_none() {
            self.first = Some(RawTable { rows: Vec::new(), lines: Vec::new(), ..table.clone() });
        }
        for (members, counts) in self.members.iter().zip(&mut self.counts) {
            for (member, bag) in members.iter().flatten() {
                each_value(format, member, *bag, table, rows, &mut |v| match counts.get_mut(v) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(v.to_string(), 1);
                    }
                })?;
            }
        }
        for (name, longest) in self.spec.ids.multi_hot.iter().zip(&mut self.longest) {
            let c = multi_hot_column(table, name)?;
            for &r in rows {
                *longest = (*longest).max(table.items(r, c, format).count());
            }
        }
        for (name, (n, sum, sum_sq)) in self.spec.numeric.iter().zip(&mut self.sums) {
            let c = table.numeric_column(name)?;
            for &r in rows {
                if format.is_missing(&table.rows[r][c]) {
                    continue;
                }
                let x = numeric_cell(table, r, c)? as f64;
                *n += 1;
                *sum += x;
                *sum_sq += x * x;
            }
        }
        for (t, (label, values)) in self.spec.labels.iter().zip(&mut self.classes).enumerate() {
            if !matches!(label.map, LabelMap::Infer) || (self.spec.multi_input && source != t) {
                continue;
            }
            let c = label_column(table, &label.column, t, "column")?;
            for &r in rows {
                let v = &table.rows[r][c];
                if !format.is_missing(v) && !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(())
    }

    /// The preprocessing of the rows seen.
    pub fn finish(self) -> Result<Preprocessing, DataError> {
        let Self { spec, members, counts, longest, sums, classes, first } = self;
        let first = first.ok_or_else(|| DataError::InvalidSetting {
            key: "data".into(),
            message: "no training rows to fit the preprocessing on".into(),
        })?;
        let ids = &spec.ids;
        let setting = |name: &str| ids.columns.get(name).cloned().unwrap_or_default();
        let all: Vec<&String> = spec.categorical.iter().chain(&ids.multi_hot).collect();
        let mut maps = Vec::with_capacity(all.len());
        for ((name, members), counts) in all.iter().zip(&members).zip(counts) {
            let s = setting(name);
            let values = match members {
                Some(_) => vocabulary(&first, name, counts, ids)?,
                None => Vec::new(),
            };
            let hash_buckets = s.share.is_none().then_some(s.hash_buckets).flatten();
            maps.push(Vocabulary { column: name.to_string(), values, hash_buckets, shares: s.share.clone() });
        }
        let bags = maps.split_off(spec.categorical.len());
        let multi_hot = (bags.into_iter().zip(longest))
            .map(|(ids_map, longest)| {
                let s = setting(&ids_map.column);
                MultiHot { ids: ids_map, max_len: s.max_len.unwrap_or(longest), pooling: s.pooling }
            })
            .collect();
        let numeric = (spec.numeric.iter().zip(sums))
            .map(|(name, (n, sum, sum_sq))| {
                let mean = if n > 0 { sum / n as f64 } else { 0.0 };
                let var = if n > 0 { (sum_sq / n as f64 - mean * mean).max(0.0) } else { 0.0 };
                let std = if spec.standardize && var > 1e-12 { var.sqrt() } else { 1.0 };
                Scaler { column: name.clone(), mean, std, standardize: spec.standardize }
            })
            .collect();
        let mut labels = Vec::with_capacity(spec.labels.len());
        for (label, values) in spec.labels.iter().zip(classes) {
            let map = match &label.map {
                LabelMap::Infer => {
                    if values.len() < 2 {
                        return Err(first.error(
                            None,
                            Some(label.column.clone()),
                            format!(
                                "inferred {} class(es) from the training rows; a multiclass task needs at least 2",
                                values.len()
                            ),
                        ));
                    }
                    LabelMap::ClassNames { names: values.into_iter().collect() }
                }
                other => other.clone(),
            };
            labels.push(LabelColumn { column: label.column.clone(), map });
        }
        Ok(Preprocessing { format: spec.format, categorical: maps, multi_hot, numeric, labels })
    }
}

/// Every present value of column `name` (`bag`: a multi-hot column, its items) in `rows` of
/// `table`, given to `f`.
fn each_value(
    format: &CsvFormat,
    name: &str,
    bag: bool,
    table: &RawTable,
    rows: &[usize],
    f: &mut dyn FnMut(&str),
) -> Result<(), DataError> {
    if bag {
        let c = multi_hot_column(table, name)?;
        for &r in rows {
            table.items(r, c, format).for_each(&mut *f);
        }
    } else {
        let c = categorical_column(table, name)?;
        for &r in rows {
            let cell = &table.rows[r][c];
            if !format.is_missing(cell) {
                f(cell);
            }
        }
    }
    Ok(())
}

/// The vocabulary of the table owned by column `name` from the value `counts` of its members:
/// the values seen at least `min_count` times, at most the `max_vocab` most frequent (ties:
/// the smaller value), sorted. `table` locates the error of a vocabulary too large.
fn vocabulary(
    table: &RawTable,
    name: &str,
    counts: HashMap<String, u64>,
    ids: &IdSettings,
) -> Result<Vec<String>, DataError> {
    let mut kept: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n >= ids.min_count).collect();
    if let Some(max) = ids.max_vocab
        && kept.len() > max
    {
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(max);
    }
    let mut values: Vec<String> = kept.into_iter().map(|(v, _)| v).collect();
    values.sort_unstable();
    if values.len() + 1 > MAX_IDS {
        return Err(table.error(
            None,
            Some(name.to_string()),
            format!(
                "{} distinct values in the training rows; a table holds at most {} ids: set `data.csv.max_vocab`, \
                 `data.csv.min_count`, or hash the column (`[data.csv.embedding.{name}] hash_buckets = N`)",
                values.len(),
                MAX_IDS - 1
            ),
        ));
    }
    Ok(values)
}
