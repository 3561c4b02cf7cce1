//! Cross-stitch networks: one column (a copy of the encoder) per task, and after every block a
//! learned T×T matrix α_l that mixes the columns: h̃_t = Σ_s α_l[t, s] h_s.
//!
//! Misra, Shrivastava, Gupta, Hebert, "Cross-stitch Networks for Multi-task Learning", CVPR
//! 2016 (<https://doi.org/10.1109/CVPR.2016.433>), eq. (1), generalised from two tasks to T as
//! in LibMTL. α starts near the identity as in the paper (§4: α_S = 0.9, α_D = 0.1 for two
//! tasks): `self_weight` on the diagonal and the rest of each row spread evenly, so rows sum
//! to 1.
//!
//! Every parameter is shared: through the mixing each column reaches every task. `z` packs the
//! T mixed column outputs; task t reads its own slice.

use burn::module::{Module, Param, ParamId};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::encoder::{Encoder, EncoderConfig};
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Configuration of [`CrossStitch`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CrossStitchConfig {
    /// Each task's column.
    pub column: EncoderConfig,
    /// Number of tasks (columns).
    pub num_tasks: usize,
    /// Initial diagonal of every α, in (0, 1]; the off-diagonal share (1 − self_weight)/(T − 1).
    pub self_weight: f64,
}

/// Task columns with cross-stitch units after every block.
#[derive(Module, Debug)]
pub struct CrossStitch {
    columns: Vec<Encoder>,
    /// `[blocks, T, T]`.
    pub(crate) alpha: Param<Tensor<3>>,
    #[module(skip)]
    d_column: usize,
}

impl CrossStitchConfig {
    /// The initial mixing matrix, row-major `T × T`.
    pub fn initial_alpha(&self) -> Vec<f32> {
        let t = self.num_tasks;
        let off = if t > 1 { (1.0 - self.self_weight) / (t - 1) as f64 } else { 0.0 };
        (0..t * t).map(|i| if i / t == i % t { self.self_weight as f32 } else { off as f32 }).collect()
    }

    /// Build on `device`.
    pub fn init(&self, device: &Device) -> CrossStitch {
        let (t, blocks) = (self.num_tasks, self.column.num_blocks());
        let one = Tensor::<1>::from_floats(self.initial_alpha().as_slice(), device).reshape([1, t, t]);
        CrossStitch {
            columns: (0..t).map(|_| self.column.init(device)).collect(),
            alpha: Param::from_tensor(one.repeat_dim(0, blocks)),
            d_column: self.column.d_output(),
        }
    }

    /// Width of each task representation: a column's output.
    pub fn d_task(&self) -> usize {
        self.column.d_output()
    }
}

impl CrossStitch {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, T·d_column]`
    pub fn shared(&self, x: Input) -> Tensor<2> {
        let t = self.columns.len();
        let batch = x.batch_size();
        let [blocks, _, _] = self.alpha.dims();
        let mut h = vec![x; t];
        for b in 0..blocks {
            let out: Vec<Tensor<2>> =
                self.columns.iter().zip(h).map(|(c, hi)| c.forward_blocks(b..b + 1, hi)).collect();
            let w = out[0].dims()[1];
            let stacked = Tensor::stack::<3>(out, 0).reshape([t, batch * w]); // [T, batch·w]
            let alpha = self.alpha.val().narrow(0, b, 1).reshape([t, t]);
            let mixed = alpha.matmul(stacked); // [T, batch·w]
            h = (0..t).map(|i| Input::from(mixed.clone().narrow(0, i, 1).reshape([batch, w]))).collect();
        }
        Tensor::cat(h.into_iter().map(|i| i.dense).collect(), 1)
    }

    /// Task `t`'s column output.
    pub fn task_input(&self, t: usize, _x: &Input, z: Tensor<2>) -> Tensor<2> {
        z.narrow(1, t * self.d_column, self.d_column)
    }

    /// The last unit's mixing rows (how much each task reads from each column), `[batch, T]`.
    pub fn mixing_weights(&self, x: &Input) -> Vec<Tensor<2>> {
        let [blocks, t, _] = self.alpha.dims();
        let batch = x.batch_size();
        let last = self.alpha.val().narrow(0, blocks - 1, 1).reshape([t, t]);
        (0..t).map(|i| last.clone().narrow(0, i, 1).repeat_dim(0, batch)).collect()
    }

    /// Every task's column output into `g` (see [`crate::graph`]).
    pub fn trace(&self, g: &mut Graph, x: &GraphInput, tasks: usize) -> Vec<String> {
        let [blocks, t, _] = self.alpha.dims();
        let alpha = g.param("architecture.alpha", self.alpha.val());
        let mut h = vec![x.clone(); t];
        for b in 0..blocks {
            let out: Vec<String> = (self.columns.iter().enumerate())
                .zip(&h)
                .map(|((c, col), hi)| col.trace_blocks(g, &format!("architecture.columns.{c}"), b..b + 1, hi))
                .collect();
            let index = g.scalar_int(b as i64);
            let a = g.op("Gather", &[&alpha, &index], vec![("axis", crate::graph::Attr::Int(0))]); // [T, T]
            let stacked = g.stack_rows(&out); // [batch, T, w]
            // h̃_i = Σ_s α[i, s] h_s: [batch, T, w] ← α [T, T] · [batch, T, w].
            let mixed = g.op("MatMul", &[&a, &stacked], vec![]);
            h = (0..t)
                .map(|i| {
                    let row = g.narrow(&mixed, 1, i, 1);
                    let axis = g.ints(vec![1]);
                    GraphInput::hidden(g.op("Squeeze", &[&row, &axis], vec![]))
                })
                .collect();
        }
        assert_eq!(t, tasks, "one column per task");
        h.into_iter().map(|i| i.dense).collect()
    }

    #[cfg(test)]
    pub(crate) fn columns_for_test(&self) -> &[Encoder] {
        &self.columns
    }

    /// Every parameter.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        param_ids(self)
    }
}
