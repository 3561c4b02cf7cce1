//! What a network reads: dense rows and, for tabular data, the id columns as integers.

use burn::tensor::{Device, Int, Tensor};

/// A batch of network inputs (or of a block's inputs).
///
/// `dense` holds the float columns (every column for an MLP or a CNN, the numeric columns of a
/// tabular encoder, or a hidden representation between blocks). `ids` holds the id columns of
/// a tabular encoder, as integers end to end: an id is never rounded through an f32, so id
/// spaces beyond 2^24 keep every id distinct. Only the first block of a tabular encoder reads
/// `ids`.
#[derive(Debug, Clone)]
pub struct Input {
    /// Float columns. Shape `[batch, d_dense]`.
    pub dense: Tensor<2>,
    /// Id columns. Shape `[batch, d_ids]`; `None` when there is none.
    pub ids: Option<Tensor<2, Int>>,
}

impl Input {
    /// Dense rows and id columns.
    pub fn new(dense: Tensor<2>, ids: Option<Tensor<2, Int>>) -> Self {
        Self { dense, ids }
    }

    /// Number of rows.
    pub fn batch_size(&self) -> usize {
        self.dense.dims()[0]
    }

    /// The device the rows live on.
    pub fn device(&self) -> Device {
        self.dense.device()
    }

    /// The same rows without autodiff (see [`Tensor::inner`]).
    #[must_use]
    pub fn inner(self) -> Self {
        Self { dense: self.dense.inner(), ids: self.ids.map(Tensor::inner) }
    }

    /// Rows `start..start + len`.
    #[must_use]
    pub fn narrow_rows(self, start: usize, len: usize) -> Self {
        Self { dense: self.dense.narrow(0, start, len), ids: self.ids.map(|i| i.narrow(0, start, len)) }
    }
}

impl From<Tensor<2>> for Input {
    /// Dense rows only.
    fn from(dense: Tensor<2>) -> Self {
        Self { dense, ids: None }
    }
}
