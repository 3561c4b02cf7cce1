//! CSV tables: feature and label columns named in the config, preprocessing fitted on the
//! training split, missing labels as masks, and multi-input mode (one source per task).

mod cache;
mod parquet;
mod preprocess;
mod raw;
mod read;
mod stream;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_parquet;
#[cfg(test)]
mod tests_stream;
mod write;

use std::path::PathBuf;

pub use parquet::{OutColumn, ParquetChunks};
pub use preprocess::{
    FitSpec, Fitter, IdColumn, IdField, IdSettings, LabelColumn, LabelMap, MAX_IDS, MultiHot, PoolingKind,
    Preprocessing, Scaler, Vocabulary, fnv1a64,
};
pub use raw::{ColumnKind, CsvFormat, ITEM_SEPARATOR, RawTable};
pub use read::{CsvChunks, TableChunks, column_names, is_parquet, open_text};
pub use stream::{
    DEFAULT_SHUFFLE_BUFFER, MemoryBudget, STREAM_CHUNK, SplitStream, StreamSettings, StreamSplits,
    count_rows, in_memory_estimate, total_memory,
};
pub use write::{TableFormat, write_table};

use crate::dataset::MultiTaskDataset;
use crate::error::DataError;
use crate::split::{SplitFractions, Splits};
use crate::task::TaskSpec;

/// The files of one source. A split without a file is cut from the training file by the
/// run's split fractions (seeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFiles {
    /// Training file.
    pub train: PathBuf,
    /// Validation file.
    pub valid: Option<PathBuf>,
    /// Test file.
    pub test: Option<PathBuf>,
}

/// A validated table source.
#[derive(Debug, Clone, PartialEq)]
pub struct TableConfig {
    /// How files are written.
    pub format: CsvFormat,
    /// Categorical feature columns.
    pub categorical: Vec<String>,
    /// Numeric feature columns.
    pub numeric: Vec<String>,
    /// Standardise numeric columns with the training mean and standard deviation.
    pub standardize: bool,
    /// Label column of each task.
    pub labels: Vec<LabelColumn>,
    /// Multi-hot columns, hashing, shared tables and vocabulary limits.
    pub ids: IdSettings,
    /// One source for all tasks, or one per task (multi-input mode).
    pub files: Vec<TableFiles>,
    /// When the training file streams instead of being held in memory.
    pub stream: StreamSettings,
}

/// One source read and split into row indices.
struct SplitTable {
    table: RawTable,
    rows: [Vec<usize>; 3],
    /// Separate valid / test files, read.
    valid: Option<RawTable>,
    test: Option<RawTable>,
}

impl TableConfig {
    /// Multi-input mode: every task has its own files.
    pub fn multi_input(&self) -> bool {
        self.files.len() > 1
    }

    /// The columns read from each file: features and labels (a Parquet file decodes no other).
    fn wanted(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.categorical.iter().chain(&self.ids.multi_hot).chain(&self.numeric).cloned().collect();
        for l in &self.labels {
            match &l.map {
                LabelMap::Multilabel { columns } => names.extend(columns.iter().cloned()),
                _ => names.push(l.column.clone()),
            }
        }
        names
    }

    fn read_sources(
        &self,
        split: &SplitFractions,
        seed: u64,
        with_eval: bool,
    ) -> Result<Vec<SplitTable>, DataError> {
        let wanted = self.wanted();
        self.files
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let table = cache::read(&f.train, &self.format, &wanted)?;
                // What the training file must also give.
                let cut = Self::cut(f, split);
                // Each split keeps the file's row order (predictions line up with the file).
                let mut rows =
                    cut.indices(table.rows.len(), seed.wrapping_add(k as u64)).map_err(|e| match e {
                        DataError::InvalidSetting { message, .. } => table.error(None, None, message),
                        other => other,
                    })?;
                rows.iter_mut().for_each(|r| r.sort_unstable());
                let read = |p: &Option<PathBuf>| {
                    p.as_ref()
                        .filter(|_| with_eval)
                        .map(|p| RawTable::read_columns(p, &self.format, Some(&wanted)))
                        .transpose()
                };
                Ok(SplitTable { valid: read(&f.valid)?, test: read(&f.test)?, table, rows })
            })
            .collect()
    }

    /// What the preprocessing is fitted from.
    fn fit_spec(&self) -> FitSpec {
        FitSpec {
            format: self.format.clone(),
            categorical: self.categorical.clone(),
            numeric: self.numeric.clone(),
            standardize: self.standardize,
            labels: self.labels.clone(),
            ids: self.ids.clone(),
            multi_input: self.multi_input(),
        }
    }

    /// Fit the preprocessing on the training split (read from the files, cut with `seed`); a
    /// streaming source ([`streams`](Self::streams)) in one pass over its chunks.
    pub fn fit(&self, split: &SplitFractions, seed: u64) -> Result<Preprocessing, DataError> {
        if self.streams() {
            return self.fit_streaming(split, seed);
        }
        let sources = self.read_sources(split, seed, false)?;
        let tables: Vec<(&RawTable, &[usize])> =
            sources.iter().map(|s| (&s.table, s.rows[0].as_slice())).collect();
        let prep = Preprocessing::fit(self.fit_spec(), &tables)?;
        cache::keep(sources.into_iter().map(|s| s.table).collect(), &self.format, &self.wanted());
        Ok(prep)
    }

    /// Read the three splits with a fitted `prep` (from [`fit`](Self::fit), or saved with a run).
    pub fn load(
        &self,
        prep: &Preprocessing,
        tasks: &[TaskSpec],
        split: &SplitFractions,
        seed: u64,
    ) -> Result<Splits, DataError> {
        let sources = self.read_sources(split, seed, true)?;
        let mut parts: [Vec<MultiTaskDataset>; 3] = Default::default();
        for (k, s) in sources.iter().enumerate() {
            let group = self.multi_input().then_some(k);
            for (p, part) in parts.iter_mut().enumerate() {
                let own = match p {
                    1 => s.valid.as_ref(),
                    2 => s.test.as_ref(),
                    _ => None,
                };
                let data = match own {
                    Some(table) => {
                        to_dataset(prep, tasks, table, &(0..table.rows.len()).collect::<Vec<_>>(), group)?
                    }
                    None => to_dataset(prep, tasks, &s.table, &s.rows[p], group)?,
                };
                part.push(data);
            }
        }
        let [train, valid, test] = parts.map(concat);
        Ok(Splits { train, valid, test })
    }
}

/// Rows of `table` as a dataset; in multi-input mode only task `group` is labelled.
fn to_dataset(
    prep: &Preprocessing,
    tasks: &[TaskSpec],
    table: &RawTable,
    rows: &[usize],
    group: Option<usize>,
) -> Result<MultiTaskDataset, DataError> {
    let features = prep.features(table, rows)?;
    let mut targets = Vec::with_capacity(tasks.len());
    let mut masks = Vec::with_capacity(tasks.len());
    for t in 0..tasks.len() {
        if group.is_some_and(|g| g != t) {
            targets.push(vec![0.0; rows.len()]);
            masks.push(vec![0.0; rows.len()]);
        } else {
            let (y, m) = prep.labels(t, table, rows)?;
            targets.push(y);
            masks.push(m);
        }
    }
    Ok(MultiTaskDataset {
        features: features.dense,
        num_features: prep.numeric.len(),
        ids: features.ids,
        num_ids: prep.num_ids(),
        tasks: tasks.to_vec(),
        targets,
        masks,
        groups: group.map(|g| vec![g; rows.len()]),
        target_scales: Vec::new(),
        truth: Vec::new(),
    })
}

/// The parts one after the other.
fn concat(parts: Vec<MultiTaskDataset>) -> MultiTaskDataset {
    let mut it = parts.into_iter();
    let mut all = it.next().expect("at least one source");
    for p in it {
        all.features.extend(p.features);
        all.ids.extend(p.ids);
        for (a, b) in all.targets.iter_mut().zip(p.targets) {
            a.extend(b);
        }
        for (a, b) in all.masks.iter_mut().zip(p.masks) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (all.groups.as_mut(), p.groups) {
            a.extend(b);
        }
    }
    all
}
