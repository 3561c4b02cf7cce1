//! The `mtl` binary end to end: exit codes and messages for bad input, and a short training
//! run on the ndarray backend.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{mtl, repo, stderr, stdout};
use mtl_data::idx::encode_idx as idx_bytes;

const TINY: &str = r#"
[run]
name = "tiny"
seed = 3

[data.synthetic]
samples = 400
features = 8

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[model.encoder]
hidden = [16]

[model.head]
hidden = [8]

[train]
epochs = 3
batch_size = 50
lr = 5e-3
"#;

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(&path, format!("{TINY}{extra}")).unwrap();
    path
}

#[test]
fn unknown_key_exits_2_naming_key_line_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "batch_sise = 4\n");
    let o = mtl(&["check", cfg.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    let line = format!("c.toml line {}", TINY.lines().count() + 1);
    assert!(e.contains(&line) && e.contains("train") && e.contains("did you mean `batch_size`?"), "{e}");
}

#[test]
fn wrong_type_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(&["check", cfg.to_str().unwrap(), "--set", "train.epochs=\"many\""], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("train.epochs") && e.contains("invalid type"), "{e}");
}

#[test]
fn missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = mtl(&["train", "nope.toml", "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read config file `nope.toml`"), "{}", stderr(&o));
}

#[test]
fn bad_value_exits_2_saying_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(&["check", cfg.to_str().unwrap(), "--set", "data.synthetic.correlation=1.5"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("data.synthetic.correlation") && e.contains("[0, 1]"), "{e}");
    let o = mtl(&["check", cfg.to_str().unwrap(), "--set", "train.optimizer=adma"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("did you mean `adam`?"), "{}", stderr(&o));
}

#[test]
fn shipped_configs_pass_check() {
    // `mtl check` loads the data as a training would: a data folder with the CSV fixtures and
    // tiny IDX image sets under the names the shipped configs use (a fresh clone has no
    // ../shared/data).
    let data = tempfile::tempdir().unwrap();
    let adult = data.path().join("uci-adult");
    std::fs::create_dir_all(&adult).unwrap();
    for e in std::fs::read_dir(repo().join("tests/fixtures/uci-adult")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), adult.join(e.file_name())).unwrap();
    }
    let n = 40u32;
    let pixels: Vec<u8> = (0..n as usize * 784).map(|i| ((i * 7) % 256) as u8).collect();
    let labels: Vec<u8> = (0..n as u8).map(|i| i % 10).collect();
    for set in ["mnist", "fashion-mnist"] {
        let d = data.path().join(set);
        std::fs::create_dir_all(&d).unwrap();
        for split in ["train", "t10k"] {
            std::fs::write(d.join(format!("{split}-images-idx3-ubyte")), idx_bytes(&[n, 28, 28], &pixels))
                .unwrap();
            std::fs::write(d.join(format!("{split}-labels-idx1-ubyte")), idx_bytes(&[n], &labels)).unwrap();
        }
    }
    // Generator configs with id columns feed `mtl synth`; the configs that train on its file
    // (`train = "clicks.parquet"`) read a small one.
    let clicks = data.path().join("clicks.parquet");
    let o = Command::new(env!("CARGO_BIN_EXE_mtl"))
        .args(["synth", "configs/clicklog/synth.toml", "--rows", "3000", "--out", clicks.to_str().unwrap()])
        .current_dir(repo())
        .output()
        .expect("mtl runs");
    assert!(o.status.success(), "mtl synth: {}", stderr(&o));
    let mut checked = 0;
    let mut folders = vec![repo().join("configs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("id_features") {
                    continue; // a `mtl synth` generator, run above
                }
                let mut args = vec!["check".to_string(), path.to_str().unwrap().to_string()];
                if text.contains("train = \"clicks.parquet\"") {
                    args.extend(["--set".into(), format!("data.csv.train={:?}", clicks.to_str().unwrap())]);
                }
                let o = Command::new(env!("CARGO_BIN_EXE_mtl"))
                    .args(&args)
                    .current_dir(repo())
                    .env("MTL_DATA_DIR", data.path())
                    .output()
                    .expect("mtl runs");
                assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "the quickstart and the MMoE-paper configs");
}

#[test]
fn gated_architecture_trains_logs_gates_and_round_trips_through_eval_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let set = ["--set", "model.architecture=\"ple\"", "--set", "model.encoder.hidden=[8, 8]"];
    let mut args = vec!["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q"];
    args.extend(set);
    let o = mtl(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/tiny");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["architecture"], "ple (mlp)");
    // PLE's last-level gate of task a: 2 shared experts and 1 own, summing to 1.
    let gates = summary["gates"]["a"].as_object().unwrap();
    assert_eq!(gates.keys().collect::<Vec<_>>(), vec!["own1", "shared1", "shared2"]);
    assert!((gates.values().map(|v| v.as_f64().unwrap()).sum::<f64>() - 1.0).abs() < 1e-5);
    assert!(run.join("plots/gates.svg").exists());
    let o = mtl(&["eval", run.to_str().unwrap(), "--backend", "ndarray", "--json"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (a, b) = (eval["metrics"]["a"]["r2"].as_f64().unwrap(), summary["test"]["a"]["r2"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    let o = mtl(&["export", run.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));

    // A setting the architecture cannot take exits 2 naming its key.
    let o = mtl(
        &[
            "check",
            cfg.to_str().unwrap(),
            "--set",
            "model.architecture=\"ple\"",
            "--set",
            "model.ple.levels=5",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("model.ple.levels"), "{}", stderr(&o));
}

#[test]
fn train_writes_a_run_folder_and_resume_of_a_finished_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "--quiet"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/tiny");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert!(summary["test"]["a"]["r2"].is_number());
    assert_eq!(std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().count(), 3);

    // Training into the same folder again is refused with a hint.
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "--quiet"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));

    // Resuming with more epochs continues from the last checkpoint.
    let o = mtl(
        &[
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--set",
            "train.epochs=4",
            "--backend",
            "ndarray",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().count(), 4);
    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(resolved.contains("epochs = 4"), "{resolved}");
}

#[test]
fn corrupt_checkpoint_on_resume_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    assert!(
        mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q"], dir.path()).status.success()
    );
    let run = dir.path().join("runs/tiny");
    std::fs::write(run.join("checkpoints/last/optim.bpk"), b"garbage").unwrap();
    let o = mtl(&["train", "--resume", run.to_str().unwrap(), "--backend", "ndarray", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("optim.bpk"), "{}", stderr(&o));
}

#[test]
fn diverging_loss_exits_1_and_leaves_no_partial_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(
        &[
            "train",
            cfg.to_str().unwrap(),
            "--backend",
            "ndarray",
            "-q",
            "--set",
            "train.optimizer=sgd",
            "--set",
            "train.lr=1e12",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("diverged at epoch 1") && e.contains("train.lr"), "{e}");
    let ckpt = dir.path().join("runs/tiny/checkpoints");
    assert!(!ckpt.exists() || std::fs::read_dir(&ckpt).unwrap().next().is_none());
}

#[test]
fn devices_lists_the_cpu_backends() {
    let o = mtl(&["devices"], &repo());
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("flex") && out.contains("ndarray") && out.contains("auto"), "{out}");
}

#[test]
fn eval_predict_export_and_plot_on_a_trained_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    assert!(
        mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q"], dir.path()).status.success()
    );
    let run = dir.path().join("runs/tiny");
    let run_s = run.to_str().unwrap();

    // eval --json reproduces summary.json's test metrics.
    let o = mtl(&["eval", run_s, "--backend", "ndarray", "--json"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    for (task, metric) in [("a", "r2"), ("b", "auc")] {
        let (a, b) = (
            eval["metrics"][task][metric].as_f64().unwrap(),
            summary["test"][task][metric].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "{task}.{metric}: {a} vs {b}");
    }

    // predict --split writes predictions beside labels; --input with a wrong header exits 2.
    let o = mtl(&["predict", run_s, "--split", "test", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(run.join("predictions/test.csv")).unwrap();
    assert!(csv.starts_with("a,a_label,b,b_prob,b_label\n"), "{csv}");
    assert_eq!(csv.lines().count(), 41, "header + 40 test rows");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "x0,x1,x2,x3,x4,x5,x6,label\n0,0,0,0,0,0,0,1\n").unwrap();
    let o = mtl(&["predict", run_s, "--input", bad.to_str().unwrap(), "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("bad.csv")
            && e.contains("missing column(s) `x7`")
            && e.contains("unexpected column(s) `label`"),
        "{e}"
    );

    // export writes safetensors and a description; plot redraws the curves.
    let o = mtl(&["export", run_s], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run.join("export/model.safetensors").exists() && run.join("export/model.json").exists());
    std::fs::remove_dir_all(run.join("plots")).unwrap();
    let o = mtl(&["plot", run_s], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    for plot in ["loss.svg", "metrics.svg", "weights.svg", "lr.svg"] {
        assert!(run.join("plots").join(plot).exists(), "{plot}");
    }

    // A folder that is not a run is refused.
    let o = mtl(&["eval", dir.path().to_str().unwrap(), "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a run folder"), "{}", stderr(&o));
}

#[test]
fn compare_runs_the_grid_with_baselines_and_skips_finished_cells() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let args = [
        "compare",
        cfg.to_str().unwrap(),
        "--methods",
        "ew,uw",
        "--seeds",
        "2",
        "--sweep",
        "data.synthetic.correlation=0.9,0.1",
        "--backend",
        "ndarray",
        "-q",
    ];
    let o = mtl(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("runs/compare-tiny");
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    // 2 sweep values × (stl + ew + uw), each over 2 seeds.
    assert_eq!(table.lines().filter(|l| l.contains("| hps | 2 |")).count(), 6, "{table}");
    assert!(table.contains("Δp % ↑") && table.contains("Δm % ↓") && table.contains("| stl |"), "{table}");
    assert!(table.contains("over a.mse, b.auc (lower is better)"), "the Δm metrics are named: {table}");
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 1 + 12, "{results}");
    assert!(out.join("plots/compare.svg").exists());
    // 2 sweep values × 2 seeds × 2 tasks baselines in the shared cache.
    assert_eq!(std::fs::read_dir(dir.path().join("runs/stl")).unwrap().count(), 8);

    // Re-running trains nothing: every cell's log is left as it was.
    let log = out.join("cells/ew-hps-correlation=0.9/seed-3/metrics.jsonl");
    let before = std::fs::metadata(&log).unwrap().modified().unwrap();
    let o = mtl(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&log).unwrap().modified().unwrap(), before);
    assert_eq!(std::fs::read_to_string(out.join("table.md")).unwrap(), table);

    // A bad method name is refused before anything trains.
    let o = mtl(
        &["compare", cfg.to_str().unwrap(), "--methods", "ew,nope", "--backend", "ndarray", "-q"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("weighting.method"), "{}", stderr(&o));
}

#[test]
fn single_task_writes_stl_json_and_train_then_reports_delta() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(&["train", cfg.to_str().unwrap(), "--single-task", "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let stl: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/tiny/stl.json")).unwrap()).unwrap();
    assert!(stl["a"]["test"]["r2"].is_number() && stl["b"]["valid"]["auc"].is_number(), "{stl}");
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q", "--overwrite"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/tiny/summary.json")).unwrap()).unwrap();
    // Δ is reported, but the selection depends on the config alone: the loss, as before the
    // baselines existed, so the same config picks the same epoch wherever it runs.
    assert_eq!(summary["monitor"], "loss");
    assert!(summary["delta"]["test"]["delta_m"].is_number(), "{summary}");
}

#[test]
fn multi_mnist_trains_on_a_tiny_idx_fixture_and_bad_idx_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let digits = dir.path().join("data/digits");
    std::fs::create_dir_all(&digits).unwrap();
    let n = 40u32;
    let pixels: Vec<u8> = (0..n as usize * 784).map(|i| ((i * 7) % 256) as u8).collect();
    let labels: Vec<u8> = (0..n as u8).map(|i| i % 10).collect();
    for split in ["train", "t10k"] {
        std::fs::write(digits.join(format!("{split}-images-idx3-ubyte")), idx_bytes(&[n, 28, 28], &pixels))
            .unwrap();
        std::fs::write(digits.join(format!("{split}-labels-idx1-ubyte")), idx_bytes(&[n], &labels)).unwrap();
    }
    let cfg = dir.path().join("mm.toml");
    let text = std::fs::read_to_string(repo().join("configs/multi-mnist.toml")).unwrap();
    std::fs::write(&cfg, text).unwrap();
    let set = |extra: &[&str]| {
        let mut a = vec![
            "train",
            cfg.to_str().unwrap(),
            "--backend",
            "ndarray",
            "-q",
            "--set",
            "data.multi_mnist.dir=\"data\"",
            "--set",
            "data.multi_mnist.left=\"digits\"",
            "--set",
            "data.multi_mnist.right=\"digits\"",
            "--set",
            "train.epochs=1",
            "--set",
            "data.split.valid=0.25",
            "--set",
            "data.split.train=0.75",
        ];
        a.extend_from_slice(extra);
        mtl(&a, dir.path())
    };
    let o = set(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/multi-mnist/summary.json")).unwrap())
            .unwrap();
    assert!(summary["test"]["left"]["accuracy"].as_f64().is_some());

    // A truncated images file: exit 2, naming the file and what is wrong.
    std::fs::write(digits.join("train-images-idx3-ubyte"), &idx_bytes(&[n, 28, 28], &pixels)[..1000])
        .unwrap();
    let o = set(&["--overwrite"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated"), "{e}");
    // A labels file with the images' magic number.
    std::fs::write(digits.join("train-images-idx3-ubyte"), idx_bytes(&[n, 28, 28], &pixels)).unwrap();
    std::fs::write(digits.join("train-labels-idx1-ubyte"), idx_bytes(&[n, 1, 1], &labels)).unwrap();
    let o = set(&["--overwrite"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("magic number 0x00000803, expected 0x00000801"), "{}", stderr(&o));
    // Missing folder.
    let o = set(&["--overwrite", "--set", "data.multi_mnist.left=\"nowhere\""]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nowhere") && stderr(&o).contains("MTL_DATA_DIR"), "{}", stderr(&o));
}

#[test]
fn data_describes_each_task_and_split_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(&["data", cfg.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("8 input features\n"), "{text}");
    assert!(
        text.contains("b                binary       train       320       320     0.0%  52% 48%"),
        "{text}"
    );
    let o = mtl(&["data", cfg.to_str().unwrap(), "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let a = &json["tasks"][0];
    assert_eq!((a["task"].as_str(), a["test"]["samples"].as_u64()), (Some("a"), Some(40)));
    assert!(a["train"]["std"].as_f64().unwrap() > 0.0);
    assert_eq!(json["tasks"][1]["valid"]["class_counts"].as_array().unwrap().len(), 2);
    assert!(json["warnings"].as_array().unwrap().is_empty());
    // A config error exits 2 like every other command.
    let o = mtl(&["data", cfg.to_str().unwrap(), "--set", "data.synthetic.correlation=3"], dir.path());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn multilabel_task_trains_and_predicts_label_sets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("name = \"b\"\nkind = \"binary\"", "name = \"b\"\nkind = \"multilabel\"\nclasses = 3");
    std::fs::write(&cfg, text).unwrap();
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("runs/tiny");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    for m in ["accuracy", "auc", "f1"] {
        let v = summary["test"]["b"][m].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{m} = {v}");
    }
    let o = mtl(&["predict", run.to_str().unwrap(), "--split", "test", "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(run.join("predictions/test.csv")).unwrap();
    let header = out.lines().next().unwrap();
    assert!(header.ends_with("b,b_prob_0,b_prob_1,b_prob_2,b_label"), "{header}");
    // Nested synthetic labels: every true set is a prefix {}, {0}, {0;1} or {0;1;2}.
    let sets: std::collections::BTreeSet<String> =
        out.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().to_string()).collect();
    assert!(sets.iter().all(|s| ["", "0", "0;1", "0;1;2"].contains(&s.as_str())), "{sets:?}");
}

#[test]
fn compare_of_a_one_task_config_has_no_single_task_row() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let o = mtl(
        &[
            "compare",
            cfg.to_str().unwrap(),
            "--methods",
            "ew,uw",
            "--set",
            "run.tasks=[\"a\"]",
            "--backend",
            "ndarray",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = std::fs::read_to_string(dir.path().join("runs/compare-tiny/table.md")).unwrap();
    assert!(!table.contains("| stl |") && table.contains("| ew |") && table.contains("| uw |"), "{table}");
    assert!(!table.contains("Δm % ↓:"), "no Δ legend without baselines: {table}");
    assert!(!dir.path().join("runs/stl").exists(), "no baseline trained");
}

#[test]
fn compare_of_many_tasks_writes_a_compact_table_of_per_kind_means_beside_the_full_one() {
    let dir = tempfile::tempdir().unwrap();
    let extra: String = ["c", "d", "e"]
        .iter()
        .map(|n| format!("[[tasks]]\nname = \"{n}\"\nkind = \"regression\"\n"))
        .collect();
    let cfg = write_config(dir.path(), &extra);
    let o = mtl(
        &["compare", cfg.to_str().unwrap(), "--methods", "ew", "--no-stl", "--backend", "ndarray", "-q"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("runs/compare-tiny");
    let compact = std::fs::read_to_string(out.join("table.md")).unwrap();
    let full = std::fs::read_to_string(out.join("table-full.md")).unwrap();
    assert!(compact.contains("mean mse (4 tasks)") && compact.contains("mean r2 (4 tasks)"), "{compact}");
    assert!(
        !compact.contains("a.mse") && !compact.contains("mean auc"),
        "one binary task has no mean: {compact}"
    );
    assert!(
        full.contains("a.mse") && full.contains("b.auc") && full.contains("mean mse (4 tasks)"),
        "{full}"
    );
    // The mean is the mean of the four tasks' values of the run (one seed).
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = results.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let value = |c: &str| row[header.iter().position(|h| *h == c).unwrap()].parse::<f64>().unwrap();
    let want = ["a", "c", "d", "e"].iter().map(|t| value(&format!("{t}.mse"))).sum::<f64>() / 4.0;
    let ew = compact.lines().find(|l| l.starts_with("| ew |")).unwrap();
    let got: f64 = ew.split('|').nth(4).unwrap().trim().parse().unwrap();
    assert!((got - want).abs() < 1e-4, "{got} vs {want}: {ew}");
}

#[test]
fn nash_mtl_steps_without_a_solution_are_counted_and_said() {
    // Task b is labelled on 10 of 120 rows, so most batches of 8 hold none of its labels: its
    // gradient is zero, 0 lies in the hull of the task gradients and Nash-MTL has no weights
    // for that step. The run goes on with the previous weights and says how often.
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x1,x2,a,b\n");
    for i in 0..120 {
        let (x1, x2) = ((i % 7) as f64 / 7.0, (i % 5) as f64 / 5.0);
        let b = if i < 10 { format!("{:.3}", x1 - x2) } else { "?".into() };
        csv.push_str(&format!("{x1},{x2},{:.3},{b}\n", x1 + x2));
    }
    std::fs::write(dir.path().join("train.csv"), csv).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        r#"
[run]
name = "sparse"

[data]
source = "csv"

[data.csv]
train = "train.csv"
missing = ["?"]
numeric = ["x1", "x2"]

[data.split]
train = 0.75
valid = 0.25
test = 0.0

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "regression"

[model.encoder]
kind = "tabular"
hidden = [8]

[weighting]
method = "nash_mtl"

[train]
epochs = 2
batch_size = 8
"#,
    )
    .unwrap();
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(dir.path().join("runs/sparse/metrics.jsonl")).unwrap();
    let reused: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["train"]["reused_weight_steps"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(reused.iter().all(|n| *n > 0 && *n <= 12), "{reused:?}");
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(said.contains(&format!("nash_mtl: {} of 12 steps found no weights", reused[0])), "{said}");
}

/// A build without the `mpi` feature started by an MPI launcher refuses (every copy would train
/// the whole model alone into one folder) and says how to build one that can.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_under_mpirun_refuses_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mtl"))
        .args(["devices"])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--features mpi"), "{}", stderr(&o));
    // One process under the launcher is one process.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mtl"))
        .args(["devices"])
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `train.parts` in one process computes each batch in fixed parts (the layout that makes
/// data-parallel runs independent of the process count): the same training up to f32 rounding
/// of the sums, on every route; and a count larger than the batch is refused naming the key.
#[test]
fn fixed_parts_in_one_process_match_whole_batches_to_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let metrics = |run: &str, sets: &[&str]| -> serde_json::Value {
        let out = dir.path().join(run);
        let mut args = vec!["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend(["--backend", "ndarray", "-q", "--set", "train.epochs=1"]);
        sets.iter().for_each(|s| args.extend(["--set", s]));
        let o = mtl(&args, dir.path());
        assert!(o.status.success(), "{run}: {}", stderr(&o));
        common::json(&out.join("summary.json"))["test"].clone()
    };
    for (method, route) in [("uw", "losses"), ("mgda", "representation"), ("pcgrad", "parameters")] {
        let m = format!("weighting.method=\"{method}\"");
        let r = format!("weighting.gradients=\"{route}\"");
        let whole = metrics(&format!("{method}-whole"), &[&m, &r]);
        let parts = metrics(&format!("{method}-parts"), &[&m, &r, "train.parts=3"]);
        for (task, values) in whole.as_object().unwrap() {
            for (name, x) in values.as_object().unwrap() {
                let (x, y) = (x.as_f64().unwrap(), parts[task][name].as_f64().unwrap());
                assert!((x - y).abs() <= 1e-4 * x.abs().max(1e-3), "{method}: {task}.{name} {x} vs {y}");
            }
        }
    }
    let out = dir.path().join("bad");
    let args = ["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--set", "train.parts=51"];
    let o = mtl(&args, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("train.parts"), "{}", stderr(&o));
}

#[test]
fn a_closed_standard_output_ends_the_command_quietly() {
    // `mtl data CONFIG | head -1`: the reader is gone before the command prints.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_mtl"))
        .args(["data", config.to_str().unwrap(), "--json"])
        .current_dir(dir.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(141), "128 + SIGPIPE, as the shell reports a stopped tool");
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}
