//! `mtl eval RUN_DIR`: a run's losses and metrics (and Δ) recomputed from a checkpoint.

use std::path::Path;

use mtl_train::Error;
use mtl_train::backend::SelectedDevice;
use mtl_train::runs::{CheckpointChoice, SplitChoice, open_run};

/// Run `mtl eval`.
pub fn run(
    run_dir: &Path,
    split: SplitChoice,
    checkpoint: CheckpointChoice,
    json: bool,
    device: &SelectedDevice,
) -> Result<(), Error> {
    let run = open_run(run_dir, checkpoint, device)?;
    let (e, d) = run.evaluate(split, device)?;
    let best_epoch = run.meta.selection.best_epoch;
    if json {
        let out = serde_json::json!({
            "run_dir": run_dir,
            "split": split,
            "checkpoint": checkpoint,
            "epoch": run.meta.epochs_done,
            "best_epoch": best_epoch,
            "metrics": e.to_json(&run.config.tasks),
            "delta": d,
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
        return Ok(());
    }
    let epoch = match checkpoint {
        CheckpointChoice::Best => best_epoch,
        CheckpointChoice::Last => run.meta.epochs_done,
    };
    println!(
        "{} — {} split, {} checkpoint (epoch {epoch})",
        run_dir.display(),
        split.name(),
        checkpoint.name()
    );
    println!("{:<16} {:<12} {:>12}", "task", "metric", "value");
    for (t, task) in run.config.tasks.iter().enumerate() {
        println!("{:<16} {:<12} {:>12.6}", task.spec.name, "loss", e.losses[t]);
        for (k, v) in &e.metrics[t] {
            println!("{:<16} {:<12} {:>12.6}", task.spec.name, k.name(), v);
        }
    }
    if let Some(d) = d {
        println!(
            "vs single-task: Δp {:+.3}% (LibMTL, ↑ better)  Δm {:+.3}% (Nash-MTL/FAMO, ↓ better)",
            d.delta_p, d.delta_m
        );
        if !d.left_out.is_empty() {
            println!("left out of Δ (undefined): {}", d.left_out.join(", "));
        }
    }
    Ok(())
}
