//! A split that lives on the device: uploaded once, and every batch formed there from an index
//! tensor (`select`), so a training step moves nothing from the host.

use std::ops::Range;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::{BatchShare, MultiTaskBatch};
use crate::dataset::MultiTaskDataset;

/// A split on one device as one `[n, d + 2T]` table: each row's features, then its T targets,
/// then its T label masks, so that a batch is one row `select` (and one more of the `[n, k]`
/// integer id table for data with ids).
#[derive(Debug, Clone)]
pub struct ResidentSplit {
    table: Tensor<2>,
    ids: Option<Tensor<2, Int>>,
    features: usize,
    tasks: usize,
}

/// One epoch's sample order on the device.
#[derive(Debug, Clone)]
pub struct DeviceOrder(Tensor<1, Int>);

impl ResidentSplit {
    /// The device memory `data` takes when resident (f32 features, targets and masks; ids
    /// counted at 8 bytes, the widest integer a backend holds them in).
    pub fn bytes(data: &MultiTaskDataset) -> u64 {
        let n = data.len() as u64;
        4 * n * (data.num_features as u64 + 2 * data.targets.len() as u64) + 8 * n * data.num_ids as u64
    }

    /// Upload `data` to `device` (one transfer).
    pub fn upload(data: &MultiTaskDataset, device: &Device) -> Self {
        let (n, d, t) = (data.len(), data.num_features, data.targets.len());
        let mut table = Vec::with_capacity(n * (d + 2 * t));
        for i in 0..n {
            table.extend_from_slice(data.row(i));
            table.extend(data.targets.iter().chain(&data.masks).map(|c| c[i]));
        }
        let all: Vec<usize> = (0..n).collect();
        Self {
            table: Tensor::from_data(TensorData::new(table, [n, d + 2 * t]), device),
            ids: crate::batch::id_rows(data, &all).map(|i| Tensor::from_data(i, device)),
            features: d,
            tasks: t,
        }
    }

    /// Upload an epoch's order (one transfer per epoch).
    pub fn order(&self, order: &[usize]) -> DeviceOrder {
        let ids: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        DeviceOrder(Tensor::from_data(TensorData::new(ids, [order.len()]), &self.table.device()))
    }

    /// The batch of the samples at positions `range` of `order`, formed on the device (one
    /// `select`); `share` as [`MultiTaskBatch::gather_part`] computes it (on the host, from the
    /// labels).
    pub fn batch(
        &self,
        order: &DeviceOrder,
        range: Range<usize>,
        share: Option<BatchShare>,
    ) -> MultiTaskBatch {
        let (b, d, t) = (range.len(), self.features, self.tasks);
        let picked = order.0.clone().slice([range]);
        let rows = self.table.clone().select(0, picked.clone());
        let columns = rows.clone().narrow(1, d, 2 * t).transpose(); // [2T, b]
        let column = |c: usize| columns.clone().narrow(0, c, 1).reshape([b]);
        MultiTaskBatch {
            inputs: rows.narrow(1, 0, d),
            ids: self.ids.as_ref().map(|ids| ids.clone().select(0, picked)),
            targets: (0..t).map(column).collect(),
            masks: (t..2 * t).map(column).collect(),
            share,
        }
    }

    /// The part `part` (positions relative to `global`) of the global batch at positions
    /// `global` of `order` (`on_device`: its upload), formed on the device; with `share`, the
    /// batch carries its [`BatchShare`] of the global batch (from `data`'s labels, on the host).
    pub fn part_batch(
        &self,
        data: &MultiTaskDataset,
        (order, on_device): (&[usize], &DeviceOrder),
        global: Range<usize>,
        part: Range<usize>,
        share: bool,
    ) -> MultiTaskBatch {
        let start = global.start;
        let share = share.then(|| BatchShare::of(data, &order[global], part.clone()));
        self.batch(on_device, start + part.start..start + part.end, share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MultiTaskDataset {
        MultiTaskDataset {
            features: (0..12).map(|x| x as f32).collect(),
            num_features: 2,
            ids: (0..6).map(|i| (1 << 24) + i).collect(),
            num_ids: 1,
            targets: vec![vec![10.0, 11.0, 12.0, 13.0, 14.0, 15.0], vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0]],
            masks: vec![vec![1.0; 6], vec![1.0, 0.0, 1.0, 1.0, 0.0, 2.0]],
            tasks: Vec::new(),
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        }
    }

    #[test]
    fn a_resident_batch_equals_the_host_gathered_one() {
        let (data, device) = (data(), Device::ndarray());
        let split = ResidentSplit::upload(&data, &device);
        assert_eq!(ResidentSplit::bytes(&data), 4 * 6 * (2 + 4) + 8 * 6);
        assert_eq!(split.table.dims(), [6, 2 + 4]);
        let order = [4, 1, 5, 0, 3, 2];
        let on_device = split.order(&order);
        for range in [0..4, 4..6, 1..2] {
            let want = MultiTaskBatch::gather(&data, &order[range.clone()], &device);
            let got = split.batch(&on_device, range.clone(), None);
            got.inputs.into_data().assert_eq(&want.inputs.into_data(), true);
            let ids = got.ids.unwrap().into_data().convert::<i64>();
            ids.assert_eq(&want.ids.unwrap().into_data().convert::<i64>(), true);
            let want_ids: Vec<i64> = order[range.clone()].iter().map(|&i| (1 << 24) + i as i64).collect();
            assert_eq!(ids.to_vec::<i64>().unwrap(), want_ids);
            for (g, w) in
                got.targets.into_iter().chain(got.masks).zip(want.targets.into_iter().chain(want.masks))
            {
                g.into_data().assert_eq(&w.into_data(), true);
            }
        }
    }
}
