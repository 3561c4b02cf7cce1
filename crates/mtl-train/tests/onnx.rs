//! `mtl export --format onnx`: for every architecture (and the MLP, CNN and tabular encoders,
//! ESMM and AITM chains), the graph run by ONNX Runtime gives `mtl predict`'s numbers to 1e-5.
//!
//! ONNX Runtime comes from PyPI (`pip install onnxruntime numpy`); without it the comparison
//! is skipped with a message, unless `MTL_REQUIRE_ONNXRUNTIME=1` (CI sets it) makes that a
//! failure. The graph's structure is checked without it too: every parameter it reads is the
//! safetensors tensor of the same name and shape.
#![allow(deprecated)] // burn-ndarray, the tests' reference backend

mod common;

use std::path::Path;
use std::process::Command;

use burn::tensor::Device;
use common::{options, serial, train};
use mtl_train::backend::{BackendChoice, select_device};
use mtl_train::config::RunConfig;
use mtl_train::export::{ExportFormat, export_as};
use mtl_train::fit::prepare_data;
use mtl_train::predict::predict;
use mtl_train::runs::{CheckpointChoice, open_run};

const BASE: &str = r#"
[run]
name = "onnx"
seed = 5

[data.synthetic]
samples = 300
features = 12
correlation = 0.5
categorical_features = 2
categories = 5

[[tasks]]
name = "y1"
kind = "regression"

[[tasks]]
name = "y2"
kind = "binary"

[[tasks]]
name = "y3"
kind = "multiclass"
classes = 3

[model.encoder]
kind = "tabular"
categorical = [0, 1]
cardinalities = [5, 5]
embedding_dims = [3, 2]
hidden = [8, 6]
activation = "gelu"

[model.head]
hidden = [4]

[train]
epochs = 1
batch_size = 50
"#;

const FUNNEL: &str = r#"
[run]
name = "onnx-chain"
seed = 5

[data.synthetic]
samples = 400
features = 8

[data.synthetic.funnel]
click_rate = 0.3
conversion_rate = 0.2

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "buy"
kind = "binary"

[model.chain]
tasks = ["click", "buy"]

[model.encoder]
hidden = [8]

[model.head]
hidden = [4]

[train]
epochs = 1
batch_size = 50
"#;

const IMAGES: &str = r#"
[run]
name = "onnx-cnn"
seed = 5

[data.synthetic]
samples = 120
features = 98

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[model.encoder]
kind = "cnn"
input_shape = [2, 7, 7]
channels = [3]
kernel_size = 2
pool = 2
hidden = [5]

[train]
epochs = 1
batch_size = 40
"#;

/// Which of the Python runtimes are there: (ONNX Runtime, PyTorch).
fn runtimes() -> (bool, bool) {
    (
        python_has("onnxruntime, numpy", "MTL_REQUIRE_ONNXRUNTIME"),
        python_has("torch, numpy, safetensors", "MTL_REQUIRE_TORCH"),
    )
}

/// Whether python3 imports `modules`; without them a failure when `require` is set.
fn python_has(modules: &str, require: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var(require).is_err(), "{require} is set but python3 cannot import {modules}");
        eprintln!("python3 cannot import {modules} (pip install them): exports checked, not run");
    }
    ok
}

/// Run `script args…` with python3; the CSV it wrote, as numbers.
fn run_python(script: &Path, args: &[&Path], out: &Path) -> Vec<Vec<f64>> {
    let status = Command::new("python3").arg(script).args(args).arg(out).status().unwrap();
    assert!(status.success(), "{} failed", script.display());
    let mut got = csv::Reader::from_path(out).unwrap();
    got.records().map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect()).collect()
}

/// Each row of `got` equals `want` (per task, per row, its values) to 1e-5.
fn assert_rows(what: &str, got: &[Vec<f64>], want: &[Vec<Vec<f32>>]) {
    assert_eq!(got.len(), want[0].len(), "{what}: rows");
    for (i, row) in got.iter().enumerate() {
        let want: Vec<f64> = want.iter().flat_map(|task| task[i].iter().map(|&v| f64::from(v))).collect();
        assert_eq!(row.len(), want.len(), "{what}: outputs per row");
        for (g, w) in row.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what} row {i}: {row:?} vs predict {want:?}");
        }
    }
}

/// Train `text` with `set`, export it as ONNX, and compare the graph's outputs on the test
/// split with `predict`'s.
fn check(text: &str, set: &[&str], (run_graph, run_torch): (bool, bool)) {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let cfg = RunConfig::from_toml(Path::new("onnx.toml"), text, &set).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    train(&cfg, &options(run_dir.clone(), BackendChoice::Ndarray)).unwrap();
    let device = select_device(BackendChoice::Ndarray, None).unwrap();
    let run = open_run(&run_dir, CheckpointChoice::Best, &device).unwrap();
    let out = dir.path().join("export");
    let written = export_as(&run, &out, ExportFormat::Onnx).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.description).unwrap()).unwrap();

    // Every parameter the graph reads is the exported tensor of that name and shape.
    let tensors: std::collections::HashMap<String, Vec<u64>> = (json["tensors"].as_array().unwrap().iter())
        .map(|t| {
            let shape = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
            (t["name"].as_str().unwrap().to_string(), shape)
        })
        .collect();
    let mut g = mtl_model::graph::Graph::default();
    let input = mtl_model::graph::GraphInput {
        dense: "numeric".into(),
        ids: (!json["onnx"]["inputs"]["ids"]["columns"].as_array().unwrap().is_empty()).then(|| "ids".into()),
    };
    run.model.trace(&mut g, &input);
    let params: Vec<_> = g.constants.iter().filter(|c| !c.name.starts_with("const_")).collect();
    assert!(!params.is_empty());
    for c in &params {
        let shape = tensors.get(&c.name).unwrap_or_else(|| panic!("{set:?}: {} is not exported", c.name));
        assert_eq!(shape, &c.dims.iter().map(|&d| d as u64).collect::<Vec<_>>(), "{set:?}: {}", c.name);
    }
    assert_eq!(params.len(), tensors.len(), "{set:?}: the graph reads every exported tensor");
    let pytorch = dir.path().join("export-pt");
    let module = export_as(&run, &pytorch, ExportFormat::Pytorch).unwrap().code;
    assert_eq!(module, vec![pytorch.join("model.py")]);
    if !run_graph && !run_torch {
        return;
    }

    // The test split through `predict`, ONNX Runtime and the PyTorch module.
    let test = prepare_data(&cfg).unwrap().test;
    let rows = test.feature_rows();
    let model_device = Device::ndarray();
    let mut want = predict(&run.model, &cfg.tasks, &rows, &model_device);
    mtl_train::predict::InputSchema::load(&run_dir).unwrap().unscale(&cfg.tasks, &mut want);
    let numeric = json["onnx"]["inputs"]["numeric"]["columns"].as_array().unwrap();
    let ids = json["onnx"]["inputs"]["ids"]["columns"].as_array().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = csv::Writer::from_path(&input).unwrap();
    csv.write_record(numeric.iter().chain(ids).map(|c| c.as_str().unwrap())).unwrap();
    let (d, k) = (numeric.len(), ids.len());
    for i in 0..rows.rows {
        let mut record: Vec<String> =
            rows.dense[i * d..(i + 1) * d].iter().map(|v| format!("{v:e}")).collect();
        record.extend(rows.ids[i * k..(i + 1) * k].iter().map(u32::to_string));
        csv.write_record(&record).unwrap();
    }
    csv.flush().unwrap();
    if run_graph {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/onnx_predict.py");
        let got = run_python(&script, &[&out, &input], &dir.path().join("out.csv"));
        assert_rows(&format!("{set:?} onnx"), &got, &want);
    }
    if run_torch {
        let got = run_python(&pytorch.join("model.py"), &[&input], &dir.path().join("out-pt.csv"));
        assert_rows(&format!("{set:?} pytorch"), &got, &want);
    }
}

#[test]
fn every_architecture_on_a_tabular_encoder_matches_predict() {
    let _g = serial();
    let run = runtimes();
    for arch in ["hps", "mmoe", "omoe", "cgc", "ple", "cross_stitch", "dselect_k"] {
        let a = format!("model.architecture=\"{arch}\"");
        check(BASE, &[&a, "model.experts.count=3"], run);
    }
}

#[test]
fn mlp_and_cnn_encoders_and_chains_match_predict() {
    let _g = serial();
    let run = runtimes();
    let mlp = [
        r#"model.encoder.kind="mlp""#,
        "data.synthetic.categorical_features=0",
        "model.encoder.categorical=[]",
        "model.encoder.cardinalities=[]",
        "model.encoder.embedding_dims=[]",
    ];
    for arch in ["hps", "mmoe", "ple"] {
        let a = format!("model.architecture=\"{arch}\"");
        let mut set = mlp.to_vec();
        set.push(&a);
        check(BASE, &set, run);
    }
    for arch in ["hps", "mmoe", "cross_stitch"] {
        let a = format!("model.architecture=\"{arch}\"");
        check(IMAGES, &[&a], run);
    }
    for (arch, kind) in [("hps", "esmm"), ("mmoe", "esmm"), ("hps", "aitm"), ("ple", "aitm")] {
        let (a, k) = (format!("model.architecture=\"{arch}\""), format!("model.chain.kind=\"{kind}\""));
        check(FUNNEL, &[&a, &k], run);
    }
}
