//! `mtl affinity` end to end: on synthetic data with two hidden task groups the matrices show
//! the blocks and `--groups 2` returns them, stably over three measuring seeds; the group
//! configs train; groups of unrelated tasks are called unstable.

mod common;

use common::{mtl, stderr};

/// Four regressions: y0, y1 correlated (p = 0.9), y2, y3 correlated, the pairs orthogonal.
const BLOCKS: &str = r#"
[run]
name = "blocks"
seed = 5
[data.synthetic]
samples = 800
features = 10
correlation = 0.9
sin_terms = 0
task_groups = [0, 0, 1, 1]
[[tasks]]
name = "y0"
kind = "regression"
[[tasks]]
name = "y1"
kind = "regression"
[[tasks]]
name = "y2"
kind = "regression"
[[tasks]]
name = "y3"
kind = "regression"
[model.encoder]
hidden = [16]
[model.head]
hidden = [8]
[train]
epochs = 2
batch_size = 64
lr = 0.01
"#;

#[test]
fn affinity_finds_the_hidden_task_groups() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("blocks.toml");
    std::fs::write(&cfg, BLOCKS).unwrap();
    let o =
        mtl(&["affinity", cfg.to_str().unwrap(), "--groups", "2", "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/blocks-affinity");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("affinity.json")).unwrap()).unwrap();
    assert_eq!(report["steps"], 20, "10 steps per epoch, 2 epochs, every step");
    let m = |name: &str, i: usize, j: usize| report[name][i][j].as_f64().unwrap();
    for name in ["lookahead", "parameter_cosine", "representation_cosine", "output_similarity"] {
        let within = [m(name, 0, 1), m(name, 1, 0), m(name, 2, 3), m(name, 3, 2)];
        let across =
            [m(name, 0, 2), m(name, 0, 3), m(name, 1, 2), m(name, 1, 3), m(name, 2, 0), m(name, 3, 1)];
        // Early in training a pair's cosine can still sit near 0 while the heads are random,
        // so the blocks are checked on average: the mean within-group entry exceeds every
        // cross-group entry.
        let mean_within = within.iter().sum::<f64>() / 4.0;
        let max_across = across.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(mean_within > max_across, "{name}: within {within:?}, across {across:?}");
    }
    let groups: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("groups.json")).unwrap()).unwrap();
    assert_eq!(groups["groups"], serde_json::json!([["y0", "y1"], ["y2", "y3"]]));
    // Three measuring runs (seeds 5, 6, 7 on the same generated data), pooled; the groups by
    // the output-gradient similarity, stable under resampling of the runs and their steps.
    assert_eq!(groups["by"], "output_similarity");
    assert_eq!(groups["runs"].as_array().unwrap().len(), 3);
    for seed in ["blocks-affinity-seed2", "blocks-affinity-seed3"] {
        let steps =
            std::fs::read_to_string(dir.path().join("runs").join(seed).join("affinity_steps.jsonl")).unwrap();
        assert_eq!(steps.lines().count(), 20, "{seed}: one line per measured step");
    }
    let stability = &groups["stability"];
    assert_eq!((stability["resamples"].as_u64(), stability["runs"].as_u64()), (Some(200), Some(3)));
    assert_eq!(stability["steps"], 60);
    assert!(stability["share"].as_f64().unwrap() >= 0.8, "{stability}");
    assert_eq!(groups["stable"], true);
    assert_eq!(stability["together"][0][1], 1.0, "{stability}");
    assert!(common::stdout(&o).contains("stability: "), "{}", common::stdout(&o));
    assert!(!stderr(&o).contains("not stable"), "{}", stderr(&o));
    for plot in ["lookahead", "parameter_cosine", "representation_cosine", "output_similarity"] {
        assert!(run.join(format!("plots/affinity_{plot}.svg")).exists(), "{plot}");
        assert!(run.join(format!("plots/affinity_pooled_{plot}.svg")).exists(), "{plot}");
    }
    // The means over all three runs' steps, as printed, beside the first run's own.
    let pooled: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("affinity_pooled.json")).unwrap()).unwrap();
    assert_eq!(pooled["steps"], 60);
    let p = |i: usize, j: usize| pooled["output_similarity"][i][j].as_f64().unwrap();
    assert!(p(0, 1).min(p(2, 3)) > p(0, 2).max(p(1, 3)), "{}", pooled["output_similarity"]);
    assert!(common::stdout(&o).contains(&format!("{:.4}", p(0, 1))), "{}", common::stdout(&o));
    // The measuring overhead is in the epoch log.
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(log.lines().all(|l| l.contains("\"affinity\":{\"seconds\"")), "{log}");
    // Each group config trains its tasks on the same data.
    let group1 = run.join("groups/blocks-group1.toml");
    let o = mtl(
        &["train", group1.to_str().unwrap(), "--backend", "ndarray", "-q", "--set", "train.epochs=1"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/blocks-group1/summary.json")).unwrap())
            .unwrap();
    let trained: Vec<&String> = summary["test"].as_object().unwrap().keys().collect();
    assert_eq!(trained, ["y0", "y1"]);

    // compare: all tasks together vs the chosen groups vs single-task, with Δm.
    let o = mtl(
        &[
            "compare",
            cfg.to_str().unwrap(),
            "--groups",
            run.join("groups.json").to_str().unwrap(),
            "--backend",
            "ndarray",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = std::fs::read_to_string(dir.path().join("runs/compare-blocks/table.md")).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').nth(1).unwrap().trim())
        .collect();
    assert_eq!(rows, ["stl", "ew", "ew grouped"], "{table}");
    let results = std::fs::read_to_string(dir.path().join("runs/compare-blocks/results.csv")).unwrap();
    let grouped = results.lines().find(|l| l.starts_with("ew grouped")).unwrap();
    assert!(
        grouped.split(',').rev().nth(1).unwrap().parse::<f64>().is_ok(),
        "Δm of the grouped row: {grouped}"
    );
    // Bad groups are refused before anything trains.
    let o = mtl(
        &["compare", cfg.to_str().unwrap(), "--groups", "y0,y1;y2", "--backend", "ndarray", "-q"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exactly one non-empty group"), "{}", stderr(&o));
}

#[test]
fn groups_of_unrelated_tasks_are_called_unstable_and_bad_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("noise.toml");
    // Four mutually orthogonal tasks: any 2-partition is as good as another.
    std::fs::write(&cfg, BLOCKS.replace("task_groups = [0, 0, 1, 1]", "task_groups = [0, 1, 2, 3]")).unwrap();
    let path = cfg.to_str().unwrap();
    for by in ["output_similarity", "lookahead"] {
        let o = mtl(
            &["affinity", path, "--groups", "2", "--by", by, "--backend", "ndarray", "-q", "--overwrite"],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let groups: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("runs/blocks-affinity/groups.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(groups["by"], by);
        assert_eq!(groups["stable"], false, "{by}: {groups}");
        assert!(groups["stability"]["share"].as_f64().unwrap() < 0.8, "{by}: {groups}");
        assert!(stderr(&o).contains("warning: the partition is not stable"), "{by}: {}", stderr(&o));
    }
    for (args, needle) in [
        (vec!["--seeds", "0"], "--seeds must be at least 1"),
        (vec!["--steps", "0"], "--steps must be at least 1"),
        (vec!["--by", "gate_overlap"], "gate overlap needs a gated architecture"),
        (vec!["--by", "cosine"], "invalid value 'cosine'"),
    ] {
        let mut all = vec!["affinity", path, "--groups", "2", "--backend", "ndarray", "-q", "--overwrite"];
        if args[0] != "--seeds" {
            all.extend(["--seeds", "1"]);
        }
        all.extend(args);
        let o = mtl(&all, dir.path());
        assert_eq!(o.status.code(), Some(2), "{all:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{all:?}: {}", stderr(&o));
    }
}

#[test]
fn steps_bound_what_is_measured_and_epochs_alone_measure_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("blocks.toml");
    std::fs::write(&cfg, BLOCKS).unwrap();
    let path = cfg.to_str().unwrap();
    let lines = |dir: &std::path::Path| {
        let run = dir.join("runs/blocks-affinity");
        let steps = std::fs::read_to_string(run.join("affinity_steps.jsonl")).unwrap();
        let epochs = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().count();
        (steps.lines().count(), epochs)
    };
    let base = ["affinity", path, "--seeds", "1", "--backend", "ndarray", "-q", "--overwrite"];
    // 10 steps per epoch: --steps 13 trains 2 epochs and measures their first 13 steps.
    let o = mtl(&[&base[..], &["--steps", "13"]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(dir.path()), (13, 2));
    // --epochs alone: every step of them.
    let o = mtl(&[&base[..], &["--epochs", "1"]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(dir.path()), (10, 1));
    // Both: that many epochs, the first steps of them.
    let o = mtl(&[&base[..], &["--epochs", "2", "--steps", "4"]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lines(dir.path()), (4, 2));
}
