//! Chains of tasks (ESMM, ESCM², AITM): the loss of a later step on a batch by hand, training
//! below hps and mmoe (and through every gradient route), the tower's own metrics, predictions,
//! export and the config errors.
#![allow(deprecated)] // burn-ndarray, the tests' reference backend

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::{options, serial, train};
use mtl_data::{MultiTaskBatch, batch_indices};
use mtl_train::backend::BackendChoice;
use mtl_train::config::RunConfig;
use mtl_train::fit::{init_state, prepare_data};
use mtl_train::input::BatchInput;
use mtl_train::step::batch_losses;

const FUNNEL: &str = r#"
[run]
name = "chain"
seed = 3

[data.synthetic]
samples = 800
features = 8
correlation = 0.5

[data.synthetic.funnel]
click_rate = 0.3
conversion_rate = 0.15

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "buy"
kind = "binary"

[model.chain]
tasks = ["click", "buy"]

[model.encoder]
hidden = [16]

[model.head]
hidden = [4]

[train]
epochs = 2
batch_size = 50
"#;

fn config(overrides: &[&str]) -> Result<RunConfig, mtl_train::config::ConfigError> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::from_toml(Path::new("funnel.toml"), FUNNEL, &o)
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

#[test]
fn esmm_loss_of_a_batch_by_hand() {
    let _g = serial(); // init_state draws from Burn's process-wide generator
    let cfg = config(&[]).unwrap();
    assert_eq!(cfg.model.chains, vec![vec![0, 1]]);
    let device = Device::ndarray();
    let splits = prepare_data(&cfg).unwrap();
    let model = init_state(&cfg, &device).model;
    let rows: Vec<usize> = (0..40).collect();
    let batch = MultiTaskBatch::gather(&splits.train, &rows, &device);
    let losses: Vec<f32> =
        batch_losses(&model, &batch, &cfg.task_specs()).into_data().to_vec::<f32>().unwrap();
    // The towers' logits a_click, a_buy; the buy loss is the cross-entropy of
    // pCTCVR = σ(a_click)·σ(a_buy) against click ∧ buy, over every row (ESMM eq. (3)).
    let x = batch.input();
    let z = model.architecture.shared(x.clone());
    let tower = |t: usize| -> Vec<f32> { model.tower(t, &x, z.clone()).into_data().to_vec::<f32>().unwrap() };
    let (a_click, a_buy) = (tower(0), tower(1));
    let host = |v: &Vec<f32>| rows.iter().map(|&i| v[i] as f64).collect::<Vec<f64>>();
    let (clicks, joint, mask) =
        (host(&splits.train.targets[0]), host(&splits.train.targets[1]), host(&splits.train.masks[1]));
    assert!(mask.iter().all(|&m| m == 1.0), "the joint event is known on every row of a funnel");
    let bce = |p: f64, y: f64| -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
    let want_click = (0..40).map(|i| bce(sigmoid(a_click[i] as f64), clicks[i])).sum::<f64>() / 40.0;
    let want_buy =
        (0..40).map(|i| bce(sigmoid(a_click[i] as f64) * sigmoid(a_buy[i] as f64), joint[i])).sum::<f64>()
            / 40.0;
    assert!((losses[0] as f64 - want_click).abs() < 1e-5, "{} vs {want_click}", losses[0]);
    assert!((losses[1] as f64 - want_buy).abs() < 1e-5, "{} vs {want_buy}", losses[1]);
    // The joint target is click · buy.
    assert!(joint.iter().zip(&clicks).all(|(j, c)| *j <= *c));
    assert!(batch_indices(&rows, 10, false).len() == 4);
}

#[test]
fn esmm_trains_below_hps_and_mmoe_and_reports_the_tower_on_clicked_rows() {
    let _g = serial();
    for (arch, route) in
        [("hps", "losses"), ("mmoe", "losses"), ("hps", "representation"), ("mmoe", "parameters")]
    {
        let dir = tempfile::tempdir().unwrap();
        let set = [
            format!("model.architecture=\"{arch}\""),
            "weighting.method=\"ew\"".into(),
            format!("weighting.gradients=\"{route}\""),
        ];
        let set: Vec<&str> = set.iter().map(String::as_str).collect();
        let cfg = config(&set).unwrap();
        let s = serde_json::to_value(
            train(&cfg, &options(dir.path().join("run"), BackendChoice::Ndarray)).unwrap(),
        )
        .unwrap();
        let buy = &s["test"]["buy"];
        for k in ["auc", "loss"] {
            assert!(buy[k].as_f64().is_some_and(f64::is_finite), "{arch}: {buy}");
        }
        let tower_auc = buy["tower"]["auc"].as_f64().unwrap_or_else(|| panic!("{arch}: {buy}"));
        assert!((0.0..=1.0).contains(&tower_auc));
        assert!(s["test"]["click"].get("tower").is_none(), "the first step is its own tower");
        let entire = &buy["entire_space"];
        assert!(entire["auc"].as_f64().is_some() && entire["rate"].as_f64().is_some(), "{arch}: {buy}");
    }
}

#[test]
fn chain_errors_name_the_key() {
    for (set, needle) in [
        (r#"model.chain.tasks=["click", "nope"]"#, "`nope` is not a task"),
        (r#"model.chain.tasks=["click"]"#, "at least two tasks"),
        (r#"model.chain.tasks=["click", "click"]"#, "listed twice"),
        (r#"model.chain.kind="wrong""#, "model.chain"),
    ] {
        let e = mtl_train::Error::Config(config(&[set]).unwrap_err());
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains(needle) && msg.contains("model.chain"), "{set}: {msg}");
    }
    // A regression step.
    let text = FUNNEL
        .replace("[data.synthetic.funnel]\nclick_rate = 0.3\nconversion_rate = 0.15\n", "")
        .replace("name = \"buy\"\nkind = \"binary\"", "name = \"buy\"\nkind = \"regression\"");
    let e = RunConfig::from_toml(Path::new("f.toml"), &text, &[]).unwrap_err().to_string();
    assert!(e.contains("model.chain.tasks") && e.contains("regression task"), "{e}");
}

#[test]
fn entire_space_metrics_are_the_metrics_against_the_truth_on_every_row() {
    let _g = serial(); // init_state draws from Burn's process-wide generator
    use mtl_train::evaluate::evaluate;
    // The naive model (no chain): the conversion's entire-space metrics are its metrics on a
    // copy of the split whose conversion labels are the truth, on every row.
    let text = FUNNEL.replace("[model.chain]\ntasks = [\"click\", \"buy\"]\n", "");
    let cfg = RunConfig::from_toml(Path::new("naive.toml"), &text, &[]).unwrap();
    assert!(cfg.model.chains.is_empty());
    let device = Device::ndarray();
    let test = prepare_data(&cfg).unwrap().test;
    let truth = test.truth_of(1).expect("a funnel knows the conversion everywhere").to_vec();
    assert!(test.truth_of(0).is_none());
    let model = init_state(&cfg, &device).model;
    let e = evaluate(&model, &test, &cfg.tasks, 64, &device);
    let entire = e.entire_space[1].as_ref().unwrap();
    assert!(e.entire_space[0].is_none());
    let mut everywhere = test.clone();
    everywhere.targets[1] = truth.clone();
    everywhere.masks[1] = vec![1.0; truth.len()];
    let want = evaluate(&model, &everywhere, &cfg.tasks, 64, &device);
    assert_eq!(entire.metrics, want.metrics[1]);
    let rate = truth.iter().map(|&v| f64::from(v)).sum::<f64>() / truth.len() as f64;
    assert!((entire.rate - rate).abs() < 1e-12, "{} vs {rate}", entire.rate);
    assert!(entire.mean_prob > 0.0 && entire.mean_prob < 1.0);
    // The observed conversion labels are fewer than the truth's rows.
    assert!(test.masks[1].iter().filter(|&&m| m > 0.0).count() < truth.len());
}

#[test]
fn predictions_of_a_chain_step_are_its_tower_and_the_joint_probability() {
    let _g = serial(); // init_state draws from Burn's process-wide generator
    use mtl_train::predict::{predict, write_predictions};
    let cfg = config(&[]).unwrap();
    let device = Device::ndarray();
    let test = prepare_data(&cfg).unwrap().test;
    let model = init_state(&cfg, &device).model;
    let out = predict(&model, &cfg.tasks, &test.feature_rows(), &device);
    assert_eq!((out[0][0].len(), out[1][0].len()), (1, 2));
    assert_eq!(out[1].len(), test.len());
    for (i, (click, buy)) in out[0].iter().zip(&out[1]).enumerate() {
        // pCTCVR = pCTR · pCVR.
        let (ctr, cvr, joint) = (click[0], buy[0], buy[1]);
        assert!((joint - ctr * cvr).abs() < 1e-5, "row {i}: {joint} vs {ctr} · {cvr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    write_predictions(&path, &cfg.tasks, &out, Some(&test), &[None, None]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(header, "click,click_prob,click_label,buy,buy_prob,buy_joint_prob,buy_joint_label");
    let first: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first[5], out[1][0][1].to_string());
    assert_eq!(first[6], (test.targets[1][0] as i64).to_string(), "the joint label, known on every row");
}

#[test]
fn an_exported_chain_says_which_tasks_a_step_follows() {
    use mtl_train::backend::select_device;
    use mtl_train::runs::{CheckpointChoice, open_run};
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    train(&config(&["train.epochs=1"]).unwrap(), &options(run_dir.clone(), BackendChoice::Ndarray)).unwrap();
    let device = select_device(BackendChoice::Ndarray, None).unwrap();
    let run = open_run(&run_dir, CheckpointChoice::Best, &device).unwrap();
    let written = mtl_train::export::export(&run, &dir.path().join("export")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.description).unwrap()).unwrap();
    assert_eq!(json["tasks"][1]["follows"], serde_json::json!(["click"]));
    assert!(json["tasks"][0].get("follows").is_none());
}

#[test]
fn escm2_adds_its_counterfactual_risk_and_with_weight_0_is_esmm() {
    let _g = serial();
    let losses = |set: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let s =
            train(&config(set).unwrap(), &options(dir.path().join("run"), BackendChoice::Ndarray)).unwrap();
        let s = serde_json::to_value(s).unwrap();
        assert!(s["test"]["buy"]["entire_space"]["auc"].is_number(), "{set:?}");
        s["test"]["buy"]["loss"].as_f64().unwrap()
    };
    let esmm = losses(&[]);
    let zero = losses(&["model.chain.kind=\"escm2_ips\"", "model.chain.counterfactual_weight=0"]);
    assert_eq!(esmm, zero, "λ = 0 leaves ESMM's gradient");
    for (arch, kind) in
        [("hps", "escm2_ips"), ("mmoe", "escm2_ips"), ("hps", "escm2_dr"), ("mmoe", "escm2_dr")]
    {
        let set = [format!("model.chain.kind=\"{kind}\""), format!("model.architecture=\"{arch}\"")];
        let escm2 = losses(&set.iter().map(String::as_str).collect::<Vec<_>>());
        if arch == "hps" {
            assert_ne!(esmm, escm2, "{kind}: the risk changes the training");
        }
    }
    // DR's imputation tower gets no gradient at λ = 0, and the other weights are drawn as without it.
    let dr_zero = losses(&["model.chain.kind=\"escm2_dr\"", "model.chain.counterfactual_weight=0"]);
    assert_eq!(esmm, dr_zero, "λ = 0 leaves ESMM's training with DR too");
    for (set, needle) in [
        ("model.chain.counterfactual_weight=-1", "model.chain.counterfactual_weight"),
        ("model.chain.propensity_floor=0", "model.chain.propensity_floor"),
    ] {
        let e = config(&["model.chain.kind=\"escm2_ips\"", set]).unwrap_err().to_string();
        assert!(e.contains(needle), "{set}: {e}");
    }
}

#[test]
fn a_chain_step_is_compared_with_its_baseline_by_its_tower() {
    use common::train_baselines;
    use mtl_train::backend::select_device;
    use mtl_train::delta::{delta, scores_from_json};
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = format!("run.output_dir=\"{}\"", dir.path().display());
    let cfg = config(&["train.epochs=1", &out]).unwrap();
    let device = select_device(BackendChoice::Ndarray, None).unwrap();
    // The conversion's baseline is the naive model: trained and scored on the clicked rows.
    let reference = train_baselines(&cfg, &device, &mut |_, _| ()).unwrap();
    let summary = train(&cfg, &options(dir.path().join("esmm"), BackendChoice::Ndarray)).unwrap();
    let tasks: Vec<_> = cfg.tasks.iter().map(|t| (t.spec.name.clone(), t.metrics.clone())).collect();
    let towers = scores_from_json(&tasks, &summary.test).unwrap();
    assert_eq!(
        towers[1].iter().find(|(k, _)| k.name() == "auc").unwrap().1,
        summary.test["buy"]["tower"]["auc"].as_f64().unwrap(),
        "the conversion is scored by its tower"
    );
    let want = delta(&towers, &reference.test, &cfg.tasks).unwrap();
    assert!((summary.delta["test"]["delta_p"].as_f64().unwrap() - want.delta_p).abs() < 1e-9);
    // Scored by the joint event instead, Δ would be another number.
    let mut joint = towers.clone();
    joint[1] = cfg.tasks[1]
        .metrics
        .iter()
        .map(|k| (*k, summary.test["buy"][k.name()].as_f64().unwrap_or(f64::NAN)))
        .collect();
    assert_ne!(delta(&joint, &reference.test, &cfg.tasks).unwrap().delta_p, want.delta_p);
}

#[test]
fn aitm_loss_of_a_batch_by_hand() {
    let _g = serial(); // init_state draws from Burn's process-wide generator
    // AITM's later step outputs the joint itself: its loss is the cross-entropy of σ(out_buy)
    // against click ∧ buy over every row (no product), plus nothing else in the task loss.
    let cfg = config(&["model.chain.kind=\"aitm\""]).unwrap();
    assert_eq!(cfg.model.transfer, Some(mtl_model::Transfer { calibrator_weight: 0.6 }));
    let device = Device::ndarray();
    let splits = prepare_data(&cfg).unwrap();
    let model = init_state(&cfg, &device).model;
    assert!(model.transfers(1) && !model.transfers(0));
    let rows: Vec<usize> = (0..40).collect();
    let batch = MultiTaskBatch::gather(&splits.train, &rows, &device);
    let losses: Vec<f32> =
        batch_losses(&model, &batch, &cfg.task_specs()).into_data().to_vec::<f32>().unwrap();
    let out = model.forward(batch.input());
    let host = |t: &burn::tensor::Tensor<2>| t.clone().into_data().to_vec::<f32>().unwrap();
    let (a_click, a_joint) = (host(&out[0]), host(&out[1]));
    let (clicks, joint) = (&splits.train.targets[0], &splits.train.targets[1]);
    let bce = |p: f64, y: f64| -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
    let mean =
        |a: &[f32], y: &[f32]| (0..40).map(|i| bce(sigmoid(a[i] as f64), y[i] as f64)).sum::<f64>() / 40.0;
    assert!((losses[0] as f64 - mean(&a_click, clicks)).abs() < 1e-5);
    assert!((losses[1] as f64 - mean(&a_joint, joint)).abs() < 1e-5);
    // The calibrator: 0.6 · mean(max(σ(out_buy) − σ(out_click), 0)).
    let reg = model.chain_regularizer(&batch.input(), &batch.targets, &batch.masks).unwrap();
    let want = 0.6
        * (0..40).map(|i| (sigmoid(a_joint[i] as f64) - sigmoid(a_click[i] as f64)).max(0.0)).sum::<f64>()
        / 40.0;
    assert!((reg.into_scalar::<f32>() as f64 - want).abs() < 1e-6);
}

#[test]
fn aitm_trains_below_hps_and_mmoe_predicts_and_exports_the_joint() {
    use mtl_train::predict::predict;
    let _g = serial();
    let run = |set: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(set).unwrap();
        let s = train(&cfg, &options(dir.path().join("run"), BackendChoice::Ndarray)).unwrap();
        (dir, serde_json::to_value(s).unwrap())
    };
    for (arch, route) in
        [("hps", "losses"), ("mmoe", "losses"), ("hps", "representation"), ("mmoe", "parameters")]
    {
        let set = [
            "model.chain.kind=\"aitm\"".to_string(),
            format!("model.architecture=\"{arch}\""),
            format!("weighting.gradients=\"{route}\""),
        ];
        let (_dir, s) = run(&set.iter().map(String::as_str).collect::<Vec<_>>());
        let buy = &s["test"]["buy"];
        for v in [&buy["auc"], &buy["tower"]["auc"], &buy["entire_space"]["auc"]] {
            assert!(v.as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{arch}/{route}: {buy}");
        }
    }
    // The calibrator's weight changes the training; at 0 it leaves the cross-entropies alone,
    // which are not ESMM's (another output).
    let loss = |set: &[&str]| run(set).1["test"]["buy"]["loss"].as_f64().unwrap();
    let aitm = loss(&["model.chain.kind=\"aitm\""]);
    let free = loss(&["model.chain.kind=\"aitm\"", "model.chain.calibrator_weight=0"]);
    let strong = loss(&["model.chain.kind=\"aitm\"", "model.chain.calibrator_weight=5"]);
    assert!(aitm != free && aitm != strong && free != loss(&[]), "{aitm} {free} {strong}");

    // Predictions: TASK_prob is the tower min(joint / pCTR, 1), TASK_joint_prob the output.
    let cfg = config(&["model.chain.kind=\"aitm\""]).unwrap();
    let device = Device::ndarray();
    let test = prepare_data(&cfg).unwrap().test;
    let model = init_state(&cfg, &device).model;
    let out = predict(&model, &cfg.tasks, &test.feature_rows(), &device);
    for (i, (click, buy)) in out[0].iter().zip(&out[1]).enumerate() {
        let (ctr, cvr, joint) = (click[0], buy[0], buy[1]);
        assert!((cvr - (joint / ctr).min(1.0)).abs() < 1e-4, "row {i}: {cvr} vs {joint} / {ctr}");
    }

    // The export says the step's output is the joint and carries the AIT units.
    use mtl_train::backend::select_device;
    use mtl_train::runs::{CheckpointChoice, open_run};
    let (dir, _) = run(&["model.chain.kind=\"aitm\"", "train.epochs=1"]);
    let device = select_device(BackendChoice::Ndarray, None).unwrap();
    let opened = open_run(&dir.path().join("run"), CheckpointChoice::Best, &device).unwrap();
    let written = mtl_train::export::export(&opened, &dir.path().join("export")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.description).unwrap()).unwrap();
    assert!(json["tasks"][1]["joint"].as_str().unwrap().contains("AITM"), "{}", json["tasks"][1]);
    let names: Vec<&str> =
        json["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for part in ["ait.0.transfer.weight", "ait.0.h1.weight", "ait.0.h2.weight", "ait.0.h3.weight"] {
        assert!(names.contains(&part), "{part} not in {names:?}");
    }
    let mut reloaded = init_state(&cfg, &Device::ndarray()).model;
    mtl_train::export::load_safetensors(&mut reloaded, &written.weights).unwrap();
}

#[test]
fn chain_keys_of_another_kind_and_bad_weights_name_the_key() {
    for (set, key) in [
        (
            &["model.chain.kind=\"aitm\"", "model.chain.calibrator_weight=-1"][..],
            "model.chain.calibrator_weight",
        ),
        (
            &["model.chain.kind=\"aitm\"", "model.chain.calibrator_weight=nan"][..],
            "model.chain.calibrator_weight",
        ),
        (&["model.chain.calibrator_weight=0.5"][..], "model.chain.calibrator_weight"),
        (
            &["model.chain.kind=\"aitm\"", "model.chain.counterfactual_weight=1"][..],
            "model.chain.counterfactual_weight",
        ),
        (
            &["model.chain.kind=\"escm2_dr\"", "model.chain.calibrator_weight=1"][..],
            "model.chain.calibrator_weight",
        ),
        (&["model.chain.propensity_floor=0.1"][..], "model.chain.propensity_floor"),
    ] {
        let e = mtl_train::Error::Config(config(set).unwrap_err());
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(key), "{set:?}: {e}");
    }
}
