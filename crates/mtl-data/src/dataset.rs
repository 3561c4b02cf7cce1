//! An in-memory multi-task dataset: one feature matrix, one target and one label mask per task.

use crate::task::TaskSpec;

/// Samples with dense numeric features and, per task, a target and a mask.
///
/// Targets are stored as `f32`: the value for regression, 0/1 for binary, the class id for
/// multiclass. `masks[t][i]` is 1 when sample `i` is labelled for task `t` and 0 otherwise;
/// losses and metrics average over labelled samples only.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTaskDataset {
    /// Row-major features, `len() * num_features` values.
    pub features: Vec<f32>,
    /// Number of feature columns.
    pub num_features: usize,
    /// The tasks, in `TaskId` order.
    pub tasks: Vec<TaskSpec>,
    /// `targets[t][i]`: target of task `t` for sample `i`.
    pub targets: Vec<Vec<f32>>,
    /// `masks[t][i]`: 1 if sample `i` has a label for task `t`, else 0.
    pub masks: Vec<Vec<f32>>,
    /// Multi-input mode: `groups[i]` is the task whose source sample `i` came from (the only
    /// task it can be labelled for); `None` when every sample carries all tasks' labels.
    pub groups: Option<Vec<usize>>,
    /// Per task, the `(mean, std)` its targets were standardised with (`(y − mean) / std`,
    /// fitted on the training split); `None` (or an empty list) where targets are as given.
    /// Metrics and predictions are reported on the original scale: `y · std + mean`.
    pub target_scales: Vec<Option<(f64, f64)>>,
}

impl MultiTaskDataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.len().checked_div(self.num_features).unwrap_or(0)
    }

    /// Whether the dataset has no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Check that each id column `(column, cardinality)` holds integer codes below its
    /// cardinality; errors name `split`.
    pub fn check_categories(&self, columns: &[(usize, usize)], split: &str) -> Result<(), crate::DataError> {
        for &(column, n) in columns {
            for row in 0..self.len() {
                let value = self.features[row * self.num_features + column];
                if !(value >= 0.0 && value.fract() == 0.0 && (value as usize) < n) {
                    return Err(crate::DataError::BadCategory {
                        split: split.to_string(),
                        column,
                        row,
                        value,
                        max: n - 1,
                    });
                }
            }
        }
        Ok(())
    }

    /// Features of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.num_features..(i + 1) * self.num_features]
    }

    /// A dataset of no sample with this one's layout (tasks, width, scales), with room for
    /// `capacity` samples.
    pub fn empty_like(&self, capacity: usize) -> Self {
        Self {
            features: Vec::with_capacity(capacity * self.num_features),
            num_features: self.num_features,
            tasks: self.tasks.clone(),
            targets: vec![Vec::with_capacity(capacity); self.targets.len()],
            masks: vec![Vec::with_capacity(capacity); self.masks.len()],
            groups: self.groups.as_ref().map(|_| Vec::with_capacity(capacity)),
            target_scales: self.target_scales.clone(),
        }
    }

    /// Append sample `i` of `from` (same layout).
    pub fn push_sample(&mut self, from: &Self, i: usize) {
        self.features.extend_from_slice(from.row(i));
        for (t, (y, m)) in self.targets.iter_mut().zip(&mut self.masks).enumerate() {
            y.push(from.targets[t][i]);
            m.push(from.masks[t][i]);
        }
        if let (Some(g), Some(f)) = (self.groups.as_mut(), from.groups.as_ref()) {
            g.push(f[i]);
        }
    }

    /// Overwrite sample `j` with sample `i` of `from` (same layout).
    pub fn set_sample(&mut self, j: usize, from: &Self, i: usize) {
        let w = self.num_features;
        self.features[j * w..(j + 1) * w].copy_from_slice(from.row(i));
        for (t, (y, m)) in self.targets.iter_mut().zip(&mut self.masks).enumerate() {
            y[j] = from.targets[t][i];
            m[j] = from.masks[t][i];
        }
        if let (Some(g), Some(f)) = (self.groups.as_mut(), from.groups.as_ref()) {
            g[j] = f[i];
        }
    }

    /// A new dataset made of the samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut features = Vec::with_capacity(indices.len() * self.num_features);
        for &i in indices {
            features.extend_from_slice(self.row(i));
        }
        let pick = |v: &Vec<f32>| indices.iter().map(|&i| v[i]).collect::<Vec<_>>();
        Self {
            features,
            num_features: self.num_features,
            tasks: self.tasks.clone(),
            targets: self.targets.iter().map(pick).collect(),
            masks: self.masks.iter().map(pick).collect(),
            groups: self.groups.as_ref().map(|g| indices.iter().map(|&i| g[i]).collect()),
            target_scales: self.target_scales.clone(),
        }
    }

    /// The same samples with only the tasks at `tasks` (in that order): the data of a
    /// single-task baseline is the multi-task data with one task kept. In multi-input mode
    /// only the samples of the kept tasks' sources stay.
    pub fn select_tasks(&self, tasks: &[usize]) -> Self {
        let kept = Self {
            features: self.features.clone(),
            num_features: self.num_features,
            tasks: tasks.iter().map(|&t| self.tasks[t].clone()).collect(),
            targets: tasks.iter().map(|&t| self.targets[t].clone()).collect(),
            masks: tasks.iter().map(|&t| self.masks[t].clone()).collect(),
            groups: self
                .groups
                .as_ref()
                .map(|g| g.iter().map(|s| tasks.iter().position(|t| t == s).unwrap_or(usize::MAX)).collect()),
            target_scales: tasks.iter().map(|&t| self.target_scale(t)).collect(),
        };
        match &kept.groups {
            None => kept,
            Some(g) => {
                let rows: Vec<usize> = (0..g.len()).filter(|&i| g[i] != usize::MAX).collect();
                kept.select(&rows)
            }
        }
    }

    /// Task `task`'s labelled targets, on their original scale (undoing `target_scales`).
    pub fn labelled_targets(&self, task: usize) -> Vec<f64> {
        let (shift, scale) = self.target_scale(task).unwrap_or((0.0, 1.0));
        self.targets[task]
            .iter()
            .zip(&self.masks[task])
            .filter(|(_, m)| **m > 0.0)
            .map(|(y, _)| f64::from(*y) * scale + shift)
            .collect()
    }

    /// Mean and population standard deviation of [`Self::labelled_targets`]; `None` without
    /// labels.
    pub fn target_mean_std(&self, task: usize) -> Option<(f64, f64)> {
        let y = self.labelled_targets(task);
        if y.is_empty() {
            return None;
        }
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Some((mean, var.sqrt()))
    }

    /// The `(mean, std)` task `task`'s targets were standardised with, if they were.
    pub fn target_scale(&self, task: usize) -> Option<(f64, f64)> {
        self.target_scales.get(task).copied().flatten()
    }

    /// Per task, the number of labelled samples of each of `classes` classes (targets must be
    /// class ids).
    pub fn class_counts(&self, task: usize, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for (y, m) in self.targets[task].iter().zip(&self.masks[task]) {
            if *m > 0.0 && (*y as usize) < classes {
                counts[*y as usize] += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskKind;

    fn tiny() -> MultiTaskDataset {
        MultiTaskDataset {
            features: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            num_features: 2,
            tasks: vec![TaskSpec { name: "a".into(), kind: TaskKind::Regression }],
            targets: vec![vec![10.0, 11.0, 12.0]],
            masks: vec![vec![1.0, 0.0, 1.0]],
            groups: None,
            target_scales: Vec::new(),
        }
    }

    #[test]
    fn select_keeps_rows_targets_and_masks_together() {
        let d = tiny().select(&[2, 0]);
        assert_eq!(d.len(), 2);
        assert_eq!(d.features, vec![4.0, 5.0, 0.0, 1.0]);
        assert_eq!(d.targets[0], vec![12.0, 10.0]);
        assert_eq!(d.masks[0], vec![1.0, 1.0]);
    }

    #[test]
    fn select_tasks_keeps_features_and_the_chosen_columns() {
        let mut d = tiny();
        d.tasks.push(TaskSpec { name: "b".into(), kind: TaskKind::Binary });
        d.targets.push(vec![1.0, 0.0, 1.0]);
        d.masks.push(vec![1.0, 1.0, 0.0]);
        let b = d.select_tasks(&[1]);
        assert_eq!(b.features, d.features);
        assert_eq!(b.tasks[0].name, "b");
        assert_eq!(b.targets, vec![vec![1.0, 0.0, 1.0]]);
        assert_eq!(b.masks, vec![vec![1.0, 1.0, 0.0]]);
    }

    #[test]
    fn select_tasks_in_multi_input_mode_keeps_the_tasks_own_samples() {
        let mut d = tiny();
        d.tasks.push(TaskSpec { name: "b".into(), kind: TaskKind::Binary });
        d.targets.push(vec![0.0, 1.0, 0.0]);
        d.masks = vec![vec![1.0, 0.0, 1.0], vec![0.0, 1.0, 0.0]];
        d.groups = Some(vec![0, 1, 0]);
        let b = d.select_tasks(&[1]);
        assert_eq!(b.features, vec![2.0, 3.0]);
        assert_eq!(b.targets, vec![vec![1.0]]);
        assert_eq!(b.groups, Some(vec![0]));
        let a = d.select_tasks(&[0]);
        assert_eq!(a.len(), 2);
        assert_eq!(a.class_counts(0, 20)[10..13], [1, 0, 1]);
    }
}
