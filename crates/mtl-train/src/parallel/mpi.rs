//! The [`Collective`] of an MPI world (rsmpi over the system's MPI). The only file that names
//! the `mpi` crate.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::{Collective, World};
use crate::error::Error;

struct Mpi {
    world: SimpleCommunicator,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

/// Join the MPI world this process was launched in.
pub(super) fn init() -> Result<World, Error> {
    let universe = mpi::initialize()
        .ok_or_else(|| Error::Usage("MPI was initialised twice in one process (an mtl bug)".into()))?;
    let world = universe.world();
    let local = world.split_shared(world.rank());
    let host = mpi::environment::processor_name().unwrap_or_else(|_| super::hostname());
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let (local_rank, local_size) = (local.rank() as usize, local.size() as usize);
    Ok(World {
        rank,
        size,
        local_rank,
        local_size,
        host,
        comm: (size > 1).then(|| Rc::new(Mpi { world, _universe: universe }) as Rc<dyn Collective>),
        comm_ns: Arc::new(AtomicU64::new(0)),
    })
}

impl Collective for Mpi {
    fn sum_f32(&self, buf: &mut [f32]) {
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
    }

    fn sum_f64(&self, buf: &mut [f64]) {
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
    }

    fn max_u64(&self, value: u64) -> u64 {
        let mut out = 0u64;
        self.world.all_reduce_into(&value, &mut out, SystemOperation::max());
        out
    }

    fn gather_f32(&self, local: &[f32], counts: &[usize]) -> Vec<f32> {
        let counts: Vec<i32> = counts.iter().map(|&c| c as i32).collect();
        let displs: Vec<i32> = counts.iter().scan(0, |at, &c| Some(std::mem::replace(at, *at + c))).collect();
        let mut out = vec![0f32; counts.iter().map(|&c| c as usize).sum()];
        let mut partition = PartitionMut::new(&mut out[..], counts, &displs[..]);
        self.world.all_gather_varcount_into(local, &mut partition);
        out
    }

    fn gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        let mut lengths = vec![0u64; self.world.size() as usize];
        self.world.all_gather_into(&(local.len() as u64), &mut lengths[..]);
        let counts: Vec<i32> = lengths.iter().map(|&c| c as i32).collect();
        let displs: Vec<i32> = counts.iter().scan(0, |at, &c| Some(std::mem::replace(at, *at + c))).collect();
        let mut out = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
        let mut partition = PartitionMut::new(&mut out[..], counts, &displs[..]);
        self.world.all_gather_varcount_into(local, &mut partition);
        let mut at = 0;
        lengths
            .iter()
            .map(|&n| {
                let part = out[at..at + n as usize].to_vec();
                at += n as usize;
                part
            })
            .collect()
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
