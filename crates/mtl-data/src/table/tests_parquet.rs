//! Parquet files, multi-hot, hashed and shared id columns, vocabulary limits, and the errors of
//! each, on small files written by each test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::SyntheticConfig;
use crate::task::{TaskKind, TaskSpec};

fn all_train() -> SplitFractions {
    SplitFractions { train: 1.0, valid: 0.0, test: 0.0 }
}

fn binary(column: &str) -> LabelColumn {
    LabelColumn { column: column.into(), map: LabelMap::Binary { positive: vec![], negative: vec![] } }
}

fn table(
    train: PathBuf,
    categorical: &[&str],
    numeric: &[&str],
    labels: Vec<LabelColumn>,
    ids: IdSettings,
) -> TableConfig {
    TableConfig {
        format: CsvFormat::default(),
        categorical: categorical.iter().map(|s| s.to_string()).collect(),
        numeric: numeric.iter().map(|s| s.to_string()).collect(),
        standardize: true,
        labels,
        ids,
        files: vec![TableFiles { train, valid: None, test: None }],
        stream: StreamSettings::default(),
    }
}

fn specs(prep: &Preprocessing) -> Vec<TaskSpec> {
    prep.labels.iter().map(|l| TaskSpec { name: l.column.clone(), kind: l.kind() }).collect()
}

fn write_text(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A small generated table with categorical, id and multi-hot columns, a binary and a
/// regression task.
fn generated() -> (Vec<String>, Vec<OutColumn>) {
    let config = SyntheticConfig {
        samples: 300,
        features: 6,
        categorical_features: 2,
        categories: 4,
        id_features: 2,
        id_cardinality: 50,
        multi_hot_features: 1,
        multi_hot_max_len: 4,
        seed: 3,
        ..SyntheticConfig::default()
    };
    let tasks = [
        TaskSpec { name: "click".into(), kind: TaskKind::Binary },
        TaskSpec { name: "time".into(), kind: TaskKind::Regression },
    ];
    config.generate_table(&tasks).unwrap()
}

fn generated_settings() -> IdSettings {
    let mut columns = BTreeMap::new();
    columns.insert("id0".to_string(), IdColumn { hash_buckets: Some(64), ..IdColumn::default() });
    columns.insert(
        "hist0".to_string(),
        IdColumn { share: Some("id1".into()), max_len: Some(3), ..IdColumn::default() },
    );
    IdSettings { multi_hot: vec!["hist0".into()], columns, ..IdSettings::default() }
}

fn generated_table(path: PathBuf) -> TableConfig {
    let labels = vec![binary("click"), LabelColumn { column: "time".into(), map: LabelMap::Regression }];
    table(path, &["c0", "c1", "id0", "id1"], &["x2", "x3", "x4", "x5"], labels, generated_settings())
}

#[test]
fn parquet_and_csv_of_the_same_rows_give_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let (names, columns) = generated();
    let csv = dir.path().join("t.csv");
    let parquet = dir.path().join("t.parquet");
    write_table(&csv, TableFormat::Csv, &names, &columns, 1000).unwrap();
    // Several row groups.
    write_table(&parquet, TableFormat::Parquet, &names, &columns, 70).unwrap();
    assert!(is_parquet(&parquet) && !is_parquet(&csv));
    let split = SplitFractions { train: 0.8, valid: 0.1, test: 0.1 };
    let (a, b) = (generated_table(csv), generated_table(parquet));
    let (pa, pb) = (a.fit(&split, 5).unwrap(), b.fit(&split, 5).unwrap());
    assert_eq!(pa, pb);
    let (sa, sb) =
        (a.load(&pa, &specs(&pa), &split, 5).unwrap(), b.load(&pb, &specs(&pb), &split, 5).unwrap());
    assert_eq!(sa, sb);
    assert_eq!(sa.train.len(), 240);
    // c0 c1 id0 id1, then hist0's 3 slots, then 4 numeric columns.
    assert_eq!(pa.width(), 4 + 3 + 4);
    assert_eq!(pa.table_cardinalities().len(), 4, "hist0 shares id1's table");
    let fields = pa.id_fields();
    assert_eq!(
        (fields[4].start, fields[4].len, fields[4].table, fields[4].multi_hot),
        (4, 3, fields[3].table, true)
    );
    assert_eq!(pa.cardinalities()[2], 65, "64 buckets + the missing id");
}

#[test]
fn multi_hot_cells_become_padded_id_slots_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_text(dir.path(), "t.csv", "tags,y\na|b,1\n,0\nb | c|a,1\nz,0\n");
    let mut ids = IdSettings { multi_hot: vec!["tags".into()], ..IdSettings::default() };
    ids.columns.insert(
        "tags".into(),
        IdColumn { max_len: Some(2), pooling: PoolingKind::Sum, ..IdColumn::default() },
    );
    let c = table(train.clone(), &[], &[], vec![binary("y")], ids);
    let prep = c.fit(&all_train(), 0).unwrap();
    assert_eq!(prep.multi_hot[0].ids.values, vec!["a", "b", "c", "z"]);
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    // a=1 b=2 c=3 z=4; the first two ids of each list, 0 = padding.
    assert_eq!(s.train.ids, vec![1, 2, 0, 0, 2, 3, 4, 0]);
    assert_eq!((s.train.num_ids, s.train.num_features), (2, 0));
    assert_eq!(prep.id_fields()[0].pooling, PoolingKind::Sum);
    // Without max_len: the longest training list (3).
    let c = table(
        train,
        &[],
        &[],
        vec![binary("y")],
        IdSettings { multi_hot: vec!["tags".into()], ..IdSettings::default() },
    );
    assert_eq!(c.fit(&all_train(), 0).unwrap().multi_hot[0].max_len, 3);
}

#[test]
fn fnv1a_matches_the_published_test_vectors() {
    // FNV-1a 64 test vectors (Fowler, Noll, Vo: http://www.isthe.com/chongo/tech/comp/fnv/).
    assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64("foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn hashed_columns_need_no_vocabulary_and_take_unseen_values() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_text(dir.path(), "t.csv", "user,y\nalice,1\nbob,0\n,1\n");
    let valid = write_text(dir.path(), "v.csv", "user,y\ncarol,1\n");
    let mut ids = IdSettings::default();
    ids.columns.insert("user".into(), IdColumn { hash_buckets: Some(1000), ..IdColumn::default() });
    let mut c = table(train, &["user"], &[], vec![binary("y")], ids);
    c.files[0].valid = Some(valid);
    let split = SplitFractions { train: 1.0, valid: 0.0, test: 0.0 };
    let prep = c.fit(&split, 0).unwrap();
    assert!(prep.categorical[0].values.is_empty());
    assert_eq!(prep.cardinalities(), vec![1001]);
    let s = c.load(&prep, &specs(&prep), &split, 0).unwrap();
    let id = |v: &str| (1 + fnv1a64(v) % 1000) as u32;
    assert_eq!(s.train.ids, vec![id("alice"), id("bob"), 0]);
    assert_eq!(s.valid.ids, vec![id("carol")], "an unseen value gets its bucket");
}

#[test]
fn hashed_ids_beyond_two_to_the_24_stay_exact() {
    // With 2^24 + 2^20 buckets (Python, FNV-1a as documented on `fnv1a64`):
    // 1 + fnv1a64("u6425") % n = 16912080, 1 + fnv1a64("u11378") % n = 16912081.
    let dir = tempfile::tempdir().unwrap();
    let train = write_text(dir.path(), "t.csv", "user,y\nu6425,1\nu11378,0\n");
    let mut ids = IdSettings::default();
    let n = (1 << 24) + (1 << 20);
    ids.columns.insert("user".into(), IdColumn { hash_buckets: Some(n), ..IdColumn::default() });
    let c = table(train, &["user"], &[], vec![binary("y")], ids);
    let prep = c.fit(&all_train(), 0).unwrap();
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    assert_eq!(s.train.ids, vec![16_912_080, 16_912_081]);
    assert_eq!(16_912_080_f32, 16_912_081_u32 as f32, "as f32 codes the two ids would be one");
}

#[test]
fn shared_tables_fit_one_vocabulary_over_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_text(dir.path(), "t.csv", "buyer,seller,y\nann,bo,1\ncy,ann,0\n");
    let mut ids = IdSettings::default();
    ids.columns.insert("seller".into(), IdColumn { share: Some("buyer".into()), ..IdColumn::default() });
    let c = table(train, &["buyer", "seller"], &[], vec![binary("y")], ids);
    let prep = c.fit(&all_train(), 0).unwrap();
    assert_eq!(prep.categorical[0].values, vec!["ann", "bo", "cy"]);
    assert_eq!(prep.table_cardinalities(), vec![4]);
    assert_eq!(prep.cardinalities(), vec![4, 4]);
    let fields = prep.id_fields();
    assert_eq!((fields[0].table, fields[1].table), (0, 0));
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    // ann = 1 in both columns.
    assert_eq!(s.train.ids, vec![1, 2, 3, 1]);
}

#[test]
fn min_count_and_max_vocab_send_rare_values_to_the_unknown_id() {
    let dir = tempfile::tempdir().unwrap();
    let text = "k,y\na,1\na,1\na,0\nb,1\nb,0\nc,1\nc,0\nd,1\n";
    let train = write_text(dir.path(), "t.csv", text);
    let fit = |min_count, max_vocab| {
        let ids = IdSettings { min_count, max_vocab, ..IdSettings::default() };
        table(train.clone(), &["k"], &[], vec![binary("y")], ids).fit(&all_train(), 0).unwrap().categorical[0]
            .values
            .clone()
    };
    assert_eq!(fit(1, None), vec!["a", "b", "c", "d"]);
    assert_eq!(fit(2, None), vec!["a", "b", "c"]);
    // The two most frequent: a (3), then b and c tie (2): the smaller value wins.
    assert_eq!(fit(1, Some(2)), vec!["a", "b"]);
}

/// `names` as Parquet: `x` floats, `s` strings, `l` lists, `y` strings of 0/1 with a bad cell in
/// the second row group.
fn odd_parquet(path: &Path) {
    use arrow_array::builder::{Int64Builder, ListBuilder};
    use arrow_array::{ArrayRef, Float32Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let mut lists = ListBuilder::new(Int64Builder::new());
    for i in 0..4 {
        lists.values().append_slice(&[i, i + 1]);
        lists.append(true);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("x", Arc::new(Float32Array::from(vec![0.5, 1.5, 2.5, 3.5]))),
        ("s", Arc::new(StringArray::from(vec!["a", "b", "a", "c"]))),
        ("l", Arc::new(lists.finish())),
        ("y", Arc::new(StringArray::from(vec!["0", "1", "1", "maybe"]))),
        ("d", Arc::new(arrow_array::Date32Array::from(vec![1, 2, 3, 4]))),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props =
        ::parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(2)).build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_errors_name_the_file_the_column_and_the_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.parquet");
    odd_parquet(&path);
    let shown = path.display().to_string();
    let fit = |categorical: &[&str], numeric: &[&str], label: &str| {
        table(path.clone(), categorical, numeric, vec![binary(label)], IdSettings::default())
            .fit(&all_train(), 0)
            .and_then(|prep| {
                let c = table(path.clone(), categorical, numeric, vec![binary(label)], IdSettings::default());
                c.load(&prep, &specs(&prep), &all_train(), 0).map(|_| ())
            })
            .unwrap_err()
            .to_string()
    };
    let e = fit(&[], &["nope"], "y");
    assert!(
        e.contains(&shown) && e.contains("`nope`") && e.contains("missing numeric feature column"),
        "{e}"
    );
    assert!(e.contains("`x`") && e.contains("`l`"), "lists the file's columns: {e}");
    let e = fit(&[], &["x"], "nope");
    assert!(e.contains("column `nope`") && e.contains("set `tasks[0].column`"), "the label hint: {e}");
    let e = fit(&[], &["s"], "y");
    assert!(e.contains("column `s`") && e.contains("holds strings") && e.contains("categorical"), "{e}");
    let e = fit(&["l"], &[], "y");
    assert!(e.contains("column `l`") && e.contains("holds lists") && e.contains("multi_hot"), "{e}");
    let e = fit(&["s"], &["x"], "y");
    assert!(
        e.contains(&shown)
            && e.contains("row group 1 (row 4)")
            && e.contains("column `y`")
            && e.contains("`maybe`"),
        "{e}"
    );
    let ids = IdSettings { multi_hot: vec!["d".into()], ..IdSettings::default() };
    let e = table(path.clone(), &[], &["x"], vec![binary("y")], ids)
        .fit(&all_train(), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("column `d`") && e.contains("Date32") && e.contains("multi-hot"), "{e}");
    // A truncated file.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = RawTable::read(&cut, &CsvFormat::default()).unwrap_err().to_string();
    assert!(e.contains("cut.parquet") && e.contains("not a readable Parquet file"), "{e}");
}

#[test]
fn parquet_lists_can_be_multi_hot_and_other_columns_are_not_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.parquet");
    odd_parquet(&path);
    let mut ids = IdSettings { multi_hot: vec!["l".into()], ..IdSettings::default() };
    ids.columns.insert("l".into(), IdColumn { max_len: Some(2), ..IdColumn::default() });
    let labels = vec![LabelColumn { column: "x".into(), map: LabelMap::Regression }];
    let c = table(path.clone(), &["s"], &[], labels, ids);
    let prep = c.fit(&all_train(), 0).unwrap();
    assert_eq!(prep.multi_hot[0].ids.values, vec!["0", "1", "2", "3", "4"]);
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    // s: a=1 b=2 c=3; l: [i, i+1] → ids i+1, i+2.
    assert_eq!(&s.train.ids[..6], &[1, 1, 2, 2, 2, 3]);
    // `y` (with its bad cell) is not read at all.
    let raw = RawTable::read_columns(&path, &CsvFormat::default(), Some(&["x".to_string()])).unwrap();
    assert_eq!(raw.kinds[3], ColumnKind::Skipped);
    assert_eq!(&raw.rows[3][3], "");
}
