//! SVG plots (plotters): a run's curves from `metrics.jsonl` (`RUN_DIR/plots/`, written at the
//! end of training and by `mtl plot`), and the charts of `mtl compare`.
//!
//! A run gets `loss.svg` (train and valid loss per task), `metrics.svg` (valid metrics, one
//! panel per task), `weights.svg` (mean task weight per epoch), `gradients.svg` (on the
//! gradient routes: task gradient norms and the mean and minimum pairwise cosine), `lr.svg`
//! (learning rate), when single-task baselines exist, `delta.svg` (valid Δp and Δm), and for
//! gated architectures `gates.svg` (each task's mean gate weight per expert), and when the run
//! measured task affinity the `affinity_*.svg` heat maps.

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

use mtl_train::Error;
use mtl_train::affinity::{AffinityReport, MATRICES, title as affinity_title};
use mtl_train::io::atomic_write;

/// One line of a chart; `std` draws error bars (compare plots).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, y, std)` points.
    pub points: Vec<(f64, f64, Option<f64>)>,
}

/// One panel: a title, axis names and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption.
    pub title: String,
    /// X axis name.
    pub x_desc: String,
    /// Y axis name.
    pub y_desc: String,
    /// Lines.
    pub series: Vec<Series>,
    /// Tick labels for integer x positions (categorical x axis), if any.
    pub x_labels: Option<Vec<String>>,
    /// Logarithmic y axis (all values must be positive).
    pub log_y: bool,
    /// Join the points with lines (off for unordered categories).
    pub connect: bool,
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Render `panels` side by side (up to 3 per row) into an SVG file at `path`, atomically.
pub fn write_svg(path: &Path, title: &str, panels: &[Panel]) -> Result<(), Error> {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (460 * cols as u32, 340 * rows as u32 + 30);
    let mut svg = String::new();
    draw(&mut svg, size, title, panels, cols, rows)
        .map_err(|e| Error::Io { path: path.to_path_buf(), cause: std::io::Error::other(e.to_string()) })?;
    atomic_write(path, svg.as_bytes())
}

fn draw(
    svg: &mut String,
    size: (u32, u32),
    title: &str,
    panels: &[Panel],
    cols: usize,
    rows: usize,
) -> DrawResult<()> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    for (panel, area) in panels.iter().zip(root.split_evenly((rows, cols))) {
        draw_panel(&area, panel)?;
    }
    root.present()?;
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, p: &Panel) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let points = || p.series.iter().flat_map(|s| s.points.iter());
    let Some((x0, x1)) = bounds(points().map(|q| q.0)) else { return Ok(()) };
    let (y0, y1) = bounds(points().flat_map(|q| {
        let s = q.2.unwrap_or(0.0);
        [q.1 - s, q.1 + s]
    }))
    .unwrap_or((0.0, 1.0));
    let (x0, x1) = if x0 == x1 || p.x_labels.is_some() { (x0 - 0.5, x1 + 0.5) } else { (x0, x1) };
    let pad = if y1 > y0 { 0.05 * (y1 - y0) } else { 0.5_f64.max(y0.abs() * 0.05) };
    let mut builder = ChartBuilder::on(area);
    builder.caption(&p.title, ("sans-serif", 16)).margin(8).x_label_area_size(32).y_label_area_size(56);
    let labels = p.x_labels.clone();
    let x_fmt = move |x: &f64| match &labels {
        Some(l) if (x.round() - x).abs() < 1e-6 => l.get(x.round() as usize).cloned().unwrap_or_default(),
        Some(_) => String::new(),
        None => tidy(*x),
    };
    if p.log_y && y0 > 0.0 {
        let chart = builder.build_cartesian_2d(x0..x1, (y0 * 0.9..y1 * 1.1).log_scale())?;
        draw_lines(chart, p, &x_fmt)
    } else {
        let chart = builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
        draw_lines(chart, p, &x_fmt)
    }
}

/// Mesh, one line per series (with markers and error bars) and the legend, on either y scale.
fn draw_lines<'a, DB, X, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
    p: &Panel,
    x_fmt: &dyn Fn(&f64) -> String,
) -> DrawResult<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc(&p.x_desc)
        .y_desc(&p.y_desc)
        .x_label_formatter(x_fmt)
        .y_label_formatter(&|y| tidy(*y))
        .draw()?;
    for (i, s) in p.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line = if p.connect { s.points.iter().map(|q| (q.0, q.1)).collect() } else { Vec::new() };
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|q| Circle::new((q.0, q.1), 3, color.filled())))?;
        chart.draw_series(s.points.iter().filter_map(|q| {
            q.2.filter(|sd| *sd > 0.0)
                .map(|sd| ErrorBar::new_vertical(q.0, q.1 - sd, q.1, q.1 + sd, color.stroke_width(1), 8))
        }))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}

/// A tick label without float noise: at most 4 significant decimals, trailing zeros cut
/// (0.30000000000000004 → "0.3"); scientific notation for very small or large values.
fn tidy(v: f64) -> String {
    // Tick positions computed as sums of steps leave rounding residue (−1.39e-17 for 0).
    if v.abs() < 1e-12 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (4 - a.log10().floor() as i32 - 1).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Read `metrics.jsonl` of `run_dir`.
pub fn read_log(run_dir: &Path) -> Result<Vec<serde_json::Value>, Error> {
    let path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::RunDir {
        path: run_dir.to_path_buf(),
        message: format!(
            "cannot read metrics.jsonl ({}); is this a run folder with at least one epoch?",
            mtl_train::os::os_message(&e)
        ),
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::RunDir {
                path: path.clone(),
                message: format!("line {} is not JSON ({e})", i + 1),
            })
        })
        .collect()
}

/// One line per task of the `{task: …}` object at `pointer` (e.g. `/train/loss`): the task's
/// value, or with `field` its `field` entry (e.g. `/valid` with `loss`), in each epoch.
fn task_series(log: &[serde_json::Value], pointer: &str, field: Option<&str>) -> Vec<Series> {
    let Some(first) = log.first().and_then(|l| l.pointer(pointer)).and_then(|v| v.as_object()) else {
        return Vec::new();
    };
    first
        .keys()
        .map(|task| {
            let mut at = format!("{pointer}/{}", escape(task));
            if let Some(f) = field {
                at.push_str(&format!("/{}", escape(f)));
            }
            Series { name: task.clone(), points: epochs_of(log, &at) }
        })
        .collect()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn epochs_of(log: &[serde_json::Value], pointer: &str) -> Vec<(f64, f64, Option<f64>)> {
    log.iter()
        .filter_map(|l| {
            let e = l.get("epoch")?.as_f64()?;
            let v = l.pointer(pointer)?.as_f64()?;
            Some((e, v, None))
        })
        .collect()
}

fn panel(title: &str, y_desc: &str, series: Vec<Series>, log_y: bool) -> Panel {
    Panel {
        title: title.into(),
        x_desc: "epoch".into(),
        y_desc: y_desc.into(),
        series,
        x_labels: None,
        log_y,
        connect: true,
    }
}

/// One panel per task of the `{task: {key: value}}` object `root` of each epoch, one line per
/// key (the loss left out).
fn nested_panels(log: &[serde_json::Value], root: &str, y_desc: &str) -> Vec<Panel> {
    let Some(first) = log.first().and_then(|l| l.get(root)).and_then(|v| v.as_object()) else {
        return Vec::new();
    };
    first
        .iter()
        .map(|(task, values)| {
            let series = values
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter(|k| *k != "loss")
                .map(|k| Series {
                    name: k.clone(),
                    points: epochs_of(log, &format!("/{root}/{}/{}", escape(task), escape(k))),
                })
                .collect();
            panel(task, y_desc, series, false)
        })
        .collect()
}

/// Draw the plots of the run in `run_dir` into `run_dir/plots/`. Returns the files written.
pub fn plot_run(run_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let log = read_log(run_dir)?;
    let dir = run_dir.join("plots");
    mtl_train::io::create_dir_all(&dir)?;
    let mut written = Vec::new();
    let mut write = |name: &str, title: &str, panels: Vec<Panel>| -> Result<(), Error> {
        if panels.iter().all(|p| p.series.iter().all(|s| s.points.is_empty())) {
            return Ok(());
        }
        let path = dir.join(name);
        write_svg(&path, title, &panels)?;
        written.push(path);
        Ok(())
    };
    let run = run_dir.file_name().map_or(String::new(), |n| n.to_string_lossy().to_string());

    write(
        "loss.svg",
        &format!("{run}: task losses"),
        vec![
            panel("train", "loss", task_series(&log, "/train/loss", None), true),
            panel("valid", "loss", task_series(&log, "/valid", Some("loss")), true),
        ],
    )?;

    let metric_panels = nested_panels(&log, "valid", "valid metric");
    write("metrics.svg", &format!("{run}: validation metrics"), metric_panels)?;
    write(
        "gates.svg",
        &format!("{run}: mean gate weight per expert (valid)"),
        nested_panels(&log, "valid_gates", "gate weight"),
    )?;
    write(
        "weights.svg",
        &format!("{run}: task weights (epoch mean)"),
        vec![panel("weights", "weight", task_series(&log, "/train/weights", None), false)],
    )?;
    let cos = ["cos_mean", "cos_min"]
        .iter()
        .map(|k| Series {
            name: k.replace('_', " "),
            points: epochs_of(&log, &format!("/train/gradients/{k}")),
        })
        .collect();
    write(
        "gradients.svg",
        &format!("{run}: task gradients (epoch mean)"),
        vec![
            panel("norm ‖g_t‖", "norm", task_series(&log, "/train/gradients/norm", None), false),
            panel("pairwise cosine", "cosine", cos, false),
        ],
    )?;
    write(
        "lr.svg",
        &format!("{run}: learning rate"),
        vec![panel(
            "learning rate",
            "lr",
            vec![Series { name: "lr".into(), points: epochs_of(&log, "/lr") }],
            false,
        )],
    )?;
    let deltas = ["delta_p", "delta_m"]
        .iter()
        .map(|k| {
            let direction = if *k == "delta_p" { "↑ better" } else { "↓ better" };
            Series {
                name: format!("{k} (%, {direction})"),
                points: epochs_of(&log, &format!("/valid_delta/{k}")),
            }
        })
        .collect();
    write(
        "delta.svg",
        &format!("{run}: improvement over single-task (valid)"),
        vec![panel("Δ", "%", deltas, false)],
    )?;
    // Task-affinity heat maps, when the run measured them.
    let affinity = run_dir.join("affinity.json");
    if let Ok(text) = std::fs::read_to_string(&affinity) {
        let report: AffinityReport = serde_json::from_str(&text).map_err(|e| Error::RunDir {
            path: run_dir.to_path_buf(),
            message: format!("affinity.json is corrupt ({e}); measure again with `mtl affinity`"),
        })?;
        written.extend(plot_affinity(&report, run_dir)?);
    }
    Ok(written)
}

/// Draw one heat map per affinity matrix into `run_dir/plots` (`affinity_NAME.svg`); returns
/// the files.
pub fn plot_affinity(report: &AffinityReport, run_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    plot_affinity_as(report, run_dir, "affinity")
}

/// [`plot_affinity`] with file names `STEM_NAME.svg`.
pub fn plot_affinity_as(report: &AffinityReport, run_dir: &Path, stem: &str) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    let plots = run_dir.join("plots");
    mtl_train::io::create_dir_all(&plots)?;
    for name in MATRICES {
        if let Some(m) = report.matrices.get(name) {
            let path = plots.join(format!("{stem}_{name}.svg"));
            heatmap_svg(&path, affinity_title(name), &report.tasks, m)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A T×T matrix as an SVG heat map at `path` (atomically): row and column labels, each cell
/// coloured on a diverging scale (red positive, blue negative, white 0, saturated at the
/// largest |value|) and printed; `None` cells are grey.
pub fn heatmap_svg(path: &Path, title: &str, labels: &[String], m: &[Vec<Option<f64>>]) -> Result<(), Error> {
    let mut svg = String::new();
    draw_heatmap(&mut svg, title, labels, m)
        .map_err(|e| Error::Io { path: path.to_path_buf(), cause: std::io::Error::other(e.to_string()) })?;
    atomic_write(path, svg.as_bytes())
}

fn draw_heatmap(svg: &mut String, title: &str, labels: &[String], m: &[Vec<Option<f64>>]) -> DrawResult<()> {
    let t = labels.len() as i32;
    let (cell, left, top) = (64i32, 120i32, 70i32);
    let size = ((left + cell * t + 20) as u32, (top + cell * t + 20) as u32);
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let scale = m.iter().flatten().flatten().fold(0f64, |a, v| a.max(v.abs())).max(1e-12);
    root.draw(&Text::new(title.to_string(), (10, 10), ("sans-serif", 16)))?;
    for (k, name) in labels.iter().enumerate() {
        let k = k as i32;
        root.draw(&Text::new(name.clone(), (left + k * cell + 4, top - 22), ("sans-serif", 13)))?;
        root.draw(&Text::new(name.clone(), (8, top + k * cell + cell / 2 - 7), ("sans-serif", 13)))?;
    }
    for (i, row) in m.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (x, y) = (left + j as i32 * cell, top + i as i32 * cell);
            let colour = match v {
                None => RGBColor(220, 220, 220),
                Some(v) => {
                    let a = (v.abs() / scale).min(1.0);
                    let fade = (255.0 * (1.0 - a)) as u8;
                    if *v >= 0.0 { RGBColor(255, fade, fade) } else { RGBColor(fade, fade, 255) }
                }
            };
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], colour.filled()))?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1)))?;
            if let Some(v) = v {
                root.draw(&Text::new(format!("{v:+.3}"), (x + 6, y + cell / 2 - 7), ("sans-serif", 13)))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_tidy() {
        assert_eq!(tidy(0.30000000000000004), "0.3");
        assert_eq!(tidy(0.7999999999999999), "0.8");
        assert_eq!(tidy(12.5), "12.5");
        assert_eq!(tidy(-4.0), "-4");
        assert_eq!(tidy(0.0), "0");
        assert_eq!(tidy(-1.39e-17), "0");
        assert_eq!(tidy(3e-4), "3.00e-4");
    }

    #[test]
    fn an_svg_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        let series = vec![Series { name: "s".into(), points: vec![(0.0, 1.0, Some(0.1)), (1.0, 2.0, None)] }];
        let p = Panel {
            title: "t".into(),
            x_desc: "x".into(),
            y_desc: "y".into(),
            series,
            x_labels: None,
            log_y: false,
            connect: true,
        };
        write_svg(&path, "title", &[p]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("title") && svg.contains("polyline"), "{svg}");
    }
}
