//! Reads from the device to the host, counted. On a GPU each read waits for the device to
//! finish all queued work, so the trainer keeps them few: none per step on the losses route
//! for the methods that compute on the device, and one (the T×T Gram matrix with the losses)
//! for the methods that solve for their weights on the host. `mtl bench` reports the count
//! per step ([`reads`]).

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::Tensor;

static READS: AtomicU64 = AtomicU64::new(0);

/// Device-to-host reads made by this process so far.
pub fn reads() -> u64 {
    READS.load(Ordering::Relaxed)
}

fn count_read() {
    READS.fetch_add(1, Ordering::Relaxed);
}

/// A tensor's values on the host, as f64 (one read).
pub fn read_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    count_read();
    t.into_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data")
}

/// A tensor's values on the host, as f32 (one read).
pub fn read_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    count_read();
    t.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 data")
}
