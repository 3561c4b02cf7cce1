//! Data-parallel training under `mpirun` (feature `mpi`): two processes train the model one
//! process trains, the job stops cleanly when a rank dies or disagrees, and a killed job
//! resumes to the uninterrupted result.
//!
//! Run with `cargo test --features mpi --test parallel` on a machine with Open MPI (CI does;
//! the tests are skipped with a message when `mpirun` is missing).
//!
//! Tolerance. Two processes compute every step's sums in another order than one process (each
//! rank sums its half of the batch, MPI adds the halves), so values agree to f32 rounding
//! (≈ 6e-8 relative per operation), not bit for bit. One epoch of Adam on the quickstart model
//! moves the parameters 1e-7 apart (relative L2; 3.6e-9 with SGD). The tests ask for ≤ 1e-5
//! relative after an epoch: a bug in a reduction (a missing or doubled rank, a per-rank mean
//! instead of the global one, a label count taken per rank) moves them by 1e-3 or more.
#![cfg(feature = "mpi")]
#![allow(deprecated)] // burn-ndarray, the reference backend of the tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use common::{stderr, write_config};
use mtl_train::backend::{BackendChoice, select_device};
use mtl_train::runs::{CheckpointChoice, open_run};

fn mpirun_available() -> bool {
    let found = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("mpirun not found: skipping the data-parallel tests (install openmpi-bin)");
    }
    found
}

fn mpirun(np: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "--allow-run-as-root", "-np", &np.to_string()]);
    c
}

/// A two-rank MPMD job: rank 0 runs `rank0`, rank 1 runs `rank1` (each a program and its
/// arguments), in `cwd`.
fn mpmd<S: AsRef<std::ffi::OsStr>>(rank0: &[S], rank1: &[S], cwd: &Path) -> Output {
    let mut c = mpirun(1);
    c.args(rank0).args([":", "-np", "1"]).args(rank1).current_dir(cwd);
    c.output().expect("mpirun runs")
}

/// `mtl train CONFIG --out OUT` on `np` processes (one process without mpirun), ndarray.
fn train(np: usize, config: &Path, out: &Path, sets: &[&str]) -> Output {
    let mut c = if np == 1 { Command::new(env!("CARGO_BIN_EXE_mtl")) } else { mpirun(np) };
    if np > 1 {
        c.arg(env!("CARGO_BIN_EXE_mtl"));
    }
    c.args([
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "ndarray",
        "--quiet",
    ]);
    for s in sets {
        c.args(["--set", s]);
    }
    // Relative data paths in a config are read from its folder.
    c.current_dir(config.parent().unwrap());
    c.env_remove("MTL_DATA_DIR").env("RAYON_NUM_THREADS", "1").output().expect("runs")
}

struct Values(Vec<f32>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(param.val().into_data().convert::<f32>().to_vec::<f32>().unwrap());
    }
}

/// Every parameter of the run's `last` checkpoint, in traversal order.
fn parameters(run: &Path) -> Vec<f32> {
    let device = select_device(BackendChoice::Ndarray, None).unwrap();
    let opened = open_run(run, CheckpointChoice::Last, &device).unwrap();
    let mut v = Values(Vec::new());
    opened.model.visit(&mut v);
    v.0
}

fn relative_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let den: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn summary(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

/// The test metrics of two summaries agree to `tol` (relative).
fn same_test_metrics(a: &serde_json::Value, b: &serde_json::Value, tol: f64) {
    let (a, b) = (a["test"].as_object().unwrap(), b["test"].as_object().unwrap());
    for (task, metrics) in a {
        for (name, x) in metrics.as_object().unwrap() {
            let (x, y) = (x.as_f64().unwrap(), b[task][name].as_f64().unwrap());
            assert!((x - y).abs() <= tol * x.abs().max(1e-3), "test {task}.{name}: {x} vs {y}");
        }
    }
}

/// Train `config` on 1 and on 2 processes; the parameters agree to 1e-5.
fn one_and_two_agree(name: &str, config: &str, sets: &[&str]) -> (PathBuf, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = agree_in(dir.path(), name, config, sets);
    (one, two, dir)
}

/// [`one_and_two_agree`] in `dir` (where the config's data files are); returns both run folders.
fn agree_in(dir: &Path, name: &str, config: &str, sets: &[&str]) -> (PathBuf, PathBuf) {
    let cfg = write_config(dir, &format!("{name}.toml"), config);
    let (one, two) = (dir.join("one"), dir.join("two"));
    let o = train(1, &cfg, &one, sets);
    assert!(o.status.success(), "{name}, 1 process: {}", stderr(&o));
    let o = train(2, &cfg, &two, sets);
    assert!(o.status.success(), "{name}, 2 processes: {}", stderr(&o));
    let d = relative_difference(&parameters(&one), &parameters(&two));
    eprintln!("{name}: 1 vs 2 processes, relative parameter difference {d:.2e}");
    assert!(d <= 1e-5, "{name}: parameters of 1 and 2 processes differ by {d:.2e} (relative L2)");
    (one, two)
}

const SYNTHETIC: &str = r#"
[run]
name = "p"
seed = 5

[data.synthetic]
samples = 600
features = 8

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "regression"

[[tasks]]
name = "c"
kind = "binary"

[model.encoder]
hidden = [16]

[model.head]
hidden = [8]

[train]
epochs = 1
batch_size = 37
lr = 3e-3
"#;

#[test]
fn quickstart_on_two_processes_gives_the_one_process_test_metrics() {
    if !mpirun_available() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(repo.join("configs/quickstart.toml")).unwrap();
    // Two epochs of 30 steps; uw (the quickstart's method) on the losses route.
    let sets = ["data.synthetic.samples=2400", "train.epochs=2"];
    let (one, two, _dir) = one_and_two_agree("quickstart", &config, &sets);
    same_test_metrics(&summary(&one), &summary(&two), 1e-4);
    // One run folder, written by rank 0 alone.
    assert!(two.join("summary.json").exists() && two.join("checkpoints/last").exists());
}

#[test]
fn equal_weights_on_the_losses_route() {
    if mpirun_available() {
        one_and_two_agree("ew", SYNTHETIC, &["weighting.method=\"ew\""]);
    }
}

#[test]
fn pcgrad_on_the_parameter_route() {
    // PCGrad's random projection order is drawn on every rank from the same stream.
    if mpirun_available() {
        one_and_two_agree(
            "pcgrad",
            SYNTHETIC,
            &["weighting.method=\"pcgrad\"", "weighting.gradients=\"parameters\""],
        );
    }
}

#[test]
fn the_representation_route_of_mmoe_by_gram_matrix_and_by_gathered_columns() {
    if !mpirun_available() {
        return;
    }
    // MGDA and CAGrad read the Gram matrix (the ranks sum theirs); GradDrop needs the matrix
    // itself (the ranks all-gather their columns).
    for method in ["mgda", "cagrad", "graddrop"] {
        let m = format!("weighting.method=\"{method}\"");
        let sets = [m.as_str(), "weighting.gradients=\"representation\"", "model.architecture=\"mmoe\""];
        one_and_two_agree(method, SYNTHETIC, &sets);
    }
}

#[test]
fn stateful_methods_stay_the_same_on_every_rank() {
    if !mpirun_available() {
        return;
    }
    // DWA (loss history), FAMO (its logits and the losses after each step), Nash-MTL (its last
    // weights) over three epochs: every rank must hold the same state or the per-epoch state
    // check stops the run.
    let sets = ["train.epochs=3"];
    for (method, route) in [("dwa", "losses"), ("famo", "losses"), ("nash_mtl", "parameters")] {
        let m = format!("weighting.method=\"{method}\"");
        let r = format!("weighting.gradients=\"{route}\"");
        one_and_two_agree(method, SYNTHETIC, &[&m, &r, sets[0]]);
    }
}

#[test]
fn a_streamed_table_on_two_processes_gives_the_one_process_run() {
    if !mpirun_available() {
        return;
    }
    // Every rank reads the whole stream and keeps its part of each global batch, so the split,
    // the order and the batches are those of one process (and, with a full buffer, of a run in
    // memory).
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("c,x1,x2,y,z\n");
    for i in 0..300u32 {
        let (x1, x2) = ((i * 37 % 101) as f32 / 50.0 - 1.0, (i * 53 % 97) as f32 / 48.0 - 1.0);
        text += &format!("k{},{x1},{x2},{},{}\n", i % 7, u32::from(x1 + x2 > 0.0), 2.0 * x1 - x2);
    }
    std::fs::write(dir.path().join("rows.csv"), text).unwrap();
    let config = r#"
[run]
name = "s"
seed = 2

[data]
source = "csv"

[data.csv]
train = "rows.csv"
numeric = ["x*"]
categorical = ["c"]
memory_budget = "0"
shuffle_buffer = 100

[[tasks]]
name = "y"
kind = "binary"

[[tasks]]
name = "z"
kind = "regression"

[model.encoder]
kind = "tabular"
hidden = [8]

[train]
epochs = 2
batch_size = 32
"#;
    let (one, two) = agree_in(dir.path(), "streamed", config, &[]);
    same_test_metrics(&summary(&one), &summary(&two), 1e-4);
}

#[test]
fn missing_labels_spread_unevenly_over_the_ranks() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Task `rare` is labelled on every seventh row only, so in a batch of 10 one rank often holds
    // all its labels and the other none: per-rank means would weigh them wrongly.
    let mut csv = String::from("x1,x2,color,score,rare\n");
    for i in 0..300 {
        let x1 = ((i * 37) % 101) as f32 / 50.0 - 1.0;
        let x2 = ((i * 53) % 97) as f32 / 48.0 - 1.0;
        let color = ["red", "green", "blue"][i % 3];
        let rare = if i % 7 == 0 { format!("{}", (x1 > 0.0) as u8) } else { String::new() };
        csv += &format!("{x1},{x2},{color},{},{rare}\n", x1 * 2.0 - x2);
    }
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let config = r#"
[run]
name = "csv"
seed = 2
[data]
source = "csv"
[data.csv]
train = "t.csv"
numeric = ["x1", "x2"]
categorical = ["color"]
[[tasks]]
name = "score"
kind = "regression"
[[tasks]]
name = "rare"
kind = "binary"
[model.encoder]
kind = "tabular"
hidden = [8]
[train]
epochs = 1
batch_size = 10
lr = 1e-2
"#;
    agree_in(dir.path(), "csv", config, &[]);
}

#[test]
fn multi_input_sampling_on_two_processes() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = |n: usize, label: &str, f: &dyn Fn(usize) -> String| {
        (0..n).fold(format!("x1,x2,c,{label}\n"), |a, i| {
            a + &format!("{},{},{},{}\n", i as f32 * 0.1, (i % 5) as f32, ["u", "v"][i % 2], f(i))
        })
    };
    std::fs::write(dir.path().join("a.csv"), rows(120, "ya", &|i| format!("{}", (i % 9) as f32 * 0.2)))
        .unwrap();
    std::fs::write(dir.path().join("b.csv"), rows(40, "yb", &|i| format!("{}", (i / 3) % 2))).unwrap();
    let config = r#"
[run]
name = "mi"
seed = 4
[data]
source = "csv"
sampling = "uniform"
[data.csv]
numeric = ["x1", "x2"]
categorical = ["c"]
[[tasks]]
name = "a"
kind = "regression"
column = "ya"
files = { train = "a.csv" }
[[tasks]]
name = "b"
kind = "binary"
column = "yb"
files = { train = "b.csv" }
[model.encoder]
kind = "tabular"
hidden = [8]
[train]
epochs = 2
batch_size = 16
drop_last = true
"#;
    agree_in(dir.path(), "mi", config, &[]);
}

#[test]
fn ranks_with_different_configs_exit_2_naming_the_difference() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let out = dir.path().join("run");
    let bin = env!("CARGO_BIN_EXE_mtl");
    let args = |lr: &str| -> Vec<String> {
        [
            bin,
            "train",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "ndarray",
            "--set",
            lr,
        ]
        .map(String::from)
        .to_vec()
    };
    // MPMD: rank 0 and rank 1 are started with different --set.
    let o = mpmd(&args("train.lr=0.001"), &args("train.lr=0.002"), dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("rank 1 of 2 read another config than rank 0"), "{err}");
    assert!(err.contains("lr = 0.001") && err.contains("lr = 0.002"), "{err}");
    // Nothing was trained.
    assert!(!out.join("checkpoints").exists());
}

#[test]
fn a_rank_that_fails_to_start_stops_the_job_with_its_exit_code() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let bin = env!("CARGO_BIN_EXE_mtl");
    let out = dir.path().join("run");
    let good = [bin, "train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "ndarray"];
    let bad = [bin, "train", "missing.toml", "--out", out.to_str().unwrap(), "--backend", "ndarray"];
    let started = Instant::now();
    let o = mpmd(&good, &bad, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("rank 1 of 2"), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(60), "the job took {:?} to stop", started.elapsed());
}

#[test]
fn a_killed_rank_ends_the_job_and_the_run_resumes_to_the_uninterrupted_result() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let sets = ["train.epochs=30", "data.synthetic.samples=3000"];
    let whole = dir.path().join("whole");
    let o = train(2, &cfg, &whole, &sets);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same job, killed (SIGKILL to rank 1) once a few epochs are checkpointed.
    let cut = dir.path().join("cut");
    let bin = env!("CARGO_BIN_EXE_mtl");
    let mut job = mpirun(2)
        .args([
            bin,
            "train",
            cfg.to_str().unwrap(),
            "--out",
            cut.to_str().unwrap(),
            "--backend",
            "ndarray",
            "--quiet",
        ])
        .args(sets.iter().flat_map(|s| ["--set", s]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let epochs_done =
        |dir: &Path| std::fs::read_to_string(dir.join("metrics.jsonl")).map_or(0, |t| t.lines().count());
    while epochs_done(&cut) < 3 {
        assert!(started.elapsed() < Duration::from_secs(120), "the job never reached epoch 3");
        assert!(job.try_wait().unwrap().is_none(), "the job ended before it was killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rank1 = rank_pid(job.id(), 1).expect("rank 1's process");
    let killed = Instant::now();
    Command::new("kill").args(["-9", &rank1.to_string()]).status().unwrap();
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "the job hangs after a rank was killed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a job with a killed rank must fail");
    eprintln!("job stopped {:?} after the kill", killed.elapsed());
    assert!(epochs_done(&cut) < 30, "the kill came too late to test anything");

    // Resume on two processes: the final metrics are the uninterrupted ones.
    let o = mpirun(2)
        .args([bin, "train", "--resume", cut.to_str().unwrap(), "--backend", "ndarray", "--quiet"])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "resume: {}", stderr(&o));
    // The same computations in the same order: bit for bit.
    assert_eq!(parameters(&whole), parameters(&cut), "resumed and uninterrupted runs differ");
    same_test_metrics(&summary(&whole), &summary(&cut), 0.0);
}

/// The pid of the `mtl` process of rank `rank` among the descendants of `launcher` (Open MPI
/// sets OMPI_COMM_WORLD_RANK in each).
fn rank_pid(launcher: u32, rank: usize) -> Option<u32> {
    let mut stack = vec![launcher];
    while let Some(pid) = stack.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            let env = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
            let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
            if env.split(|&b| b == 0).any(|kv| kv == wanted.as_bytes()) {
                return Some(child);
            }
            stack.push(child);
        }
    }
    None
}

#[test]
fn a_nan_on_the_ranks_stops_every_rank_with_exit_1() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let started = Instant::now();
    let o = train(2, &cfg, &dir.path().join("run"), &["train.optimizer=\"sgd\"", "train.lr=1e12"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("diverged at epoch 1"), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn with_dropout_and_a_random_method_the_ranks_stay_equal_and_runs_repeat() {
    if !mpirun_available() {
        return;
    }
    // Each rank draws its own dropout masks; PCGrad's random order must still be the same on
    // both ranks (else the per-epoch state check stops the run), and a second job with the same
    // seed and number of processes gives the same parameters bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let sets = [
        "model.encoder.dropout=0.2",
        "weighting.method=\"pcgrad\"",
        "weighting.gradients=\"parameters\"",
        "train.epochs=2",
    ];
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let o = train(2, &cfg, out, &sets);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(parameters(&a), parameters(&b));
}

#[test]
fn three_processes_with_uneven_parts_give_the_one_process_model() {
    if !mpirun_available() {
        return;
    }
    // A batch of 37 splits 13/12/12; the last batch of each epoch (600 · 0.8 = 480 = 12·37 + 36)
    // 12/12/12. MGDA on the representation of MMoE: three Gram matrices summed.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let sets = [
        "weighting.method=\"mgda\"",
        "weighting.gradients=\"representation\"",
        "model.architecture=\"mmoe\"",
    ];
    let (one, three) = (dir.path().join("one"), dir.path().join("three"));
    for (np, out) in [(1, &one), (3, &three)] {
        let o = train(np, &cfg, out, &sets);
        assert!(o.status.success(), "{np} process(es): {}", stderr(&o));
    }
    let d = relative_difference(&parameters(&one), &parameters(&three));
    assert!(d <= 1e-5, "1 vs 3 processes differ by {d:.2e}");
}

#[test]
fn fixed_parts_give_the_same_bits_on_one_two_and_four_processes() {
    if !mpirun_available() {
        return;
    }
    // `train.parts = 4`: every process count that divides 4 performs the same additions in the
    // same order, on every route (losses: EW, UW, FAMO; representation: MGDA through K, GradDrop
    // through the gathered matrix; parameters: PCGrad), with dropout too.
    let cases: [(&str, &str, &str, &str); 7] = [
        ("ew", "losses", "hps", "0.0"),
        ("uw", "losses", "hps", "0.0"),
        ("famo", "losses", "hps", "0.0"),
        ("mgda", "representation", "mmoe", "0.0"),
        ("graddrop", "representation", "mmoe", "0.0"),
        ("pcgrad", "parameters", "hps", "0.0"),
        ("pcgrad", "parameters", "hps", "0.3"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    for (method, route, architecture, dropout) in cases {
        let sets = [
            format!("weighting.method=\"{method}\""),
            format!("weighting.gradients=\"{route}\""),
            format!("model.architecture=\"{architecture}\""),
            format!("model.encoder.dropout={dropout}"),
            "train.parts=4".to_string(),
        ];
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let mut runs = Vec::new();
        for np in [1, 2, 4] {
            let out = dir.path().join(format!("{method}-{route}-{dropout}-{np}"));
            let o = train(np, &cfg, &out, &sets);
            assert!(o.status.success(), "{method} on {np} process(es): {}", stderr(&o));
            runs.push((np, parameters(&out), summary(&out)));
        }
        for (np, params, s) in &runs[1..] {
            assert!(
                *params == runs[0].1,
                "{method}/{route}, dropout {dropout}: {np} processes differ from 1"
            );
            assert_eq!(s["test"], runs[0].2["test"], "{method}/{route}: test metrics on {np} processes");
        }
    }
}

#[test]
fn parts_that_do_not_divide_among_the_processes_exit_2() {
    if !mpirun_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    let o = train(2, &cfg, &dir.path().join("run"), &["train.parts=3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("train.parts") && stderr(&o).contains("multiple of 2"), "{}", stderr(&o));
}

#[test]
fn every_way_of_forming_the_batches_gives_the_same_bits_on_two_processes() {
    if !mpirun_available() {
        return;
    }
    // `train.device_data` with fixed parts (each rank slices its parts out of the one order) and
    // without (each rank its part, with its share of the labels): host, prefetch and resident
    // give the same parameters, bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "p.toml", SYNTHETIC);
    for parts in [Some("train.parts=4"), None] {
        let mut runs = Vec::new();
        for way in ["host", "prefetch", "resident"] {
            let out = dir.path().join(format!("{way}-{}", parts.is_some()));
            let data = format!("train.device_data=\"{way}\"");
            let mut sets =
                vec!["weighting.method=\"mgda\"", "weighting.gradients=\"representation\"", data.as_str()];
            sets.extend(parts);
            let o = train(2, &cfg, &out, &sets);
            assert!(o.status.success(), "{way}, {parts:?}: {}", stderr(&o));
            runs.push((way, parameters(&out)));
        }
        for (way, params) in &runs[1..] {
            assert!(*params == runs[0].1, "{way} differs from host ({parts:?})");
        }
    }
}
