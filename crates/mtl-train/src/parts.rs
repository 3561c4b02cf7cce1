//! A training step over a batch cut into fixed parts (`train.parts`), for results that do not
//! depend on the number of processes.
//!
//! With one part per process (the default, [`crate::step::train_step_in`]), two processes sum
//! their halves where one process sums the whole batch at once: the same numbers up to f32
//! rounding, which a long run amplifies. Here the batch is always cut into the same K parts,
//! each part is computed on its own (its forward and backward, its dropout masks from
//! (seed, step, part)), and every cross-part sum — the losses, the Gram matrices or gradient
//! matrices the method reads, the parameter gradients — is taken in part order from the
//! parts' own vectors ([`World::ordered_sum`]). A process computes its K/N consecutive parts,
//! so N processes perform the same additions in the same order as one: the same bits.
//!
//! The weighting method runs once per step on the summed values, exactly as with one part per
//! process; on the losses route its combination F(L) is differentiated once at the summed
//! losses (w = ∂F/∂L, and F's own parameters' gradients) and each part back-propagates
//! Σ_t w_t L_t of its own terms.

use crate::input::BatchInput;
use std::collections::HashSet;

use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use mtl_data::{MultiTaskBatch, TaskSpec};
use mtl_weighting::gram::{combine, gram, host};
use mtl_weighting::{StepContext, WeightingInput, WeightingMethod};

use crate::grads::{flatten, present_ids, unflatten};
use crate::parallel::{World, sum_in_order};
use crate::step::{
    StepReport, TrainState, batch_losses, combine_matrix, gram_stats, parameter_rows, representation_rows,
    side_by_side, with_regulariser,
};

/// This rank's parts of one global batch and how the step draws its random numbers.
#[derive(Debug)]
pub struct Parts<'a> {
    /// This rank's parts, in order (each with its [`mtl_data::BatchShare`] of the global batch).
    pub batches: &'a [MultiTaskBatch],
    /// The job's processes.
    pub world: &'a World,
    /// Per part, the seed of its dropout masks; and the seed of the method's draws.
    pub seeds: (Vec<u64>, u64),
}

fn tensor1(v: &[f64], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<f32>>(), [v.len()]), device)
}

/// The model's gradients of every part, summed in part order, as gradients of `state`.
fn sum_model_grads(
    state: &TrainState,
    per_part: Vec<GradientsParams>,
    world: &World,
    device: &Device,
) -> GradientsParams {
    let ids: HashSet<ParamId> = present_ids(&state.model, &per_part[0]);
    let vectors: Vec<Vec<f64>> =
        per_part.iter().map(|g| host(flatten(&state.model, g, &ids, device))).collect();
    let sum = world.ordered_sum(&vectors);
    let mut out = GradientsParams::new();
    unflatten(&state.model, tensor1(&sum, device), &ids, &mut out);
    out
}

/// One step over this rank's `parts` (see the module docs); the gradients are the whole
/// batch's, equal on every rank.
pub fn train_step_parts(
    state: &mut TrainState,
    parts: &Parts,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    match ctx.input {
        WeightingInput::Losses => losses_route(state, parts, tasks, ctx),
        WeightingInput::RepresentationGradients => representation_route(state, parts, tasks, ctx),
        WeightingInput::ParameterGradients => parameter_route(state, parts, tasks, ctx),
    }
}

fn losses_route(
    state: &mut TrainState,
    parts: &Parts,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let device = parts.batches[0].inputs.device();
    let inner = device.clone().inner();
    let mut local = Vec::new();
    for (batch, &seed) in parts.batches.iter().zip(&parts.seeds.0) {
        device.seed(seed);
        local.push(batch_losses(&state.model, batch, tasks));
    }
    let host: Vec<Vec<f64>> = local.iter().map(|l| host(l.clone().detach().inner())).collect();
    let losses = parts.world.ordered_sum(&host);
    // F at the summed losses, differentiated once: w = ∂F/∂L and F's own parameters' gradients.
    let leaf = tensor1(&losses, &device).require_grad();
    device.seed(parts.seeds.1);
    let combined = state.weighting.combine_losses(ctx, leaf.clone());
    let mut grads = combined.loss.backward();
    let w = leaf.grad_remove(&mut grads).map(|g| g.detach()).unwrap_or_else(|| leaf.zeros_like().inner());
    let method = GradientsParams::from_grads(grads, state);
    let w = Tensor::<1>::from_inner(w);
    let per_part: Vec<GradientsParams> = (local.into_iter().zip(parts.batches))
        .map(|(l, batch)| {
            let g = GradientsParams::from_grads((l * w.clone()).sum().backward(), state);
            with_regulariser(state, batch, g)
        })
        .collect();
    let model = sum_model_grads(state, per_part, parts.world, &inner);
    let report =
        StepReport { losses: tensor1(&losses, &inner), weights: combined.weights, gradient_stats: None };
    (crate::step::add(state, model, method), report)
}

fn representation_route(
    state: &mut TrainState,
    parts: &Parts,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let device = parts.batches[0].inputs.device();
    let inner = device.clone().inner();
    let t_count = tasks.len();
    // Per part: its shared output z (kept for the final backward), its [T, part·d] block, the
    // heads' gradients and its loss terms.
    let mut kept = Vec::new();
    for (batch, &seed) in parts.batches.iter().zip(&parts.seeds.0) {
        device.seed(seed);
        let z = state.model.architecture.shared(batch.input());
        let dims = z.dims();
        let (block, losses, acc) = representation_rows(state, &z, batch, tasks);
        kept.push((z, dims, block, losses, acc));
    }
    let by_gram = state.weighting.weights_from_gram();
    let (gradients, losses, weights, stats): (Vec<Tensor<1>>, Vec<f64>, Tensor<1>, Tensor<1>) = if by_gram {
        let local: Vec<Vec<f64>> = (kept.iter())
            .map(|(_, _, block, l, _)| {
                let mut v = gram(block).concat();
                v.extend(host(l.clone()));
                v
            })
            .collect();
        let mut sum = parts.world.ordered_sum(&local);
        let losses = sum.split_off(t_count * t_count);
        let k: Vec<Vec<f64>> = sum.chunks(t_count).map(<[f64]>::to_vec).collect();
        device.seed(parts.seeds.1);
        let w = state.weighting.gram_weights(ctx, &k, &losses, &inner);
        let gradients = kept.iter().map(|(_, _, block, _, _)| combine(block.clone(), &w).gradient).collect();
        (gradients, losses, tensor1(&w, &inner), gram_stats(&k, &inner))
    } else {
        // The whole matrix, columns in part order (GradDrop needs every coordinate).
        let local: Vec<Vec<f64>> = (kept.iter())
            .map(|(_, _, block, l, _)| {
                let mut v = host(block.clone().reshape([block.dims().iter().product::<usize>()]));
                v.extend(host(l.clone()));
                v
            })
            .collect();
        let all = parts.world.gather_parts(&local);
        let blocks: Vec<&[f64]> = all.iter().map(Vec::as_slice).collect();
        let (matrix, widths) = side_by_side(t_count, &blocks);
        let total: usize = widths.iter().sum();
        let losses = sum_in_order(all.iter().map(|v| v[v.len() - t_count..].to_vec()));
        let matrix = Tensor::<2>::from_data(TensorData::new(matrix, [t_count, total]), &inner);
        device.seed(parts.seeds.1);
        let (combined, stats) = combine_matrix(state, ctx, matrix, tensor1(&losses, &inner));
        // This rank's parts start after the columns of the parts before them.
        let first = parts.world.rank() * parts.batches.len();
        let mut start: usize = widths[..first].iter().sum();
        let gradients = (widths[first..first + kept.len()].iter())
            .map(|&w| {
                let g = combined.gradient.clone().narrow(0, start, w);
                start += w;
                g
            })
            .collect();
        (gradients, losses, combined.weights, stats)
    };
    let per_part: Vec<GradientsParams> = (kept.into_iter().zip(gradients).zip(parts.batches))
        .map(|(((z, dims, _, _, mut acc), g), batch)| {
            // g carries no autodiff, so it acts as a constant: d(z·g)/dz = g.
            acc.accumulate(state, GradientsParams::from_grads((z * g.reshape(dims)).sum().backward(), state));
            with_regulariser(state, batch, acc.grads())
        })
        .collect();
    let grads = sum_model_grads(state, per_part, parts.world, &inner);
    (grads, StepReport { losses: tensor1(&losses, &inner), weights, gradient_stats: Some(stats) })
}

fn parameter_route(
    state: &mut TrainState,
    parts: &Parts,
    tasks: &[TaskSpec],
    ctx: &StepContext,
) -> (GradientsParams, StepReport) {
    let device = parts.batches[0].inputs.device();
    let inner = device.clone().inner();
    let t_count = tasks.len();
    let shared: Vec<ParamId> = state.model.shared_param_ids();
    let shared_set: HashSet<ParamId> = shared.iter().copied().collect();
    let (mut matrices, mut others) = (Vec::new(), Vec::new());
    for (batch, &seed) in parts.batches.iter().zip(&parts.seeds.0) {
        device.seed(seed);
        let (matrix, losses, mut acc) = parameter_rows(state, batch, tasks, &shared);
        let mut v = host(matrix.clone().reshape([matrix.dims().iter().product::<usize>()]));
        v.extend(host(losses));
        matrices.push(v);
        others.push(with_regulariser(state, batch, acc.grads()));
    }
    let mut sum = parts.world.ordered_sum(&matrices);
    let losses = sum.split_off(sum.len() - t_count);
    let p = sum.len() / t_count;
    let matrix = Tensor::<2>::from_data(
        TensorData::new(sum.iter().map(|&x| x as f32).collect::<Vec<f32>>(), [t_count, p]),
        &inner,
    );
    device.seed(parts.seeds.1);
    let (combined, stats) = combine_matrix(state, ctx, matrix, tensor1(&losses, &inner));
    let mut global = GradientsParams::new();
    unflatten(&state.model, combined.gradient, &shared_set, &mut global);
    let rest = sum_model_grads(state, others, parts.world, &inner);
    let report = StepReport {
        losses: tensor1(&losses, &inner),
        weights: combined.weights,
        gradient_stats: Some(stats),
    };
    (crate::step::add(state, rest, global), report)
}

/// The losses of every part after the optimizer step (FAMO), summed in part order.
pub fn losses_after(state: &TrainState, parts: &Parts, tasks: &[TaskSpec]) -> Tensor<1> {
    let model = state.model.valid();
    let inner = parts.batches[0].inputs.device().inner();
    let local: Vec<Vec<f64>> = (parts.batches.iter())
        .map(|b| host(batch_losses(&model, &crate::step::inner_batch(b), tasks)))
        .collect();
    tensor1(&parts.world.ordered_sum(&local), &inner)
}
