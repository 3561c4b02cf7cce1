//! A split that lives on the device: uploaded once, and every batch formed there from an index
//! tensor (`select`), so a training step moves nothing from the host.

use std::ops::Range;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::{BatchShare, MultiTaskBatch};
use crate::dataset::MultiTaskDataset;

/// Features `[n, d]`, targets and label masks `[2T, n]` of a split, on one device.
#[derive(Debug, Clone)]
pub struct ResidentSplit {
    inputs: Tensor<2>,
    columns: Tensor<2>,
    tasks: usize,
}

/// One epoch's sample order on the device.
#[derive(Debug, Clone)]
pub struct DeviceOrder(Tensor<1, Int>);

impl ResidentSplit {
    /// The device memory `data` takes when resident (f32 features, targets and masks).
    pub fn bytes(data: &MultiTaskDataset) -> u64 {
        let n = data.len() as u64;
        4 * n * (data.num_features as u64 + 2 * data.targets.len() as u64)
    }

    /// Upload `data` to `device` (three transfers).
    pub fn upload(data: &MultiTaskDataset, device: &Device) -> Self {
        let (n, d) = (data.len(), data.num_features);
        let mut columns = Vec::with_capacity(2 * data.targets.len() * n);
        for c in data.targets.iter().chain(&data.masks) {
            columns.extend_from_slice(c);
        }
        let rows = 2 * data.targets.len();
        Self {
            inputs: Tensor::from_data(TensorData::new(data.features.clone(), [n, d]), device),
            columns: Tensor::from_data(TensorData::new(columns, [rows, n]), device),
            tasks: data.targets.len(),
        }
    }

    /// Upload an epoch's order (one transfer per epoch).
    pub fn order(&self, order: &[usize]) -> DeviceOrder {
        let ids: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        DeviceOrder(Tensor::from_data(TensorData::new(ids, [order.len()]), &self.inputs.device()))
    }

    /// The batch of the samples at positions `range` of `order`, formed on the device; `share`
    /// as [`MultiTaskBatch::gather_part`] computes it (on the host, from the labels).
    pub fn batch(
        &self,
        order: &DeviceOrder,
        range: Range<usize>,
        share: Option<BatchShare>,
    ) -> MultiTaskBatch {
        let b = range.len();
        let idx = order.0.clone().slice([range]);
        let inputs = self.inputs.clone().select(0, idx.clone());
        let columns = self.columns.clone().select(1, idx);
        let row = |r: usize| columns.clone().slice([r..r + 1, 0..b]).reshape([b]);
        MultiTaskBatch {
            inputs,
            targets: (0..self.tasks).map(row).collect(),
            masks: (self.tasks..2 * self.tasks).map(row).collect(),
            share,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MultiTaskDataset {
        MultiTaskDataset {
            features: (0..12).map(|x| x as f32).collect(),
            num_features: 2,
            targets: vec![vec![10.0, 11.0, 12.0, 13.0, 14.0, 15.0], vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0]],
            masks: vec![vec![1.0; 6], vec![1.0, 0.0, 1.0, 1.0, 0.0, 2.0]],
            tasks: Vec::new(),
            groups: None,
            target_scales: Vec::new(),
        }
    }

    #[test]
    fn a_resident_batch_equals_the_host_gathered_one() {
        let (data, device) = (data(), Device::ndarray());
        let split = ResidentSplit::upload(&data, &device);
        assert_eq!(ResidentSplit::bytes(&data), 4 * 6 * (2 + 4));
        let order = [4, 1, 5, 0, 3, 2];
        let on_device = split.order(&order);
        for range in [0..4, 4..6, 1..2] {
            let want = MultiTaskBatch::gather(&data, &order[range.clone()], &device);
            let got = split.batch(&on_device, range, None);
            got.inputs.into_data().assert_eq(&want.inputs.into_data(), true);
            for (g, w) in
                got.targets.into_iter().chain(got.masks).zip(want.targets.into_iter().chain(want.masks))
            {
                g.into_data().assert_eq(&w.into_data(), true);
            }
        }
    }
}
