//! Pieces shared by the mixture-of-experts architectures: the gates' input (a stem, so that a
//! gate never reads raw flattened pixels or category codes), softmax gates and expert mixing.

use burn::module::Module;
use burn::nn::activation::Activation;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::softmax;

use crate::Input;
use crate::graph::{Attr, Graph, GraphInput};
use burn::tensor::{Device, Tensor};

use crate::ActivationKind;
use crate::encoder::{Encoder, EncoderConfig, Mlp, Tabular, TabularConfig};

/// Side of the pooled map of the conv stem: its output is `channels × 4 × 4`.
const STEM_POOL: usize = 4;

/// What the gates read, decided by the encoder: MLP encoders' gates read the input row itself;
/// a CNN's read a small conv stem (conv 3×3 → the encoder's activation → adaptive average
/// pool to 4×4); a tabular
/// encoder's read their own embeddings of the categorical columns next to the numeric ones.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StemConfig {
    /// The input row as it is.
    Identity {
        /// Its width.
        d_input: usize,
    },
    /// A conv stem on images.
    Conv {
        /// Image shape `[C, H, W]`.
        input_shape: [usize; 3],
        /// Output channels of the stem conv.
        channels: usize,
        /// Activation after the conv (the encoder's).
        activation: ActivationKind,
    },
    /// Embeddings of the categorical columns.
    Embed(TabularConfig),
}

impl StemConfig {
    /// The stem that suits `encoder`, with `channels` for a conv stem.
    pub fn for_encoder(encoder: &EncoderConfig, channels: usize) -> Self {
        match encoder {
            EncoderConfig::Mlp(c) => StemConfig::Identity { d_input: c.d_input },
            EncoderConfig::Cnn(c) => {
                StemConfig::Conv { input_shape: c.input_shape, channels, activation: c.activation }
            }
            EncoderConfig::Tabular(c) => StemConfig::Embed(TabularConfig { hidden: vec![], ..c.clone() }),
        }
    }

    /// Width of the gates' input.
    pub fn d_output(&self) -> usize {
        match self {
            StemConfig::Identity { d_input } => *d_input,
            StemConfig::Conv { channels, .. } => channels * STEM_POOL * STEM_POOL,
            StemConfig::Embed(c) => c.d_embedded(),
        }
    }

    /// Whether the stem has parameters (and so belongs to the shared part of the network).
    pub fn is_learned(&self) -> bool {
        !matches!(self, StemConfig::Identity { .. })
    }

    /// Build on `device`; `None` for the identity.
    pub fn init(&self, device: &Device) -> Option<Stem> {
        match self {
            StemConfig::Identity { .. } => None,
            StemConfig::Conv { input_shape, channels, activation } => Some(Stem::Conv(ConvStem {
                conv: Conv2dConfig::new([input_shape[0], *channels], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
                pool: AdaptiveAvgPool2dConfig::new([STEM_POOL, STEM_POOL]).init(),
                activation: activation.init(device),
                input_shape: *input_shape,
            })),
            StemConfig::Embed(c) => Some(Stem::Embed(c.init(device))),
        }
    }
}

/// A conv stem for image gates.
#[derive(Module, Debug)]
pub struct ConvStem {
    conv: Conv2d,
    pool: AdaptiveAvgPool2d,
    activation: Activation,
    #[module(skip)]
    input_shape: [usize; 3],
}

/// A built, learned stem.
#[derive(Module, Debug)]
pub enum Stem {
    /// Conv stem.
    Conv(ConvStem),
    /// Embedding stage of a tabular encoder.
    Embed(Tabular),
}

impl Stem {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_stem]`
    pub fn forward(&self, x: &Input) -> Tensor<2> {
        match self {
            Stem::Conv(s) => {
                let x = x.dense.clone();
                let batch = x.dims()[0];
                let [c, h, w] = s.input_shape;
                let y = s.pool.forward(s.activation.forward(s.conv.forward(x.reshape([batch, c, h, w]))));
                let [_, c, h, w] = y.dims(); // [batch, channels, 4, 4]
                y.reshape([batch, c * h * w])
            }
            Stem::Embed(t) => t.embed(x),
        }
    }
}

/// The stem's output, or the input's dense rows themselves when there is no stem.
pub fn gate_features(stem: Option<&Stem>, x: &Input) -> Tensor<2> {
    match stem {
        Some(s) => s.forward(x),
        None => x.dense.clone(),
    }
}

/// A softmax gate over `experts` experts reading `d_input` features.
pub fn gate_layer(d_input: usize, experts: usize, device: &Device) -> Linear {
    LinearConfig::new(d_input, experts).init(device)
}

/// Softmax of the gate's logits.
///
/// # Shapes
/// - input: `[batch, d_gate]`
/// - output: `[batch, experts]`, rows summing to 1
pub fn softmax_gate(gate: &Linear, features: Tensor<2>) -> Tensor<2> {
    softmax(gate.forward(features), 1)
}

/// Run every expert on `x` and stack the outputs.
///
/// # Shapes
/// - output: `[batch, experts, d_expert]`
pub fn run_experts(experts: &[Encoder], x: &Input) -> Tensor<3> {
    let layers = match experts.first() {
        Some(Encoder::Mlp(m)) => m.num_layers(),
        _ => 0,
    };
    if let Some(y) = batched_mlp_experts(experts, 0..layers, x) {
        return y;
    }
    Tensor::stack(experts.iter().map(|e| e.forward(x.clone())).collect(), 1)
}

/// Run blocks `blocks` of every expert on `x` and stack the outputs. MLP experts run as one
/// product per layer (see [`batched_mlp_experts`]); other encoders one expert at a time.
///
/// # Shapes
/// - output: `[batch, experts, width of the last block]`
pub fn run_experts_blocks(experts: &[Encoder], blocks: &std::ops::Range<usize>, x: &Input) -> Tensor<3> {
    if let Some(y) = batched_mlp_experts(experts, blocks.clone(), x) {
        return y;
    }
    Tensor::stack(experts.iter().map(|e| e.forward_blocks(blocks.clone(), x.clone())).collect(), 1)
}

/// Layers `layers` of E MLP experts (same shapes) reading the same input: the first layer as
/// one product instead of E, `x` times the experts' weights side by side (`[d_in, E·h]`); the
/// later layers, whose inputs differ per expert, one by one. The parameters stay the experts'
/// own (stacked for the product, so each gets its gradient), so checkpoints are unchanged. Without dropout the outputs equal the experts' one by one (to f32
/// rounding: tested); with dropout, one mask is drawn per layer for all experts, which has the
/// same distribution as E masks but other values than the one-by-one order drew. `None` when the experts are not all MLPs of one
/// shape, or there are fewer than two.
pub fn batched_mlp_experts(
    experts: &[Encoder],
    layers: std::ops::Range<usize>,
    x: &Input,
) -> Option<Tensor<3>> {
    let x = &x.dense;
    let mlps: Vec<&Mlp> = (experts.iter())
        .map(|e| match e {
            Encoder::Mlp(m) => Some(m),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let first = *mlps.first()?;
    let same_shape = |i: usize| {
        let shape = first.layer(i).weight.dims();
        mlps.iter().all(|m| m.layer(i).weight.dims() == shape && m.layer(i).bias.is_some())
    };
    if mlps.len() < 2 || layers.is_empty() || !layers.clone().all(same_shape) {
        return None;
    }
    let (e, batch) = (mlps.len(), x.dims()[0]);
    let weights = |i: usize| Tensor::stack::<3>(mlps.iter().map(|m| m.layer(i).weight.val()).collect(), 0);
    let biases = |i: usize| {
        let b: Vec<Tensor<1>> =
            mlps.iter().map(|m| m.layer(i).bias.as_ref().expect("checked").val()).collect();
        Tensor::stack::<2>(b, 0) // [E, h]
    };
    let mut layers = layers;
    let i = layers.next().expect("checked: not empty");
    let [d_in, h] = first.layer(i).weight.dims();
    // [d_in, E·h]: expert k's columns are block k.
    let side_by_side = weights(i).swap_dims(0, 1).reshape([d_in, e * h]);
    let y = x.clone().matmul(side_by_side) + biases(i).reshape([1, e * h]);
    let y = first.activate(y.reshape([batch, e, h]).swap_dims(0, 1)); // [E, batch, h]
    let layers: Vec<usize> = layers.collect();
    if layers.is_empty() {
        return Some(y.swap_dims(0, 1)); // [batch, E, h]
    }
    // Later layers read a different input per expert: each expert's own 2-D product (flex runs
    // a batched 3-D product of these shapes 1.7× slower than the 2-D ones, BENCHMARKS.md).
    let outputs = (0..e)
        .map(|k| {
            let mut h = y.clone().narrow(0, k, 1).reshape([batch, first.layer(layers[0]).weight.dims()[0]]);
            for &i in &layers {
                h = mlps[k].forward_layer(i, h);
            }
            h
        })
        .collect();
    Some(Tensor::stack(outputs, 1)) // [batch, E, h]
}

/// Σ_i w_i · e_i per row.
///
/// # Shapes
/// - weights: `[batch, experts]`, experts: `[batch, experts, d]`
/// - output: `[batch, d]`
pub fn mix(weights: Tensor<2>, experts: Tensor<3>) -> Tensor<2> {
    let [batch, _, d] = experts.dims();
    weights.unsqueeze_dim::<3>(1).matmul(experts).reshape([batch, d]) // [batch, 1, d] → [batch, d]
}

/// Experts shared by every task and the gates' stem: the shared part of MMoE and DSelect-k.
/// `z` packs the stacked expert outputs, then the stem's features when the stem is learned.
#[derive(Module, Debug)]
pub struct SharedExperts {
    experts: Vec<Encoder>,
    stem: Option<Stem>,
    #[module(skip)]
    d_expert: usize,
}

impl SharedExperts {
    /// `count` copies of `expert` and the stem `stem`, on `device`.
    pub fn new(expert: &EncoderConfig, count: usize, stem: &StemConfig, device: &Device) -> Self {
        Self {
            experts: (0..count).map(|_| expert.init(device)).collect(),
            stem: stem.init(device),
            d_expert: expert.d_output(),
        }
    }

    /// Number of experts.
    pub fn count(&self) -> usize {
        self.experts.len()
    }

    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, E·d_expert (+ d_stem)]`
    pub fn shared(&self, x: Input) -> Tensor<2> {
        let stem = self.stem.as_ref().map(|s| s.forward(&x));
        pack(run_experts(&self.experts, &x), stem)
    }

    /// The stacked experts `[batch, E, d_expert]` and the gates' features, read from `z`.
    pub fn unpack(&self, x: &Input, z: Tensor<2>) -> (Tensor<3>, Tensor<2>) {
        unpack(z, self.experts.len(), self.d_expert, self.stem.is_some(), x)
    }

    /// The gates' features computed from the input.
    pub fn features(&self, x: &Input) -> Tensor<2> {
        gate_features(self.stem.as_ref(), x)
    }
}

/// Flatten stacked experts to rows and append the (learned) gate features: the shared
/// representation `z` of the gated architectures.
///
/// # Shapes
/// - experts: `[batch, experts, d]`, stem: `[batch, d_stem]`
/// - output: `[batch, experts·d (+ d_stem)]`
fn pack(experts: Tensor<3>, stem: Option<Tensor<2>>) -> Tensor<2> {
    let [batch, e, d] = experts.dims();
    let flat = experts.reshape([batch, e * d]);
    match stem {
        Some(s) => Tensor::cat(vec![flat, s], 1),
        None => flat,
    }
}

/// Inverse of `pack`: the stacked experts and the gate features (the stem's part of `z`,
/// or `x` when the stem is the identity).
pub fn unpack(
    z: Tensor<2>,
    experts: usize,
    d: usize,
    learned_stem: bool,
    x: &Input,
) -> (Tensor<3>, Tensor<2>) {
    let [batch, width] = z.dims();
    let stacked = z.clone().narrow(1, 0, experts * d).reshape([batch, experts, d]);
    let features = if learned_stem { z.narrow(1, experts * d, width - experts * d) } else { x.dense.clone() };
    (stacked, features)
}

impl Stem {
    /// The stem into `g` (see [`Stem::forward`]), the module named `prefix`.
    pub fn trace(&self, g: &mut Graph, prefix: &str, x: &GraphInput) -> String {
        match self {
            Stem::Conv(s) => {
                let [c, h, w] = s.input_shape;
                let image = g.reshape(&x.dense, &[-1, c as i64, h as i64, w as i64]);
                // `Same` padding of the 3×3 conv: one pixel on every side.
                let y = crate::encoder::trace_conv(g, &format!("{prefix}.conv"), &s.conv, &image, 1);
                let y = g.activation(&s.activation, &y);
                // Adaptive average pooling: output cell i averages rows ⌊i·H/4⌋ .. ⌈(i+1)·H/4⌉.
                let window = |i: usize, n: usize| (i * n / STEM_POOL, ((i + 1) * n).div_ceil(STEM_POOL));
                let mut cells = Vec::with_capacity(STEM_POOL * STEM_POOL);
                for i in 0..STEM_POOL {
                    for j in 0..STEM_POOL {
                        let ((r0, r1), (c0, c1)) = (window(i, h), window(j, w));
                        let rows = g.narrow(&y, 2, r0, r1 - r0);
                        let cell = g.narrow(&rows, 3, c0, c1 - c0);
                        // Opset 17's ReduceMean takes its axes as an attribute (ReduceSum as an input).
                        let attrs = vec![("axes", Attr::Ints(vec![2, 3])), ("keepdims", Attr::Int(0))];
                        cells.push(g.op("ReduceMean", &[&cell], attrs));
                    }
                }
                // [batch, channels] per cell → [batch, channels, 16] → channel-major rows.
                let stacked: Vec<String> = cells.iter().map(|c| g.unsqueeze(c, 2)).collect();
                let y = g.concat(&stacked, 2);
                let channels = s.conv.weight.dims()[0];
                g.reshape(&y, &[-1, (channels * STEM_POOL * STEM_POOL) as i64])
            }
            Stem::Embed(t) => t.trace_embed(g, prefix, x),
        }
    }
}

/// The gates' features into `g` (see [`gate_features`]).
pub fn trace_gate_features(g: &mut Graph, stem: Option<&Stem>, prefix: &str, x: &GraphInput) -> String {
    match stem {
        Some(s) => s.trace(g, &format!("{prefix}.stem"), x),
        None => x.dense.clone(),
    }
}

/// A softmax gate named `prefix` into `g`.
pub fn trace_softmax_gate(g: &mut Graph, prefix: &str, gate: &Linear, features: &str) -> String {
    let logits = g.linear(prefix, gate, features);
    g.softmax(&logits, 1)
}

/// Blocks `blocks` of every expert (`prefix.K`) into `g`, stacked: `[batch, E, d]`.
pub fn trace_experts(
    g: &mut Graph,
    prefix: &str,
    experts: &[Encoder],
    blocks: std::ops::Range<usize>,
    x: &GraphInput,
) -> String {
    let rows: Vec<String> = (experts.iter().enumerate())
        .map(|(k, e)| e.trace_blocks(g, &format!("{prefix}.{k}"), blocks.clone(), x))
        .collect();
    g.stack_rows(&rows)
}

impl SharedExperts {
    /// Every task's mixture into `g`, with `gate(g, t, features)` giving task t's weights: the
    /// module named `prefix`.
    pub fn trace(
        &self,
        g: &mut Graph,
        prefix: &str,
        x: &GraphInput,
        tasks: usize,
        mut gate: impl FnMut(&mut Graph, usize, &str) -> String,
    ) -> Vec<String> {
        let blocks = self.experts.first().map_or(0, Encoder::num_blocks);
        let experts = trace_experts(g, &format!("{prefix}.experts"), &self.experts, 0..blocks, x);
        let features = trace_gate_features(g, self.stem.as_ref(), prefix, x);
        (0..tasks)
            .map(|t| {
                let w = gate(g, t, &features);
                g.mix(&w, &experts)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_the_weighted_sum_of_experts() {
        let device = Device::ndarray();
        // Two rows, two experts of width 2.
        let experts = Tensor::<3>::from_floats([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]], &device);
        let w = Tensor::<2>::from_floats([[0.25, 0.75], [0.5, 0.5]], &device);
        let y = mix(w, experts).into_data().to_vec::<f32>().unwrap();
        assert_eq!(y, vec![2.5, 3.5, 0.5, 0.5]);
    }

    /// The experts one by one, as before they were batched.
    fn one_by_one(experts: &[Encoder], blocks: std::ops::Range<usize>, x: &Input) -> Tensor<3> {
        Tensor::stack(experts.iter().map(|e| e.forward_blocks(blocks.clone(), x.clone())).collect(), 1)
    }

    #[test]
    fn batched_mlp_experts_equal_the_experts_one_by_one() {
        use crate::encoder::MlpConfig;
        let device = Device::ndarray();
        let cfg = EncoderConfig::Mlp(MlpConfig {
            d_input: 7,
            hidden: vec![5, 4, 3],
            activation: ActivationKind::Relu,
            dropout: 0.0,
        });
        device.seed(3);
        let experts: Vec<Encoder> = (0..4).map(|_| cfg.init(&device)).collect();
        let x: Input =
            Tensor::<2>::random([6, 7], burn::tensor::Distribution::Normal(0.0, 1.0), &device).into();
        for blocks in [0..3, 0..1, 1..3] {
            let input = if blocks.start == 0 {
                x.clone()
            } else {
                experts[0].forward_blocks(0..blocks.start, x.clone()).into()
            };
            let batched = batched_mlp_experts(&experts, blocks.clone(), &input).expect("MLP experts batch");
            let want = one_by_one(&experts, blocks.clone(), &input);
            assert_eq!(batched.dims(), want.dims());
            batched
                .into_data()
                .assert_approx_eq::<f32>(&want.into_data(), burn::tensor::Tolerance::absolute(1e-6));
        }
        run_experts(&experts, &x).into_data().assert_approx_eq::<f32>(
            &one_by_one(&experts, 0..3, &x).into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn experts_of_other_encoders_or_shapes_run_one_by_one() {
        use crate::encoder::MlpConfig;
        let device = Device::ndarray();
        let mlp = |hidden: Vec<usize>| {
            EncoderConfig::Mlp(MlpConfig {
                d_input: 3,
                hidden,
                activation: ActivationKind::Relu,
                dropout: 0.0,
            })
        };
        let x: Input = Tensor::<2>::ones([2, 3], &device).into();
        let single = vec![mlp(vec![2]).init(&device)];
        assert!(batched_mlp_experts(&single, 0..1, &x).is_none());
        let identity: Vec<Encoder> = (0..2).map(|_| mlp(vec![]).init(&device)).collect();
        assert!(batched_mlp_experts(&identity, 0..0, &x).is_none());
        assert_eq!(run_experts(&identity, &x).dims(), [2, 2, 3]);
    }

    #[test]
    fn pack_and_unpack_are_inverse() {
        let device = Device::ndarray();
        let experts = Tensor::<3>::random([2, 3, 4], burn::tensor::Distribution::Default, &device);
        let stem = Tensor::<2>::random([2, 5], burn::tensor::Distribution::Default, &device);
        let x: Input = Tensor::<2>::zeros([2, 7], &device).into();
        let (e, f) = unpack(pack(experts.clone(), Some(stem.clone())), 3, 4, true, &x);
        e.into_data().assert_eq(&experts.into_data(), true);
        f.into_data().assert_eq(&stem.into_data(), true);
    }

    #[test]
    fn conv_stem_output_width() {
        let device = Device::ndarray();
        let cfg =
            StemConfig::Conv { input_shape: [1, 10, 10], channels: 3, activation: ActivationKind::Relu };
        let stem = cfg.init(&device).unwrap();
        assert_eq!(stem.forward(&Tensor::zeros([2, 100], &device).into()).dims(), [2, cfg.d_output()]);
        assert_eq!(cfg.d_output(), 48);
    }
}
