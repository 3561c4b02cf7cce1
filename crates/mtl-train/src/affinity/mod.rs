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
    history: Vec<StepRecord>,
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

/// A T×T matrix with `None` (JSON `null`) where undefined.
pub type Cells = Vec<Vec<Option<f64>>>;

fn cells(m: &[Vec<f64>]) -> Cells {
    m.iter().map(|r| r.iter().map(|v| v.is_finite().then_some(*v)).collect()).collect()
}

/// The affinity matrices of one step or their means: the fields of [`MATRICES`], row i /
/// column j. Both `affinity_steps.jsonl` lines and `affinity.json` carry them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrices {
    /// TAG's Z_{i→j} = 1 − L_j(after task i's step) / L_j(before).
    pub lookahead: Cells,
    /// Cosines of the shared-parameter gradients.
    pub parameter_cosine: Cells,
    /// Cosines of the shared-representation gradients.
    pub representation_cosine: Cells,
    /// Output-gradient similarities, signed √ of debiased linear CKA (empty in files written
    /// before it was measured).
    #[serde(default)]
    pub output_similarity: Cells,
    /// Gate-distribution overlap (gated architectures).
    #[serde(default)]
    pub gate_overlap: Option<Cells>,
}

impl Matrices {
    /// One measured step's matrices.
    pub fn of_step(step: &StepAffinity) -> Self {
        Self {
            lookahead: cells(&step.lookahead),
            parameter_cosine: cells(&step.parameter_cosine),
            representation_cosine: cells(&step.representation_cosine),
            output_similarity: cells(&step.output_similarity),
            gate_overlap: step.gate_overlap.as_deref().map(cells),
        }
    }

    /// The matrix named `kind` (one of [`MATRICES`]); `None` for an unknown name, gate overlap
    /// without gates, or a matrix the file does not have.
    pub fn get(&self, kind: &str) -> Option<&Cells> {
        match kind {
            "lookahead" => Some(&self.lookahead),
            "parameter_cosine" => Some(&self.parameter_cosine),
            "representation_cosine" => Some(&self.representation_cosine),
            "output_similarity" => Some(&self.output_similarity).filter(|m| !m.is_empty()),
            "gate_overlap" => self.gate_overlap.as_ref(),
            _ => None,
        }
    }

    /// [`Matrices::get`] with `NaN` where undefined.
    pub fn matrix(&self, kind: &str) -> Option<Vec<Vec<f64>>> {
        let m = self.get(kind)?;
        Some(m.iter().map(|r| r.iter().map(|v| v.unwrap_or(f64::NAN)).collect()).collect())
    }

    /// The entry-wise means of `steps` for `t` tasks, each entry over the steps where it is
    /// defined (`None` where it never is); gate overlap when some step has it.
    pub fn mean<'a>(steps: impl Iterator<Item = &'a Matrices> + Clone, t: usize) -> Self {
        let mean = |kind: &str| -> Cells {
            let m = grouping::mean_matrix(&steps.clone().filter_map(|s| s.matrix(kind)).collect::<Vec<_>>());
            if m.is_empty() { vec![vec![None; t]; t] } else { cells(&m) }
        };
        Self {
            lookahead: mean("lookahead"),
            parameter_cosine: mean("parameter_cosine"),
            representation_cosine: mean("representation_cosine"),
            // Left empty, as a file written before it was measured has it, when steps exist
            // and none has it.
            output_similarity: if steps.clone().next().is_some()
                && steps.clone().all(|s| s.output_similarity.is_empty())
            {
                Vec::new()
            } else {
                mean("output_similarity")
            },
            gate_overlap: steps.clone().any(|s| s.gate_overlap.is_some()).then(|| mean("gate_overlap")),
        }
    }
}

impl AffinityTracker {
    /// An empty tracker for `tasks`, look-ahead rate `lr`.
    pub fn new(tasks: Vec<String>, lr: f64) -> Self {
        Self { tasks, lr, seconds: 0.0, history: Vec::new() }
    }

    /// Keep the matrices of training step `index`, measured in `seconds`.
    pub fn add(&mut self, index: usize, step: &StepAffinity, seconds: f64) {
        self.history.push(StepRecord { step: index, matrices: Matrices::of_step(step) });
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
        AffinityReport::of_records(self.tasks.clone(), &self.history, self.seconds, self.lr)
    }

    /// Write `affinity_steps.jsonl` into `run_dir`.
    pub fn save_steps(&self, run_dir: &Path) -> Result<(), Error> {
        let mut text = Vec::new();
        for r in &self.history {
            serde_json::to_writer(&mut text, r).expect("a record serialises");
            text.push(b'\n');
        }
        atomic_write(&run_dir.join("affinity_steps.jsonl"), &text)
    }
}

/// One line of `RUN_DIR/affinity_steps.jsonl`: the matrices of one measured training step
/// (`null` where undefined), from which the run's means and their stability are computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The training step (0-based, over the run).
    pub step: usize,
    /// Its matrices.
    #[serde(flatten)]
    pub matrices: Matrices,
}

impl StepRecord {
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

/// `RUN_DIR/affinity.json`: the mean T×T matrices, `null` where never defined.
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
    /// The means over the measured steps.
    #[serde(flatten)]
    pub matrices: Matrices,
}

impl AffinityReport {
    /// The means of `records` (measured in `seconds` with look-ahead rate `lookahead_lr`).
    pub fn of_records<'a>(
        tasks: Vec<String>,
        records: impl IntoIterator<Item = &'a StepRecord, IntoIter: Clone>,
        seconds: f64,
        lookahead_lr: f64,
    ) -> Self {
        let records = records.into_iter();
        let t = tasks.len();
        Self {
            steps: records.clone().count(),
            matrices: Matrices::mean(records.map(|r| &r.matrices), t),
            tasks,
            seconds,
            lookahead_lr,
        }
    }

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
        let m = &r.matrices;
        assert_eq!(m.matrix("output_similarity"), None, "absent, not an empty matrix");
        assert!(m.matrix("lookahead").unwrap()[0][1].is_nan());
        assert_eq!(m.matrix("representation_cosine").unwrap()[0][1], -0.5);
        assert_eq!(m.matrix("gate_overlap"), None);
    }
}
