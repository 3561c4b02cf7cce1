//! The data of a run: its splits (only the trained tasks' columns), checked for labels, and the
//! class weights folded into the training masks.

use mtl_data::{MultiTaskDataset, Splits};

use crate::config::{RunConfig, TaskConfig};
use crate::error::Error;

/// Build the data splits of a run (only the trained tasks' columns for a single-task or a
/// task-group run).
pub fn prepare_data(config: &RunConfig) -> Result<Splits, Error> {
    let specs: Vec<_> = config.data_tasks.iter().map(|t| t.spec.clone()).collect();
    let mut splits = config.data.splits(&specs, &config.split, config.seed)?;
    standardize_targets(&mut splits, &config.data_tasks);
    if let mtl_model::encoder::EncoderConfig::Tabular(t) = config.model.architecture.encoder() {
        for (part, split) in [(&splits.train, "train"), (&splits.valid, "valid"), (&splits.test, "test")] {
            part.check_categories(&t.id_columns(), split)?;
        }
    }
    let picked = match (&config.single_task, &config.subset) {
        (Some(t), _) => vec![*t],
        (None, Some(s)) => s.clone(),
        (None, None) => return Ok(splits),
    };
    Ok(Splits {
        train: splits.train.select_tasks(&picked),
        valid: splits.valid.select_tasks(&picked),
        test: splits.test.select_tasks(&picked),
    })
}

/// Standardise the targets of the tasks that ask for it with the training split's labelled
/// mean and population standard deviation (1 for a constant target), in every split, and
/// record `(mean, std)` in each split's `target_scales` (fitted before a single-task or group
/// run picks its tasks, so a baseline's scale is the multi-task run's).
fn standardize_targets(splits: &mut Splits, tasks: &[TaskConfig]) {
    if !tasks.iter().any(|t| t.standardize) {
        return;
    }
    let scales: Vec<Option<(f64, f64)>> = tasks
        .iter()
        .enumerate()
        .map(|(t, task)| {
            task.standardize.then(|| {
                let (mean, std) = splits.train.target_mean_std(t).unwrap_or((0.0, 1.0));
                (mean, if std > 0.0 { std } else { 1.0 })
            })
        })
        .collect();
    for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
        for (t, scale) in scales.iter().enumerate() {
            if let Some((mean, std)) = scale {
                for y in &mut part.targets[t] {
                    *y = ((f64::from(*y) - mean) / std) as f32;
                }
            }
        }
        part.target_scales = scales.clone();
    }
}

/// Fold each task's class weights into its label masks of the training split `train` (the
/// masked loss Σ m_i·ℓ_i / Σ m_i then becomes the class-weighted mean); returns the weights
/// used per task (`None` for unweighted tasks), computed from the split's class counts. A split
/// without class weights is left as it is.
pub fn weight_classes(train: &mut MultiTaskDataset, tasks: &[TaskConfig]) -> Vec<Option<Vec<f64>>> {
    let mut used = Vec::with_capacity(tasks.len());
    for (t, task) in tasks.iter().enumerate() {
        let Some(spec) = &task.class_weights else {
            used.push(None);
            continue;
        };
        let classes = task.spec.kind.output_dim().max(2);
        let w = spec.values(&train.class_counts(t, classes));
        let targets = &train.targets[t];
        for (m, y) in train.masks[t].iter_mut().zip(targets) {
            *m *= w[*y as usize] as f32;
        }
        used.push(Some(w));
    }
    used
}

/// Every task needs a labelled sample in the training and validation splits.
pub(super) fn check_labelled(splits: &Splits) -> Result<(), Error> {
    for (part, name) in [(&splits.train, "training"), (&splits.valid, "validation")] {
        if let Some(t) = (0..part.num_tasks()).find(|&t| part.masks[t].iter().all(|m| *m == 0.0)) {
            return Err(Error::Data(mtl_data::DataError::InvalidSetting {
                key: "data".into(),
                message: format!(
                    "task `{}` has no labelled sample in the {name} split ({} samples); add labels or change the split (`mtl data CONFIG` shows the counts)",
                    part.tasks[t].name,
                    part.len()
                ),
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mtl_data::{TaskKind, TaskSpec};

    use super::*;
    use crate::config::ClassWeights;

    #[test]
    fn balanced_class_weights_by_hand() {
        // Labelled classes 0, 0, 0, 1 (the fifth sample is unlabelled): n = 4, K = 2,
        // w = n / (K·n_k) = [4/6, 4/2].
        let data = MultiTaskDataset {
            features: vec![0.0; 5],
            num_features: 1,
            tasks: vec![TaskSpec { name: "b".into(), kind: TaskKind::Binary }],
            targets: vec![vec![0.0, 0.0, 1.0, 0.0, 1.0]],
            masks: vec![vec![1.0, 1.0, 1.0, 1.0, 0.0]],
            groups: None,
            target_scales: Vec::new(),
        };
        let task = |w| TaskConfig {
            spec: data.tasks[0].clone(),
            metrics: Vec::new(),
            delta_metrics: Vec::new(),
            standardize: false,
            class_weights: w,
        };
        let mut weighted = data.clone();
        let used = weight_classes(&mut weighted, &[task(Some(ClassWeights::Balanced))]);
        let w = used[0].clone().unwrap();
        assert!((w[0] - 4.0 / 6.0).abs() < 1e-12 && (w[1] - 2.0).abs() < 1e-12, "{w:?}");
        let m: Vec<f32> = [w[0], w[0], w[1], w[0], 0.0].iter().map(|v| *v as f32).collect();
        assert_eq!(weighted.masks[0], m, "an unlabelled sample stays at 0");
        let mut same = data.clone();
        let used = weight_classes(&mut same, &[task(None)]);
        assert_eq!((same, used), (data.clone(), vec![None]), "no class weights, no change");
    }
}
