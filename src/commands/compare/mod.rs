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

mod grid;
mod outcome;
mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::args::BackendArgs;
use crate::commands::train::{continue_in, train, train_baselines};
use crate::report::plots::write_svg;
use crate::report::progress::Progress;
use mtl_train::Error;
use mtl_train::backend::{SelectedDevice, select_device};
use mtl_train::config::RunConfig;
use mtl_train::io::atomic_write;
use mtl_train::stl::{self, StlReference, finished_summary};

use self::grid::{Grid, SweepPoint, sweep_label};
use self::outcome::{Outcome, grouped_outcome, run_outcome, stl_outcome};
use self::table::{aggregate, markdown, panels, table_csv, write_results};

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

/// Above this many tasks, `table.md` shows per-kind means instead of every metric.
const COMPACT_ABOVE_TASKS: usize = 4;

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
    // Validate the whole grid before training anything.
    let grid = Grid::plan(args, &base)?;
    let device = select_device(args.backend.backend, args.backend.device)?;
    mtl_train::io::create_dir_all(&out)?;
    let (cell_runs, runs_total) = grid.run_counts(base.tasks.len());
    let progress = Progress::counting(runs_total as u64, "runs", args.quiet);
    progress.set_prefix("compare");
    if base.tasks.len() == 1 && !args.no_stl {
        progress
            .line("compare: one task — the config is its own single-task network, so no `stl` row and no Δ");
    }
    let baselines = if grid.stl_configs.is_empty() {
        String::new()
    } else {
        format!(" + {} single-task baselines", runs_total - cell_runs)
    };
    progress.line(&format!(
        "compare: {} cells × {} seeds{baselines} → {}",
        grid.cells.len(),
        grid.seeds.len(),
        out.display()
    ));
    let started = Instant::now();
    let outcomes = train_grid(&grid, &base, &out, &device, &progress)?;
    progress.finish();

    let tasks = &base.tasks;
    write_results(&out, tasks, &outcomes)?;
    let table = aggregate(tasks, &outcomes);
    let swept = !args.sweep.is_empty();
    // Many tasks: `table.md` is compact (per-kind means and Δ), `table-full.md` has every metric.
    let compact = tasks.len() > COMPACT_ABOVE_TASKS;
    atomic_write(&out.join("table.md"), markdown(&table, swept, compact).as_bytes())?;
    if compact {
        atomic_write(&out.join("table-full.md"), markdown(&table, swept, false).as_bytes())?;
    }
    atomic_write(&out.join("table.csv"), table_csv(&table)?.as_bytes())?;
    let plot = out.join("plots").join("compare.svg");
    mtl_train::io::create_dir_all(&out.join("plots"))?;
    write_svg(&plot, &format!("compare: {}", base.name), &panels(&table))?;
    eprintln!("{}", markdown(&table, swept, compact));
    if compact {
        eprintln!("every metric of every task: {}", out.join("table-full.md").display());
    }
    eprintln!("compare finished in {:.1} s", started.elapsed().as_secs_f64());
    println!("{}", out.join("table.md").display());
    Ok(())
}

/// Train (or reuse) every run of the grid: the baselines first, since every cell of the same
/// sweep point and seed compares with them, then each cell.
fn train_grid(
    grid: &Grid,
    base: &RunConfig,
    out: &Path,
    device: &SelectedDevice,
    progress: &Progress,
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::new();
    let mut references: Vec<(SweepPoint, u64, StlReference)> = Vec::new();
    for (point, configs) in &grid.stl_configs {
        for config in configs {
            let mut announce = |b: &stl::Baseline, trained: bool| {
                progress.set_message(format!("stl {} seed {} {}", b.task, config.seed, sweep_label(point)));
                if !trained {
                    progress.advance(1);
                }
            };
            let reference = train_baselines_counted(config, device, &mut announce, progress)?;
            outcomes.push(stl_outcome(config, point, &reference)?);
            references.push((point.clone(), config.seed, reference));
        }
    }
    for cell in &grid.cells {
        let reference = |seed: u64| {
            references.iter().find(|(p, s, _)| *p == cell.sweep && *s == seed).map(|(_, _, r)| r.clone())
        };
        // A grouped cell: one run per task group, combined into one outcome per seed.
        for (configs, &seed) in cell.groups.iter().zip(&grid.seeds) {
            let mut summaries = Vec::with_capacity(configs.len());
            for (g, config) in configs.iter().enumerate() {
                let dir = out
                    .join("cells")
                    .join(&cell.id)
                    .join(format!("seed-{seed}"))
                    .join(format!("group-{}", g + 1));
                progress.set_message(format!("{} seed {seed} group {}", cell.id, g + 1));
                summaries.push(run_or_reuse(config, &dir, device, progress, None)?);
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
            let summary = run_or_reuse(config, &dir, device, progress, reference(config.seed))?;
            progress.advance(1);
            outcomes.push(run_outcome(cell, config, &summary)?);
        }
    }
    Ok(outcomes)
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

#[cfg(test)]
mod tests {
    use super::grid::parse_sweeps;
    use super::table::mean_std;

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
