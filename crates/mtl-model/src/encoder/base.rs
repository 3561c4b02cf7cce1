//! The encoder enum pair. Every encoder is a sequence of blocks on flat rows (`[batch, width]`),
//! so that architectures can mix (cross-stitch) or gate (PLE) between blocks whatever the
//! encoder is.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::graph::{Graph, GraphInput};
use crate::params::param_ids;

/// Calls `$callback! { … }` with the table of encoders: one `Variant, name, ConfigType,
/// ModuleType, "doc";` per encoder, in the order of the [`Encoder`] enum (which checkpoints
/// record). Adding an encoder: its file, a line here, the arms of the encoder-specific methods
/// below, its `[model.encoder]` settings in the trainer, a README row and its tests.
#[macro_export]
macro_rules! encoders {
    ($callback:ident) => {
        $callback! {
            Mlp, mlp, $crate::encoder::MlpConfig, $crate::encoder::Mlp, "Fully connected layers.";
            Cnn, cnn, $crate::encoder::CnnConfig, $crate::encoder::Cnn, "Conv/pool stages then fully connected layers, on images given as flat rows.";
            Tabular, tabular, $crate::encoder::TabularConfig, $crate::encoder::Tabular, "Categorical embeddings concatenated with numeric columns, then an MLP.";
        }
    };
}

macro_rules! define_encoders {
    ($($variant:ident, $name:ident, $config:ty, $module:ty, $doc:literal;)*) => {
        /// Which encoder to build (`[model.encoder] kind`).
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EncoderConfig {
            $(#[doc = $doc] $variant($config),)*
        }

        /// A built encoder.
        // Built once per expert and moved rarely; boxing would only add an indirection per forward.
        #[allow(clippy::large_enum_variant)]
        #[derive(Module, Debug)]
        pub enum Encoder {
            $(#[doc = $doc] $variant($module),)*
        }

        impl EncoderConfig {
            /// Every config name (`[model.encoder] kind`), in table order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// Build with fresh weights on `device`.
            pub fn init(&self, device: &Device) -> Encoder {
                match self {
                    $(Self::$variant(c) => Encoder::$variant(c.init(device)),)*
                }
            }

            /// Width of the last block's output.
            pub fn d_output(&self) -> usize {
                match self {
                    $(Self::$variant(c) => c.d_output(),)*
                }
            }

            /// Config name (`[model.encoder] kind`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($name),)*
                }
            }
        }
    };
}

encoders!(define_encoders);

impl EncoderConfig {
    /// Its dropout rate (0 when it has none).
    pub fn dropout(&self) -> f64 {
        match self {
            EncoderConfig::Mlp(c) => c.dropout,
            EncoderConfig::Cnn(c) => c.dropout,
            EncoderConfig::Tabular(c) => c.dropout,
        }
    }

    /// Width of the input rows.
    pub fn d_input(&self) -> usize {
        match self {
            EncoderConfig::Mlp(c) => c.d_input,
            EncoderConfig::Cnn(c) => c.d_input(),
            EncoderConfig::Tabular(c) => c.d_input,
        }
    }

    /// Number of blocks (layers, conv stages, the embedding stage).
    pub fn num_blocks(&self) -> usize {
        match self {
            EncoderConfig::Mlp(c) => c.hidden.len(),
            EncoderConfig::Cnn(c) => c.num_blocks(),
            EncoderConfig::Tabular(c) => c.num_blocks(),
        }
    }

    /// Flat output width of block `i`.
    pub fn block_width(&self, i: usize) -> usize {
        match self {
            EncoderConfig::Mlp(c) => c.layer_width(i),
            EncoderConfig::Cnn(c) => c.block_width(i),
            EncoderConfig::Tabular(c) => c.block_width(i),
        }
    }

    /// The same encoder with other fully connected layers (experts narrower than the
    /// shared-bottom encoder, `[model.experts] hidden`).
    pub fn with_hidden(&self, hidden: Vec<usize>) -> Self {
        let mut c = self.clone();
        match &mut c {
            EncoderConfig::Mlp(m) => m.hidden = hidden,
            EncoderConfig::Cnn(m) => m.hidden = hidden,
            EncoderConfig::Tabular(m) => m.hidden = hidden,
        }
        c
    }
}

impl Encoder {
    /// # Shapes
    /// - input: `[batch, d_input]` dense rows (and a tabular encoder's id columns)
    /// - output: `[batch, d_output]`
    pub fn forward(&self, x: Input) -> Tensor<2> {
        match self {
            Encoder::Mlp(e) => e.forward(x.dense),
            Encoder::Cnn(e) => e.forward(x.dense),
            Encoder::Tabular(e) => e.forward(x),
        }
    }

    /// Blocks `range` in order: `x` is the network input when the range starts at block 0,
    /// else the dense output of the block before.
    ///
    /// # Shapes
    /// - input: `[batch, width before block range.start]`
    /// - output: `[batch, width of block range.end − 1]`
    pub fn forward_blocks(&self, range: std::ops::Range<usize>, mut x: Input) -> Tensor<2> {
        for i in range {
            x = Input::from(match self {
                Encoder::Mlp(e) => e.forward_layer(i, x.dense),
                Encoder::Cnn(e) => e.forward_block(i, x.dense),
                Encoder::Tabular(e) => e.forward_block(i, x),
            });
        }
        x.dense
    }

    /// Blocks `range` into `g` (see [`crate::graph`]), the module named `prefix`: the trace of
    /// [`Self::forward_blocks`].
    pub fn trace_blocks(
        &self,
        g: &mut Graph,
        prefix: &str,
        range: std::ops::Range<usize>,
        x: &GraphInput,
    ) -> String {
        let mut h = x.clone();
        for i in range {
            h = GraphInput::hidden(match self {
                Encoder::Mlp(e) => e.trace_layers(g, prefix, i..i + 1, h.dense),
                Encoder::Cnn(e) => e.trace_block(g, prefix, i, h.dense),
                Encoder::Tabular(e) => e.trace_block(g, prefix, i, &h),
            });
        }
        h.dense
    }

    /// Number of blocks.
    pub fn num_blocks(&self) -> usize {
        match self {
            Encoder::Mlp(e) => e.num_layers(),
            Encoder::Cnn(e) => e.num_blocks(),
            Encoder::Tabular(e) => e.num_blocks(),
        }
    }

    /// The whole encoder into `g`.
    pub fn trace(&self, g: &mut Graph, prefix: &str, x: &GraphInput) -> String {
        self.trace_blocks(g, prefix, 0..self.num_blocks(), x)
    }

    /// Ids of the parameters of blocks `range`.
    pub fn block_param_ids(&self, range: std::ops::Range<usize>) -> Vec<ParamId> {
        range
            .flat_map(|i| match self {
                Encoder::Mlp(e) => param_ids(e.layer(i)),
                Encoder::Cnn(e) => e.block_param_ids(i),
                Encoder::Tabular(e) => e.block_param_ids(i),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActivationKind;
    use crate::encoder::{CnnConfig, MlpConfig, TabularConfig};

    #[test]
    fn blocks_of_every_encoder_compose_to_its_forward() {
        let device = Device::ndarray();
        let configs = [
            EncoderConfig::Mlp(MlpConfig {
                d_input: 16,
                hidden: vec![5, 3],
                activation: ActivationKind::Tanh,
                dropout: 0.0,
            }),
            EncoderConfig::Cnn(CnnConfig {
                channels: vec![2],
                kernel_size: 3,
                hidden: vec![4],
                ..CnnConfig::lenet([1, 4, 4])
            }),
            EncoderConfig::Tabular(TabularConfig {
                d_input: 16,
                fields: crate::encoder::fields_per_column(&[3], &[2]).unwrap().0,
                tables: crate::encoder::fields_per_column(&[3], &[2]).unwrap().1,
                hidden: vec![4],
                activation: ActivationKind::Relu,
                dropout: 0.0,
            }),
        ];
        for cfg in configs {
            let enc = cfg.init(&device);
            let dense = Tensor::<2>::random([3, 16], burn::tensor::Distribution::Uniform(0.0, 2.0), &device);
            let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_ints([[0], [2], [1]], &device);
            let x = Input::new(dense, Some(ids));
            let n = cfg.num_blocks();
            let split = enc.forward_blocks(1..n, enc.forward_blocks(0..1, x.clone()).into());
            assert_eq!(split.dims(), [3, cfg.d_output()], "{}", cfg.name());
            assert_eq!(cfg.block_width(n - 1), cfg.d_output());
            split.into_data().assert_approx_eq::<f32>(&enc.forward(x).into_data(), Default::default());
            let mut by_block: Vec<_> = (0..n).flat_map(|i| enc.block_param_ids(i..i + 1)).collect();
            let mut all = param_ids(&enc);
            by_block.sort_by_key(|id| id.val());
            all.sort_by_key(|id| id.val());
            assert_eq!(by_block, all, "{}: every parameter belongs to exactly one block", cfg.name());
        }
    }
}
