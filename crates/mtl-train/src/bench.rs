//! `mtl bench`: training throughput of the reference workload on each CPU (or GPU) backend,
//! beside the PyTorch reference (`shared/bench/throughput.py`, part A) run in the same
//! invocation, reported as ratios.
//!
//! Workload (identical to the reference's first row): hard sharing 100 → 256 → 256 (ReLU),
//! two towers 256 → 64 → 1, two regression tasks, batch 256, Adam (lr 1e-3, ε 1e-8), f32,
//! 10,000 synthetic training rows. A timed step = batch gather + forward + losses + backward +
//! Adam step; warm-up steps first; the median of the repeats is reported.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use clap::Args;
use mtl_data::{MultiTaskBatch, SyntheticConfig, TaskKind, TaskSpec, batch_indices, epoch_permutation};
use mtl_model::architecture::HpsConfig;
use mtl_model::encoder::MlpConfig;
use mtl_model::{ActivationKind, ArchitectureConfig, MultiTaskModelConfig};
use mtl_weighting::{StepContext, WeightingConfig, WeightingInput};

use crate::backend::{BackendChoice, select_device};
use crate::config::OptimizerConfig;
use crate::error::{Error, io};
use crate::optimizer::build_optimizer;
use crate::step::{TrainState, train_step};

/// Options of `mtl bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchOptions {
    /// Backends to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "flex,ndarray")]
    pub backends: Vec<BackendChoice>,
    /// Timed steps per repeat.
    #[arg(long, default_value_t = 390)]
    pub steps: usize,
    /// Untimed warm-up steps per repeat.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Repeats (fresh model each); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Python interpreter with PyTorch for the reference.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The reference script; default `../shared/bench/throughput.py` when it exists.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// PyTorch threads for the reference.
    #[arg(long, default_value_t = 2)]
    pub torch_threads: usize,
    /// Skip the PyTorch reference.
    #[arg(long)]
    pub no_reference: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds per training step of the workload on `backend`, one value per repeat.
fn measure(backend: BackendChoice, options: &BenchOptions) -> Result<(String, Vec<f64>), Error> {
    let selected = select_device(backend, None)?;
    let device = selected.device.clone().autodiff();
    let tasks: Vec<TaskSpec> =
        ["y1", "y2"].iter().map(|n| TaskSpec { name: n.to_string(), kind: TaskKind::Regression }).collect();
    let data =
        SyntheticConfig { samples: 10_000, correlation: 0.5, ..Default::default() }.generate(&tasks)?;
    let model = MultiTaskModelConfig {
        architecture: ArchitectureConfig::Hps(HpsConfig {
            encoder: MlpConfig {
                d_input: 100,
                hidden: vec![256, 256],
                activation: ActivationKind::Relu,
                dropout: 0.0,
            },
        }),
        head_hidden: vec![64],
        head_activation: ActivationKind::Relu,
        head_dropout: 0.0,
        task_outputs: vec![1, 1],
    };
    let optimizer = OptimizerConfig::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 };
    let mut times = Vec::with_capacity(options.repeats);
    for r in 0..options.repeats {
        device.seed(r as u64);
        let mut state =
            TrainState { model: model.init(&device), weighting: WeightingConfig::Ew.init(2, &device) };
        let mut optim = build_optimizer(&optimizer);
        let mut epoch = 0;
        let epoch_batches = |epoch: usize| -> Vec<Vec<usize>> {
            let order = epoch_permutation(data.len(), r as u64, epoch);
            batch_indices(&order, 256, true).into_iter().map(<[usize]>::to_vec).collect()
        };
        let mut batches = epoch_batches(epoch);
        let mut next = 0;
        let mut t0 = Instant::now();
        for step in 0..options.warmup + options.steps {
            if step == options.warmup {
                device.sync().map_err(|e| Error::Backend(format!("device error: {e:?}")))?;
                t0 = Instant::now();
            }
            if next == batches.len() {
                epoch += 1;
                batches = epoch_batches(epoch);
                next = 0;
            }
            let batch = MultiTaskBatch::gather(&data, &batches[next], &device);
            next += 1;
            let ctx =
                StepContext { epoch, step, steps_per_epoch: batches.len(), input: WeightingInput::Losses };
            let (grads, _) = train_step(&mut state, &batch, &tasks, &ctx);
            state = optim.step(1e-3, state, grads);
        }
        device.sync().map_err(|e| Error::Backend(format!("device error: {e:?}")))?;
        times.push(t0.elapsed().as_secs_f64() / options.steps as f64);
    }
    Ok((selected.description, times))
}

/// PyTorch's samples/s on the same workload, from the reference script.
fn reference(options: &BenchOptions) -> Result<Option<(f64, String)>, String> {
    if options.no_reference {
        return Ok(None);
    }
    let script = options.reference.clone().unwrap_or_else(|| PathBuf::from("../shared/bench/throughput.py"));
    if !script.exists() {
        return Err(format!(
            "reference script `{}` not found (use --reference PATH or --no-reference)",
            script.display()
        ));
    }
    let out = std::env::temp_dir().join(format!("mtl-bench-torch-{}.json", std::process::id()));
    let status = Command::new(&options.python)
        .arg(&script)
        .args(["--parts", "A", "--threads", &options.torch_threads.to_string()])
        .args(["--repeats", &options.repeats.to_string(), "--a-steps", &options.steps.to_string()])
        .args(["--warmup", &options.warmup.to_string()])
        .arg("--out")
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", options.python))?;
    if !status.success() {
        return Err(format!(
            "`{} {}` failed ({status}); is PyTorch installed? (--python PATH)",
            options.python,
            script.display()
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let row = &json["A"][0];
    let sps = row["samples_per_s_median"].as_f64().ok_or("no samples/s in the reference output")?;
    let version = json["env"]["torch"].as_str().unwrap_or("?").to_string();
    Ok(Some((sps, version)))
}

/// Run the benchmark and print the table.
pub fn run_bench(options: &BenchOptions) -> Result<(), Error> {
    if options.repeats == 0 || options.steps == 0 {
        return Err(Error::Backend("--repeats and --steps must be at least 1".into()));
    }
    println!(
        "workload: HPS 100→256→256, towers 64, 2 tasks, batch 256, Adam, f32; {} steps × {} repeats (median)",
        options.steps, options.repeats
    );
    println!("load before: {}", loadavg());
    let mut rows = Vec::new();
    for &b in &options.backends {
        let (description, times) = measure(b, options)?;
        let step = median(times.clone());
        println!(
            "  {description:<28} {:>9.0} samples/s  {:>7.3} ms/step   (load {})",
            256.0 / step,
            step * 1e3,
            loadavg()
        );
        rows.push(serde_json::json!({
            "backend": description,
            "samples_per_s": 256.0 / step,
            "step_ms": step * 1e3,
            "step_ms_runs": times.iter().map(|t| t * 1e3).collect::<Vec<_>>(),
            "load_after": loadavg(),
        }));
    }
    let torch = match reference(options) {
        Ok(r) => r,
        Err(message) => {
            println!("  PyTorch reference skipped: {message}");
            None
        }
    };
    if let Some((sps, version)) = &torch {
        println!(
            "  {:<28} {:>9.0} samples/s  {:>7.3} ms/step   (load {})",
            format!("PyTorch {version} ({} threads)", options.torch_threads),
            sps,
            256e3 / sps,
            loadavg()
        );
        for row in &rows {
            let ours = row["samples_per_s"].as_f64().unwrap_or(0.0);
            println!(
                "  ratio {:<22} {:.2}× PyTorch's throughput",
                row["backend"].as_str().unwrap_or("?"),
                ours / sps
            );
        }
    }
    println!("load after: {}", loadavg());
    if let Some(path) = &options.json {
        let json = serde_json::json!({
            "rows": rows,
            "pytorch": torch.as_ref().map(|(sps, v)| serde_json::json!({"samples_per_s": sps, "torch": v, "threads": options.torch_threads})),
            "steps": options.steps,
            "repeats": options.repeats,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json).expect("json")).map_err(io(path))?;
    }
    Ok(())
}
