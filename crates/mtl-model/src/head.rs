//! Per-task heads ("towers"): a small MLP and an output layer sized for the task kind.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::activation::ActivationKind;
use crate::encoder::{Mlp, MlpConfig};

/// Configuration of a [`TaskHead`].
#[derive(Debug, Clone, PartialEq)]
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
        self.output.forward(self.tower.forward(x))
    }

    /// The linear maps in order: the tower's layers, then the output layer.
    fn linears(&self) -> impl Iterator<Item = &Linear> {
        (0..self.tower.num_layers()).map(|i| self.tower.layer(i)).chain(std::iter::once(&self.output))
    }
}

/// Every head on its own input (`inputs[t]` for head t) as one batched product per layer,
/// `[T, batch, d] × [T, d, h]`, from the heads' own parameters (stacked for the product, so each
/// gets its gradient; checkpoints unchanged). `None` unless there are two heads or more whose
/// layers all have the same shapes and biases (tasks of different output widths, such as a
/// multiclass task beside regressions, run one by one). Without dropout the outputs equal the
/// heads' one by one (tested); with dropout one mask is drawn per layer for all heads.
pub fn batched_heads(heads: &[TaskHead], inputs: &[Tensor<2>]) -> Option<Vec<Tensor<2>>> {
    let first = heads.first()?;
    let shapes = |h: &TaskHead| h.linears().map(|l| (l.weight.dims(), l.bias.is_some())).collect::<Vec<_>>();
    let reference = shapes(first);
    let same_input = inputs.iter().all(|x| x.dims() == inputs[0].dims());
    if heads.len() < 2
        || inputs.len() != heads.len()
        || !same_input
        || reference.iter().any(|(_, bias)| !bias)
    {
        return None;
    }
    if heads.iter().any(|h| shapes(h) != reference) {
        return None;
    }
    let (t, batch) = (heads.len(), inputs[0].dims()[0]);
    let layers: Vec<Vec<&Linear>> = heads.iter().map(|h| h.linears().collect()).collect();
    let mut y = Tensor::stack::<3>(inputs.to_vec(), 0); // [T, batch, d]
    for (i, &([_, width], _)) in reference.iter().enumerate() {
        let w = Tensor::stack::<3>(layers.iter().map(|l| l[i].weight.val()).collect(), 0);
        let b: Vec<Tensor<1>> = layers.iter().map(|l| l[i].bias.as_ref().expect("checked").val()).collect();
        y = y.matmul(w) + Tensor::stack::<2>(b, 0).reshape([t, 1, width]);
        if i + 1 < reference.len() {
            y = first.tower.activate(y);
        }
    }
    let out = reference.last().expect("an output layer").0[1];
    Some((0..t).map(|k| y.clone().narrow(0, k, 1).reshape([batch, out])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(hidden: Vec<usize>, d_output: usize, device: &Device) -> TaskHead {
        HeadConfig { d_input: 6, hidden, activation: ActivationKind::Relu, dropout: 0.0, d_output }
            .init(device)
    }

    #[test]
    fn batched_heads_equal_the_heads_one_by_one() {
        let device = Device::ndarray();
        device.seed(5);
        for hidden in [vec![4, 3], vec![], vec![5]] {
            let heads: Vec<TaskHead> = (0..3).map(|_| head(hidden.clone(), 2, &device)).collect();
            let inputs: Vec<Tensor<2>> = (0..3)
                .map(|_| Tensor::random([7, 6], burn::tensor::Distribution::Normal(0.0, 1.0), &device))
                .collect();
            let batched = batched_heads(&heads, &inputs).expect("heads of one shape batch");
            for ((h, x), y) in heads.iter().zip(&inputs).zip(batched) {
                y.into_data().assert_approx_eq::<f32>(
                    &h.forward(x.clone()).into_data(),
                    burn::tensor::Tolerance::absolute(1e-6),
                );
            }
        }
    }

    #[test]
    fn heads_of_other_shapes_run_one_by_one() {
        let device = Device::ndarray();
        let x = vec![Tensor::<2>::ones([2, 6], &device); 2];
        assert!(batched_heads(&[head(vec![4], 1, &device), head(vec![4], 3, &device)], &x).is_none());
        assert!(batched_heads(&[head(vec![4], 1, &device), head(vec![5], 1, &device)], &x).is_none());
        assert!(batched_heads(&[head(vec![4], 1, &device)], &x[..1]).is_none());
    }
}
