//! The preprocessing of a table, fitted on the training rows only and saved with the run:
//! vocabularies of the categorical columns (id 0 = unknown or missing), mean and standard
//! deviation of the numeric columns, and the class list of each label column.

use serde::{Deserialize, Serialize};

use super::read::{CsvFormat, RawTable};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Column name.
    pub column: String,
    /// Training values, sorted; value `values[k]` has id `k + 1`.
    pub values: Vec<String>,
}

impl Vocabulary {
    /// Number of ids, the unknown one included.
    pub fn cardinality(&self) -> usize {
        self.values.len() + 1
    }

    fn id(&self, cell: &str) -> usize {
        self.values.binary_search_by(|v| v.as_str().cmp(cell)).map_or(0, |k| k + 1)
    }
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
/// Feature rows are laid out as the categorical ids first (in config order), then the numeric
/// columns (in config order): the tabular encoder's categorical columns are `0..categorical`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// How the files are written.
    pub format: CsvFormat,
    /// Categorical columns.
    pub categorical: Vec<Vocabulary>,
    /// Numeric columns.
    pub numeric: Vec<Scaler>,
    /// Label column of each task, fitted (`Infer` replaced by the class names found).
    pub labels: Vec<LabelColumn>,
}

impl Preprocessing {
    /// Fit on the rows `rows[k]` of each training table `tables[k]`: vocabularies, scalers and
    /// inferred classes see the training split only.
    pub fn fit(
        format: &CsvFormat,
        categorical: &[String],
        numeric: &[String],
        standardize: bool,
        labels: &[LabelColumn],
        tables: &[(&RawTable, &[usize])],
        multi_input: bool,
    ) -> Result<Self, DataError> {
        let mut vocabularies = Vec::with_capacity(categorical.len());
        for name in categorical {
            let mut values = std::collections::BTreeSet::new();
            for (table, rows) in tables {
                let c = table.column(name, "categorical feature")?;
                values.extend(rows.iter().map(|&r| &table.rows[r][c]).filter(|v| !format.is_missing(v)));
            }
            vocabularies.push(Vocabulary {
                column: name.clone(),
                values: values.into_iter().map(String::from).collect(),
            });
        }
        let mut scalers = Vec::with_capacity(numeric.len());
        for name in numeric {
            let (mut n, mut sum, mut sum_sq) = (0usize, 0f64, 0f64);
            for (table, rows) in tables {
                let c = table.column(name, "numeric feature")?;
                for &r in *rows {
                    let cell = &table.rows[r][c];
                    if format.is_missing(cell) {
                        continue;
                    }
                    let x = numeric_cell(table, r, c)? as f64;
                    n += 1;
                    sum += x;
                    sum_sq += x * x;
                }
            }
            let mean = if n > 0 { sum / n as f64 } else { 0.0 };
            let var = if n > 0 { (sum_sq / n as f64 - mean * mean).max(0.0) } else { 0.0 };
            let std = if standardize && var > 1e-12 { var.sqrt() } else { 1.0 };
            scalers.push(Scaler { column: name.clone(), mean, std, standardize });
        }
        let mut fitted = Vec::with_capacity(labels.len());
        for (t, label) in labels.iter().enumerate() {
            let map = match &label.map {
                LabelMap::Infer => {
                    let mut values = std::collections::BTreeSet::new();
                    for (table, rows) in if multi_input { &tables[t..t + 1] } else { tables } {
                        let c = label_column(table, &label.column, t, "column")?;
                        values.extend(
                            rows.iter().map(|&r| &table.rows[r][c]).filter(|v| !format.is_missing(v)),
                        );
                    }
                    if values.len() < 2 {
                        return Err(DataError::Csv {
                            path: tables[0].0.path.clone(),
                            line: None,
                            column: Some(label.column.clone()),
                            message: format!(
                                "inferred {} class(es) from the training rows; a multiclass task needs at least 2",
                                values.len()
                            ),
                        });
                    }
                    LabelMap::ClassNames { names: values.into_iter().map(String::from).collect() }
                }
                other => other.clone(),
            };
            fitted.push(LabelColumn { column: label.column.clone(), map });
        }
        Ok(Self { format: format.clone(), categorical: vocabularies, numeric: scalers, labels: fitted })
    }

    /// Width of a feature row.
    pub fn width(&self) -> usize {
        self.categorical.len() + self.numeric.len()
    }

    /// Feature names in row order.
    pub fn feature_names(&self) -> Vec<String> {
        self.categorical
            .iter()
            .map(|v| v.column.clone())
            .chain(self.numeric.iter().map(|s| s.column.clone()))
            .collect()
    }

    /// Number of ids of each categorical column (the unknown id included).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.categorical.iter().map(Vocabulary::cardinality).collect()
    }

    /// Feature rows of `rows` of `table`, row-major.
    pub fn features(&self, table: &RawTable, rows: &[usize]) -> Result<Vec<f32>, DataError> {
        let cat: Vec<usize> = self
            .categorical
            .iter()
            .map(|v| table.column(&v.column, "categorical feature"))
            .collect::<Result<_, _>>()?;
        let num: Vec<usize> = self
            .numeric
            .iter()
            .map(|s| table.column(&s.column, "numeric feature"))
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(rows.len() * self.width());
        for &r in rows {
            let record = &table.rows[r];
            for (v, &c) in self.categorical.iter().zip(&cat) {
                let cell = &record[c];
                out.push(if self.format.is_missing(cell) { 0.0 } else { v.id(cell) as f32 });
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
        Ok(out)
    }

    /// Feature rows of every row of the file at `path` (read with the saved format), for
    /// `mtl predict`; other columns (labels, ids) are ignored.
    pub fn read_features(&self, path: &std::path::Path) -> Result<(Vec<f32>, usize), DataError> {
        let table = RawTable::read(path, &self.format)?;
        let rows: Vec<usize> = (0..table.rows.len()).collect();
        Ok((self.features(&table, &rows)?, rows.len()))
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
    table.column(name, "label").map_err(|e| match e {
        DataError::Csv { path, line, column, message } => DataError::Csv {
            path,
            line,
            column,
            message: format!("{message}; set `tasks[{task}].{key}` (default: the task's name)"),
        },
        other => other,
    })
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
