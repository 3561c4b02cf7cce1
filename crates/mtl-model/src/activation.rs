//! The activations a config may name.

use burn::nn::activation::{Activation, ActivationConfig};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Activation of hidden layers (`activation = "relu"` in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    /// max(0, x).
    #[default]
    Relu,
    /// Gaussian error linear unit (exact form).
    Gelu,
    /// tanh(x).
    Tanh,
    /// 1 / (1 + e^−x).
    Sigmoid,
    /// No activation.
    Identity,
}

impl ActivationKind {
    /// The Burn module for this activation.
    pub fn init(self, device: &Device) -> Activation {
        let config = match self {
            ActivationKind::Relu => ActivationConfig::Relu,
            ActivationKind::Gelu => ActivationConfig::Gelu,
            ActivationKind::Tanh => ActivationConfig::Tanh,
            ActivationKind::Sigmoid => ActivationConfig::Sigmoid,
            ActivationKind::Identity => ActivationConfig::Identity,
        };
        config.init(device)
    }
}
