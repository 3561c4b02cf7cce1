//! Every architecture with every encoder and with a weighting method of each route, through
//! configs, as a user runs them.

mod common;

use std::collections::HashSet;
use std::path::Path;

use burn::optim::GradientsParams;
use burn::tensor::Device;
use common::train;
use common::{log_without_times, options};
use mtl_data::MultiTaskBatch;
use mtl_model::parameter_count_of;
use mtl_train::Error;
use mtl_train::backend::BackendChoice;
use mtl_train::config::RunConfig;
use mtl_train::fit::{init_state, prepare_data};
use mtl_train::grads::flatten;
use mtl_train::step::{batch_losses, train_step};
use mtl_weighting::{StepContext, WeightingInput};

/// Every registered architecture (a new one is covered by these tests without an edit).
const ARCHITECTURES: &[&str] = mtl_model::ArchitectureConfig::NAMES;

/// The fixture on 16 features (a 1×4×4 "image" for the CNN; the first two features turned
/// into 4-category codes for the tabular encoder), small experts, no dropout.
fn config(encoder: &str, overrides: &[&str]) -> RunConfig {
    let mut o: Vec<String> = [
        "data.synthetic.features=16",
        "model.encoder.dropout=0.0",
        "model.encoder.hidden=[16, 16]",
        "model.experts.count=4",
        "model.experts.hidden=[8, 8]",
        "weighting.method=ew",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match encoder {
        "mlp" => {}
        "cnn" => o.extend(
            [
                "model.encoder.kind=\"cnn\"",
                "model.encoder.input_shape=[1, 4, 4]",
                "model.encoder.channels=[4]",
                "model.encoder.kernel_size=3",
                "model.encoder.pool=1",
                "model.experts.gate_stem_channels=2",
            ]
            .map(String::from),
        ),
        "tabular" => o.extend(
            [
                "data.synthetic.categorical_features=2",
                "data.synthetic.categories=4",
                "model.encoder.kind=\"tabular\"",
                "model.encoder.categorical=[0, 1]",
                "model.encoder.cardinalities=[4, 4]",
                "model.encoder.embedding_dims=[3, 3]",
            ]
            .map(String::from),
        ),
        other => panic!("no encoder {other}"),
    }
    o.extend(overrides.iter().map(|s| s.to_string()));
    RunConfig::from_toml(Path::new("small.toml"), common::SMALL, &o).expect("fixture config is valid")
}

fn losses_fall(run: &Path, what: &str) {
    let log = log_without_times(run);
    let last = log.len() - 1;
    for task in ["a", "b", "c"] {
        let first = log[0]["train"]["loss"][task].as_f64().unwrap();
        let end = log[last]["train"]["loss"][task].as_f64().unwrap();
        assert!(end < first, "{what}, task {task}: loss {first} -> {end}");
    }
}

#[test]
fn every_architecture_trains_with_every_encoder() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    for encoder in ["mlp", "cnn", "tabular"] {
        for &arch in ARCHITECTURES {
            let cfg = config(encoder, &[&format!("model.architecture={arch}"), "train.epochs=3"]);
            let run = dir.path().join(format!("{arch}-{encoder}"));
            train(&cfg, &options(run.clone(), BackendChoice::Ndarray)).unwrap();
            losses_fall(&run, &format!("{arch} on {encoder}"));
            // Gated architectures log each task's mean gate; every row sums to 1 (cross-stitch
            // logs its mixing rows, free parameters that start summing to 1).
            let log = log_without_times(&run);
            let gates = &log[2]["valid_gates"];
            if arch == "hps" {
                assert!(gates.is_null());
                continue;
            }
            for task in ["a", "b", "c"] {
                let sum: f64 = gates[task].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
                if arch != "cross_stitch" {
                    assert!((sum - 1.0).abs() < 1e-4, "{arch} on {encoder}, task {task}: gates sum to {sum}");
                }
            }
        }
    }
}

#[test]
fn every_architecture_trains_on_both_gradient_routes_with_every_encoder() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let methods: [&[&str]; 2] = [
        &["weighting.method=pcgrad", "weighting.gradients=parameters"],
        &["weighting.method=upgrad", "weighting.gradients=representation"],
    ];
    for encoder in ["mlp", "cnn", "tabular"] {
        for &arch in ARCHITECTURES {
            for (i, m) in methods.iter().enumerate() {
                let mut o = vec![format!("model.architecture={arch}"), "train.epochs=3".into()];
                o.extend(m.iter().map(|s| s.to_string()));
                let o: Vec<&str> = o.iter().map(String::as_str).collect();
                let run = dir.path().join(format!("{arch}-{encoder}-{i}"));
                train(&config(encoder, &o), &options(run.clone(), BackendChoice::Ndarray)).unwrap();
                losses_fall(&run, &format!("{arch} on {encoder} with {m:?}"));
            }
        }
    }
}

#[allow(deprecated)]
fn ndarray() -> Device {
    Device::ndarray()
}

fn ctx(input: WeightingInput) -> StepContext {
    StepContext { epoch: 0, step: 0, steps_per_epoch: 1, input }
}

/// With equal weights the three routes compute the gradient of Σ_t L_t, whatever the
/// architecture: this checks that each architecture's split into `shared` and `task_input`
/// is the same function as its forward pass (and, for DSelect-k, that the regulariser is
/// added once on every route).
#[test]
fn ew_gives_the_same_gradients_on_every_route_for_every_architecture() {
    let _serial = common::serial();
    for &arch in ARCHITECTURES {
        let cfg = config("mlp", &[&format!("model.architecture={arch}")]);
        let device = ndarray().autodiff();
        let splits = prepare_data(&cfg).unwrap();
        let idx: Vec<usize> = (0..64).collect();
        let batch = MultiTaskBatch::gather(&splits.train, &idx, &device);
        let tasks = cfg.task_specs();
        let mut state = init_state(&cfg, &device);
        let inner = device.clone().inner();
        let ids: HashSet<_> = mtl_model::param_ids(&state).into_iter().collect();
        let mut step = |input| train_step(&mut state, &batch, &tasks, &ctx(input));
        let (routes, reports): (Vec<_>, Vec<_>) = [
            step(WeightingInput::Losses),
            step(WeightingInput::RepresentationGradients),
            step(WeightingInput::ParameterGradients),
        ]
        .into_iter()
        .unzip();
        for r in &reports[1..] {
            r.losses
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&reports[0].losses.clone().into_data(), Default::default());
        }
        let flat: Vec<Vec<f32>> = routes
            .iter()
            .map(|g| flatten(&state, g, &ids, &inner).into_data().try_to_vec::<f32>().unwrap())
            .collect();
        let scale = flat[0].iter().fold(0f32, |m, v| m.max(v.abs()));
        for (r, f) in flat.iter().enumerate().skip(1) {
            let diff = flat[0].iter().zip(f).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(diff <= 1e-5 * scale, "{arch}, route {r}: max difference {diff} (scale {scale})");
        }
    }
}

#[test]
fn parameter_route_gradient_has_the_width_of_the_shared_parameters() {
    let _serial = common::serial();
    // MMoE on 16 features: 4 experts 16 → 8 → 8, i.e. 4 · ((16·8 + 8) + (8·8 + 8)) = 832 shared
    // values; gates and heads are not in the matrix.
    let cfg = config("mlp", &["model.architecture=mmoe"]);
    let device = ndarray().autodiff();
    let splits = prepare_data(&cfg).unwrap();
    let batch = MultiTaskBatch::gather(&splits.train, &(0..32).collect::<Vec<_>>(), &device);
    let state = init_state(&cfg, &device);
    let shared = state.model.shared_param_ids();
    assert_eq!(parameter_count_of(&state.model, &shared), 832);
    let loss = batch_losses(&state.model, &batch, &cfg.task_specs()).narrow(0, 1, 1).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &state.model);
    let set: HashSet<_> = shared.into_iter().collect();
    let row = flatten(&state.model, &grads, &set, &device.inner());
    assert_eq!(row.dims(), [832]);
    assert!(row.abs().sum().into_scalar::<f32>() > 0.0);
}

fn config_error(encoder: &str, overrides: &[&str]) -> String {
    let mut o: Vec<String> = vec!["data.synthetic.features=16".into()];
    if encoder == "cnn" {
        o.push("model.encoder.kind=\"cnn\"".into());
    }
    o.extend(overrides.iter().map(|s| s.to_string()));
    RunConfig::from_toml(Path::new("small.toml"), common::SMALL, &o).unwrap_err().to_string()
}

#[test]
fn bad_model_settings_name_their_key() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("cnn", &[], "model.encoder.input_shape"),
        ("cnn", &["model.encoder.input_shape=[1, 5, 5]"], "holds 25 values but the data has 16"),
        ("cnn", &["model.encoder.input_shape=[1, 4, 4]"], "model.encoder.channels"),
        ("mlp", &["model.architecture=ple", "model.ple.levels=3"], "model.ple.levels"),
        ("mlp", &["model.architecture=dselect_k", "model.dselect_k.k=9"], "model.dselect_k.k"),
        ("mlp", &["model.architecture=dselect_k", "model.experts.count=1"], "model.experts.count"),
        ("mlp", &["model.architecture=cross_stitch", "model.cross_stitch.self_weight=0"], "self_weight"),
        ("mlp", &["model.encoder.input_shape=[1, 4, 4]"], "set kind = \"cnn\""),
        (
            "mlp",
            &["model.encoder.kind=\"tabular\"", "model.encoder.categorical=[3]"],
            "1 categorical columns but 0",
        ),
        ("mlp", &["model.architecture=\"moe\""], "model.architecture"),
    ];
    for (encoder, o, want) in cases {
        let e = config_error(encoder, o);
        assert!(e.contains(want), "{o:?}: {e}");
    }
}

#[test]
fn a_categorical_column_with_non_codes_is_a_data_error() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // Feature 5 is a continuous Gaussian, not a category code.
    let cfg = config(
        "mlp",
        &[
            "model.encoder.kind=\"tabular\"",
            "model.encoder.categorical=[5]",
            "model.encoder.cardinalities=[4]",
        ],
    );
    let e = train(&cfg, &options(dir.path().join("r"), BackendChoice::Ndarray)).unwrap_err();
    assert!(matches!(e, Error::Data(_)), "{e:?}");
    assert!(
        e.to_string().contains("feature column 5") && e.to_string().contains("of the train split"),
        "{e}"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(!dir.path().join("r/metrics.jsonl").exists());
}
