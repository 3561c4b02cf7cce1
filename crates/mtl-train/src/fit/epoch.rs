//! One epoch of training: the seeded order, the batches, and per batch the step, clipping,
//! the optimizer update and the weighting method's after-step hook. Losses, weights and
//! gradient statistics are summed on the device and read once at the end of the epoch.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use std::ops::Range;

use burn::tensor::Device;
use mtl_data::{MultiTaskBatch, TaskSpec, batch_ranges, epoch_permutation, sampled_epoch};
use mtl_weighting::{StepContext, WeightingMethod};

use super::data::SplitData;
use super::feed::{EpochBatches, EpochShuffle, Slice};
use super::observer::{Observers, StepEnd, StepStart};
use super::setup::{Run, too_small};
use crate::config::RunConfig;
use crate::error::Error;
use crate::grads::clip_global_norm;
use crate::metrics::host_values;
use crate::parallel::World;
use crate::parallel::part;
use crate::parts::{Parts, losses_after, train_step_parts};
use crate::step::{Peers, StepReport, TrainState, batch_losses, inner_batch, sum_losses, train_step_in};

/// Means over an epoch's steps, on the host.
#[derive(Debug, Clone)]
pub struct EpochMeans {
    /// Per-task training loss.
    pub losses: Vec<f64>,
    /// Per-task weight.
    pub weights: Vec<f64>,
    /// On the gradient routes: the T gradient norms, then the mean and minimum cosine.
    pub gradients: Option<Vec<f64>>,
    /// For methods that solve for their weights (Nash-MTL, FairGrad): the steps of this epoch
    /// that found no solution and reused the previous weights.
    pub reused_weight_steps: Option<u64>,
    /// Seconds the epoch's steps took (validation excluded).
    pub train_s: f64,
}

/// The backend seed of epoch `epoch` (dropout masks), derived from the run seed.
pub(super) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    // SplitMix64 step: decorrelates consecutive epochs.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(epoch as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed streams of a data-parallel step: a rank's (or part's) dropout masks, and the weighting
/// method's draws shared by all ranks.
const DROPOUT_STREAM: u64 = 0xD50F_0A11_4A4E;
const METHOD_STREAM: u64 = 0x5EED_0FAE_7B0D;

/// One step's data: the whole batch (or this rank's part of it), or this rank's fixed parts
/// (`train.parts`) with their dropout seeds and the method's seed.
enum StepData {
    Whole(Box<MultiTaskBatch>, Peers),
    Parts(Vec<MultiTaskBatch>, (Vec<u64>, u64)),
}

impl StepData {
    /// The data of step `step` from its gathered `batches` (one per slice of [`step_slices`]),
    /// with the seeds of their random draws (`per_rank`: the model draws dropout masks, so each
    /// rank or part seeds its own and the method gets a shared seed).
    fn new(
        config: &RunConfig,
        world: &World,
        device: &Device,
        mut batches: Vec<MultiTaskBatch>,
        step: usize,
        per_rank: bool,
    ) -> Self {
        match config.train.parts {
            Some(k) => {
                let mine = k / world.size();
                let first = world.rank() * mine;
                let part_seeds = (first..first + mine)
                    .map(|i| epoch_seed(epoch_seed(config.seed ^ DROPOUT_STREAM, i), step))
                    .collect();
                StepData::Parts(batches, (part_seeds, epoch_seed(config.seed ^ METHOD_STREAM, step)))
            }
            None => {
                if per_rank {
                    let rank_stream = epoch_seed(config.seed ^ DROPOUT_STREAM, world.rank());
                    device.seed(epoch_seed(rank_stream, step));
                }
                let method_seed = per_rank.then(|| epoch_seed(config.seed ^ METHOD_STREAM, step));
                let batch = batches.pop().expect("a step has its batch");
                StepData::Whole(Box::new(batch), Peers { world: world.clone(), method_seed })
            }
        }
    }

    /// The batch observers see (with `train.parts`, this rank's first part).
    fn first(&self) -> &MultiTaskBatch {
        match self {
            StepData::Whole(batch, _) => batch,
            StepData::Parts(batches, _) => &batches[0],
        }
    }

    fn step(
        &self,
        state: &mut TrainState,
        tasks: &[TaskSpec],
        ctx: &StepContext,
        world: &World,
    ) -> (GradientsParams, StepReport) {
        match self {
            StepData::Whole(batch, peers) => train_step_in(state, batch, tasks, ctx, peers),
            StepData::Parts(batches, seeds) => {
                train_step_parts(state, &Parts { batches, world, seeds: seeds.clone() }, tasks, ctx)
            }
        }
    }

    /// The global batch's losses after the optimizer step (FAMO).
    fn losses_after(&self, state: &TrainState, tasks: &[TaskSpec], world: &World) -> Tensor<1> {
        match self {
            StepData::Whole(batch, _) => {
                sum_losses(batch_losses(&state.model.valid(), &inner_batch(batch), tasks), world)
            }
            StepData::Parts(batches, seeds) => {
                losses_after(state, &Parts { batches, world, seeds: seeds.clone() }, tasks)
            }
        }
    }
}

/// The batches this rank computes of the global batch at positions `global` of the epoch's
/// order: its part (or the whole batch), or its fixed parts (`train.parts`).
pub(super) fn step_slices(
    config: &RunConfig,
    world: &World,
    global: Range<usize>,
) -> Result<Vec<Slice>, Error> {
    let n = global.len();
    match config.train.parts {
        Some(k) => {
            let mine = k / world.size();
            let first = world.rank() * mine;
            let ranges: Vec<_> = (first..first + mine).map(|i| part(n, k, i)).collect();
            if ranges.iter().any(|r| r.is_empty()) {
                return Err(too_small(config, n, k, "parts"));
            }
            Ok(ranges.into_iter().map(|part| Slice { global: global.clone(), part, share: true }).collect())
        }
        None => {
            let part = world.part(n);
            if part.is_empty() {
                return Err(too_small(config, n, world.size(), "processes"));
            }
            Ok(vec![Slice { global, part, share: world.is_parallel() }])
        }
    }
}

/// The order of epoch `epoch`'s samples (sampled per task in multi-input mode; none for a
/// streamed split, whose shuffle buffer orders it) and how many samples the epoch has.
fn epoch_order(run: &Run, epoch: usize) -> (Vec<usize>, usize) {
    let config = run.config;
    match (run.train_data.groups(), &run.train_data) {
        (Some(groups), _) => {
            let order = sampled_epoch(groups, run.tasks.len(), config.sampling, config.seed, epoch);
            let n = order.len();
            (order, n)
        }
        (None, SplitData::Stream(_)) => (Vec::new(), run.train_data.len()),
        (None, SplitData::Memory(_)) => {
            (epoch_permutation(run.train_data.len(), config.seed, epoch), run.train_data.len())
        }
    }
}

/// Train epoch `epoch` (0-based) of `run`.
pub(super) fn train_epoch(
    run: &mut Run,
    state: TrainState,
    epoch: usize,
    observers: &mut Observers,
) -> Result<(TrainState, EpochMeans), Error> {
    let started = std::time::Instant::now();
    let config = run.config;
    let train = &config.train;
    let world = run.world.clone();
    // Without dropout every rank draws exactly what one process would (the method's draws).
    // With dropout, each step seeds the rank's masks from (seed, step, rank) and the method's
    // draws from (seed, step), shared by all ranks (see `Peers::method_seed`).
    let per_rank = world.is_parallel() && config.model.has_dropout();
    run.device.seed(epoch_seed(config.seed, epoch));
    let (order, n) = epoch_order(run, epoch);
    let reused_before = state.weighting.reused_weight_steps();
    let mut sums: [Option<Tensor<1>>; 3] = [None, None, None];
    let add = |sum: &mut Option<Tensor<1>>, x: &Tensor<1>| {
        *sum = Some(sum.take().map_or(x.clone(), |s| s + x.clone()));
    };
    let plan = (batch_ranges(n, train.batch_size, train.drop_last).into_iter())
        .map(|global| step_slices(config, &world, global))
        .collect::<Result<Vec<_>, Error>>()?;
    let (feed, data, device) = (&run.feed, &run.train_data, &run.device);
    let state = std::thread::scope(|scope| -> Result<TrainState, Error> {
        let mut state = state;
        let shuffle = EpochShuffle {
            seed: config.seed,
            epoch,
            batch_size: train.batch_size,
            drop_last: train.drop_last,
        };
        let batches = EpochBatches::new(scope, feed, data, &order, device, plan, shuffle);
        for (index, gathered) in batches.enumerate() {
            let gathered = gathered?;
            let step = run.meta.steps_done;
            let data = StepData::new(config, &world, device, gathered, step, per_rank);
            observers.before_step(&StepStart {
                step,
                state: &state,
                batch: data.first(),
                tasks: &run.tasks,
            })?;
            let ctx = StepContext {
                epoch,
                step,
                steps_per_epoch: run.steps_per_epoch,
                input: config.weighting_input,
            };
            let (mut grads, report) = data.step(&mut state, &run.tasks, &ctx, &world);
            if let Some(max_norm) = train.clip_grad_norm {
                clip_global_norm(&state, &mut grads, max_norm);
            }
            run.lr = run.schedule.lr(step, epoch, &run.meta.selection.plateau);
            state = run.optim.step(run.lr, state, grads);
            let after = (state.weighting.wants_losses_after_step())
                .then(|| data.losses_after(&state, &run.tasks, &world));
            state.weighting.after_step(&ctx, report.losses.clone(), after);
            run.meta.steps_done += 1;
            add(&mut sums[0], &report.losses);
            add(&mut sums[1], &report.weights);
            if let Some(g) = &report.gradient_stats {
                add(&mut sums[2], g);
            }
            let loss_sum = sums[0].as_ref().expect("a step ran");
            observers.after_step(&StepEnd {
                epoch,
                index,
                step: run.meta.steps_done,
                lr: run.lr,
                report: &report,
                loss_sum,
            })?;
        }
        Ok(state)
    })?;
    let steps = run.steps_per_epoch as f64;
    let mean = |s: Option<Tensor<1>>| -> Option<Vec<f64>> {
        s.map(|s| host_values(s).iter().map(|x| x / steps).collect())
    };
    let [losses, weights, gradients] = sums;
    let means = EpochMeans {
        losses: mean(losses).expect("an epoch has steps"),
        weights: mean(weights).expect("an epoch has steps"),
        gradients: mean(gradients),
        reused_weight_steps: state
            .weighting
            .reused_weight_steps()
            .map(|after| after.saturating_sub(reused_before.unwrap_or(0))),
        train_s: started.elapsed().as_secs_f64(),
    };
    Ok((state, means))
}
