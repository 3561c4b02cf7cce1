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
    /// Any subset of `labels` labels; one logit per label, binary cross-entropy averaged over
    /// the labels. The target of a sample is its label set as a bit mask, Σ_k y_k·2^k, stored
    /// exactly in an `f32` (hence at most [`MAX_LABELS`] labels); see [`encode_labels`].
    Multilabel {
        /// Number of labels (1..=24).
        labels: usize,
    },
}

/// Most labels a multilabel task may have: bit masks up to 2^24 are exact in an `f32`.
pub const MAX_LABELS: usize = 24;

/// The target of a multilabel sample: its labels as a bit mask (label k ↦ 2^k).
pub fn encode_labels(labels: &[bool]) -> f32 {
    assert!(labels.len() <= MAX_LABELS, "at most {MAX_LABELS} labels");
    labels.iter().enumerate().filter(|(_, on)| **on).map(|(k, _)| (1u32 << k) as f32).sum()
}

/// The labels of a multilabel target (inverse of [`encode_labels`]).
pub fn decode_labels(target: f32, labels: usize) -> Vec<bool> {
    let bits = target as u32;
    (0..labels).map(|k| bits >> k & 1 == 1).collect()
}

impl TaskKind {
    /// Width of the head's output layer for this kind.
    pub fn output_dim(&self) -> usize {
        match self {
            TaskKind::Regression | TaskKind::Binary => 1,
            TaskKind::Multiclass { classes } => *classes,
            TaskKind::Multilabel { labels } => *labels,
        }
    }

    /// Lower-case name used in configs and logs.
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Regression => "regression",
            TaskKind::Binary => "binary",
            TaskKind::Multiclass { .. } => "multiclass",
            TaskKind::Multilabel { .. } => "multilabel",
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
