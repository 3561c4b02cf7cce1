//! The golden gate: a few fixed configs trained through the binary on ndarray must reproduce
//! the `summary.json`, every `metrics.jsonl` line (and `steps.jsonl` / `affinity.json` where a
//! case writes them) recorded from the code before the trainer's redesign, to the last
//! printed digit. Timing fields and the run folder's path are left out of the comparison.
//!
//! The recorded outputs live in `tests/fixtures/golden/<case>/`. After a change that is meant
//! to change the numbers, re-record them with `MTL_BLESS=1 cargo test --test golden` and say
//! why in the commit.
//!
//! Exact equality holds for the same binary on the same kind of CPU (ndarray's matrix kernels
//! are chosen by CPU features at run time); CI runs on the developers' kind of machine.

mod common;

use std::path::{Path, PathBuf};

use common::{mtl_env, repo, stderr};
use serde_json::Value;

/// Keys whose values are wall-clock timings (anywhere in a JSON document).
const TIMING_KEYS: &[&str] = &["wall_s", "train_s", "seconds"];

/// One recorded case: a config, its overrides, and an optional resume step.
struct Case {
    name: &'static str,
    config: ConfigSource,
    set: &'static [&'static str],
    /// Train with these overrides first, then `--resume` with `set` (the resumed run must end
    /// exactly where an uninterrupted one would).
    first_leg: Option<&'static [&'static str]>,
    /// Extra files of the run folder to compare, besides `summary.json` and `metrics.jsonl`.
    extra: &'static [&'static str],
}

enum ConfigSource {
    /// A config of the repository, relative to its root.
    Repo(&'static str),
    /// An inline config written into the case's folder.
    Inline(&'static str),
}

const PCGRAD_PARAMETERS: &str = r#"
[run]
name = "pcgrad-parameters"
seed = 7

[data.synthetic]
samples = 600
features = 12
correlation = 0.5

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[[tasks]]
name = "c"
kind = "regression"

[model.encoder]
hidden = [24, 16]
dropout = 0.1

[model.head]
hidden = [8]

[weighting]
method = "pcgrad"
gradients = "parameters"
log_steps = true

[train]
epochs = 3
batch_size = 64
lr = 3e-3
clip_grad_norm = 1.0

[train.schedule]
kind = "cosine"
warmup_epochs = 0.5

[affinity]
every = 4
"#;

const MMOE_REPRESENTATION: &str = r#"
[run]
name = "mmoe-representation"
seed = 11

[data.synthetic]
samples = 600
features = 10
correlation = 0.3

[[tasks]]
name = "r"
kind = "regression"

[[tasks]]
name = "m"
kind = "multiclass"
classes = 3

[model]
architecture = "mmoe"

[model.encoder]
hidden = [12]

[model.experts]
count = 3

[model.head]
hidden = [6]

[weighting]
method = "mgda"
gradients = "representation"

[train]
epochs = 4
batch_size = 50
optimizer = "adamw"
lr = 5e-3
weight_decay = 0.01
monitor = "m.accuracy"

[train.schedule]
kind = "plateau"
patience = 0
factor = 0.5

[train.early_stopping]
patience = 2
"#;

const CSV_MISSING: &str = r#"
[run]
name = "csv-missing"
seed = 5

[data]
source = "csv"

[data.csv]
train = "train.csv"
test = "test.csv"
missing = ["?"]
numeric = ["x1", "x2"]
categorical = ["color"]

[data.split]
train = 0.8
valid = 0.2
test = 0.0

[[tasks]]
name = "score"
kind = "regression"

[[tasks]]
name = "clicked"
kind = "binary"
positive = "yes"
class_weights = "balanced"

[[tasks]]
name = "band"
kind = "multiclass"
labels = "infer"

[model.encoder]
kind = "tabular"
hidden = [16]

[model.head]
hidden = [8]

[weighting]
method = "dwa"

[train]
epochs = 4
batch_size = 32
lr = 1e-2
optimizer = "sgd"
momentum = 0.9
"#;

const RESUMED: &str = r#"
[run]
name = "resumed"
seed = 3

[data.synthetic]
samples = 500
features = 8

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[model]
architecture = "cgc"

[model.encoder]
hidden = [12]

[model.experts]
shared = 2
per_task = 1

[model.head]
hidden = [6]

[weighting]
method = "famo"

[train]
batch_size = 40
lr = 4e-3

[train.schedule]
kind = "step"
step_epochs = 2
gamma = 0.5
"#;

const CASES: &[Case] = &[
    Case {
        name: "quickstart",
        config: ConfigSource::Repo("configs/quickstart.toml"),
        set: &["data.synthetic.samples=1500", "train.epochs=3"],
        first_leg: None,
        extra: &[],
    },
    Case {
        name: "pcgrad-parameters",
        config: ConfigSource::Inline(PCGRAD_PARAMETERS),
        set: &[],
        first_leg: None,
        extra: &["steps.jsonl", "affinity.json"],
    },
    Case {
        name: "mmoe-representation",
        config: ConfigSource::Inline(MMOE_REPRESENTATION),
        set: &[],
        first_leg: None,
        extra: &[],
    },
    Case {
        name: "csv-missing",
        config: ConfigSource::Inline(CSV_MISSING),
        set: &[],
        first_leg: None,
        extra: &["inputs.json"],
    },
    Case {
        name: "resumed",
        config: ConfigSource::Inline(RESUMED),
        set: &["train.epochs=5"],
        first_leg: Some(&["train.epochs=2"]),
        extra: &[],
    },
];

fn fixture_dir(case: &str) -> PathBuf {
    repo().join("tests/fixtures/golden").join(case)
}

/// Train `case` in a fresh folder, with `more` overrides on every leg; returns the run folder.
fn run_case(case: &Case, work: &Path, more: &[&str]) -> PathBuf {
    let data = repo().join("tests/fixtures/golden");
    for f in ["train.csv", "test.csv"] {
        std::fs::copy(data.join(f), work.join(f)).unwrap();
    }
    let config = match case.config {
        ConfigSource::Repo(p) => repo().join(p),
        ConfigSource::Inline(text) => {
            let p = work.join("config.toml");
            std::fs::write(&p, text).unwrap();
            p
        }
    };
    let run = work.join("run");
    let train = |sets: &[&str], resume: bool| {
        let mut args: Vec<String> = if resume {
            vec!["train".into(), "--resume".into(), run.display().to_string()]
        } else {
            vec!["train".into(), config.display().to_string(), "--out".into(), run.display().to_string()]
        };
        args.extend(["--backend", "ndarray", "--quiet"].map(String::from));
        for s in sets.iter().chain(more) {
            args.extend(["--set".to_string(), s.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = mtl_env(&args, work, None);
        assert!(o.status.success(), "{}: {}", case.name, stderr(&o));
    };
    match case.first_leg {
        Some(first) => {
            train(first, false);
            train(case.set, true);
        }
        None => train(case.set, false),
    }
    run
}

/// A JSON document with timing fields removed and the run folder's path replaced.
fn normalise(mut v: Value, run: &Path) -> Value {
    fn walk(v: &mut Value, run: &str) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !TIMING_KEYS.contains(&k.as_str()));
                m.values_mut().for_each(|x| walk(x, run));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, run)),
            Value::String(s) if s.contains(run) => *s = s.replace(run, "<run>"),
            _ => {}
        }
    }
    walk(&mut v, &run.display().to_string());
    v
}

/// The documents of a run file: one per line for `.jsonl`, else the whole file.
fn documents(path: &Path, run: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parse = |s: &str| normalise(serde_json::from_str(s).unwrap(), run);
    if path.extension().is_some_and(|e| e == "jsonl") {
        text.lines().filter(|l| !l.trim().is_empty()).map(parse).collect()
    } else {
        vec![parse(&text)]
    }
}

fn render(docs: &[Value]) -> String {
    docs.iter().map(|d| serde_json::to_string(d).unwrap() + "\n").collect()
}

/// Where two documents first differ, as a JSON path with both values.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, format!("{path}.{k}")),
                (p, q) => Some(format!("{path}.{k}: recorded {p:?}, now {q:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, format!("{path}[{i}]")))
        }
        _ => (a != b).then(|| format!("{path}: recorded {a}, now {b}")),
    }
}

fn check_case(case: &Case) {
    check_case_with(case, &[]);
}

/// [`check_case`] with `more` overrides, which must not change any number (nor blessed).
fn check_case_with(case: &Case, more: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let run = run_case(case, work.path(), more);
    let files = ["summary.json", "metrics.jsonl"].iter().chain(case.extra);
    let bless = std::env::var_os("MTL_BLESS").is_some() && more.is_empty();
    for file in files {
        let now = documents(&run.join(file), &run);
        let recorded_path = fixture_dir(case.name).join(file).with_extension(if file.ends_with(".jsonl") {
            "jsonl"
        } else {
            "json"
        });
        if bless {
            std::fs::create_dir_all(fixture_dir(case.name)).unwrap();
            std::fs::write(&recorded_path, render(&now)).unwrap();
            continue;
        }
        let recorded: Vec<Value> = std::fs::read_to_string(&recorded_path)
            .unwrap_or_else(|e| panic!("{}: {e}; record it with MTL_BLESS=1", recorded_path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            recorded.len(),
            now.len(),
            "{}/{file}: {} documents recorded, {} now",
            case.name,
            recorded.len(),
            now.len()
        );
        for (i, (r, n)) in recorded.iter().zip(&now).enumerate() {
            if let Some(d) = first_difference(r, n, String::new()) {
                panic!("{}/{file} document {}: {d}", case.name, i + 1);
            }
        }
    }
}

#[test]
fn golden_quickstart() {
    check_case(&CASES[0]);
}

#[test]
fn golden_gradient_method_on_the_parameter_route() {
    check_case(&CASES[1]);
}

#[test]
fn golden_mmoe_with_a_representation_route_method() {
    check_case(&CASES[2]);
}

#[test]
fn golden_csv_with_missing_labels() {
    check_case(&CASES[3]);
}

#[test]
fn golden_resumed_run() {
    check_case(&CASES[4]);
}

// Where the batches are formed (`train.device_data`) changes speed, never a number: the same
// recorded outputs come from batches gathered on the host between steps (the default on the
// CPU backends), by a prefetching thread, and selected on the device from the resident
// training data.

#[test]
fn host_gathered_batches_reproduce_the_golden_runs() {
    for case in &CASES[..2] {
        check_case_with(case, &["train.device_data=\"host\""]);
    }
}

#[test]
fn prefetched_batches_reproduce_the_golden_runs() {
    for case in &CASES[2..] {
        check_case_with(case, &["train.device_data=\"prefetch\""]);
    }
}

#[test]
fn resident_batches_reproduce_the_golden_runs() {
    for case in CASES.iter() {
        // A budget of 0 MiB does not stop an explicit "resident".
        check_case_with(case, &["train.device_data=\"resident\"", "train.device_data_budget_mb=0"]);
    }
}
