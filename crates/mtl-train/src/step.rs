//! One training step: forward, the task losses, the weighting method's combination on the
//! input it asked for, and the gradients for the optimizer.

use crate::input::BatchInput;
use std::collections::HashSet;

use burn::module::{Module, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Tensor, TensorData};
use mtl_data::{MultiTaskBatch, TaskSpec};
use mtl_model::MultiTaskModel;
use mtl_weighting::gram::{Gram, combine_with_gram, gram, gram_on_device, host};
use mtl_weighting::{GradientCombination, StepContext, Weighting, WeightingInput, WeightingMethod};

use crate::grads::host_f32;
use crate::loss::masked_loss;
use crate::parallel::World;
use crate::profile::{self, Phase};

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
    stats_of_gram(gram_on_device(g))
}

/// [`gradient_stats`] from the Gram matrix `k = G Gᵀ` (`[T, T]`, on the device).
pub fn stats_of_gram(k: Tensor<2>) -> Tensor<1> {
    let t = k.dims()[0];
    let device = k.device();
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

/// The weighting method's combination of the task-gradient matrix `matrix` (`[T, n]`) and the
/// step's [`gradient_stats`], from one Gram matrix `K = G Gᵀ` computed on the device: the
/// statistics come from K on the device, and a method that solves for its weights from K
/// ([`WeightingMethod::solves_from_gram`]) reads K with the losses in one host read and
/// solves there; the others (EW, GradDrop, DB-MTL, MoCo) get the matrix itself.
pub(crate) fn combine_matrix(
    state: &mut TrainState,
    ctx: &StepContext,
    matrix: Tensor<2>,
    losses: Tensor<1>,
) -> (GradientCombination, Tensor<1>) {
    let k = gram_on_device(&matrix);
    let stats = stats_of_gram(k.clone());
    let combined = match state.weighting.solves_from_gram() {
        true => combine_with_gram(&mut state.weighting, ctx, matrix, k, losses),
        false => state.weighting.combine_gradients(ctx, matrix, losses),
    };
    (combined, stats)
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
    train_step_in(state, batch, tasks, ctx, &Peers::alone())
}

/// How the processes of a data-parallel job share a step; [`Peers::alone`] for one process.
#[derive(Debug, Clone)]
pub struct Peers {
    /// The job's processes.
    pub world: World,
    /// Seed the device with this right before the weighting method runs, so that its random
    /// draws (PCGrad's orders, RLW's weights, GradDrop's thresholds) are the same on every
    /// rank even where dropout drew a different number of values on each.
    pub method_seed: Option<u64>,
}

impl Peers {
    /// One process: every reduction is the identity.
    pub fn alone() -> Self {
        Self { world: World::single(), method_seed: None }
    }

    fn seed_method(&self, device: &burn::tensor::Device) {
        if let Some(seed) = self.method_seed {
            device.seed(seed);
        }
    }
}

/// [`train_step`] on this rank's part of a global batch (`batch.share`): the task losses are
/// the part's terms of the global masked means; every value the weighting method reads is
/// reduced over the ranks first, so the method sees the global batch and its state stays the
/// same on every rank; the parameter gradients are summed over the ranks.
///
/// Per route, the collectives of one step:
/// - losses: the T losses (sum), then the model's gradients (sum, one flat buffer);
/// - representation: for a method whose weights are a function of the Gram matrix
///   ([`WeightingMethod::weights_from_gram`]: all but GradDrop here), the T×T Gram
///   matrix of this rank's `[T, part·d]` block plus its T losses (sum: the global batch's K),
///   whose weights then combine this rank's block; else the block and losses themselves (one
///   all-gather: the method sees the whole `[T, batch·d]` matrix). Then the model's
///   gradients (sum);
/// - parameters: the `[T, P]` matrix plus the T losses (sum), then the heads' and other
///   non-shared gradients (sum); the combined shared gradient is computed from the global
///   matrix on every rank and is not reduced again.
pub fn train_step_in(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
    peers: &Peers,
) -> (GradientsParams, StepReport) {
    let (local, global, report) = match ctx.input {
        WeightingInput::Losses => losses_route(state, batch, tasks, ctx, peers),
        WeightingInput::RepresentationGradients => representation_route(state, batch, tasks, ctx, peers),
        WeightingInput::ParameterGradients => parameter_route(state, batch, tasks, ctx, peers),
    };
    let mut local = with_regulariser(state, batch, local);
    let device = batch.inputs.device().inner();
    crate::grads::sum_over_ranks(&state.model, &mut local, &peers.world, &device);
    profile::end(Phase::Backward, &device);
    let grads = match global {
        Some(global) => add(state, local, global),
        None => local,
    };
    (grads, report)
}

/// `grads` plus the gradient of the model's own loss terms on `batch` (DSelect-k's entropy,
/// ESCM²'s counterfactual risk: batch means, scaled to a part's share of the batch), which are
/// outside the task weighting: added to whatever the method produced.
pub(crate) fn with_regulariser(
    state: &TrainState,
    batch: &MultiTaskBatch,
    grads: GradientsParams,
) -> GradientsParams {
    let x = batch.input();
    let terms =
        [state.model.regularizer(&x), state.model.chain_regularizer(&x, &batch.targets, &batch.masks)];
    let Some(reg) = terms.into_iter().flatten().reduce(|a, b| a + b) else { return grads };
    let reg = match &batch.share {
        Some(share) => reg.mul_scalar(share.samples),
        None => reg,
    };
    add(state, grads, GradientsParams::from_grads(reg.backward(), state))
}

pub(crate) fn add(state: &TrainState, a: GradientsParams, b: GradientsParams) -> GradientsParams {
    let mut acc = GradientsAccumulator::<TrainState>::new();
    acc.accumulate(state, a);
    acc.accumulate(state, b);
    acc.grads()
}

pub(crate) fn task_loss(t: usize, out: Tensor<2>, batch: &MultiTaskBatch, tasks: &[TaskSpec]) -> Tensor<1> {
    let loss = masked_loss(tasks[t].kind, out, batch.targets[t].clone(), batch.masks[t].clone());
    match &batch.share {
        Some(share) => loss.mul_scalar(share.labels[t]),
        None => loss,
    }
}

/// The masked loss of every task on `batch`, from one forward of `model`. Shape `[T]`; tracked
/// when `model` and `batch` live on an autodiff device. On a part of a global batch, the
/// part's terms of the global losses (sum them over the ranks).
pub fn batch_losses(model: &MultiTaskModel, batch: &MultiTaskBatch, tasks: &[TaskSpec]) -> Tensor<1> {
    let outputs = model.forward(batch.input());
    let losses: Vec<Tensor<1>> =
        outputs.into_iter().enumerate().map(|(t, out)| task_loss(t, out, batch, tasks)).collect();
    Tensor::cat(losses, 0)
}

/// `batch` without autodiff, for evaluating a `valid()` model on it.
pub fn inner_batch(batch: &MultiTaskBatch) -> MultiTaskBatch {
    let inner = |v: &[Tensor<1>]| v.iter().map(|t| t.clone().inner()).collect();
    MultiTaskBatch {
        inputs: batch.inputs.clone().inner(),
        ids: batch.ids.clone().map(Tensor::inner),
        targets: inner(&batch.targets),
        masks: inner(&batch.masks),
        share: batch.share.clone(),
    }
}

/// `losses` (no autodiff) summed over the ranks: the global batch's losses.
pub fn sum_losses(losses: Tensor<1>, world: &World) -> Tensor<1> {
    if !world.is_parallel() {
        return losses;
    }
    let device = losses.device();
    let mut host = host_f32(losses);
    world.sum(&mut host);
    let n = host.len();
    Tensor::from_data(TensorData::new(host, [n]), &device)
}

/// The gradients summed over the ranks, those already equal on every rank (or `None`), and
/// the report.
type RouteOutput = (GradientsParams, Option<GradientsParams>, StepReport);

fn losses_route(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
    peers: &Peers,
) -> RouteOutput {
    let local = batch_losses(&state.model, batch, tasks);
    profile::end(Phase::Forward, &batch.inputs.device());
    let global = sum_losses(local.clone().detach().inner(), &peers.world);
    let losses = if peers.world.is_parallel() {
        // The global value with this rank's gradient: a method that is not linear in the
        // losses (GLS, UW, DB-MTL's logarithms) sees the global losses, and the sum of the
        // ranks' gradients is its gradient on the global batch.
        let constant = Tensor::<1>::from_inner(global.clone());
        (local.clone() - local.detach()) + constant
    } else {
        local
    };
    peers.seed_method(&batch.inputs.device());
    let combined = state.weighting.combine_losses(ctx, losses);
    profile::end(Phase::Weighting, &batch.inputs.device());
    let grads = GradientsParams::from_grads(combined.loss.backward(), state);
    (grads, None, StepReport { losses: global, weights: combined.weights, gradient_stats: None })
}

fn representation_route(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
    peers: &Peers,
) -> RouteOutput {
    let x = batch.input();
    let z = state.model.architecture.shared(x.clone());
    profile::end(Phase::Forward, &x.device());
    let dims = z.dims(); // [batch, d]
    let (block, losses, mut acc) = representation_rows(state, &z, batch, tasks);
    let (combined, losses, stats) = if peers.world.is_parallel() && state.weighting.weights_from_gram() {
        // The global Gram matrix is the sum of the ranks' (their columns partition G's): T² + T
        // numbers per step instead of the whole matrix.
        let (k, losses) = sum_gram(&block, losses, &peers.world);
        let stats = gram_stats(&k, &block.device());
        peers.seed_method(&x.device());
        let w = state.weighting.gram_weights(ctx, &k, &host(losses.clone()), &block.device());
        (mtl_weighting::gram::combine(block, &w), losses, stats)
    } else {
        let (matrix, losses, columns) = gather_columns(block, losses, &peers.world);
        peers.seed_method(&x.device());
        let (mut combined, stats) = combine_matrix(state, ctx, matrix, losses.clone());
        combined.gradient = combined.gradient.narrow(0, columns.start, columns.len());
        (combined, losses, stats)
    };
    profile::end(Phase::Weighting, &x.device());
    let g = combined.gradient.reshape(dims);
    // g carries no autodiff, so it acts as a constant: d(z·g)/dz = g.
    acc.accumulate(state, GradientsParams::from_grads((z * g).sum().backward(), state));
    (acc.grads(), None, StepReport { losses, weights: combined.weights, gradient_stats: Some(stats) })
}

/// Per task, the head's forward and backward from the shared output `z` detached into a leaf:
/// the `[T, batch·d]` matrix of dL_t/dz, the task losses, and the heads' own gradients.
pub(crate) fn representation_rows(
    state: &TrainState,
    z: &Tensor<2>,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
) -> (Tensor<2>, Tensor<1>, GradientsAccumulator<TrainState>) {
    let x = &batch.input();
    let [b, d] = z.dims();
    let z_leaf = z.clone().detach().require_grad();
    let mut acc = GradientsAccumulator::<TrainState>::new();
    let (mut rows, mut losses) = (Vec::with_capacity(tasks.len()), Vec::with_capacity(tasks.len()));
    for t in 0..tasks.len() {
        let out = state.model.forward_task_from_shared(t, x, z_leaf.clone());
        let loss = task_loss(t, out, batch, tasks);
        profile::end(Phase::Forward, &x.device());
        let mut grads = loss.backward();
        let g = z_leaf.grad_remove(&mut grads).expect("every task head reads the shared representation");
        rows.push(g.reshape([b * d]));
        acc.accumulate(state, GradientsParams::from_grads(grads, state));
        profile::end(Phase::Backward, &x.device());
        losses.push(loss.detach().inner());
    }
    (Tensor::stack(rows, 0), Tensor::cat(losses, 0), acc)
}

/// Per task, a full forward (Burn has no retain_graph) and backward: the `[T, P]` matrix of the
/// shared parameters' gradients, the task losses, and the other parameters' gradients.
pub(crate) fn parameter_rows(
    state: &TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    shared: &[ParamId],
) -> (Tensor<2>, Tensor<1>, GradientsAccumulator<TrainState>) {
    let x = &batch.input();
    let shared_set: HashSet<ParamId> = shared.iter().copied().collect();
    let device = x.device().inner();
    let mut acc = GradientsAccumulator::<TrainState>::new();
    let (mut rows, mut losses) = (Vec::with_capacity(tasks.len()), Vec::with_capacity(tasks.len()));
    for t in 0..tasks.len() {
        let z = state.model.architecture.shared(x.clone());
        let out = state.model.forward_task_from_shared(t, x, z);
        let loss = task_loss(t, out, batch, tasks);
        profile::end(Phase::Forward, &device);
        let mut grads = loss.backward();
        let task_shared = GradientsParams::from_params(&mut grads, state, shared);
        rows.push(crate::grads::flatten(&state.model, &task_shared, &shared_set, &device));
        acc.accumulate(state, GradientsParams::from_grads(grads, state));
        profile::end(Phase::Backward, &device);
        losses.push(loss.detach().inner());
    }
    (Tensor::stack(rows, 0), Tensor::cat(losses, 0), acc)
}

/// The Gram matrix of the global `[T, batch·d]` matrix (the sum of the ranks' blocks' Gram
/// matrices) and the global losses, in one collective (f64).
fn sum_gram(block: &Tensor<2>, losses: Tensor<1>, world: &World) -> (Gram, Tensor<1>) {
    let t = block.dims()[0];
    let device = block.device();
    let mut buf: Vec<f64> = gram(block).concat();
    buf.extend(host(losses));
    world.sum_f64(&mut buf);
    let losses: Vec<f32> = buf.split_off(t * t).iter().map(|&l| l as f32).collect();
    (buf.chunks(t).map(<[f64]>::to_vec).collect(), Tensor::from_data(TensorData::new(losses, [t]), &device))
}

/// [`gradient_stats`] from the Gram matrix `k` of the task gradients (host, f64), as a `[T + 2]`
/// tensor on `device`.
pub fn gram_stats(k: &Gram, device: &burn::tensor::Device) -> Tensor<1> {
    let t = k.len();
    let norms: Vec<f64> = (0..t).map(|i| k[i][i].max(0.0).sqrt()).collect();
    let (mut sum, mut min) = (0.0, if t < 2 { 1.0 } else { f64::INFINITY });
    for i in 0..t {
        for j in (0..t).filter(|&j| j != i) {
            let cos = k[i][j] / (norms[i].max(1e-30) * norms[j].max(1e-30));
            sum += cos;
            min = f64::min(min, cos);
        }
    }
    let mean = if t < 2 { 1.0 } else { sum / (t * (t - 1)) as f64 };
    let mut v: Vec<f32> = norms.iter().map(|&n| n as f32).collect();
    v.extend([mean as f32, min as f32]);
    Tensor::from_data(TensorData::new(v, [t + 2]), device)
}

/// The whole `[T, batch·d]` matrix from the ranks' `[T, part·d]` blocks (in rank order, which
/// is the global batch's sample order), the global losses (the ranks' terms summed in rank
/// order), and this rank's columns of the matrix. One all-gather.
fn gather_columns(
    block: Tensor<2>,
    losses: Tensor<1>,
    world: &World,
) -> (Tensor<2>, Tensor<1>, std::ops::Range<usize>) {
    let [t, cols] = block.dims();
    if !world.is_parallel() {
        return (block, losses, 0..cols);
    }
    let device = block.device();
    let mut local = host_f32(block);
    local.extend(host_f32(losses));
    // Every rank's column count, then every rank's block and losses.
    let counts: Vec<usize> =
        (world.gather(&[cols as f32], &vec![1; world.size()]).iter()).map(|&w| t * w as usize + t).collect();
    let all = world.gather(&local, &counts);
    let mut blocks = Vec::with_capacity(counts.len());
    let mut at = 0;
    for n in counts {
        blocks.push(&all[at..at + n]);
        at += n;
    }
    let (matrix, widths) = side_by_side(t, &blocks);
    let total: usize = widths.iter().sum();
    let mut global_losses = vec![0f32; t];
    for (block, w) in blocks.iter().zip(&widths) {
        for (sum, &l) in global_losses.iter_mut().zip(&block[t * w..]) {
            *sum += l;
        }
    }
    let start: usize = widths[..world.rank()].iter().sum();
    (
        Tensor::from_data(TensorData::new(matrix, [t, total]), &device),
        Tensor::from_data(TensorData::new(global_losses, [t]), &device),
        start..start + cols,
    )
}

/// Row-major `[T, wᵢ]` blocks, each followed by its T losses, placed side by side: the
/// row-major `[T, Σwᵢ]` matrix and each block's width.
pub(crate) fn side_by_side<X: Copy + Into<f64>>(t: usize, blocks: &[&[X]]) -> (Vec<f32>, Vec<usize>) {
    let widths: Vec<usize> = blocks.iter().map(|b| (b.len() - t) / t).collect();
    let total: usize = widths.iter().sum();
    let mut matrix = vec![0f32; t * total];
    let mut col = 0;
    for (block, &w) in blocks.iter().zip(&widths) {
        for row in 0..t {
            for (c, &x) in block[row * w..(row + 1) * w].iter().enumerate() {
                matrix[row * total + col + c] = x.into() as f32;
            }
        }
        col += w;
    }
    (matrix, widths)
}

fn parameter_route(
    state: &mut TrainState,
    batch: &MultiTaskBatch,
    tasks: &[TaskSpec],
    ctx: &StepContext,
    peers: &Peers,
) -> RouteOutput {
    let x = batch.input();
    let shared: Vec<ParamId> = state.model.shared_param_ids();
    let shared_set: HashSet<ParamId> = shared.iter().copied().collect();
    let (matrix, losses, mut acc) = parameter_rows(state, batch, tasks, &shared);
    let (matrix, losses) = sum_matrix(matrix, losses, &peers.world);
    peers.seed_method(&x.device());
    let (combined, stats) = combine_matrix(state, ctx, matrix, losses.clone());
    let mut global = GradientsParams::new();
    crate::grads::unflatten(&state.model, combined.gradient, &shared_set, &mut global);
    profile::end(Phase::Weighting, &x.device());
    (acc.grads(), Some(global), StepReport { losses, weights: combined.weights, gradient_stats: Some(stats) })
}

/// The `[T, P]` matrix and the T losses summed over the ranks, in one collective.
fn sum_matrix(matrix: Tensor<2>, losses: Tensor<1>, world: &World) -> (Tensor<2>, Tensor<1>) {
    if !world.is_parallel() {
        return (matrix, losses);
    }
    let [t, p] = matrix.dims();
    let device = matrix.device();
    let mut host = host_f32(matrix);
    host.extend(host_f32(losses));
    world.sum(&mut host);
    let losses = host.split_off(t * p);
    (
        Tensor::from_data(TensorData::new(host, [t, p]), &device),
        Tensor::from_data(TensorData::new(losses, [t]), &device),
    )
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
        // The same from the Gram matrix (the data-parallel representation route).
        let k = mtl_weighting::gram::gram(&g);
        let s = gram_stats(&k, &Device::ndarray()).into_data().to_vec::<f32>().unwrap();
        assert!(s.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{s:?}");
    }
}
