//! A batch as the network reads it.

use mtl_data::MultiTaskBatch;
use mtl_model::Input;

/// The network input of a batch: its dense rows and its id columns.
pub trait BatchInput {
    /// The batch's [`Input`] (tensor handles, not copies).
    fn input(&self) -> Input;
}

impl BatchInput for MultiTaskBatch {
    fn input(&self) -> Input {
        Input::new(self.inputs.clone(), self.ids.clone())
    }
}
