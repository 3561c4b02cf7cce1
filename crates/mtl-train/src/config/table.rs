//! `data.source = "csv"`: `[data.csv]` and the tasks' label settings become a validated
//! [`TableConfig`]; its preprocessing is fitted on the training split here (or taken from a
//! run folder's `inputs.json`), because the network's input width, the tabular encoder's
//! vocabularies and inferred class counts all come from it.

use std::path::{Path, PathBuf};

use mtl_data::SplitFractions;
use mtl_data::table::{CsvFormat, LabelColumn, LabelMap, Preprocessing, TableConfig, TableFiles};

use super::error::ConfigError;
use super::schema::{DataSourceKind, FileConfig, OneOrMany, TaskKindName, TaskSection};
use crate::config::data::DataSource;

/// The per-task keys that only a CSV source reads.
fn csv_task_keys(t: &TaskSection) -> Vec<&'static str> {
    let mut keys = Vec::new();
    for (set, key) in [
        (t.column.is_some(), "column"),
        (t.columns.is_some(), "columns"),
        (t.positive.is_some(), "positive"),
        (t.negative.is_some(), "negative"),
        (t.labels.is_some(), "labels"),
        (t.files.is_some(), "files"),
    ] {
        if set {
            keys.push(key);
        }
    }
    keys
}

/// Expand a leading `$MTL_DATA_DIR`.
fn expand(dir: &str) -> PathBuf {
    match dir.strip_prefix("$MTL_DATA_DIR") {
        Some(rest) => {
            let base = DataSource::default_dir();
            let rest = rest.trim_start_matches(['/', '\\']);
            if rest.is_empty() { base } else { base.join(rest) }
        }
        None => PathBuf::from(dir),
    }
}

/// Validate the CSV source of `file`; fit its preprocessing unless `saved` gives it.
/// Returns `None` for other sources (after checking that no task uses a CSV-only key).
pub fn resolve_table(
    path: &Path,
    file: &FileConfig,
    split: &SplitFractions,
    saved: Option<Preprocessing>,
) -> Result<Option<(TableConfig, Preprocessing)>, ConfigError> {
    let invalid =
        |key: String, message: String| ConfigError::Invalid { path: path.to_path_buf(), key, message };
    if file.data.source != DataSourceKind::Csv {
        for (i, t) in file.tasks.iter().enumerate() {
            if let Some(k) = csv_task_keys(t).first() {
                return Err(invalid(
                    format!("tasks[{i}].{k}"),
                    "label column settings apply to data.source = \"csv\"; remove the key".into(),
                ));
            }
        }
        return Ok(None);
    }
    let c = &file.data.csv;
    let single_char = |key: &str, s: &str| -> Result<char, ConfigError> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(ch), None) if ch.is_ascii() => Ok(ch),
            _ => Err(invalid(format!("data.csv.{key}"), format!("`{s}` is not one ASCII character"))),
        }
    };
    if c.header && c.columns.is_some() {
        return Err(invalid(
            "data.csv.columns".into(),
            "names columns of a file without a header; set header = false or remove columns".into(),
        ));
    }
    let format = CsvFormat {
        header: c.header,
        columns: c.columns.clone(),
        delimiter: single_char("delimiter", &c.delimiter)?,
        missing: c.missing.clone(),
        comment: c.comment.as_deref().map(|s| single_char("comment", s)).transpose()?,
    };
    if c.numeric.is_empty() && c.categorical.is_empty() {
        return Err(invalid(
            "data.csv.numeric".into(),
            "name the feature columns in `numeric` and/or `categorical`".into(),
        ));
    }
    let features: Vec<&String> = c.numeric.iter().chain(&c.categorical).collect();
    for (i, f) in features.iter().enumerate() {
        if features[..i].contains(f) {
            return Err(invalid("data.csv".into(), format!("feature column `{f}` is listed twice")));
        }
    }
    let dir = c.dir.as_deref().map(expand);
    let at = |p: &str| match &dir {
        Some(d) if Path::new(p).is_relative() => d.join(p),
        _ => PathBuf::from(p),
    };

    let mut labels = Vec::with_capacity(file.tasks.len());
    let mut own_files = Vec::new();
    for (i, t) in file.tasks.iter().enumerate() {
        let key = |k: &str| format!("tasks[{i}].{k}");
        let column = t.column.clone().unwrap_or_else(|| t.name.clone());
        let label_columns = t.columns.clone().unwrap_or_else(|| vec![column.clone()]);
        for c in &label_columns {
            if features.contains(&c) {
                return Err(invalid(
                    key(if t.columns.is_some() { "columns" } else { "column" }),
                    format!("`{c}` is a feature column; a label cannot be an input too"),
                ));
            }
        }
        let only = |set: bool, k: &str, kind: &str| -> Result<(), ConfigError> {
            if set { Err(invalid(key(k), format!("applies to {kind} tasks; remove it"))) } else { Ok(()) }
        };
        only(t.kind != TaskKindName::Binary && t.positive.is_some(), "positive", "binary")?;
        only(t.kind != TaskKindName::Binary && t.negative.is_some(), "negative", "binary")?;
        only(t.kind != TaskKindName::Multiclass && t.labels.is_some(), "labels", "multiclass")?;
        only(t.kind != TaskKindName::Multilabel && t.columns.is_some(), "columns", "multilabel")?;
        only(t.kind == TaskKindName::Multilabel && t.column.is_some(), "column", "single-column")?;
        let map = match t.kind {
            TaskKindName::Regression => LabelMap::Regression,
            TaskKindName::Multilabel => match &t.columns {
                Some(columns) => LabelMap::Multilabel { columns: columns.clone() },
                None => {
                    return Err(invalid(
                        key("columns"),
                        "multilabel tasks read one 0/1 column per label; list them in `columns`".into(),
                    ));
                }
            },
            TaskKindName::Binary => {
                if t.negative.is_some() && t.positive.is_none() {
                    return Err(invalid(key("negative"), "name the positive value(s) too".into()));
                }
                LabelMap::Binary {
                    positive: t.positive.as_ref().map(OneOrMany::to_vec).unwrap_or_default(),
                    negative: t.negative.as_ref().map(OneOrMany::to_vec).unwrap_or_default(),
                }
            }
            TaskKindName::Multiclass => match &t.labels {
                Some(OneOrMany::One(s)) if s == "infer" => LabelMap::Infer,
                Some(OneOrMany::One(s)) => {
                    return Err(invalid(
                        key("labels"),
                        format!("`{s}`: write \"infer\" or the list of class names"),
                    ));
                }
                Some(OneOrMany::Many(names)) => {
                    if names.len() < 2 {
                        return Err(invalid(key("labels"), "list at least 2 classes".into()));
                    }
                    if let Some(c) = t.classes.filter(|&c| c != names.len()) {
                        return Err(invalid(
                            key("classes"),
                            format!("{c} classes but `labels` lists {}; remove `classes`", names.len()),
                        ));
                    }
                    LabelMap::ClassNames { names: names.clone() }
                }
                None => match t.classes {
                    Some(classes) => LabelMap::ClassIds { classes },
                    None => {
                        return Err(invalid(
                            key("classes"),
                            "multiclass tasks need `classes = N` (cells are ids 0..N) or `labels` (names, or \"infer\")"
                                .into(),
                        ));
                    }
                },
            },
        };
        labels.push(LabelColumn { column, map });
        own_files.push(t.files.as_ref().map(|f| TableFiles {
            train: at(&f.train),
            valid: f.valid.as_deref().map(at),
            test: f.test.as_deref().map(at),
        }));
    }
    let files = match (&c.train, own_files.iter().filter(|f| f.is_some()).count()) {
        (Some(train), 0) => {
            vec![TableFiles {
                train: at(train),
                valid: c.valid.as_deref().map(at),
                test: c.test.as_deref().map(at),
            }]
        }
        (None, n) if n == file.tasks.len() => own_files.into_iter().flatten().collect(),
        (Some(_), _) => {
            return Err(invalid(
                "data.csv.train".into(),
                "either all tasks share [data.csv] train/valid/test or each task names its own `files` (multi-input mode), not both".into(),
            ));
        }
        (None, 0) => {
            return Err(invalid(
                "data.csv.train".into(),
                "name the training file (or give every task its own `files` for multi-input mode)".into(),
            ));
        }
        (None, _) => {
            let i = own_files.iter().position(Option::is_none).expect("some task lacks files");
            return Err(invalid(
                format!("tasks[{i}].files"),
                "in multi-input mode every task names its own files".into(),
            ));
        }
    };
    let table = TableConfig {
        format,
        categorical: c.categorical.clone(),
        numeric: c.numeric.clone(),
        standardize: c.standardize,
        labels,
        files,
    };
    let prep = match saved {
        Some(p) => p,
        None => table.fit(split, file.run.seed)?,
    };
    Ok(Some((table, prep)))
}
