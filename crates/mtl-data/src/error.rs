//! Errors raised while building or reading data.

/// A data problem a user can fix: every message names what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A generator or split parameter is out of range.
    #[error("invalid data setting `{key}`: {message}")]
    InvalidSetting {
        /// The config key (e.g. `data.synthetic.correlation`).
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A categorical feature holds a value that is not a category code.
    #[error(
        "{what} {column}, row {row} of the {split} split: {value} is not a category code 0..={max}; recode the column \
         to integers from 0 or raise its entry in `model.encoder.cardinalities`"
    )]
    BadCategory {
        /// `feature column` or `id column`.
        what: &'static str,
        /// The split (`train`, `valid`, `test`).
        split: String,
        /// Feature column index.
        column: usize,
        /// Row index (0-based, in the data as loaded).
        row: usize,
        /// The value found.
        value: f64,
        /// Largest allowed code.
        max: usize,
    },
    /// An IDX file is malformed or does not match its partner.
    #[error("{}: {message}", path.display())]
    Idx {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A data file is not where the config points.
    #[error("{}: not found ({hint}); set the data folder in the config or MTL_DATA_DIR", path.display())]
    MissingFile {
        /// The path looked for.
        path: std::path::PathBuf,
        /// What was tried.
        hint: String,
    },
    /// A CSV table has a problem at a known place.
    #[error("{}{}{}: {message}", path.display(), line.map_or(String::new(), |l| format!(" line {l}")),
        column.as_ref().map_or(String::new(), |c| format!(", column `{c}`")))]
    Csv {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// The column, when known.
        column: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
    /// A Parquet file has a problem at a known place.
    #[error("{}{}{}: {message}", path.display(),
        row_group.map_or(String::new(), |g| format!(", row group {g}{}", row.map_or(String::new(), |r| format!(" (row {})", r + 1)))),
        column.as_ref().map_or(String::new(), |c| format!(", column `{c}`")))]
    Parquet {
        /// The file.
        path: std::path::PathBuf,
        /// 0-based row group, when known.
        row_group: Option<usize>,
        /// 0-based row of the file, when known.
        row: Option<usize>,
        /// The column, when known.
        column: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
}

impl DataError {
    /// The same error with `advice` appended to the message of a located table error (CSV or
    /// Parquet); other errors unchanged.
    pub fn with_advice(self, advice: &str) -> Self {
        match self {
            DataError::Csv { path, line, column, message } => {
                DataError::Csv { path, line, column, message: format!("{message}; {advice}") }
            }
            DataError::Parquet { path, row_group, row, column, message } => {
                DataError::Parquet { path, row_group, row, column, message: format!("{message}; {advice}") }
            }
            other => other,
        }
    }
}

/// "cannot read it: " and the operating system's message, without its "(os error N)" suffix.
pub(crate) fn cannot_read(e: &std::io::Error) -> String {
    let text = e.to_string();
    format!("cannot read it: {}", text.split(" (os error").next().unwrap_or(&text))
}
