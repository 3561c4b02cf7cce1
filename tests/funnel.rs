//! The click → conversion funnel of the embedded generator, through the binary: it trains as
//! it is, and `mtl synth` writes its rows with the unobserved truth beside the observed labels,
//! so that a CSV run on the file sees the same labels (the conversion only where clicked).

mod common;

use common::{json, mtl, stderr, write_config};

const FUNNEL: &str = r#"
[run]
name = "funnel"
seed = 2

[data.synthetic]
samples = 2000
features = 6
correlation = 0.5

[data.synthetic.funnel]
click_rate = 0.25
conversion_rate = 0.1

[[tasks]]
name = "click"
kind = "binary"

[[tasks]]
name = "buy"
kind = "binary"

[model.encoder]
hidden = [8]

[train]
epochs = 1
batch_size = 100
"#;

/// Labelled samples of each task in the training split, as `mtl data --json` reports them.
fn labelled(config: &str, dir: &std::path::Path) -> Vec<u64> {
    let o = mtl(&["data", config, "--json"], dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tasks = v["tasks"].as_array().unwrap_or_else(|| panic!("{v}"));
    tasks.iter().map(|t| t["train"]["labelled"].as_u64().unwrap()).collect()
}

#[test]
fn a_funnel_trains_and_its_file_holds_the_truth_beside_the_observed_labels() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "funnel.toml", FUNNEL);
    let config = config.to_str().unwrap();
    let run = dir.path().join("run");
    let o = mtl(
        &["train", config, "--out", run.to_str().unwrap(), "--quiet", "--backend", "ndarray"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(json(&run.join("summary.json"))["test"]["buy"]["auc"].is_number());

    let o = mtl(&["synth", config, "--out", "f.csv"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("f.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[6..], ["click", "buy", "buy_true", "p_click", "p_buy"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2000);
    for r in &rows {
        // The conversion is observed (and equal to the truth) exactly where clicked.
        assert_eq!(r[7], if r[6] == "1" { r[8] } else { "" }, "{r:?}");
        let p: f64 = r[10].parse().unwrap();
        assert!(p > 0.0 && p < 1.0);
    }
    let mean = |k: usize| rows.iter().map(|r| r[k].parse::<f64>().unwrap()).sum::<f64>() / 2000.0;
    assert!((mean(9) - 0.25).abs() < 1e-4 && (mean(10) - 0.1).abs() < 1e-4, "the rates are the means");

    // Trained from the file: the same labelled counts as the embedded run.
    let csv = FUNNEL.replace(
        "[data.synthetic]\nsamples = 2000\nfeatures = 6\ncorrelation = 0.5\n\n[data.synthetic.funnel]\nclick_rate = 0.25\nconversion_rate = 0.1\n",
        "[data]\nsource = \"csv\"\n\n[data.csv]\ntrain = \"f.csv\"\nnumeric = [\"x*\"]\n",
    );
    assert_ne!(csv, FUNNEL);
    let csv = write_config(dir.path(), "csv.toml", &csv);
    let (embedded, from_file) = (labelled(config, dir.path()), labelled(csv.to_str().unwrap(), dir.path()));
    assert_eq!(embedded, from_file);
    assert!(embedded[1] < embedded[0] / 2, "conversions are labelled on clicks only: {embedded:?}");
}

#[test]
fn a_funnel_needs_two_binary_tasks_and_rates_in_0_1() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, needle) in [
        ("kind = \"binary\"\n\n[model", "kind = \"regression\"\n\n[model", "data.synthetic.funnel"),
        ("click_rate = 0.25", "click_rate = 1.5", "data.synthetic.funnel.click_rate"),
    ] {
        let config = write_config(dir.path(), "bad.toml", &FUNNEL.replace(from, to));
        let o = mtl(&["check", config.to_str().unwrap()], dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{needle}: {}", stderr(&o));
    }
}
