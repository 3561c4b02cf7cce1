//! A model's inference forward pass written out as a graph of ONNX operators (opset 17), for
//! export (`mtl export --format onnx`): every module has a `trace` that mirrors its
//! `forward` without dropout. The graph names its parameters as the PyTorch export does
//! (`architecture.encoder.layers.0.weight`, Linear weights `[out, in]`), so the same names
//! serve the safetensors file, the ONNX initializers and a generated PyTorch module.
//!
//! Kept free of any protobuf crate: the trainer turns a [`Graph`] into an ONNX file.

use burn::nn::Linear;
use burn::nn::activation::Activation;
use burn::tensor::Tensor;

/// An attribute of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// ONNX operator name (`Gemm`, `Relu`, …).
    pub op: &'static str,
    /// Names of its inputs.
    pub inputs: Vec<String>,
    /// Name of its output.
    pub output: String,
    /// Its attributes.
    pub attrs: Vec<(&'static str, Attr)>,
}

/// The values of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// float32.
    F32(Vec<f32>),
    /// int64.
    I64(Vec<i64>),
}

/// A constant tensor: a parameter (named as in the PyTorch export) or a constant of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub dims: Vec<usize>,
    /// Its values, row-major.
    pub values: Values,
}

/// An inference graph under construction: nodes in execution order and their constants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// The nodes, in an order where every input is defined before it is read.
    pub nodes: Vec<Node>,
    /// Parameters and constants.
    pub constants: Vec<Constant>,
    next: usize,
}

/// The network's inputs inside a graph: the name of the dense rows `[batch, d]` and, for a
/// tabular encoder, of the int64 id columns `[batch, d_ids]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphInput {
    /// Dense rows (float32).
    pub dense: String,
    /// Id columns (int64).
    pub ids: Option<String>,
}

impl GraphInput {
    /// A hidden representation between blocks (no id columns).
    pub fn hidden(dense: String) -> Self {
        GraphInput { dense, ids: None }
    }
}

impl Graph {
    /// `op` on `inputs`: the name of its output.
    pub fn op(&mut self, op: &'static str, inputs: &[&str], attrs: Vec<(&'static str, Attr)>) -> String {
        self.next += 1;
        let output = format!("{}_{}", op.to_lowercase(), self.next);
        self.nodes.push(Node {
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            attrs,
        });
        output
    }

    /// A parameter from a tensor, by the name it has in the PyTorch export (added once: a
    /// module traced twice, or a table shared by fields, reads the same constant).
    pub fn param<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) -> String {
        if self.constants.iter().any(|c| c.name == name) {
            return name.to_string();
        }
        let dims = tensor.dims().to_vec();
        let values = tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 parameters");
        self.constants.push(Constant { name: name.to_string(), dims, values: Values::F32(values) });
        name.to_string()
    }

    /// A float constant.
    pub fn floats(&mut self, values: Vec<f32>, dims: Vec<usize>) -> String {
        self.next += 1;
        let name = format!("const_{}", self.next);
        self.constants.push(Constant { name: name.clone(), dims, values: Values::F32(values) });
        name
    }

    /// An int64 constant (shapes, axes, indices).
    pub fn ints(&mut self, values: Vec<i64>) -> String {
        self.next += 1;
        let name = format!("const_{}", self.next);
        let dims = vec![values.len()];
        self.constants.push(Constant { name: name.clone(), dims, values: Values::I64(values) });
        name
    }

    /// A scalar int64 constant (an index that drops its axis in `Gather`).
    pub fn scalar_int(&mut self, value: i64) -> String {
        self.next += 1;
        let name = format!("const_{}", self.next);
        self.constants.push(Constant { name: name.clone(), dims: vec![], values: Values::I64(vec![value]) });
        name
    }

    /// `x` reshaped to `shape` (−1: inferred, as for the batch).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.ints(shape.to_vec());
        self.op("Reshape", &[x, &s], vec![])
    }

    /// Columns `start..start + len` of axis `axis`.
    pub fn narrow(&mut self, x: &str, axis: i64, start: usize, len: usize) -> String {
        let (s, e, a) =
            (self.ints(vec![start as i64]), self.ints(vec![(start + len) as i64]), self.ints(vec![axis]));
        self.op("Slice", &[x, &s, &e, &a], vec![])
    }

    /// Concatenation along `axis`.
    pub fn concat(&mut self, parts: &[String], axis: i64) -> String {
        if parts.len() == 1 {
            return parts[0].clone();
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.op("Concat", &refs, vec![("axis", Attr::Int(axis))])
    }

    /// `x` with a new axis of size 1 at `axis`.
    pub fn unsqueeze(&mut self, x: &str, axis: i64) -> String {
        let a = self.ints(vec![axis]);
        self.op("Unsqueeze", &[x, &a], vec![])
    }

    /// Sum over `axis`, dropping it (`keep`: keeping it with size 1).
    pub fn sum(&mut self, x: &str, axis: i64, keep: bool) -> String {
        let a = self.ints(vec![axis]);
        self.op("ReduceSum", &[x, &a], vec![("keepdims", Attr::Int(i64::from(keep)))])
    }

    /// A Burn `Linear` named `prefix` (`prefix.weight` `[out, in]`, `prefix.bias`) on `x`
    /// `[batch, in]`.
    pub fn linear(&mut self, prefix: &str, layer: &Linear, x: &str) -> String {
        let w = self.param(&format!("{prefix}.weight"), layer.weight.val().transpose());
        match &layer.bias {
            Some(b) => {
                let b = self.param(&format!("{prefix}.bias"), b.val());
                self.op("Gemm", &[x, &w, &b], vec![("transB", Attr::Int(1))])
            }
            None => self.op("Gemm", &[x, &w], vec![("transB", Attr::Int(1))]),
        }
    }

    /// A Burn activation on `x`.
    ///
    /// # Panics
    /// On an activation no config can name (mtl builds relu, gelu, tanh, sigmoid, identity).
    pub fn activation(&mut self, activation: &Activation, x: &str) -> String {
        match activation {
            Activation::Relu(_) => self.op("Relu", &[x], vec![]),
            Activation::Tanh(_) => self.op("Tanh", &[x], vec![]),
            Activation::Sigmoid(_) => self.op("Sigmoid", &[x], vec![]),
            Activation::Identity(_) => x.to_string(),
            // Exact GELU, x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (opset 17 has no Gelu).
            Activation::Gelu(_) => {
                let r = self.floats(vec![std::f32::consts::FRAC_1_SQRT_2], vec![]);
                let (one, half) = (self.floats(vec![1.0], vec![]), self.floats(vec![0.5], vec![]));
                let scaled = self.op("Mul", &[x, &r], vec![]);
                let erf = self.op("Erf", &[&scaled], vec![]);
                let plus = self.op("Add", &[&erf, &one], vec![]);
                let prod = self.op("Mul", &[x, &plus], vec![]);
                self.op("Mul", &[&prod, &half], vec![])
            }
            other => panic!("no ONNX form for the activation {other:?}"),
        }
    }

    /// Softmax along `axis`.
    pub fn softmax(&mut self, x: &str, axis: i64) -> String {
        self.op("Softmax", &[x], vec![("axis", Attr::Int(axis))])
    }

    /// Σ_i w_i · e_i per row: weights `[batch, E]`, experts `[batch, E, d]` → `[batch, d]`.
    pub fn mix(&mut self, weights: &str, experts: &str) -> String {
        let w = self.unsqueeze(weights, 1);
        let y = self.op("MatMul", &[&w, experts], vec![]); // [batch, 1, d]
        let axis = self.ints(vec![1]);
        self.op("Squeeze", &[&y, &axis], vec![])
    }

    /// Rows `[batch, d]` stacked along a new axis 1: `[batch, n, d]`.
    pub fn stack_rows(&mut self, rows: &[String]) -> String {
        let parts: Vec<String> = rows.iter().map(|r| self.unsqueeze(r, 1)).collect();
        self.concat(&parts, 1)
    }
}
