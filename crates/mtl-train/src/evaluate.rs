//! Evaluation: masked losses and metrics of a model on a split, accumulated on the device.

use crate::input::BatchInput;
use burn::tensor::{Device, Tensor};
use mtl_data::{MultiTaskBatch, MultiTaskDataset, batch_indices};
use mtl_model::MultiTaskModel;

use crate::config::TaskConfig;
use crate::loss::per_sample_loss;
use crate::metrics::{MetricKind, TaskMetrics};

/// Losses and metrics of every task on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean loss of each task over its labelled samples.
    pub losses: Vec<f64>,
    /// Per task, `(metric, value)` in config order.
    pub metrics: Vec<Vec<(MetricKind, f64)>>,
    /// Per task, the mean gate weight of each expert (cross-stitch: of each column) over the
    /// split; `None` for architectures without gates.
    pub gates: Option<Vec<Vec<f64>>>,
    /// Per task, the per-label values of metrics that average over labels (multilabel AUC);
    /// empty for other tasks.
    pub per_label: Vec<Vec<(MetricKind, Vec<f64>)>>,
    /// Per task that follows others in a chain, the metrics of its own tower (ESMM's pCVR)
    /// on the rows where every earlier step happened (clicked rows), against its own label
    /// there; `None` for other tasks (and empty before the first batch).
    pub towers: Vec<Option<Vec<(MetricKind, f64)>>>,
    /// Per task whose source knows its label on every row ([`MultiTaskDataset::truth`]: a
    /// generated funnel's conversion), the metrics of its own probability (a chain step's
    /// tower) against that label over every row — the entire-space metrics of ESMM — then the
    /// mean predicted probability and the true rate; `None` for other tasks.
    pub entire_space: Vec<Option<EntireSpace>>,
}

/// Entire-space metrics of a task (see [`Evaluation::entire_space`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EntireSpace {
    /// The task's metrics against its label on every row.
    pub metrics: Vec<(MetricKind, f64)>,
    /// Mean predicted probability over the rows.
    pub mean_prob: f64,
    /// Mean label over the rows.
    pub rate: f64,
}

impl Evaluation {
    /// Sum of the task losses (model selection criterion).
    pub fn total_loss(&self) -> f64 {
        self.losses.iter().sum()
    }

    /// Per task, the metrics to compare with its single-task baseline (Δ): a chain step's
    /// tower metrics — its own probability on the rows where the step before happened, which
    /// is what the step's baseline learns and is scored on — else the task's metrics.
    pub fn baseline_scores(&self) -> Vec<Vec<(MetricKind, f64)>> {
        (self.metrics.iter().enumerate())
            .map(|(t, m)| self.towers.get(t).cloned().flatten().unwrap_or_else(|| m.clone()))
            .collect()
    }

    /// `{task: {"loss": l, metric: v, ...}}` for logs and summaries.
    pub fn to_json(&self, tasks: &[TaskConfig]) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (t, task) in tasks.iter().enumerate() {
            let mut m = serde_json::Map::new();
            m.insert("loss".into(), json_f64(self.losses[t]));
            for (k, v) in &self.metrics[t] {
                m.insert(k.name().into(), json_f64(*v));
            }
            for (k, values) in self.per_label.get(t).into_iter().flatten() {
                let values: Vec<serde_json::Value> = values.iter().map(|v| json_f64(*v)).collect();
                m.insert(format!("{}_per_label", k.name()), values.into());
            }
            if let Some(Some(e)) = self.entire_space.get(t) {
                let mut all: serde_json::Map<_, _> =
                    e.metrics.iter().map(|(k, v)| (k.name().into(), json_f64(*v))).collect();
                all.insert("mean_prob".into(), json_f64(e.mean_prob));
                all.insert("rate".into(), json_f64(e.rate));
                m.insert("entire_space".into(), all.into());
            }
            if let Some(Some(tower)) = self.towers.get(t) {
                let tower: serde_json::Map<_, _> =
                    tower.iter().map(|(k, v)| (k.name().into(), json_f64(*v))).collect();
                m.insert("tower".into(), tower.into());
            }
            out.insert(task.spec.name.clone(), m.into());
        }
        out.into()
    }

    /// `{task: {label: mean weight}}` with `labels` naming the gate's columns; null without
    /// gates.
    pub fn gates_json(&self, tasks: &[TaskConfig], labels: &[String]) -> serde_json::Value {
        let Some(gates) = &self.gates else { return serde_json::Value::Null };
        let mut out = serde_json::Map::new();
        for (task, g) in tasks.iter().zip(gates) {
            let m: serde_json::Map<_, _> =
                labels.iter().zip(g).map(|(l, v)| (l.clone(), json_f64(*v))).collect();
            out.insert(task.spec.name.clone(), m.into());
        }
        out.into()
    }
}

/// A JSON number, or null for NaN/inf (JSON has no such numbers).
pub fn json_f64(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map(Into::into).unwrap_or(serde_json::Value::Null)
}

/// Evaluate `model` (a non-autodiff copy, e.g. from `valid()`) on `data` in batches.
pub fn evaluate(
    model: &MultiTaskModel,
    data: &MultiTaskDataset,
    tasks: &[TaskConfig],
    batch_size: usize,
    device: &Device,
) -> Evaluation {
    let mut e = Evaluator::new(tasks, batch_size, device);
    e.batches(model, data, 0..data.len());
    e.finish(model)
}

/// An evaluation fed its split a chunk at a time (a streamed split): the batches are those of
/// [`evaluate`] on the whole split, whatever the chunking (rows left over from a chunk wait
/// for the next), so the numbers are the same.
pub struct Evaluator<'t> {
    tasks: &'t [TaskConfig],
    batch_size: usize,
    device: Device,
    metrics: Vec<TaskMetrics>,
    /// Per chain task after the first step, its tower's metrics (see [`Evaluation::towers`]).
    towers: Vec<Option<TaskMetrics>>,
    /// Per task with entire-space labels: its metrics there, Σ p̂ and Σ y.
    entire: Vec<Option<(TaskMetrics, f64, f64)>>,
    /// `[2T]`: Σ m·ℓ then Σ m, per task.
    loss_sums: Option<Tensor<1>>,
    /// T × `[gate width]`: Σ over rows.
    gate_sums: Option<Vec<Tensor<1>>>,
    rows: usize,
    pending: Option<MultiTaskDataset>,
}

impl<'t> Evaluator<'t> {
    /// An evaluation of `tasks` in batches of `batch_size` on `device` that has seen no row.
    pub fn new(tasks: &'t [TaskConfig], batch_size: usize, device: &Device) -> Self {
        Self {
            tasks,
            batch_size: batch_size.max(1),
            device: device.clone(),
            metrics: tasks.iter().map(|t| TaskMetrics::new(&t.metrics, t.spec.kind, device)).collect(),
            towers: Vec::new(),
            entire: Vec::new(),
            loss_sums: None,
            gate_sums: None,
            rows: 0,
            pending: None,
        }
    }

    /// Evaluate the next rows of the split (its full batches; the rest waits).
    pub fn add(&mut self, model: &MultiTaskModel, chunk: MultiTaskDataset) {
        let data = match self.pending.take() {
            Some(mut p) => {
                (0..chunk.len()).for_each(|i| p.push_sample(&chunk, i));
                p
            }
            None => chunk,
        };
        let full = data.len() / self.batch_size * self.batch_size;
        self.batches(model, &data, 0..full);
        if full < data.len() {
            self.pending = Some(data.select(&(full..data.len()).collect::<Vec<_>>()));
        }
    }

    /// The evaluation of the rows given.
    pub fn finish(mut self, model: &MultiTaskModel) -> Evaluation {
        if let Some(rest) = self.pending.take() {
            self.batches(model, &rest, 0..rest.len());
        }
        let tasks = self.tasks;
        let sums =
            self.loss_sums.map(crate::metrics::host_values).unwrap_or_else(|| vec![0.0; 2 * tasks.len()]);
        let n = self.rows.max(1) as f64;
        Evaluation {
            losses: (0..tasks.len()).map(|t| sums[2 * t] / sums[2 * t + 1]).collect(),
            metrics: self.metrics.iter().map(TaskMetrics::compute).collect(),
            per_label: self.metrics.iter().map(TaskMetrics::per_label).collect(),
            towers: self.towers.iter().map(|m| m.as_ref().map(TaskMetrics::compute)).collect(),
            entire_space: (self.entire.iter())
                .map(|e| {
                    e.as_ref().map(|(m, p, y)| EntireSpace {
                        metrics: m.compute(),
                        mean_prob: p / n,
                        rate: y / n,
                    })
                })
                .collect(),
            gates: self.gate_sums.map(|g| {
                g.into_iter()
                    .map(|s| crate::metrics::host_values(s).iter().map(|v| v / n).collect())
                    .collect()
            }),
        }
    }

    /// Evaluate the rows `rows` of `data` in batches.
    fn batches(&mut self, model: &MultiTaskModel, data: &MultiTaskDataset, rows: std::ops::Range<usize>) {
        let order: Vec<usize> = rows.collect();
        self.rows += order.len();
        let tasks = self.tasks;
        if self.towers.is_empty() {
            self.towers = (tasks.iter().enumerate())
                .map(|(t, task)| {
                    (!model.follows(t).is_empty())
                        .then(|| TaskMetrics::new(&task.metrics, task.spec.kind, &self.device))
                })
                .collect();
            self.entire = (tasks.iter().enumerate())
                .map(|(t, task)| {
                    let binary = task.spec.kind == mtl_data::TaskKind::Binary;
                    (binary && data.truth_of(t).is_some())
                        .then(|| (TaskMetrics::new(&task.metrics, task.spec.kind, &self.device), 0.0, 0.0))
                })
                .collect();
        }
        for idx in batch_indices(&order, self.batch_size, false) {
            let batch = MultiTaskBatch::gather(data, idx, &self.device);
            let x = batch.input();
            let z = model.architecture.shared(x.clone());
            let (outputs, towers) = model.forward_with_towers(&x, z);
            self.update_towers(model, &batch, &towers);
            self.update_entire(&towers, data, idx);
            if let Some(gates) = model.gate_weights(&x) {
                let sums = gates.into_iter().map(|g| g.sum_dim(0).squeeze_dim::<1>(0));
                self.gate_sums = Some(match self.gate_sums.take() {
                    Some(acc) => acc.into_iter().zip(sums).map(|(a, b)| a + b).collect(),
                    None => sums.collect(),
                });
            }
            let mut parts = Vec::with_capacity(2 * tasks.len());
            for (t, out) in outputs.iter().enumerate() {
                let (y, m) = (&batch.targets[t], &batch.masks[t]);
                match data.target_scale(t) {
                    // Metrics on the original scale; the loss stays on the standardised one.
                    Some((mean, std)) => self.metrics[t].update(
                        &(out.clone() * std as f32 + mean as f32),
                        &(y.clone() * std as f32 + mean as f32),
                        m,
                    ),
                    None => self.metrics[t].update(out, y, m),
                }
                let l = per_sample_loss(tasks[t].spec.kind, out.clone(), y.clone());
                parts.push((l * m.clone()).sum());
                parts.push(m.clone().sum());
            }
            let sums = Tensor::cat(parts, 0);
            self.loss_sums = Some(match self.loss_sums.take() {
                Some(s) => s + sums,
                None => sums,
            });
        }
    }
}

impl Evaluator<'_> {
    /// The towers of the chain tasks on `batch`: a later step's tower against its target on
    /// the rows where the step before happened (its joint target is 1 and known), which
    /// there is the step's own label.
    fn update_towers(&mut self, model: &MultiTaskModel, batch: &MultiTaskBatch, towers: &[Tensor<2>]) {
        for (t, metrics) in self.towers.iter_mut().enumerate() {
            let (Some(metrics), Some(&prev)) = (metrics.as_mut(), model.follows(t).last()) else { continue };
            let happened = batch.targets[prev].clone() * batch.masks[prev].clone();
            let mask = batch.masks[t].clone() * happened;
            metrics.update(&towers[t], &batch.targets[t], &mask);
        }
    }

    /// The entire-space metrics on the rows `idx` of `data`: each task's own probability (its
    /// tower: a chain step's own, else its output) against its label on every row.
    fn update_entire(&mut self, towers: &[Tensor<2>], data: &MultiTaskDataset, idx: &[usize]) {
        for (t, entire) in self.entire.iter_mut().enumerate() {
            let (Some((metrics, p_sum, y_sum)), Some(truth)) = (entire.as_mut(), data.truth_of(t)) else {
                continue;
            };
            let y: Vec<f32> = idx.iter().map(|&i| truth[i]).collect();
            *y_sum += y.iter().map(|&v| f64::from(v)).sum::<f64>();
            let y = Tensor::<1>::from_data(burn::tensor::TensorData::new(y, [idx.len()]), &self.device);
            let out = towers[t].clone();
            *p_sum += crate::metrics::host_values(burn::tensor::activation::sigmoid(out.clone()).sum())[0];
            metrics.update(&out, &y, &y.ones_like());
        }
    }
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Evaluator({} rows)", self.rows)
    }
}
