//! Tabular encoder: embedding tables for the id columns, concatenated with the numeric
//! columns, then an MLP — the input layer of the recommender models (DeepCTR, torch-rechub).
//!
//! An *embedding field* reads one id column (a categorical feature) or a run of id columns (a
//! multi-hot / sequence feature: a list of ids padded with 0 to its maximum length), and looks
//! them up in one *table*. Several fields may share a table (a user id in two columns, an item
//! id and a history of item ids). A multi-hot field pools its ids' vectors, by the mean over
//! its non-padding ids or by their sum (DeepCTR's `VarLenSparseFeat` with `combiner` mean/sum);
//! a list without ids gives the zero vector. Id 0 of a scalar field is the learned "unknown or
//! missing" row; in a multi-hot field it is padding and left out of the pool.
//!
//! The encoder reads the numeric columns from the input's dense rows and the ids from its
//! integer id columns ([`Input::ids`]): ids are never rounded through an f32, so a table may
//! hold up to [`MAX_TABLE_IDS`] ids. The data layer checks them; ids outside the table are
//! clamped to its ends so that a stray value can never index out of bounds on a device.

use burn::module::{Module, ParamId};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::activation::ActivationKind;
use crate::encoder::{Mlp, MlpConfig};
use crate::graph::{Attr, Graph, GraphInput};
use crate::params::param_ids;

/// How a multi-hot field turns its ids' vectors into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean over the non-padding ids (DeepCTR `combiner="mean"`).
    #[default]
    Mean,
    /// Sum over the ids (`combiner="sum"`).
    Sum,
}

/// The most ids an embedding table may have: ids are 32-bit signed integers on GPU backends.
pub const MAX_TABLE_IDS: usize = 1 << 31;

/// One embedding field: the id columns `start..start + len` of the input's id columns, looked
/// up in table `table`; a multi-hot field pools them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmbeddingField {
    /// First id column.
    pub start: usize,
    /// Number of columns (1 for a categorical feature, the maximum list length for a multi-hot one).
    pub len: usize,
    /// The table it looks up.
    pub table: usize,
    /// Multi-hot: pool the columns' vectors (id 0 = padding); else one id, 0 = unknown.
    pub multi_hot: bool,
    /// How a multi-hot field pools.
    pub pooling: Pooling,
}

/// One embedding table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EmbeddingTable {
    /// Number of ids, 0 (unknown / padding) included.
    pub cardinality: usize,
    /// Width of each vector.
    pub dim: usize,
}

/// Configuration of a [`Tabular`] encoder.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TabularConfig {
    /// Width of the dense rows: the numeric columns.
    pub d_input: usize,
    /// The embedding fields, tiling the id columns in order.
    pub fields: Vec<EmbeddingField>,
    /// The embedding tables the fields look up.
    pub tables: Vec<EmbeddingTable>,
    /// Hidden layers of the MLP after the concatenation.
    pub hidden: Vec<usize>,
    /// Activation of the MLP.
    pub activation: ActivationKind,
    /// Dropout of the MLP.
    pub dropout: f64,
}

/// One field and one table per id column: `cardinalities[k]` ids and `embedding_dims[k]`-wide
/// vectors for id column k.
pub fn fields_per_column(
    cardinalities: &[usize],
    embedding_dims: &[usize],
) -> Result<(Vec<EmbeddingField>, Vec<EmbeddingTable>), String> {
    let k = cardinalities.len();
    if embedding_dims.len() != k {
        return Err(format!(
            "{k} categorical columns but {} embedding sizes; give one per column",
            embedding_dims.len()
        ));
    }
    let fields = (0..k)
        .map(|table| EmbeddingField { start: table, len: 1, table, multi_hot: false, pooling: Pooling::Mean })
        .collect();
    let tables = (cardinalities.iter().zip(embedding_dims))
        .map(|(&cardinality, &dim)| EmbeddingTable { cardinality, dim })
        .collect();
    Ok((fields, tables))
}

impl TabularConfig {
    /// Check the fields against each other and the tables.
    pub fn validate(&self) -> Result<(), String> {
        let mut next = 0;
        for f in &self.fields {
            if f.start != next {
                return Err(format!(
                    "the embedding field at id column {} does not follow the one before (next id column {next})",
                    f.start
                ));
            }
            if f.len == 0 || (!f.multi_hot && f.len != 1) {
                return Err(format!(
                    "the embedding field at id column {} has {} columns; a categorical field has one, a multi-hot field at least one",
                    f.start, f.len
                ));
            }
            next += f.len;
            if f.table >= self.tables.len() {
                return Err(format!(
                    "the field at column {} names table {} of {}",
                    f.start,
                    f.table,
                    self.tables.len()
                ));
            }
        }
        if self.tables.iter().any(|t| t.cardinality == 0 || t.dim == 0) {
            return Err("cardinalities and embedding sizes must be at least 1".into());
        }
        if let Some(t) = self.tables.iter().find(|t| t.cardinality > MAX_TABLE_IDS) {
            return Err(format!(
                "an embedding table of {} ids is larger than the {MAX_TABLE_IDS} ids a table may hold",
                t.cardinality
            ));
        }
        Ok(())
    }

    /// The number of ids each id column may hold, in id column order (for the data layer's
    /// checks).
    pub fn id_cardinalities(&self) -> Vec<usize> {
        (self.fields.iter())
            .flat_map(|f| std::iter::repeat_n(self.tables[f.table].cardinality, f.len))
            .collect()
    }

    /// Number of id columns.
    pub fn d_ids(&self) -> usize {
        self.fields.iter().map(|f| f.len).sum()
    }

    /// Width after embedding and concatenation: numeric columns plus one vector per field.
    pub fn d_embedded(&self) -> usize {
        self.d_input + self.fields.iter().map(|f| self.tables[f.table].dim).sum::<usize>()
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
        let f = &self.fields;
        Tabular {
            embeddings: (self.tables.iter())
                .map(|t| EmbeddingConfig::new(t.cardinality, t.dim).init(device))
                .collect(),
            mlp: self.mlp().init(device),
            field_start: f.iter().map(|f| f.start).collect(),
            field_len: f.iter().map(|f| f.len).collect(),
            field_table: f.iter().map(|f| f.table).collect(),
            field_pool: f
                .iter()
                .map(|f| usize::from(f.multi_hot) * (1 + usize::from(f.pooling == Pooling::Sum)))
                .collect(),
            d_numeric: self.d_input,
        }
    }
}

/// Embeddings of the id columns, concatenated with the numeric ones, then an MLP.
#[derive(Module, Debug)]
pub struct Tabular {
    embeddings: Vec<Embedding>,
    mlp: Mlp,
    #[module(skip)]
    field_start: Vec<usize>,
    #[module(skip)]
    field_len: Vec<usize>,
    #[module(skip)]
    field_table: Vec<usize>,
    /// 0: one id; 1: multi-hot, mean; 2: multi-hot, sum.
    #[module(skip)]
    field_pool: Vec<usize>,
    #[module(skip)]
    d_numeric: usize,
}

impl Tabular {
    /// # Shapes
    /// - input: dense `[batch, d_input]`, ids `[batch, d_ids]`
    /// - output: `[batch, d_output]`
    pub fn forward(&self, x: Input) -> Tensor<2> {
        let mut h = self.embed(&x);
        for i in 0..self.mlp.num_layers() {
            h = self.mlp.forward_layer(i, h);
        }
        h
    }

    /// Number of blocks: the embedding stage, then the MLP layers.
    pub fn num_blocks(&self) -> usize {
        1 + self.mlp.num_layers()
    }

    /// Ids of block `i`'s parameters.
    pub fn block_param_ids(&self, i: usize) -> Vec<ParamId> {
        if i == 0 { param_ids(&self.embeddings) } else { param_ids(self.mlp.layer(i - 1)) }
    }

    /// Block 0 embeds and concatenates (reading the input); block i > 0 is MLP layer i − 1
    /// (reading the dense output of the block before).
    pub fn forward_block(&self, i: usize, x: Input) -> Tensor<2> {
        if i == 0 { self.embed(&x) } else { self.mlp.forward_layer(i - 1, x.dense) }
    }

    /// The embedding stage alone.
    ///
    /// # Shapes
    /// - input: dense `[batch, d_input]`, ids `[batch, d_ids]`
    /// - output: `[batch, d_input + Σ embedding sizes]`
    ///
    /// # Panics
    /// When the encoder has embedding fields and `x` carries no id columns (the data layer
    /// always gives them to a tabular model).
    pub fn embed(&self, x: &Input) -> Tensor<2> {
        let batch = x.batch_size();
        let mut parts = Vec::with_capacity(self.field_start.len() + 1);
        if self.d_numeric > 0 {
            parts.push(x.dense.clone()); // [batch, numeric]
        }
        if self.field_start.is_empty() {
            return Tensor::cat(parts, 1);
        }
        let all_ids =
            x.ids.as_ref().expect("a tabular encoder with embedding fields reads the input's id columns");
        for (k, &start) in self.field_start.iter().enumerate() {
            let (len, table) = (self.field_len[k], &self.embeddings[self.field_table[k]]);
            let [n, d] = table.weight.dims();
            let ids = all_ids.clone().narrow(1, start, len).clamp(0, (n - 1) as i64); // [batch, len]
            let vectors = table.forward(ids.clone()); // [batch, len, d]
            parts.push(match self.field_pool[k] {
                0 => vectors.reshape([batch, d]),
                pool => {
                    let present = ids.greater_elem(0).float(); // [batch, len]
                    let summed =
                        (vectors * present.clone().unsqueeze_dim::<3>(2)).sum_dim(1).reshape([batch, d]);
                    if pool == 2 { summed } else { summed / present.sum_dim(1).clamp_min(1.0) }
                }
            });
        }
        Tensor::cat(parts, 1)
    }

    /// Block `i` into `g` (see [`Self::forward_block`]), the module named `prefix`.
    pub fn trace_block(&self, g: &mut Graph, prefix: &str, i: usize, x: &GraphInput) -> String {
        if i == 0 {
            self.trace_embed(g, prefix, x)
        } else {
            self.mlp.trace_layers(g, &format!("{prefix}.mlp"), i - 1..i, x.dense.clone())
        }
    }

    /// The embedding stage into `g` (see [`Self::embed`]).
    pub fn trace_embed(&self, g: &mut Graph, prefix: &str, x: &GraphInput) -> String {
        let mut parts = Vec::with_capacity(self.field_start.len() + 1);
        if self.d_numeric > 0 {
            parts.push(x.dense.clone());
        }
        for (k, &start) in self.field_start.iter().enumerate() {
            let all = x.ids.as_ref().expect("a tabular graph has an id input");
            let (len, t) = (self.field_len[k], self.field_table[k]);
            let [n, d] = self.embeddings[t].weight.dims();
            let table = format!("{prefix}.embeddings.{t}.weight");
            g.param(&table, self.embeddings[t].weight.val());
            let ids = g.narrow(all, 1, start, len);
            let (lo, hi) = (g.scalar_int(0), g.scalar_int((n - 1) as i64));
            let ids = g.op("Clip", &[&ids, &lo, &hi], vec![]);
            let vectors = g.op("Gather", &[&table, &ids], vec![("axis", Attr::Int(0))]); // [batch, len, d]
            parts.push(match self.field_pool[k] {
                0 => g.reshape(&vectors, &[-1, d as i64]),
                pool => {
                    let zero = g.scalar_int(0);
                    let present = g.op("Greater", &[&ids, &zero], vec![]);
                    let present = g.op("Cast", &[&present], vec![("to", Attr::Int(1))]); // float
                    let weights = g.unsqueeze(&present, 2);
                    let weighted = g.op("Mul", &[&vectors, &weights], vec![]);
                    let summed = g.sum(&weighted, 1, false);
                    if pool == 2 {
                        summed
                    } else {
                        let count = g.sum(&present, 1, true);
                        let one = g.floats(vec![1.0], vec![]);
                        let count = g.op("Max", &[&count, &one], vec![]);
                        g.op("Div", &[&summed, &count], vec![])
                    }
                }
            });
        }
        g.concat(&parts, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parameter_count;
    use burn::tensor::Int;

    fn config() -> TabularConfig {
        let (fields, tables) = fields_per_column(&[3, 5], &[2, 4]).unwrap();
        TabularConfig {
            d_input: 2,
            fields,
            tables,
            hidden: vec![6],
            activation: ActivationKind::Relu,
            dropout: 0.0,
        }
    }

    fn input<const N: usize, const M: usize, const B: usize>(
        dense: [[f32; N]; B],
        ids: [[i32; M]; B],
        device: &Device,
    ) -> Input {
        Input::new(Tensor::from_floats(dense, device), Some(Tensor::<2, Int>::from_ints(ids, device)))
    }

    #[test]
    fn embedding_stage_places_numeric_columns_then_each_columns_vector() {
        let device = Device::ndarray();
        let enc = config().init(&device);
        let x = input([[0.5, -1.5], [1.0, 2.0]], [[2, 4], [0, 1]], &device);
        let e = enc.embed(&x).into_data().to_vec::<f32>().unwrap();
        let table = |k: usize| enc.embeddings[k].weight.val().into_data().to_vec::<f32>().unwrap();
        let (t0, t1) = (table(0), table(1));
        // Row 0: numeric 0.5, −1.5; id column 0 holds 2 → row 2 of table 0; id column 1 holds 4.
        let mut want = vec![0.5, -1.5];
        want.extend_from_slice(&t0[4..6]);
        want.extend_from_slice(&t1[16..20]);
        // Row 1: numeric 1, 2; ids 0 and 1.
        want.extend_from_slice(&[1.0, 2.0]);
        want.extend_from_slice(&t0[0..2]);
        want.extend_from_slice(&t1[4..8]);
        assert_eq!(e, want);
    }

    #[test]
    fn ids_beyond_two_to_the_24_stay_distinct() {
        // 2^24 and 2^24 + 1 are the same f32: as f32 codes both would read row 2^24.
        let device = Device::ndarray();
        let big = (1 << 24) + 2;
        assert_eq!((1 << 24) as f32, ((1 << 24) + 1) as f32, "the f32 codes collide");
        let cfg = TabularConfig {
            d_input: 0,
            fields: fields_per_column(&[big], &[1]).unwrap().0,
            tables: vec![EmbeddingTable { cardinality: big, dim: 1 }],
            hidden: vec![],
            activation: ActivationKind::Relu,
            dropout: 0.0,
        };
        cfg.validate().unwrap();
        let enc = cfg.init(&device);
        let ids = Tensor::<2, Int>::from_ints([[1 << 24], [(1 << 24) + 1]], &device);
        let e = enc
            .embed(&Input::new(Tensor::zeros([2, 0], &device), Some(ids)))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let w = enc.embeddings[0].weight.val().into_data().to_vec::<f32>().unwrap();
        assert_eq!(e, vec![w[1 << 24], w[(1 << 24) + 1]]);
        assert_ne!(e[0], e[1]);
    }

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::ndarray();
        let cfg = config();
        let enc = cfg.init(&device);
        let x = Input::new(Tensor::zeros([5, 2], &device), Some(Tensor::zeros([5, 2], &device)));
        assert_eq!(enc.forward(x).dims(), [5, 6]);
        // Tables 3·2 + 5·4, MLP (2 + 2 + 4 = 8) → 6.
        assert_eq!(cfg.d_embedded(), 8);
        assert_eq!((cfg.d_ids(), cfg.id_cardinalities()), (2, vec![3, 5]));
        assert_eq!(parameter_count(&enc), 6 + 20 + (8 * 6 + 6));
    }

    #[test]
    fn out_of_range_ids_are_clamped_not_a_crash() {
        let device = Device::ndarray();
        let enc = config().init(&device);
        let y = enc.embed(&input([[0.0, 0.0]], [[7, -3]], &device)).into_data().to_vec::<f32>().unwrap();
        let t0 = enc.embeddings[0].weight.val().into_data().to_vec::<f32>().unwrap();
        let t1 = enc.embeddings[1].weight.val().into_data().to_vec::<f32>().unwrap();
        assert_eq!(&y[2..4], &t0[4..6]);
        assert_eq!(&y[4..8], &t1[0..4]);
    }

    #[test]
    fn mismatched_lists_are_refused() {
        assert!(fields_per_column(&[3, 5], &[2]).unwrap_err().contains("2 categorical columns"));
        let (mut fields, tables) = fields_per_column(&[3, 5], &[2, 4]).unwrap();
        fields[1].start = 2;
        let cfg = TabularConfig { fields, tables, ..config() };
        assert!(cfg.validate().unwrap_err().contains("does not follow"));
        let (mut fields, tables) = fields_per_column(&[3, 5], &[2, 4]).unwrap();
        fields[0].len = 2;
        let cfg = TabularConfig { fields, tables, ..config() };
        assert!(cfg.validate().unwrap_err().contains("a categorical field has one"));
        let (fields, _) = fields_per_column(&[3], &[2]).unwrap();
        let tables = vec![EmbeddingTable { cardinality: MAX_TABLE_IDS + 1, dim: 1 }];
        let cfg = TabularConfig { fields, tables, ..config() };
        assert!(cfg.validate().unwrap_err().contains("larger than"));
    }

    /// Id columns 0–2: a multi-hot field of length 3 over table 0; id column 3: a categorical
    /// field sharing table 0; one numeric column.
    fn bag(pooling: Pooling) -> TabularConfig {
        TabularConfig {
            d_input: 1,
            fields: vec![
                EmbeddingField { start: 0, len: 3, table: 0, multi_hot: true, pooling },
                EmbeddingField { start: 3, len: 1, table: 0, multi_hot: false, pooling: Pooling::Mean },
            ],
            tables: vec![EmbeddingTable { cardinality: 6, dim: 2 }],
            hidden: vec![3],
            activation: ActivationKind::Relu,
            dropout: 0.0,
        }
    }

    #[test]
    fn multi_hot_fields_pool_their_ids_and_skip_the_padding() {
        let device = Device::ndarray();
        for pooling in [Pooling::Mean, Pooling::Sum] {
            let cfg = bag(pooling);
            cfg.validate().unwrap();
            assert_eq!(cfg.d_embedded(), 1 + 2 + 2);
            let enc = cfg.init(&device);
            assert_eq!(enc.embeddings.len(), 1, "one shared table");
            // Row 0: ids 2, 5 and padding; categorical id 5; numeric 0.25. Row 1: an empty list.
            let x = input([[0.25], [-1.0]], [[2, 5, 0, 5], [0, 0, 0, 1]], &device);
            let e = enc.embed(&x).into_data().to_vec::<f32>().unwrap();
            let w = enc.embeddings[0].weight.val().into_data().to_vec::<f32>().unwrap();
            let row = |i: usize| [w[2 * i], w[2 * i + 1]];
            let div = if pooling == Pooling::Mean { 2.0 } else { 1.0 };
            let pooled = [(row(2)[0] + row(5)[0]) / div, (row(2)[1] + row(5)[1]) / div];
            let want =
                [0.25, pooled[0], pooled[1], row(5)[0], row(5)[1], -1.0, 0.0, 0.0, row(1)[0], row(1)[1]];
            for (a, b) in e.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{pooling:?}: {e:?} vs {want:?}");
            }
        }
    }
}
