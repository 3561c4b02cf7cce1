//! Evaluation tools on a trained run: eval reproduces the stored metrics, predictions score to
//! the same metrics, bad prediction input is refused, export round-trips, single-task
//! baselines feed Δp/Δm, early stopping and schedules act on the loop.

mod common;

use std::path::Path;

use burn::module::Module;
use common::{config, options, serial};
use common::{train, train_baselines};
use mtl_data::FeatureRows;
use mtl_train::backend::{BackendChoice, select_device};
use mtl_train::config::RunConfig;
use mtl_train::delta::{delta, scores_from_json};
use mtl_train::export::{export, load_safetensors};
use mtl_train::fit::init_state;
use mtl_train::predict::{InputSchema, predict};
use mtl_train::runs::{CheckpointChoice, SplitChoice, open_run};
use mtl_train::stl::baselines;

fn trained(dir: &Path, overrides: &[&str]) -> (RunConfig, serde_json::Value) {
    let c = config(overrides);
    let s = train(&c, &options(dir.to_path_buf(), BackendChoice::Ndarray)).unwrap();
    (c, serde_json::to_value(&s).unwrap())
}

fn ndarray() -> mtl_train::backend::SelectedDevice {
    select_device(BackendChoice::Ndarray, None).unwrap()
}

#[test]
fn eval_reproduces_the_metrics_stored_at_the_end_of_training() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let (c, summary) = trained(&run_dir, &[]);
    let run = open_run(&run_dir, CheckpointChoice::Best, &ndarray()).unwrap();
    assert_eq!(run.meta.selection.best_epoch, summary["best_epoch"].as_u64().unwrap() as usize);
    for (split, key) in [(SplitChoice::Test, "test"), (SplitChoice::Valid, "valid")] {
        let (e, d) = run.evaluate(split, &ndarray()).unwrap();
        assert!(d.is_none(), "no baselines were trained");
        let stored = &summary[key];
        for (t, task) in c.tasks.iter().enumerate() {
            let s = &stored[&task.spec.name];
            assert!((s["loss"].as_f64().unwrap() - e.losses[t]).abs() < 1e-6);
            for (k, v) in &e.metrics[t] {
                let want = s[k.name()].as_f64().unwrap();
                assert!((want - v).abs() < 1e-6, "{key} {} {}: {want} vs {v}", task.spec.name, k.name());
            }
        }
    }
}

#[test]
fn predictions_score_to_the_eval_metrics_and_csv_input_matches_the_split() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    trained(&run_dir, &[]);
    let device = ndarray();
    let run = open_run(&run_dir, CheckpointChoice::Best, &device).unwrap();
    let test = run.split(SplitChoice::Test).unwrap();
    let (e, _) = run.evaluate(SplitChoice::Test, &device).unwrap();
    let out = predict(&run.model, &run.config.tasks, &test.feature_rows(), &device.device);

    // Task a (regression): MSE of the predicted values.
    let n = test.len();
    let mse =
        (0..n).map(|i| (out[0][i][0] as f64 - test.targets[0][i] as f64).powi(2)).sum::<f64>() / n as f64;
    let want = e.metrics[0].iter().find(|(k, _)| k.name() == "mse").unwrap().1;
    assert!((mse - want).abs() < 1e-5 * want.max(1.0), "{mse} vs {want}");
    // Task b (binary): accuracy of p ≥ 0.5; task c (multiclass): accuracy of the argmax.
    let acc_b =
        (0..n).filter(|&i| (out[1][i][0] >= 0.5) == (test.targets[1][i] > 0.5)).count() as f64 / n as f64;
    let want_b = e.metrics[1].iter().find(|(k, _)| k.name() == "accuracy").unwrap().1;
    assert!((acc_b - want_b).abs() < 1e-9, "{acc_b} vs {want_b}");
    let argmax = |v: &Vec<f32>| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let acc_c = (0..n).filter(|&i| argmax(&out[2][i]) as f32 == test.targets[2][i]).count() as f64 / n as f64;
    let want_c = e.metrics[2].iter().find(|(k, _)| k.name() == "accuracy").unwrap().1;
    assert!((acc_c - want_c).abs() < 1e-9, "{acc_c} vs {want_c}");
    assert!(out[2].iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5), "softmax rows sum to 1");

    // The same rows as CSV, columns shuffled, give the same predictions.
    let schema = InputSchema::load(&run_dir).unwrap();
    assert_eq!(schema.features.len(), test.num_features);
    let mut order: Vec<usize> = (0..test.num_features).collect();
    order.reverse();
    let mut text = order.iter().map(|&j| schema.features[j].clone()).collect::<Vec<_>>().join(",");
    text.push('\n');
    for i in 0..n {
        let row = test.row(i);
        text.push_str(&order.iter().map(|&j| row[j].to_string()).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, text).unwrap();
    let rows = schema.read_csv(&csv).unwrap();
    assert_eq!(rows.rows, n);
    let again = predict(&run.model, &run.config.tasks, &rows, &device.device);
    assert_eq!(again, out);
}

#[test]
fn csv_input_of_a_tabular_run_reads_its_code_columns_as_ids() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let tabular = [
        "data.synthetic.categorical_features=2",
        "data.synthetic.categories=4",
        "model.encoder.kind=\"tabular\"",
        "model.encoder.categorical=[0, 1]",
        "model.encoder.cardinalities=[4, 4]",
    ];
    trained(&run_dir, &tabular);
    let device = ndarray();
    let run = open_run(&run_dir, CheckpointChoice::Best, &device).unwrap();
    let test = run.split(SplitChoice::Test).unwrap();
    assert_eq!((test.num_ids, test.num_features), (2, 10), "the code columns are ids");
    let out = predict(&run.model, &run.config.tasks, &test.feature_rows(), &device.device);
    let schema = InputSchema::load(&run_dir).unwrap();
    assert_eq!(schema.codes, vec![(0, 4), (1, 4)]);
    // The rows as a file holds them: the codes in columns 0 and 1, then the other features.
    let mut text = schema.features.join(",");
    text.push('\n');
    for i in 0..test.len() {
        let ids = test.id_row(i).iter().map(u32::to_string);
        text.push_str(&ids.chain(test.row(i).iter().map(f32::to_string)).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, text).unwrap();
    let rows = schema.read_csv(&csv).unwrap();
    assert_eq!((rows.ids, rows.dense), (test.ids.clone(), test.features.clone()));
    let again = predict(&run.model, &run.config.tasks, &schema.read_csv(&csv).unwrap(), &device.device);
    assert_eq!(again, out);
}

#[test]
fn predict_input_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let schema = InputSchema {
        features: vec!["x0".into(), "x1".into()],
        standardize: None,
        table: None,
        targets: Default::default(),
        codes: Vec::new(),
        id_mapping: None,
    };
    let cases = [
        ("x0\n1\n", "missing column(s) `x1`"),
        ("x0,x1,y\n1,2,3\n", "unexpected column(s) `y`"),
        ("x0,x1\n1,abc\n", "column `x1`: `abc` is not a number"),
        ("x0,x1\n1,2\n3\n", "line 3"),
        ("", "empty"),
        ("x0,x1\n", "no data rows"),
    ];
    for (text, want) in cases {
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, text).unwrap();
        let e = schema.read_csv(&path).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains(want) && msg.contains("bad.csv"), "{text:?}: {msg}");
    }
    // Standardisation is applied column by column.
    let s = InputSchema {
        features: vec!["x0".into(), "x1".into()],
        standardize: Some(vec![(1.0, 2.0), (0.0, 0.5)]),
        table: None,
        targets: Default::default(),
        codes: Vec::new(),
        id_mapping: None,
    };
    let path = dir.path().join("ok.csv");
    std::fs::write(&path, "x1,x0\n1,5\n").unwrap();
    assert_eq!(s.read_csv(&path).unwrap(), FeatureRows { ids: Vec::new(), dense: vec![2.0, 2.0], rows: 1 });
    // Code columns become ids, checked against their cardinality.
    let s = InputSchema { codes: vec![(1, 3)], standardize: None, ..s };
    std::fs::write(&path, "x1,x0\n2,5\n").unwrap();
    assert_eq!(s.read_csv(&path).unwrap(), FeatureRows { ids: vec![2], dense: vec![5.0], rows: 1 });
    std::fs::write(&path, "x1,x0\n6,5\n").unwrap();
    let e = s.read_csv(&path).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("feature column 1, row 0 of the input split: 6 is not a category code 0..=2"),
        "{e}"
    );
}

#[test]
fn export_loads_back_with_identical_outputs() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let (c, _) = trained(&run_dir, &[]);
    let device = ndarray();
    let run = open_run(&run_dir, CheckpointChoice::Best, &device).unwrap();
    let written = export(&run, &dir.path().join("export")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.description).unwrap()).unwrap();
    // PyTorch layout: the first encoder layer maps 12 features to 32 units as [out, in].
    let first = &json["tensors"][0];
    assert_eq!(first["name"], "architecture.encoder.layers.0.weight");
    assert_eq!(first["shape"], serde_json::json!([32, 12]));
    assert_eq!(json["inputs"]["features"].as_array().unwrap().len(), 12);

    // A freshly initialised network (another seed) gives other outputs until the file is loaded.
    let other = RunConfig { seed: 99, ..c.clone() };
    let mut fresh = init_state(&other, &device.device.clone().autodiff()).model.valid();
    let test = run.split(SplitChoice::Test).unwrap();
    let before = predict(&fresh, &c.tasks, &test.feature_rows(), &device.device);
    let want = predict(&run.model, &c.tasks, &test.feature_rows(), &device.device);
    assert_ne!(before, want);
    load_safetensors(&mut fresh, &written.weights).unwrap();
    let after = predict(&fresh, &c.tasks, &test.feature_rows(), &device.device);
    assert_eq!(after, want);
}

#[test]
fn baselines_are_trained_once_and_give_delta() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    let c = config(&["train.epochs=2", &format!("run.output_dir=\"{out}\"")]);
    let device = ndarray();
    let mut trained_now = Vec::new();
    let reference = train_baselines(&c, &device, &mut |b, t| trained_now.push((b.task.clone(), t))).unwrap();
    assert_eq!(trained_now, vec![("a".into(), true), ("b".into(), true), ("c".into(), true)]);
    let mut again = Vec::new();
    train_baselines(&c, &device, &mut |_, t| again.push(t)).unwrap();
    assert_eq!(again, vec![false, false, false], "finished baselines are reused");
    // Each baseline trained one task on the same data.
    for b in baselines(&c).unwrap() {
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(b.run_dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["test"].as_object().unwrap().len(), 1);
        assert!(s["test"].get(&b.task).is_some());
    }

    // The multi-task run finds them and reports Δ on both splits, but selects on the loss: the
    // config alone decides the selection, not which baselines happen to exist.
    let summary = train(&c, &options(dir.path().join("mtl"), BackendChoice::Ndarray)).unwrap();
    assert_eq!(summary.monitor, "loss");
    let tasks: Vec<_> = c.tasks.iter().map(|t| (t.spec.name.clone(), t.metrics.clone())).collect();
    let test = scores_from_json(&tasks, &summary.test).unwrap();
    let want = delta(&test, &reference.test, &c.tasks).unwrap();
    for (key, value) in [("delta_p", want.delta_p), ("delta_m", want.delta_m)] {
        let got = summary.delta["test"][key].as_f64().unwrap();
        assert!((got - value).abs() < 1e-9, "{key}: {got} vs {want:?}");
    }
    assert!(summary.delta["valid"]["delta_m"].is_f64());
    // A config that asks for Δp selects on it.
    let on_delta = config(&["train.epochs=2", "train.monitor=delta_p", &format!("run.output_dir=\"{out}\"")]);
    let s = train(&on_delta, &options(dir.path().join("mtl-dp"), BackendChoice::Ndarray)).unwrap();
    assert_eq!(s.monitor, "delta_p");
    assert!((s.best_monitor.unwrap() - s.delta["valid"]["delta_p"].as_f64().unwrap()).abs() < 1e-9);
}

#[test]
fn early_stopping_ends_the_run_and_the_test_split_is_still_scored() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    // Nothing beats the first epoch by 1e9, so the run stops after 1 + patience epochs.
    let (_, s) = trained(
        &dir.path().join("run"),
        &["train.epochs=10", "train.early_stopping.patience=2", "train.early_stopping.min_delta=1e9"],
    );
    assert_eq!(s["epochs_done"], 3);
    assert_eq!(s["stopped_early"], true);
    assert_eq!(s["finished"], true);
    assert_eq!(s["best_epoch"], 1);
    assert!(s["test"].is_object());
}

#[test]
fn the_schedule_sets_the_logged_learning_rates() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    trained(
        &run_dir,
        &["train.schedule.kind=step", "train.schedule.step_epochs=2", "train.schedule.gamma=0.5"],
    );
    let lrs: Vec<f64> =
        common::log_without_times(&run_dir).iter().map(|l| l["lr"].as_f64().unwrap()).collect();
    let want = [3e-3, 3e-3, 1.5e-3, 1.5e-3];
    assert!(lrs.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{lrs:?}");
    // The library never draws: plots are the app's observer (tests/cli.rs checks them).
    assert!(!run_dir.join("plots").exists(), "the library wrote plots");
}

#[test]
fn per_step_weights_are_logged_on_request() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    trained(&run_dir, &["train.epochs=2", "weighting.log_steps=true", "weighting.method=rlw"]);
    let text = std::fs::read_to_string(run_dir.join("steps.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // 480 training samples in batches of 64: 8 steps per epoch.
    assert_eq!(lines.len(), 16);
    assert_eq!(lines[15]["epoch"], 2);
    let w = &lines[0]["weights"];
    let sum: f64 = ["a", "b", "c"].iter().map(|t| w[t].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-5, "RLW's weights lie on the simplex: {w}");
    assert_ne!(lines[0]["weights"], lines[1]["weights"], "drawn every step");
}

#[test]
fn a_monitor_on_a_metric_picks_its_best_epoch() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let (_, s) = trained(&run_dir, &["train.monitor=b.auc"]);
    let log = common::log_without_times(&run_dir);
    let aucs: Vec<f64> = log.iter().map(|l| l["valid"]["b"]["auc"].as_f64().unwrap()).collect();
    let best = aucs.iter().enumerate().fold(0, |b, (i, v)| if *v > aucs[b] { i } else { b });
    assert_eq!(s["best_epoch"].as_u64().unwrap() as usize, best + 1, "{aucs:?}");
    assert_eq!(s["monitor"], "b.auc");
    assert!((s["best_monitor"].as_f64().unwrap() - aucs[best]).abs() < 1e-12);
}

#[test]
fn a_resumed_run_keeps_its_monitor_when_baselines_appear_meanwhile() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    let c = config(&["train.epochs=3", &format!("run.output_dir=\"{out}\"")]);
    let run_dir = dir.path().join("mtl");
    let mut first = options(run_dir.clone(), BackendChoice::Ndarray);
    first.stop_after_epoch = Some(1);
    assert_eq!(train(&c, &first).unwrap().monitor, "loss");
    train_baselines(&c, &ndarray(), &mut |_, _| {}).unwrap();
    let mut second = options(run_dir.clone(), BackendChoice::Ndarray);
    second.resume = true;
    let s = train(&c, &second).unwrap();
    assert_eq!(s.monitor, "loss", "auto stays on what the run began with");
    assert!(s.delta["test"]["delta_p"].is_f64(), "Δ is still reported");

    // An explicit change of monitor on resume is refused.
    let changed = config(&["train.epochs=4", "train.monitor=b.auc", &format!("run.output_dir=\"{out}\"")]);
    let e = train(&changed, &second).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("train.monitor"), "{e}");
}

#[test]
fn select_last_reports_the_last_epoch_whatever_the_monitor_says() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    // A learning rate so high that the validation loss is not best at the last epoch.
    let c = config(&["train.epochs=4", "train.select=\"last\"", "train.lr=0.3"]);
    let s = train(&c, &options(dir.path().join("last"), BackendChoice::Ndarray)).unwrap();
    assert_eq!((s.best_epoch, s.select.as_deref()), (4, Some("last")));
    let best = mtl_train::checkpoint::load_meta(&dir.path().join("last/checkpoints/best")).unwrap();
    assert_eq!(best.epochs_done, 4, "best/ holds the last epoch");
    // The same run selecting on the loss picks an earlier epoch, so the key did something.
    let by_loss = config(&["train.epochs=4", "train.lr=0.3"]);
    let s = train(&by_loss, &options(dir.path().join("best"), BackendChoice::Ndarray)).unwrap();
    assert!(s.select.is_none());
    assert!(s.best_epoch < 4, "lr 0.3 should overshoot; best epoch {}", s.best_epoch);
}
