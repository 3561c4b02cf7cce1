//! Building Burn's optimizer from the validated `[train]` settings.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::OptimizerConfig;

/// The optimizer for `config`. Gradient clipping is not set here: the trainer clips the global
/// norm itself (Burn's `Norm` clipping is per tensor).
pub fn build_optimizer(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay = |w: f64| (w > 0.0).then(|| WeightDecayConfig::new(w as f32));
    match *config {
        OptimizerConfig::Adam { betas, eps, weight_decay } => AdamConfig::new()
            .with_beta_1(betas[0] as f32)
            .with_beta_2(betas[1] as f32)
            .with_epsilon(eps as f32)
            .with_weight_decay(decay(weight_decay))
            .init(),
        OptimizerConfig::AdamW { betas, eps, weight_decay } => AdamWConfig::new()
            .with_beta_1(betas[0] as f32)
            .with_beta_2(betas[1] as f32)
            .with_epsilon(eps as f32)
            .with_weight_decay(weight_decay as f32)
            .init(),
        OptimizerConfig::Sgd { momentum, weight_decay } => SgdConfig::new()
            .with_weight_decay(decay(weight_decay))
            // PyTorch's SGD momentum has no dampening by default; Burn's defaults to 0.1.
            .with_momentum(
                (momentum > 0.0).then(|| MomentumConfig::new().with_momentum(momentum).with_dampening(0.0)),
            )
            .init(),
    }
}
