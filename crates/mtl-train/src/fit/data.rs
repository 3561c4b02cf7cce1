//! The data of a run: its splits (only the trained tasks' columns), checked for labels, and the
//! class weights folded into the training masks — held in memory, or streamed from a table
//! file too large for the memory budget (`data.csv.memory_budget`), where every statistic the
//! in-memory path takes of a whole split (labelled counts, class counts, target means and
//! standard deviations) comes from passes over its chunks, in row order, so a streamed split
//! gives the numbers of the same split in memory.

use std::sync::Arc;

use burn::tensor::Device;
use mtl_data::table::{SplitStream, StreamSplits};
use mtl_data::{MultiTaskDataset, Splits, TaskSpec, batch_indices};
use mtl_model::MultiTaskModel;

use crate::config::data::{CsvSource, DataSource};
use crate::config::{ConfigError, RunConfig, TaskConfig};
use crate::error::Error;
use crate::evaluate::{Evaluation, Evaluator, evaluate};
use crate::parallel::hash_f32s;

/// One split of a run: in memory, or streamed from its file chunk by chunk.
#[derive(Debug)]
pub enum SplitData {
    /// Every sample in memory.
    Memory(MultiTaskDataset),
    /// Read from its file whenever it is used.
    Stream(Box<Streamed>),
}

/// A streamed split and what turns its encoded chunks into the run's samples.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// The rows.
    pub stream: SplitStream,
    /// Target standardisation and the run's tasks.
    pub prep: Arc<ChunkPrep>,
    /// Per trained task, the class weights folded into the masks (training split only).
    pub class_weights: Vec<Option<Vec<f64>>>,
    /// Rows of the shuffle buffer.
    pub buffer: usize,
}

/// What the in-memory path does to a whole split, done to each chunk: standardise the targets
/// (per data task), keep the trained tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPrep {
    scales: Vec<Option<(f64, f64)>>,
    picked: Option<Vec<usize>>,
}

impl ChunkPrep {
    /// The run's samples of an encoded chunk.
    fn apply(&self, mut d: MultiTaskDataset) -> MultiTaskDataset {
        standardize(&mut d, &self.scales);
        match &self.picked {
            Some(p) => d.select_tasks(p),
            None => d,
        }
    }

    /// The run's target scales (of the trained tasks).
    fn target_scales(&self) -> Vec<Option<(f64, f64)>> {
        if self.scales.iter().all(Option::is_none) {
            return Vec::new();
        }
        match &self.picked {
            Some(p) => p.iter().map(|&t| self.scales.get(t).copied().flatten()).collect(),
            None => self.scales.clone(),
        }
    }
}

impl Streamed {
    /// A chunk as the run trains on it: prepared, class weights in its masks.
    pub fn training_chunk(&self, chunk: MultiTaskDataset) -> MultiTaskDataset {
        let mut d = self.prep.apply(chunk);
        fold_class_weights(&mut d, &self.class_weights);
        d
    }
}

impl SplitData {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            SplitData::Memory(d) => d.len(),
            SplitData::Stream(s) => s.stream.len(),
        }
    }

    /// Whether the split has no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per trained task, the `(mean, std)` its targets were standardised with.
    pub fn target_scales(&self) -> Vec<Option<(f64, f64)>> {
        match self {
            SplitData::Memory(d) => d.target_scales.clone(),
            SplitData::Stream(s) => s.prep.target_scales(),
        }
    }

    /// Multi-input mode's source of each sample (never for a streamed split).
    pub fn groups(&self) -> Option<&Vec<usize>> {
        match self {
            SplitData::Memory(d) => d.groups.as_ref(),
            SplitData::Stream(_) => None,
        }
    }

    /// The samples in memory, if they are.
    pub fn in_memory(&self) -> Option<&MultiTaskDataset> {
        match self {
            SplitData::Memory(d) => Some(d),
            SplitData::Stream(_) => None,
        }
    }

    /// Give `f` the split's samples: the whole split, or each chunk of a streamed one in turn.
    pub fn for_each_chunk(&self, f: &mut dyn FnMut(&MultiTaskDataset)) -> Result<(), Error> {
        match self {
            SplitData::Memory(d) => f(d),
            SplitData::Stream(s) => {
                for chunk in s.stream.chunks()? {
                    f(&s.prep.apply(chunk?));
                }
            }
        }
        Ok(())
    }

    /// Losses and metrics of `model` on the split (a streamed one read chunk by chunk).
    pub fn evaluate(
        &self,
        model: &MultiTaskModel,
        tasks: &[TaskConfig],
        batch_size: usize,
        device: &Device,
    ) -> Result<Evaluation, Error> {
        match self {
            SplitData::Memory(d) => Ok(evaluate(model, d, tasks, batch_size, device)),
            SplitData::Stream(s) => {
                let mut e = Evaluator::new(tasks, batch_size, device);
                for chunk in s.stream.chunks()? {
                    e.add(model, s.prep.apply(chunk?));
                }
                Ok(e.finish(model))
            }
        }
    }
}

/// The three splits of a run.
#[derive(Debug)]
pub struct RunData {
    /// Training split.
    pub train: SplitData,
    /// Validation split.
    pub valid: SplitData,
    /// Test split.
    pub test: SplitData,
    /// Per trained task, the class weights folded into the training masks.
    pub class_weights: Vec<Option<Vec<f64>>>,
    /// A streamed run's statistics of its training split (the ranks of a data-parallel run
    /// compare them; data in memory is compared by its samples).
    pub digest: Option<String>,
    /// How the data is held, for the banner.
    pub note: Option<String>,
}

/// The splits of `config` as a training uses them, checked: in memory, or streamed when the
/// source is a table file beyond the memory budget.
pub fn prepare_run_data(config: &RunConfig) -> Result<RunData, Error> {
    let stream = stream_splits(config)?;
    if stream.is_some() && !config.model.chains.is_empty() {
        return Err(Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "model.chain".into(),
            message: "a chain trains in memory for now; this training file would stream: raise data.csv.memory_budget (\"unlimited\")".into(),
        }));
    }
    let Some((c, splits)) = stream else {
        let mut data = memory_run_data(config)?;
        if let DataSource::Csv(c) = &config.data {
            data.note = Some(c.table.stream_note());
        }
        return Ok(data);
    };
    let tally = LabelTally::of(&splits.train, &config.data_tasks, &id_cardinalities(config))?;
    let (scales, squares) = tally.scales(&splits.train, &config.data_tasks)?;
    let picked = picked_tasks(config);
    let trained: Vec<usize> = picked.clone().unwrap_or_else(|| (0..tally.labelled.len()).collect());
    let prep = Arc::new(ChunkPrep { scales, picked });
    let name = |t: usize| config.data_tasks[trained[t]].spec.name.as_str();
    let labelled: Vec<usize> = trained.iter().map(|&t| tally.labelled[t]).collect();
    if let Some(t) = labelled.iter().position(|&n| n == 0) {
        return Err(no_labels(name(t), "training", splits.train.len()));
    }
    if let Some(t) = labelled_counts(&splits.valid, &trained)?.iter().position(|&n| n == 0) {
        return Err(no_labels(name(t), "validation", splits.valid.len()));
    }
    steps_per_epoch(config, splits.train.len())?;
    let class_weights: Vec<Option<Vec<f64>>> = (config.tasks.iter().zip(&trained))
        .map(|(task, &t)| task.class_weights.as_ref().map(|w| w.values(&tally.counts[t])))
        .collect();
    let digest = Some(format!(
        "streamed {} / {} / {} rows; labelled {:?}; sums {:?}; squares {:?}",
        splits.train.len(),
        splits.valid.len(),
        splits.test.len(),
        tally.labelled,
        tally.sums.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
        squares.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
    ));
    let [train, valid, test] = streamed(c, splits, &prep, &class_weights);
    Ok(RunData { train, valid, test, class_weights, digest, note: Some(c.table.stream_note()) })
}

/// The three splits of a streaming source of `config`, unchecked, the targets on their own
/// scale (for `mtl data`); `None` when the data is held in memory.
pub fn report_streams(config: &RunConfig) -> Result<Option<[SplitData; 3]>, Error> {
    let Some((c, splits)) = stream_splits(config)? else { return Ok(None) };
    let prep = Arc::new(ChunkPrep { scales: Vec::new(), picked: picked_tasks(config) });
    Ok(Some(streamed(c, splits, &prep, &[])))
}

/// The streamed splits of `config`'s data tasks, when its source streams.
fn stream_splits(config: &RunConfig) -> Result<Option<(&CsvSource, StreamSplits)>, Error> {
    let DataSource::Csv(c) = &config.data else { return Ok(None) };
    if !c.table.streams() {
        return Ok(None);
    }
    let specs: Vec<TaskSpec> = config.data_tasks.iter().map(|t| t.spec.clone()).collect();
    Ok(Some((c, c.table.stream_splits(&c.prep, &specs, &config.split, config.seed)?)))
}

/// The three splits as the run reads them: through `prep`, `class_weights` in the training
/// masks.
fn streamed(
    c: &CsvSource,
    splits: StreamSplits,
    prep: &Arc<ChunkPrep>,
    class_weights: &[Option<Vec<f64>>],
) -> [SplitData; 3] {
    let split = |stream, class_weights: &[Option<Vec<f64>>]| {
        SplitData::Stream(Box::new(Streamed {
            stream,
            prep: prep.clone(),
            class_weights: class_weights.to_vec(),
            buffer: c.table.stream.shuffle_buffer,
        }))
    };
    [split(splits.train, class_weights), split(splits.valid, &[]), split(splits.test, &[])]
}

/// Per task, the `(mean, std)` its targets are standardised with, if they are.
type Scales = Vec<Option<(f64, f64)>>;

/// Per data task over a streamed training split, in row order: labelled samples, class
/// counts, Σy of the labelled targets.
struct LabelTally {
    labelled: Vec<usize>,
    counts: Vec<Vec<usize>>,
    sums: Vec<f64>,
}

impl LabelTally {
    /// One pass over `train` (the samples of the data tasks `tasks`), checking the ids against
    /// `id_cardinalities` on the way.
    fn of(train: &SplitStream, tasks: &[TaskConfig], id_cardinalities: &[usize]) -> Result<Self, Error> {
        let classes: Vec<usize> = tasks.iter().map(|t| t.spec.kind.output_dim().max(2)).collect();
        let mut tally = Self {
            labelled: vec![0; tasks.len()],
            counts: classes.iter().map(|&k| vec![0; k]).collect(),
            sums: vec![0.0; tasks.len()],
        };
        for chunk in train.chunks()? {
            let d = chunk?;
            d.check_ids(id_cardinalities, "train")?;
            for (t, &k) in classes.iter().enumerate() {
                for (y, m) in d.targets[t].iter().zip(&d.masks[t]) {
                    if *m > 0.0 {
                        tally.labelled[t] += 1;
                        tally.sums[t] += f64::from(*y);
                    }
                }
                for (n, c) in tally.counts[t].iter_mut().zip(d.class_counts(t, k)) {
                    *n += c;
                }
            }
        }
        Ok(tally)
    }

    /// The `(mean, std)` of each task that standardises its targets (a second pass over
    /// `train` for Σ(y − mean)², as in memory, only if one does), and those sums.
    fn scales(&self, train: &SplitStream, tasks: &[TaskConfig]) -> Result<(Scales, Vec<f64>), Error> {
        let means: Vec<f64> =
            self.sums.iter().zip(&self.labelled).map(|(s, &n)| s / n.max(1) as f64).collect();
        let wanted: Vec<bool> =
            (tasks.iter().zip(&self.labelled)).map(|(t, &n)| t.standardize && n > 0).collect();
        let mut squares = vec![0f64; tasks.len()];
        if wanted.iter().any(|w| *w) {
            for chunk in train.chunks()? {
                let d = chunk?;
                for t in (0..tasks.len()).filter(|&t| wanted[t]) {
                    for (y, m) in d.targets[t].iter().zip(&d.masks[t]) {
                        if *m > 0.0 {
                            squares[t] += (f64::from(*y) - means[t]).powi(2);
                        }
                    }
                }
            }
        }
        let scales = (0..tasks.len())
            .map(|t| {
                tasks[t].standardize.then(|| match self.labelled[t] {
                    0 => (0.0, 1.0),
                    n => target_scale(means[t], (squares[t] / n as f64).sqrt()),
                })
            })
            .collect();
        Ok((scales, squares))
    }
}

/// Per task of `tasks` (data-task indices), the labelled samples of a streamed split.
fn labelled_counts(split: &SplitStream, tasks: &[usize]) -> Result<Vec<usize>, Error> {
    let mut counts = vec![0usize; tasks.len()];
    for chunk in split.chunks()? {
        let d = chunk?;
        for (n, &t) in counts.iter_mut().zip(tasks) {
            *n += d.masks[t].iter().filter(|m| **m != 0.0).count();
        }
    }
    Ok(counts)
}

/// The standardisation of a target with `mean` and population `std` (1 for a constant one).
fn target_scale(mean: f64, std: f64) -> (f64, f64) {
    (mean, if std > 0.0 { std } else { 1.0 })
}

/// The splits in memory, checked, class weights folded in.
fn memory_run_data(config: &RunConfig) -> Result<RunData, Error> {
    let Splits { mut train, valid, test } = check_data(config)?;
    let class_weights = weight_classes(&mut train, &config.tasks);
    let digest = None;
    Ok(RunData {
        train: SplitData::Memory(train),
        valid: SplitData::Memory(valid),
        test: SplitData::Memory(test),
        class_weights,
        digest,
        note: None,
    })
}

/// Load the data of `config` and check everything about it that a training would refuse
/// before its first step: the label columns and their values, a labelled sample of every task
/// in the training and validation splits, at least one batch per epoch. `mtl check` runs this.
pub fn check_data(config: &RunConfig) -> Result<Splits, Error> {
    let splits = prepare_data(config)?;
    check_labelled(&splits)?;
    steps_per_epoch(config, splits.train.len())?;
    Ok(splits)
}

/// Training steps per epoch of `config`, its data loaded to count them; `None` for a streamed
/// source (whose length is found while reading). `mtl affinity` sizes its measuring runs so.
pub fn training_steps_per_epoch(config: &RunConfig) -> Result<Option<usize>, Error> {
    if stream_splits(config)?.is_some() {
        return Ok(None);
    }
    let splits = prepare_data(config)?;
    steps_per_epoch(config, splits.train.len()).map(Some)
}

pub(super) fn steps_per_epoch(config: &RunConfig, n_train: usize) -> Result<usize, Error> {
    let train = &config.train;
    let steps = batch_indices(&(0..n_train).collect::<Vec<_>>(), train.batch_size, train.drop_last).len();
    if steps > 0 {
        return Ok(steps);
    }
    Err(Error::Config(ConfigError::Invalid {
        path: config.source.clone(),
        key: "train.batch_size".into(),
        message: format!(
            "{} is larger than the {n_train} training samples and drop_last is set",
            train.batch_size
        ),
    }))
}

/// A SHA-256 digest of the splits' features, targets and masks (after preprocessing).
pub(super) fn data_digest(splits: &[&MultiTaskDataset]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for data in splits {
        hash_f32s(&mut h, &data.features);
        for block in data.ids.chunks(16 * 1024) {
            h.update(block.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        }
        data.targets.iter().chain(&data.masks).for_each(|v| hash_f32s(&mut h, v));
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The data tasks a single-task or task-group run keeps (`None`: all).
fn picked_tasks(config: &RunConfig) -> Option<Vec<usize>> {
    match (&config.single_task, &config.subset) {
        (Some(t), _) => Some(vec![*t]),
        (None, Some(s)) => Some(s.clone()),
        (None, None) => None,
    }
}

/// Standardise the targets of `d` with `scales` (per task) and record them.
fn standardize(d: &mut MultiTaskDataset, scales: &[Option<(f64, f64)>]) {
    if scales.iter().all(Option::is_none) {
        return;
    }
    for (t, scale) in scales.iter().enumerate() {
        if let Some((mean, std)) = scale {
            for y in &mut d.targets[t] {
                *y = ((f64::from(*y) - mean) / std) as f32;
            }
        }
    }
    d.target_scales = scales.to_vec();
}

/// Multiply each labelled sample's mask by its class's weight.
fn fold_class_weights(d: &mut MultiTaskDataset, weights: &[Option<Vec<f64>>]) {
    for (t, w) in weights.iter().enumerate() {
        let Some(w) = w else { continue };
        let targets = &d.targets[t];
        for (m, y) in d.masks[t].iter_mut().zip(targets) {
            *m *= w[*y as usize] as f32;
        }
    }
}

/// A task without a labelled sample in a split.
fn no_labels(task: &str, split: &str, len: usize) -> Error {
    Error::Data(mtl_data::DataError::InvalidSetting {
        key: "data".into(),
        message: format!(
            "task `{task}` has no labelled sample in the {split} split ({len} samples); add labels or change the split (`mtl data CONFIG` shows the counts)"
        ),
    })
}

/// The number of ids each id column of the model's input may hold (none without a tabular
/// encoder).
fn id_cardinalities(config: &RunConfig) -> Vec<usize> {
    match config.model.architecture.encoder() {
        mtl_model::encoder::EncoderConfig::Tabular(t) => t.id_cardinalities(),
        _ => Vec::new(),
    }
}

/// Build the data splits of a run (only the trained tasks' columns for a single-task or a
/// task-group run).
pub fn prepare_data(config: &RunConfig) -> Result<Splits, Error> {
    let specs: Vec<_> = config.data_tasks.iter().map(|t| t.spec.clone()).collect();
    let mut splits = config.data.splits(&specs, &config.split, config.seed)?;
    standardize_targets(&mut splits, &config.data_tasks);
    let (moved, cardinalities) = (config.float_id_columns(), id_cardinalities(config));
    for (part, split) in
        [(&mut splits.train, "train"), (&mut splits.valid, "valid"), (&mut splits.test, "test")]
    {
        part.take_id_columns(&moved, split)?;
        part.check_ids(&cardinalities, split)?;
    }
    let mut splits = match picked_tasks(config) {
        None => splits,
        Some(picked) => Splits {
            train: splits.train.select_tasks(&picked),
            valid: splits.valid.select_tasks(&picked),
            test: splits.test.select_tasks(&picked),
        },
    };
    for chain in &config.model.chains {
        for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
            part.chain_targets(chain);
        }
    }
    Ok(splits)
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
                target_scale(mean, std)
            })
        })
        .collect();
    for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
        standardize(part, &scales);
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
        used.push(Some(spec.values(&train.class_counts(t, classes))));
    }
    fold_class_weights(train, &used);
    used
}

/// Every task needs a labelled sample in the training and validation splits.
pub(super) fn check_labelled(splits: &Splits) -> Result<(), Error> {
    for (part, name) in [(&splits.train, "training"), (&splits.valid, "validation")] {
        if let Some(t) = (0..part.num_tasks()).find(|&t| part.masks[t].iter().all(|m| *m == 0.0)) {
            return Err(no_labels(&part.tasks[t].name, name, part.len()));
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
            ids: Vec::new(),
            num_ids: 0,
            tasks: vec![TaskSpec { name: "b".into(), kind: TaskKind::Binary }],
            targets: vec![vec![0.0, 0.0, 1.0, 0.0, 1.0]],
            masks: vec![vec![1.0, 1.0, 1.0, 1.0, 0.0]],
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
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
