//! Convolutional encoder: a stack of conv → activation → max-pool stages, then fully connected
//! layers. The default shape is the LeNet of the MultiMNIST literature (Sener & Koltun,
//! "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018, appendix): conv 1→10
//! k5, pool 2, conv 10→20 k5, pool 2, FC → 50.
//!
//! Inputs arrive as flat feature rows (`[batch, C·H·W]`, row-major like a PyTorch image) and
//! are reshaped to `[batch, C, H, W]` inside, so images travel through the same data pipeline
//! as tables.

use burn::module::{Module, ParamId};
use burn::nn::activation::Activation;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::{Device, Tensor};

use crate::activation::ActivationKind;
use crate::encoder::{Mlp, MlpConfig};
use crate::graph::{Attr, Graph};
use crate::params::param_ids;

/// Configuration of a [`Cnn`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CnnConfig {
    /// Image shape `[channels, height, width]`; the input width is their product.
    pub input_shape: [usize; 3],
    /// Output channels of each conv stage.
    pub channels: Vec<usize>,
    /// Square kernel size of every conv (no padding, stride 1).
    pub kernel_size: usize,
    /// Square max-pool window (and stride) after every conv; 1 = no pooling.
    pub pool: usize,
    /// Fully connected layers after the flattened conv output.
    pub hidden: Vec<usize>,
    /// Activation after every conv and fully connected layer.
    pub activation: ActivationKind,
    /// Dropout after every fully connected layer.
    pub dropout: f64,
}

impl CnnConfig {
    /// The MultiMNIST LeNet on `input_shape` images.
    pub fn lenet(input_shape: [usize; 3]) -> Self {
        Self {
            input_shape,
            channels: vec![10, 20],
            kernel_size: 5,
            pool: 2,
            hidden: vec![50],
            activation: ActivationKind::Relu,
            dropout: 0.0,
        }
    }

    /// Width of the flat input, C·H·W.
    pub fn d_input(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Shape `[C, H, W]` entering each conv stage, then the shape after the last one; an error
    /// names the stage whose input is smaller than the kernel or the pool.
    pub fn stage_shapes(&self) -> Result<Vec<[usize; 3]>, String> {
        let mut shape = self.input_shape;
        let mut shapes = vec![shape];
        for (i, &c) in self.channels.iter().enumerate() {
            let [_, h, w] = shape;
            if h < self.kernel_size || w < self.kernel_size {
                return Err(format!(
                    "conv stage {} gets a {h}×{w} map, smaller than kernel_size {}; use fewer channels \
                     stages, a smaller kernel or less pooling",
                    i + 1,
                    self.kernel_size
                ));
            }
            let (h, w) = (h - self.kernel_size + 1, w - self.kernel_size + 1);
            if h < self.pool || w < self.pool {
                return Err(format!(
                    "pool {} does not fit the {h}×{w} map after conv stage {}",
                    self.pool,
                    i + 1
                ));
            }
            shape = [c, h / self.pool, w / self.pool];
            shapes.push(shape);
        }
        Ok(shapes)
    }

    fn conv_output_width(&self) -> usize {
        let shapes = self.stage_shapes().expect("CnnConfig validated before init");
        shapes.last().expect("at least the input shape").iter().product()
    }

    fn fc(&self) -> MlpConfig {
        MlpConfig {
            d_input: self.conv_output_width(),
            hidden: self.hidden.clone(),
            activation: self.activation,
            dropout: self.dropout,
        }
    }

    /// Width of the output representation.
    pub fn d_output(&self) -> usize {
        self.fc().d_output()
    }

    /// Number of blocks: the conv stages, then the fully connected layers.
    pub fn num_blocks(&self) -> usize {
        self.channels.len() + self.hidden.len()
    }

    /// Flat output width of block `i`.
    pub fn block_width(&self, i: usize) -> usize {
        let shapes = self.stage_shapes().expect("CnnConfig validated before init");
        if i < self.channels.len() {
            shapes[i + 1].iter().product()
        } else {
            self.hidden[i - self.channels.len()]
        }
    }

    /// Build with fresh weights on `device`.
    ///
    /// # Panics
    /// If the stages do not fit the image (see [`CnnConfig::stage_shapes`]).
    pub fn init(&self, device: &Device) -> Cnn {
        let shapes = self.stage_shapes().expect("CnnConfig validated before init");
        let convs = self
            .channels
            .iter()
            .zip(&shapes)
            .map(|(&c_out, s)| Conv2dConfig::new([s[0], c_out], [self.kernel_size; 2]).init(device))
            .collect();
        Cnn {
            convs,
            pool: MaxPool2dConfig::new([self.pool; 2]).init(),
            activation: self.activation.init(device),
            fc: self.fc().init(device),
            shapes,
        }
    }
}

/// Conv stages then fully connected layers.
#[derive(Module, Debug)]
pub struct Cnn {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    activation: Activation,
    fc: Mlp,
    /// `[C, H, W]` entering each stage, then after the last.
    #[module(skip)]
    shapes: Vec<[usize; 3]>,
}

impl Cnn {
    /// # Shapes
    /// - input: `[batch, C·H·W]`
    /// - output: `[batch, d_output]`
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for i in 0..self.num_blocks() {
            x = self.forward_block(i, x);
        }
        x
    }

    /// Number of blocks (conv stages, then fully connected layers).
    pub fn num_blocks(&self) -> usize {
        self.convs.len() + self.fc.num_layers()
    }

    /// Ids of block `i`'s parameters.
    pub fn block_param_ids(&self, i: usize) -> Vec<ParamId> {
        match self.convs.get(i) {
            Some(conv) => param_ids(conv),
            None => param_ids(self.fc.layer(i - self.convs.len())),
        }
    }

    /// Block `i` on flat rows: a conv stage reshapes to its image shape and flattens again.
    ///
    /// # Shapes
    /// - input: `[batch, width of block i − 1]`
    /// - output: `[batch, width of block i]`
    pub fn forward_block(&self, i: usize, x: Tensor<2>) -> Tensor<2> {
        let Some(conv) = self.convs.get(i) else {
            return self.fc.forward_layer(i - self.convs.len(), x);
        };
        let batch = x.dims()[0];
        let [c, h, w] = self.shapes[i];
        let image = x.reshape([batch, c, h, w]); // [batch, C, H, W]
        let y = self.pool.forward(self.activation.forward(conv.forward(image)));
        let [c, h, w] = self.shapes[i + 1];
        y.reshape([batch, c * h * w]) // [batch, C'·H'·W']
    }
}

impl Cnn {
    /// Block `i` into `g` (see [`Self::forward_block`]), the module named `prefix`.
    pub fn trace_block(&self, g: &mut Graph, prefix: &str, i: usize, x: String) -> String {
        let Some(conv) = self.convs.get(i) else {
            let layer = i - self.convs.len();
            return self.fc.trace_layers(g, &format!("{prefix}.fc"), layer..layer + 1, x);
        };
        let [c, h, w] = self.shapes[i];
        let image = g.reshape(&x, &[-1, c as i64, h as i64, w as i64]);
        let y = trace_conv(g, &format!("{prefix}.convs.{i}"), conv, &image, 0);
        let y = g.activation(&self.activation, &y);
        let k = self.pool.kernel_size.map(|k| k as i64).to_vec();
        let y =
            g.op("MaxPool", &[&y], vec![("kernel_shape", Attr::Ints(k.clone())), ("strides", Attr::Ints(k))]);
        let [c, h, w] = self.shapes[i + 1];
        g.reshape(&y, &[-1, (c * h * w) as i64])
    }
}

/// A Burn `Conv2d` named `prefix` (stride 1, `pad` zeros on every side) on `x` `[batch, C, H, W]`.
pub fn trace_conv(g: &mut Graph, prefix: &str, conv: &Conv2d, x: &str, pad: i64) -> String {
    let w = g.param(&format!("{prefix}.weight"), conv.weight.val());
    let mut inputs = vec![x.to_string(), w];
    if let Some(b) = &conv.bias {
        inputs.push(g.param(&format!("{prefix}.bias"), b.val()));
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    g.op("Conv", &refs, vec![("pads", Attr::Ints(vec![pad; 4]))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parameter_count;

    #[test]
    fn lenet_on_28x28_has_the_published_shapes_and_parameter_count() {
        let cfg = CnnConfig::lenet([1, 28, 28]);
        // 28 → conv5 → 24 → pool → 12 → conv5 → 8 → pool → 4: 20·4·4 = 320 features.
        assert_eq!(cfg.stage_shapes().unwrap(), vec![[1, 28, 28], [10, 12, 12], [20, 4, 4]]);
        let device = Device::ndarray();
        let cnn = cfg.init(&device);
        let y = cnn.forward(Tensor::zeros([3, 784], &device));
        assert_eq!(y.dims(), [3, 50]);
        // conv1 1·10·25 + 10, conv2 10·20·25 + 20, fc 320·50 + 50.
        assert_eq!(parameter_count(&cnn), (250 + 10) + (5000 + 20) + (16000 + 50));
        assert_eq!((0..3).map(|i| cfg.block_width(i)).collect::<Vec<_>>(), vec![1440, 320, 50]);
    }

    #[test]
    fn blocks_compose_to_the_forward_pass() {
        let device = Device::ndarray();
        let cfg = CnnConfig { hidden: vec![7], ..CnnConfig::lenet([2, 16, 16]) };
        let cnn = cfg.init(&device);
        let x = Tensor::<2>::random([2, 512], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let mut h = x.clone();
        for i in 0..cnn.num_blocks() {
            h = cnn.forward_block(i, h);
            assert_eq!(h.dims(), [2, cfg.block_width(i)]);
        }
        h.into_data().assert_approx_eq::<f32>(&cnn.forward(x).into_data(), Default::default());
    }

    #[test]
    fn a_kernel_larger_than_the_map_is_refused() {
        let cfg = CnnConfig { channels: vec![4, 4, 4], ..CnnConfig::lenet([1, 12, 12]) };
        let e = cfg.stage_shapes().unwrap_err();
        assert!(e.contains("conv stage 2"), "{e}");
    }

    #[test]
    fn a_hand_set_convolution_sums_its_window() {
        // One 1→1 conv, kernel 2 of ones, bias 0, no pool: each output is its 2×2 window's sum.
        let device = Device::ndarray();
        let cfg = CnnConfig {
            input_shape: [1, 3, 3],
            channels: vec![1],
            kernel_size: 2,
            pool: 1,
            hidden: vec![],
            activation: ActivationKind::Identity,
            dropout: 0.0,
        };
        let mut cnn = cfg.init(&device);
        let conv = &mut cnn.convs[0];
        conv.weight = burn::module::Param::from_tensor(Tensor::ones([1, 1, 2, 2], &device));
        conv.bias = conv.bias.take().map(|_| burn::module::Param::from_tensor(Tensor::zeros([1], &device)));
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]], &device);
        let y = cnn.forward(x).into_data().to_vec::<f32>().unwrap();
        assert_eq!(y, vec![12.0, 16.0, 24.0, 28.0]);
    }
}
