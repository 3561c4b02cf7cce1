//! One training step: forward, the task losses, the weighting method's combination on the
//! input it asked for, and the gradients for the optimizer.

use std::collections::HashSet;

use burn::module::{Module, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;
use mtl_data::{MultiTaskBatch, TaskSpec};
use mtl_model::MultiTaskModel;
use mtl_weighting::{StepContext, Weighting, WeightingInput, WeightingMethod};

use crate::loss::masked_loss;

/// Everything the optimizer updates: the network and the weighting method's parameters.
#[derive(Module, Debug)]
pub struct TrainState {
    /// The multi-task network.
    pub model: MultiTaskModel,
    /// The weighting method (holds trainable task weights, e.g. UW's log-variances).
    pub weighting: Weighting,
}

/// What one step reports, kept on the device (no autodiff).
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Unweighted task losses. Shape `[T]`.
    pub losses: Tensor<1>,
    /// Task weights the method used. Shape `[T]`.
    pub weights: Tensor<1>,
    /// On the gradient routes, [`gradient_stats`] of the step's task gradients.
    pub gradient_stats: Option<Tensor<1>>,
}

/// Conflict statistics of a `[T, P]` task-gradient matrix, on the device: the T gradient
/// norms, then the mean and the minimum of the pairwise cosines (1 and 1 for one task).
/// Shape `[T + 2]`. Costs one `[T, P] × [P, T]` product.
pub fn gradient_stats(g: &Tensor<2>) -> Tensor<1> {
    let t = g.dims()[0];
    let device = g.device();
    let k = g.clone().matmul(g.clone().transpose());
    let eye = Tensor::<2>::eye(t, &device);
    let norms = (k.clone() * eye.clone()).sum_dim(1).reshape([t]).clamp_min(0.0).sqrt();
    if t < 2 {
        return Tensor::cat(vec![norms, Tensor::ones([2], &device)], 0);
    }
    let n = norms.clone().clamp_min(1e-30);
    let cos = k / (n.clone().unsqueeze_dim::<2>(1) * n.unsqueeze_dim::<2>(0));
    let pairs = (t * (t - 1)) as f64;
    let mean = (cos.clone().sum() - (cos.clone() * eye.clone()).sum()).div_scalar(pairs);
    // Push the diagonal (1) out of the minimum's way.
    let min = (cos + eye.mul_scalar(4.0)).min();
    Tensor::cat(vec![norms, mean, min], 0)
}

/// Compute the gradients of one step on `batch` (which lives on an autodiff device).
///
/// - `Losses`: one forward; the method combines the T losses into one; one backward.
/// - `RepresentationGradients`: one forward of the shared part; its output z is detached into
///   a leaf; per task, a head forward and backward gives dL_t/dz (and the head's own
///   gradient); the method combines the `[T, batch·d]` matrix; `(z · g).sum()` pushes the
///   combined gradient g through the shared part in one backward.
/// - `ParameterGradients`: per task, a full forward and backward; the shared parameters'
///   gradients form a `[T, P]` matrix that the method combines; heads keep their own task's
///   gradient.
///
/// In both gradient routes each head receives the gradient of its own unweighted loss, as in
/// LibMTL and TorchJD; the weights act on the shared part. An architecture's regulariser
/// (DSelect-k) adds its own gradient on every route, unweighted.
pub fn train_step(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let (grads, report) = match ctx.input {
        WeightingInput::Losses => losses_route(state, batch, tasks, ctx),
        WeightingInput::RepresentationGradients => representation_route(state, batch, tasks, ctx),
        WeightingInput::ParameterGradients => parameter_route(state, batch, tasks, ctx),
    };
    // The architecture's own loss term (DSelect-k's entropy) is outside the task weighting:
    // its gradient is added to whatever the method produced.
    let Some(reg) = state.model.regularizer(&batch.inputs) else {
        return (grads, report);
    };
    let mut acc = GradientsAccumulator::<TrainState>::new();
    acc.accumulate(state, grads);
    acc.accumulate(state, GradientsParams::from_grads(reg.backward(), state));
    (acc.grads(), report)
}

fn task_loss(t: usize, out: Tensor<2>, batch: &MultiTaskBatch, tasks: &[TaskSpec]) -> Tensor<1> {
    masked_loss(tasks[t].kind, out, batch.targets[t].clone(), batch.masks[t].clone())
}

/// The masked loss of every task on `batch`, from one forward of `model`. Shape `[T]`; tracked
/// when `model` and `batch` live on an autodiff device.
pub fn batch_losses(model: &MultiTaskModel, batch: &MultiTaskBatch, tasks: &[TaskSpec]) -> Tensor<1> {
    let outputs = model.forward(batch.inputs.clone());
    let losses: Vec<Tensor<1>> =
        outputs.into_iter().enumerate().map(|(t, out)| task_loss(t, out, batch, tasks)).collect();
    Tensor::cat(losses, 0)
}

/// `batch` without autodiff, for evaluating a `valid()` model on it.
pub fn inner_batch(batch: &MultiTaskBatch) -> MultiTaskBatch {
    let inner = |v: &[Tensor<1>]| v.iter().map(|t| t.clone().inner()).collect();
    MultiTaskBatch {
        inputs: batch.inputs.clone().inner(),
        targets: inner(&batch.targets),
        masks: inner(&batch.masks),
    }
}

fn losses_route(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let losses = batch_losses(&state.model, batch, tasks);
    let combined = state.weighting.combine_losses(ctx, losses.clone());
    let grads = GradientsParams::from_grads(combined.loss.backward(), state);
    (grads, StepReport { losses: losses.detach().inner(), weights: combined.weights, gradient_stats: None })
}

fn representation_route(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let x = batch.inputs.clone();
    let z = state.model.architecture.shared(x.clone());
    let dims = z.dims(); // [batch, d]
    let z_leaf = z.clone().detach().require_grad();
    let mut acc = GradientsAccumulator::<TrainState>::new();
    let mut rows = Vec::with_capacity(tasks.len());
    let mut losses = Vec::with_capacity(tasks.len());
    for t in 0..tasks.len() {
        let out = state.model.forward_task_from_shared(t, &x, z_leaf.clone());
        let loss = task_loss(t, out, batch, tasks);
        let mut grads = loss.backward();
        let g = z_leaf.grad_remove(&mut grads).expect("every task head reads the shared representation");
        rows.push(g.reshape([dims[0] * dims[1]]));
        acc.accumulate(state, GradientsParams::from_grads(grads, state));
        losses.push(loss.detach().inner());
    }
    let losses = Tensor::cat(losses, 0);
    let matrix = Tensor::stack(rows, 0);
    let stats = gradient_stats(&matrix);
    let combined = state.weighting.combine_gradients(ctx, matrix, losses.clone());
    let g = combined.gradient.reshape(dims);
    // g carries no autodiff, so it acts as a constant: d(z·g)/dz = g.
    acc.accumulate(state, GradientsParams::from_grads((z * g).sum().backward(), state));
    (acc.grads(), StepReport { losses, weights: combined.weights, gradient_stats: Some(stats) })
}

fn parameter_route(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let x = batch.inputs.clone();
    let shared: Vec<ParamId> = state.model.shared_param_ids();
    let shared_set: HashSet<ParamId> = shared.iter().copied().collect();
    let device = x.device().inner();
    let mut acc = GradientsAccumulator::<TrainState>::new();
    let mut rows = Vec::with_capacity(tasks.len());
    let mut losses = Vec::with_capacity(tasks.len());
    for t in 0..tasks.len() {
        // A fresh forward per task: Burn has no retain_graph.
        let z = state.model.architecture.shared(x.clone());
        let out = state.model.forward_task_from_shared(t, &x, z);
        let loss = task_loss(t, out, batch, tasks);
        let mut grads = loss.backward();
        let task_shared = GradientsParams::from_params(&mut grads, state, &shared);
        rows.push(crate::grads::flatten(&state.model, &task_shared, &shared_set, &device));
        acc.accumulate(state, GradientsParams::from_grads(grads, state));
        losses.push(loss.detach().inner());
    }
    let losses = Tensor::cat(losses, 0);
    let matrix = Tensor::stack(rows, 0);
    let stats = gradient_stats(&matrix);
    let combined = state.weighting.combine_gradients(ctx, matrix, losses.clone());
    let mut grads = acc.grads();
    crate::grads::unflatten(&state.model, combined.gradient, &shared_set, &mut grads);
    (grads, StepReport { losses, weights: combined.weights, gradient_stats: Some(stats) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn gradient_stats_on_hand_computed_gradients() {
        // g₁ = (1, 0), g₂ = (1, 1), g₃ = (−1, 0): norms 1, √2, 1; cosines 1/√2, −1, −1/√2,
        // so the mean is −1/3 and the minimum −1.
        let g = Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]], &Device::ndarray());
        let s = gradient_stats(&g).into_data().to_vec::<f32>().unwrap();
        let want = [1.0, std::f32::consts::SQRT_2, 1.0, -1.0 / 3.0, -1.0];
        assert!(s.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{s:?}");
    }
}
