//! Using `mtl-weighting` in your own Burn loop: two regression losses of very different scales
//! balanced by uncertainty weighting (Kendall et al. 2018).
//!
//! Two linear heads predict y1 = 2x + 0.1·ε and y2 = 10x + ε: the second task's irreducible
//! loss (1) is 100× the first's (0.01). UW learns the log-variances s_t with the model; the
//! weights ½e^{−s_t} settle near 1/(2·L_t) — about 50 and 0.5 — so neither task dominates.
//!
//! Run: `cargo run --release --example uncertainty_weighting`

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use mtl_weighting::{StepContext, UwConfig, Weighting, WeightingConfig, WeightingInput, WeightingMethod};

#[derive(Module, Debug)]
struct Net {
    task1: Linear,
    task2: Linear,
    weighting: Weighting,
}

fn main() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut net = Net {
        task1: LinearConfig::new(1, 1).init(&device),
        task2: LinearConfig::new(1, 1).init(&device),
        weighting: WeightingConfig::Uw(UwConfig::default()).init(2, &device),
    };
    let mut optim = AdamConfig::new().init();
    for step in 0..2000 {
        let x = Tensor::<2>::random([64, 1], Distribution::Normal(0.0, 1.0), &device);
        let noise = Tensor::<2>::random([64, 1], Distribution::Normal(0.0, 1.0), &device);
        let l1 = (net.task1.forward(x.clone()) - x.clone().mul_scalar(2.0) - noise.clone().mul_scalar(0.1))
            .square()
            .mean();
        let l2 = (net.task2.forward(x.clone()) - x.mul_scalar(10.0) - noise).square().mean();
        let losses = Tensor::cat(vec![l1, l2], 0);
        let ctx = StepContext { epoch: 0, step, steps_per_epoch: 1, input: WeightingInput::Losses };
        let combined = net.weighting.combine_losses(&ctx, losses.clone());
        let grads = GradientsParams::from_grads(combined.loss.backward(), &net);
        net = optim.step(5e-2, net, grads);
        if step % 500 == 0 || step == 1999 {
            let l: Vec<f32> = losses.inner().into_data().try_to_vec::<f32>().unwrap();
            let w: Vec<f32> = combined.weights.into_data().try_to_vec::<f32>().unwrap();
            println!("step {step:4}: losses {:8.3} {:8.3}   weights {:.4} {:.4}", l[0], l[1], w[0], w[1]);
        }
    }
}
