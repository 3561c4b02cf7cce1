//! Task affinity: which tasks help each other. Measured during training every `affinity.every`
//! steps (or by `mtl affinity CONFIG`, a short run that measures every step), averaged over the
//! run, written as `RUN_DIR/affinity.json` and heat maps `plots/affinity_*.svg`; `grouping`
//! turns the look-ahead matrix into task groups.

pub mod grouping;
mod measure;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use measure::{StepAffinity, measure, virtual_step};

use crate::error::Error;
use crate::io::atomic_write;

/// Running means of the matrices over the measured steps (entries that were `NaN` in a step
/// are left out of that entry's mean).
#[derive(Debug, Clone)]
pub struct AffinityTracker {
    tasks: Vec<String>,
    lr: f64,
    sums: Vec<Vec<(f64, usize)>>,
    steps: usize,
    seconds: f64,
    gated: bool,
}

/// The names of the affinity matrices, in the order they are accumulated.
pub const MATRICES: [&str; 4] = ["lookahead", "parameter_cosine", "representation_cosine", "gate_overlap"];

impl AffinityTracker {
    /// An empty tracker for `tasks`, look-ahead rate `lr`.
    pub fn new(tasks: Vec<String>, lr: f64) -> Self {
        let t = tasks.len();
        Self {
            tasks,
            lr,
            sums: vec![vec![(0.0, 0); t * t]; MATRICES.len()],
            steps: 0,
            seconds: 0.0,
            gated: false,
        }
    }

    /// Fold in one step's matrices, measured in `seconds`.
    pub fn add(&mut self, step: &StepAffinity, seconds: f64) {
        let mut fold = |m: usize, values: &[Vec<f64>]| {
            for (cell, v) in self.sums[m].iter_mut().zip(values.iter().flatten()) {
                if v.is_finite() {
                    cell.0 += v;
                    cell.1 += 1;
                }
            }
        };
        fold(0, &step.lookahead);
        fold(1, &step.parameter_cosine);
        fold(2, &step.representation_cosine);
        if let Some(g) = &step.gate_overlap {
            fold(3, g);
            self.gated = true;
        }
        self.steps += 1;
        self.seconds += seconds;
    }

    /// Learning rate of the look-ahead step.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Steps measured so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Seconds spent measuring so far.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// The means so far.
    pub fn report(&self) -> AffinityReport {
        let t = self.tasks.len();
        let mean = |m: usize| -> Vec<Vec<Option<f64>>> {
            (0..t)
                .map(|i| {
                    (0..t)
                        .map(|j| {
                            let (s, n) = self.sums[m][i * t + j];
                            (n > 0).then(|| s / n as f64)
                        })
                        .collect()
                })
                .collect()
        };
        AffinityReport {
            tasks: self.tasks.clone(),
            steps: self.steps,
            seconds: self.seconds,
            lookahead_lr: self.lr,
            lookahead: mean(0),
            parameter_cosine: mean(1),
            representation_cosine: mean(2),
            gate_overlap: self.gated.then(|| mean(3)),
        }
    }
}

/// `RUN_DIR/affinity.json`: T×T matrices, row i / column j, `null` where never defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffinityReport {
    /// Task names, in matrix order.
    pub tasks: Vec<String>,
    /// Measured steps.
    pub steps: usize,
    /// Seconds spent measuring (the overhead).
    pub seconds: f64,
    /// Learning rate η of the look-ahead step.
    pub lookahead_lr: f64,
    /// TAG's Z_{i→j} = 1 − L_j(after task i's step) / L_j(before), averaged.
    pub lookahead: Vec<Vec<Option<f64>>>,
    /// Mean cosine of the shared-parameter gradients.
    pub parameter_cosine: Vec<Vec<Option<f64>>>,
    /// Mean cosine of the shared-representation gradients.
    pub representation_cosine: Vec<Vec<Option<f64>>>,
    /// Mean gate-distribution overlap (gated architectures).
    pub gate_overlap: Option<Vec<Vec<Option<f64>>>>,
}

impl AffinityReport {
    /// The look-ahead matrix with `NaN` for undefined entries (the diagonal included).
    pub fn lookahead_matrix(&self) -> Vec<Vec<f64>> {
        self.lookahead.iter().map(|r| r.iter().map(|v| v.unwrap_or(f64::NAN)).collect()).collect()
    }

    /// Write `affinity.json` into `run_dir` (the app draws the heat maps with the run's other
    /// plots; `mtl plot` redraws them).
    pub fn save(&self, run_dir: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).expect("report serialises");
        atomic_write(&run_dir.join("affinity.json"), &json)
    }
}
