//! `mtl bench`: training throughput of the reference workload on each CPU (or GPU) backend,
//! beside the PyTorch reference (`shared/bench/throughput.py`, part A) run in the same
//! invocation, reported as ratios.
//!
//! Workloads (the reference's part A rows, in order): hard sharing 100 → 256 → 256 (ReLU) with
//! towers 256 → 64 → 1; the MMoE paper's shared bottom 100 → 113 with towers 8; the paper's
//! MMoE, 8 experts 100 → 16 with towers 8. Two regression tasks, batch 256, Adam (lr 1e-3,
//! ε 1e-8), f32, 10,000 synthetic training rows. A timed step = batch gather + forward + losses + backward +
//! Adam step; warm-up steps first; the median of the repeats is reported.
//!
//! With `--methods`, `mtl bench` instead measures the time of one training step of every
//! listed weighting method on every input it supports, for T ∈ `--tasks` regression tasks
//! (same encoder, towers 64, batch 256, Adam), beside part B of the reference (EW, UW, MGDA,
//! PCGrad on shared-parameter gradients) in the same invocation.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use burn::tensor::Device;
use clap::Args;
use mtl_data::{
    MultiTaskDataset, ResidentSplit, SyntheticConfig, TaskKind, TaskSpec, batch_ranges, epoch_permutation,
};
use mtl_model::architecture::{HpsConfig, MmoeConfig, StemConfig};
use mtl_model::encoder::{EncoderConfig, MlpConfig};
use mtl_model::{ActivationKind, ArchitectureConfig, MultiTaskModelConfig};
use mtl_weighting::{StepContext, WeightingConfig, WeightingInput};

use mtl_train::Error;
use mtl_train::backend::{BackendChoice, select_device};
use mtl_train::config::OptimizerConfig;
use mtl_train::optimizer::build_optimizer;
use mtl_train::parallel::World;
use mtl_train::profile::{self, Phase};
use mtl_train::step::{Peers, TrainState, train_step_in};
use mtl_weighting::host;

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
    /// Measure the step time of these weighting methods (comma-separated, or `all`) instead of
    /// the throughput workload.
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// The (global) batch size of the throughput workloads; the PyTorch reference always
    /// uses 256.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Task counts for `--methods`.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16")]
    pub tasks: Vec<usize>,
    /// Also print where a step's time goes (batch, forward, backward, weighting, optimizer),
    /// waiting for the device at each phase's end (so profiled steps run slower).
    #[arg(long)]
    pub profile: bool,
    /// How batches are formed: as `train.device_data = "auto"` does (`auto`: resident on a GPU,
    /// gathered on the host on the CPU backends), on the device from the resident training data
    /// (`resident`), or gathered on the host and uploaded each step (`host`).
    #[arg(long, value_enum, default_value_t = BenchData::Auto)]
    pub device_data: BenchData,
}

/// `--device-data` of `mtl bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchData {
    /// Resident on a GPU, host on the CPU backends (the trainer's default).
    Auto,
    /// Uploaded once, batches selected on the device.
    Resident,
    /// Gathered on the host and uploaded every step.
    Host,
}

/// What [`time_steps`] measured, per timed step.
#[derive(Debug, Clone, Default)]
struct StepTiming {
    /// Seconds per step.
    seconds: f64,
    /// Seconds per step in collectives.
    comm: f64,
    /// Device-to-host reads per step.
    reads: f64,
    /// With `--profile`: seconds per step in each phase (`Phase::ALL`'s order).
    phases: Option<[f64; 5]>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Per timed training step of `state` on batches of `--batch-size` drawn from `data` (a new
/// seeded order each epoch, full batches only), after `options.warmup` untimed steps: seconds,
/// seconds in collectives, host reads, and with `--profile` the phases' seconds.
#[allow(clippy::too_many_arguments)]
fn time_steps(
    mut state: TrainState,
    data: &MultiTaskDataset,
    tasks: &[TaskSpec],
    input: WeightingInput,
    optimizer: &OptimizerConfig,
    device: &Device,
    seed: u64,
    options: &BenchOptions,
    world: &World,
) -> Result<StepTiming, Error> {
    let mut optim = build_optimizer(optimizer);
    let cpu = mtl_train::backend::is_cpu_device(device);
    let resident = match options.device_data {
        BenchData::Resident => true,
        BenchData::Host => false,
        BenchData::Auto => !cpu,
    };
    let resident = resident.then(|| ResidentSplit::upload(data, device));
    let epoch_order = |epoch: usize| {
        let order = epoch_permutation(data.len(), seed, epoch);
        let on_device = resident.as_ref().map(|r| r.order(&order));
        (order, on_device)
    };
    let sync = || device.sync().map_err(|e| Error::Backend(format!("device error: {e:?}")));
    let (mut epoch, mut next) = (0, 0);
    let (mut order, mut on_device) = epoch_order(epoch);
    let mut batches = batch_ranges(order.len(), options.batch_size, true);
    let peers = Peers { world: world.clone(), method_seed: None };
    let mut t0 = Instant::now();
    let (mut comm0, mut reads0) = (world.comm_seconds(), host::reads());
    for step in 0..options.warmup + options.steps {
        if step == options.warmup {
            sync()?;
            if options.profile {
                profile::start();
            }
            t0 = Instant::now();
            (comm0, reads0) = (world.comm_seconds(), host::reads());
        }
        if next == batches.len() {
            epoch += 1;
            (order, on_device) = epoch_order(epoch);
            batches = batch_ranges(order.len(), options.batch_size, true);
            next = 0;
        }
        let global = batches[next].clone();
        let batch = match (&resident, &on_device) {
            (Some(split), Some(on_device)) => {
                let part = world.part(global.len());
                split.part_batch(data, (&order, on_device), global, part, world.is_parallel())
            }
            _ => world.rank_batch(data, &order[global], device),
        };
        profile::end(Phase::Batch, device);
        next += 1;
        let ctx = StepContext { epoch, step, steps_per_epoch: batches.len(), input };
        let (grads, _) = train_step_in(&mut state, &batch, tasks, &ctx, &peers);
        state = optim.step(1e-3, state, grads);
        profile::end(Phase::Optimizer, device);
    }
    sync()?;
    let elapsed = t0.elapsed().as_secs_f64();
    let phases = options.profile.then(profile::stop);
    let per_step = |s: f64| s / options.steps as f64;
    Ok(StepTiming {
        seconds: per_step(elapsed),
        comm: per_step(world.comm_seconds() - comm0),
        reads: (host::reads() - reads0) as f64 / options.steps as f64,
        phases: phases.map(|p| p.map(per_step)),
    })
}

/// The profile of a measurement as text: each phase's share of the profiled step, the host
/// reads per step.
fn profile_line(t: &StepTiming) -> String {
    let reads = format!("{:.2} host reads/step", t.reads);
    let Some(phases) = t.phases else { return reads };
    let total: f64 = phases.iter().sum();
    let shares: Vec<String> = (Phase::ALL.iter().zip(phases))
        .map(|(p, s)| format!("{} {:.0}%", p.name(), 100.0 * s / total.max(1e-12)))
        .collect();
    format!("{reads}; profiled step {:.3} ms: {}", total * 1e3, shares.join(", "))
}

/// One row of the throughput benchmark, the same network as the reference's row of that index.
struct Workload {
    name: &'static str,
    architecture: ArchitectureConfig,
    tower: Vec<usize>,
}

fn mlp(hidden: Vec<usize>) -> EncoderConfig {
    EncoderConfig::Mlp(MlpConfig { d_input: 100, hidden, activation: ActivationKind::Relu, dropout: 0.0 })
}

/// The rows of part A of the reference, in its order.
fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "HPS 256-256 / towers 64",
            architecture: ArchitectureConfig::Hps(HpsConfig { encoder: mlp(vec![256, 256]) }),
            tower: vec![64],
        },
        Workload {
            name: "HPS 113 / towers 8 (MMoE paper)",
            architecture: ArchitectureConfig::Hps(HpsConfig { encoder: mlp(vec![113]) }),
            tower: vec![8],
        },
        Workload {
            name: "MMoE 8×16 / towers 8 (paper)",
            architecture: ArchitectureConfig::Mmoe(MmoeConfig {
                expert: mlp(vec![16]),
                experts: 8,
                num_tasks: 2,
                stem: StemConfig::Identity { d_input: 100 },
            }),
            tower: vec![8],
        },
    ]
}

/// Seconds per training step of `workload` on `backend`, one value per repeat.
/// Seconds per training step of `workload` on `backend`, one value per repeat, and the median
/// seconds per step spent in collectives (0 for one process).
fn measure(
    workload: &Workload,
    backend: BackendChoice,
    options: &BenchOptions,
    world: &World,
) -> Result<(String, Vec<StepTiming>), Error> {
    let selected = select_device(backend, None)?;
    let device = selected.device.clone().autodiff();
    let tasks: Vec<TaskSpec> =
        ["y1", "y2"].iter().map(|n| TaskSpec { name: n.to_string(), kind: TaskKind::Regression }).collect();
    let data =
        SyntheticConfig { samples: 10_000, correlation: 0.5, ..Default::default() }.generate(&tasks)?;
    let model = MultiTaskModelConfig {
        architecture: workload.architecture.clone(),
        head_hidden: workload.tower.clone(),
        head_activation: ActivationKind::Relu,
        head_dropout: 0.0,
        task_outputs: vec![1, 1],
        chains: Vec::new(),
        counterfactual: None,
        transfer: None,
    };
    let optimizer = OptimizerConfig::Adam { betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 };
    let mut timings = Vec::with_capacity(options.repeats);
    for r in 0..options.repeats {
        device.seed(r as u64);
        let state =
            TrainState { model: model.init(&device), weighting: WeightingConfig::default().init(2, &device) };
        let timing = time_steps(
            state,
            &data,
            &tasks,
            WeightingInput::Losses,
            &optimizer,
            &device,
            r as u64,
            options,
            world,
        )?;
        timings.push(timing);
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let description = if world.is_parallel() {
        format!("{} × {} processes ({threads} threads each)", selected.description, world.size())
    } else {
        selected.description
    };
    Ok((description, timings))
}

/// The run of median step time among `timings`.
fn median_run(timings: &[StepTiming]) -> StepTiming {
    let mut sorted = timings.to_vec();
    sorted.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    sorted[sorted.len() / 2].clone()
}

/// PyTorch's samples/s on each workload (part A's rows, in order), and its version.
fn reference(options: &BenchOptions) -> Result<Option<(Vec<f64>, String)>, String> {
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
        // The reference runs with its own allocator settings, not mtl's (src/main.rs).
        .env_remove("MALLOC_MMAP_THRESHOLD_")
        .env_remove("MALLOC_TRIM_THRESHOLD_")
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
    let sps: Vec<f64> = json["A"]
        .as_array()
        .ok_or("no part A in the reference output")?
        .iter()
        .map(|row| row["samples_per_s_median"].as_f64().unwrap_or(f64::NAN))
        .collect();
    let version = json["env"]["torch"].as_str().unwrap_or("?").to_string();
    Ok(Some((sps, version)))
}

/// The config of the step-time workload: T regression tasks, HPS 100 → 256 → 256, towers 64,
/// batch 256, Adam, with `method` and its default settings.
fn method_config(method: &str, tasks: usize) -> Result<mtl_train::config::RunConfig, Error> {
    let mut text = String::from(
        "[data.synthetic]\nsamples = 10000\n[model.encoder]\nhidden = [256, 256]\n[model.head]\nhidden = [64]\n[train]\nbatch_size = 256\n",
    );
    text.push_str(&format!("[weighting]\nmethod = \"{method}\"\n"));
    for t in 0..tasks {
        text.push_str(&format!("[[tasks]]\nname = \"y{t}\"\nkind = \"regression\"\n"));
    }
    Ok(mtl_train::config::RunConfig::from_toml(std::path::Path::new("<bench>"), &text, &[])?)
}

/// What `method` on `input` with `tasks` tasks measured, one value per repeat.
fn measure_method(
    method: &str,
    input: WeightingInput,
    tasks: usize,
    backend: BackendChoice,
    options: &BenchOptions,
) -> Result<Vec<StepTiming>, Error> {
    let config = method_config(method, tasks)?;
    let selected = select_device(backend, None)?;
    let device = selected.device.clone().autodiff();
    let specs = config.task_specs();
    let data = match &config.data {
        mtl_train::config::data::DataSource::Synthetic(s) => s.generate(&specs)?,
        _ => unreachable!("the bench config is synthetic"),
    };
    let mut times = Vec::with_capacity(options.repeats);
    for r in 0..options.repeats {
        device.seed(r as u64);
        let state = TrainState {
            model: config.model.init(&device),
            weighting: config.weighting.init(tasks, &device),
        };
        times.push(time_steps(
            state,
            &data,
            &specs,
            input,
            &config.train.optimizer,
            &device,
            r as u64,
            options,
            &World::single(),
        )?);
    }
    Ok(times)
}

/// PyTorch's ms/step per (method, T) from part B of the reference script.
fn reference_methods(options: &BenchOptions) -> Result<Vec<(String, usize, f64)>, String> {
    let script = options.reference.clone().unwrap_or_else(|| PathBuf::from("../shared/bench/throughput.py"));
    if !script.exists() {
        return Err(format!("reference script `{}` not found", script.display()));
    }
    let out = std::env::temp_dir().join(format!("mtl-bench-torch-b-{}.json", std::process::id()));
    let tasks: Vec<String> = options.tasks.iter().map(usize::to_string).collect();
    let status = Command::new(&options.python)
        // The reference runs with its own allocator settings, not mtl's (src/main.rs).
        .env_remove("MALLOC_MMAP_THRESHOLD_")
        .env_remove("MALLOC_TRIM_THRESHOLD_")
        .arg(&script)
        .args(["--parts", "B", "--threads", &options.torch_threads.to_string()])
        .args(["--repeats", &options.repeats.to_string(), "--b-steps", &options.steps.to_string()])
        .args(["--warmup", &options.warmup.to_string(), "--tasks", &tasks.join(",")])
        .arg("--out")
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", options.python))?;
    if !status.success() {
        return Err(format!("`{} {}` failed ({status})", options.python, script.display()));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let rows = json["B"].as_array().ok_or("no part B in the reference output")?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let m = r["method"].as_str()?.to_lowercase();
            let t = r["T"].as_u64()? as usize;
            let ms = r["step_ms_median"].as_f64()?;
            Some((m, t, ms))
        })
        .collect())
}

/// `mtl bench --methods`: the step-time table.
fn run_method_bench(options: &BenchOptions) -> Result<(), Error> {
    let methods: Vec<String> = if options.methods.iter().any(|m| m == "all") {
        mtl_weighting::WeightingConfig::NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        options.methods.clone()
    };
    let backend = *options.backends.first().unwrap_or(&BackendChoice::Flex);
    println!(
        "step time (ms, median of {} repeats × {} steps): HPS 100→256→256, towers 64, batch 256, Adam, T regression tasks, {:?}",
        options.repeats, options.steps, backend
    );
    println!("load before: {}", loadavg());
    let mut rows = Vec::new();
    let mut ew: Vec<f64> = Vec::new();
    for m in &methods {
        let inputs = method_config(m, 2)?.weighting.inputs();
        for &input in inputs {
            let (mut cells, mut profiles) = (Vec::new(), Vec::new());
            for &t in &options.tasks {
                let run = median_run(&measure_method(m, input, t, backend, options)?);
                cells.push(run.seconds * 1e3);
                profiles.push(format!("T={t}: {}", profile_line(&run)));
            }
            if m == "ew" && input == WeightingInput::Losses {
                ew = cells.clone();
            }
            let text: Vec<String> = cells.iter().map(|c| format!("{c:8.2}")).collect();
            let vs_ew: Vec<String> = cells.iter().zip(&ew).map(|(c, e)| format!("{:5.2}×", c / e)).collect();
            println!(
                "  {m:<12} {:<15} {}   vs EW {}   (load {})",
                input.name(),
                text.join(" "),
                vs_ew.join(" "),
                loadavg()
            );
            for line in &profiles {
                println!("      {line}");
            }
            rows.push(serde_json::json!({"method": m, "input": input.name(), "tasks": options.tasks, "step_ms": cells, "profile": profiles, "load_after": loadavg()}));
        }
    }
    let torch = if options.no_reference { Ok(Vec::new()) } else { reference_methods(options) };
    match &torch {
        Ok(refs) => {
            for (m, t, ms) in refs {
                let ours = rows.iter().find(|r| {
                    r["method"] == m.as_str()
                        && r["input"] == if m == "ew" || m == "uw" { "losses" } else { "parameters" }
                });
                let i = options.tasks.iter().position(|x| x == t);
                let ratio = match (ours, i) {
                    (Some(r), Some(i)) => r["step_ms"][i].as_f64().map(|o| format!("{:.2}×", o / ms)),
                    _ => None,
                };
                println!(
                    "  PyTorch {m:<8} T={t:<3} {ms:8.2} ms   mtl/PyTorch {}",
                    ratio.unwrap_or_else(|| "—".into())
                );
            }
        }
        Err(e) => println!("  PyTorch reference skipped: {e}"),
    }
    println!("load after: {}", loadavg());
    if let Some(path) = &options.json {
        let json = serde_json::json!({
            "rows": rows,
            "pytorch": torch.unwrap_or_default().iter().map(|(m, t, ms)| serde_json::json!({"method": m, "tasks": t, "step_ms": ms})).collect::<Vec<_>>(),
        });
        mtl_train::io::atomic_write(path, &serde_json::to_vec_pretty(&json).expect("json"))?;
    }
    Ok(())
}

/// The throughput workloads trained data-parallel under `mpirun`: the global batch of
/// `--batch-size` split over the ranks; rank 0 reports each workload's step time and the time
/// per step spent in collectives (the PyTorch reference is not run here; run it beside, with
/// `shared/bench/throughput.py`).
fn run_parallel_bench(options: &BenchOptions, world: &World) -> Result<(), Error> {
    // Rank 0 prints; the others only take part in the steps.
    let quiet = !world.is_writer();
    let mut rows = Vec::new();
    for w in workloads() {
        for &b in &options.backends {
            let (description, timings) = measure(&w, b, options, world)?;
            let run = median_run(&timings);
            rows.push((w.name, description, run.seconds, run.comm));
        }
    }
    if quiet {
        return Ok(());
    }
    println!("load after the timed part: {}", loadavg());
    for (name, description, step, comm) in &rows {
        println!(
            "  {name:<34} {description:<40} {:>9.0} samples/s  {:>7.3} ms/step  collectives {:.3} ms ({:.0}%)",
            options.batch_size as f64 / step,
            step * 1e3,
            comm * 1e3,
            100.0 * comm / step
        );
    }
    let rows_json: Vec<serde_json::Value> = (rows.iter())
        .map(|(name, d, step, comm)| serde_json::json!({"workload": name, "backend": d, "batch_size": options.batch_size, "samples_per_s": options.batch_size as f64 / step, "step_ms": step * 1e3, "collective_ms": comm * 1e3}))
        .collect();
    if let Some(path) = &options.json {
        mtl_train::io::atomic_write(path, &serde_json::to_vec_pretty(&rows_json).expect("json"))?;
    }
    Ok(())
}

/// Run the benchmark and print the table. Under `mpirun`, the workloads train data-parallel
/// ([`run_parallel_bench`]).
pub fn run_bench(options: &BenchOptions, world: &World) -> Result<(), Error> {
    if options.repeats == 0 || options.steps == 0 {
        return Err(Error::Backend("--repeats and --steps must be at least 1".into()));
    }
    if options.batch_size < world.size() {
        return Err(Error::Usage(format!(
            "--batch-size {} cannot give each of the {} processes a sample",
            options.batch_size,
            world.size()
        )));
    }
    if !options.methods.is_empty() {
        if world.is_parallel() {
            return Err(Error::Usage(
                "`mtl bench --methods` runs in one process; run it without mpirun".into(),
            ));
        }
        return run_method_bench(options);
    }
    if world.is_parallel() {
        return run_parallel_bench(options, world);
    }
    println!(
        "workloads: 100 inputs, 2 regression tasks, batch {}, Adam, f32; {} steps × {} repeats (median)",
        options.batch_size, options.steps, options.repeats
    );
    println!("load before: {}", loadavg());
    let mut rows = Vec::new();
    for w in workloads() {
        for &b in &options.backends {
            let (description, timings) = measure(&w, b, options, world)?;
            let times: Vec<f64> = timings.iter().map(|t| t.seconds).collect();
            let run = median_run(&timings);
            let step = run.seconds;
            println!(
                "  {:<34} {description:<24} {:>9.0} samples/s  {:>7.3} ms/step   (load {})",
                w.name,
                options.batch_size as f64 / step,
                step * 1e3,
                loadavg()
            );
            println!("      {}", profile_line(&run));
            rows.push(serde_json::json!({
                "workload": w.name,
                "backend": description,
                "batch_size": options.batch_size,
                "samples_per_s": options.batch_size as f64 / step,
                "step_ms": step * 1e3,
                "step_ms_runs": times.iter().map(|t| t * 1e3).collect::<Vec<_>>(),
                "host_reads_per_step": run.reads,
                "profile_ms": run.phases.map(|p| Phase::ALL.iter().zip(p).map(|(ph, s)| (ph.name().to_string(), serde_json::json!(s * 1e3))).collect::<serde_json::Map<_, _>>()),
                "device_data": format!("{:?}", options.device_data).to_lowercase(),
                "load_after": loadavg(),
            }));
        }
    }
    let torch = match reference(options) {
        Ok(r) => r,
        Err(message) => {
            println!("  PyTorch reference skipped: {message}");
            None
        }
    };
    if let Some((sps, version)) = &torch {
        let who = format!("PyTorch {version} ({} threads)", options.torch_threads);
        for (w, &ref_sps) in workloads().iter().zip(sps) {
            println!(
                "  {:<34} {who:<24} {:>9.0} samples/s  {:>7.3} ms/step",
                w.name,
                ref_sps,
                256e3 / ref_sps
            );
            for row in rows.iter().filter(|r| r["workload"] == w.name) {
                let ours = row["samples_per_s"].as_f64().unwrap_or(0.0);
                println!(
                    "    ratio {:<24} {:.2}× PyTorch's throughput",
                    row["backend"].as_str().unwrap_or("?"),
                    ours / ref_sps
                );
            }
        }
    }
    println!("load after: {}", loadavg());
    if let Some(path) = &options.json {
        let json = serde_json::json!({
            "rows": rows,
            "pytorch": torch.as_ref().map(|(sps, v)| serde_json::json!({
                "samples_per_s": workloads().iter().zip(sps).map(|(w, s)| serde_json::json!({"workload": w.name, "samples_per_s": s})).collect::<Vec<_>>(),
                "torch": v,
                "threads": options.torch_threads,
            })),
            "steps": options.steps,
            "repeats": options.repeats,
        });
        mtl_train::io::atomic_write(path, &serde_json::to_vec_pretty(&json).expect("json"))?;
    }
    Ok(())
}
