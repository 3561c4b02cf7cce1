//! Batching: seeded epoch order and the transfer of a batch onto a Burn device.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::MultiTaskDataset;

/// One batch on the device: inputs plus, per task, targets and label masks.
#[derive(Debug, Clone)]
pub struct MultiTaskBatch {
    /// Features. Shape `[batch, features]`.
    pub inputs: Tensor<2>,
    /// Id columns, as integers. Shape `[batch, ids]`; `None` for data without ids.
    pub ids: Option<Tensor<2, Int>>,
    /// Per task, targets. Shape `[batch]` each (class ids as floats for multiclass).
    pub targets: Vec<Tensor<1>>,
    /// Per task, 1 for a labelled sample, 0 otherwise. Shape `[batch]` each.
    pub masks: Vec<Tensor<1>>,
    /// When this batch is one process's part of a global batch (data-parallel training), how
    /// large a part; `None` for a whole batch.
    pub share: Option<BatchShare>,
}

/// One process's part of a global batch. A task's loss is the masked mean over the *global*
/// batch, L_t = Σ_i m_i ℓ_i / Σ_i m_i; the part's masked mean times `labels[t]` is its term of
/// that sum, so the processes' terms add up to L_t whatever the labels' spread.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchShare {
    /// Per task: the part's label weight Σ m_i over the global batch's (0 where the global
    /// batch has no label of the task).
    pub labels: Vec<f32>,
    /// The part's samples over the global batch's, for batch means that are not masked.
    pub samples: f32,
}

/// A batch gathered on the host, not yet on a device: what a prefetching thread prepares
/// (device work stays on the training thread: some drivers, OpenGL's, bind a device to one).
#[derive(Debug, Clone)]
pub struct HostBatch {
    inputs: TensorData,
    ids: Option<TensorData>,
    targets: Vec<TensorData>,
    masks: Vec<TensorData>,
    share: Option<BatchShare>,
}

impl HostBatch {
    /// Gather the samples at `indices` from `data`.
    pub fn gather(data: &MultiTaskDataset, indices: &[usize]) -> Self {
        let b = indices.len();
        let d = data.num_features;
        let mut features = Vec::with_capacity(b * d);
        for &i in indices {
            features.extend_from_slice(data.row(i));
        }
        let column = |v: &Vec<f32>| TensorData::new(indices.iter().map(|&i| v[i]).collect::<Vec<f32>>(), [b]);
        Self {
            inputs: TensorData::new(features, [b, d]),
            ids: id_rows(data, indices),
            targets: data.targets.iter().map(column).collect(),
            masks: data.masks.iter().map(column).collect(),
            share: None,
        }
    }

    /// Gather the part `part` of the global batch `global` (indices into `data`), with its
    /// [`BatchShare`] of the global batch.
    pub fn gather_part(data: &MultiTaskDataset, global: &[usize], part: std::ops::Range<usize>) -> Self {
        let share = BatchShare::of(data, global, part.clone());
        Self { share: Some(share), ..Self::gather(data, &global[part]) }
    }

    /// Move to `device` (2T + 1 uploads, 2T + 2 with ids).
    pub fn upload(self, device: &Device) -> MultiTaskBatch {
        MultiTaskBatch {
            inputs: Tensor::from_data(self.inputs, device),
            ids: self.ids.map(|i| Tensor::from_data(i, device)),
            targets: self.targets.into_iter().map(|t| Tensor::from_data(t, device)).collect(),
            masks: self.masks.into_iter().map(|m| Tensor::from_data(m, device)).collect(),
            share: self.share,
        }
    }
}

/// The id columns of the samples at `indices` (see [`id_data`]); `None` for data without ids.
pub fn id_rows(data: &MultiTaskDataset, indices: &[usize]) -> Option<TensorData> {
    if data.num_ids == 0 {
        return None;
    }
    let rows = indices.iter().flat_map(|&i| data.id_row(i).iter().copied());
    Some(id_data(rows, indices.len(), data.num_ids))
}

/// `rows` rows of `width` ids (row-major) as the tensor data of an `Int` tensor (32-bit: what
/// every backend holds; embedding tables have fewer than 2^31 ids).
pub fn id_data(ids: impl Iterator<Item = u32>, rows: usize, width: usize) -> TensorData {
    TensorData::new(ids.map(|v| v as i32).collect::<Vec<i32>>(), [rows, width])
}

impl MultiTaskBatch {
    /// Gather the samples at `indices` from `data` and move them to `device`.
    pub fn gather(data: &MultiTaskDataset, indices: &[usize], device: &Device) -> Self {
        HostBatch::gather(data, indices).upload(device)
    }

    /// Gather the part `part` of the global batch `global` (indices into `data`), with its
    /// [`BatchShare`] of the global batch.
    pub fn gather_part(
        data: &MultiTaskDataset,
        global: &[usize],
        part: std::ops::Range<usize>,
        device: &Device,
    ) -> Self {
        HostBatch::gather_part(data, global, part).upload(device)
    }
}

impl BatchShare {
    /// The share of the part `part` of the global batch `global` (indices into `data`).
    pub fn of(data: &MultiTaskDataset, global: &[usize], part: std::ops::Range<usize>) -> Self {
        let weight = |mask: &Vec<f32>, idx: &[usize]| idx.iter().map(|&i| mask[i] as f64).sum::<f64>();
        let local = &global[part];
        let labels = (data.masks.iter())
            .map(|m| {
                let total = weight(m, global);
                if total > 0.0 { (weight(m, local) / total) as f32 } else { 0.0 }
            })
            .collect();
        BatchShare { labels, samples: (local.len() as f64 / global.len() as f64) as f32 }
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
    batch_ranges(order.len(), batch_size, drop_last).into_iter().map(|r| &order[r]).collect()
}

/// The positions of the batches [`batch_indices`] cuts from an order of `n` samples.
pub fn batch_ranges(n: usize, batch_size: usize, drop_last: bool) -> Vec<std::ops::Range<usize>> {
    assert!(batch_size > 0, "batch_size must be positive");
    (0..n)
        .step_by(batch_size)
        .map(|start| start..(start + batch_size).min(n))
        .filter(|r| !drop_last || r.len() == batch_size)
        .collect()
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
    fn a_part_knows_its_share_of_the_global_labels() {
        use crate::dataset::MultiTaskDataset;
        // Task 0 labelled on rows 0, 1, 3; task 1 on row 3 only (weight 2).
        let data = MultiTaskDataset {
            features: vec![0.0; 4],
            num_features: 1,
            ids: Vec::new(),
            num_ids: 0,
            targets: vec![vec![0.0; 4]; 2],
            masks: vec![vec![1.0, 1.0, 0.0, 1.0], vec![0.0, 0.0, 0.0, 2.0]],
            tasks: Vec::new(),
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        };
        let device = Device::ndarray();
        let global = [0, 1, 2, 3];
        let first = MultiTaskBatch::gather_part(&data, &global, 0..2, &device).share.unwrap();
        let second = MultiTaskBatch::gather_part(&data, &global, 2..4, &device).share.unwrap();
        assert_eq!(first, BatchShare { labels: vec![2.0 / 3.0, 0.0], samples: 0.5 });
        assert_eq!(second, BatchShare { labels: vec![1.0 / 3.0, 1.0], samples: 0.5 });
        assert!(MultiTaskBatch::gather(&data, &global, &device).share.is_none());
    }

    #[test]
    fn batches_cover_the_order() {
        let order: Vec<usize> = (0..10).collect();
        let b = batch_indices(&order, 4, false);
        assert_eq!(b.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        assert_eq!(batch_indices(&order, 4, true).len(), 2);
    }
}
