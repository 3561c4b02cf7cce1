//! End-to-end training through the library API (ndarray backend).

mod common;

use burn::module::Module;
use common::train;
use common::{config, log_without_times, options};
use mtl_train::backend::BackendChoice;
use mtl_train::backend::select_device;
use mtl_train::evaluate::evaluate;
use mtl_train::fit::{Observers, fit, prepare_data};

#[test]
fn short_run_lowers_every_task_loss_and_writes_the_run_folder() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let summary = train(&config(&["train.epochs=6"]), &options(run.clone(), BackendChoice::Ndarray)).unwrap();
    assert!(summary.finished);
    for file in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "checkpoints/best/model.bpk",
        "checkpoints/last/optim.bpk",
        "checkpoints/last/state.json",
    ] {
        assert!(run.join(file).exists(), "{file} missing");
    }
    let log = log_without_times(&run);
    assert_eq!(log.len(), 6);
    for task in ["a", "b", "c"] {
        let first = log[0]["train"]["loss"][task].as_f64().unwrap();
        let last = log[5]["train"]["loss"][task].as_f64().unwrap();
        assert!(last < first * 0.9, "task {task}: loss {first} -> {last}");
    }
    // UW's weights move away from their initial ½ and are logged per task.
    assert!(log[5]["train"]["weights"]["a"].as_f64().unwrap() != 0.5);
    // Test metrics of every task, with the metrics of its kind.
    for (task, metric) in [("a", "r2"), ("b", "auc"), ("c", "macro_f1")] {
        assert!(summary.test[task][metric].is_number(), "{task}.{metric}: {}", summary.test);
    }
    // The resolved config was written and is itself a valid config.
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(mtl_train::config::RunConfig::from_toml(&run.join("config.toml"), &text, &[]).is_ok());
}

#[test]
fn resume_reaches_exactly_the_metrics_of_an_uninterrupted_run() {
    let _serial = common::serial();
    // The second case carries reduce-on-plateau state (cuts at almost every epoch with this
    // threshold) and a warm-up across the interruption.
    let cases: [&[&str]; 7] = [
        &[],
        &[
            "train.schedule.kind=plateau",
            "train.schedule.patience=0",
            "train.schedule.threshold=0.5",
            "train.schedule.warmup_epochs=2.5",
        ],
        // DWA's loss history and RLW's random draws must survive the interruption.
        &["weighting.method=dwa"],
        &["weighting.method=rlw"],
        &["weighting.method=famo"],
        // DB-MTL's [T, P] running gradients go through the checkpoint.
        &["weighting.method=db_mtl"],
        // SDMGrad's warm-started simplex weights too.
        &["weighting.method=sdmgrad", "weighting.sdmgrad.lr=0.5"],
    ];
    for overrides in cases {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(overrides);

        let whole = dir.path().join("whole");
        let a = train(&cfg, &options(whole.clone(), BackendChoice::Ndarray)).unwrap();

        let split = dir.path().join("split");
        let mut first = options(split.clone(), BackendChoice::Ndarray);
        first.stop_after_epoch = Some(2);
        let partial = train(&cfg, &first).unwrap();
        assert!(!partial.finished);
        assert_eq!(partial.epochs_done, 2);
        let mut second = options(split.clone(), BackendChoice::Ndarray);
        second.resume = true;
        let b = train(&cfg, &second).unwrap();

        assert!(b.finished);
        assert_eq!(a.test, b.test, "{overrides:?}: test metrics differ after resume");
        assert_eq!(a.valid, b.valid);
        assert_eq!(a.best_epoch, b.best_epoch);
        assert_eq!(a.final_lr, b.final_lr);
        if overrides.iter().any(|o| o.contains("plateau")) {
            assert!(a.final_lr < cfg.train.lr, "the plateau rule cut the rate: {}", a.final_lr);
        }
        assert_eq!(log_without_times(&whole), log_without_times(&split), "{overrides:?}");
    }
}

#[test]
fn a_second_run_into_the_same_folder_is_refused_unless_overwritten() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = config(&["train.epochs=1"]);
    train(&cfg, &options(run.clone(), BackendChoice::Ndarray)).unwrap();
    let err = train(&cfg, &options(run.clone(), BackendChoice::Ndarray)).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--resume"), "{err}");
    let mut again = options(run, BackendChoice::Ndarray);
    again.overwrite = true;
    assert!(train(&cfg, &again).is_ok());
}

#[test]
fn same_seed_same_numbers() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&["train.epochs=2"]);
    let a = train(&cfg, &options(dir.path().join("a"), BackendChoice::Ndarray)).unwrap();
    let b = train(&cfg, &options(dir.path().join("b"), BackendChoice::Ndarray)).unwrap();
    assert_eq!(a.test, b.test);
    let c = train(
        &config(&["train.epochs=2", "run.seed=8"]),
        &options(dir.path().join("c"), BackendChoice::Ndarray),
    )
    .unwrap();
    assert_ne!(a.test, c.test);
}

#[test]
fn every_optimizer_route_clipping_setting_and_weighting_method_trains() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // (overrides, whether the run reads task gradients)
    let cases: &[(&[&str], bool)] = &[
        (&["train.optimizer=adamw", "train.weight_decay=0.01"], false),
        (&["train.optimizer=sgd", "train.momentum=0.9", "train.lr=0.01"], false),
        (&["weighting.method=ew", "weighting.gradients=representation"], true),
        (&["weighting.method=ew", "weighting.gradients=parameters", "train.clip_grad_norm=1.0"], true),
        (&["weighting.method=dwa"], false),
        (&["weighting.method=rlw"], false),
        (&["weighting.method=gls"], false),
        (&["weighting.method=si"], false),
        (&["weighting.method=mgda"], true),
        (
            &[
                "weighting.method=mgda",
                "weighting.gradients=representation",
                "weighting.mgda.normalization=\"loss+\"",
            ],
            true,
        ),
        (&["weighting.method=pcgrad"], true),
        (&["weighting.method=pcgrad", "weighting.gradients=representation"], true),
        (&["weighting.method=cagrad"], true),
        (&["weighting.method=imtl_g"], true),
        (&["weighting.method=nash_mtl", "weighting.nash_mtl.update_weights_every=2"], true),
        (&["weighting.method=upgrad", "weighting.gradients=representation"], true),
        (&["weighting.method=imtl_l"], false),
        (&["weighting.method=famo"], false),
        (&["weighting.method=gradvac"], true),
        (&["weighting.method=config"], true),
        (&["weighting.method=graddrop", "weighting.gradients=representation"], true),
        (&["weighting.method=fairgrad", "weighting.fairgrad.alpha=2.0"], true),
        (&["weighting.method=aligned_mtl"], true),
        (&["weighting.method=stch", "weighting.stch.warmup_epochs=1"], false),
        (&["weighting.method=gradnorm"], true),
        (&["weighting.method=db_mtl"], true),
        (&["weighting.method=moco"], true),
        (&["weighting.method=imtl", "weighting.gradients=representation"], true),
        (&["weighting.method=dualproj"], true),
        (&["weighting.method=dualproj", "weighting.gradients=representation"], true),
        (&["weighting.method=sdmgrad"], true),
        (
            &[
                "weighting.method=sdmgrad",
                "weighting.gradients=representation",
                "weighting.sdmgrad.lambda=0.0",
            ],
            true,
        ),
    ];
    for (i, (overrides, gradient_route)) in cases.iter().enumerate() {
        let mut o = vec!["train.epochs=3"];
        o.extend_from_slice(overrides);
        let run = dir.path().join(format!("run{i}"));
        train(&config(&o), &options(run.clone(), BackendChoice::Ndarray)).unwrap();
        let log = log_without_times(&run);
        for task in ["a", "b", "c"] {
            let first = log[0]["train"]["loss"][task].as_f64().unwrap();
            let last = log[2]["train"]["loss"][task].as_f64().unwrap();
            assert!(last < first, "{overrides:?}, task {task}: loss {first} -> {last}");
        }
        // The methods that solve for their weights count the steps that found none.
        let reused = &log[2]["train"]["reused_weight_steps"];
        let solves = overrides.iter().any(|o| o.contains("=nash_mtl") || o.contains("=fairgrad"));
        assert_eq!(reused.is_u64(), solves, "{overrides:?}: {reused}");
        // The gradient routes log the task-gradient norms and cosines.
        let g = &log[2]["train"]["gradients"];
        if *gradient_route {
            assert!(g["norm"]["a"].as_f64().unwrap() > 0.0, "{overrides:?}: {g}");
            let (mean, min) = (g["cos_mean"].as_f64().unwrap(), g["cos_min"].as_f64().unwrap());
            assert!((-1.0..=1.0).contains(&min) && min <= mean && mean <= 1.0, "{overrides:?}: {g}");
        } else {
            assert!(g.is_null(), "{overrides:?}: the loss route computes no task gradients");
        }
    }
}

#[test]
fn a_run_without_observers_writes_nothing_and_returns_its_best_state() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("quiet");
    let cfg = config(&["train.epochs=2"]);
    let fitted = fit(&cfg, &options(run.clone(), BackendChoice::Ndarray), &mut Observers::none()).unwrap();
    let written: Vec<_> = std::fs::read_dir(&run).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written, [mtl_train::lock::LOCK_FILE], "no observer, no file but the run folder's lock");
    // The returned state is the one the summary reports on.
    let device = select_device(BackendChoice::Ndarray, None).unwrap().device;
    let splits = prepare_data(&cfg).unwrap();
    let batch = cfg.train.batch_size.max(256);
    let valid = evaluate(&fitted.best.model.valid(), &splits.valid, &cfg.tasks, batch, &device);
    assert_eq!(valid.to_json(&cfg.tasks), fitted.summary.valid);
}

#[test]
fn a_resume_drops_step_lines_past_the_checkpoint_even_without_step_logging() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("steps");
    let mut first = options(run.clone(), BackendChoice::Ndarray);
    first.stop_after_epoch = Some(1);
    train(&config(&["weighting.log_steps=true"]), &first).unwrap();
    // A crash in epoch 2 would leave its step lines behind the epoch-1 checkpoint.
    let steps = run.join("steps.jsonl");
    let logged = std::fs::read_to_string(&steps).unwrap();
    std::fs::write(&steps, format!("{logged}{{\"epoch\":2,\"step\":99}}\n")).unwrap();
    let mut second = options(run.clone(), BackendChoice::Ndarray);
    second.resume = true;
    train(&config(&[]), &second).unwrap();
    assert_eq!(std::fs::read_to_string(&steps).unwrap(), logged, "only the checkpointed epoch's lines stay");
}
