//! An in-memory multi-task dataset: one feature matrix, one target and one label mask per task.

use crate::task::TaskSpec;

/// Samples with dense numeric features, integer id columns (the tabular encoder's
/// categorical and multi-hot ids) and, per task, a target and a mask.
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
    /// Row-major ids, `len() * num_ids` values: exact integers, never rounded through an f32.
    pub ids: Vec<u32>,
    /// Number of id columns (0 for data without ids).
    pub num_ids: usize,
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
    /// Per task, its label on every sample where the source knows it even where it was not
    /// observed (a generated funnel's conversion on unclicked impressions): the labels of
    /// entire-space metrics. `None` (or an empty list) where there is none.
    pub truth: Vec<Option<Vec<f32>>>,
}

/// Network inputs without labels: what [`Preprocessing::features`](crate::table::Preprocessing::features)
/// makes of table rows and `mtl predict` reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureRows {
    /// Row-major ids, the same number per row.
    pub ids: Vec<u32>,
    /// Row-major dense values, the same number per row.
    pub dense: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
}

impl FeatureRows {
    /// Dense rows of `width` values whose columns `columns` (increasing, each `(column,
    /// cardinality)`) hold category codes: those become ids. Errors name `split` (for a file,
    /// say "input") and the first bad code.
    pub fn from_codes(
        dense: Vec<f32>,
        width: usize,
        columns: &[(usize, usize)],
        split: &str,
    ) -> Result<Self, crate::DataError> {
        let rows = dense.len().checked_div(width).unwrap_or(0);
        let (dense, ids) = split_codes(&dense, width, columns, (&[], 0), split)?;
        Ok(Self { ids, dense, rows })
    }

    /// Number of id columns.
    pub fn num_ids(&self) -> usize {
        self.ids.len().checked_div(self.rows).unwrap_or(0)
    }

    /// Number of dense columns.
    pub fn num_dense(&self) -> usize {
        self.dense.len().checked_div(self.rows).unwrap_or(0)
    }
}

/// Row-major `features` (`width` per row) without the code columns `columns`, and the codes
/// as ids placed before each row's `ids` (`(ids, per row)`). Every code must be an integer
/// below its cardinality; errors name `split`.
fn split_codes(
    features: &[f32],
    width: usize,
    columns: &[(usize, usize)],
    (ids, num_ids): (&[u32], usize),
    split: &str,
) -> Result<(Vec<f32>, Vec<u32>), crate::DataError> {
    let n = features.len().checked_div(width).unwrap_or(0);
    let moved: std::collections::BTreeSet<usize> = columns.iter().map(|&(c, _)| c).collect();
    let mut dense = Vec::with_capacity(n * (width - moved.len()));
    let mut out = Vec::with_capacity(n * (columns.len() + num_ids));
    for (row, values) in features.chunks(width).enumerate() {
        for &(column, card) in columns {
            let value = values[column];
            if !(value >= 0.0 && value.fract() == 0.0 && (value as usize) < card) {
                return Err(crate::DataError::BadCategory {
                    what: "feature column",
                    split: split.to_string(),
                    column,
                    row,
                    value: f64::from(value),
                    max: card - 1,
                });
            }
            out.push(value as u32);
        }
        out.extend_from_slice(&ids[row * num_ids..(row + 1) * num_ids]);
        dense.extend((values.iter().enumerate()).filter(|(c, _)| !moved.contains(c)).map(|(_, v)| *v));
    }
    Ok((dense, out))
}

impl MultiTaskDataset {
    /// The inputs alone (copied).
    pub fn feature_rows(&self) -> FeatureRows {
        FeatureRows { ids: self.ids.clone(), dense: self.features.clone(), rows: self.len() }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        (self.features.len().checked_div(self.num_features))
            .or_else(|| self.ids.len().checked_div(self.num_ids))
            .unwrap_or_else(|| self.targets.first().map_or(0, Vec::len))
    }

    /// Whether the dataset has no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Check that id column k holds ids below `cardinalities[k]`; errors name `split`.
    pub fn check_ids(&self, cardinalities: &[usize], split: &str) -> Result<(), crate::DataError> {
        for (column, &n) in cardinalities.iter().enumerate().take(self.num_ids) {
            for row in 0..self.len() {
                let value = self.ids[row * self.num_ids + column];
                if value as usize >= n {
                    return Err(crate::DataError::BadCategory {
                        what: "id column",
                        split: split.to_string(),
                        column,
                        row,
                        value: f64::from(value),
                        max: n - 1,
                    });
                }
            }
        }
        Ok(())
    }

    /// Move the feature columns `columns` (increasing, each `(column, cardinality)`) to the
    /// front of the id columns, in that order: category codes given as numbers (a generated
    /// dataset's binned columns, say) become integer ids. Each value must be an integer code
    /// below its cardinality; errors name `split`.
    pub fn take_id_columns(
        &mut self,
        columns: &[(usize, usize)],
        split: &str,
    ) -> Result<(), crate::DataError> {
        if columns.is_empty() {
            return Ok(());
        }
        let (dense, ids) =
            split_codes(&self.features, self.num_features, columns, (&self.ids, self.num_ids), split)?;
        self.num_features -= columns.len();
        self.features = dense;
        self.ids = ids;
        self.num_ids += columns.len();
        Ok(())
    }

    /// The targets of a chain of binary tasks (indices in funnel order) as ESMM trains them:
    /// each later step's target becomes the joint event "every step so far happened"
    /// (click ∧ conversion), labelled wherever it is known — where an earlier step did not
    /// happen (the joint event is 0) or where every step so far is labelled. So a conversion
    /// missing on an unclicked row becomes a known 0 of the joint event; one missing on a
    /// clicked row stays unlabelled. Masks must be 0/1 (before class weights).
    pub fn chain_targets(&mut self, chain: &[usize]) {
        let Some((&first, rest)) = chain.split_first() else { return };
        let mut joint = self.targets[first].clone();
        let mut known: Vec<bool> = self.masks[first].iter().map(|&m| m > 0.0).collect();
        for &t in rest {
            for i in 0..joint.len() {
                let (before, labelled) = (known[i] && joint[i] > 0.0, self.masks[t][i] > 0.0);
                // Not happened before (and known): a known 0. Happened: known if labelled here.
                known[i] = (known[i] && joint[i] == 0.0) || (before && labelled);
                joint[i] = if before && labelled { self.targets[t][i] } else { 0.0 };
            }
            self.targets[t] = joint.clone();
            self.masks[t] = known.iter().map(|&k| f32::from(u8::from(k))).collect();
        }
    }

    /// Features of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.num_features..(i + 1) * self.num_features]
    }

    /// Ids of sample `i`.
    pub fn id_row(&self, i: usize) -> &[u32] {
        &self.ids[i * self.num_ids..(i + 1) * self.num_ids]
    }

    /// A dataset of no sample with this one's layout (tasks, width, scales), with room for
    /// `capacity` samples.
    pub fn empty_like(&self, capacity: usize) -> Self {
        Self {
            features: Vec::with_capacity(capacity * self.num_features),
            num_features: self.num_features,
            ids: Vec::with_capacity(capacity * self.num_ids),
            num_ids: self.num_ids,
            tasks: self.tasks.clone(),
            targets: vec![Vec::with_capacity(capacity); self.targets.len()],
            masks: vec![Vec::with_capacity(capacity); self.masks.len()],
            groups: self.groups.as_ref().map(|_| Vec::with_capacity(capacity)),
            target_scales: self.target_scales.clone(),
            truth: self.truth.iter().map(|t| t.as_ref().map(|_| Vec::with_capacity(capacity))).collect(),
        }
    }

    /// Append sample `i` of `from` (same layout).
    pub fn push_sample(&mut self, from: &Self, i: usize) {
        self.features.extend_from_slice(from.row(i));
        self.ids.extend_from_slice(from.id_row(i));
        for (t, (y, m)) in self.targets.iter_mut().zip(&mut self.masks).enumerate() {
            y.push(from.targets[t][i]);
            m.push(from.masks[t][i]);
        }
        if let (Some(g), Some(f)) = (self.groups.as_mut(), from.groups.as_ref()) {
            g.push(f[i]);
        }
        for (a, b) in self.truth.iter_mut().zip(&from.truth) {
            if let (Some(a), Some(b)) = (a, b) {
                a.push(b[i]);
            }
        }
    }

    /// Overwrite sample `j` with sample `i` of `from` (same layout).
    pub fn set_sample(&mut self, j: usize, from: &Self, i: usize) {
        let w = self.num_features;
        self.features[j * w..(j + 1) * w].copy_from_slice(from.row(i));
        let k = self.num_ids;
        self.ids[j * k..(j + 1) * k].copy_from_slice(from.id_row(i));
        for (t, (y, m)) in self.targets.iter_mut().zip(&mut self.masks).enumerate() {
            y[j] = from.targets[t][i];
            m[j] = from.masks[t][i];
        }
        if let (Some(g), Some(f)) = (self.groups.as_mut(), from.groups.as_ref()) {
            g[j] = f[i];
        }
        for (a, b) in self.truth.iter_mut().zip(&from.truth) {
            if let (Some(a), Some(b)) = (a, b) {
                a[j] = b[i];
            }
        }
    }

    /// A new dataset made of the samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut features = Vec::with_capacity(indices.len() * self.num_features);
        let mut ids = Vec::with_capacity(indices.len() * self.num_ids);
        for &i in indices {
            features.extend_from_slice(self.row(i));
            ids.extend_from_slice(self.id_row(i));
        }
        let pick = |v: &Vec<f32>| indices.iter().map(|&i| v[i]).collect::<Vec<_>>();
        Self {
            features,
            num_features: self.num_features,
            ids,
            num_ids: self.num_ids,
            tasks: self.tasks.clone(),
            targets: self.targets.iter().map(pick).collect(),
            masks: self.masks.iter().map(pick).collect(),
            groups: self.groups.as_ref().map(|g| indices.iter().map(|&i| g[i]).collect()),
            target_scales: self.target_scales.clone(),
            truth: self.truth.iter().map(|t| t.as_ref().map(pick)).collect(),
        }
    }

    /// The same samples with only the tasks at `tasks` (in that order): the data of a
    /// single-task baseline is the multi-task data with one task kept. In multi-input mode
    /// only the samples of the kept tasks' sources stay.
    pub fn select_tasks(&self, tasks: &[usize]) -> Self {
        let kept = Self {
            features: self.features.clone(),
            num_features: self.num_features,
            ids: self.ids.clone(),
            num_ids: self.num_ids,
            tasks: tasks.iter().map(|&t| self.tasks[t].clone()).collect(),
            targets: tasks.iter().map(|&t| self.targets[t].clone()).collect(),
            masks: tasks.iter().map(|&t| self.masks[t].clone()).collect(),
            groups: self
                .groups
                .as_ref()
                .map(|g| g.iter().map(|s| tasks.iter().position(|t| t == s).unwrap_or(usize::MAX)).collect()),
            target_scales: tasks.iter().map(|&t| self.target_scale(t)).collect(),
            truth: tasks.iter().map(|&t| self.truth.get(t).cloned().flatten()).collect(),
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

    /// Task `task`'s entire-space labels, when the source knows them (see [`Self::truth`]).
    pub fn truth_of(&self, task: usize) -> Option<&[f32]> {
        self.truth.get(task).and_then(|t| t.as_deref())
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
            ids: vec![7, 8, 9],
            num_ids: 1,
            tasks: vec![TaskSpec { name: "a".into(), kind: TaskKind::Regression }],
            targets: vec![vec![10.0, 11.0, 12.0]],
            masks: vec![vec![1.0, 0.0, 1.0]],
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        }
    }

    #[test]
    fn select_keeps_rows_targets_and_masks_together() {
        let d = tiny().select(&[2, 0]);
        assert_eq!(d.len(), 2);
        assert_eq!(d.features, vec![4.0, 5.0, 0.0, 1.0]);
        assert_eq!(d.ids, vec![9, 7]);
        assert_eq!(d.targets[0], vec![12.0, 10.0]);
        assert_eq!(d.masks[0], vec![1.0, 1.0]);
    }

    #[test]
    fn code_columns_move_to_the_front_of_the_ids_and_bad_codes_are_named() {
        let mut d = tiny();
        d.features = vec![0.0, 2.0, 1.0, 1.0, 1.5, 0.0, 0.0, 2.5, 0.0];
        d.num_features = 3;
        d.take_id_columns(&[(0, 2), (2, 2)], "train").unwrap();
        assert_eq!((d.num_features, d.features.clone()), (1, vec![2.0, 1.5, 2.5]));
        assert_eq!((d.num_ids, d.ids.clone()), (3, vec![0, 1, 7, 1, 0, 8, 0, 0, 9]));
        assert_eq!(d.len(), 3);
        d.check_ids(&[2, 2, 10], "train").unwrap();
        let e = d.check_ids(&[2, 2, 9], "valid").unwrap_err().to_string();
        assert!(e.contains("id column 2, row 2 of the valid split: 9 is not a category code 0..=8"), "{e}");
        let mut d = tiny();
        let e = d.take_id_columns(&[(1, 5)], "test").unwrap_err().to_string();
        assert!(
            e.contains("feature column 1, row 2 of the test split: 5 is not a category code 0..=4"),
            "{e}"
        );
        let mut d = tiny();
        d.features[0] = 0.5;
        assert!(d.take_id_columns(&[(0, 5)], "train").unwrap_err().to_string().contains("0.5 is not"));
    }

    #[test]
    fn a_chain_trains_its_later_steps_on_the_joint_event() {
        // Rows: (click, conversion) = (1, 1), (1, 0), (0, missing), (1, missing), (missing, 1).
        let mut d = MultiTaskDataset {
            features: vec![0.0; 5],
            num_features: 1,
            ids: Vec::new(),
            num_ids: 0,
            tasks: Vec::new(),
            targets: vec![vec![1.0, 1.0, 0.0, 1.0, 0.0], vec![1.0, 0.0, 0.0, 0.0, 1.0], vec![1.0; 5]],
            masks: vec![
                vec![1.0, 1.0, 1.0, 1.0, 0.0],
                vec![1.0, 1.0, 0.0, 0.0, 1.0],
                vec![1.0, 1.0, 1.0, 1.0, 1.0],
            ],
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        };
        d.chain_targets(&[0, 1, 2]);
        assert_eq!(d.targets[0], vec![1.0, 1.0, 0.0, 1.0, 0.0], "the first step is as it was");
        assert_eq!(d.targets[1], vec![1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(d.masks[1], vec![1.0, 1.0, 1.0, 0.0, 0.0]);
        // A third step (labelled 1 everywhere): known where the joint event so far is known.
        assert_eq!(d.targets[2], vec![1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(d.masks[2], vec![1.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn a_dataset_of_ids_only_knows_its_length() {
        let d = MultiTaskDataset { features: Vec::new(), num_features: 0, ..tiny() };
        assert_eq!(d.len(), 3);
        assert_eq!(d.select(&[1]).ids, vec![8]);
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
        assert_eq!(b.ids, vec![8]);
        assert_eq!(b.targets, vec![vec![1.0]]);
        assert_eq!(b.groups, Some(vec![0]));
        let a = d.select_tasks(&[0]);
        assert_eq!(a.len(), 2);
        assert_eq!(a.class_counts(0, 20)[10..13], [1, 0, 1]);
    }
}
