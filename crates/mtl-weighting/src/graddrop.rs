//! GradDrop — gradient sign dropout.
//!
//! Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov, "Just Pick a Sign: Optimizing Deep
//! Multitask Models with Gradient Sign Dropout", NeurIPS 2020
//! (<https://arxiv.org/abs/2010.06808>), Algorithm 1.
//!
//! On the gradients with respect to the shared representation (the only route it supports,
//! as in the paper and LibMTL), element by element: the positive-sign purity
//! P = ½(1 + Σ_t g_t / Σ_t |g_t|), a uniform draw U, and each task keeps its entry if
//! (P > U and g_t > 0) or (P < U and g_t < 0); the update is the sum of the kept entries. Where
//! all tasks agree in sign nothing is dropped. Elementwise on the device; the reported weight
//! of a task is the fraction of its entries kept. The draw uses the backend's generator, which
//! the trainer seeds per epoch.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

use crate::base::MethodConfig;
use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use serde::{Deserialize, Serialize};

/// Gradient sign dropout.
#[derive(Module, Debug)]
pub struct GradDrop {
    num_tasks: usize,
}

impl GradDrop {
    /// GradDrop acts on the representation gradients only.
    pub const INPUTS: &'static [WeightingInput] = &[WeightingInput::RepresentationGradients];

    /// GradDrop over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

/// The kept-entries mask of `g` `[T, P]` for draws `u` `[1, P]` (1 = kept).
pub fn graddrop_mask(g: &Tensor<2>, u: Tensor<2>) -> Tensor<2> {
    let purity =
        (g.clone().sum_dim(0) / g.clone().abs().sum_dim(0).add_scalar(1e-7)).add_scalar(1.0).mul_scalar(0.5);
    let up = purity.clone().greater(u.clone()).float(); // [1, P]: keep positives
    let down = purity.lower(u).float(); // keep negatives
    let pos = g.clone().greater_elem(0.0).float();
    let neg = g.clone().lower_elem(0.0).float();
    pos * up + neg * down
}

impl WeightingMethod for GradDrop {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_gradients(
        &mut self,
        _ctx: &StepContext,
        gradients: Tensor<2>,
        _losses: Tensor<1>,
    ) -> GradientCombination {
        let [t, p] = gradients.dims();
        debug_assert_eq!(t, self.num_tasks);
        let u = Tensor::<2>::random([1, p], Distribution::Default, &gradients.device());
        let mask = graddrop_mask(&gradients, u);
        let weights = mask.clone().mean_dim(1).reshape([t]);
        let gradient = (gradients * mask).sum_dim(0).reshape([p]);
        GradientCombination { gradient, weights }
    }
}

/// Settings of [`GradDrop`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradDropConfig {}

impl MethodConfig for GradDropConfig {
    type Method = GradDrop;

    fn init(&self, num_tasks: usize, _device: &Device) -> GradDrop {
        GradDrop::new(num_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn agreeing_signs_are_kept_and_conflicts_follow_the_draw() {
        let device = Device::ndarray();
        // Columns: both positive, both negative, +3/−1 (P = ¾), +1/−3 (P = ¼).
        let g = Tensor::<2>::from_floats([[1.0, -2.0, 3.0, 1.0], [2.0, -1.0, -1.0, -3.0]], &device);
        // Draw 0.5 everywhere: column 3 keeps the positive (¾ > ½), column 4 the negative.
        let u = Tensor::<2>::from_floats([[0.5, 0.5, 0.5, 0.5]], &device);
        let m = graddrop_mask(&g, u).into_data().to_vec::<f32>().unwrap();
        assert_eq!(m, vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
        // Draw 0.9: ¾ < 0.9, so column 3 now keeps the negative.
        let u = Tensor::<2>::from_floats([[0.9, 0.9, 0.9, 0.9]], &device);
        let m = graddrop_mask(&g, u).into_data().to_vec::<f32>().unwrap();
        assert_eq!(m, vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }
}
