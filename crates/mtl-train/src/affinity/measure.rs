//! One measurement of the task-affinity matrices on one batch.
//!
//! - **Gradient cosine, shared parameters**: per task a forward and a backward give
//!   g_t = ∇_θs L_t; C_ij = cos(g_i, g_j).
//! - **Gradient cosine, shared representation**: one forward of the shared part, then per task
//!   a head forward and backward give ∇_z L_t; cosines of those (flattened over the batch).
//! - **Look-ahead affinity** (TAG: Fifty, Amid, Zhao, Yu, Anil, Finn, "Efficiently Identifying
//!   Task Groupings in Multi-Task Learning", NeurIPS 2021, eq. 3): a virtual SGD step on the
//!   shared parameters with task i's gradient alone, θs' = θs − η·g_i (heads unchanged), then
//!   Z_{i→j} = 1 − L_j(θs', θj) / L_j(θs, θj) on the same batch. Positive: task i's step helps
//!   task j. Asymmetric.
//! - **Gate overlap** (gated architectures): with p̄_t the mean gate distribution of task t over
//!   the batch, O_ij = Σ_e min(p̄_i(e), p̄_j(e)) (histogram intersection; 1 = same experts).
//!
//! Cost per measured step, T tasks: T forward + T backward passes of the whole network (the
//! parameter gradients), one shared forward + T head forward/backward passes (the representation
//! gradients), T forward passes of the whole network (the look-ahead), one gate pass.

use crate::input::BatchInput;
use std::collections::HashSet;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use mtl_data::{MultiTaskBatch, TaskSpec};
use mtl_model::MultiTaskModel;

use crate::grads::flatten;
use crate::loss::masked_loss;
use crate::metrics::host_values;
use crate::step::{batch_losses, inner_batch};

/// The matrices of one batch, on the host; `NaN` where undefined (a task without labels in
/// the batch, a zero gradient).
#[derive(Debug, Clone, PartialEq)]
pub struct StepAffinity {
    /// Cosines of the shared-parameter gradients. `[T][T]`.
    pub parameter_cosine: Vec<Vec<f64>>,
    /// Cosines of the shared-representation gradients. `[T][T]`.
    pub representation_cosine: Vec<Vec<f64>>,
    /// TAG's Z_{i→j}, row i = the task that stepped. `[T][T]`.
    pub lookahead: Vec<Vec<f64>>,
    /// Gate-distribution overlap; `None` for architectures without gates.
    pub gate_overlap: Option<Vec<Vec<f64>>>,
}

/// Subtract `lr·flat` (laid out as by [`flatten`]) from the parameters `ids`.
struct Step<'a> {
    flat: Tensor<1>,
    lr: f64,
    offset: usize,
    ids: &'a HashSet<ParamId>,
}

impl ModuleMapper for Step<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !self.ids.contains(&param.id) {
            return param;
        }
        let dims: [usize; D] = param.lazy_shape().dims::<D>();
        let n: usize = dims.iter().product();
        let g = self.flat.clone().narrow(0, self.offset, n).reshape(dims).mul_scalar(self.lr);
        self.offset += n;
        param.map(|p| p - g)
    }
}

/// The model with its shared parameters moved by −lr·`flat`.
pub fn virtual_step(
    model: &MultiTaskModel,
    flat: Tensor<1>,
    lr: f64,
    ids: &HashSet<ParamId>,
) -> MultiTaskModel {
    model.clone().map(&mut Step { flat, lr, offset: 0, ids })
}

fn cosines(rows: &[Tensor<1>]) -> Vec<Vec<f64>> {
    let g = Tensor::stack::<2>(rows.to_vec(), 0);
    let t = rows.len();
    let k = host_values(mtl_weighting::gram::gram_on_device(&g).flatten(0, 1));
    let norm = |i: usize| k[i * t + i].max(0.0).sqrt();
    (0..t)
        .map(|i| {
            (0..t)
                .map(|j| k[i * t + j] / (norm(i) * norm(j)))
                .map(|c| if c.is_finite() { c } else { f64::NAN })
                .collect()
        })
        .collect()
}

/// Measure every matrix on `batch` (on the autodiff device of `model`), with look-ahead
/// learning rate `lr`. Leaves `model` unchanged.
pub fn measure(model: &MultiTaskModel, batch: &MultiTaskBatch, tasks: &[TaskSpec], lr: f64) -> StepAffinity {
    let x = batch.input();
    let shared: Vec<ParamId> = model.shared_param_ids();
    let ids: HashSet<ParamId> = shared.iter().copied().collect();
    let device = x.device().inner();
    let t_count = tasks.len();
    let loss = |t: usize, out: Tensor<2>| {
        masked_loss(tasks[t].kind, out, batch.targets[t].clone(), batch.masks[t].clone())
    };

    // Shared-parameter gradients, one full pass per task (Burn has no retain_graph).
    let mut param_rows = Vec::with_capacity(t_count);
    let mut before = Vec::with_capacity(t_count);
    for t in 0..t_count {
        let z = model.architecture.shared(x.clone());
        let l = loss(t, model.forward_task_from_shared(t, &x, z));
        let mut grads = l.backward();
        let g = GradientsParams::from_params(&mut grads, model, &shared);
        param_rows.push(flatten(model, &g, &ids, &device));
        before.push(l.detach().inner());
    }
    let before = host_values(Tensor::cat(before, 0));

    // Shared-representation gradients: z detached into a leaf, a head pass per task.
    let z = model.architecture.shared(x.clone()).detach();
    let dims = z.dims();
    let mut repr_rows = Vec::with_capacity(t_count);
    for t in 0..t_count {
        let leaf = z.clone().require_grad();
        let l = loss(t, model.forward_task_from_shared(t, &x, leaf.clone()));
        let grads = l.backward();
        let g = leaf.grad(&grads).expect("every head reads the shared representation");
        repr_rows.push(g.reshape([dims[0] * dims[1]]));
    }

    // TAG look-ahead on the non-autodiff copy.
    let inner = model.valid();
    let plain = inner_batch(batch);
    let lookahead = param_rows
        .iter()
        .map(|g| {
            let after = host_values(batch_losses(&virtual_step(&inner, g.clone(), lr, &ids), &plain, tasks));
            (0..t_count)
                .map(|j| if before[j] > 0.0 { 1.0 - after[j] / before[j] } else { f64::NAN })
                .collect()
        })
        .collect();

    let gate_overlap = inner.gate_weights(&plain.input()).map(|gates| {
        let means: Vec<Vec<f64>> =
            gates.into_iter().map(|g| host_values(g.mean_dim(0).flatten(0, 1))).collect();
        means
            .iter()
            .map(|p| means.iter().map(|q| p.iter().zip(q).map(|(a, b)| a.min(*b)).sum()).collect())
            .collect()
    });

    StepAffinity {
        parameter_cosine: cosines(&param_rows),
        representation_cosine: cosines(&repr_rows),
        lookahead,
        gate_overlap,
    }
}
