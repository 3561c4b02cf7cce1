//! The training loop: epochs of seeded batches, per-epoch validation, the selector's
//! decisions, and the final evaluation of the best state; everything else (logs, checkpoints,
//! progress, measurements, plots) happens in [`Observer`]s.
//!
//! - `data.rs`: the run's splits and class weights;
//! - `setup.rs`: the run's state, schedule and selector, fresh or resumed;
//! - `record.rs`: the end of an epoch (validation, verdict, its `metrics.jsonl` record) and of
//!   the run (final evaluation, summary);
//! - `format.rs`: per-task values as text and JSON;
//! - `epoch.rs`: one epoch of training steps and its means;
//! - `observer.rs`: the events and the [`Observer`] trait;
//! - `observers.rs`: the library's observers (metrics and step logs, checkpoints, affinity,
//!   run record);
//! - `summary.rs`: what a run reports, `summary.json`.

mod data;
mod epoch;
mod feed;
mod format;
mod observer;
mod observers;
mod parallel_check;
mod record;
mod setup;
mod summary;

use std::time::Instant;

pub use data::{
    RunData, SplitData, check_data, prepare_data, prepare_run_data, report_streams, training_steps_per_epoch,
    weight_classes,
};
pub use observer::{EpochEnd, Observer, Observers, RunEnd, RunStart, StepEnd, StepStart};
pub use observers::{AffinityProbe, Checkpointer, MetricsLog, RunRecord, StepLog, writers};
pub use setup::{FitOptions, init_state};
pub use summary::RunSummary;

use crate::config::RunConfig;
use crate::error::Error;
use crate::step::TrainState;

/// What a run gives back: its summary (`summary.json`) and the state it reports on (the best
/// epoch's network and weighting method, on the run's autodiff device).
#[derive(Debug)]
pub struct Fitted {
    /// The summary.
    pub summary: RunSummary,
    /// The best state (the last one when no epoch was best, e.g. an interrupted first epoch).
    pub best: TrainState,
}

/// Train `config` as `options` say; `observers` do the writing. Returns the summary and the
/// best state.
pub fn fit(config: &RunConfig, options: &FitOptions, observers: &mut Observers) -> Result<Fitted, Error> {
    let started = Instant::now();
    let (mut run, mut state) = setup::Run::new(config, options)?;
    // Rank 0 alone writes and reports; the other ranks train in silence.
    let mut silent = Observers::none();
    let observers = if run.world.is_writer() { observers } else { &mut silent };
    observers.start(&run.start_event())?;
    for note in run.banner(&state) {
        observers.note(&note);
    }
    for epoch in run.meta.epochs_done..run.last_epoch {
        if run.meta.selection.stopped_early {
            break;
        }
        let epoch_started = Instant::now();
        let comm_before = run.world.comm_seconds();
        observers.epoch_start(epoch, config.train.epochs);
        let means;
        (state, means) = epoch::train_epoch(&mut run, state, epoch, observers)?;
        let train_s = epoch_started.elapsed().as_secs_f64();
        parallel_check::same_state_on_every_rank(&run.world, &state, epoch)?;
        let validated = run.end_epoch(&mut state, epoch, &means, epoch_started, observers)?;
        observers.after_epoch(&EpochEnd {
            epoch,
            record: &validated.record,
            valid: &validated.valid,
            improved: validated.verdict.improved,
            state: &state,
            optim: &run.optim,
            meta: &run.meta,
        })?;
        if validated.verdict.improved {
            run.best_state = Some(state.clone());
        }
        for note in run.epoch_notes(epoch, &means, &validated) {
            observers.note(&note);
        }
        if run.world.is_parallel() {
            let comm = run.world.comm_seconds() - comm_before;
            observers.note(&format!(
                "{} processes: training {train_s:.2} s, of which {comm:.2} s ({:.0}%) in collectives on rank 0",
                run.world.size(),
                100.0 * comm / train_s.max(1e-9)
            ));
        }
    }
    let (summary, best, test_line) = run.finish(state, started)?;
    if let Some(line) = test_line {
        observers.note(&line);
    }
    let end = RunEnd { run_dir: &run.run_dir, summary: &summary, wall_s: started.elapsed().as_secs_f64() };
    observers.end(&end)?;
    Ok(Fitted { summary, best })
}
