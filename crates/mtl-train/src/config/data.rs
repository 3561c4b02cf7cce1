//! Where a run's samples come from (`data.source`), and how they become the three splits.

use std::path::PathBuf;

use mtl_data::table::{Preprocessing, TableConfig};
use mtl_data::{DataError, MultiMnistConfig, SplitFractions, Splits, SyntheticConfig, TaskSpec};

use super::schema::{EncoderKind, ModelSection};

/// The validated data source of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The embedded generator, split by `data.split`.
    Synthetic(SyntheticConfig),
    /// MultiMNIST-style overlays: the IDX training files give train and valid (`data.split.valid`
    /// of them, seeded), the `t10k` files the test split.
    MultiMnist(MultiMnistConfig),
    /// CSV tables with their preprocessing, fitted on the training split.
    Csv(Box<CsvSource>),
}

/// A CSV source: its settings and its fitted preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSource {
    /// Files, columns, labels.
    pub table: TableConfig,
    /// Vocabularies, scalers and class lists.
    pub prep: Preprocessing,
}

impl DataSource {
    /// Width of the dense input rows (a table source's numeric columns; its ids travel apart).
    pub fn d_input(&self) -> usize {
        match self {
            DataSource::Synthetic(s) => s.features,
            DataSource::MultiMnist(_) => 28 * 28,
            DataSource::Csv(c) => c.prep.numeric.len(),
        }
    }

    /// Whether each task brings its own samples (multi-input mode).
    pub fn multi_input(&self) -> bool {
        matches!(self, DataSource::Csv(c) if c.table.multi_input())
    }

    /// `[model]` with what the data decides filled in: a CSV source's categorical columns are
    /// the first feature columns, with the fitted vocabularies' sizes. Errors name the key.
    pub fn bind_model(&self, model: &ModelSection) -> Result<ModelSection, (String, String)> {
        let DataSource::Csv(c) = self else { return Ok(model.clone()) };
        let prep = &c.prep;
        let mut m = model.clone();
        let e = &mut m.encoder;
        if !e.categorical.is_empty() || !e.cardinalities.is_empty() {
            return Err((
                "model.encoder.categorical".into(),
                "a csv source sets the categorical columns and their sizes from `data.csv.categorical`; remove categorical and cardinalities here".into(),
            ));
        }
        if !prep.categorical.is_empty() || !prep.multi_hot.is_empty() {
            if e.kind != EncoderKind::tabular {
                return Err((
                    "model.encoder.kind".into(),
                    "the csv source has categorical or multi-hot columns; they need kind = \"tabular\" (embeddings)"
                        .into(),
                ));
            }
            e.categorical = (0..prep.categorical.len()).collect();
            e.cardinalities = prep.table_cardinalities();
            e.fields = prep.id_fields();
        }
        Ok(m)
    }

    /// The data folder named by `MTL_DATA_DIR`, else `../shared/data`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("MTL_DATA_DIR").map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from)
    }

    /// Load (or generate) the samples of `tasks` and split them with `seed`.
    pub fn splits(&self, tasks: &[TaskSpec], split: &SplitFractions, seed: u64) -> Result<Splits, DataError> {
        match self {
            DataSource::Synthetic(s) => split.split(&s.generate(tasks)?, seed),
            DataSource::MultiMnist(m) => {
                let (train, test) = m.load(tasks)?;
                let keep = SplitFractions { train: 1.0 - split.valid, valid: split.valid, test: 0.0 };
                let Splits { train, valid, .. } = keep.split(&train, seed)?;
                Ok(Splits { train, valid, test })
            }
            DataSource::Csv(c) => c.table.load(&c.prep, tasks, split, seed),
        }
    }
}
