//! Per-task heads ("towers"): a small MLP and an output layer sized for the task kind.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::activation::ActivationKind;
use crate::encoder::{Mlp, MlpConfig};
use crate::graph::Graph;

/// Configuration of a [`TaskHead`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HeadConfig {
    /// Width of the task representation that enters the head.
    pub d_input: usize,
    /// Hidden layers of the tower (may be empty: a linear head).
    pub hidden: Vec<usize>,
    /// Activation of the tower.
    pub activation: ActivationKind,
    /// Dropout of the tower.
    pub dropout: f64,
    /// Output width: 1 for regression and binary, the class count for multiclass.
    pub d_output: usize,
}

/// A task's own layers: tower MLP, then a linear output (a value or logits).
#[derive(Module, Debug)]
pub struct TaskHead {
    tower: Mlp,
    output: Linear,
}

impl HeadConfig {
    /// Build the head on `device`.
    pub fn init(&self, device: &Device) -> TaskHead {
        let tower = MlpConfig {
            d_input: self.d_input,
            hidden: self.hidden.clone(),
            activation: self.activation,
            dropout: self.dropout,
        };
        TaskHead {
            output: LinearConfig::new(tower.d_output(), self.d_output).init(device),
            tower: tower.init(device),
        }
    }
}

impl TaskHead {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_output]` (raw values or logits)
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output(self.represent(x))
    }

    /// The tower's representation, before the output layer.
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_represent]`
    pub fn represent(&self, x: Tensor<2>) -> Tensor<2> {
        self.tower.forward(x)
    }

    /// The output layer on a representation `h` (from [`Self::represent`], or AITM's fused
    /// one of the same width).
    pub fn output(&self, h: Tensor<2>) -> Tensor<2> {
        self.output.forward(h)
    }
}

impl TaskHead {
    /// The tower into `g` (see [`Self::represent`]), the module named `prefix`.
    pub fn trace_represent(&self, g: &mut Graph, prefix: &str, x: String) -> String {
        self.tower.trace_layers(g, &format!("{prefix}.tower"), 0..self.tower.num_layers(), x)
    }

    /// The output layer into `g`.
    pub fn trace_output(&self, g: &mut Graph, prefix: &str, h: &str) -> String {
        g.linear(&format!("{prefix}.output"), &self.output, h)
    }
}

impl HeadConfig {
    /// Width of the tower's representation: its last hidden layer, else its input.
    pub fn d_represent(&self) -> usize {
        self.hidden.last().copied().unwrap_or(self.d_input)
    }
}
