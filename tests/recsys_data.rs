//! Recommender-style data through the binary, as a user runs it: `mtl synth` writes the same
//! generated rows as CSV and as Parquet; a model with hashed, shared and multi-hot id columns
//! trains on each and gives identical numbers; `mtl predict` reads both formats; bad inputs
//! exit 2 naming the file, column or key.

mod common;

use std::path::{Path, PathBuf};

use common::{SMALL, json, mtl, stderr, stdout, write_config};

const GENERATOR: &str = r#"
[run]
name = "gen"
seed = 3

[data.synthetic]
samples = 600
features = 6
categorical_features = 2
categories = 5
id_features = 2
id_cardinality = 400
multi_hot_features = 1
multi_hot_max_len = 4

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "time"
kind = "regression"
"#;

/// Hashed `id0`, vocabulary `id1` shared by the multi-hot `hist0` (mean-pooled), codes `c*`.
fn trainer(train: &Path) -> String {
    format!(
        r#"
[run]
name = "t"
seed = 5

[data]
source = "csv"

[data.csv]
train = "{}"
numeric = ["x*"]
categorical = ["c*", "id*"]
multi_hot = ["hist0"]

[data.csv.embedding.id0]
hash_buckets = 97

[data.csv.embedding.hist0]
share = "id1"
max_len = 3

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "time"
kind = "regression"

[model.encoder]
kind = "tabular"
hidden = [8]

[model.head]
hidden = [4]

[train]
epochs = 2
batch_size = 64
"#,
        train.display()
    )
}

fn synth(dir: &Path, out: &str) -> PathBuf {
    let (file, printed) = common::synth(dir, GENERATOR, out);
    assert!(printed.contains("wrote 600 rows × 11 columns"), "{printed}");
    file
}

fn train(dir: &Path, data: &Path, name: &str, set: &[&str]) -> PathBuf {
    let config = write_config(dir, &format!("{name}.toml"), &trainer(data));
    let run = dir.join(name);
    let mut args = vec![
        "train",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
        "--backend",
        "ndarray",
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    let o = mtl(&args, dir);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    run
}

#[test]
fn csv_and_parquet_of_the_same_rows_train_and_predict_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, parquet) = (synth(dir.path(), "rows.csv"), synth(dir.path(), "rows.parquet"));
    let header = std::fs::read_to_string(&csv).unwrap().lines().next().unwrap().to_string();
    assert_eq!(header, "c0,c1,x2,x3,x4,x5,id0,id1,hist0,click,time");
    let (a, b) = (train(dir.path(), &csv, "a", &[]), train(dir.path(), &parquet, "b", &[]));
    let metrics = |run: &Path| std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let strip = |text: String| -> Vec<serde_json::Value> {
        (text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()))
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("time_s");
                v.as_object_mut().unwrap().remove("wall_s");
                v.as_object_mut().unwrap().remove("train_s");
                v.as_object_mut().unwrap().remove("train_s");
                v
            })
            .collect()
    };
    assert_eq!(strip(metrics(&a)), strip(metrics(&b)), "same losses and validation metrics");
    assert_eq!(json(&a.join("summary.json"))["test"], json(&b.join("summary.json"))["test"]);
    // The run records the hashed, shared and multi-hot columns it was trained with.
    let inputs = std::fs::read_to_string(a.join("inputs.json")).unwrap();
    for needle in ["\"hash_buckets\": 97", "\"shares\": \"id1\"", "\"max_len\": 3", "\"multi_hot\""] {
        assert!(inputs.contains(needle), "inputs.json lacks {needle}: {inputs}");
    }
    // Predict reads either format, with the same outputs.
    for (input, out) in [(&csv, "p.csv"), (&parquet, "q.csv")] {
        let o = mtl(
            &[
                "predict",
                a.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--output",
                out,
                "--backend",
                "ndarray",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (p, q) = (
        std::fs::read_to_string(dir.path().join("p.csv")).unwrap(),
        std::fs::read_to_string(dir.path().join("q.csv")).unwrap(),
    );
    assert_eq!(p, q);
    assert_eq!(p.lines().count(), 601);
}

#[test]
fn sum_pooling_and_vocabulary_limits_train_too() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = synth(dir.path(), "rows.parquet");
    let run = train(
        dir.path(),
        &parquet,
        "s",
        &["data.csv.embedding.hist0.pooling=\"sum\"", "data.csv.min_count=2", "data.csv.max_vocab=50"],
    );
    let inputs: serde_json::Value = json(&run.join("inputs.json"));
    let vocab = inputs["table"]["categorical"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["column"] == "id1")
        .unwrap()
        .clone();
    let values = vocab["values"].as_array().unwrap().len();
    assert!(values > 0 && values <= 50, "{values} values kept");
    assert_eq!(inputs["table"]["multi_hot"][0]["pooling"], "sum");
}

#[test]
fn bad_id_settings_and_files_exit_2_with_the_key_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = synth(dir.path(), "rows.parquet");
    let config = write_config(dir.path(), "t.toml", &trainer(&parquet));
    let check = |set: &str, needles: &[&str]| {
        let o = mtl(&["check", config.to_str().unwrap(), "--set", set], dir.path());
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        for n in needles {
            assert!(stderr(&o).contains(n), "{set}: no `{n}` in {}", stderr(&o));
        }
    };
    check(
        "data.csv.embedding.x2.hash_buckets=10",
        &["data.csv.embedding.x2", "not a categorical or multi-hot"],
    );
    check("data.csv.embedding.id1.max_len=3", &["data.csv.embedding.id1.max_len", "multi-hot"]);
    check("data.csv.embedding.id0.share=\"nope\"", &["data.csv.embedding.id0.share", "`nope`"]);
    check("data.csv.embedding.id0.hash_buckets=0", &["hash_buckets", "1..="]);
    check("data.csv.numeric=[\"hist0\"]", &["hist0", "listed twice"]);
    check("data.csv.categorical=[\"c*\", \"id*\", \"time\"]", &["time"]);
    check("model.encoder.embedding_dims=[4]", &["model.encoder.embedding_dims", "one per table"]);
    // A column of lists used as a categorical one, in the Parquet file.
    let scalar = trainer(&parquet)
        .replace("multi_hot = [\"hist0\"]\n", "")
        .replace("[data.csv.embedding.hist0]\nshare = \"id1\"\nmax_len = 3\n", "")
        .replace("categorical = [\"c*\", \"id*\"]", "categorical = [\"c*\", \"id*\", \"hist0\"]");
    let lists = write_config(dir.path(), "lists.toml", &scalar);
    let o = mtl(&["check", lists.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for n in ["rows.parquet", "column `hist0`", "holds lists", "data.csv.multi_hot"] {
        assert!(stderr(&o).contains(n), "no `{n}` in {}", stderr(&o));
    }
    // A truncated Parquet file.
    let bytes = std::fs::read(&parquet).unwrap();
    std::fs::write(&parquet, &bytes[..bytes.len() - 100]).unwrap();
    let o = mtl(&["check", config.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("rows.parquet") && stderr(&o).contains("not a readable Parquet file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn synth_refuses_what_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let small = write_config(dir.path(), "small.toml", SMALL);
    let o = mtl(&["synth", small.to_str().unwrap(), "--out", "x.json"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("x.json") && stderr(&o).contains(".parquet"), "{}", stderr(&o));
    let generator = write_config(dir.path(), "gen.toml", GENERATOR);
    // Training straight on a generator with id columns says where they go.
    let o = mtl(&["check", generator.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("data.synthetic.id_features") && stderr(&o).contains("mtl synth"),
        "{}",
        stderr(&o)
    );
    // --rows overrides the samples; gzipped CSV by name.
    let o = mtl(&["synth", generator.to_str().unwrap(), "--rows", "50", "--out", "r.csv.gz"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("wrote 50 rows"), "{}", stdout(&o));
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );
}

/// Ids past 2^24, through the binary: with 2^24 + 2^20 hash buckets, `u6425` and `u11378`
/// hash to ids 16 912 080 and 16 912 081 — one f32 apart from rounding, so as f32 codes both
/// read one embedding row. As integers they read two rows, and their predictions differ.
#[test]
fn ids_beyond_two_to_the_24_read_their_own_embedding_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = String::from("user,x,y\n");
    for i in 0..16 {
        let user = ["u6425", "u11378", "u1", "u2"][i % 4];
        rows.push_str(&format!("{user},{},{}\n", i as f32 / 8.0, i % 2));
    }
    let train = dir.path().join("train.csv");
    std::fs::write(&train, rows).unwrap();
    let config = format!(
        r#"
[run]
name = "big"
seed = 1

[data]
source = "csv"

[data.csv]
train = "{}"
numeric = ["x"]
categorical = ["user"]

[data.csv.embedding.user]
hash_buckets = 17825792

[[tasks]]
name = "y"
kind = "binary"

[model.encoder]
kind = "tabular"
hidden = [2]
embedding_dims = [1]

[train]
epochs = 1
batch_size = 8
"#,
        train.display()
    );
    let config = write_config(dir.path(), "big.toml", &config);
    let run = dir.path().join("run");
    let (config, run_dir) = (config.to_str().unwrap(), run.to_str().unwrap());
    let o = mtl(&["train", config, "--out", run_dir, "--quiet", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let input = dir.path().join("pair.csv");
    std::fs::write(&input, "user,x,y\nu6425,0,0\nu11378,0,0\nu6425,0,0\n").unwrap();
    let input = input.to_str().unwrap();
    let o =
        mtl(&["predict", run_dir, "--input", input, "--output", "p.csv", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let p: Vec<String> =
        std::fs::read_to_string(dir.path().join("p.csv")).unwrap().lines().map(String::from).collect();
    assert_eq!(p.len(), 4, "{p:?}");
    assert_ne!(p[1], p[2], "two ids one f32 apart read two rows: {p:?}");
    assert_eq!(p[1], p[3], "one id, one row: {p:?}");
}
