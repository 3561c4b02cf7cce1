//! AITM's adaptive information transfer between the towers of consecutive funnel steps, and
//! its behavioural expectation calibrator.
//!
//! Xi et al., "Modeling the Sequential Dependence among Audience Multi-step Conversions with
//! Multi-task Learning in Targeted Display Advertising", KDD 2021, §3. Step t's tower gives a
//! representation q_t; the step before passes on p_{t−1} = g_{t−1}(z_{t−1}) (the *transfer*
//! unit: here one fully connected layer, ReLU and the heads' dropout, as in the authors'
//! reference code), and the *AIT* unit fuses the two by attention (eq. (2)–(4)):
//!
//! z_t = Σ_{u ∈ {p_{t−1}, q_t}} w_u h_1(u),  w_u = softmax_u(⟨h_2(u), h_3(u)⟩ / √k),
//!
//! h_1, h_2, h_3 linear maps to k dimensions (k = the tower width; no bias, as in the reference
//! code). z_1 = q_1, and step t's output layer reads z_t: its probability ŷ_t is the *joint*
//! probability of the chain up to it (the end-to-end conversion), trained on every row. The
//! calibrator (eq. (5)) penalises a later step predicted above the one before:
//! L_lc = (1/N) Σ_i Σ_{t ≥ 2} max(ŷ_{t,i} − ŷ_{t−1,i}, 0), added to the losses with weight α.
//! Following the paper's notation each transition has its own transfer and AIT unit.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid, softmax};
use burn::tensor::{Device, Tensor};

use crate::graph::Graph;

/// Configuration of an [`Ait`] unit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AitConfig {
    /// k: the width of the towers' representations (and of the fused one).
    pub d: usize,
    /// Dropout after the transfer layer.
    pub dropout: f64,
}

/// The transfer and AIT units between one step's tower and the next.
#[derive(Module, Debug)]
pub struct Ait {
    transfer: Linear,
    dropout: Dropout,
    h1: Linear,
    h2: Linear,
    h3: Linear,
}

impl AitConfig {
    /// Build the unit on `device`.
    pub fn init(&self, device: &Device) -> Ait {
        let map = || LinearConfig::new(self.d, self.d).with_bias(false).init(device);
        Ait {
            transfer: LinearConfig::new(self.d, self.d).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            h1: map(),
            h2: map(),
            h3: map(),
        }
    }
}

impl Ait {
    /// z_t from the step before's fused representation `previous` (z_{t−1}) and this step's
    /// tower representation `q` (q_t).
    ///
    /// # Shapes
    /// - previous, q: `[batch, k]`
    /// - output: `[batch, k]`
    pub fn forward(&self, previous: Tensor<2>, q: Tensor<2>) -> Tensor<2> {
        let p = self.dropout.forward(relu(self.transfer.forward(previous)));
        self.attend(p, q)
    }

    /// The AIT unit alone: attention over the transferred `p` and the tower's `q`.
    fn attend(&self, p: Tensor<2>, q: Tensor<2>) -> Tensor<2> {
        let [b, k] = q.dims();
        let u = Tensor::stack::<3>(vec![p, q], 1); // [batch, 2, k]
        let score = |u: Tensor<3>| {
            let flat = u.reshape([b * 2, k]);
            let s = (self.h2.forward(flat.clone()) * self.h3.forward(flat)).sum_dim(1);
            s.reshape([b, 2, 1]).div_scalar((k as f64).sqrt())
        };
        let w = softmax(score(u.clone()), 1); // [batch, 2, 1]
        let values = self.h1.forward(u.reshape([b * 2, k])).reshape([b, 2, k]);
        (values * w).sum_dim(1).reshape([b, k])
    }
}

impl Ait {
    /// The unit into `g` (see [`Ait::forward`]), the module named `prefix`.
    pub fn trace(&self, g: &mut Graph, prefix: &str, previous: &str, q: &str) -> String {
        let p = g.linear(&format!("{prefix}.transfer"), &self.transfer, previous);
        let p = g.op("Relu", &[&p], vec![]);
        let k = self.h1.weight.dims()[1];
        let root = g.floats(vec![(k as f32).sqrt()], vec![]);
        let mut scores = Vec::with_capacity(2);
        let mut values = Vec::with_capacity(2);
        for u in [p.as_str(), q] {
            let a = g.linear(&format!("{prefix}.h2"), &self.h2, u);
            let b = g.linear(&format!("{prefix}.h3"), &self.h3, u);
            let ab = g.op("Mul", &[&a, &b], vec![]);
            let s = g.sum(&ab, 1, true);
            scores.push(g.op("Div", &[&s, &root], vec![]));
            values.push(g.linear(&format!("{prefix}.h1"), &self.h1, u));
        }
        let scores = g.concat(&scores, 1);
        let w = g.softmax(&scores, 1); // [batch, 2]
        let values = g.stack_rows(&values); // [batch, 2, k]
        g.mix(&w, &values)
    }
}

/// AITM's calibrator on one transition: (1/N) Σ_i max(σ(later_i) − σ(earlier_i), 0), from the
/// two steps' joint logits. Shape `[1]`.
///
/// # Shapes
/// - earlier, later: `[batch, 1]`
pub fn calibrator_penalty(earlier: Tensor<2>, later: Tensor<2>) -> Tensor<1> {
    let b = later.dims()[0];
    relu(sigmoid(later) - sigmoid(earlier)).reshape([b]).mean()
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn device() -> Device {
        Device::ndarray()
    }

    fn tensor(rows: &[&[f32]]) -> Tensor<2> {
        let (b, k) = (rows.len(), rows[0].len());
        Tensor::from_data(TensorData::new(rows.concat(), [b, k]), &device())
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn shapes_of_the_transfer_and_attention() {
        let unit = AitConfig { d: 5, dropout: 0.0 }.init(&device());
        let z = unit.forward(Tensor::ones([3, 5], &device()), Tensor::zeros([3, 5], &device()));
        assert_eq!(z.dims(), [3, 5]);
    }

    /// The attention by hand: with h_1 = h_2 = h_3 = identity, k = 2, p = (1, 1) and q = (2, 0)
    /// score ⟨u, u⟩/√2: 2/√2 = √2 for p, 4/√2 = 2√2 for q, so w_q = σ(2√2 − √2) = σ(√2) and
    /// z = w_p·p + w_q·q.
    #[test]
    fn the_attention_by_hand() {
        let mut unit = AitConfig { d: 2, dropout: 0.0 }.init(&device());
        let eye = || tensor(&[&[1.0, 0.0], &[0.0, 1.0]]);
        for h in [&mut unit.h1, &mut unit.h2, &mut unit.h3] {
            h.weight = burn::module::Param::from_tensor(eye());
        }
        let z = values(unit.attend(tensor(&[&[1.0, 1.0]]), tensor(&[&[2.0, 0.0]])));
        let w_q = 1.0 / (1.0 + (-(2f64).sqrt()).exp());
        let want = [(1.0 - w_q) + 2.0 * w_q, 1.0 - w_q];
        for (g, w) in z.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-6, "{z:?} vs {want:?}");
        }
    }

    /// The transfer unit is ReLU(W z + b) before the attention: with W = 0 and b = (−1, 3),
    /// p = (0, 3) whatever z is.
    #[test]
    fn the_transfer_is_a_relu_layer() {
        let mut unit = AitConfig { d: 2, dropout: 0.0 }.init(&device());
        unit.transfer.weight = burn::module::Param::from_tensor(Tensor::zeros([2, 2], &device()));
        unit.transfer.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![-1.0f32, 3.0], [2]),
            &device(),
        )));
        let q = tensor(&[&[0.5, -2.0]]);
        let got = values(unit.forward(tensor(&[&[7.0, -7.0]]), q.clone()));
        let want = values(unit.attend(tensor(&[&[0.0, 3.0]]), q));
        assert_eq!(got, want);
    }

    /// max(σ(later) − σ(earlier), 0) averaged by hand: rows (earlier, later) = (0, ln 3)
    /// → 0.75 − 0.5 = 0.25, (ln 3, 0) → 0, (0, 0) → 0, (−ln 3, ln 3) → 0.75 − 0.25 = 0.5;
    /// mean 0.1875.
    #[test]
    fn the_calibrator_penalty_by_hand() {
        let ln3 = 3f32.ln();
        let earlier = tensor(&[&[0.0], &[ln3], &[0.0], &[-ln3]]);
        let later = tensor(&[&[ln3], &[0.0], &[0.0], &[ln3]]);
        let got = calibrator_penalty(earlier, later).into_scalar::<f32>();
        assert!((got - 0.1875).abs() < 1e-6, "{got}");
    }
}
