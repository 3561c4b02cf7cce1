//! The grid of `mtl compare`: sweep points, cells and task groups, each validated before
//! anything trains.

use mtl_train::Error;
use mtl_train::config::RunConfig;

use super::CompareArgs;

/// One point of the sweep product: `(key, value)` pairs.
pub(super) type SweepPoint = Vec<(String, String)>;

/// A grid cell: one method × architecture × sweep point, run for every seed.
#[derive(Debug, Clone)]
pub(super) struct Cell {
    pub(super) method: String,
    pub(super) architecture: String,
    pub(super) sweep: SweepPoint,
    /// Folder name under `cells/`.
    pub(super) id: String,
    /// Validated config of each seed.
    pub(super) configs: Vec<RunConfig>,
    /// Grouped cells (`--groups`): per seed, one config per task group (`configs` is empty).
    pub(super) groups: Vec<Vec<RunConfig>>,
}

pub(super) fn parse_sweeps(sweeps: &[String]) -> Result<Vec<SweepPoint>, Error> {
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

pub(super) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '=') { c } else { '_' })
        .collect()
}

pub(super) fn sweep_label(p: &SweepPoint) -> String {
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// `--groups`: `"a,b;c,d"` or a `groups.json` (`{"groups": [["a", "b"], …]}`); every task of
/// the config in exactly one group.
pub(super) fn parse_groups(spec: &str, tasks: &[String]) -> Result<Vec<Vec<String>>, Error> {
    let groups: Vec<Vec<String>> = if spec.ends_with(".json") {
        let text = std::fs::read_to_string(spec).map_err(|e| {
            Error::Usage(format!("--groups {spec}: cannot read it ({})", mtl_train::os::os_message(&e)))
        })?;
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
pub(super) fn toml_list(items: &[String]) -> String {
    toml::Value::Array(items.iter().map(|s| toml::Value::String(s.clone())).collect()).to_string()
}

/// The validated grid: baselines per sweep point, and the cells.
#[derive(Debug)]
pub(super) struct Grid {
    /// The seeds every cell runs.
    pub(super) seeds: Vec<u64>,
    /// Per sweep point, the config of each seed whose baselines are needed (empty with `--no-stl`).
    pub(super) stl_configs: Vec<(SweepPoint, Vec<RunConfig>)>,
    /// The cells, in run order.
    pub(super) cells: Vec<Cell>,
}

impl Grid {
    /// Every config of the grid, validated.
    pub(super) fn plan(args: &CompareArgs, base: &RunConfig) -> Result<Self, Error> {
        let methods = if args.methods.is_empty() {
            vec![base.weighting.name().to_string()]
        } else {
            args.methods.clone()
        };
        let architectures = if args.architectures.is_empty() {
            vec![base.model.architecture.name().to_string()]
        } else {
            args.architectures.clone()
        };
        let points = parse_sweeps(&args.sweep)?;
        let groups = args.groups.as_deref().map(|g| parse_groups(g, &base.task_names())).transpose()?;
        let seeds: Vec<u64> = (0..args.seeds as u64).map(|i| base.seed + i).collect();
        let cell_config = |extra: &[String], seed: u64| -> Result<RunConfig, Error> {
            let mut o = args.set.clone();
            o.extend_from_slice(extra);
            o.push(format!("run.seed={seed}"));
            Ok(RunConfig::from_file(&args.config, &o)?)
        };
        let per_seed = |o: &[String]| seeds.iter().map(|&s| cell_config(o, s)).collect::<Result<Vec<_>, _>>();
        let mut grid = Grid { seeds: seeds.clone(), stl_configs: Vec::new(), cells: Vec::new() };
        for point in &points {
            let sweep_overrides: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
            // A one-task config is its own single-task baseline: no `stl` row.
            if !args.no_stl && base.tasks.len() > 1 {
                grid.stl_configs.push((point.clone(), per_seed(&sweep_overrides)?));
            }
            for m in &methods {
                for a in &architectures {
                    let mut o = sweep_overrides.clone();
                    o.push(format!("weighting.method={m}"));
                    o.push(format!("model.architecture={a}"));
                    let mut id = format!("{m}-{a}");
                    for (k, v) in point {
                        id.push_str(&format!("-{}={v}", k.rsplit('.').next().unwrap_or(k)));
                    }
                    let cell = Cell {
                        method: m.clone(),
                        architecture: a.clone(),
                        sweep: point.clone(),
                        id: sanitize(&id),
                        configs: per_seed(&o)?,
                        groups: Vec::new(),
                    };
                    if let Some(groups) = &groups {
                        let grouped = |s: u64| {
                            let group_config = |g: &Vec<String>| {
                                let mut o = o.clone();
                                o.push(format!("run.tasks={}", toml_list(g)));
                                cell_config(&o, s)
                            };
                            groups.iter().map(group_config).collect::<Result<Vec<_>, _>>()
                        };
                        let groups = seeds.iter().map(|&s| grouped(s)).collect::<Result<Vec<_>, _>>()?;
                        let id = sanitize(&format!("{id}-grouped"));
                        let method = format!("{m} grouped");
                        grid.cells.push(cell.clone());
                        grid.cells.push(Cell { method, id, configs: Vec::new(), groups, ..cell });
                    } else {
                        grid.cells.push(cell);
                    }
                }
            }
        }
        Ok(grid)
    }

    /// Runs of the cells, and of everything (cells and the baselines of every task).
    pub(super) fn run_counts(&self, tasks: usize) -> (usize, usize) {
        let cell_runs: usize = (self.cells.iter())
            .map(|c| if c.groups.is_empty() { self.seeds.len() } else { c.groups.iter().map(Vec::len).sum() })
            .sum();
        (cell_runs, cell_runs + self.stl_configs.len() * self.seeds.len() * tasks)
    }
}
