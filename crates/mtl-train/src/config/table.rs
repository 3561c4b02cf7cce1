//! `data.source = "csv"`: `[data.csv]` and the tasks' label settings become a validated
//! [`TableConfig`]; its preprocessing is fitted on the training split here (or taken from a
//! run folder's `inputs.json`), because the network's input width, the tabular encoder's
//! vocabularies and inferred class counts all come from it.

use std::path::{Path, PathBuf};

use mtl_data::SplitFractions;
use mtl_data::table::{
    CsvFormat, IdColumn, IdSettings, LabelColumn, LabelMap, MAX_IDS, MemoryBudget, Preprocessing,
    StreamSettings, TableConfig, TableFiles,
};

use super::check::Check;
use super::columns;
use super::error::ConfigError;
use super::schema::{CsvSection, DataSourceKind, FileConfig, OneOrMany, TaskKindName, TaskSection};
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
    let check = Check { path };
    if file.data.source != DataSourceKind::Csv {
        for (i, t) in file.tasks.iter().enumerate() {
            if let Some(k) = csv_task_keys(t).first() {
                return Err(check.invalid(
                    &format!("tasks[{i}].{k}"),
                    "label column settings apply to data.source = \"csv\"; remove the key",
                ));
            }
        }
        return Ok(None);
    }
    let c = &file.data.csv;
    let format = csv_format(check, c)?;
    check.ensure(!(c.numeric.is_empty() && c.categorical.is_empty()), "data.csv.numeric", || {
        "name the feature columns in `numeric` and/or `categorical` (a name, a pattern such as \"x*\", or \"*\" for every other column)".into()
    })?;
    let dir = c.dir.as_deref().map(expand);
    let at = |p: &str| match &dir {
        Some(d) if Path::new(p).is_relative() => d.join(p),
        _ => PathBuf::from(p),
    };
    let own_files = file
        .tasks
        .iter()
        .map(|t| {
            t.files.as_ref().map(|f| TableFiles {
                train: at(&f.train),
                valid: f.valid.as_deref().map(at),
                test: f.test.as_deref().map(at),
            })
        })
        .collect();
    let shared = c.train.as_deref().map(|train| TableFiles {
        train: at(train),
        valid: c.valid.as_deref().map(at),
        test: c.test.as_deref().map(at),
    });
    let files = table_files(check, shared, own_files)?;
    let (numeric, categorical) = chosen_columns(check, c, file, &format, &files[0].train, saved.as_ref())?;
    let mut features = feature_columns(check, &numeric, &categorical)?;
    let ids = id_settings(check, c, &categorical, &features)?;
    features.extend(c.multi_hot.iter().cloned());
    let mut labels = Vec::with_capacity(file.tasks.len());
    for (i, t) in file.tasks.iter().enumerate() {
        labels.push(label_column(check, i, t, &features)?);
    }
    let stream = StreamSettings {
        memory_budget: memory_budget(check, &c.memory_budget)?,
        shuffle_buffer: c.shuffle_buffer,
        ..StreamSettings::default()
    };
    check.ensure(c.shuffle_buffer >= 1, "data.csv.shuffle_buffer", || "must be at least 1 row".into())?;
    if files.len() > 1 && !matches!(stream.memory_budget, MemoryBudget::Auto | MemoryBudget::Unlimited) {
        return Err(check.invalid(
            "data.csv.memory_budget",
            "multi-input mode (files per task) trains in memory; remove the key or set \"unlimited\"",
        ));
    }
    let table =
        TableConfig { format, categorical, numeric, standardize: c.standardize, labels, ids, files, stream };
    let prep = match saved {
        Some(p) => p,
        None => table.fit(split, file.run.seed)?,
    };
    Ok(Some((table, prep)))
}

/// `data.csv.memory_budget`: `auto`, `unlimited`, or a size with a unit (`512MB`, `4GB`,
/// `1.5GiB`; `0` alone means always stream).
fn memory_budget(check: Check, text: &str) -> Result<MemoryBudget, ConfigError> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "auto" => return Ok(MemoryBudget::Auto),
        "unlimited" => return Ok(MemoryBudget::Unlimited),
        "0" => return Ok(MemoryBudget::Bytes(0)),
        _ => {}
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: Option<f64> = match unit.trim() {
        "b" => Some(1.0),
        "kb" => Some(1e3),
        "mb" => Some(1e6),
        "gb" => Some(1e9),
        "tb" => Some(1e12),
        "kib" => Some(1024.0),
        "mib" => Some(1024f64.powi(2)),
        "gib" => Some(1024f64.powi(3)),
        "tib" => Some(1024f64.powi(4)),
        _ => None,
    };
    match (number.parse::<f64>(), scale) {
        (Ok(n), Some(scale)) if n.is_finite() && n >= 0.0 => Ok(MemoryBudget::Bytes((n * scale) as u64)),
        _ => Err(check.invalid(
            "data.csv.memory_budget",
            format!(
                "`{text}` is not a size; write \"auto\", \"unlimited\", or a number with a unit such as \"512MB\" or \"4GB\""
            ),
        )),
    }
}

/// The file format of `[data.csv]`.
fn csv_format(check: Check, c: &CsvSection) -> Result<CsvFormat, ConfigError> {
    let single_char = |key: &str, s: &str| -> Result<char, ConfigError> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(ch), None) if ch.is_ascii() => Ok(ch),
            _ => Err(check.invalid(&format!("data.csv.{key}"), format!("`{s}` is not one ASCII character"))),
        }
    };
    check.ensure(!(c.header && c.columns.is_some()), "data.csv.columns", || {
        "names columns of a file without a header; set header = false or remove columns".into()
    })?;
    Ok(CsvFormat {
        header: c.header,
        columns: c.columns.clone(),
        delimiter: single_char("delimiter", &c.delimiter)?,
        missing: c.missing.clone(),
        comment: c.comment.as_deref().map(|s| single_char("comment", s)).transpose()?,
        list_separator: single_char("list_separator", &c.list_separator)?,
    })
}

/// The multi-hot columns, vocabulary limits and `[data.csv.embedding.NAME]` settings, checked
/// against the feature columns (`features`: numeric and categorical).
fn id_settings(
    check: Check,
    c: &super::schema::CsvSection,
    categorical: &[String],
    features: &[String],
) -> Result<IdSettings, ConfigError> {
    for (i, m) in c.multi_hot.iter().enumerate() {
        check.ensure(!features.contains(m) && !c.multi_hot[..i].contains(m), "data.csv.multi_hot", || {
            format!("`{m}` is listed twice (a column is numeric, categorical or multi-hot)")
        })?;
    }
    check.ensure(c.min_count >= 1, "data.csv.min_count", || "must be at least 1".into())?;
    check.ensure(c.max_vocab != Some(0), "data.csv.max_vocab", || "must be at least 1".into())?;
    let id_columns: Vec<&String> = categorical.iter().chain(&c.multi_hot).collect();
    let mut columns = std::collections::BTreeMap::new();
    for (name, e) in &c.embedding {
        let key = |k: &str| format!("data.csv.embedding.{name}.{k}");
        check.ensure(id_columns.contains(&name), &format!("data.csv.embedding.{name}"), || {
            format!("`{name}` is not a categorical or multi-hot column; list it in `data.csv.categorical` or `data.csv.multi_hot`")
        })?;
        let bag = c.multi_hot.contains(name);
        check.ensure(bag || (e.max_len.is_none() && e.pooling.is_none()), &key("max_len"), || {
            "max_len and pooling apply to multi-hot columns (`data.csv.multi_hot`)".into()
        })?;
        check.ensure(e.max_len != Some(0), &key("max_len"), || "must be at least 1".into())?;
        if let Some(n) = e.hash_buckets {
            check.ensure((1..MAX_IDS as u64).contains(&n), &key("hash_buckets"), || {
                format!("{n} buckets; use 1..={} (ids are 32-bit integers on every backend)", MAX_IDS - 1)
            })?;
        }
        if let Some(owner) = &e.share {
            check.ensure(owner != name && id_columns.contains(&owner), &key("share"), || {
                format!("`{owner}` is not another categorical or multi-hot column")
            })?;
            check.ensure(c.embedding.get(owner).is_none_or(|o| o.share.is_none()), &key("share"), || {
                format!("`{owner}` shares a table itself; name the column that owns the table")
            })?;
            check.ensure(e.hash_buckets.is_none(), &key("hash_buckets"), || {
                format!("a sharing column uses `{owner}`'s ids; set hash_buckets on `{owner}`")
            })?;
        }
        columns.insert(
            name.clone(),
            IdColumn {
                hash_buckets: e.hash_buckets,
                share: e.share.clone(),
                max_len: e.max_len,
                pooling: e.pooling.unwrap_or_default(),
            },
        );
    }
    Ok(IdSettings { multi_hot: c.multi_hot.clone(), columns, min_count: c.min_count, max_vocab: c.max_vocab })
}

/// The numeric and categorical columns: as listed, or with patterns expanded against the
/// training file's columns (see [`super::columns`]); a run folder's saved preprocessing gives
/// them without the data.
fn chosen_columns(
    check: Check,
    c: &CsvSection,
    file: &FileConfig,
    format: &CsvFormat,
    train: &Path,
    saved: Option<&Preprocessing>,
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    if !columns::has_patterns(&c.numeric) && !columns::has_patterns(&c.categorical) {
        check.ensure(c.exclude.is_empty(), "data.csv.exclude", || {
            "applies to the patterns of `numeric`/`categorical` (such as \"*\"); remove it or use a pattern".into()
        })?;
        return Ok((c.numeric.clone(), c.categorical.clone()));
    }
    // Multi-hot columns are named, never matched by the patterns of the other two lists.
    let exclude: Vec<String> = c.exclude.iter().chain(&c.multi_hot).cloned().collect();
    if let Some(prep) = saved {
        return Ok((
            prep.numeric.iter().map(|s| s.column.clone()).collect(),
            prep.categorical.iter().map(|v| v.column.clone()).collect(),
        ));
    }
    let labels: Vec<String> = file.tasks.iter().flat_map(label_columns).collect();
    let header = mtl_data::table::column_names(train, format)?;
    columns::choose(check, (&c.numeric, &c.categorical), &exclude, &labels, &header, train)
}

/// The feature columns (numeric, then categorical), each named once.
fn feature_columns(
    check: Check,
    numeric: &[String],
    categorical: &[String],
) -> Result<Vec<String>, ConfigError> {
    let features: Vec<String> = numeric.iter().chain(categorical).cloned().collect();
    for (i, f) in features.iter().enumerate() {
        check.ensure(!features[..i].contains(f), "data.csv", || {
            format!("feature column `{f}` is listed twice")
        })?;
    }
    Ok(features)
}

/// A single-column task's label column: `column`, default the task's name.
fn label_column_name(t: &TaskSection) -> String {
    t.column.clone().unwrap_or_else(|| t.name.clone())
}

/// Every label column of a task: a multilabel task's `columns`, else its one label column.
fn label_columns(t: &TaskSection) -> Vec<String> {
    t.columns.clone().unwrap_or_else(|| vec![label_column_name(t)])
}

/// Task `i`'s label column(s) and how its cells map to labels.
fn label_column(
    check: Check,
    i: usize,
    t: &TaskSection,
    features: &[String],
) -> Result<LabelColumn, ConfigError> {
    let key = |k: &str| format!("tasks[{i}].{k}");
    let column = label_column_name(t);
    for c in &label_columns(t) {
        check.ensure(
            !features.contains(c),
            &key(if t.columns.is_some() { "columns" } else { "column" }),
            || format!("`{c}` is a feature column; a label cannot be an input too"),
        )?;
    }
    let only = |set: bool, k: &str, kind: &str| {
        check.ensure(!set, &key(k), || format!("applies to {kind} tasks; remove it"))
    };
    only(t.kind != TaskKindName::Binary && t.positive.is_some(), "positive", "binary")?;
    only(t.kind != TaskKindName::Binary && t.negative.is_some(), "negative", "binary")?;
    only(t.kind != TaskKindName::Multiclass && t.labels.is_some(), "labels", "multiclass")?;
    only(t.kind != TaskKindName::Multilabel && t.columns.is_some(), "columns", "multilabel")?;
    only(t.kind == TaskKindName::Multilabel && t.column.is_some(), "column", "single-column")?;
    Ok(LabelColumn { column, map: label_map(check, t, &key)? })
}

/// How a task's cells become labels.
fn label_map(check: Check, t: &TaskSection, key: &dyn Fn(&str) -> String) -> Result<LabelMap, ConfigError> {
    let refuse = |k: &str, message: String| Err(check.invalid(&key(k), message));
    match t.kind {
        TaskKindName::Regression => Ok(LabelMap::Regression),
        TaskKindName::Multilabel => match &t.columns {
            Some(columns) => Ok(LabelMap::Multilabel { columns: columns.clone() }),
            None => refuse(
                "columns",
                "multilabel tasks read one 0/1 column per label; list them in `columns`".into(),
            ),
        },
        TaskKindName::Binary => {
            if t.negative.is_some() && t.positive.is_none() {
                return refuse("negative", "name the positive value(s) too".into());
            }
            Ok(LabelMap::Binary {
                positive: t.positive.as_ref().map(OneOrMany::to_vec).unwrap_or_default(),
                negative: t.negative.as_ref().map(OneOrMany::to_vec).unwrap_or_default(),
            })
        }
        TaskKindName::Multiclass => match (&t.labels, t.classes) {
            (Some(OneOrMany::One(s)), _) if s == "infer" => Ok(LabelMap::Infer),
            (Some(OneOrMany::One(s)), _) => {
                refuse("labels", format!("`{s}`: write \"infer\" or the list of class names"))
            }
            (Some(OneOrMany::Many(names)), _) if names.len() < 2 => {
                refuse("labels", "list at least 2 classes".into())
            }
            (Some(OneOrMany::Many(names)), Some(c)) if c != names.len() => {
                refuse("classes", format!("{c} classes but `labels` lists {}; remove `classes`", names.len()))
            }
            (Some(OneOrMany::Many(names)), _) => Ok(LabelMap::ClassNames { names: names.clone() }),
            (None, Some(classes)) => Ok(LabelMap::ClassIds { classes }),
            (None, None) => refuse(
                "classes",
                "multiclass tasks need `classes = N` (cells are ids 0..N) or `labels` (names, or \"infer\")"
                    .into(),
            ),
        },
    }
}

/// The files read: the shared `[data.csv]` ones, or every task's own (multi-input mode).
fn table_files(
    check: Check,
    shared: Option<TableFiles>,
    own: Vec<Option<TableFiles>>,
) -> Result<Vec<TableFiles>, ConfigError> {
    let tasks = own.len();
    match (shared, own.iter().filter(|f| f.is_some()).count()) {
        (Some(files), 0) => Ok(vec![files]),
        (None, n) if n == tasks => Ok(own.into_iter().flatten().collect()),
        (Some(_), _) => Err(check.invalid(
            "data.csv.train",
            "either all tasks share [data.csv] train/valid/test or each task names its own `files` (multi-input mode), not both",
        )),
        (None, 0) => Err(check.invalid(
            "data.csv.train",
            "name the training file (or give every task its own `files` for multi-input mode)",
        )),
        (None, _) => {
            let i = own.iter().position(Option::is_none).expect("some task lacks files");
            Err(check.invalid(&format!("tasks[{i}].files"), "in multi-input mode every task names its own files"))
        }
    }
}
