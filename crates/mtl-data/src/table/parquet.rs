//! Parquet table files (arrow-rs `parquet`): read row group by row group into the rows of
//! strings every table source shares, so that a Parquet file and a CSV file of the same rows
//! give the same cells, the same preprocessing and the same numbers; and written by
//! `mtl synth`.
//!
//! Cells: integers as decimal text, floats with Rust's shortest round-trip formatting (what a
//! CSV writer of the same values prints), booleans as `1`/`0`, strings as they are, dictionary
//! strings by their values, a null as the empty (missing) cell, and a list of scalars as its
//! items separated by [`ITEM_SEPARATOR`]. Other types (dates, decimals, structs, binary) are
//! named in an error when a used column has one.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::raw::{ColumnKind, ITEM_SEPARATOR, RawTable};
use crate::error::DataError;

fn error(path: &Path, row_group: Option<usize>, column: Option<String>, message: String) -> DataError {
    DataError::Parquet { path: path.to_path_buf(), row_group, row: None, column, message }
}

/// A file that is not readable Parquet: said with the reader's words and what to check.
fn corrupt(path: &Path, row_group: Option<usize>, e: impl std::fmt::Display) -> DataError {
    error(
        path,
        row_group,
        None,
        format!("not a readable Parquet file ({e}); check that it was written completely, or rewrite it"),
    )
}

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, DataError> {
    let file = File::open(path).map_err(|e| error(path, None, None, crate::error::cannot_read(&e)))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(path, None, e))
}

/// The column names of a Parquet file, from its footer.
pub fn column_names(path: &Path) -> Result<Vec<String>, DataError> {
    Ok(builder(path)?.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// How mtl reads a column of type `t`.
fn kind(t: &DataType) -> ColumnKind {
    match t {
        DataType::Boolean => ColumnKind::Boolean,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnKind::Text,
        DataType::Dictionary(_, v) if matches!(kind(v), ColumnKind::Text) => ColumnKind::Text,
        DataType::List(item) | DataType::LargeList(item) => match kind(item.data_type()) {
            ColumnKind::Text | ColumnKind::Number | ColumnKind::Boolean => ColumnKind::List,
            _ => ColumnKind::Other(t.to_string()),
        },
        t if t.is_integer() || matches!(t, DataType::Float32 | DataType::Float64) => ColumnKind::Number,
        other => ColumnKind::Other(other.to_string()),
    }
}

/// A Parquet file opened for reading a batch of rows at a time (only the columns in
/// `wanted`, all when `None`; the others are left empty, [`ColumnKind::Skipped`]).
pub struct ParquetChunks {
    header: RawTable,
    read: Vec<usize>,
    reader: ParquetRecordBatchReader,
    /// Rows given so far.
    next: usize,
    /// Rows in the file.
    total: usize,
}

impl ParquetChunks {
    /// Open `path`, reading `chunk_rows` rows at a time; a file without rows is an error.
    pub fn open(path: &Path, wanted: Option<&[String]>, chunk_rows: usize) -> Result<Self, DataError> {
        let builder = builder(path)?;
        let schema = builder.schema().clone();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(error(
                    path,
                    None,
                    None,
                    format!("column `{n}` appears twice; column names must be unique"),
                ));
            }
        }
        let read: Vec<usize> =
            (0..names.len()).filter(|&i| wanted.is_none_or(|w| w.contains(&names[i]))).collect();
        let kinds: Vec<ColumnKind> = (0..names.len())
            .map(|i| if read.contains(&i) { kind(schema.field(i).data_type()) } else { ColumnKind::Skipped })
            .collect();
        let mut row_groups = Vec::new();
        let mut first = 0;
        for g in builder.metadata().row_groups() {
            row_groups.push(first);
            first += g.num_rows() as usize;
        }
        if first == 0 {
            return Err(error(path, None, None, "no data rows".into()));
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), read.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_batch_size(chunk_rows.clamp(1, 1 << 20))
            .build()
            .map_err(|e| corrupt(path, None, e))?;
        let header = RawTable {
            path: path.to_path_buf(),
            names,
            rows: Vec::new(),
            lines: Vec::new(),
            positional: false,
            kinds,
            parquet: true,
            row_groups,
            offset: 0,
        };
        Ok(Self { header, read, reader, next: 0, total: first })
    }

    /// The file's columns and their kinds, without rows.
    pub fn header(&self) -> &RawTable {
        &self.header
    }

    /// Number of rows, from the footer.
    pub fn num_rows(&self) -> usize {
        self.total
    }

    /// The next batch of rows, decoded into cells.
    fn decode(&mut self, batch: RecordBatch) -> RawTable {
        let h = &self.header;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut cell = String::new();
        // A dictionary column's keys are resolved once per batch.
        let columns: Vec<Option<Decoded>> = {
            let mut it = batch.columns().iter();
            (0..h.names.len())
                .map(|i| if self.read.contains(&i) { it.next() } else { None })
                .map(|a| a.map(|a| (a, a.as_any_dictionary_opt().map(|d| d.normalized_keys()))))
                .collect()
        };
        let readable: Vec<bool> = (h.kinds.iter())
            .map(|k| {
                matches!(k, ColumnKind::Text | ColumnKind::Number | ColumnKind::Boolean | ColumnKind::List)
            })
            .collect();
        for r in 0..batch.num_rows() {
            let mut record = csv::StringRecord::with_capacity(64, h.names.len());
            for (c, column) in columns.iter().enumerate() {
                cell.clear();
                match column {
                    Some((array, None)) if readable[c] => write_cell(array.as_ref(), r, &mut cell),
                    Some((array, Some(keys))) if readable[c] && !array.is_null(r) => {
                        write_cell(array.as_any_dictionary().values().as_ref(), keys[r], &mut cell)
                    }
                    _ => {}
                }
                record.push_field(&cell);
            }
            rows.push(record);
        }
        let offset = self.next;
        self.next += rows.len();
        RawTable { rows, offset, ..h.clone() }
    }
}

impl std::fmt::Debug for ParquetChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParquetChunks({}, {} of {} rows read)", self.header.path.display(), self.next, self.total)
    }
}

impl Iterator for ParquetChunks {
    type Item = Result<RawTable, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        let groups = &self.header.row_groups;
        let group = groups.partition_point(|&f| f <= self.next).saturating_sub(1);
        Some(match batch {
            Ok(batch) => Ok(self.decode(batch)),
            Err(e) => Err(corrupt(&self.header.path, Some(group), e)),
        })
    }
}

/// A column of a decoded batch, with a dictionary column's keys resolved.
type Decoded<'a> = (&'a ArrayRef, Option<Vec<usize>>);

/// Append the text of `array[i]` to `out` (nothing for a null).
fn write_cell(array: &dyn Array, i: usize, out: &mut String) {
    if array.is_null(i) {
        return;
    }
    macro_rules! number {
        ($($t:ty),*) => {
            $(if let Some(a) = array.as_primitive_opt::<$t>() {
                let _ = write!(out, "{}", a.value(i));
                return;
            })*
        };
    }
    number!(
        Int8Type,
        Int16Type,
        Int32Type,
        Int64Type,
        UInt8Type,
        UInt16Type,
        UInt32Type,
        UInt64Type,
        Float32Type,
        Float64Type
    );
    match array.data_type() {
        DataType::Boolean => out.push(if array.as_boolean().value(i) { '1' } else { '0' }),
        DataType::Utf8 => out.push_str(array.as_string::<i32>().value(i).trim()),
        DataType::LargeUtf8 => out.push_str(array.as_string::<i64>().value(i).trim()),
        DataType::Utf8View => out.push_str(array.as_string_view().value(i).trim()),
        DataType::Dictionary(_, _) => {
            // Inside a list (top-level dictionary columns resolve their keys once per batch).
            let dict = array.as_any_dictionary();
            write_cell(dict.values().as_ref(), dict.normalized_keys()[i], out);
        }
        DataType::List(_) => write_items(&array.as_list::<i32>().value(i), out),
        DataType::LargeList(_) => write_items(&array.as_list::<i64>().value(i), out),
        _ => {}
    }
}

fn write_items(items: &ArrayRef, out: &mut String) {
    for k in 0..items.len() {
        if k > 0 {
            out.push(ITEM_SEPARATOR);
        }
        write_cell(items.as_ref(), k, out);
    }
}

/// A column written by [`write`].
#[derive(Debug, Clone, PartialEq)]
pub enum OutColumn {
    /// Floats.
    Float(Vec<f32>),
    /// Integers with missing cells (an unobserved label): empty in CSV, null in Parquet.
    OptInt(Vec<Option<i64>>),
    /// Integers (category codes, ids, class labels).
    Int(Vec<i64>),
    /// Lists of integer ids (multi-hot).
    IdLists(Vec<Vec<i64>>),
}

impl OutColumn {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            OutColumn::Float(v) => v.len(),
            OutColumn::Int(v) => v.len(),
            OutColumn::OptInt(v) => v.len(),
            OutColumn::IdLists(v) => v.len(),
        }
    }

    /// Whether the column has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of row `i` as a CSV cell (what the Parquet reader gives back for it).
    pub fn write_text(&self, i: usize, out: &mut String) {
        match self {
            OutColumn::Float(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            OutColumn::Int(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            OutColumn::OptInt(v) => {
                if let Some(x) = v[i] {
                    let _ = write!(out, "{x}");
                }
            }
            OutColumn::IdLists(v) => {
                for (k, id) in v[i].iter().enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    let _ = write!(out, "{id}");
                }
            }
        }
    }

    fn arrow(&self, rows: std::ops::Range<usize>) -> (DataType, ArrayRef) {
        use arrow_array::builder::{Int64Builder, ListBuilder};
        use arrow_array::{Float32Array, Int64Array};
        match self {
            OutColumn::Float(v) => (DataType::Float32, Arc::new(Float32Array::from(v[rows].to_vec()))),
            OutColumn::Int(v) => (DataType::Int64, Arc::new(Int64Array::from(v[rows].to_vec()))),
            OutColumn::OptInt(v) => (DataType::Int64, Arc::new(Int64Array::from(v[rows].to_vec()))),
            OutColumn::IdLists(v) => {
                let mut b = ListBuilder::new(Int64Builder::new());
                for list in &v[rows] {
                    b.values().append_slice(list);
                    b.append(true);
                }
                let array = b.finish();
                (array.data_type().clone(), Arc::new(array))
            }
        }
    }
}

/// Write `columns` (named `names`, all of one length) to the Parquet file `path`, snappy
/// compressed, `rows_per_group` rows per row group.
pub fn write(
    path: &Path,
    names: &[String],
    columns: &[OutColumn],
    rows_per_group: usize,
) -> Result<(), String> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let n = columns.first().map_or(0, OutColumn::len);
    let fields: Vec<Field> = (names.iter().zip(columns))
        .map(|(name, c)| Field::new(name, c.arrow(0..0).0, matches!(c, OutColumn::OptInt(_))))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let file = File::create(path).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows_per_group.max(1)))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| e.to_string())?;
    let mut start = 0;
    while start < n {
        let end = (start + rows_per_group.max(1)).min(n);
        let arrays: Vec<ArrayRef> = columns.iter().map(|c| c.arrow(start..end).1).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
        start = end;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}
