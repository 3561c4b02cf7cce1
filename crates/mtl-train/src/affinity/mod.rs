//! Task affinity: which tasks help each other. Measured during training every `affinity.every`
//! steps (or by `mtl affinity CONFIG`, short runs that measure their first steps), averaged
//! over the run, written as `RUN_DIR/affinity.json` and heat maps `plots/affinity_*.svg`, every
//! step to `affinity_steps.jsonl`; `grouping` turns a matrix into task groups and says how
//! stable they are.

pub mod grouping;
mod measure;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use measure::{OutputGradient, StepAffinity, measure, output_similarity, virtual_step};

use crate::error::Error;
use crate::io::atomic_write;

/// The matrices of every measured step, and their means (entries that were `NaN` in a step
/// are left out of that entry's mean).
#[derive(Debug, Clone)]
pub struct AffinityTracker {
    tasks: Vec<String>,
    lr: f64,
    seconds: f64,
    history: Vec<(usize, StepAffinity)>,
}

/// The names of the affinity matrices, in the order they are accumulated.
pub const MATRICES: [&str; 5] =
    ["lookahead", "parameter_cosine", "representation_cosine", "output_similarity", "gate_overlap"];

/// What the matrix named `kind` (one of [`MATRICES`]) shows, for printed tables and heat maps.
pub fn title(kind: &str) -> &'static str {
    match kind {
        "lookahead" => "look-ahead affinity Z(row → column) (TAG)",
        "parameter_cosine" => "gradient cosine, shared parameters",
        "representation_cosine" => "gradient cosine, shared representation",
        "output_similarity" => "output-gradient similarity (√ debiased CKA)",
        "gate_overlap" => "gate overlap Σ min(p̄ row, p̄ column)",
        _ => "affinity",
    }
}

impl AffinityTracker {
    /// An empty tracker for `tasks`, look-ahead rate `lr`.
    pub fn new(tasks: Vec<String>, lr: f64) -> Self {
        Self { tasks, lr, seconds: 0.0, history: Vec::new() }
    }

    /// Keep the matrices of training step `index`, measured in `seconds`.
    pub fn add(&mut self, index: usize, step: &StepAffinity, seconds: f64) {
        self.history.push((index, step.clone()));
        self.seconds += seconds;
    }

    /// Learning rate of the look-ahead step.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Steps measured so far.
    pub fn steps(&self) -> usize {
        self.history.len()
    }

    /// Seconds spent measuring so far.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// The means so far.
    pub fn report(&self) -> AffinityReport {
        let t = self.tasks.len();
        let mean = |pick: fn(&StepAffinity) -> Option<&Vec<Vec<f64>>>| -> Vec<Vec<Option<f64>>> {
            let m = grouping::mean_matrix(self.history.iter().filter_map(|(_, a)| pick(a)));
            if m.is_empty() {
                return vec![vec![None; t]; t];
            }
            m.into_iter().map(|r| r.into_iter().map(|v| v.is_finite().then_some(v)).collect()).collect()
        };
        AffinityReport {
            tasks: self.tasks.clone(),
            steps: self.steps(),
            seconds: self.seconds,
            lookahead_lr: self.lr,
            lookahead: mean(|a| Some(&a.lookahead)),
            parameter_cosine: mean(|a| Some(&a.parameter_cosine)),
            representation_cosine: mean(|a| Some(&a.representation_cosine)),
            output_similarity: mean(|a| Some(&a.output_similarity)),
            gate_overlap: (self.history.iter().any(|(_, a)| a.gate_overlap.is_some()))
                .then(|| mean(|a| a.gate_overlap.as_ref())),
        }
    }
}

/// One line of `RUN_DIR/affinity_steps.jsonl`: the matrices of one measured training step
/// (`null` where undefined), from which the run's means and their stability are computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The training step (0-based, over the run).
    pub step: usize,
    /// TAG's Z_{i→j}.
    pub lookahead: Vec<Vec<Option<f64>>>,
    /// Shared-parameter gradient cosines.
    pub parameter_cosine: Vec<Vec<Option<f64>>>,
    /// Shared-representation gradient cosines.
    pub representation_cosine: Vec<Vec<Option<f64>>>,
    /// Output-gradient similarities (absent from files written before it was measured).
    #[serde(default)]
    pub output_similarity: Vec<Vec<Option<f64>>>,
    /// Gate overlap (gated architectures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_overlap: Option<Vec<Vec<Option<f64>>>>,
}

impl StepRecord {
    /// The matrix named `kind` (one of [`MATRICES`]), `NaN` where undefined; `None` for an
    /// unknown name or gate overlap without gates.
    pub fn matrix(&self, kind: &str) -> Option<Vec<Vec<f64>>> {
        let m = match kind {
            "lookahead" => &self.lookahead,
            "parameter_cosine" => &self.parameter_cosine,
            "representation_cosine" => &self.representation_cosine,
            "output_similarity" if !self.output_similarity.is_empty() => &self.output_similarity,
            "gate_overlap" => self.gate_overlap.as_ref()?,
            _ => return None,
        };
        Some(m.iter().map(|r| r.iter().map(|v| v.unwrap_or(f64::NAN)).collect()).collect())
    }

    /// The records of `RUN_DIR/affinity_steps.jsonl`.
    pub fn load(run_dir: &Path) -> Result<Vec<StepRecord>, Error> {
        let path = run_dir.join("affinity_steps.jsonl");
        let text = std::fs::read_to_string(&path).map_err(crate::io_error(&path))?;
        (text.lines().enumerate())
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::RunDir {
                    path: path.clone(),
                    message: format!("line {}: {e}; measure again (mtl affinity --overwrite)", i + 1),
                })
            })
            .collect()
    }
}

impl AffinityTracker {
    /// Every measured step's matrices, in order.
    pub fn records(&self) -> Vec<StepRecord> {
        let opt = |m: &[Vec<f64>]| -> Vec<Vec<Option<f64>>> {
            m.iter().map(|r| r.iter().map(|v| v.is_finite().then_some(*v)).collect()).collect()
        };
        (self.history.iter())
            .map(|(step, a)| StepRecord {
                step: *step,
                lookahead: opt(&a.lookahead),
                parameter_cosine: opt(&a.parameter_cosine),
                representation_cosine: opt(&a.representation_cosine),
                output_similarity: opt(&a.output_similarity),
                gate_overlap: a.gate_overlap.as_deref().map(opt),
            })
            .collect()
    }

    /// Write `affinity_steps.jsonl` into `run_dir`.
    pub fn save_steps(&self, run_dir: &Path) -> Result<(), Error> {
        let mut text = Vec::new();
        for r in self.records() {
            serde_json::to_writer(&mut text, &r).expect("a record serialises");
            text.push(b'\n');
        }
        atomic_write(&run_dir.join("affinity_steps.jsonl"), &text)
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
    /// Mean output-gradient similarity (signed √ of debiased linear CKA).
    #[serde(default)]
    pub output_similarity: Vec<Vec<Option<f64>>>,
    /// Mean gate-distribution overlap (gated architectures).
    pub gate_overlap: Option<Vec<Vec<Option<f64>>>>,
}

impl AffinityReport {
    /// Write `affinity.json` into `run_dir` (the app draws the heat maps with the run's other
    /// plots; `mtl plot` redraws them).
    pub fn save(&self, run_dir: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).expect("report serialises");
        atomic_write(&run_dir.join("affinity.json"), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_record_written_before_the_output_similarity_still_loads() {
        let line = r#"{"step":3,"lookahead":[[0.1,null],[0.2,0.3]],"parameter_cosine":[[1.0,0.5],[0.5,1.0]],"representation_cosine":[[1.0,-0.5],[-0.5,1.0]]}"#;
        let r: StepRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.matrix("output_similarity"), None, "absent, not an empty matrix");
        assert!(r.matrix("lookahead").unwrap()[0][1].is_nan());
        assert_eq!(r.matrix("representation_cosine").unwrap()[0][1], -0.5);
        assert_eq!(r.matrix("gate_overlap"), None);
    }
}
