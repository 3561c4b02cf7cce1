//! CSV tables through the `mtl` binary: the Adult config on a format-identical fixture,
//! missing labels, multi-input mode, class weights, and bad files (exit 2 naming the file,
//! line and column).

mod common;

use std::path::Path;

use common::{json, mtl, mtl_env, repo, stderr};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn adult_config_trains_on_the_fixture_and_predicts_after_the_data_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&repo().join("tests/fixtures/uci-adult"), &data.join("uci-adult"));
    let cfg = repo().join("configs/adult.toml");
    let args = [
        "train",
        cfg.to_str().unwrap(),
        "--backend",
        "ndarray",
        "--set",
        "train.epochs=2",
        "--set",
        "train.batch_size=16",
    ];
    let o = mtl_env(&args, dir.path(), Some(&data));
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/adult");
    let summary = json(&run.join("summary.json"));
    let auc = summary["test"]["income"]["auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc), "{summary}");
    // The fixture's 40 test rows (banner skipped, trailing dots mapped) are the test split.
    let inputs = json(&run.join("inputs.json"));
    assert_eq!(inputs["features"][0], "workclass");
    assert_eq!(inputs["features"].as_array().unwrap().len(), 13);
    let vocab = inputs["table"]["categorical"][0]["values"].as_array().unwrap();
    assert!(!vocab.iter().any(|v| v == "?"), "the missing token is not a category: {vocab:?}");

    // Prediction reads the saved preprocessing: the training data may be gone.
    let test_copy = dir.path().join("new.test");
    std::fs::copy(data.join("uci-adult/adult.test"), &test_copy).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let o = mtl(
        &["predict", run.to_str().unwrap(), "--input", test_copy.to_str().unwrap(), "--backend", "ndarray"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(run.join("predictions/new.csv")).unwrap();
    assert_eq!(out.lines().count(), 41, "header + 40 rows");
    assert!(out.starts_with("income,income_prob,never_married,never_married_prob\n"));
    // Re-reading a split needs the files: a clear error, exit 2.
    let o = mtl(&["eval", run.to_str().unwrap(), "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("adult.data") && stderr(&o).contains("not found"), "{}", stderr(&o));
}

const TABLE: &str = r#"
[run]
name = "t"
seed = 2

[data]
source = "csv"

[data.csv]
train = "train.csv"
test = "test.csv"
missing = ["?"]
numeric = ["x1", "x2"]
categorical = ["c"]

[data.split]
train = 0.75
valid = 0.25
test = 0.0

[[tasks]]
name = "y"
kind = "regression"

[[tasks]]
name = "k"
kind = "multiclass"
labels = "infer"

[model.encoder]
kind = "tabular"
hidden = [8]

[model.head]
hidden = [4]

[train]
epochs = 2
batch_size = 8
"#;

/// 40 training rows and 12 test rows; `y` is missing in every third row (empty cell or `?`).
fn write_table(dir: &Path) {
    let row = |i: usize| {
        let y = match i % 3 {
            0 => String::new(),
            1 => "?".into(),
            _ => format!("{}", i as f32 * 0.1),
        };
        format!(
            "{},{},{},{y},{}\n",
            i as f32 * 0.5,
            (i % 7) as f32,
            ["u", "v", "w"][i % 3],
            ["lo", "mid", "hi"][i % 3 / 2 + i % 2]
        )
    };
    let header = "x1,x2,c,y,k\n";
    std::fs::write(dir.join("train.csv"), (0..40).map(row).fold(header.to_string(), |a, r| a + &r)).unwrap();
    std::fs::write(dir.join("test.csv"), (40..52).map(row).fold(header.to_string(), |a, r| a + &r)).unwrap();
}

#[test]
fn missing_labels_are_left_out_of_the_test_loss_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    write_table(dir.path());
    let cfg = dir.path().join("t.toml");
    std::fs::write(&cfg, TABLE).unwrap();
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/t");
    let o = mtl(&["predict", run.to_str().unwrap(), "--split", "test", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(run.join("predictions/test.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let (p, l) = (
        header.iter().position(|h| *h == "y").unwrap(),
        header.iter().position(|h| *h == "y_label").unwrap(),
    );
    // By hand: the mean squared error over the rows that have a label.
    let (mut sse, mut n, mut unlabelled) = (0.0, 0, 0);
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells[l].is_empty() {
            unlabelled += 1;
            continue;
        }
        let (pred, y): (f64, f64) = (cells[p].parse().unwrap(), cells[l].parse().unwrap());
        sse += (pred - y) * (pred - y);
        n += 1;
    }
    assert_eq!((n, unlabelled), (4, 8), "rows 40..52: every third has a label");
    let summary = json(&run.join("summary.json"));
    let mse = summary["test"]["y"]["mse"].as_f64().unwrap();
    assert!((mse - sse / n as f64).abs() < 1e-4 * (1.0 + mse), "summary {mse} vs by hand {}", sse / n as f64);
    assert!((summary["test"]["y"]["loss"].as_f64().unwrap() - mse).abs() < 1e-4 * (1.0 + mse));
    // With a validation file the validation fraction may be 0.
    std::fs::copy(dir.path().join("test.csv"), dir.path().join("valid.csv")).unwrap();
    let o = mtl(
        &[
            "check",
            cfg.to_str().unwrap(),
            "--set",
            "data.csv.valid=\"valid.csv\"",
            "--set",
            "data.split.valid=0.0",
            "--set",
            "data.split.train=1.0",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // A task without any label in the validation split cannot be selected on: exit 2.
    let unlabelled = (0..40)
        .fold("x1,x2,c,y,k\n".to_string(), |a, i| a + &format!("{i},1,u,,{}\n", ["lo", "hi", "mid"][i % 3]));
    std::fs::write(dir.path().join("train.csv"), unlabelled).unwrap();
    let o = mtl(
        &["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q", "--set", "run.name=u"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("task `y` has no labelled sample in the training split"), "{}", stderr(&o));
    write_table(dir.path());
    // Inferred classes: sorted training values.
    let inputs = json(&run.join("inputs.json"));
    assert_eq!(inputs["table"]["labels"][1]["names"], serde_json::json!(["hi", "lo", "mid"]));
}

#[test]
fn multi_input_mode_samples_tasks_and_trains_single_task_baselines() {
    let dir = tempfile::tempdir().unwrap();
    // Task a: 60 rows, task b: 12 rows, each with its own label column.
    let rows = |n: usize, label: &str, f: &dyn Fn(usize) -> String| {
        (0..n).fold(format!("x1,x2,c,{label}\n"), |a, i| {
            a + &format!("{},{},u,{}\n", i as f32 * 0.1, (i % 5) as f32, f(i))
        })
    };
    std::fs::write(dir.path().join("a.csv"), rows(60, "ya", &|i| format!("{}", i as f32 * 0.2))).unwrap();
    std::fs::write(dir.path().join("b.csv"), rows(12, "yb", &|i| format!("{}", i % 2))).unwrap();
    let text = r#"
[run]
name = "mi"
[data]
source = "csv"
sampling = "uniform"
[data.csv]
numeric = ["x1", "x2"]
categorical = ["c"]
[data.split]
train = 0.5
valid = 0.25
test = 0.25
[[tasks]]
name = "a"
kind = "regression"
column = "ya"
files = { train = "a.csv" }
[[tasks]]
name = "b"
kind = "binary"
column = "yb"
pos_weight = 2.0
files = { train = "b.csv" }
[model.encoder]
kind = "tabular"
hidden = [8]
[model.head]
hidden = [4]
[train]
epochs = 1
batch_size = 6
"#;
    let cfg = dir.path().join("mi.toml");
    std::fs::write(&cfg, text).unwrap();
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    // 30 + 6 training rows; uniform sampling gives each task half of the 36 draws.
    assert!(
        log.contains("multi-input sampling (Uniform): a 30 samples → 50.0%, b 6 samples → 50.0%"),
        "{log}"
    );
    assert!(log.contains("class weights of `b`: [1.000, 2.000]"), "{log}");
    let summary = json(&dir.path().join("runs/mi/summary.json"));
    assert!(summary["test"]["a"]["mse"].as_f64().is_some() && summary["test"]["b"]["auc"].as_f64().is_some());
    // A single-task baseline keeps its own source's rows only.
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "--single-task"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("6 train / 3 valid / 3 test samples"), "{}", stderr(&o));
    assert!(stderr(&o).contains("30 train / 15 valid / 15 test samples"), "{}", stderr(&o));
    // `mtl data` counts each task's own rows.
    let o = mtl(&["data", cfg.to_str().unwrap(), "--json"], dir.path());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["tasks"][1]["train"]["samples"], 6);
    assert_eq!(report["tasks"][1]["train"]["missing_rate"], 0.0);
    // Sampling needs multi-input mode.
    let single = text
        .replace("files = { train = \"a.csv\" }", "")
        .replace("files = { train = \"b.csv\" }", "")
        .replace("categorical = [\"c\"]", "categorical = [\"c\"]\ntrain = \"a.csv\"");
    std::fs::write(&cfg, single).unwrap();
    let o = mtl(&["check", cfg.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("data.sampling"), "{}", stderr(&o));
}

#[test]
fn bad_tables_exit_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.toml");
    std::fs::write(&cfg, TABLE).unwrap();
    let ok_test = "x1,x2,c,y,k\n1,2,u,3,lo\n";
    let cases: [(&str, &[&str]); 6] = [
        ("x1,c,y,k\n1,u,2,lo\n", &["train.csv line 1, column `x2`", "missing numeric feature column"]),
        (
            "x1,x2,c,y,k\n1,2,u,3,lo\n1,two,u,3,lo\n",
            &["train.csv line 3, column `x2`", "`two` is not a number"],
        ),
        ("x1,x2,c,y,k\n1,2,u,3,lo\n1,2,u,3\n", &["train.csv line 3", "4 fields where the header has 5"]),
        ("", &["train.csv", "empty"]),
        (
            "x1,x2,c,y,k\n1,2,u,3,lo\n1,2,u,3,hi\n1,2,u,abc,hi\n",
            &["train.csv line 4, column `y`", "`abc` is not a number"],
        ),
        ("x1,x2,c,y,k\n1,2,u,3,lo\n1,2,u,3,hi\n1,2,u,3,lo\n1,2,u,3,hi\n", &[]),
    ];
    for (train, wants) in cases {
        std::fs::write(dir.path().join("train.csv"), train).unwrap();
        // A test label the training split never saw: outside the inferred classes.
        std::fs::write(dir.path().join("test.csv"), format!("{ok_test}1,2,u,3,top\n")).unwrap();
        let o =
            mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q", "--overwrite"], dir.path());
        assert_eq!(o.status.code(), Some(2), "{train:?}: {}", stderr(&o));
        let e = stderr(&o);
        let wants: &[&str] = if wants.is_empty() {
            &["test.csv line 3, column `k`", "label `top` is outside the declared classes"]
        } else {
            wants
        };
        for w in wants {
            assert!(e.contains(w), "{train:?}: `{e}` lacks `{w}`");
        }
    }
    // Nothing half-written: no run folder came out of the failures.
    assert!(!dir.path().join("runs/t/checkpoints").exists());
}

/// 300 seeded rows: `a` a regression on x1, x2; `c` constant (R² undefined everywhere); `r` a
/// rare binary label (5 positives: F1 of a short baseline 0, one class in the test split).
fn undefined_metrics_table(dir: &Path) {
    let mut text = String::from("x1,x2,a,c,r\n");
    let mut state = 12345u64;
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut positives = 0;
    for i in 0..300 {
        let (x1, x2) = (uniform(), uniform());
        let r = usize::from(i % 60 == 7);
        positives += r;
        text.push_str(&format!("{x1:.4},{x2:.4},{:.4},5,{r}\n", 2.0 * x1 + x2));
    }
    assert_eq!(positives, 5);
    std::fs::write(dir.join("t.csv"), text).unwrap();
    let cfg = "[run]\nname = \"undef\"\n[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"t.csv\"\nnumeric = [\"x1\", \"x2\"]\n\
               [[tasks]]\nname = \"a\"\nkind = \"regression\"\n[[tasks]]\nname = \"c\"\nkind = \"regression\"\n\
               [[tasks]]\nname = \"r\"\nkind = \"binary\"\n[model.encoder]\nhidden = [8]\n[train]\nepochs = 2\nbatch_size = 50\n";
    std::fs::write(dir.join("c.toml"), cfg).unwrap();
}

#[test]
fn undefined_metrics_never_crash_and_delta_says_what_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    undefined_metrics_table(dir.path());
    // `mtl data` warns about the constant target per split.
    let o = mtl(&["data", "c.toml"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = format!("{}{}", common::stdout(&o), stderr(&o));
    for split in ["train", "valid", "test"] {
        assert!(out.contains(&format!("task `c`: the target is constant in the {split} split")), "{out}");
    }
    // compare trains the baselines and the grid, and reads the baselines back: exit 0.
    let o = mtl(&["compare", "c.toml", "--methods", "ew", "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let table = std::fs::read_to_string(dir.path().join("runs/compare-undef/table.md")).unwrap();
    assert!(table.contains("left out of Δ (undefined): c.r2"), "{table}");
    let ew = table.lines().find(|l| l.starts_with("| ew |")).unwrap();
    let cells: Vec<&str> = ew.split('|').map(str::trim).collect();
    // Δp and Δm (the last two value columns before the wall time) are numbers over the
    // defined metrics.
    let n = cells.len();
    for c in &cells[n - 4..n - 2] {
        assert!(c.parse::<f64>().is_ok(), "Δ over the defined metrics: {ew}");
    }
    // The baselines' summaries carry the undefined values as null.
    let stl = std::fs::read_dir(dir.path().join("runs/stl")).unwrap();
    let c_dir = stl
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("c-"))
        .unwrap();
    let s = json(&c_dir.join("summary.json"));
    assert!(s["test"]["c"]["r2"].is_null() && s["test"]["c"]["mse"].is_number(), "{s}");
    // train --single-task (baselines exist) and a multi-task train read them back too, and the
    // multi-task summary lists what Δ left out.
    let o = mtl(&["train", "c.toml", "--single-task", "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--overwrite"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("left out, undefined: c.r2"), "{}", stderr(&o));
    let s = json(&dir.path().join("runs/undef/summary.json"));
    let left: Vec<&str> =
        s["delta"]["test"]["left_out"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(left.contains(&"c.r2 (undefined in the baseline)"), "{left:?}");
    assert!(s["delta"]["test"]["delta_m"].is_number(), "{s}");
}

#[test]
fn check_refuses_what_train_refuses_with_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.csv"),
        "x1,x2,a,b,c,l1,l2\n1,2,3,yes,k,0,1\n2,3,4,no,m,1,1\n3,4,5,yes,k,0,0\n4,5,6,no,m,1,0\n5,6,7,yes,k,0,1\n\
         6,7,8,no,k,1,1\n7,8,9,yes,m,0,0\n8,9,1,no,k,1,0\n9,1,2,yes,m,0,1\n1,3,4,no,k,1,1\n",
    )
    .unwrap();
    let head = "[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"t.csv\"\nnumeric = [\"x1\", \"x2\"]\n[model.encoder]\nhidden = [4]\n\
                [train]\nepochs = 1\nbatch_size = 4\n[[tasks]]\nname = \"a\"\nkind = \"regression\"\n";
    let cases = [
        ("[[tasks]]\nname = \"zz\"\nkind = \"regression\"\n", "set `tasks[1].column`"),
        ("[[tasks]]\nname = \"b\"\nkind = \"binary\"\n", "is not 0/1 or false/true"),
        (
            "[[tasks]]\nname = \"c\"\nkind = \"multiclass\"\nlabels = [\"k\", \"z\"]\n",
            "label `m` is outside the declared classes",
        ),
        (
            "[[tasks]]\nname = \"c\"\nkind = \"multiclass\"\nclasses = 3\n",
            "is outside the declared classes 0..=2",
        ),
        (
            "[[tasks]]\nname = \"ml\"\nkind = \"multilabel\"\ncolumns = [\"l1\", \"l3\"]\n",
            "set `tasks[1].columns`",
        ),
    ];
    for (task, want) in cases {
        std::fs::write(dir.path().join("c.toml"), format!("{head}{task}")).unwrap();
        let check = mtl(&["check", "c.toml"], dir.path());
        assert_eq!(check.status.code(), Some(2), "{task}: {}", stderr(&check));
        assert!(stderr(&check).contains(want), "{task}: {}", stderr(&check));
        let train = mtl(&["train", "c.toml", "--backend", "ndarray", "-q"], dir.path());
        assert_eq!(train.status.code(), Some(2), "{task}");
        assert_eq!(stderr(&train), stderr(&check), "{task}: the same message");
        assert!(!dir.path().join("runs").exists(), "{task}: nothing written");
    }
    // A good config passes and says how many samples each split holds.
    std::fs::write(
        dir.path().join("c.toml"),
        format!("{head}[[tasks]]\nname = \"b\"\nkind = \"binary\"\npositive = \"yes\"\n"),
    )
    .unwrap();
    let o = mtl(&["check", "c.toml"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        common::stdout(&o).contains("ok — 2 tasks")
            && common::stdout(&o).contains("train / valid / test samples")
    );
}

#[test]
fn feature_columns_by_pattern_train_and_predict_without_the_training_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,x1,x2,f1,f2,f3,colour,a,b\n");
    for i in 0..60 {
        let colour = ["red", "blue", "green"][i % 3];
        text.push_str(&format!(
            "{i},0.{i},1.{i},{},{},{},{colour},{}.5,{}\n",
            i % 3,
            i % 5,
            i % 7,
            i % 9,
            i % 2
        ));
    }
    std::fs::write(dir.path().join("t.csv"), &text).unwrap();
    let cfg = "[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"t.csv\"\nnumeric = [\"*\"]\ncategorical = [\"col*\"]\nexclude = [\"id\", \"f3\"]\n\
               [[tasks]]\nname = \"a\"\nkind = \"regression\"\n[[tasks]]\nname = \"b\"\nkind = \"binary\"\n\
               [model.encoder]\nkind = \"tabular\"\nhidden = [4]\n[train]\nepochs = 1\nbatch_size = 8\n";
    std::fs::write(dir.path().join("c.toml"), cfg).unwrap();
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let inputs = json(&dir.path().join("runs/run/inputs.json"));
    let features: Vec<&str> =
        inputs["features"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    // The categorical column, then every other column as numeric; no label, id or f3.
    assert_eq!(features, ["colour", "x1", "x2", "f1", "f2"]);
    // The run keeps the columns it chose: prediction needs no training file.
    std::fs::write(dir.path().join("new.csv"), "x1,x2,f1,f2,colour\n0.5,1.5,1,2,red\n").unwrap();
    std::fs::remove_file(dir.path().join("t.csv")).unwrap();
    let o = mtl(&["predict", "runs/run", "--input", "new.csv", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    // A range and a glob that matches nothing.
    std::fs::write(dir.path().join("t.csv"), &text).unwrap();
    let o = mtl(
        &["check", "c.toml", "--set", "data.csv.numeric=[\"f1..f2\"]", "--set", "data.csv.categorical=[]"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mtl(&["check", "c.toml", "--set", "data.csv.numeric=[\"z*\"]"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("data.csv.numeric") && stderr(&o).contains("`z*` matches no feature column"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn standardised_targets_train_on_one_scale_and_report_on_the_original_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x1,x2,small,big\n");
    let mut state = 7u64;
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..200 {
        let (x1, x2) = (uniform(), uniform());
        let y = x1 - 0.5 * x2;
        text.push_str(&format!("{x1:.5},{x2:.5},{:.6},{:.3}\n", 0.01 * y, 5000.0 + 1000.0 * y));
    }
    std::fs::write(dir.path().join("t.csv"), text).unwrap();
    let cfg = "[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"t.csv\"\nnumeric = [\"x1\", \"x2\"]\n\
               [[tasks]]\nname = \"small\"\nkind = \"regression\"\n[[tasks]]\nname = \"big\"\nkind = \"regression\"\n\
               [model.encoder]\nhidden = [8]\n[train]\nepochs = 3\nbatch_size = 20\n";
    std::fs::write(dir.path().join("c.toml"), cfg).unwrap();
    // Without standardisation, `mtl data` and `mtl check` warn about the factor of ~1e5.
    let o = mtl(&["data", "c.toml"], dir.path());
    let out = format!("{}{}", common::stdout(&o), stderr(&o));
    assert!(
        out.contains("differ in scale by a factor of") && out.contains("data.standardize_targets"),
        "{out}"
    );
    let o = mtl(&["check", "c.toml"], dir.path());
    assert!(o.status.success() && stderr(&o).contains("differ in scale"), "{}", stderr(&o));
    let o = mtl(&["check", "c.toml", "--set", "data.target_scale_warning=1e9"], dir.path());
    assert!(!stderr(&o).contains("differ in scale"), "the factor is the user's: {}", stderr(&o));

    let o = mtl(
        &["train", "c.toml", "--backend", "ndarray", "-q", "--set", "data.standardize_targets=true"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/run");
    let inputs = json(&run.join("inputs.json"));
    let big = &inputs["targets"]["big"];
    // y = x1 − x2/2 with x ~ U(0, 1): mean ≈ 0.25, std ≈ 0.32, so big ≈ 5250 ± 320.
    let (mean, std) = (big["mean"].as_f64().unwrap(), big["std"].as_f64().unwrap());
    assert!((5150.0..5350.0).contains(&mean) && (250.0..400.0).contains(&std), "{inputs}");
    // The summary's test MSE is on the original scale: the MSE of the written predictions
    // against the written labels (both in the file's units).
    let summary = json(&run.join("summary.json"));
    let o = mtl(&["predict", "runs/run", "--split", "test", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let preds = std::fs::read_to_string(run.join("predictions/test.csv")).unwrap();
    let mut lines = preds.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (p, l) = (col("big"), col("big_label"));
    let rows: Vec<Vec<f64>> = lines.map(|r| r.split(',').map(|c| c.parse().unwrap()).collect()).collect();
    let mse = rows.iter().map(|r| (r[p] - r[l]).powi(2)).sum::<f64>() / rows.len() as f64;
    let reported = summary["test"]["big"]["mse"].as_f64().unwrap();
    assert!((mse - reported).abs() <= 1e-3 * reported, "{mse} vs {reported}");
    assert!(
        rows.iter().all(|r| r[l] > 3000.0 && r[p] > 1000.0),
        "labels and predictions in the file's units"
    );
    // The loss is on the standardised scale: far below the original-scale MSE.
    assert!(summary["test"]["big"]["loss"].as_f64().unwrap() < 10.0 && reported > 100.0, "{summary}");
    // A classification task cannot be standardised.
    let bad = cfg.replace(
        "name = \"big\"\nkind = \"regression\"\n",
        "name = \"big\"\nkind = \"binary\"\nstandardize = true\n",
    );
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let o = mtl(&["check", "bad.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tasks[1].standardize"), "{}", stderr(&o));
}

#[test]
fn predictions_name_inferred_classes_and_ids_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x1,x2,colour\n");
    for i in 0..60 {
        let colour = ["red", "blue", "green"][i % 3];
        text.push_str(&format!("0.{i},{},{colour}\n", i % 3));
    }
    std::fs::write(dir.path().join("t.csv"), text).unwrap();
    let cfg = "[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"t.csv\"\nnumeric = [\"x1\", \"x2\"]\n\
               [[tasks]]\nname = \"colour\"\nkind = \"multiclass\"\nlabels = \"infer\"\n\
               [model.encoder]\nhidden = [4]\n[train]\nepochs = 1\nbatch_size = 10\n";
    std::fs::write(dir.path().join("c.toml"), cfg).unwrap();
    // `mtl data` names the classes too.
    let o = mtl(&["data", "c.toml"], dir.path());
    let train_line =
        common::stdout(&o).lines().find(|l| l.contains(" train ")).unwrap_or_default().to_string();
    assert!(
        train_line.contains("blue 3") && train_line.contains("green 3") && train_line.contains("red 3"),
        "{train_line}"
    );
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |extra: &[&str]| {
        let mut args = vec!["predict", "runs/run", "--split", "test", "--backend", "ndarray"];
        args.extend(extra);
        let o = mtl(&args, dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(dir.path().join("runs/run/predictions/test.csv")).unwrap()
    };
    let named = read(&[]);
    // Inferred classes are the sorted values: blue = 0, green = 1, red = 2.
    assert!(named.starts_with("colour,colour_prob_0,colour_prob_1,colour_prob_2,colour_label\n"), "{named}");
    for row in named.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        assert!(
            ["blue", "green", "red"].contains(&cells[0]) && ["blue", "green", "red"].contains(&cells[4]),
            "{row}"
        );
    }
    let ids = read(&["--ids"]);
    for row in ids.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        assert!(["0", "1", "2"].contains(&cells[0]) && ["0", "1", "2"].contains(&cells[4]), "{row}");
    }
    // An export names the classes of each output position.
    let o = mtl(&["export", "runs/run", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let described = common::json(&dir.path().join("runs/run/export/model.json"));
    assert_eq!(described["tasks"][0]["classes"], serde_json::json!(["blue", "green", "red"]));
}

#[test]
fn a_constant_numeric_column_is_named_beside_id_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("colour,flat,x,y\n");
    for i in 0..40 {
        text.push_str(&format!("{},7,{},{}\n", ["red", "blue"][i % 2], i as f32 / 10.0, i % 2));
    }
    std::fs::write(dir.path().join("t.csv"), text).unwrap();
    let cfg = "[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"t.csv\"\nnumeric = [\"flat\", \"x\"]\ncategorical = [\"colour\"]\n\
               [[tasks]]\nname = \"y\"\nkind = \"binary\"\n[model.encoder]\nkind = \"tabular\"\nhidden = [4]\n";
    std::fs::write(dir.path().join("c.toml"), cfg).unwrap();
    let o = mtl(&["data", "c.toml"], dir.path());
    let out = format!("{}{}", common::stdout(&o), stderr(&o));
    assert!(out.contains("3 input features"), "{out}");
    assert!(out.contains("1 feature column(s) constant") && out.contains("`flat`"), "{out}");
}
