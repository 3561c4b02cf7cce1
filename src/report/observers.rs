//! The app's observers of a training run: a progress bar with per-task losses and the epoch
//! lines, and the run's plots at the end.

use std::path::PathBuf;

use mtl_train::Error;
use mtl_train::fit::{Observer, RunEnd, RunStart, StepEnd};
use mtl_train::metrics::host_values;

use super::plots::plot_run;
use super::progress::Progress;

/// A progress bar over the run's steps (ETA, running mean loss per task) and every note of the
/// run (banner, epoch lines, warnings) on standard error.
#[derive(Debug, Default)]
pub struct ProgressObserver {
    bar: Option<Progress>,
    refresh: usize,
    tasks: Vec<String>,
}

impl Observer for ProgressObserver {
    fn start(&mut self, run: &RunStart, _notes: &mut Vec<String>) -> Result<(), Error> {
        let bar = Progress::new((run.epochs * run.steps_per_epoch) as u64, false);
        bar.set_position((run.epochs_done * run.steps_per_epoch) as u64);
        self.bar = Some(bar);
        self.refresh = (run.steps_per_epoch / 10).max(1);
        self.tasks = run.tasks.iter().map(|t| t.name.clone()).collect();
        Ok(())
    }

    fn epoch_start(&mut self, epoch: usize, epochs: usize) {
        if let Some(bar) = &self.bar {
            bar.set_epoch(epoch + 1, epochs);
        }
    }

    fn after_step(&mut self, step: &StepEnd) -> Result<(), Error> {
        let Some(bar) = &self.bar else { return Ok(()) };
        bar.advance(1);
        if (step.index + 1).is_multiple_of(self.refresh) {
            let steps = (step.index + 1) as f64;
            let means = host_values(step.loss_sum.clone());
            let message: Vec<String> =
                self.tasks.iter().zip(&means).map(|(t, s)| format!("{t}={:.4}", s / steps)).collect();
            bar.set_message(message.join(" "));
        }
        Ok(())
    }

    fn end(&mut self, _end: &RunEnd, _notes: &mut Vec<String>) -> Result<(), Error> {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        Ok(())
    }

    fn note(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.line(text),
            None => eprintln!("{text}"),
        }
    }
}

/// `RUN_DIR/plots/*.svg` at the end of the run; a failure to draw is a warning, not an error.
#[derive(Debug, Default)]
pub struct PlotObserver {
    /// Files written by the last run.
    pub written: Vec<PathBuf>,
}

impl Observer for PlotObserver {
    fn end(&mut self, end: &RunEnd, notes: &mut Vec<String>) -> Result<(), Error> {
        match plot_run(end.run_dir) {
            Ok(files) => self.written = files,
            Err(e) => notes.push(format!(
                "warning: plots not written: {e}; the run itself is complete, draw them later with `mtl plot {}`",
                end.run_dir.display()
            )),
        }
        Ok(())
    }
}
