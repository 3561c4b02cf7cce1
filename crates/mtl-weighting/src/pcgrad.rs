//! PCGrad — projecting conflicting gradients.
//!
//! Yu, Kumar, Gupta, Levine, Hausman, Finn, "Gradient Surgery for Multi-Task Learning",
//! NeurIPS 2020 (<https://arxiv.org/abs/2001.06782>), Algorithm 1.
//!
//! For each task i, in a random order of the other tasks j ≠ i: if g_i^PC · g_j < 0, remove the
//! conflicting component, g_i^PC ← g_i^PC − (g_i^PC · g_j / ‖g_j‖²) g_j. The update is
//! Σ_i g_i^PC. Every g_i^PC stays a linear combination of the original gradients, so mtl
//! tracks its T coefficients on the host with the Gram matrix and forms the update once on
//! the device (LibMTL instead copies every gradient to the CPU). The order is drawn from the
//! backend's generator, seeded by the trainer.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::MethodConfig;
use crate::base::{GradientCombination, StepContext, WeightingInput, WeightingMethod};
use crate::gram::combine_through_gram;
use crate::gram::{Gram, random_orders};
use serde::{Deserialize, Serialize};

/// Gradient surgery.
#[derive(Module, Debug)]
pub struct PcGrad {
    num_tasks: usize,
}

impl PcGrad {
    /// PCGrad reads gradients (shared parameters by default).
    pub const INPUTS: &'static [WeightingInput] =
        &[WeightingInput::ParameterGradients, WeightingInput::RepresentationGradients];

    /// PCGrad over `num_tasks` tasks.
    pub fn new(num_tasks: usize) -> Self {
        Self { num_tasks }
    }
}

/// The weights of the original gradients in Σ_i g_i^PC, given the visiting order of each i
/// (i itself is skipped if listed).
pub fn pcgrad_weights(k: &Gram, orders: &[Vec<usize>]) -> Vec<f64> {
    let t = k.len();
    let mut total = vec![0.0; t];
    for (i, order) in orders.iter().enumerate() {
        let mut c = vec![0.0; t];
        c[i] = 1.0;
        for &j in order.iter().filter(|j| **j != i) {
            // g_i^PC · g_j = Σ_k c_k K_kj.
            let dot: f64 = (0..t).map(|m| c[m] * k[m][j]).sum();
            if dot < 0.0 && k[j][j] > 0.0 {
                c[j] -= dot / k[j][j];
            }
        }
        for (s, x) in total.iter_mut().zip(&c) {
            *s += x;
        }
    }
    total
}

impl WeightingMethod for PcGrad {
    fn inputs(&self) -> &'static [WeightingInput] {
        Self::INPUTS
    }

    fn combine_gradients(
        &mut self,
        ctx: &StepContext,
        gradients: Tensor<2>,
        losses: Tensor<1>,
    ) -> GradientCombination {
        combine_through_gram(self, ctx, gradients, losses)
    }

    fn weights_from_gram(&self) -> bool {
        true
    }

    fn gram_weights(&mut self, _ctx: &StepContext, k: &Gram, _losses: &[f64], device: &Device) -> Vec<f64> {
        let t = self.num_tasks;
        let orders = random_orders(t, device);

        pcgrad_weights(k, &orders)
    }
}

/// Settings of [`PcGrad`]: none (an empty `[weighting.<name>]` section is accepted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcGradConfig {}

impl MethodConfig for PcGradConfig {
    type Method = PcGrad;

    fn init(&self, num_tasks: usize, _device: &Device) -> PcGrad {
        PcGrad::new(num_tasks)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gram::{combine, gram};
    use burn::tensor::Device;

    #[test]
    fn agreeing_gradients_are_left_alone() {
        // g₁ = (1, 0), g₂ = (1, 1): g₁·g₂ = 1 ≥ 0, so the update is the plain sum.
        let k = vec![vec![1.0, 1.0], vec![1.0, 2.0]];
        assert_eq!(pcgrad_weights(&k, &[vec![0, 1], vec![1, 0]]), vec![1.0, 1.0]);
    }

    #[test]
    fn exactly_the_conflicting_component_is_removed() {
        // g₁ = (1, 0), g₂ = (−1, 1): g₁^PC = g₁ + ½ g₂ = (½, ½) ⟂ g₂; g₂^PC = g₂ + g₁ = (0, 1) ⟂ g₁.
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, 0.0], [-1.0, 1.0]], &device);
        let w = pcgrad_weights(&gram(&g), &[vec![0, 1], vec![1, 0]]);
        assert_eq!(w, vec![2.0, 1.5]);
        let update = combine(g, &w).gradient;
        assert_eq!(update.into_data().to_vec::<f32>().unwrap(), vec![0.5, 1.5]);
    }

    #[test]
    fn matches_the_pytorch_reference_on_a_fixed_matrix() {
        // shared/bench/mtl_lib.py (torch 2.15.0), the loop of `pcgrad_combine` with the orders
        // fixed instead of drawn:
        //   order = torch.tensor([[1,2,3],[3,0,2],[0,3,1],[2,1,0]]); P = G.clone()
        //   for k in range(3): J = order[:, k]; d = (P*G[J]).sum(1)
        //       P -= torch.where(d < 0, d / norms2[J], 0).unsqueeze(1) * G[J]
        //   P.sum(0) = [1.90242958, 2.22820991, -0.37234835, 0.83433304, 0.64077901, 0.25888349]
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats(REFERENCE_G, &device);
        let orders = vec![vec![1, 2, 3], vec![3, 0, 2], vec![0, 3, 1], vec![2, 1, 0]];
        let w = pcgrad_weights(&gram(&g), &orders);
        let update = combine(g, &w).gradient;
        let want = [
            1.9024295793064883,
            2.2282099061811107,
            -0.3723483492615519,
            0.8343330436275164,
            0.6407790099163664,
            0.2588834877605429,
        ];
        for (a, b) in update.into_data().to_vec::<f32>().unwrap().iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// The fixed gradient matrix of the reference comparisons (MGDA, PCGrad).
    pub(crate) const REFERENCE_G: [[f32; 6]; 4] = [
        [0.9, -0.3, 0.5, 0.0, 1.2, -0.7],
        [-0.4, 0.8, 0.1, 0.6, -0.9, 0.3],
        [0.2, 0.1, -1.1, 0.4, 0.3, 0.5],
        [0.7, 0.6, 0.2, -0.8, 0.1, 0.0],
    ];

    #[test]
    fn the_random_order_is_seeded() {
        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]], &device);
        let mut pc = PcGrad::new(3);
        let ctx = StepContext::first_step(WeightingInput::ParameterGradients);
        let losses = Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device);
        device.seed(3);
        let a = pc.combine_gradients(&ctx, g.clone(), losses.clone()).gradient.into_data();
        device.seed(3);
        let b = pc.combine_gradients(&ctx, g, losses).gradient.into_data();
        assert_eq!(a, b);
    }
}
