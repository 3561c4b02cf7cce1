//! Same config, same seed, same run on every backend, through `mtl train` as a user runs it:
//! the initial parameters come from one CPU generator whatever the backend, the batches from
//! one seeded order, so backends differ only in float rounding (summation order in matmuls and
//! reductions, ~6e-8 relative per operation in f32).
//!
//! Tolerance: 2 epochs of the quickstart on 3,000 samples (38 Adam steps) amplify that rounding
//! little (flex vs ndarray: 5e-7 relative at most, measured); a GPU sums in other orders (tree
//! reductions, tiled matmuls), so 5e-3 relative is allowed — far below what a real
//! disagreement gives (different initial parameters moved the first epoch's y1 loss by 9%, a
//! wrong kernel moves it by more). The GPU comparison runs in the
//! opt-in step of `.ci/run` (MTL_CI_WGPU=1), on Mesa's software drivers where no GPU exists.

mod common;

use std::path::Path;

use common::{json, mtl, repo, stderr};
use serde_json::Value;

const TOLERANCE: f64 = 5e-3;

/// Train the quickstart briefly with `backend` (the backend arguments) into `dir/name`; its
/// summary and metrics lines.
fn train(backend: &[&str], dir: &Path, name: &str) -> (Value, Vec<Value>) {
    let run = dir.join(name);
    let config = repo().join("configs/quickstart.toml");
    let mut args = vec!["train", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"];
    args.extend(backend);
    args.extend(["--set", "data.synthetic.samples=3000", "--set", "train.epochs=2"]);
    let o = mtl(&args, dir);
    assert!(o.status.success(), "{backend:?}: {}", stderr(&o));
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    (json(&run.join("summary.json")), lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

/// Every number under `a` and `b` (same shape), with its JSON path.
fn numbers(a: &Value, b: &Value, path: String, out: &mut Vec<(String, f64, f64)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let w = y.get(k).unwrap_or_else(|| panic!("{path}.{k} missing"));
                numbers(v, w, format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                numbers(v, w, format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(x), Value::Number(y)) => out.push((path, x.as_f64().unwrap(), y.as_f64().unwrap())),
        _ => {}
    }
}

/// The largest relative difference between the runs' test metrics and training losses.
fn worst_difference(a: &(Value, Vec<Value>), b: &(Value, Vec<Value>)) -> (String, f64) {
    let mut pairs = Vec::new();
    numbers(&a.0["test"], &b.0["test"], "test".into(), &mut pairs);
    for (i, (x, y)) in a.1.iter().zip(&b.1).enumerate() {
        numbers(&x["train"], &y["train"], format!("epoch {} train", i + 1), &mut pairs);
    }
    assert!(pairs.len() > 10, "{pairs:?}");
    (pairs.into_iter())
        .map(|(p, x, y)| (p, (x - y).abs() / x.abs().max(1e-3)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn ndarray_and_flex_train_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let reference = train(&["--backend", "ndarray"], dir.path(), "ndarray");
    let flex = train(&["--backend", "flex"], dir.path(), "flex");
    let (path, worst) = worst_difference(&reference, &flex);
    eprintln!("flex vs ndarray: largest relative difference {worst:e} at {path}");
    assert!(worst < TOLERANCE, "flex differs from ndarray by {worst} at {path}");
}

/// The GPU run to compare: `--backend vulkan` on a real GPU; without one, the software
/// adapter of OpenGL through `--backend wgpu --device N` (WGSL). Mesa 22.3's lavapipe (Debian
/// 12, the CI machine's) crashes inside the driver compiling Burn's SPIR-V matmul kernels
/// (segfault in `vkCreateComputePipelines`), so the software check takes the WGSL path.
#[cfg(feature = "wgpu")]
fn gpu_args() -> Vec<String> {
    use mtl_train::backend::{AdapterKind, Api, BackendChoice, adapters_for};
    let adapters = adapters_for(BackendChoice::Wgpu);
    if adapters.iter().any(|a| a.kind != AdapterKind::Software) {
        return vec!["--backend".into(), "vulkan".into()];
    }
    let gl = adapters
        .iter()
        .position(|a| a.api == Api::Gl)
        .expect("a Vulkan or OpenGL driver (mesa-vulkan-drivers)");
    vec!["--backend".into(), "wgpu".into(), "--device".into(), gl.to_string()]
}

#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a GPU or Mesa's software drivers: MTL_CI_WGPU=1 .ci/run runs it"]
fn the_gpu_backend_trains_the_same_run_as_ndarray() {
    let dir = tempfile::tempdir().unwrap();
    let reference = train(&["--backend", "ndarray"], dir.path(), "ndarray");
    let args = gpu_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gpu = train(&args, dir.path(), "gpu");
    let (path, worst) = worst_difference(&reference, &gpu);
    eprintln!("{args:?} ({}) vs ndarray: largest relative difference {worst:e} at {path}", gpu.0["backend"]);
    assert!(worst < TOLERANCE, "{args:?} differs from ndarray by {worst} at {path}");
    // On a GPU `auto` keeps the small split resident; batches gathered by the prefetching
    // thread (and uploaded on the training thread: OpenGL binds a device to one) are the same.
    let mut prefetch = args.clone();
    prefetch.extend(["--set", "train.device_data=\"prefetch\""]);
    let prefetched = train(&prefetch, dir.path(), "gpu-prefetch");
    assert_eq!(prefetched.0["test"], gpu.0["test"], "prefetched batches change the GPU run");
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn gpu_backends_missing_from_the_build_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/quickstart.toml");
    for backend in ["vulkan", "wgpu"] {
        let out = dir.path().join(backend);
        let o = mtl(
            &["train", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", backend],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{backend}: {}", stderr(&o));
        assert!(stderr(&o).contains("--features gpu"), "{backend}: {}", stderr(&o));
        assert!(!out.exists(), "{backend}: a refused run leaves no folder");
    }
    // `auto` says why it is on the CPU.
    let o = mtl(&["devices"], dir.path());
    let listing = common::stdout(&o);
    assert!(o.status.success());
    assert!(listing.contains("auto     → flex (CPU) — auto: this build has no GPU backend"), "{listing}");
}

#[test]
fn the_banner_says_where_the_training_data_lives() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/quickstart.toml");
    let cases = [
        (None, "training data gathered on the host between steps (a CPU backend)"),
        (Some("train.device_data=\"resident\""), "training data resident on the device"),
        (Some("train.device_data=\"prefetch\""), "training data prefetched by a background thread"),
    ];
    for (i, (set, says)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        let mut args =
            vec!["train", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "ndarray"];
        args.extend(["--set", "train.epochs=1", "--set", "data.synthetic.samples=600"]);
        if let Some(s) = set {
            args.extend(["--set", s]);
        }
        let o = mtl(&args, dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let text = format!("{}{}", common::stdout(&o), stderr(&o));
        assert!(text.contains(says), "{set:?}: {text}");
    }
}
