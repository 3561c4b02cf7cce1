//! A table file in memory — rows of trimmed string cells, whatever the file format — with
//! every problem located by file, line (CSV) or row group (Parquet), and column.

use std::path::PathBuf;

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
    /// Separator of the ids in a multi-hot cell of a text file (`a|b|c`). Parquet list
    /// columns need none.
    #[serde(default = "default_list_separator", skip_serializing_if = "is_default_separator")]
    pub list_separator: char,
}

fn default_list_separator() -> char {
    '|'
}

fn is_default_separator(c: &char) -> bool {
    *c == default_list_separator()
}

impl Default for CsvFormat {
    fn default() -> Self {
        Self {
            header: true,
            columns: None,
            delimiter: ',',
            missing: Vec::new(),
            comment: None,
            list_separator: default_list_separator(),
        }
    }
}

impl CsvFormat {
    /// Whether a (trimmed) cell is missing.
    pub fn is_missing(&self, cell: &str) -> bool {
        cell.is_empty() || self.missing.iter().any(|m| m == cell)
    }
}

/// A file read into memory: column names and the data rows, each with where it came from.
#[derive(Debug, Clone)]
pub struct RawTable {
    /// The file.
    pub path: PathBuf,
    /// Column names.
    pub names: Vec<String>,
    /// Data rows, trimmed. A Parquet list cell holds its items separated by [`ITEM_SEPARATOR`];
    /// a null cell is empty.
    pub rows: Vec<csv::StringRecord>,
    /// 1-based line of each row (CSV); empty for Parquet.
    pub lines: Vec<u64>,
    /// The columns are named by position (`0`, `1`, …): no header and no `data.csv.columns`.
    pub positional: bool,
    /// What each column holds: all text for a CSV file, the column types of a Parquet file.
    pub kinds: Vec<ColumnKind>,
    /// A Parquet file; then `row_groups` holds the first row of each row group (for error
    /// locations).
    pub parquet: bool,
    /// Parquet: the first row of each row group; empty for CSV.
    pub row_groups: Vec<usize>,
    /// The file row of `rows[0]` (0 for a whole file; a chunk's place in its file).
    pub offset: usize,
}

/// Separator of the items of a Parquet list cell in [`RawTable::rows`].
pub const ITEM_SEPARATOR: char = '\u{1f}';

/// What a column of a table file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text cells (every column of a CSV file; Parquet strings).
    Text,
    /// Parquet integers or floats.
    Number,
    /// Parquet booleans, read as `1` / `0`.
    Boolean,
    /// A Parquet list of scalars.
    List,
    /// A Parquet type mtl does not read (named); an error if the column is used.
    Other(String),
    /// A column the reader was not asked for (left empty).
    Skipped,
}

impl RawTable {
    /// An error at row `row` (or about the whole file), in column `column` if given: located by
    /// line in a CSV file, by row group in a Parquet file.
    pub fn error(&self, row: Option<usize>, column: Option<String>, message: String) -> DataError {
        if self.parquet {
            let row = row.map(|r| r + self.offset);
            let row_group =
                row.map(|r| self.row_groups.partition_point(|&first| first <= r).saturating_sub(1));
            return DataError::Parquet { path: self.path.clone(), row_group, row, column, message };
        }
        DataError::Csv { path: self.path.clone(), line: row.map(|r| self.lines[r]), column, message }
    }

    /// Index of column `name`, or an error listing the columns the file has.
    pub fn column(&self, name: &str, what: &str) -> Result<usize, DataError> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            const SHOWN: usize = 12;
            let mut have: Vec<String> = self.names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
            if self.names.len() > SHOWN {
                have.push(format!("… ({} in all)", self.names.len()));
            }
            // A CSV file names its columns on line 1; a Parquet file in its footer.
            let error = |message| match self.parquet {
                true => self.error(None, Some(name.to_string()), message),
                false => DataError::Csv {
                    path: self.path.clone(),
                    line: Some(1),
                    column: Some(name.to_string()),
                    message,
                },
            };
            error(if self.positional {
                format!(
                    "missing {what} column; the file has no header, so its {} columns are named by position \
                         ({}): name them with `data.csv.columns = [...]`",
                    self.names.len(),
                    have.join(", ")
                )
            } else {
                format!("missing {what} column; the file has {}", have.join(", "))
            })
        })
    }

    /// Column `c` must hold scalars (`what`: what it is used as); a Parquet list or an
    /// unreadable type is an error naming the column and the fix.
    pub fn expect_scalar(&self, c: usize, what: &str) -> Result<(), DataError> {
        let fix = match &self.kinds[c] {
            ColumnKind::List => format!(
                "holds lists, but a {what} column needs one value per row; list it under `data.csv.multi_hot` \
                 (ids pooled by an embedding) or write one value per cell"
            ),
            ColumnKind::Other(t) => format!(
                "has the Parquet/Arrow type {t}, which mtl does not read as a {what}; write it as numbers or strings"
            ),
            _ => return Ok(()),
        };
        Err(self.error(None, Some(self.names[c].clone()), fix))
    }

    /// Column `c` used as a multi-hot feature: lists, or scalars (text split by the list
    /// separator); a type mtl does not read is an error.
    pub fn expect_ids(&self, c: usize) -> Result<(), DataError> {
        if let ColumnKind::Other(t) = &self.kinds[c] {
            return Err(self.error(
                None,
                Some(self.names[c].clone()),
                format!(
                    "has the Parquet/Arrow type {t}; a multi-hot column needs lists of integers or strings"
                ),
            ));
        }
        Ok(())
    }

    /// The column of numeric feature `name`, checked with [`expect_number`](Self::expect_number).
    pub fn numeric_column(&self, name: &str) -> Result<usize, DataError> {
        let c = self.column(name, "numeric feature")?;
        self.expect_number(c)?;
        Ok(c)
    }

    /// Column `c` used as a numeric feature: Parquet strings are refused (a CSV cell is checked
    /// when parsed).
    pub fn expect_number(&self, c: usize) -> Result<(), DataError> {
        self.expect_scalar(c, "numeric feature")?;
        if self.kinds[c] == ColumnKind::Text && self.parquet {
            return Err(self.error(
                None,
                Some(self.names[c].clone()),
                "holds strings, but a numeric feature needs numbers; list it under `categorical`, or write it as numbers".into(),
            ));
        }
        Ok(())
    }

    /// The items of the multi-hot cell of `row` in column `c` (none for a missing cell).
    pub fn items<'a>(
        &'a self,
        row: usize,
        c: usize,
        format: &'a CsvFormat,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let cell = &self.rows[row][c];
        let separator =
            if self.kinds[c] == ColumnKind::List { ITEM_SEPARATOR } else { format.list_separator };
        let whole = !format.is_missing(cell);
        cell.split(separator).map(str::trim).filter(move |item| whole && !format.is_missing(item))
    }

    /// An error about the cell of `row` in `column`.
    pub fn cell_error(&self, row: usize, column: usize, message: String) -> DataError {
        self.error(Some(row), Some(self.names[column].clone()), message)
    }
}
