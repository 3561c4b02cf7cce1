//! Batching: seeded epoch order and the transfer of a batch onto a Burn device.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::MultiTaskDataset;

/// One batch on the device: inputs plus, per task, targets and label masks.
#[derive(Debug, Clone)]
pub struct MultiTaskBatch {
    /// Features. Shape `[batch, features]`.
    pub inputs: Tensor<2>,
    /// Per task, targets. Shape `[batch]` each (class ids as floats for multiclass).
    pub targets: Vec<Tensor<1>>,
    /// Per task, 1 for a labelled sample, 0 otherwise. Shape `[batch]` each.
    pub masks: Vec<Tensor<1>>,
}

impl MultiTaskBatch {
    /// Gather the samples at `indices` from `data` and move them to `device`.
    pub fn gather(data: &MultiTaskDataset, indices: &[usize], device: &Device) -> Self {
        let b = indices.len();
        let d = data.num_features;
        let mut features = Vec::with_capacity(b * d);
        for &i in indices {
            features.extend_from_slice(data.row(i));
        }
        let column = |v: &Vec<f32>| {
            let values: Vec<f32> = indices.iter().map(|&i| v[i]).collect();
            Tensor::<1>::from_data(TensorData::new(values, [b]), device)
        };
        Self {
            inputs: Tensor::from_data(TensorData::new(features, [b, d]), device),
            targets: data.targets.iter().map(column).collect(),
            masks: data.masks.iter().map(column).collect(),
        }
    }
}

/// The sample order of epoch `epoch` (0-based) of a run seeded with `seed`.
///
/// The order depends only on `(seed, epoch)`, not on earlier epochs, so a resumed run sees the
/// same batches as an uninterrupted one without having to replay the generator.
pub fn epoch_permutation(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rng);
    idx
}

/// Cut `order` into batches of `batch_size`; the last, shorter batch is kept unless
/// `drop_last` is set.
pub fn batch_indices(order: &[usize], batch_size: usize, drop_last: bool) -> Vec<&[usize]> {
    assert!(batch_size > 0, "batch_size must be positive");
    order.chunks(batch_size).filter(|c| !drop_last || c.len() == batch_size).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_seeded_per_epoch() {
        let a = epoch_permutation(50, 1, 0);
        assert_eq!(a, epoch_permutation(50, 1, 0));
        assert_ne!(a, epoch_permutation(50, 1, 1));
        assert_ne!(a, epoch_permutation(50, 2, 0));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn batches_cover_the_order() {
        let order: Vec<usize> = (0..10).collect();
        let b = batch_indices(&order, 4, false);
        assert_eq!(b.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        assert_eq!(batch_indices(&order, 4, true).len(), 2);
    }
}
