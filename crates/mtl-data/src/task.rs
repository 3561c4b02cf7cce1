//! What a task is: its name and the kind of target it predicts.

use serde::{Deserialize, Serialize};

/// Index of a task inside the model, the losses and the metrics. Names are used only at the
/// edges (config, logs, files).
pub type TaskId = usize;

/// The kind of target a task predicts; decides the head's output width, the loss and the
/// metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TaskKind {
    /// A real-valued target; one output, mean squared error.
    Regression,
    /// A 0/1 target; one logit, binary cross-entropy with logits.
    Binary,
    /// One of `classes` classes (ids `0..classes`); `classes` logits, cross-entropy.
    Multiclass {
        /// Number of classes (at least 2).
        classes: usize,
    },
}

impl TaskKind {
    /// Width of the head's output layer for this kind.
    pub fn output_dim(&self) -> usize {
        match self {
            TaskKind::Regression | TaskKind::Binary => 1,
            TaskKind::Multiclass { classes } => *classes,
        }
    }

    /// Lower-case name used in configs and logs.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Regression => "regression",
            TaskKind::Binary => "binary",
            TaskKind::Multiclass { .. } => "multiclass",
        }
    }
}

/// A task as the model and trainer see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Name from the config; used in logs and files only.
    pub name: String,
    /// Kind of target.
    pub kind: TaskKind,
}
