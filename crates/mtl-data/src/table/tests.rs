//! CSV tables on small files written by each test.

use std::path::{Path, PathBuf};

use super::*;
use crate::task::TaskKind;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn all_train() -> SplitFractions {
    SplitFractions { train: 1.0, valid: 0.0, test: 0.0 }
}

fn config(files: Vec<TableFiles>, labels: Vec<LabelColumn>) -> TableConfig {
    TableConfig {
        format: CsvFormat { missing: vec!["?".into()], ..CsvFormat::default() },
        categorical: vec!["colour".into()],
        numeric: vec!["size".into()],
        standardize: true,
        labels,
        ids: IdSettings::default(),
        files,
        stream: StreamSettings::default(),
    }
}

fn label(column: &str, map: LabelMap) -> LabelColumn {
    LabelColumn { column: column.into(), map }
}

fn specs(prep: &Preprocessing) -> Vec<TaskSpec> {
    prep.labels.iter().map(|l| TaskSpec { name: l.column.clone(), kind: l.kind() }).collect()
}

fn one(train: PathBuf, valid: Option<PathBuf>, test: Option<PathBuf>) -> Vec<TableFiles> {
    vec![TableFiles { train, valid, test }]
}

#[test]
fn vocabularies_and_scalers_are_fitted_on_the_training_split_only() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "train.csv", "colour,size,y\nred,1,1\nblue,3,0\nred,?,1\n");
    // `green` and the large sizes exist only outside training.
    let valid = write(dir.path(), "valid.csv", "colour,size,y\ngreen,100,0\nblue,3,1\n");
    let test = write(dir.path(), "test.csv", "colour,size,y\n?,1,0\n");
    let c = config(
        one(train, Some(valid), Some(test)),
        vec![label("y", LabelMap::Binary { positive: vec![], negative: vec![] })],
    );
    let prep = c.fit(&all_train(), 0).unwrap();
    assert_eq!(prep.categorical[0].values, vec!["blue", "red"]);
    // Mean and population std of the labelled sizes 1 and 3 (the `?` is left out).
    assert_eq!((prep.numeric[0].mean, prep.numeric[0].std), (2.0, 1.0));
    assert_eq!(prep.feature_names(), vec!["colour", "size"]);
    assert_eq!(prep.cardinalities(), vec![3]);
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    // red = 2, blue = 1; the missing size becomes the mean, 0 after scaling.
    assert_eq!((s.train.ids.clone(), s.train.features.clone()), (vec![2, 1, 2], vec![-1.0, 1.0, 0.0]));
    assert_eq!((s.train.num_ids, s.train.num_features), (1, 1));
    // Unseen `green` → unknown id 0; 100 scaled with the training statistics.
    assert_eq!((s.valid.ids.clone(), s.valid.features.clone()), (vec![0, 1], vec![98.0, 1.0]));
    assert_eq!(
        (s.test.ids.clone(), s.test.features.clone()),
        (vec![0], vec![-1.0]),
        "a missing category is the unknown id too"
    );
}

#[test]
fn a_seeded_split_fits_on_its_training_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..20).map(|i| format!("c{i},{i},{}\n", i % 2)).collect();
    let train = write(dir.path(), "all.csv", &format!("colour,size,y\n{rows}"));
    let c = config(one(train, None, None), vec![label("y", LabelMap::ClassIds { classes: 2 })]);
    let split = SplitFractions { train: 0.5, valid: 0.25, test: 0.25 };
    let prep = c.fit(&split, 7).unwrap();
    let s = c.load(&prep, &specs(&prep), &split, 7).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (10, 5, 5));
    // Each training row's colour is known (ids 1..=10); every other row's is unknown.
    assert_eq!(prep.categorical[0].values.len(), 10);
    assert!(s.train.ids.iter().all(|&id| id >= 1));
    assert!(s.valid.ids.iter().chain(&s.test.ids).all(|&id| id == 0));
    // The size scaler holds the training rows' mean.
    let sizes: Vec<f64> = prep.categorical[0].values.iter().map(|v| v[1..].parse().unwrap()).collect();
    assert!((prep.numeric[0].mean - sizes.iter().sum::<f64>() / 10.0).abs() < 1e-9);
    assert_eq!(c.load(&prep, &specs(&prep), &split, 7).unwrap(), s, "same seed, same split");
}

#[test]
fn empty_cells_and_the_missing_token_mask_labels() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "t.csv", "colour,size,a,b\nred,1,2.5,x\nred,2,,?\nblue,3,?,y\n");
    let c =
        config(one(train, None, None), vec![label("a", LabelMap::Regression), label("b", LabelMap::Infer)]);
    let prep = c.fit(&all_train(), 0).unwrap();
    assert_eq!(prep.labels[1].map, LabelMap::ClassNames { names: vec!["x".into(), "y".into()] });
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    assert_eq!(s.train.masks, vec![vec![1.0, 0.0, 0.0], vec![1.0, 0.0, 1.0]]);
    assert_eq!(s.train.targets, vec![vec![2.5, 0.0, 0.0], vec![0.0, 0.0, 1.0]]);
}

#[test]
fn headerless_files_take_named_columns_comments_and_label_lists() {
    let dir = tempfile::tempdir().unwrap();
    // UCI style: no header, ", " separators, a comment line, a trailing dot on test labels.
    let train = write(dir.path(), "d.data", "|comment\n3, red, >50K.\n1, blue, <=50K\n\n");
    let mut c = config(
        one(train, None, None),
        vec![label(
            "income",
            LabelMap::Binary {
                positive: vec![">50K".into(), ">50K.".into()],
                negative: vec!["<=50K".into(), "<=50K.".into()],
            },
        )],
    );
    c.format = CsvFormat {
        header: false,
        columns: Some(vec!["size".into(), "colour".into(), "income".into()]),
        comment: Some('|'),
        ..c.format
    };
    let prep = c.fit(&all_train(), 0).unwrap();
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    assert_eq!(s.train.targets, vec![vec![1.0, 0.0]]);
    assert_eq!((s.train.ids.clone(), s.train.features.clone()), (vec![2, 1], vec![1.0, -1.0]));
}

#[test]
fn multi_input_sources_label_only_their_own_task() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", "colour,size,ya\nred,1,1.5\nred,3,2.5\n");
    let b = write(dir.path(), "b.csv", "colour,size,yb\nblue,5,1\n");
    let files = vec![
        TableFiles { train: a, valid: None, test: None },
        TableFiles { train: b, valid: None, test: None },
    ];
    let c = config(
        files,
        vec![label("ya", LabelMap::Regression), label("yb", LabelMap::ClassIds { classes: 2 })],
    );
    assert!(c.multi_input());
    let prep = c.fit(&all_train(), 0).unwrap();
    // Fitted on the union of the tasks' training rows.
    assert_eq!(prep.categorical[0].values, vec!["blue", "red"]);
    assert_eq!(prep.numeric[0].mean, 3.0);
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    assert_eq!(s.train.groups, Some(vec![0, 0, 1]));
    assert_eq!(s.train.masks, vec![vec![1.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]);
    assert_eq!(s.train.targets[0][..2], [1.5, 2.5]);
    assert_eq!(specs(&prep)[1].kind, TaskKind::Multiclass { classes: 2 });
}

#[test]
fn a_byte_order_mark_and_windows_line_ends_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "t.csv", "\u{feff}colour,size,y\r\nred,1,0.5\r\nblue,\"2\",1.5\r\n");
    let c = config(one(train, None, None), vec![label("y", LabelMap::Regression)]);
    let prep = c.fit(&all_train(), 0).unwrap();
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    assert_eq!(s.train.targets[0], vec![0.5, 1.5]);
}

#[test]
fn multilabel_columns_become_label_sets() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "t.csv", "colour,size,l0,l1,l2\nred,1,1,0,1\nred,2,?,,\nblue,3,0,true,0\n");
    let c = config(
        one(train, None, None),
        vec![label("l", LabelMap::Multilabel { columns: vec!["l0".into(), "l1".into(), "l2".into()] })],
    );
    let prep = c.fit(&all_train(), 0).unwrap();
    assert_eq!(prep.labels[0].kind(), TaskKind::Multilabel { labels: 3 });
    let s = c.load(&prep, &specs(&prep), &all_train(), 0).unwrap();
    assert_eq!(s.train.masks[0], vec![1.0, 0.0, 1.0], "all cells missing = unlabelled");
    assert_eq!(s.train.targets[0], vec![5.0, 0.0, 2.0]);
    let multi = || vec![label("l", LabelMap::Multilabel { columns: vec!["y".into(), "z".into()] })];
    let e = error_of("colour,size,y,z\nred,1,1,\n", multi());
    assert!(e.contains("line 2, column `z`") && e.contains("all its columns or in none"), "{e}");
    let e = error_of("colour,size,y,z\nred,1,1,yes\n", multi());
    assert!(e.contains("line 2, column `z`") && e.contains("`yes` is not 0/1"), "{e}");
}

/// Fit and load `text` as the training file; the error message.
fn error_of(text: &str, labels: Vec<LabelColumn>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "bad.csv", text);
    let c = config(one(train, None, None), labels);
    match c.fit(&all_train(), 0).and_then(|prep| c.load(&prep, &specs(&prep), &all_train(), 0)) {
        Ok(_) => panic!("`{text}` loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_tables_name_the_file_line_and_column() {
    let reg = || vec![label("y", LabelMap::Regression)];
    let cases: Vec<(String, &[&str])> = vec![
        (
            error_of("colour,y\nred,1\n", reg()),
            &["bad.csv line 1, column `size`", "missing numeric feature column", "`colour`, `y`"],
        ),
        (
            error_of("colour,size,y\nred,1,1\nred,big,2\n", reg()),
            &["bad.csv line 3, column `size`", "`big` is not a number"],
        ),
        (
            error_of("colour,size,y\nred,1,1\nred,2\n", reg()),
            &["bad.csv line 3", "2 fields where the header has 3"],
        ),
        (error_of("", reg()), &["bad.csv", "empty"]),
        (error_of("colour,size,y\n", reg()), &["bad.csv", "no data rows"]),
        (error_of("colour,size,y\nred,1,x\n", reg()), &["line 2, column `y`", "`x` is not a number"]),
        (
            error_of(
                "colour,size,y\nred,1,2\nred,1,5\n",
                vec![label("y", LabelMap::ClassIds { classes: 3 })],
            ),
            &[
                "line 3, column `y`",
                "label `5` is outside the declared classes 0..=2",
                "(`tasks[0].classes`, `tasks[0].labels`)",
            ],
        ),
        (
            error_of(
                "colour,size,y\nred,1,cat\nred,1,cow\n",
                vec![label("y", LabelMap::ClassNames { names: vec!["cat".into(), "dog".into()] })],
            ),
            &["line 3, column `y`", "label `cow` is outside the declared classes (`cat`, `dog`)"],
        ),
        (
            error_of(
                "colour,size,y\nred,1,yes\nred,1,maybe\n",
                vec![label(
                    "y",
                    LabelMap::Binary { positive: vec!["yes".into()], negative: vec!["no".into()] },
                )],
            ),
            &[
                "line 3, column `y`",
                "label `maybe` is outside the declared classes",
                "(`tasks[0].positive`, `tasks[0].negative`)",
            ],
        ),
        (
            error_of("colour,size,z\nred,1,2\n", reg()),
            &["column `y`", "missing label column", "set `tasks[0].column` (default: the task's name)"],
        ),
        (
            error_of("colour,size,y\nred,1,a\nred,1,a\n", vec![label("y", LabelMap::Infer)]),
            &["column `y`", "inferred 1 class"],
        ),
        (error_of("colour,size,size\nred,1,2\n", reg()), &["line 1", "`size` appears twice"]),
    ];
    for (message, wants) in cases {
        for w in wants {
            assert!(message.contains(w), "`{message}` lacks `{w}`");
        }
    }
}

#[test]
fn a_missing_file_says_where_it_looked() {
    let c = config(one(PathBuf::from("/nowhere/t.csv"), None, None), vec![label("y", LabelMap::Regression)]);
    let e = c.fit(&all_train(), 0).unwrap_err();
    assert!(matches!(e, DataError::MissingFile { .. }), "{e}");
    assert!(e.to_string().contains("/nowhere/t.csv"));
}

#[test]
fn a_gzipped_table_is_read_like_the_plain_one() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let text = "colour,size,y\nred,1,1.5\nblue,3,2.5\n";
    let plain = write(dir.path(), "t.csv", text);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    // Whatever the name: the gzip magic bytes decide.
    let zipped = dir.path().join("t.csv.gz");
    std::fs::write(&zipped, gz.finish().unwrap()).unwrap();
    let a = RawTable::read(&plain, &CsvFormat::default()).unwrap();
    let b = RawTable::read(&zipped, &CsvFormat::default()).unwrap();
    assert_eq!((a.names, a.rows, a.lines), (b.names, b.rows, b.lines));
    // A corrupt gzip stream is an error naming the file, not "invalid UTF-8".
    std::fs::write(&zipped, b"\x1f\x8b\x08garbage").unwrap();
    let e = RawTable::read(&zipped, &CsvFormat::default()).unwrap_err().to_string();
    assert!(e.contains("t.csv.gz") && e.contains("gzip"), "{e}");
}
