//! Streaming (out-of-core) table sources: a training file larger than the memory budget is
//! never held in memory. Its preprocessing is fitted in one pass over its chunks, and every
//! epoch reads it again, chunk by chunk, through a seeded shuffle buffer; validation and test
//! rows are read chunk by chunk too. Only the split of each file row (one byte per row, when
//! the splits are cut from the training file) and the buffer stay in memory.
//!
//! The shuffle buffer holds `shuffle_buffer` rows. While it fills, rows are only stored; once
//! full, each new row replaces a buffered row drawn uniformly at random (seeded by the run
//! seed and the epoch), which goes out; at the end of the file the rows left go out in the
//! order of [`epoch_permutation`] over the buffer. So a row leaves at most `shuffle_buffer`
//! rows before its place in the file, the order of an epoch depends only on (seed, epoch) —
//! resume at an epoch boundary is exact — and a buffer at least as large as the training split
//! gives exactly the in-memory order (`epoch_permutation` over the rows in file order).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::preprocess::{Fitter, Preprocessing};
use super::raw::CsvFormat;
use super::read::TableChunks;
use super::{TableConfig, TableFiles, to_dataset};
use crate::batch::epoch_permutation;
use crate::dataset::MultiTaskDataset;
use crate::error::DataError;
use crate::split::SplitFractions;
use crate::task::TaskSpec;

/// Rows read from a file at a time.
pub const STREAM_CHUNK: usize = 65_536;

/// Default rows of the shuffle buffer (`data.csv.shuffle_buffer`).
pub const DEFAULT_SHUFFLE_BUFFER: usize = 1_000_000;

/// Seed stream of the shuffle buffer's draws (apart from the epoch permutation's).
const SHUFFLE_STREAM: u64 = 0x5AFF_1E0B_0FFE;

/// How much memory a table source may take before it streams (`data.csv.memory_budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryBudget {
    /// A quarter of the machine's memory.
    #[default]
    Auto,
    /// This many bytes (0: always stream).
    Bytes(u64),
    /// Never stream.
    Unlimited,
}

impl MemoryBudget {
    /// The budget in bytes; `None` when unlimited.
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemoryBudget::Auto => Some(total_memory().unwrap_or(8 << 30) / 4),
            MemoryBudget::Bytes(b) => Some(b),
            MemoryBudget::Unlimited => None,
        }
    }
}

/// When and how a table source streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Stream when the training files' estimated in-memory size exceeds this.
    pub memory_budget: MemoryBudget,
    /// Rows of the shuffle buffer.
    pub shuffle_buffer: usize,
    /// Rows read from a file at a time ([`STREAM_CHUNK`]; smaller in tests).
    pub chunk_rows: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            memory_budget: MemoryBudget::Auto,
            shuffle_buffer: DEFAULT_SHUFFLE_BUFFER,
            chunk_rows: STREAM_CHUNK,
        }
    }
}

/// The machine's memory (Linux: `MemTotal` of `/proc/meminfo`).
pub fn total_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A rough size of the file at `path` read into memory as rows of cells: measured on the
/// click logs of `mtl synth` (BENCHMARKS.md, issue 18: peak RSS of loading 1M and 8M rows),
/// about 4× a plain CSV file, 16× a gzipped one (text compresses about 4×), 8× a Parquet file.
pub fn in_memory_estimate(path: &Path) -> u64 {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let gzipped = {
        use std::io::Read;
        let mut magic = [0u8; 2];
        std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == [0x1f, 0x8b]
    };
    let factor = if super::read::is_parquet(path) {
        8
    } else if gzipped {
        16
    } else {
        4
    };
    len.saturating_mul(factor)
}

impl TableConfig {
    /// Whether this source streams: one source (not multi-input mode) whose training file is
    /// estimated larger than the memory budget.
    pub fn streams(&self) -> bool {
        let Some(budget) = self.stream.memory_budget.bytes() else { return false };
        !self.multi_input() && in_memory_estimate(&self.files[0].train) > budget
    }

    /// Why the source streams or not, for the run's banner.
    pub fn stream_note(&self) -> String {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let estimate = in_memory_estimate(&self.files[0].train);
        let budget = match self.stream.memory_budget.bytes() {
            Some(b) => format!("the memory budget of {:.0} MiB", mib(b)),
            None => "an unlimited memory budget".into(),
        };
        match self.streams() {
            true => format!(
                "training file streamed (about {:.0} MiB in memory exceeds {budget}): a shuffle buffer of {} rows",
                mib(estimate),
                self.stream.shuffle_buffer
            ),
            false => format!("training file held in memory (about {:.0} MiB, {budget})", mib(estimate)),
        }
    }

    /// The split fractions the training file of `files` must give: the splits without a file
    /// of their own.
    pub(super) fn cut(files: &TableFiles, split: &SplitFractions) -> SplitFractions {
        let valid = if files.valid.is_none() { split.valid } else { 0.0 };
        let test = if files.test.is_none() { split.test } else { 0.0 };
        SplitFractions { train: 1.0 - valid - test, valid, test }
    }

    /// The split of each row of the training file (0 train, 1 valid, 2 test), cut with `seed`
    /// as the in-memory path cuts it; `None` when the file is all training rows.
    fn membership(
        &self,
        split: &SplitFractions,
        seed: u64,
    ) -> Result<(Option<Membership>, usize), DataError> {
        let f = &self.files[0];
        let n = count_rows(&f.train, &self.format)?;
        let cut = Self::cut(f, split);
        if cut.valid == 0.0 && cut.test == 0.0 {
            return Ok((None, n));
        }
        let rows = cut.indices(n, seed).map_err(|e| match e {
            DataError::InvalidSetting { message, .. } => file_error(&f.train, message),
            other => other,
        })?;
        let mut of = vec![0u8; n];
        for (part, rows) in rows.iter().enumerate() {
            for &r in rows {
                of[r] = part as u8;
            }
        }
        Ok((Some(Arc::new(of)), n))
    }

    /// Fit the preprocessing in one pass over the training rows of the training file.
    pub(super) fn fit_streaming(
        &self,
        split: &SplitFractions,
        seed: u64,
    ) -> Result<Preprocessing, DataError> {
        let (membership, _) = self.membership(split, seed)?;
        let stream = SplitStream {
            path: self.files[0].train.clone(),
            format: self.format.clone(),
            wanted: self.wanted(),
            chunk_rows: self.stream.chunk_rows,
            prep: None,
            tasks: Vec::new(),
            rows: membership.map_or(Rows::All, |m| Rows::Part(m, 0)),
            len: 0,
        };
        let mut fitter = Fitter::new(self.fit_spec());
        for chunk in stream.raw_chunks()? {
            let (table, rows) = chunk?;
            fitter.add(&table, &rows, 0)?;
        }
        fitter.finish()
    }

    /// The three splits of a streaming source, encoded with `prep` as they are read.
    pub fn stream_splits(
        &self,
        prep: &Preprocessing,
        tasks: &[TaskSpec],
        split: &SplitFractions,
        seed: u64,
    ) -> Result<StreamSplits, DataError> {
        let f = &self.files[0];
        let (membership, n) = self.membership(split, seed)?;
        let prep = Arc::new(prep.clone());
        let base = SplitStream {
            path: f.train.clone(),
            format: self.format.clone(),
            wanted: self.wanted(),
            chunk_rows: self.stream.chunk_rows,
            prep: Some(prep),
            tasks: tasks.to_vec(),
            rows: Rows::All,
            len: n,
        };
        // Split `p` of the training file: its cut rows, all of them (the training split of an
        // uncut file), or none (a split of fraction 0 without a file).
        let of_file = |p: u8| match &membership {
            Some(m) => SplitStream {
                len: m.iter().filter(|&&s| s == p).count(),
                rows: Rows::Part(m.clone(), p),
                ..base.clone()
            },
            None if p == 0 => base.clone(),
            None => SplitStream { len: 0, rows: Rows::Nothing, ..base.clone() },
        };
        let part = |p: u8, own: &Option<PathBuf>| -> Result<SplitStream, DataError> {
            match own {
                Some(path) => Ok(SplitStream {
                    len: count_rows(path, &self.format)?,
                    path: path.clone(),
                    ..base.clone()
                }),
                None => Ok(of_file(p)),
            }
        };
        let train = of_file(0);
        Ok(StreamSplits { train, valid: part(1, &f.valid)?, test: part(2, &f.test)? })
    }
}

/// The split of each row of a file (0 train, 1 valid, 2 test).
type Membership = Arc<Vec<u8>>;

/// A counted file: path, size, modification time, rows.
type Counted = (PathBuf, u64, Option<SystemTime>, usize);

/// Which rows of its file a split streams.
#[derive(Debug, Clone)]
enum Rows {
    /// Every row.
    All,
    /// The rows whose entry in the file's split list is this split's.
    Part(Membership, u8),
    /// None (a split of fraction 0 without a file).
    Nothing,
}

/// The splits of a streaming source.
#[derive(Debug, Clone)]
pub struct StreamSplits {
    /// Training rows.
    pub train: SplitStream,
    /// Validation rows.
    pub valid: SplitStream,
    /// Test rows.
    pub test: SplitStream,
}

/// One split of a streaming source: the rows of a file (all, or those of one split when the
/// splits are cut from it), read and encoded a chunk at a time, in file order.
#[derive(Debug, Clone)]
pub struct SplitStream {
    path: PathBuf,
    format: CsvFormat,
    wanted: Vec<String>,
    chunk_rows: usize,
    prep: Option<Arc<Preprocessing>>,
    tasks: Vec<TaskSpec>,
    rows: Rows,
    len: usize,
}

impl SplitStream {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the split has no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file the rows come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's chunks with the rows of this split in each.
    fn raw_chunks(
        &self,
    ) -> Result<impl Iterator<Item = Result<(super::RawTable, Vec<usize>), DataError>> + use<>, DataError>
    {
        let chunks = TableChunks::open(&self.path, &self.format, Some(&self.wanted), self.chunk_rows)?;
        let which = self.rows.clone();
        let path = self.path.clone();
        Ok(chunks.map(move |chunk| {
            let chunk = chunk?;
            let rows: Vec<usize> = match &which {
                Rows::All => (0..chunk.rows.len()).collect(),
                Rows::Nothing => Vec::new(),
                Rows::Part(of, part) => {
                    if chunk.offset + chunk.rows.len() > of.len() {
                        return Err(changed(&path, of.len()));
                    }
                    let of = &of[chunk.offset..chunk.offset + chunk.rows.len()];
                    (0..of.len()).filter(|&r| of[r] == *part).collect()
                }
            };
            Ok((chunk, rows))
        }))
    }

    /// The split's rows, encoded, a chunk at a time in file order.
    pub fn chunks(
        &self,
    ) -> Result<impl Iterator<Item = Result<MultiTaskDataset, DataError>> + use<>, DataError> {
        let prep = self.prep.clone().expect("a split stream to encode has its preprocessing");
        let tasks = self.tasks.clone();
        Ok(self.raw_chunks()?.map(move |chunk| {
            let (table, rows) = chunk?;
            to_dataset(&prep, &tasks, &table, &rows, None)
        }))
    }

    /// Every row, encoded and passed through `transform` chunk by chunk, in one epoch's
    /// shuffled order (see the module): `emit` gets the epoch's batches of `batch_size` rows
    /// (the last one shorter unless `drop_last`) and stops the epoch by returning false.
    /// A file whose row count changed since the splits were made is an error.
    #[allow(clippy::too_many_arguments)]
    pub fn shuffled(
        &self,
        buffer: usize,
        seed: u64,
        epoch: usize,
        batch_size: usize,
        drop_last: bool,
        transform: &mut dyn FnMut(MultiTaskDataset) -> MultiTaskDataset,
        emit: &mut dyn FnMut(MultiTaskDataset) -> bool,
    ) -> Result<(), DataError> {
        let buffer = buffer.max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SHUFFLE_STREAM);
        rng.set_stream(epoch as u64 + 1);
        let mut held: Option<MultiTaskDataset> = None;
        let mut batch: Option<MultiTaskDataset> = None;
        let mut read = 0;
        let mut flush = |batch: &mut Option<MultiTaskDataset>, full: bool| -> bool {
            match batch.take() {
                Some(b) if full || !drop_last => emit(b),
                _ => true,
            }
        };
        for chunk in self.chunks()? {
            let chunk = transform(chunk?);
            read += chunk.len();
            let held = held.get_or_insert_with(|| chunk.empty_like(buffer.min(self.len)));
            for i in 0..chunk.len() {
                if held.len() < buffer {
                    held.push_sample(&chunk, i);
                    continue;
                }
                let j = rng.random_range(0..buffer);
                let b = batch.get_or_insert_with(|| chunk.empty_like(batch_size));
                b.push_sample(held, j);
                held.set_sample(j, &chunk, i);
                if b.len() == batch_size && !flush(&mut batch, true) {
                    return Ok(());
                }
            }
        }
        if read != self.len {
            return Err(changed(&self.path, self.len));
        }
        let Some(held) = held else { return Ok(()) };
        for j in epoch_permutation(held.len(), seed, epoch) {
            let b = batch.get_or_insert_with(|| held.empty_like(batch_size));
            b.push_sample(&held, j);
            if b.len() == batch_size && !flush(&mut batch, true) {
                return Ok(());
            }
        }
        flush(&mut batch, false);
        Ok(())
    }
}

/// An error about the whole table file `path` (a CSV or a Parquet file).
fn file_error(path: &Path, message: String) -> DataError {
    match super::read::is_parquet(path) {
        true => {
            DataError::Parquet { path: path.to_path_buf(), row_group: None, row: None, column: None, message }
        }
        false => DataError::Csv { path: path.to_path_buf(), line: None, column: None, message },
    }
}

/// The file no longer has the rows it had when the run read it.
fn changed(path: &Path, rows: usize) -> DataError {
    file_error(
        path,
        format!(
            "the file changed while the run was reading it (its split had {rows} rows); keep a streamed file \
             unchanged during training, or start the run again"
        ),
    )
}

/// Row counts of files by (path, size, modification time): a streaming run counts each file
/// once.
static COUNTED: Mutex<Vec<Counted>> = Mutex::new(Vec::new());

/// The number of data rows of the table file `path` (a Parquet file's footer says it; a CSV
/// file is read through).
pub fn count_rows(path: &Path, format: &CsvFormat) -> Result<usize, DataError> {
    let meta = std::fs::metadata(path).ok();
    let key = meta.as_ref().map(|m| (m.len(), m.modified().ok()));
    let mut counted = COUNTED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((len, modified)) = key
        && let Some(hit) = counted.iter().find(|c| c.0 == path && c.1 == len && c.2 == modified)
    {
        return Ok(hit.3);
    }
    let chunks = TableChunks::open(path, format, Some(&[]), STREAM_CHUNK)?;
    let n = match chunks.known_rows() {
        Some(n) => n,
        None => {
            let mut n = 0;
            for chunk in chunks {
                n += chunk?.rows.len();
            }
            n
        }
    };
    if let Some((len, modified)) = key {
        counted.push((path.to_path_buf(), len, modified, n));
    }
    Ok(n)
}
