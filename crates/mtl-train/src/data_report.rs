//! `mtl data CONFIG`: what a config's data looks like before training — per task and split the
//! labelled samples, the missing rate, the class balance (or the target's mean and std), and
//! warnings for imbalanced classes, tasks without labels and constant feature columns.

use mtl_data::{MultiTaskDataset, TaskKind};
use serde::Serialize;

use crate::config::RunConfig;
use crate::error::Error;
use crate::fit::{prepare_data, report_streams};

/// A class that holds less than this share of a task's labels is flagged.
const RARE_CLASS: f64 = 0.05;

/// One task on one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSplitStats {
    /// Samples in the split (in multi-input mode, those of the task's own source).
    pub samples: usize,
    /// Of which labelled for this task.
    pub labelled: usize,
    /// Unlabelled share, in [0, 1].
    pub missing_rate: f64,
    /// Classification: count of each class among the labelled samples (multilabel: of the
    /// samples that have each label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_counts: Option<Vec<usize>>,
    /// Regression: mean of the labelled targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Regression: population standard deviation of the labelled targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

/// One task on the three splits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStats {
    /// Task name.
    pub task: String,
    /// Task kind.
    pub kind: String,
    /// On the training split.
    pub train: TaskSplitStats,
    /// On the validation split.
    pub valid: TaskSplitStats,
    /// On the test split.
    pub test: TaskSplitStats,
    /// Class names in id order (multiclass tasks whose table classes have names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

impl TaskStats {
    fn splits(&self) -> [(&'static str, &TaskSplitStats); 3] {
        [("train", &self.train), ("valid", &self.valid), ("test", &self.test)]
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataReport {
    /// Input columns (numeric and id columns together).
    pub features: usize,
    /// Per task.
    pub tasks: Vec<TaskStats>,
    /// Things worth a look.
    pub warnings: Vec<String>,
}

/// Count the labelled target `y` (original scale) of a task of kind `kind` in `counts`.
fn count_class(kind: TaskKind, y: f64, counts: &mut [usize]) {
    match kind {
        TaskKind::Multilabel { labels: k } => {
            for (c, on) in counts.iter_mut().zip(mtl_data::decode_labels(y as f32, k)) {
                *c += usize::from(on);
            }
        }
        _ => counts[(y as usize).min(counts.len() - 1)] += 1,
    }
}

/// The number of classes (labels) a task of kind `kind` counts; `None` for regression.
fn class_slots(kind: TaskKind) -> Option<usize> {
    match kind {
        TaskKind::Regression => None,
        TaskKind::Multilabel { labels } => Some(labels),
        TaskKind::Multiclass { classes } => Some(classes),
        _ => Some(2),
    }
}

/// The statistics of one split gathered a chunk at a time (a streamed split): the counts of
/// [`split_stats`]; the mean and std from sums of the targets shifted by the first label (one
/// pass, stable when the mean is far from 0); which feature columns are constant.
#[derive(Debug)]
struct SplitTally {
    kinds: Vec<TaskKind>,
    samples: usize,
    labelled: Vec<usize>,
    counts: Vec<Option<Vec<usize>>>,
    /// Per task: the shift, Σ(y − shift), Σ(y − shift)².
    sums: Vec<(Option<f64>, f64, f64)>,
    first: Option<Vec<f32>>,
    constant: Vec<bool>,
}

impl SplitTally {
    fn new(kinds: Vec<TaskKind>) -> Self {
        Self {
            samples: 0,
            labelled: vec![0; kinds.len()],
            counts: kinds.iter().map(|k| class_slots(*k).map(|n| vec![0; n])).collect(),
            sums: vec![(None, 0.0, 0.0); kinds.len()],
            first: None,
            constant: Vec::new(),
            kinds,
        }
    }

    fn add(&mut self, data: &MultiTaskDataset) {
        self.samples += data.len();
        for t in 0..self.kinds.len() {
            for y in data.labelled_targets(t) {
                self.labelled[t] += 1;
                match &mut self.counts[t] {
                    Some(counts) => count_class(self.kinds[t], y, counts),
                    None => {
                        let (shift, s1, s2) = &mut self.sums[t];
                        let d = y - *shift.get_or_insert(y);
                        *s1 += d;
                        *s2 += d * d;
                    }
                }
            }
        }
        let w = data.num_features;
        for i in 0..data.len() {
            let row = data.row(i);
            let first = self.first.get_or_insert_with(|| row.to_vec());
            if self.constant.is_empty() {
                self.constant = vec![true; w];
            }
            for j in 0..w {
                self.constant[j] &= row[j] == first[j];
            }
        }
    }

    fn stats(&self, t: usize) -> TaskSplitStats {
        let n = self.labelled[t];
        let (shift, s1, s2) = self.sums[t];
        let regression = self.counts[t].is_none() && n > 0;
        let mean = s1 / n.max(1) as f64;
        TaskSplitStats {
            samples: self.samples,
            labelled: n,
            missing_rate: if self.samples == 0 { 0.0 } else { 1.0 - n as f64 / self.samples as f64 },
            class_counts: self.counts[t].clone(),
            mean: regression.then(|| shift.unwrap_or(0.0) + mean),
            std: regression.then(|| (s2 / n as f64 - mean * mean).max(0.0).sqrt()),
        }
    }
}

fn split_stats(data: &MultiTaskDataset, t: usize) -> TaskSplitStats {
    // Targets on the original scale, also for a standardised task.
    let labelled = data.labelled_targets(t);
    let n = labelled.len();
    let samples = data.groups.as_ref().map_or(data.len(), |g| g.iter().filter(|&&s| s == t).count());
    let mut s = TaskSplitStats {
        samples,
        labelled: n,
        missing_rate: if samples == 0 { 0.0 } else { 1.0 - n as f64 / samples as f64 },
        class_counts: None,
        mean: None,
        std: None,
    };
    match data.tasks[t].kind {
        TaskKind::Regression if n > 0 => {
            (s.mean, s.std) = data.target_mean_std(t).unzip();
        }
        TaskKind::Regression => {}
        kind => {
            let mut counts = vec![0; class_slots(kind).unwrap_or(2)];
            labelled.into_iter().for_each(|y| count_class(kind, y, &mut counts));
            s.class_counts = Some(counts);
        }
    }
    s
}

/// A warning when the regression targets' standard deviations on the training split differ by
/// more than `data.target_scale_warning` and not every one of them is standardised: the
/// losses would then weigh the tasks by their units.
pub fn target_scale_warning(config: &RunConfig, train: &MultiTaskDataset) -> Option<String> {
    let stats: Vec<TaskSplitStats> = (0..config.tasks.len()).map(|t| split_stats(train, t)).collect();
    scale_warning(config, &stats)
}

/// [`target_scale_warning`] from the training split's statistics of each task.
fn scale_warning(config: &RunConfig, train: &[TaskSplitStats]) -> Option<String> {
    let stds: Vec<(&str, f64)> = (config.tasks.iter().zip(train))
        .filter(|(t, _)| t.spec.kind == TaskKind::Regression)
        .filter_map(|(t, s)| s.std.filter(|s| *s > 0.0).map(|s| (t.spec.name.as_str(), s)))
        .collect();
    let all_standardized =
        config.tasks.iter().filter(|t| t.spec.kind == TaskKind::Regression).all(|t| t.standardize);
    let lo = stds.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let hi = stds.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let factor = hi.1 / lo.1;
    let limit = config.file.data.target_scale_warning;
    (!all_standardized && factor > limit).then(|| {
        format!(
            "regression targets differ in scale by a factor of {factor:.0} (std of `{}` {:.4}, of `{}` {:.4}), more than \
             data.target_scale_warning = {limit}; the losses weigh the tasks by their units — set \
             data.standardize_targets = true (or the tasks' `standardize`)",
            hi.0, hi.1, lo.0, lo.1
        )
    })
}

/// What [`describe`] reports on, from the splits in memory or from one pass over each split of
/// a streamed source.
struct Tallied {
    /// Per split (train, valid, test), the statistics of each task.
    per_split: [Vec<TaskSplitStats>; 3],
    /// Feature columns constant on the training split.
    constant: Vec<usize>,
}

fn tally_splits(config: &RunConfig) -> Result<Tallied, Error> {
    let kinds: Vec<TaskKind> = config.tasks.iter().map(|t| t.spec.kind).collect();
    Ok(match report_streams(config)? {
        Some(streams) => {
            let mut tallies = [0, 1, 2].map(|_| SplitTally::new(kinds.clone()));
            for (tally, split) in tallies.iter_mut().zip(&streams) {
                split.for_each_chunk(&mut |chunk| tally.add(chunk))?;
            }
            let constant =
                (tallies[0].constant.iter().enumerate()).filter(|(_, c)| **c).map(|(j, _)| j).collect();
            Tallied { per_split: tallies.map(|t| (0..kinds.len()).map(|i| t.stats(i)).collect()), constant }
        }
        None => {
            let splits = prepare_data(config)?;
            let train = &splits.train;
            let d = train.num_features;
            let constant = (0..d)
                .filter(|&j| {
                    let first = train.features.get(j).copied();
                    (0..train.len()).all(|i| Some(train.features[i * d + j]) == first)
                })
                .collect();
            let stats = |s: &MultiTaskDataset| (0..kinds.len()).map(|t| split_stats(s, t)).collect();
            Tallied { per_split: [stats(&splits.train), stats(&splits.valid), stats(&splits.test)], constant }
        }
    })
}

/// Load the data of `config` and describe it.
pub fn describe(config: &RunConfig) -> Result<DataReport, Error> {
    let Tallied { per_split, constant } = tally_splits(config)?;
    let mut warnings = Vec::new();
    // Names of the classes and feature columns, as `inputs.json` and predictions give them.
    let schema = crate::predict::InputSchema::for_config(config);
    let class_names = schema.class_names(config);
    let tasks = config
        .tasks
        .iter()
        .enumerate()
        .map(|(t, task)| {
            let name = &task.spec.name;
            let [train, valid, test] = [0, 1, 2].map(|p| per_split[p][t].clone());
            let classes = class_names[t].clone();
            let stats =
                TaskStats { task: name.clone(), kind: task.spec.kind.name().to_string(), train, valid, test, classes };
            for (split, s) in stats.splits() {
                if s.labelled == 0 && s.samples > 0 {
                    warnings.push(format!("task `{name}` has no labelled sample in the {split} split"));
                }
            }
            let train = &stats.train;
            if let Some(counts) = &train.class_counts {
                for (c, &k) in counts.iter().enumerate() {
                    let share = k as f64 / train.labelled.max(1) as f64;
                    if share < RARE_CLASS {
                        let multilabel = matches!(task.spec.kind, TaskKind::Multilabel { .. });
                        let what = if multilabel { "label" } else { "class" };
                        let which = stats.classes.as_ref().and_then(|n| n.get(c)).map_or(c.to_string(), |n| format!("`{n}`"));
                        // Class weights apply to binary and multiclass tasks only.
                        let advice = if multilabel {
                            "consider resampling"
                        } else {
                            "consider class weights (`class_weights = \"balanced\"`) or resampling"
                        };
                        warnings.push(format!(
                            "task `{name}`: {what} {which} is {:.1} % of the training labels ({k} of {}); {advice}",
                            100.0 * share,
                            train.labelled
                        ));
                    }
                }
            }
            for (split, s) in stats.splits() {
                if s.labelled == 0 {
                    continue;
                }
                if s.std == Some(0.0) {
                    warnings.push(format!(
                        "task `{name}`: the target is constant in the {split} split, so its R² is undefined there \
                         (reported as null and left out of Δ)"
                    ));
                }
                let single_class = matches!(task.spec.kind, TaskKind::Binary)
                    && s.class_counts.as_ref().is_some_and(|c| c.iter().filter(|&&k| k > 0).count() < 2);
                if single_class {
                    warnings.push(format!(
                        "task `{name}`: the {split} split holds one class only, so its AUC is undefined there \
                         (reported as null and left out of Δ)"
                    ));
                }
            }
            stats
        })
        .collect();
    warnings.extend(scale_warning(config, &per_split[0]));
    let feature_names = schema.dense_names();
    if !constant.is_empty() {
        let shown: Vec<String> = constant
            .iter()
            .take(10)
            .map(|&j| feature_names.get(j).map_or(j.to_string(), |n| format!("`{n}`")))
            .collect();
        warnings.push(format!(
            "{} feature column(s) constant on the training split (e.g. {}{}); they carry no information",
            constant.len(),
            shown.join(", "),
            if constant.len() > 10 { ", …" } else { "" }
        ));
    }
    Ok(DataReport { features: schema.features.len(), tasks, warnings })
}

impl DataReport {
    /// The report as terminal lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("{} input features", self.features)];
        out.push(format!(
            "{:<16} {:<12} {:<6} {:>8} {:>9} {:>8}  distribution",
            "task", "kind", "split", "samples", "labelled", "missing"
        ));
        for t in &self.tasks {
            for (split, s) in t.splits() {
                let dist = match (&s.class_counts, s.mean, s.std) {
                    (Some(c), _, _) => {
                        let total = s.labelled.max(1) as f64;
                        c.iter()
                            .enumerate()
                            .map(|(i, k)| {
                                let share = format!("{:.0}%", 100.0 * *k as f64 / total);
                                match t.classes.as_ref().and_then(|n| n.get(i)) {
                                    Some(name) => format!("{name} {share}"),
                                    None => share,
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                    (None, Some(m), Some(sd)) => format!("mean {m:.4}, std {sd:.4}"),
                    _ => "—".into(),
                };
                out.push(format!(
                    "{:<16} {:<12} {:<6} {:>8} {:>9} {:>7.1}%  {dist}",
                    t.task,
                    t.kind,
                    split,
                    s.samples,
                    s.labelled,
                    100.0 * s.missing_rate
                ));
            }
        }
        out.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtl_data::TaskSpec;

    #[test]
    fn stats_count_only_labelled_samples() {
        let data = MultiTaskDataset {
            features: vec![0.0; 5],
            num_features: 1,
            ids: Vec::new(),
            num_ids: 0,
            tasks: vec![
                TaskSpec { name: "r".into(), kind: TaskKind::Regression },
                TaskSpec { name: "c".into(), kind: TaskKind::Multiclass { classes: 3 } },
            ],
            targets: vec![vec![1.0, 3.0, 100.0, 5.0, 7.0], vec![0.0, 2.0, 2.0, 1.0, 0.0]],
            masks: vec![vec![1.0, 1.0, 0.0, 1.0, 1.0], vec![1.0, 0.0, 1.0, 1.0, 0.0]],
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        };
        let r = split_stats(&data, 0);
        // Labelled 1, 3, 5, 7: mean 4, population variance (9 + 1 + 1 + 9)/4 = 5.
        assert_eq!((r.samples, r.labelled), (5, 4));
        assert!((r.missing_rate - 0.2).abs() < 1e-12);
        assert_eq!(r.mean, Some(4.0));
        assert!((r.std.unwrap() - 5f64.sqrt()).abs() < 1e-12);
        let c = split_stats(&data, 1);
        assert_eq!((c.labelled, c.class_counts.clone()), (3, Some(vec![1, 1, 1])));
        // A streamed split's tally, fed in two chunks, gives the same statistics.
        let mut tally = SplitTally::new(data.tasks.iter().map(|t| t.kind).collect());
        tally.add(&data.select(&[0, 1]));
        tally.add(&data.select(&[2, 3, 4]));
        let (tr, tc) = (tally.stats(0), tally.stats(1));
        assert_eq!((tr.samples, tr.labelled, tr.mean), (5, 4, Some(4.0)));
        assert!((tr.std.unwrap() - 5f64.sqrt()).abs() < 1e-12);
        assert_eq!(tc, c);
        assert_eq!(tally.constant, vec![true]);
    }
}
