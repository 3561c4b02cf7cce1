//! Tabular encoder: one embedding table per categorical column, concatenated with the numeric
//! columns, then an MLP — the input layer of the recommender models (DeepCTR, torch-rechub).
//!
//! Categorical values arrive as category codes 0, 1, …, cardinality − 1 stored in the float
//! feature row; the data layer checks them. Codes outside the table are clamped to its ends
//! so that a stray value can never index out of bounds on a device.

use burn::module::{Module, ParamId};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor};

use crate::activation::ActivationKind;
use crate::encoder::{Mlp, MlpConfig};
use crate::params::param_ids;

/// Configuration of a [`Tabular`] encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularConfig {
    /// Width of the input row (numeric and categorical columns together).
    pub d_input: usize,
    /// Indices of the categorical columns in the row, in increasing order.
    pub categorical: Vec<usize>,
    /// Number of categories of each categorical column.
    pub cardinalities: Vec<usize>,
    /// Embedding width of each categorical column.
    pub embedding_dims: Vec<usize>,
    /// Hidden layers of the MLP after the concatenation.
    pub hidden: Vec<usize>,
    /// Activation of the MLP.
    pub activation: ActivationKind,
    /// Dropout of the MLP.
    pub dropout: f64,
}

impl TabularConfig {
    /// Check the column lists against each other and the row width.
    pub fn validate(&self) -> Result<(), String> {
        let k = self.categorical.len();
        if self.cardinalities.len() != k || self.embedding_dims.len() != k {
            return Err(format!(
                "{k} categorical columns but {} cardinalities and {} embedding sizes; give one of each \
                 per column",
                self.cardinalities.len(),
                self.embedding_dims.len()
            ));
        }
        if self.categorical.windows(2).any(|w| w[0] >= w[1]) {
            return Err("categorical column indices must be increasing and distinct".into());
        }
        if let Some(&c) = self.categorical.iter().find(|&&c| c >= self.d_input) {
            return Err(format!("categorical column {c} is outside the {} input columns", self.d_input));
        }
        if self.cardinalities.contains(&0) || self.embedding_dims.contains(&0) {
            return Err("cardinalities and embedding sizes must be at least 1".into());
        }
        Ok(())
    }

    /// Width after embedding and concatenation: numeric columns plus the embedding sizes.
    pub fn d_embedded(&self) -> usize {
        self.d_input - self.categorical.len() + self.embedding_dims.iter().sum::<usize>()
    }

    fn mlp(&self) -> MlpConfig {
        MlpConfig {
            d_input: self.d_embedded(),
            hidden: self.hidden.clone(),
            activation: self.activation,
            dropout: self.dropout,
        }
    }

    /// Width of the output representation.
    pub fn d_output(&self) -> usize {
        self.mlp().d_output()
    }

    /// Number of blocks: the embedding stage, then the MLP layers.
    pub fn num_blocks(&self) -> usize {
        1 + self.hidden.len()
    }

    /// Output width of block `i`.
    pub fn block_width(&self, i: usize) -> usize {
        if i == 0 { self.d_embedded() } else { self.hidden[i - 1] }
    }

    /// Build with fresh weights on `device` (embeddings ~ N(0, 1), as `torch.nn.Embedding`).
    pub fn init(&self, device: &Device) -> Tabular {
        let numeric: Vec<i64> =
            (0..self.d_input).filter(|c| !self.categorical.contains(c)).map(|c| c as i64).collect();
        Tabular {
            embeddings: self
                .cardinalities
                .iter()
                .zip(&self.embedding_dims)
                .map(|(&n, &d)| EmbeddingConfig::new(n, d).init(device))
                .collect(),
            mlp: self.mlp().init(device),
            categorical: self.categorical.clone(),
            cardinalities: self.cardinalities.clone(),
            numeric,
        }
    }
}

/// Embeddings of the categorical columns, concatenated with the numeric ones, then an MLP.
#[derive(Module, Debug)]
pub struct Tabular {
    embeddings: Vec<Embedding>,
    mlp: Mlp,
    #[module(skip)]
    categorical: Vec<usize>,
    #[module(skip)]
    cardinalities: Vec<usize>,
    #[module(skip)]
    numeric: Vec<i64>,
}

impl Tabular {
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_output]`
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for i in 0..self.num_blocks() {
            x = self.forward_block(i, x);
        }
        x
    }

    /// Number of blocks: the embedding stage, then the MLP layers.
    pub fn num_blocks(&self) -> usize {
        1 + self.mlp.num_layers()
    }

    /// Ids of block `i`'s parameters.
    pub fn block_param_ids(&self, i: usize) -> Vec<ParamId> {
        if i == 0 { param_ids(&self.embeddings) } else { param_ids(self.mlp.layer(i - 1)) }
    }

    /// Block 0 embeds and concatenates; block i > 0 is MLP layer i − 1.
    pub fn forward_block(&self, i: usize, x: Tensor<2>) -> Tensor<2> {
        if i == 0 { self.embed(x) } else { self.mlp.forward_layer(i - 1, x) }
    }

    /// The embedding stage alone.
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, numeric + Σ embedding sizes]`
    pub fn embed(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let device = x.device();
        let mut parts = Vec::with_capacity(self.embeddings.len() + 1);
        if !self.numeric.is_empty() {
            let idx = Tensor::<1, Int>::from_ints(self.numeric.as_slice(), &device);
            parts.push(x.clone().select(1, idx)); // [batch, numeric]
        }
        for ((&col, &n), table) in self.categorical.iter().zip(&self.cardinalities).zip(&self.embeddings) {
            let codes = x.clone().narrow(1, col, 1).round().clamp(0.0, (n - 1) as f64).int(); // [batch, 1]
            let d = table.weight.dims()[1];
            parts.push(table.forward(codes).reshape([batch, d])); // [batch, d]
        }
        Tensor::cat(parts, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parameter_count;

    fn config() -> TabularConfig {
        TabularConfig {
            d_input: 4,
            categorical: vec![1, 3],
            cardinalities: vec![3, 5],
            embedding_dims: vec![2, 4],
            hidden: vec![6],
            activation: ActivationKind::Relu,
            dropout: 0.0,
        }
    }

    #[test]
    fn embedding_stage_places_numeric_columns_then_each_columns_vector() {
        let device = Device::ndarray();
        let enc = config().init(&device);
        let x = Tensor::<2>::from_floats([[0.5, 2.0, -1.5, 4.0], [1.0, 0.0, 2.0, 1.0]], &device);
        let e = enc.embed(x).into_data().to_vec::<f32>().unwrap();
        let table = |k: usize| enc.embeddings[k].weight.val().into_data().to_vec::<f32>().unwrap();
        let (t0, t1) = (table(0), table(1));
        // Row 0: numeric 0.5, −1.5; column 1 code 2 → row 2 of table 0; column 3 code 4 → row 4.
        let mut want = vec![0.5, -1.5];
        want.extend_from_slice(&t0[4..6]);
        want.extend_from_slice(&t1[16..20]);
        // Row 1: numeric 1, 2; codes 0 and 1.
        want.extend_from_slice(&[1.0, 2.0]);
        want.extend_from_slice(&t0[0..2]);
        want.extend_from_slice(&t1[4..8]);
        assert_eq!(e, want);
    }

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::ndarray();
        let cfg = config();
        let enc = cfg.init(&device);
        assert_eq!(enc.forward(Tensor::zeros([5, 4], &device)).dims(), [5, 6]);
        // Tables 3·2 + 5·4, MLP (2 + 2 + 4 = 8) → 6.
        assert_eq!(cfg.d_embedded(), 8);
        assert_eq!(parameter_count(&enc), 6 + 20 + (8 * 6 + 6));
    }

    #[test]
    fn out_of_range_codes_are_clamped_not_a_crash() {
        let device = Device::ndarray();
        let enc = config().init(&device);
        let x = Tensor::<2>::from_floats([[0.0, 7.0, 0.0, -3.0]], &device);
        let y = enc.embed(x).into_data().to_vec::<f32>().unwrap();
        let t0 = enc.embeddings[0].weight.val().into_data().to_vec::<f32>().unwrap();
        assert_eq!(&y[2..4], &t0[4..6]);
    }

    #[test]
    fn mismatched_lists_are_refused() {
        let cfg = TabularConfig { embedding_dims: vec![2], ..config() };
        assert!(cfg.validate().unwrap_err().contains("2 categorical columns"));
        let cfg = TabularConfig { categorical: vec![1, 9], ..config() };
        assert!(cfg.validate().unwrap_err().contains("column 9"));
    }
}
