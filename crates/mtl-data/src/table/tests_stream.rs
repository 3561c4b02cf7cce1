//! Streaming: chunked reading (errors located across chunks), the one-pass fit, and the
//! shuffle buffer, on small files written by each test with chunks of a few rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::batch::epoch_permutation;
use crate::task::{TaskKind, TaskSpec};

/// Rows `0..n`: `id` = row index (the regression target `row`), a category `c`, a numeric
/// `x`, a list `tags`, a binary `y`.
fn rows(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("row,c,x,tags,y\n");
    for i in 0..n {
        let tags = (0..i % 4).map(|k| format!("t{}", (i + k) % 5)).collect::<Vec<_>>().join("|");
        text += &format!("{i},k{},{},{tags},{}\n", i % 3, (i * 7 % 11) as f32 / 3.0, i % 2);
    }
    let p = dir.join("rows.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn config(train: PathBuf, budget: MemoryBudget, buffer: usize) -> TableConfig {
    let mut columns = BTreeMap::new();
    columns.insert("c".to_string(), IdColumn { hash_buckets: None, ..IdColumn::default() });
    TableConfig {
        format: CsvFormat::default(),
        categorical: vec!["c".into()],
        numeric: vec!["x".into()],
        standardize: true,
        labels: vec![
            LabelColumn { column: "row".into(), map: LabelMap::Regression },
            LabelColumn { column: "y".into(), map: LabelMap::Binary { positive: vec![], negative: vec![] } },
        ],
        ids: IdSettings { multi_hot: vec!["tags".into()], columns, min_count: 2, ..IdSettings::default() },
        files: vec![TableFiles { train, valid: None, test: None }],
        stream: StreamSettings { memory_budget: budget, shuffle_buffer: buffer, chunk_rows: 7 },
    }
}

fn tasks() -> Vec<TaskSpec> {
    vec![
        TaskSpec { name: "row".into(), kind: TaskKind::Regression },
        TaskSpec { name: "y".into(), kind: TaskKind::Binary },
    ]
}

const SPLIT: SplitFractions = SplitFractions { train: 0.7, valid: 0.2, test: 0.1 };

/// The file rows of one epoch's batches (from the `row` target), and the batch sizes.
fn epoch(
    stream: &SplitStream,
    buffer: usize,
    epoch: usize,
    batch: usize,
    drop_last: bool,
) -> (Vec<usize>, Vec<usize>) {
    let (mut order, mut sizes) = (Vec::new(), Vec::new());
    stream
        .shuffled(buffer, 11, epoch, batch, drop_last, &mut |d| d, &mut |b| {
            sizes.push(b.len());
            order.extend(b.targets[0].iter().map(|y| *y as usize));
            true
        })
        .unwrap();
    (order, sizes)
}

#[test]
fn the_streamed_fit_equals_the_in_memory_fit_whatever_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows(dir.path(), 60);
    let memory = config(file.clone(), MemoryBudget::Unlimited, 10);
    let streamed = config(file, MemoryBudget::Bytes(0), 10);
    assert!(!memory.streams() && streamed.streams());
    let (a, b) = (memory.fit(&SPLIT, 4).unwrap(), streamed.fit(&SPLIT, 4).unwrap());
    assert_eq!(a, b, "vocabularies (min_count 2), list length, means and stds, class lists");
    assert_eq!(a.multi_hot[0].max_len, 3);
    // The encoded splits hold the same rows in the same order.
    let splits = memory.load(&a, &tasks(), &SPLIT, 4).unwrap();
    let s = streamed.stream_splits(&b, &tasks(), &SPLIT, 4).unwrap();
    for (whole, stream) in [(&splits.train, &s.train), (&splits.valid, &s.valid), (&splits.test, &s.test)] {
        let chunks: Vec<MultiTaskDataset> = stream.chunks().unwrap().map(Result::unwrap).collect();
        assert!(chunks.len() > 1, "read in chunks of 7 rows");
        let mut all = chunks[0].empty_like(0);
        for c in &chunks {
            (0..c.len()).for_each(|i| all.push_sample(c, i));
        }
        assert_eq!(&all, whole);
        assert_eq!(stream.len(), whole.len());
    }
}

#[test]
fn a_buffer_as_large_as_the_split_gives_the_in_memory_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(rows(dir.path(), 60), MemoryBudget::Bytes(0), 1000);
    let prep = c.fit(&SPLIT, 4).unwrap();
    let s = c.stream_splits(&prep, &tasks(), &SPLIT, 4).unwrap();
    let memory = config(c.files[0].train.clone(), MemoryBudget::Unlimited, 0)
        .load(&prep, &tasks(), &SPLIT, 4)
        .unwrap();
    let file_rows: Vec<usize> = memory.train.targets[0].iter().map(|y| *y as usize).collect();
    for e in 0..3 {
        let want: Vec<usize> =
            epoch_permutation(file_rows.len(), 11, e).iter().map(|&i| file_rows[i]).collect();
        let (order, sizes) = epoch(&s.train, 1000, e, 8, false);
        assert_eq!(order, want, "epoch {e}");
        assert_eq!(sizes, [8, 8, 8, 8, 8, 2]);
        // A buffer of exactly the split's size too.
        assert_eq!(epoch(&s.train, file_rows.len(), e, 8, false).0, want);
    }
    assert_eq!(epoch(&s.train, 1000, 0, 8, true).1, [8; 5], "drop_last drops the short batch");
}

#[test]
fn a_small_buffer_gives_each_row_once_in_a_seeded_order_moving_rows_at_most_its_size_early() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(rows(dir.path(), 90), MemoryBudget::Bytes(0), 10);
    let prep = c.fit(&SPLIT, 4).unwrap();
    let s = c.stream_splits(&prep, &tasks(), &SPLIT, 4).unwrap();
    let file_rows: Vec<usize> = {
        let mut r = Vec::new();
        for d in s.train.chunks().unwrap() {
            r.extend(d.unwrap().targets[0].iter().map(|y| *y as usize));
        }
        r
    };
    let (a, _) = epoch(&s.train, 10, 0, 4, false);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    let mut want = file_rows.clone();
    want.sort_unstable();
    assert_eq!(sorted, want, "every training row exactly once");
    assert_eq!(epoch(&s.train, 10, 0, 4, false).0, a, "same seed and epoch, same order");
    assert_ne!(epoch(&s.train, 10, 1, 4, false).0, a, "another epoch, another order");
    assert_ne!(a, file_rows);
    for (at, row) in a.iter().enumerate() {
        let place = file_rows.iter().position(|r| r == row).unwrap();
        assert!(at + 10 >= place, "row {row} (file place {place}) went out at {at}");
    }
}

#[test]
fn a_bad_cell_in_a_later_chunk_names_its_line_or_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("row,c,x,tags,y\n");
    for i in 0..30 {
        let x = if i == 23 { "oops".to_string() } else { i.to_string() };
        text += &format!("{i},a,{x},,1\n");
    }
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, &text).unwrap();
    let all = SplitFractions { train: 1.0, valid: 0.0, test: 0.0 };
    let e = config(csv, MemoryBudget::Bytes(0), 10).fit(&all, 0).unwrap_err().to_string();
    assert!(e.contains("bad.csv") && e.contains("line 25") && e.contains("oops"), "{e}");
    // The same rows as Parquet, row groups of 10: row 23 is in row group 2.
    let table = RawTable::read(&dir.path().join("bad.csv"), &CsvFormat::default()).unwrap();
    let names = table.names.clone();
    let strings: Vec<Vec<String>> =
        (0..30).map(|r| table.rows[r].iter().map(String::from).collect()).collect();
    let parquet = dir.path().join("bad.parquet");
    write_strings(&parquet, &names, &strings, 10);
    // Strings as a regression label: the cell is parsed when its chunk is encoded.
    let mut c = config(parquet, MemoryBudget::Bytes(0), 10);
    c.numeric.clear();
    c.ids.multi_hot.clear();
    c.labels[0] = LabelColumn { column: "x".into(), map: LabelMap::Regression };
    let prep = c.fit(&all, 0).unwrap();
    let s = c.stream_splits(&prep, &tasks(), &all, 0).unwrap();
    let e = s.train.chunks().unwrap().find_map(Result::err).unwrap().to_string();
    assert!(e.contains("bad.parquet") && e.contains("row group 2") && e.contains("oops"), "{e}");
}

/// A Parquet file of string columns, `per_group` rows per row group.
fn write_strings(path: &Path, names: &[String], rows: &[Vec<String>], per_group: usize) {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema =
        Arc::new(Schema::new(names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect::<Vec<_>>()));
    let file = std::fs::File::create(path).unwrap();
    let props = ::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(per_group))
        .build();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
    let columns: Vec<ArrayRef> = (0..names.len())
        .map(|c| {
            Arc::new(StringArray::from(rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>())) as ArrayRef
        })
        .collect();
    w.write(&RecordBatch::try_new(schema, columns).unwrap()).unwrap();
    w.close().unwrap();
}

#[test]
fn a_file_that_changes_under_a_streamed_run_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = rows(dir.path(), 40);
    let c = config(file.clone(), MemoryBudget::Bytes(0), 10);
    let prep = c.fit(&SPLIT, 4).unwrap();
    let s = c.stream_splits(&prep, &tasks(), &SPLIT, 4).unwrap();
    // Rows appended (a log still being written) after the run made its splits.
    rows(dir.path(), 55);
    let e = s.train.shuffled(10, 1, 0, 8, false, &mut |d| d, &mut |_| true).unwrap_err().to_string();
    assert!(e.contains("rows.csv") && e.contains("changed while the run was reading it"), "{e}");
    // Rows removed: the epoch comes up short.
    rows(dir.path(), 30);
    let e = s.train.shuffled(10, 1, 0, 8, false, &mut |d| d, &mut |_| true).unwrap_err().to_string();
    assert!(e.contains("changed while the run was reading it"), "{e}");
}
