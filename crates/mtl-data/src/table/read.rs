//! Reading a table file — delimited text (CSV, gzipped or not) or Parquet — into rows of
//! strings, with every problem located by file, line (CSV) or row group (Parquet), and column.

use std::path::Path;

use super::raw::{ColumnKind, CsvFormat, RawTable};
use crate::error::DataError;

/// Whether `path` is a Parquet file: its first bytes are Parquet's magic `PAR1`.
pub fn is_parquet(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"PAR1"
}

/// The file's bytes as a reader, gunzipped on the fly when it starts with the gzip magic
/// bytes (whatever its name: `train.csv.gz` or not).
pub fn open_text(path: &Path) -> Result<Box<dyn std::io::Read>, String> {
    use std::io::Read;
    let describe = |e: std::io::Error| crate::error::cannot_read(&e);
    let mut file = std::fs::File::open(path).map_err(describe)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(describe)?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let whole = head.chain(file);
    Ok(if magic[..n] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(whole))
    } else {
        Box::new(whole)
    })
}

/// The column names of the table file `path` without reading its rows: the header, or
/// `format.columns`, or positions `0`, `1`, … of the first row (for column patterns).
pub fn column_names(path: &Path, format: &CsvFormat) -> Result<Vec<String>, DataError> {
    let err =
        |message: String| DataError::Csv { path: path.to_path_buf(), line: Some(1), column: None, message };
    ensure_exists(path)?;
    if is_parquet(path) {
        return super::parquet::column_names(path);
    }
    if !format.header
        && let Some(columns) = &format.columns
    {
        return Ok(columns.clone());
    }
    let mut reader = csv_reader(path, format, false).map_err(err)?;
    let first = reader.records().next().transpose().map_err(|e| err(e.to_string()))?;
    let Some(first) = first else {
        return Err(err("the file is empty; it needs a header and data rows".into()));
    };
    Ok(if format.header { header_names(&first) } else { (0..first.len()).map(|i| i.to_string()).collect() })
}

/// A missing table file, said with where it is configured.
fn ensure_exists(path: &Path) -> Result<(), DataError> {
    if path.exists() {
        return Ok(());
    }
    Err(DataError::MissingFile {
        path: path.to_path_buf(),
        hint: "the table file named in [data.csv] or [tasks.files]".into(),
    })
}

/// A CSV reader of `path` (gunzipped if need be) in `format`, trimming cells.
fn csv_reader(
    path: &Path,
    format: &CsvFormat,
    has_headers: bool,
) -> Result<csv::Reader<Box<dyn std::io::Read>>, String> {
    Ok(csv::ReaderBuilder::new()
        .has_headers(has_headers)
        .delimiter(format.delimiter as u8)
        .comment(format.comment.map(|c| c as u8))
        .trim(csv::Trim::All)
        .from_reader(open_text(path)?))
}

/// Column names of a header row; spreadsheet exports may start with a UTF-8 byte-order mark.
fn header_names(header: &csv::StringRecord) -> Vec<String> {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 0 { h.trim_start_matches('\u{feff}') } else { h }.to_string())
        .collect()
}

/// A table file read a chunk of rows at a time: the rows of a chunk are numbered from 0, its
/// `offset` is the file row of its first.
pub enum TableChunks {
    /// Delimited text.
    Csv(CsvChunks),
    /// Parquet.
    Parquet(super::parquet::ParquetChunks),
}

impl TableChunks {
    /// Open `path` (CSV or Parquet, told apart by Parquet's magic bytes) to read `chunk_rows`
    /// rows at a time; of a Parquet file only the columns in `wanted` (all when `None`) are
    /// decoded. Errors that need no row (a missing or empty file, duplicate or miscounted
    /// columns) come here.
    pub fn open(
        path: &Path,
        format: &CsvFormat,
        wanted: Option<&[String]>,
        chunk_rows: usize,
    ) -> Result<Self, DataError> {
        ensure_exists(path)?;
        if is_parquet(path) {
            return Ok(Self::Parquet(super::parquet::ParquetChunks::open(path, wanted, chunk_rows)?));
        }
        Ok(Self::Csv(CsvChunks::open(path, format, chunk_rows)?))
    }

    /// The file's columns and their kinds, without rows.
    pub fn header(&self) -> &RawTable {
        match self {
            Self::Csv(c) => &c.header,
            Self::Parquet(p) => p.header(),
        }
    }

    /// Number of rows when the file says it without being read (Parquet's footer).
    pub fn known_rows(&self) -> Option<usize> {
        match self {
            Self::Csv(_) => None,
            Self::Parquet(p) => Some(p.num_rows()),
        }
    }
}

impl std::fmt::Debug for TableChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableChunks({})", self.header().path.display())
    }
}

impl std::fmt::Debug for CsvChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CsvChunks({}, {} rows read)", self.header.path.display(), self.next)
    }
}

impl Iterator for TableChunks {
    type Item = Result<RawTable, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Csv(c) => c.next(),
            Self::Parquet(p) => p.next(),
        }
    }
}

/// A CSV file read a chunk of rows at a time.
pub struct CsvChunks {
    header: RawTable,
    reader: csv::Reader<Box<dyn std::io::Read>>,
    /// The first data row, read when the file was opened.
    pending: Option<csv::StringRecord>,
    chunk_rows: usize,
    /// Rows given so far.
    next: usize,
    has_header: bool,
}

impl CsvChunks {
    fn open(path: &Path, format: &CsvFormat, chunk_rows: usize) -> Result<Self, DataError> {
        let err = |line: Option<u64>, message: String| DataError::Csv {
            path: path.to_path_buf(),
            line,
            column: None,
            message,
        };
        let mut reader = csv_reader(path, format, format.header).map_err(|e| err(None, e))?;
        let mut names: Vec<String> = if format.header {
            header_names(reader.headers().map_err(|e| err(Some(1), e.to_string()))?)
        } else {
            format.columns.clone().unwrap_or_default()
        };
        let mut chunks = Self {
            header: RawTable {
                path: path.to_path_buf(),
                names: Vec::new(),
                rows: Vec::new(),
                lines: Vec::new(),
                positional: false,
                kinds: Vec::new(),
                parquet: false,
                row_groups: Vec::new(),
                offset: 0,
            },
            reader,
            pending: None,
            chunk_rows: chunk_rows.max(1),
            next: 0,
            has_header: format.header,
        };
        let first = chunks.record(names.len()).transpose()?;
        let Some(first) = first else {
            if names.iter().all(String::is_empty) {
                return Err(err(None, "the file is empty; it needs a header and data rows".into()));
            }
            return Err(err(None, "no data rows".into()));
        };
        let width = first.len();
        let positional = !format.header && names.is_empty();
        if !format.header {
            if names.is_empty() {
                names = (0..width).map(|i| i.to_string()).collect();
            } else if names.len() != width {
                return Err(err(
                    first.position().map(|p| p.line()),
                    format!(
                        "{width} fields, but `data.csv.columns` names {}; list one name per field",
                        names.len()
                    ),
                ));
            }
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(err(Some(1), format!("column `{n}` appears twice; column names must be unique")));
            }
        }
        chunks.header.kinds = vec![ColumnKind::Text; names.len()];
        chunks.header.names = names;
        chunks.header.positional = positional;
        chunks.pending = Some(first);
        Ok(chunks)
    }

    /// The next data row (a blank line at the end of UCI files, read as one empty field, is
    /// skipped); `width`: the number of named columns (0 before the first row of a file
    /// without names).
    fn record(&mut self, width: usize) -> Option<Result<csv::StringRecord, DataError>> {
        loop {
            let mut record = csv::StringRecord::new();
            match self.reader.read_record(&mut record) {
                Ok(false) => return None,
                Ok(true) if record.len() == 1 && record[0].is_empty() && width != 1 => continue,
                Ok(true) => return Some(Ok(record)),
                Err(e) => return Some(Err(self.csv_error(e))),
            }
        }
    }

    fn csv_error(&self, e: csv::Error) -> DataError {
        let line = e.position().map(|p| p.line());
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!(
                "{len} fields where {} has {expected_len}; check the delimiter and quoting of this row",
                if self.has_header { "the header" } else { "the first row" }
            ),
            _ => e.to_string(),
        };
        DataError::Csv { path: self.header.path.clone(), line, column: None, message }
    }
}

impl Iterator for CsvChunks {
    type Item = Result<RawTable, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rows = Vec::with_capacity(self.chunk_rows.min(1 << 16));
        let mut lines = Vec::with_capacity(rows.capacity());
        let width = self.header.names.len();
        while rows.len() < self.chunk_rows {
            let record = match self.pending.take() {
                Some(r) => r,
                None => match self.record(width) {
                    None => break,
                    Some(Err(e)) => return Some(Err(e)),
                    Some(Ok(r)) => r,
                },
            };
            lines.push(record.position().map_or(0, |p| p.line()));
            rows.push(record);
        }
        if rows.is_empty() {
            return None;
        }
        let offset = self.next;
        self.next += rows.len();
        Some(Ok(RawTable { rows, lines, offset, ..self.header.clone() }))
    }
}

/// Rows decoded at a time when a whole file is read.
const READ_CHUNK: usize = 8192;

impl RawTable {
    /// Read `path` as `format` says. Errors: a missing or empty file, a row whose field count
    /// differs from the header's, duplicate column names, a header-less file whose `columns`
    /// count disagrees with its rows.
    pub fn read(path: &Path, format: &CsvFormat) -> Result<Self, DataError> {
        Self::read_columns(path, format, None)
    }

    /// Read `path`, a CSV or a Parquet file (told apart by Parquet's magic bytes); of a Parquet
    /// file only the columns in `wanted` (all when `None`) are decoded, the others are left
    /// empty.
    pub fn read_columns(
        path: &Path,
        format: &CsvFormat,
        wanted: Option<&[String]>,
    ) -> Result<Self, DataError> {
        let chunks = TableChunks::open(path, format, wanted, READ_CHUNK)?;
        let mut all = RawTable { rows: Vec::new(), ..chunks.header().clone() };
        if let Some(n) = chunks.known_rows() {
            all.rows.reserve_exact(n);
        }
        for chunk in chunks {
            let chunk = chunk?;
            all.rows.extend(chunk.rows);
            all.lines.extend(chunk.lines);
        }
        Ok(all)
    }
}
