//! Streaming (out-of-core) training through the binary, as a user runs it: a training file
//! beyond `data.csv.memory_budget` is read chunk by chunk every epoch through a seeded shuffle
//! buffer; with a buffer as large as the training split it trains exactly as in memory (CSV and
//! Parquet, standardised targets, class weights, a single-task baseline, `mtl eval`); with a
//! small buffer its epochs are reproducible and a resumed run ends where an uninterrupted one
//! does; bad settings exit 2 naming the key.

mod common;

use std::path::{Path, PathBuf};

use common::{json, mtl, stderr, write_config};

const GENERATOR: &str = r#"
[run]
name = "gen"
seed = 3

[data.synthetic]
samples = 700
features = 6
categorical_features = 2
categories = 5
id_features = 2
id_cardinality = 300
multi_hot_features = 1
multi_hot_max_len = 4

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "time"
kind = "regression"
"#;

/// Hashed `id0`, vocabulary `id1` shared by the multi-hot `hist0`, codes `c*`; a class-weighted
/// binary task and a standardised regression task; valid and test cut from the file.
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
min_count = 2

[data.csv.embedding.id0]
hash_buckets = 97

[data.csv.embedding.hist0]
share = "id1"

[[tasks]]
name = "click"
kind = "binary"
class_weights = "balanced"

[[tasks]]
name = "time"
kind = "regression"
standardize = true

[model]
architecture = "mmoe"

[model.experts]
count = 2
hidden = [8]

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
    common::synth(dir, GENERATOR, out).0
}

/// Train on `data` with `set`; returns the run folder and the banner (stderr).
fn train(dir: &Path, data: &Path, name: &str, set: &[&str]) -> (PathBuf, String) {
    let config = write_config(dir, &format!("{name}.toml"), &trainer(data));
    let run = dir.join(name);
    let mut args =
        vec!["train", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--backend", "ndarray"];
    for s in set {
        args.extend(["--set", s]);
    }
    let o = mtl(&args, dir);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    (run, stderr(&o))
}

/// The run's `metrics.jsonl` without its timings.
fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    (text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()))
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("wall_s");
            v.as_object_mut().unwrap().remove("train_s");
            v
        })
        .collect()
}

const STREAM: &str = "data.csv.memory_budget=\"0\"";
const MEMORY: &str = "data.csv.memory_budget=\"unlimited\"";

#[test]
fn streaming_with_a_full_buffer_trains_exactly_as_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["rows.csv", "rows.parquet"] {
        let data = synth(dir.path(), file);
        let (memory, note) = train(dir.path(), &data, &format!("memory-{file}"), &[MEMORY]);
        assert!(note.contains("training file held in memory"), "{note}");
        let (streamed, note) = train(dir.path(), &data, &format!("stream-{file}"), &[STREAM]);
        assert!(
            note.contains("training file streamed") && note.contains("shuffle buffer of 1000000 rows"),
            "{note}"
        );
        assert!(note.contains("class weights of `click`"), "{note}");
        assert_eq!(
            metrics(&memory),
            metrics(&streamed),
            "{file}: same losses, weights and validation metrics"
        );
        let summary = |run: &Path| json(&run.join("summary.json"));
        assert_eq!(summary(&memory)["test"], summary(&streamed)["test"], "{file}");
        assert_eq!(summary(&memory)["valid"], summary(&streamed)["valid"], "{file}");
        // `mtl eval` reads a streamed run's test split chunk by chunk, to the same numbers.
        let eval = |run: &Path| {
            let o = mtl(&["eval", run.to_str().unwrap(), "--backend", "ndarray"], dir.path());
            assert!(o.status.success(), "{}", stderr(&o));
            // Past the first line, which names the run.
            String::from_utf8_lossy(&o.stdout).lines().skip(1).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(eval(&memory), eval(&streamed));
    }
    // A single-task baseline keeps its task's column of the streamed chunks.
    let data = dir.path().join("rows.parquet");
    let (a, _) = train(dir.path(), &data, "stl-memory", &[MEMORY, "run.single_task=\"time\""]);
    let (b, _) = train(dir.path(), &data, "stl-stream", &[STREAM, "run.single_task=\"time\""]);
    assert_eq!(metrics(&a), metrics(&b));
}

#[test]
fn a_small_buffer_is_reproducible_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path(), "rows.parquet");
    let small = [STREAM, "data.csv.shuffle_buffer=50", "train.epochs=3"];
    let (whole, _) = train(dir.path(), &data, "whole", &small);
    let (again, _) = train(dir.path(), &data, "again", &small);
    assert_eq!(metrics(&whole), metrics(&again), "same seed, same epochs");
    let (memory, _) = train(dir.path(), &data, "memory", &[MEMORY, "train.epochs=3"]);
    assert_ne!(metrics(&whole), metrics(&memory), "a 50-row buffer is another order than a full shuffle");
    let (first, _) =
        train(dir.path(), &data, "first", &[STREAM, "data.csv.shuffle_buffer=50", "train.epochs=1"]);
    let o = mtl(
        &["train", "--resume", first.to_str().unwrap(), "--backend", "ndarray", "--set", "train.epochs=3"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(metrics(&first), metrics(&whole), "resumed at an epoch boundary, the same epochs");
}

#[test]
fn bad_streaming_settings_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path(), "rows.csv");
    let config = write_config(dir.path(), "t.toml", &trainer(&data));
    for (set, key) in [
        ("data.csv.memory_budget=\"lots\"", "data.csv.memory_budget"),
        ("data.csv.memory_budget=\"-3GB\"", "data.csv.memory_budget"),
        ("data.csv.shuffle_buffer=0", "data.csv.shuffle_buffer"),
    ] {
        let o = mtl(&["check", config.to_str().unwrap(), "--set", set], dir.path());
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{set}: {}", stderr(&o));
    }
    // A streamed split too small for one batch is refused by `mtl check`, as in memory.
    let o = mtl(
        &[
            "check",
            config.to_str().unwrap(),
            "--set",
            STREAM,
            "--set",
            "train.batch_size=1000",
            "--set",
            "train.drop_last=true",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("train.batch_size") && stderr(&o).contains("560 training samples"),
        "{}",
        stderr(&o)
    );
    // `mtl check` of a streaming config passes over the file without holding it.
    let o = mtl(&["check", config.to_str().unwrap(), "--set", STREAM], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("560 / 70 / 70"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
