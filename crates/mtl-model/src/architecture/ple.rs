//! Progressive Layered Extraction (PLE): stacked extraction levels, each with experts shared by
//! all tasks and experts of each task; task t's gate at level l mixes the shared experts and
//! its own, and a shared gate mixes every expert of the level into the input of the next
//! level's shared experts.
//!
//! Tang, Liu, Zhao, Gong, "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning
//! (MTL) Model for Personalized Recommendations", RecSys 2020
//! (<https://doi.org/10.1145/3383313.3412236>), §4.3, eq. (4)–(6). One level without the
//! shared gate is CGC (§4.2, `cgc.rs`).
//!
//! As in LibMTL's PLE, level l of an expert is a slice of the configured encoder's blocks
//! (layers of an MLP, conv stages of a CNN), split as evenly as possible between the levels.
//! Unlike LibMTL, the shared gates of the paper are kept. The first level's gates read the
//! input features (or the stem); later gates read their task's (or the shared) representation
//! from the level below.
//!
//! Shared part: every parameter of the levels below the last (they reach every task through
//! the shared gates), the last level's shared experts and the stem. `z` packs the last level's
//! shared-expert outputs, then each task's input to the last level (or the stem's features for
//! one level). Task part: the task's experts and gate at the last level.

use std::ops::Range;

use burn::module::{Module, ParamId};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::architecture::gate::{
    Stem, StemConfig, gate_features, gate_layer, mix, run_experts_blocks, softmax_gate, trace_experts,
    trace_gate_features, trace_softmax_gate,
};
use crate::encoder::{Encoder, EncoderConfig};
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Configuration of [`Ple`] (and of CGC, its one-level case).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PleConfig {
    /// Each expert's network, split into the levels by blocks.
    pub expert: EncoderConfig,
    /// Experts shared by all tasks, per level.
    pub shared_experts: usize,
    /// Experts of each task, per level.
    pub task_experts: usize,
    /// Number of tasks.
    pub num_tasks: usize,
    /// Number of extraction levels, at most the encoder's number of blocks.
    pub levels: usize,
    /// What the first level's gates read.
    pub stem: StemConfig,
}

impl PleConfig {
    /// Blocks of the encoder that each level runs: `n` blocks into `levels` near-equal slices.
    pub fn level_blocks(&self) -> Vec<Range<usize>> {
        let (n, l) = (self.expert.num_blocks(), self.levels);
        (0..l).map(|i| i * n / l..(i + 1) * n / l).collect()
    }

    fn level_width(&self, level: usize) -> usize {
        self.expert.block_width(self.level_blocks()[level].end - 1)
    }

    /// Build on `device`.
    ///
    /// # Panics
    /// If `levels` is 0 or exceeds the encoder's number of blocks (checked by the config).
    pub fn init(&self, device: &Device) -> Ple {
        assert!(
            (1..=self.expert.num_blocks()).contains(&self.levels),
            "PLE needs between 1 and {} levels",
            self.expert.num_blocks()
        );
        let experts = |count: usize| (0..count).map(|_| self.expert.init(device)).collect::<Vec<_>>();
        let (s, k, t) = (self.shared_experts, self.task_experts, self.num_tasks);
        let gate_in =
            |level: usize| if level == 0 { self.stem.d_output() } else { self.level_width(level - 1) };
        Ple {
            shared_experts: experts(s),
            task_experts: (0..t).map(|_| experts(k)).collect(),
            task_gates: (0..self.levels)
                .map(|l| (0..t).map(|_| gate_layer(gate_in(l), s + k, device)).collect())
                .collect(),
            shared_gates: (0..self.levels - 1).map(|l| gate_layer(gate_in(l), s + t * k, device)).collect(),
            stem: self.stem.init(device),
            levels: self.level_blocks(),
            d_expert: self.d_task(),
            d_below: if self.levels > 1 { self.level_width(self.levels - 2) } else { 0 },
        }
    }

    /// Width of each task representation: an expert's output.
    pub fn d_task(&self) -> usize {
        self.expert.d_output()
    }
}

/// Extraction levels of shared and task experts.
#[derive(Module, Debug)]
pub struct Ple {
    shared_experts: Vec<Encoder>,
    /// `[task][expert]`.
    task_experts: Vec<Vec<Encoder>>,
    /// `[level][task]`.
    task_gates: Vec<Vec<Linear>>,
    /// `[level]`, all levels but the last.
    shared_gates: Vec<Linear>,
    stem: Option<Stem>,
    #[module(skip)]
    levels: Vec<Range<usize>>,
    #[module(skip)]
    d_expert: usize,
    /// Width of the representations entering the last level (0 with one level).
    #[module(skip)]
    d_below: usize,
}

/// The representations between levels.
struct Between {
    shared: Input,
    tasks: Vec<Input>,
}

impl Ple {
    fn last(&self) -> usize {
        self.levels.len() - 1
    }

    /// Levels below the last: the shared input and each task's input to the last level.
    fn below(&self, x: &Input) -> Between {
        let t = self.task_experts.len();
        let mut h = Between { shared: x.clone(), tasks: vec![x.clone(); t] };
        let stem = gate_features(self.stem.as_ref(), x);
        for level in 0..self.last() {
            let blocks = &self.levels[level];
            let shared = run_experts_blocks(&self.shared_experts, blocks, &h.shared); // [batch, S, d]
            let own: Vec<Tensor<3>> = (0..t)
                .map(|task| run_experts_blocks(&self.task_experts[task], blocks, &h.tasks[task])) // [batch, K, d]
                .collect();
            let gate_in = |r: &Input| if level == 0 { stem.clone() } else { r.dense.clone() };
            let mut all = vec![shared.clone()];
            all.extend(own.iter().cloned());
            let next_shared =
                mix(softmax_gate(&self.shared_gates[level], gate_in(&h.shared)), Tensor::cat(all, 1)).into();
            let next_tasks = (0..t)
                .map(|task| {
                    let pool = Tensor::cat(vec![shared.clone(), own[task].clone()], 1); // [batch, S + K, d]
                    mix(softmax_gate(&self.task_gates[level][task], gate_in(&h.tasks[task])), pool).into()
                })
                .collect();
            h = Between { shared: next_shared, tasks: next_tasks };
        }
        h
    }

    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, S·d_expert + T·d_below]` (one level: `+ d_stem` for a learned stem)
    pub fn shared(&self, x: Input) -> Tensor<2> {
        let h = self.below(&x);
        let shared = run_experts_blocks(&self.shared_experts, &self.levels[self.last()], &h.shared);
        let [batch, s, d] = shared.dims();
        let mut parts = vec![shared.reshape([batch, s * d])];
        if self.last() > 0 {
            parts.extend(h.tasks.into_iter().map(|i| i.dense));
        } else if let Some(stem) = &self.stem {
            parts.push(stem.forward(&x));
        }
        Tensor::cat(parts, 1)
    }

    /// Task `t`'s input to the last level and its gate's features, read from `z`.
    fn task_view(&self, t: usize, x: &Input, z: &Tensor<2>) -> (Input, Tensor<2>) {
        let offset = self.shared_experts.len() * self.d_expert;
        if self.last() > 0 {
            let h = z.clone().narrow(1, offset + t * self.d_below, self.d_below);
            (h.clone().into(), h)
        } else if self.stem.is_some() {
            (x.clone(), z.clone().narrow(1, offset, z.dims()[1] - offset))
        } else {
            (x.clone(), x.dense.clone())
        }
    }

    fn task_gate(&self, t: usize, x: &Input, z: &Tensor<2>) -> (Tensor<2>, Tensor<3>) {
        let [batch, _] = z.dims();
        let (s, d) = (self.shared_experts.len(), self.d_expert);
        let (h, features) = self.task_view(t, x, z);
        let shared = z.clone().narrow(1, 0, s * d).reshape([batch, s, d]);
        let own = run_experts_blocks(&self.task_experts[t], &self.levels[self.last()], &h);
        let weights = softmax_gate(&self.task_gates[self.last()][t], features);
        (weights, Tensor::cat(vec![shared, own], 1)) // [batch, S + K], [batch, S + K, d]
    }

    /// Every task's representation into `g` (see [`crate::graph`]): the levels of
    /// [`Self::shared`] and [`Self::task_input`] in one pass.
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, tasks: usize) -> Vec<String> {
        let last = self.last();
        let stem = trace_gate_features(g, self.stem.as_ref(), "architecture", x);
        let (mut shared_in, mut task_in) = (x.clone(), vec![x.clone(); tasks]);
        for level in 0..=last {
            let blocks = self.levels[level].clone();
            let shared = trace_experts(
                g,
                "architecture.shared_experts",
                &self.shared_experts,
                blocks.clone(),
                &shared_in,
            );
            let own: Vec<String> = (0..tasks)
                .map(|t| {
                    let prefix = format!("architecture.task_experts.{t}");
                    trace_experts(g, &prefix, &self.task_experts[t], blocks.clone(), &task_in[t])
                })
                .collect();
            let gate_in = |r: &GraphInput| if level == 0 { stem.clone() } else { r.dense.clone() };
            let next: Vec<GraphInput> = (0..tasks)
                .map(|t| {
                    let pool = g.concat(&[shared.clone(), own[t].clone()], 1);
                    let prefix = format!("architecture.task_gates.{level}.{t}");
                    let w = trace_softmax_gate(g, &prefix, &self.task_gates[level][t], &gate_in(&task_in[t]));
                    GraphInput::hidden(g.mix(&w, &pool))
                })
                .collect();
            if level < last {
                let mut all = vec![shared];
                all.extend(own);
                let pool = g.concat(&all, 1);
                let prefix = format!("architecture.shared_gates.{level}");
                let w = trace_softmax_gate(g, &prefix, &self.shared_gates[level], &gate_in(&shared_in));
                shared_in = GraphInput::hidden(g.mix(&w, &pool));
            }
            task_in = next;
        }
        task_in.into_iter().map(|i| i.dense).collect()
    }

    /// Task `t`'s mixture at the last level.
    pub fn task_input(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        let (weights, pool) = self.task_gate(t, x, &z);
        mix(weights, pool)
    }

    /// Every task's last-level gate: weights over the shared experts, then its own.
    ///
    /// # Shapes
    /// - output: `T` tensors `[batch, S + K]`
    pub fn gate_weights(&self, x: &Input) -> Vec<Tensor<2>> {
        let z = self.shared(x.clone());
        (0..self.task_experts.len()).map(|t| self.task_gate(t, x, &z).0).collect()
    }

    /// See the module docs.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        let below = 0..self.levels[self.last()].start;
        let mut ids = param_ids(&self.shared_experts);
        for expert in self.task_experts.iter().flatten() {
            ids.extend(expert.block_param_ids(below.clone()));
        }
        ids.extend(self.task_gates[..self.last()].iter().flat_map(param_ids));
        ids.extend(param_ids(&self.shared_gates));
        ids.extend(self.stem.as_ref().map(param_ids).unwrap_or_default());
        ids
    }
}
