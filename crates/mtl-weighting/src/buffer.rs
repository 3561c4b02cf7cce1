//! A `[T, P]` state matrix kept on the device between steps (DB-MTL's and MoCo's running
//! gradients), saved in checkpoints as host numbers and put back on the device at the next
//! step after a resume.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The device matrix, or the host copy waiting for a device after a resume.
#[derive(Debug, Clone, Default)]
pub struct DeviceBuffer {
    live: Option<Tensor<2>>,
    pending: Option<HostMatrix>,
}

/// A row-major host copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostMatrix {
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// Row-major values.
    pub values: Vec<f32>,
}

impl DeviceBuffer {
    /// The matrix on the device of `like`, if there is one of the same shape.
    pub fn get(&mut self, like: &Tensor<2>) -> Option<Tensor<2>> {
        if let Some(h) = self.pending.take() {
            self.live = Some(Tensor::from_data(TensorData::new(h.values, h.shape), &like.device()));
        }
        self.live.clone().filter(|t| t.dims() == like.dims())
    }

    /// Replace the matrix.
    pub fn set(&mut self, t: Tensor<2>) {
        self.live = Some(t);
        self.pending = None;
    }

    /// A host copy for a checkpoint.
    pub fn to_host(&self) -> Option<HostMatrix> {
        if let Some(p) = &self.pending {
            return Some(p.clone());
        }
        let t = self.live.clone()?;
        let [r, c] = t.dims();
        let values = crate::host::read_f32(t);
        Some(HostMatrix { shape: [r, c], values })
    }

    /// Restore from a checkpoint's host copy.
    pub fn restore(&mut self, h: Option<HostMatrix>) -> Result<(), String> {
        if let Some(h) = &h
            && h.values.len() != h.shape[0] * h.shape[1]
        {
            return Err(format!(
                "a saved {}×{} matrix holds {} values",
                h.shape[0],
                h.shape[1],
                h.values.len()
            ));
        }
        self.live = None;
        self.pending = h;
        Ok(())
    }
}
