//! Reading a delimited text file into rows of strings, with every problem located by file,
//! line and column.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// How a table file is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvFormat {
    /// The first line names the columns.
    pub header: bool,
    /// Column names of a file without a header (in file order).
    pub columns: Option<Vec<String>>,
    /// Field separator (one ASCII character).
    pub delimiter: char,
    /// Cell values that mean "missing", besides the empty cell (e.g. `?` in UCI files).
    pub missing: Vec<String>,
    /// Lines starting with this character are skipped (e.g. `|` in UCI's adult.test).
    pub comment: Option<char>,
}

impl Default for CsvFormat {
    fn default() -> Self {
        Self { header: true, columns: None, delimiter: ',', missing: Vec::new(), comment: None }
    }
}

impl CsvFormat {
    /// Whether a (trimmed) cell is missing.
    pub fn is_missing(&self, cell: &str) -> bool {
        cell.is_empty() || self.missing.iter().any(|m| m == cell)
    }
}

/// A file read into memory: column names and the data rows, each with its line number.
#[derive(Debug, Clone)]
pub struct RawTable {
    /// The file.
    pub path: PathBuf,
    /// Column names.
    pub names: Vec<String>,
    /// Data rows, trimmed.
    pub rows: Vec<csv::StringRecord>,
    /// 1-based line of each row.
    pub lines: Vec<u64>,
    /// The columns are named by position (`0`, `1`, …): no header and no `data.csv.columns`.
    pub positional: bool,
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

impl RawTable {
    /// Read `path` as `format` says. Errors: a missing or empty file, a row whose field count
    /// differs from the header's, duplicate column names, a header-less file whose `columns`
    /// count disagrees with its rows.
    pub fn read(path: &Path, format: &CsvFormat) -> Result<Self, DataError> {
        let err = |line: Option<u64>, message: String| DataError::Csv {
            path: path.to_path_buf(),
            line,
            column: None,
            message,
        };
        ensure_exists(path)?;
        let mut reader = csv_reader(path, format, format.header).map_err(|e| err(None, e))?;
        let mut names: Vec<String> = if format.header {
            header_names(reader.headers().map_err(|e| err(Some(1), e.to_string()))?)
        } else {
            format.columns.clone().unwrap_or_default()
        };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line());
                match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => err(
                        line,
                        format!(
                            "{len} fields where {} has {expected_len}; check the delimiter and quoting of this row",
                            if format.header { "the header" } else { "the first row" }
                        ),
                    ),
                    _ => err(line, e.to_string()),
                }
            })?;
            // A blank line at the end of UCI files reads as one empty field.
            if record.len() == 1 && record[0].is_empty() && names.len() != 1 {
                continue;
            }
            lines.push(record.position().map_or(0, |p| p.line()));
            rows.push(record);
        }
        if names.iter().all(String::is_empty) && rows.is_empty() {
            return Err(err(None, "the file is empty; it needs a header and data rows".into()));
        }
        if rows.is_empty() {
            return Err(err(None, "no data rows".into()));
        }
        let width = rows[0].len();
        let positional = !format.header && names.is_empty();
        if !format.header {
            if names.is_empty() {
                names = (0..width).map(|i| i.to_string()).collect();
            } else if names.len() != width {
                return Err(err(
                    Some(lines[0]),
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
        Ok(Self { path: path.to_path_buf(), names, rows, lines, positional })
    }

    /// Index of column `name`, or an error listing the columns the file has.
    pub fn column(&self, name: &str, what: &str) -> Result<usize, DataError> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            const SHOWN: usize = 12;
            let mut have: Vec<String> = self.names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
            if self.names.len() > SHOWN {
                have.push(format!("… ({} in all)", self.names.len()));
            }
            DataError::Csv {
                path: self.path.clone(),
                line: Some(1),
                column: Some(name.to_string()),
                message: if self.positional {
                    format!(
                        "missing {what} column; the file has no header, so its {} columns are named by position \
                         ({}): name them with `data.csv.columns = [...]`",
                        self.names.len(),
                        have.join(", ")
                    )
                } else {
                    format!("missing {what} column; the file has {}", have.join(", "))
                },
            }
        })
    }

    /// An error about the cell of `row` in `column`.
    pub fn cell_error(&self, row: usize, column: usize, message: String) -> DataError {
        DataError::Csv {
            path: self.path.clone(),
            line: Some(self.lines[row]),
            column: Some(self.names[column].clone()),
            message,
        }
    }
}
