//! Learning-rate schedules and early stopping.
//!
//! The schedules are closed forms of the step and epoch counters (plus, for reduce-on-plateau,
//! a small state saved in the checkpoint), so a resumed run gets exactly the learning rates of
//! an uninterrupted one. They follow PyTorch's definitions: `StepLR` (stepped per epoch),
//! `CosineAnnealingLR` (per step, over the steps after warm-up) and `ReduceLROnPlateau`
//! (`threshold_mode="rel"`, no cooldown). Burn 0.22's schedulers are stateful iterators that
//! only build as per-parameter-group policies, cap the initial rate at 1, and have no
//! plateau rule, hence these few lines of our own.

use serde::{Deserialize, Serialize};

/// How the learning rate evolves (`[train.schedule]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScheduleKind {
    /// The base rate throughout.
    Constant,
    /// `lr · gamma^⌊epoch / every⌋`.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// `min + ½ (lr − min)(1 + cos(π s / S))` over the `S` steps after warm-up.
    Cosine {
        /// Final learning rate.
        min_lr: f64,
    },
    /// Multiply by `factor` when the monitored value has not improved for more than
    /// `patience` epochs.
    Plateau {
        /// Decay factor in (0, 1).
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
        /// Relative improvement that counts.
        threshold: f64,
        /// Floor.
        min_lr: f64,
    },
}

/// A schedule resolved for one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Base learning rate (`train.lr`).
    pub lr: f64,
    /// The rule.
    pub kind: ScheduleKind,
    /// Linear warm-up steps: step `s < warmup` uses `lr · (s + 1) / warmup` times the rule.
    pub warmup_steps: usize,
    /// Steps of the whole run (cosine's horizon).
    pub total_steps: usize,
}

/// Reduce-on-plateau state, saved in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    /// Current multiplier of the base rate.
    pub scale: f64,
    /// Best monitored value so far (in "higher is better" form); `None` before the first.
    pub best: Option<f64>,
    /// Epochs since the last improvement.
    pub bad_epochs: usize,
}

impl Default for PlateauState {
    fn default() -> Self {
        Self { scale: 1.0, best: None, bad_epochs: 0 }
    }
}

impl Schedule {
    /// The learning rate of global step `step` (0-based) in epoch `epoch` (0-based).
    pub fn lr(&self, step: usize, epoch: usize, plateau: &PlateauState) -> f64 {
        let warm = if step < self.warmup_steps { (step + 1) as f64 / self.warmup_steps as f64 } else { 1.0 };
        let rule = match self.kind {
            ScheduleKind::Constant => self.lr,
            ScheduleKind::Step { every, gamma } => self.lr * gamma.powi((epoch / every) as i32),
            ScheduleKind::Cosine { min_lr } => {
                let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let s = step.saturating_sub(self.warmup_steps) as f64;
                min_lr + 0.5 * (self.lr - min_lr) * (1.0 + (std::f64::consts::PI * s / span).cos())
            }
            ScheduleKind::Plateau { min_lr, .. } => (self.lr * plateau.scale).max(min_lr),
        };
        warm * rule
    }

    /// End of an epoch for reduce-on-plateau: record the monitored `value` (already in
    /// "higher is better" form) and cut the rate after more than `patience` bad epochs.
    /// Returns whether the rate was cut.
    pub fn end_epoch(&self, state: &mut PlateauState, value: f64) -> bool {
        let ScheduleKind::Plateau { factor, patience, threshold, min_lr } = self.kind else {
            return false;
        };
        if state.best.is_none_or(|best| value > best + threshold * best.abs()) {
            state.best = Some(value);
            state.bad_epochs = 0;
            return false;
        }
        state.bad_epochs += 1;
        if state.bad_epochs > patience {
            state.bad_epochs = 0;
            let next = (state.scale * factor).max(min_lr / self.lr);
            let cut = next < state.scale;
            state.scale = next;
            return cut;
        }
        false
    }
}

/// Early stopping (`[train.early_stopping]`): stop once `patience` epochs have passed since the
/// best epoch. An epoch is "best" when the monitored value beats the previous best by more than
/// `min_delta` (the same rule picks the `best/` checkpoint).
/// Also the `[train.early_stopping]` section of a config.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping; absent = never stop early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// Smallest change of the monitor that counts as an improvement. Default 0.
    pub min_delta: f64,
}

impl EarlyStopping {
    /// Whether `value` (higher is better) improves on `best` (`None`: nothing yet).
    pub fn improves(&self, value: f64, best: Option<f64>) -> bool {
        best.is_none_or(|best| value > best + self.min_delta)
    }

    /// Whether to stop after epoch `epoch` (1-based) given the best epoch so far.
    pub fn should_stop(&self, epoch: usize, best_epoch: usize) -> bool {
        self.patience.is_some_and(|p| epoch >= best_epoch + p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind, warmup_steps: usize, total_steps: usize) -> Schedule {
        Schedule { lr: 0.1, kind, warmup_steps, total_steps }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn constant_and_step_sequences() {
        let p = PlateauState::default();
        let c = schedule(ScheduleKind::Constant, 0, 10);
        assert!((0..10).all(|s| c.lr(s, s / 2, &p) == 0.1));
        // PyTorch StepLR(step_size=2, gamma=0.5), stepped per epoch: 0.1, 0.1, 0.05, 0.05, 0.025.
        let st = schedule(ScheduleKind::Step { every: 2, gamma: 0.5 }, 0, 10);
        let by_epoch: Vec<f64> = (0..5).map(|e| st.lr(e * 3, e, &p)).collect();
        for (a, b) in by_epoch.iter().zip([0.1, 0.1, 0.05, 0.05, 0.025]) {
            assert!(close(*a, b), "{by_epoch:?}");
        }
    }

    #[test]
    fn cosine_with_warmup_sequence() {
        // 2 warm-up steps then cosine over 4 steps from 0.1 to 0.0:
        // 0.05, 0.1, then 0.1·½(1 + cos(π k/4)) for k = 0..4 → 0.1, 0.085355, 0.05, 0.014645.
        let p = PlateauState::default();
        let s = schedule(ScheduleKind::Cosine { min_lr: 0.0 }, 2, 6);
        let lrs: Vec<f64> = (0..6).map(|i| s.lr(i, 0, &p)).collect();
        let half = std::f64::consts::FRAC_1_SQRT_2;
        let want = [0.05, 0.1, 0.1, 0.05 * (1.0 + half), 0.05, 0.05 * (1.0 - half)];
        for (a, b) in lrs.iter().zip(want) {
            assert!(close(*a, b), "{lrs:?}");
        }
    }

    #[test]
    fn plateau_cuts_after_patience_like_pytorch() {
        // ReduceLROnPlateau(mode="min", factor=0.5, patience=1, threshold=0): a loss that stops
        // improving after epoch 2 is cut after two bad epochs (num_bad_epochs > patience).
        let s =
            schedule(ScheduleKind::Plateau { factor: 0.5, patience: 1, threshold: 0.0, min_lr: 0.02 }, 0, 0);
        let mut st = PlateauState::default();
        let losses = [1.0, 0.9, 0.9, 0.95, 0.92, 0.91, 0.93];
        let mut lrs = Vec::new();
        for l in losses {
            s.end_epoch(&mut st, -l);
            lrs.push(s.lr(0, 0, &st));
        }
        // Bad epochs: e3 (1), e4 (2 → cut to 0.05, reset), e5 (1), e6 (2 → cut to 0.025),
        // e7 (1).
        let want = [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025];
        for (a, b) in lrs.iter().zip(want) {
            assert!(close(*a, b), "{lrs:?}");
        }
        // The floor holds.
        for _ in 0..10 {
            s.end_epoch(&mut st, -2.0);
        }
        assert!(close(s.lr(0, 0, &st), 0.02));
    }

    #[test]
    fn early_stopping_counts_epochs_since_best() {
        let es = EarlyStopping { patience: Some(3), min_delta: 0.01 };
        assert!(es.improves(0.5, None));
        assert!(!es.improves(0.505, Some(0.5)), "within min_delta");
        assert!(es.improves(0.52, Some(0.5)));
        assert!(!es.should_stop(4, 2));
        assert!(es.should_stop(5, 2));
        let never = EarlyStopping { patience: None, min_delta: 0.0 };
        assert!(!never.should_stop(100, 1));
    }
}
