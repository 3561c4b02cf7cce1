//! Writing generated columns to a table file (`mtl synth`): CSV (gzipped when the name ends in
//! `.gz`) or Parquet, chosen by the file name; written to a temporary file beside the target
//! and renamed into place, so a failed write leaves no half-written file.

use std::io::Write as _;
use std::path::Path;

use super::parquet::{OutColumn, write as write_parquet};

/// The formats [`write_table`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated text; multi-hot cells as ids joined by `|`.
    Csv,
    /// Gzipped CSV.
    CsvGz,
    /// Parquet (snappy), multi-hot cells as lists.
    Parquet,
}

impl TableFormat {
    /// The format a file name asks for: `.csv`, `.csv.gz`, `.parquet` / `.pq`; `None` otherwise.
    pub fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_lowercase();
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(Self::Parquet)
        } else if name.ends_with(".csv.gz") {
            Some(Self::CsvGz)
        } else if name.ends_with(".csv") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// Write `columns` named `names` to `path` in `format` (Parquet: `rows_per_group` rows per row
/// group). Errors are the operating system's or the writer's words.
pub fn write_table(
    path: &Path,
    format: TableFormat,
    names: &[String],
    columns: &[OutColumn],
    rows_per_group: usize,
) -> Result<(), String> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.{}.partial", std::process::id()));
    let written = match format {
        TableFormat::Parquet => write_parquet(&temp, names, columns, rows_per_group),
        TableFormat::Csv | TableFormat::CsvGz => {
            write_csv(&temp, format == TableFormat::CsvGz, names, columns)
        }
    };
    match written.and_then(|()| std::fs::rename(&temp, path).map_err(|e| e.to_string())) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

fn write_csv(path: &Path, gzip: bool, names: &[String], columns: &[OutColumn]) -> Result<(), String> {
    let file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(|e| e.to_string())?);
    let sink: Box<dyn std::io::Write> = match gzip {
        true => Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast())),
        false => Box::new(file),
    };
    let mut writer = csv::WriterBuilder::new().from_writer(sink);
    writer.write_record(names).map_err(|e| e.to_string())?;
    let n = columns.first().map_or(0, OutColumn::len);
    let mut cells = vec![String::new(); columns.len()];
    for i in 0..n {
        for (cell, column) in cells.iter_mut().zip(columns) {
            cell.clear();
            column.write_text(i, cell);
        }
        writer.write_record(&cells).map_err(|e| e.to_string())?;
    }
    let mut sink = writer.into_inner().map_err(|e| e.to_string())?;
    sink.flush().map_err(|e| e.to_string())
}
