//! Serving an exported model the way the README's "Serving a model" does: a table run with a
//! vocabulary, a hashed, a shared and a multi-hot id column (plus missing and unseen cells)
//! exported as ONNX and as a PyTorch module; `scripts/onnx_predict.py` and the generated
//! `model.py` read the raw CSV file through the export's own input helper and give
//! `mtl predict --input`'s numbers to 1e-5.
//!
//! Needs python3 with onnxruntime / torch, numpy and safetensors; without them the comparison
//! is skipped with a message, unless `MTL_REQUIRE_ONNXRUNTIME=1` / `MTL_REQUIRE_TORCH=1` (CI
//! sets both) make that a failure.

mod common;

use std::path::Path;
use std::process::Command;

use common::{mtl, stderr, write_config};

const GENERATOR: &str = r#"
[run]
name = "gen"
seed = 3

[data.synthetic]
samples = 300
features = 6
categorical_features = 2
categories = 5
id_features = 2
id_cardinality = 50
multi_hot_features = 1
multi_hot_max_len = 4

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "time"
kind = "regression"
"#;

/// Vocabulary `c*` and `id1`, hashed `id0`, multi-hot `hist0` sharing `id1`'s table; MMoE so
/// that the gates read the tabular stem.
const TRAINER: &str = r#"
[run]
name = "serve"
seed = 5

[data]
source = "csv"

[data.csv]
train = "rows.csv"
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

[model]
architecture = "mmoe"

[model.experts]
count = 2

[model.encoder]
kind = "tabular"
hidden = [8]

[model.head]
hidden = [4]

[train]
epochs = 2
batch_size = 64
"#;

fn python_has(modules: &str, require: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var(require).is_err(), "{require} is set but python3 cannot import {modules}");
        eprintln!("python3 cannot import {modules} (pip install them): not run");
    }
    ok
}

/// The columns `names` of a CSV file, as numbers.
fn columns(path: &Path, names: &[&str]) -> Vec<Vec<f64>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let at: Vec<usize> = names
        .iter()
        .map(|n| {
            header.iter().position(|h| h == *n).unwrap_or_else(|| panic!("{}: no column {n}", path.display()))
        })
        .collect();
    (reader.records())
        .map(|r| {
            let r = r.unwrap();
            at.iter().map(|&j| r[j].parse().unwrap()).collect()
        })
        .collect()
}

fn assert_close(what: &str, got: &[Vec<f64>], want: &[Vec<f64>]) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what} row {i}: {g:?} vs mtl predict {w:?}");
        }
    }
}

#[test]
fn exported_onnx_and_pytorch_models_serve_raw_table_rows_like_mtl_predict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (rows, _) = common::synth(d, GENERATOR, "rows.csv");
    // Rows to serve: some numeric cells missing, unseen categories, ids and list items,
    // empty id and list cells.
    let text = std::fs::read_to_string(&rows).unwrap();
    let mut lines = text.lines();
    let mut serve = format!("{}\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        match i % 6 {
            0 => cells[3].clear(),                         // x3 missing
            1 => cells[0] = "unseen".into(),               // c0 not in the vocabulary
            2 => cells[7] = "999".into(),                  // id1 unseen
            3 => cells[8] = format!("{}|999|1", cells[8]), // hist0 longer than max_len, an unseen item
            4 => {
                cells[6].clear(); // id0 (hashed) missing
                cells[8].clear(); // hist0 empty
            }
            _ => {}
        }
        serve.push_str(&cells.join(","));
        serve.push('\n');
    }
    std::fs::write(d.join("serve.csv"), serve).unwrap();
    let config = write_config(d, "serve.toml", TRAINER);
    let ok = |args: &[&str]| {
        let o = mtl(args, d);
        assert!(o.status.success(), "mtl {args:?}: {}", stderr(&o));
    };
    ok(&["train", config.to_str().unwrap(), "--out", "run", "--quiet", "--backend", "ndarray"]);
    ok(&["predict", "run", "--input", "serve.csv", "--output", "want.csv", "--backend", "ndarray"]);
    ok(&["export", "run", "--format", "onnx", "--out", "onnx", "--backend", "ndarray"]);
    ok(&["export", "run", "--format", "pytorch", "--out", "pytorch", "--backend", "ndarray"]);
    let want = columns(&d.join("want.csv"), &["click_prob", "time"]);
    assert_eq!(want.len(), 300);

    // The run and the export describe themselves: the id mapping, the resolved network.
    let inputs = common::json(&d.join("run/inputs.json"));
    assert!(inputs["id_mapping"].as_str().unwrap().contains("is id i + 1; 0 = missing or unseen"));
    let json = common::json(&d.join("onnx/model.json"));
    assert!(json["onnx"]["inputs"]["ids"]["mapping"].as_str().unwrap().contains("values[i]"));
    assert_eq!(json["onnx"]["inputs"]["ids"]["columns"].as_array().unwrap().len(), 2 + 2 + 3);
    let tabular = &json["network"]["resolved"]["architecture"]["mmoe"]["expert"]["tabular"];
    assert_eq!(tabular["tables"].as_array().unwrap().len(), 4, "c0, c1, id0, id1 (hist0 shares id1's)");
    assert_eq!(tabular["fields"][4]["multi_hot"], true);
    assert_eq!(tabular["fields"][4]["table"], 3);
    assert_eq!(tabular["d_input"], 4);

    // Triton's model configuration names the graph's inputs and outputs.
    let triton = std::fs::read_to_string(d.join("onnx/config.pbtxt")).unwrap();
    for needle in [
        "platform: \"onnxruntime_onnx\"",
        "name: \"numeric\"\n    data_type: TYPE_FP32\n    dims: [ -1, 4 ]",
        "name: \"ids\"\n    data_type: TYPE_INT64\n    dims: [ -1, 7 ]",
        "name: \"click\"\n    data_type: TYPE_FP32\n    dims: [ -1, 1 ]",
        "name: \"time\"",
    ] {
        assert!(triton.contains(needle), "config.pbtxt lacks {needle:?}:\n{triton}");
    }

    let script = common::repo().join("scripts/onnx_predict.py");
    if python_has("onnxruntime, numpy", "MTL_REQUIRE_ONNXRUNTIME") {
        let o = Command::new("python3")
            .arg(&script)
            .args(["onnx", "serve.csv", "onnx.csv"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "onnx_predict.py: {}", String::from_utf8_lossy(&o.stderr));
        assert_close("onnx", &columns(&d.join("onnx.csv"), &["click", "time"]), &want);
    }
    if python_has("torch, numpy, safetensors", "MTL_REQUIRE_TORCH") {
        let o = Command::new("python3")
            .args(["pytorch/model.py", "serve.csv", "torch.csv"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "model.py: {}", String::from_utf8_lossy(&o.stderr));
        assert_close("pytorch", &columns(&d.join("torch.csv"), &["click", "time"]), &want);
        // A missing input column is named.
        std::fs::write(d.join("short.csv"), "c0,c1\n1,2\n").unwrap();
        let o = Command::new("python3")
            .args(["pytorch/model.py", "short.csv", "x.csv"])
            .current_dir(d)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("input column `id0` is missing"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn an_export_whose_inputs_do_not_match_the_network_is_refused_naming_inputs_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::synth(d, GENERATOR, "rows.csv");
    let config = write_config(d, "serve.toml", TRAINER);
    let o = mtl(&["train", config.to_str().unwrap(), "--out", "run", "--quiet", "--backend", "ndarray"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = d.join("run/inputs.json");
    let mut inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // A features list one column short of the fitted numeric columns.
    inputs["features"].as_array_mut().unwrap().pop();
    std::fs::write(&path, serde_json::to_string(&inputs).unwrap()).unwrap();
    for format in ["onnx", "pytorch"] {
        let o = mtl(&["export", "run", "--format", format, "--out", format], d);
        assert_eq!(o.status.code(), Some(2), "{format}: {}", stderr(&o));
        assert!(stderr(&o).contains("inputs.json"), "{format}: {}", stderr(&o));
        assert!(!d.join(format).join("model.json").exists(), "{format}: nothing half-written");
    }
}
