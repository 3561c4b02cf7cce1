//! `mtl compare`: a grid of runs — weighting methods × architectures × swept config values ×
//! seeds — with single-task baselines, run one after another and summarised as tables and
//! plots.
//!
//! Layout of the output folder (default `<run.output_dir>/compare-<run.name>`):
//! `cells/<cell>/seed-<s>/` (ordinary run folders), `results.csv` (one row per run),
//! `table.md` and `table.csv` (mean ± std over seeds per cell), `plots/compare.svg`. A cell
//! whose `summary.json` says it finished is skipped on a re-run; an interrupted one continues
//! from its last checkpoint. Baselines live in the shared cache `<run.output_dir>/stl/` (see
//! [`mtl_train::stl`]), so they are trained once per (swept value, seed) and reused by later
//! comparisons.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::args::BackendArgs;
use crate::commands::train::{continue_in, train, train_baselines};
use crate::report::plots::{Panel, Series, write_svg};
use crate::report::progress::Progress;
use mtl_train::backend::{SelectedDevice, select_device};
use mtl_train::config::{RunConfig, TaskConfig};
use mtl_train::delta::{delta, scores_from_json};
use mtl_train::io::atomic_write;
use mtl_train::stl::{self, StlReference, finished_summary};
use mtl_train::{Error, io_error as io};

/// Arguments of `mtl compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The base TOML config.
    pub config: PathBuf,
    /// Weighting methods to compare, comma-separated (default: the config's).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Architectures to compare, comma-separated (default: the config's).
    #[arg(long, value_delimiter = ',')]
    pub architectures: Vec<String>,
    /// Seeds per cell: run.seed, run.seed + 1, …
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Sweep a config key over values, e.g. --sweep data.synthetic.correlation=1.0,0.9,0.5
    /// (repeatable: the grid is the product).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub sweep: Vec<String>,
    /// Override a config key in every cell (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder (default: <run.output_dir>/compare-<run.name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the single-task baselines (no STL rows, no Δ).
    #[arg(long)]
    pub no_stl: bool,
    /// Also train every method × architecture on task groups, one network per group, and
    /// report the combined tasks as `METHOD grouped`: `"a,b;c,d"`, or the `groups.json` of
    /// `mtl affinity --groups`.
    #[arg(long, value_name = "GROUPS")]
    pub groups: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Backend and device.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// One point of the sweep product: `(key, value)` pairs.
type SweepPoint = Vec<(String, String)>;

/// A grid cell: one method × architecture × sweep point, run for every seed.
#[derive(Debug, Clone)]
struct Cell {
    method: String,
    architecture: String,
    sweep: SweepPoint,
    /// Folder name under `cells/`.
    id: String,
    /// Validated config of each seed.
    configs: Vec<RunConfig>,
    /// Grouped cells (`--groups`): per seed, one config per task group (`configs` is empty).
    groups: Vec<Vec<RunConfig>>,
}

/// What one finished run contributed.
#[derive(Debug, Clone)]
struct Outcome {
    /// `method`, or `stl` for the baselines.
    method: String,
    architecture: String,
    sweep: SweepPoint,
    seed: u64,
    /// Test metric values, `task.metric` → value, in task/metric order.
    metrics: Vec<(String, f64)>,
    delta_p: Option<f64>,
    delta_m: Option<f64>,
    wall_s: f64,
}

fn parse_sweeps(sweeps: &[String]) -> Result<Vec<SweepPoint>, Error> {
    let mut points: Vec<SweepPoint> = vec![Vec::new()];
    for s in sweeps {
        let Some((key, values)) = s.split_once('=') else {
            return Err(Error::Usage(format!(
                "--sweep `{s}`: write KEY=V1,V2,... (e.g. data.synthetic.correlation=1.0,0.5)"
            )));
        };
        let values: Vec<&str> = values.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(Error::Usage(format!("--sweep `{s}`: give at least one value after `=`")));
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((key.trim().to_string(), v.to_string()));
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '=') { c } else { '_' })
        .collect()
}

fn sweep_label(p: &SweepPoint) -> String {
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// Run `mtl compare`.
pub fn run_compare(args: &CompareArgs) -> Result<(), Error> {
    let base = RunConfig::from_file(&args.config, &args.set)?;
    if args.seeds == 0 {
        return Err(Error::Usage("--seeds must be at least 1".into()));
    }
    if base.single_task.is_some() {
        return Err(Error::Usage(
            "the config trains a single task (run.single_task); compare needs the multi-task config".into(),
        ));
    }
    let out = args.out.clone().unwrap_or_else(|| base.output_dir.join(format!("compare-{}", base.name)));
    let methods =
        if args.methods.is_empty() { vec![base.weighting.name().to_string()] } else { args.methods.clone() };
    let architectures = if args.architectures.is_empty() {
        vec![base.model.architecture.name().to_string()]
    } else {
        args.architectures.clone()
    };
    let points = parse_sweeps(&args.sweep)?;
    let task_names: Vec<String> = base.tasks.iter().map(|t| t.spec.name.clone()).collect();
    let groups = args.groups.as_deref().map(|g| parse_groups(g, &task_names)).transpose()?;
    let seeds: Vec<u64> = (0..args.seeds as u64).map(|i| base.seed + i).collect();

    // Validate the whole grid before training anything.
    let cell_config = |extra: &[String], seed: u64| -> Result<RunConfig, Error> {
        let mut o = args.set.clone();
        o.extend_from_slice(extra);
        o.push(format!("run.seed={seed}"));
        Ok(RunConfig::from_file(&args.config, &o)?)
    };
    let mut cells = Vec::new();
    let mut stl_configs: Vec<(SweepPoint, Vec<RunConfig>)> = Vec::new();
    for point in &points {
        let sweep_overrides: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !args.no_stl {
            let configs =
                seeds.iter().map(|&s| cell_config(&sweep_overrides, s)).collect::<Result<_, _>>()?;
            stl_configs.push((point.clone(), configs));
        }
        for m in &methods {
            for a in &architectures {
                let mut o = sweep_overrides.clone();
                o.push(format!("weighting.method={m}"));
                o.push(format!("model.architecture={a}"));
                let configs = seeds.iter().map(|&s| cell_config(&o, s)).collect::<Result<_, _>>()?;
                let mut id = format!("{m}-{a}");
                for (k, v) in point {
                    id.push_str(&format!("-{}={v}", k.rsplit('.').next().unwrap_or(k)));
                }
                cells.push(Cell {
                    method: m.clone(),
                    architecture: a.clone(),
                    sweep: point.clone(),
                    id: sanitize(&id),
                    configs,
                    groups: Vec::new(),
                });
                if let Some(groups) = &groups {
                    let per_seed = seeds
                        .iter()
                        .map(|&s| {
                            groups
                                .iter()
                                .map(|g| {
                                    let mut o = o.clone();
                                    o.push(format!("run.tasks={}", toml_list(g)));
                                    cell_config(&o, s)
                                })
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    cells.push(Cell {
                        method: format!("{m} grouped"),
                        architecture: a.clone(),
                        sweep: point.clone(),
                        id: sanitize(&format!("{id}-grouped")),
                        configs: Vec::new(),
                        groups: per_seed,
                    });
                }
            }
        }
    }

    let device = select_device(args.backend.backend, args.backend.device)?;
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    let cell_runs: usize = cells
        .iter()
        .map(|c| if c.groups.is_empty() { seeds.len() } else { c.groups.iter().map(Vec::len).sum() })
        .sum();
    let runs_total = cell_runs + stl_configs.len() * seeds.len() * base.tasks.len();
    let progress = Progress::counting(runs_total as u64, "runs", args.quiet);
    progress.set_prefix("compare");
    progress.line(&format!(
        "compare: {} cells × {} seeds{} → {}",
        cells.len(),
        seeds.len(),
        if args.no_stl {
            String::new()
        } else {
            format!(" + {} single-task baselines", runs_total - cell_runs)
        },
        out.display()
    ));
    let started = Instant::now();
    let mut outcomes = Vec::new();

    // Baselines first: every cell of the same sweep point and seed compares with them.
    let mut references: Vec<(SweepPoint, u64, StlReference)> = Vec::new();
    for (point, configs) in &stl_configs {
        for config in configs {
            let mut announce = |b: &stl::Baseline, trained: bool| {
                progress.set_message(format!("stl {} seed {} {}", b.task, config.seed, sweep_label(point)));
                if !trained {
                    progress.advance(1);
                }
            };
            let reference = train_baselines_counted(config, &device, &mut announce, &progress)?;
            outcomes.push(stl_outcome(config, point, &reference)?);
            references.push((point.clone(), config.seed, reference));
        }
    }

    for cell in &cells {
        let reference = |seed: u64| {
            references.iter().find(|(p, s, _)| *p == cell.sweep && *s == seed).map(|(_, _, r)| r.clone())
        };
        // A grouped cell: one run per task group, combined into one outcome per seed.
        for (configs, &seed) in cell.groups.iter().zip(&seeds) {
            let mut summaries = Vec::with_capacity(configs.len());
            for (g, config) in configs.iter().enumerate() {
                let dir = out
                    .join("cells")
                    .join(&cell.id)
                    .join(format!("seed-{seed}"))
                    .join(format!("group-{}", g + 1));
                progress.set_message(format!("{} seed {seed} group {}", cell.id, g + 1));
                summaries.push(run_or_reuse(config, &dir, &device, &progress, None)?);
                progress.advance(1);
            }
            outcomes.push(grouped_outcome(
                cell,
                seed,
                &base.tasks,
                configs,
                &summaries,
                reference(seed).as_ref(),
            )?);
        }
        for config in &cell.configs {
            let dir = out.join("cells").join(&cell.id).join(format!("seed-{}", config.seed));
            progress.set_message(format!("{} seed {}", cell.id, config.seed));
            let summary = run_or_reuse(config, &dir, &device, &progress, reference(config.seed))?;
            progress.advance(1);
            outcomes.push(run_outcome(cell, config, &summary)?);
        }
    }
    progress.finish();

    let tasks = &base.tasks;
    write_results(&out, tasks, &outcomes)?;
    let table = aggregate(tasks, &outcomes);
    atomic_write(&out.join("table.md"), markdown(&table, !args.sweep.is_empty()).as_bytes())?;
    atomic_write(&out.join("table.csv"), table_csv(&table)?.as_bytes())?;
    let plot = out.join("plots").join("compare.svg");
    std::fs::create_dir_all(out.join("plots")).map_err(io(out.join("plots")))?;
    write_svg(&plot, &format!("compare: {}", base.name), &panels(&table))?;
    eprintln!("{}", markdown(&table, !args.sweep.is_empty()));
    eprintln!("compare finished in {:.1} s", started.elapsed().as_secs_f64());
    println!("{}", out.join("table.md").display());
    Ok(())
}

/// The summary of the finished run in `dir`, training (or resuming) it first if needed.
fn run_or_reuse(
    config: &RunConfig,
    dir: &Path,
    device: &SelectedDevice,
    progress: &Progress,
    reference: Option<StlReference>,
) -> Result<serde_json::Value, Error> {
    if let Some(s) = finished_summary(dir) {
        return Ok(s);
    }
    let s = train(config, &continue_in(device, dir.to_path_buf(), reference), true)?;
    progress.line(&format!("{}: {:.1} s", dir.display(), s.wall_s));
    Ok(serde_json::to_value(&s).expect("summary serialises"))
}

/// `--groups`: `"a,b;c,d"` or a `groups.json` (`{"groups": [["a", "b"], …]}`); every task of
/// the config in exactly one group.
fn parse_groups(spec: &str, tasks: &[String]) -> Result<Vec<Vec<String>>, Error> {
    let groups: Vec<Vec<String>> = if spec.ends_with(".json") {
        let text = std::fs::read_to_string(spec)
            .map_err(|e| Error::Usage(format!("--groups {spec}: cannot read it ({e})")))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("--groups {spec}: not JSON ({e})")))?;
        serde_json::from_value(v["groups"].clone()).map_err(|_| {
            Error::Usage(format!("--groups {spec}: expected {{\"groups\": [[\"task\", …], …]}} (mtl affinity --groups writes it)"))
        })?
    } else {
        spec.split(';')
            .map(|g| g.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect())
            .collect()
    };
    let mut seen: Vec<&String> = groups.iter().flatten().collect();
    seen.sort();
    let mut want: Vec<&String> = tasks.iter().collect();
    want.sort();
    if seen != want || groups.iter().any(Vec::is_empty) {
        return Err(Error::Usage(format!(
            "--groups `{spec}`: put every task ({}) in exactly one non-empty group, e.g. \"a,b;c\"",
            tasks.join(", ")
        )));
    }
    Ok(groups)
}

/// `["a", "b"]` as a TOML array for `--set`.
fn toml_list(items: &[String]) -> String {
    toml::Value::Array(items.iter().map(|s| toml::Value::String(s.clone())).collect()).to_string()
}

/// One seed of a grouped cell: each task's test metrics from its group's run, Δ against the
/// single-task baselines over all tasks.
fn grouped_outcome(
    cell: &Cell,
    seed: u64,
    tasks: &[TaskConfig],
    configs: &[RunConfig],
    summaries: &[serde_json::Value],
    reference: Option<&StlReference>,
) -> Result<Outcome, Error> {
    let mut scores = Vec::with_capacity(tasks.len());
    for t in tasks {
        let g = configs
            .iter()
            .position(|c| c.tasks.iter().any(|u| u.spec.name == t.spec.name))
            .expect("a partition");
        let one = [(t.spec.name.clone(), t.metrics.clone())];
        scores.push(test_scores(&one, &summaries[g])?.remove(0));
    }
    let names: Vec<String> = tasks.iter().map(|t| t.spec.name.clone()).collect();
    let d = reference.and_then(|r| delta(&scores, &r.test, &names).ok());
    Ok(Outcome {
        method: cell.method.clone(),
        architecture: cell.architecture.clone(),
        sweep: cell.sweep.clone(),
        seed,
        metrics: metric_pairs(tasks, &scores),
        delta_p: d.map(|d| d.delta_p),
        delta_m: d.map(|d| d.delta_m),
        wall_s: summaries.iter().filter_map(|s| s["wall_s"].as_f64()).sum(),
    })
}

/// Train the missing baselines of `config`, advancing the bar per trained task.
fn train_baselines_counted(
    config: &RunConfig,
    device: &SelectedDevice,
    announce: &mut dyn FnMut(&stl::Baseline, bool),
    progress: &Progress,
) -> Result<StlReference, Error> {
    let mut pending: Option<String> = None;
    let mut on_each = |b: &stl::Baseline, trained: bool| {
        if pending.take().is_some() {
            progress.advance(1);
        }
        announce(b, trained);
        if trained {
            pending = Some(b.task.clone());
        }
    };
    let r = train_baselines(config, device, true, &mut on_each)?;
    if pending.is_some() {
        progress.advance(1);
    }
    Ok(r)
}

fn metric_pairs(
    tasks: &[TaskConfig],
    scores: &[Vec<(mtl_train::metrics::MetricKind, f64)>],
) -> Vec<(String, f64)> {
    tasks
        .iter()
        .zip(scores)
        .flat_map(|(t, s)| s.iter().map(move |(k, v)| (format!("{}.{}", t.spec.name, k.name()), *v)))
        .collect()
}

fn stl_outcome(config: &RunConfig, point: &SweepPoint, r: &StlReference) -> Result<Outcome, Error> {
    let wall_s = r.run_dirs.iter().filter_map(|d| finished_summary(d)?.get("wall_s")?.as_f64()).sum();
    Ok(Outcome {
        method: "stl".into(),
        architecture: config.model.architecture.name().into(),
        sweep: point.clone(),
        seed: config.seed,
        metrics: metric_pairs(&config.tasks, &r.test),
        delta_p: Some(0.0),
        delta_m: Some(0.0),
        wall_s,
    })
}

/// The test metrics of `tasks` in a run's summary, or an error naming its folder.
fn test_scores(
    tasks: &[(String, Vec<mtl_train::metrics::MetricKind>)],
    summary: &serde_json::Value,
) -> Result<Vec<Vec<(mtl_train::metrics::MetricKind, f64)>>, Error> {
    scores_from_json(tasks, &summary["test"]).map_err(|m| Error::RunDir {
        path: PathBuf::from(summary["run_dir"].as_str().unwrap_or("?")),
        message: format!("summary.json has no usable test results ({m}); delete the folder to rerun it"),
    })
}

fn run_outcome(cell: &Cell, config: &RunConfig, summary: &serde_json::Value) -> Result<Outcome, Error> {
    let tasks: Vec<(String, Vec<_>)> =
        config.tasks.iter().map(|t| (t.spec.name.clone(), t.metrics.clone())).collect();
    let scores = test_scores(&tasks, summary)?;
    let d = |k: &str| summary.pointer(&format!("/delta/test/{k}")).and_then(serde_json::Value::as_f64);
    Ok(Outcome {
        method: cell.method.clone(),
        architecture: cell.architecture.clone(),
        sweep: cell.sweep.clone(),
        seed: config.seed,
        metrics: metric_pairs(&config.tasks, &scores),
        delta_p: d("delta_p"),
        delta_m: d("delta_m"),
        wall_s: summary["wall_s"].as_f64().unwrap_or(f64::NAN),
    })
}

fn csv_bytes(rows: &[Vec<String>]) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r).map_err(|e| Error::Io { path: "table.csv".into(), source: e.into() })?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io { path: "table.csv".into(), source: e.into_error() })?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

fn write_results(out: &Path, tasks: &[TaskConfig], outcomes: &[Outcome]) -> Result<(), Error> {
    let names = metric_names(tasks);
    let mut rows = vec![
        ["method", "architecture", "sweep", "seed"]
            .iter()
            .map(|s| s.to_string())
            .chain(names.iter().cloned())
            .chain(["delta_p", "delta_m", "wall_s"].iter().map(|s| s.to_string()))
            .collect::<Vec<_>>(),
    ];
    for o in outcomes {
        let mut r = vec![o.method.clone(), o.architecture.clone(), sweep_label(&o.sweep), o.seed.to_string()];
        r.extend(names.iter().map(|n| fmt_opt(o.metrics.iter().find(|(k, _)| k == n).map(|(_, v)| *v))));
        r.extend([fmt_opt(o.delta_p), fmt_opt(o.delta_m), format!("{:.3}", o.wall_s)]);
        rows.push(r);
    }
    atomic_write(&out.join("results.csv"), csv_bytes(&rows)?.as_bytes())
}

fn metric_names(tasks: &[TaskConfig]) -> Vec<String> {
    tasks
        .iter()
        .flat_map(|t| t.metrics.iter().map(move |m| format!("{}.{}", t.spec.name, m.name())))
        .collect()
}

/// Mean and sample standard deviation (0 for one value); `None` for no value.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Some((mean, var.sqrt()))
}

/// The aggregated table: one row per (sweep point, method, architecture).
#[derive(Debug, Clone)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Debug, Clone)]
struct Row {
    sweep: SweepPoint,
    method: String,
    architecture: String,
    seeds: usize,
    /// Per column: mean ± std over seeds.
    values: Vec<Option<(f64, f64)>>,
    wall_s: f64,
}

fn aggregate(tasks: &[TaskConfig], outcomes: &[Outcome]) -> Table {
    let mut columns = metric_names(tasks);
    columns.push("Δp %".into());
    columns.push("Δm %".into());
    let mut rows: Vec<Row> = Vec::new();
    let mut keys: Vec<(SweepPoint, String, String)> = Vec::new();
    let mut points: Vec<&SweepPoint> = Vec::new();
    for o in outcomes {
        let k = (o.sweep.clone(), o.method.clone(), o.architecture.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
        if !points.contains(&&o.sweep) {
            points.push(&o.sweep);
        }
    }
    // Rows of one sweep point together, baselines first (a stable sort keeps that order).
    keys.sort_by_key(|k| points.iter().position(|p| **p == k.0));
    for (sweep, method, architecture) in keys {
        let group: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.sweep == sweep && o.method == method && o.architecture == architecture)
            .collect();
        let mut values = Vec::new();
        for c in &columns[..columns.len() - 2] {
            let v: Vec<f64> = group
                .iter()
                .filter_map(|o| o.metrics.iter().find(|(k, _)| k == c).map(|(_, v)| *v))
                .collect();
            values.push(mean_std(&v));
        }
        values.push(mean_std(&group.iter().filter_map(|o| o.delta_p).collect::<Vec<_>>()));
        values.push(mean_std(&group.iter().filter_map(|o| o.delta_m).collect::<Vec<_>>()));
        let wall_s = group.iter().map(|o| o.wall_s).sum::<f64>() / group.len() as f64;
        rows.push(Row { sweep, method, architecture, seeds: group.len(), values, wall_s });
    }
    Table { columns, rows }
}

fn markdown(t: &Table, sweep: bool) -> String {
    let mut s = String::new();
    let mut head = Vec::new();
    if sweep {
        head.push("sweep".to_string());
    }
    head.extend(["method", "architecture", "seeds"].iter().map(|x| x.to_string()));
    head.extend(t.columns.iter().cloned());
    head.push("wall s / run".into());
    s.push_str(&format!("| {} |\n", head.join(" | ")));
    s.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for r in &t.rows {
        let mut cells = Vec::new();
        if sweep {
            cells.push(sweep_label(&r.sweep));
        }
        cells.extend([r.method.clone(), r.architecture.clone(), r.seeds.to_string()]);
        cells.extend(r.values.iter().map(|v| match v {
            Some((m, sd)) if r.seeds > 1 => format!("{m:.4} ± {sd:.4}"),
            Some((m, _)) => format!("{m:.4}"),
            None => "—".into(),
        }));
        cells.push(format!("{:.1}", r.wall_s));
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

fn table_csv(t: &Table) -> Result<String, Error> {
    let mut head: Vec<String> =
        ["sweep", "method", "architecture", "seeds"].iter().map(|s| s.to_string()).collect();
    for c in &t.columns {
        head.push(format!("{c} mean"));
        head.push(format!("{c} std"));
    }
    head.push("wall_s".into());
    let mut rows = vec![head];
    for r in &t.rows {
        let mut row =
            vec![sweep_label(&r.sweep), r.method.clone(), r.architecture.clone(), r.seeds.to_string()];
        for v in &r.values {
            row.push(fmt_opt(v.map(|v| v.0)));
            row.push(fmt_opt(v.map(|v| v.1)));
        }
        row.push(format!("{:.3}", r.wall_s));
        rows.push(row);
    }
    csv_bytes(&rows)
}

/// One panel per column: value vs the (first) swept value, a line per method/architecture; with
/// no sweep, the cells side by side.
fn panels(t: &Table) -> Vec<Panel> {
    let sweep_values: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for r in &t.rows {
            let label = r.sweep.first().map(|(_, v)| v.clone()).unwrap_or_default();
            if !v.contains(&label) {
                v.push(label);
            }
        }
        v
    };
    let numeric: Option<Vec<f64>> = sweep_values.iter().map(|v| v.parse::<f64>().ok()).collect();
    let swept = t.rows.iter().any(|r| !r.sweep.is_empty());
    let x_desc = t.rows.first().and_then(|r| r.sweep.first()).map_or("cell".into(), |(k, _)| k.clone());
    let mut series_keys: Vec<(String, String, SweepPoint)> = Vec::new();
    for r in &t.rows {
        let rest: SweepPoint = r.sweep.iter().skip(1).cloned().collect();
        let k = (r.method.clone(), r.architecture.clone(), rest);
        if !series_keys.contains(&k) {
            series_keys.push(k);
        }
    }
    let cell_labels: Vec<String> =
        t.rows.iter().map(|r| format!("{}/{}", r.method, r.architecture)).collect();
    t.columns
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let series = if swept {
                series_keys
                    .iter()
                    .map(|(m, a, rest)| Series {
                        name: if rest.is_empty() {
                            format!("{m}/{a}")
                        } else {
                            format!("{m}/{a} {}", sweep_label(rest))
                        },
                        points: t
                            .rows
                            .iter()
                            .filter(|r| {
                                &r.method == m
                                    && &r.architecture == a
                                    && r.sweep.iter().skip(1).eq(rest.iter())
                            })
                            .filter_map(|r| {
                                let label = r.sweep.first().map(|(_, v)| v.clone()).unwrap_or_default();
                                let i = sweep_values.iter().position(|v| *v == label)?;
                                let x = numeric.as_ref().map_or(i as f64, |n| n[i]);
                                r.values[c].map(|(mean, sd)| (x, mean, Some(sd)))
                            })
                            .collect(),
                    })
                    .collect()
            } else {
                vec![Series {
                    name: "mean ± std".into(),
                    points: t
                        .rows
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| r.values[c].map(|(m, sd)| (i as f64, m, Some(sd))))
                        .collect(),
                }]
            };
            Panel {
                title: name.clone(),
                x_desc: x_desc.clone(),
                y_desc: "test".into(),
                series,
                x_labels: match (swept, &numeric) {
                    (false, _) => Some(cell_labels.clone()),
                    (true, None) => Some(sweep_values.clone()),
                    (true, Some(_)) => None,
                },
                log_y: false,
                connect: swept,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_form_a_product() {
        let p = parse_sweeps(&["a.b=1,2".into(), "c=x,y,z".into()]).unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], vec![("a.b".to_string(), "1".to_string()), ("c".to_string(), "x".to_string())]);
        assert_eq!(p[5], vec![("a.b".to_string(), "2".to_string()), ("c".to_string(), "z".to_string())]);
        assert!(parse_sweeps(&["novalue".into()]).is_err());
        assert_eq!(parse_sweeps(&[]).unwrap(), vec![Vec::new()]);
    }

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((m - 2.5).abs() < 1e-12);
        // Sample variance: (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3.
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[7.0]), Some((7.0, 0.0)));
        assert_eq!(mean_std(&[]), None);
    }
}
