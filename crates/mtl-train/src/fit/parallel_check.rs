//! Data-parallel runs keep one model: every rank applies the same reduced gradients to the same
//! parameters, so the states stay bit-identical. This checks it once per epoch (a digest of
//! every parameter's bits and of the weighting method's host state, one small all-gather), so
//! a reduction that gave ranks different results cannot go unnoticed.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use mtl_weighting::WeightingMethod;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::parallel::{World, hash_f32s};
use crate::step::TrainState;

struct Bits(Sha256);

impl ModuleVisitor for Bits {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        hash_f32s(&mut self.0, &crate::grads::host_f32(param.val()));
    }
}

/// A digest of `state`: parameters and the weighting method's host state.
pub(super) fn state_digest(state: &TrainState) -> Vec<u8> {
    let mut bits = Bits(Sha256::new());
    state.visit(&mut bits);
    bits.0.update(state.weighting.state().to_string().as_bytes());
    bits.0.finalize().to_vec()
}

/// Fail (exit 1, on every rank alike) when the ranks' states differ after `epoch` (0-based).
pub(super) fn same_state_on_every_rank(world: &World, state: &TrainState, epoch: usize) -> Result<(), Error> {
    if !world.is_parallel() {
        return Ok(());
    }
    let all = world.gather_bytes(&state_digest(state));
    let differing: Vec<String> =
        (1..all.len()).filter(|&r| all[r] != all[0]).map(|r| r.to_string()).collect();
    if differing.is_empty() {
        return Ok(());
    }
    Err(Error::RanksDiverged(format!(
        "after epoch {}, the model of rank(s) {} differs from rank 0's: the ranks computed different updates \
         (an MPI all-reduce that differs between ranks, or an mtl bug — please report it); the last \
         checkpoint is kept — resume it, or train in one process",
        epoch + 1,
        differing.join(", ")
    )))
}
