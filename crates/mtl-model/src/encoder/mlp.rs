//! Multi-layer perceptron: Linear → activation → dropout, repeated.

use burn::module::Module;
use burn::nn::activation::Activation;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::activation::ActivationKind;
use crate::graph::Graph;

/// Configuration of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MlpConfig {
    /// Input width.
    pub d_input: usize,
    /// Width of each hidden layer, in order. Empty = identity.
    pub hidden: Vec<usize>,
    /// Activation after every layer.
    pub activation: ActivationKind,
    /// Dropout probability after every activation, in [0, 1).
    pub dropout: f64,
}

/// A stack of fully connected layers, each followed by the activation and dropout.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    dropout: Dropout,
}

impl MlpConfig {
    /// Width of the output: the last hidden size, or the input width when there is none.
    pub fn d_output(&self) -> usize {
        self.hidden.last().copied().unwrap_or(self.d_input)
    }

    /// Output width of layer `i`.
    pub fn layer_width(&self, i: usize) -> usize {
        self.hidden[i]
    }

    /// Build the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut d_in = self.d_input;
        let mut layers = Vec::with_capacity(self.hidden.len());
        for &d_out in &self.hidden {
            layers.push(LinearConfig::new(d_in, d_out).init(device));
            d_in = d_out;
        }
        Mlp {
            layers,
            activation: self.activation.init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl Mlp {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_output]`
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for i in 0..self.layers.len() {
            x = self.forward_layer(i, x);
        }
        x
    }

    /// Layer `i` alone (Linear → activation → dropout).
    pub fn forward_layer(&self, i: usize, x: Tensor<2>) -> Tensor<2> {
        self.activate(self.layers[i].forward(x))
    }

    /// The activation then dropout that follow every layer, on a tensor of any rank (the
    /// batched experts run `[E, batch, width]`).
    pub fn activate<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.dropout.forward(self.activation.forward(x))
    }

    /// Layer `i`'s linear map.
    pub fn layer(&self, i: usize) -> &Linear {
        &self.layers[i]
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Layers `range` into `g` (see [`crate::graph`]), the module named `prefix`.
    pub fn trace_layers(
        &self,
        g: &mut Graph,
        prefix: &str,
        range: std::ops::Range<usize>,
        x: String,
    ) -> String {
        range.fold(x, |h, i| {
            let y = g.linear(&format!("{prefix}.layers.{i}"), &self.layers[i], &h);
            g.activation(&self.activation, &y)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parameter_count;

    #[test]
    fn mlp_shapes_and_parameter_count() {
        let device = Device::ndarray();
        let cfg =
            MlpConfig { d_input: 5, hidden: vec![4, 3], activation: ActivationKind::Relu, dropout: 0.0 };
        let mlp = cfg.init(&device);
        let y = mlp.forward(Tensor::zeros([7, 5], &device));
        assert_eq!(y.dims(), [7, 3]);
        // (5·4 + 4) + (4·3 + 3)
        assert_eq!(parameter_count(&mlp), 24 + 15);
        assert_eq!(cfg.d_output(), 3);
    }

    #[test]
    fn empty_mlp_is_the_identity() {
        let device = Device::ndarray();
        let cfg = MlpConfig { d_input: 2, hidden: vec![], activation: ActivationKind::Relu, dropout: 0.0 };
        let x = Tensor::<2>::from_floats([[-1.0, 2.0]], &device);
        let y = cfg.init(&device).forward(x.clone());
        y.into_data().assert_eq(&x.into_data(), true);
    }
}
