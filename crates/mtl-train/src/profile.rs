//! `mtl bench --profile`: where a training step's time goes. When switched on, each phase
//! boundary waits for the device ([`Device::sync`]) and adds the time since the last boundary
//! to the phase that ended, so the shares are exact for the work of each phase but the step
//! as a whole runs slower than unprofiled (the device cannot overlap phases). Off, a boundary
//! costs one atomic load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::Device;

/// The phases of a training step, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Forming the batch (host gather and upload, or on-device selection).
    Batch,
    /// Forward passes and losses.
    Forward,
    /// Backward passes.
    Backward,
    /// The weighting method (Gram matrix, solve, combination).
    Weighting,
    /// Clipping and the optimizer update.
    Optimizer,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] =
        [Phase::Batch, Phase::Forward, Phase::Backward, Phase::Weighting, Phase::Optimizer];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Batch => "batch",
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Weighting => "weighting",
            Phase::Optimizer => "optimizer",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static STATE: Mutex<Option<(Instant, [f64; 5])>> = Mutex::new(None);

/// Start profiling from now, with zeroed totals.
pub fn start() {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), [0.0; 5]));
    ON.store(true, Ordering::Relaxed);
}

/// Stop profiling; the seconds spent in each phase (in [`Phase::ALL`]'s order) since [`start`].
pub fn stop() -> [f64; 5] {
    ON.store(false, Ordering::Relaxed);
    STATE.lock().unwrap_or_else(|e| e.into_inner()).take().map_or([0.0; 5], |(_, totals)| totals)
}

/// Restart the clock without charging any phase (after untimed work).
pub fn skip(device: &Device) {
    if ON.load(Ordering::Relaxed) {
        let _ = device.sync();
        if let Some((last, _)) = STATE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            *last = Instant::now();
        }
    }
}

/// `phase` has just ended: wait for the device, and charge the time since the last boundary.
pub fn end(phase: Phase, device: &Device) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let _ = device.sync();
    if let Some((last, totals)) = STATE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let now = Instant::now();
        totals[phase as usize] += (now - *last).as_secs_f64();
        *last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_charged_between_boundaries_only_while_on() {
        let device = Device::ndarray();
        end(Phase::Forward, &device); // off: nothing happens
        start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        end(Phase::Forward, &device);
        std::thread::sleep(std::time::Duration::from_millis(5));
        skip(&device);
        end(Phase::Optimizer, &device);
        let totals = stop();
        assert!(totals[Phase::Forward as usize] >= 0.02, "{totals:?}");
        for phase in [Phase::Batch, Phase::Backward, Phase::Weighting] {
            assert_eq!(totals[phase as usize], 0.0, "{phase:?}");
        }
        assert_eq!(stop(), [0.0; 5]);
    }
}
