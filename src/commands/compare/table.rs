//! The tables and chart of `mtl compare`: `results.csv` (one row per run), `table.md` /
//! `table.csv` (mean ± sample std over seeds per cell) and the panels of `plots/compare.svg`.

use std::path::Path;

use mtl_train::Error;
use mtl_train::config::TaskConfig;
use mtl_train::io::atomic_write;

use super::grid::{SweepPoint, sweep_label};
use super::outcome::Outcome;
use crate::report::plots::{Panel, Series};

pub(super) fn csv_bytes(rows: &[Vec<String>]) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r).map_err(|e| Error::Io { path: "table.csv".into(), cause: e.into() })?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io { path: "table.csv".into(), cause: e.into_error() })?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}

pub(super) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

pub(super) fn write_results(out: &Path, tasks: &[TaskConfig], outcomes: &[Outcome]) -> Result<(), Error> {
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

pub(super) fn metric_names(tasks: &[TaskConfig]) -> Vec<String> {
    tasks
        .iter()
        .flat_map(|t| t.metrics.iter().map(move |m| format!("{}.{}", t.spec.name, m.name())))
        .collect()
}

/// Mean and sample standard deviation (0 for one value); `None` for no value.
pub(super) fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
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
pub(super) struct Table {
    pub(super) columns: Vec<String>,
    /// The columns of the compact view (per-kind means and Δ), for tables of many tasks.
    pub(super) compact: Vec<usize>,
    pub(super) rows: Vec<Row>,
    /// Lines under the table: what Δp and Δm are, and the metrics left out of them.
    pub(super) notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) sweep: SweepPoint,
    pub(super) method: String,
    pub(super) architecture: String,
    pub(super) seeds: usize,
    /// Per column: mean ± std over seeds.
    pub(super) values: Vec<Option<(f64, f64)>>,
    pub(super) wall_s: f64,
}

/// Metrics reported by at least two tasks, with the `task.metric` columns they average.
fn per_kind(tasks: &[TaskConfig]) -> Vec<(String, Vec<String>)> {
    let mut kinds: Vec<(String, Vec<String>)> = Vec::new();
    for t in tasks {
        for m in &t.metrics {
            let column = format!("{}.{}", t.spec.name, m.name());
            match kinds.iter_mut().find(|(k, _)| k == m.name()) {
                Some((_, cols)) => cols.push(column),
                None => kinds.push((m.name().to_string(), vec![column])),
            }
        }
    }
    kinds.retain(|(_, cols)| cols.len() > 1);
    kinds
}

pub(super) fn aggregate(tasks: &[TaskConfig], outcomes: &[Outcome]) -> Table {
    let metric_columns = metric_names(tasks);
    let kinds = per_kind(tasks);
    let mut columns = metric_columns.clone();
    columns.extend(kinds.iter().map(|(k, cols)| format!("mean {k} ({} tasks)", cols.len())));
    let compact: Vec<usize> = (metric_columns.len()..columns.len() + 2).collect();
    columns.push("Δp % ↑".into());
    columns.push("Δm % ↓".into());
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
        let value = |o: &Outcome, c: &str| o.metrics.iter().find(|(k, _)| k == c).map(|(_, v)| *v);
        for c in &metric_columns {
            let v: Vec<f64> = group.iter().filter_map(|o| value(o, c)).collect();
            values.push(mean_std(&v));
        }
        // A per-kind mean per run (over the tasks where it is defined), then over seeds.
        for (_, cols) in &kinds {
            let v: Vec<f64> = group
                .iter()
                .filter_map(|o| {
                    let defined: Vec<f64> =
                        cols.iter().filter_map(|c| value(o, c)).filter(|v| v.is_finite()).collect();
                    (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64)
                })
                .collect();
            values.push(mean_std(&v));
        }
        values.push(mean_std(&group.iter().filter_map(|o| o.delta_p).collect::<Vec<_>>()));
        values.push(mean_std(&group.iter().filter_map(|o| o.delta_m).collect::<Vec<_>>()));
        let wall_s = group.iter().map(|o| o.wall_s).sum::<f64>() / group.len() as f64;
        rows.push(Row { sweep, method, architecture, seeds: group.len(), values, wall_s });
    }
    Table { columns, compact, rows, notes: notes(tasks, outcomes) }
}

/// The conventions of the Δ columns, and which metrics were left out of them (undefined).
fn notes(tasks: &[TaskConfig], outcomes: &[Outcome]) -> Vec<String> {
    if outcomes.iter().all(|o| o.delta_p.is_none()) {
        return Vec::new();
    }
    let chosen: Vec<String> = tasks
        .iter()
        .flat_map(|t| t.delta_metrics.iter().map(move |m| format!("{}.{}", t.spec.name, m.name())))
        .collect();
    let mut notes = vec![
        "Δp % ↑: LibMTL's relative improvement over the single-task baselines, all reported metrics, \
         averaged per task first (higher is better)."
            .to_string(),
        format!(
            "Δm % ↓: as published (Maninis et al. 2019; Nash-MTL; FAMO), (1/K) Σ_k (−1)^δ_k (M_k − M_b,k)/M_b,k · 100 \
             over {} (lower is better).",
            chosen.join(", ")
        ),
    ];
    let mut left_out: Vec<(String, Vec<String>)> = Vec::new();
    for o in outcomes {
        for l in &o.left_out {
            let cell = format!("{}/{}", o.method, o.architecture);
            match left_out.iter_mut().find(|(m, _)| m == l) {
                Some((_, cells)) if !cells.contains(&cell) => cells.push(cell),
                Some(_) => {}
                None => left_out.push((l.clone(), vec![cell])),
            }
        }
    }
    for (metric, cells) in left_out {
        notes.push(format!("left out of Δ (undefined): {metric}, in {}", cells.join(", ")));
    }
    notes
}

/// The Markdown table, with every column or (`compact`) only the per-kind means and Δ.
pub(super) fn markdown(t: &Table, sweep: bool, compact: bool) -> String {
    let shown: Vec<usize> = if compact { t.compact.clone() } else { (0..t.columns.len()).collect() };
    let mut s = String::new();
    let mut head = Vec::new();
    if sweep {
        head.push("sweep".to_string());
    }
    head.extend(["method", "architecture", "seeds"].iter().map(|x| x.to_string()));
    head.extend(shown.iter().map(|&i| t.columns[i].clone()));
    head.push("wall s / run".into());
    s.push_str(&format!("| {} |\n", head.join(" | ")));
    s.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for r in &t.rows {
        let mut cells = Vec::new();
        if sweep {
            cells.push(sweep_label(&r.sweep));
        }
        cells.extend([r.method.clone(), r.architecture.clone(), r.seeds.to_string()]);
        cells.extend(shown.iter().map(|&i| &r.values[i]).map(|v| match v {
            Some((m, sd)) if r.seeds > 1 => format!("{m:.4} ± {sd:.4}"),
            Some((m, _)) => format!("{m:.4}"),
            None => "—".into(),
        }));
        cells.push(format!("{:.1}", r.wall_s));
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if !t.notes.is_empty() {
        s.push('\n');
        for n in &t.notes {
            s.push_str(&format!("{n}\n"));
        }
    }
    s
}

pub(super) fn table_csv(t: &Table) -> Result<String, Error> {
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
pub(super) fn panels(t: &Table) -> Vec<Panel> {
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
