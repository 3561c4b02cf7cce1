//! Where a run's samples come from (`data.source`), and how they become the three splits.

use std::path::PathBuf;

use mtl_data::{DataError, MultiMnistConfig, SplitFractions, Splits, SyntheticConfig, TaskSpec};

/// The validated data source of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The embedded generator, split by `data.split`.
    Synthetic(SyntheticConfig),
    /// MultiMNIST-style overlays: the IDX training files give train and valid (`data.split.valid`
    /// of them, seeded), the `t10k` files the test split.
    MultiMnist(MultiMnistConfig),
}

impl DataSource {
    /// Width of the input rows.
    pub fn d_input(&self) -> usize {
        match self {
            DataSource::Synthetic(s) => s.features,
            DataSource::MultiMnist(_) => 28 * 28,
        }
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
        }
    }
}
