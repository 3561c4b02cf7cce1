//! Seeded train/valid/test split.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::MultiTaskDataset;
use crate::error::DataError;

/// Fractions of the samples that go to train, valid and test; they must sum to 1. Also the
/// `[data.split]` section of a config (defaults 0.8 / 0.1 / 0.1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitFractions {
    /// Fraction for training. Default 0.8.
    pub train: f64,
    /// Fraction for validation (model selection). Default 0.1.
    pub valid: f64,
    /// Fraction for the final test. Default 0.1.
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self { train: 0.8, valid: 0.1, test: 0.1 }
    }
}

/// The three splits of one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// Training samples.
    pub train: MultiTaskDataset,
    /// Validation samples.
    pub valid: MultiTaskDataset,
    /// Test samples.
    pub test: MultiTaskDataset,
}

impl SplitFractions {
    /// Check the fractions: each in [0, 1], train > 0, sum 1 (within 1e-6).
    pub fn validate(&self) -> Result<(), DataError> {
        for (key, v) in [("train", self.train), ("valid", self.valid), ("test", self.test)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(DataError::InvalidSetting {
                    key: format!("data.split.{key}"),
                    message: format!("{v} is not a fraction; use a value in [0, 1]"),
                });
            }
        }
        if self.train <= 0.0 {
            return Err(DataError::InvalidSetting {
                key: "data.split.train".into(),
                message: "the training fraction must be above 0".into(),
            });
        }
        let sum = self.train + self.valid + self.test;
        if (sum - 1.0).abs() > 1e-6 {
            return Err(DataError::InvalidSetting {
                key: "data.split".into(),
                message: format!("train + valid + test = {sum}; make them sum to 1"),
            });
        }
        Ok(())
    }

    /// Shuffle the sample indices with `seed` and cut them by the fractions. Rounding goes to
    /// valid and test first (floor), train takes the rest.
    pub fn split(&self, data: &MultiTaskDataset, seed: u64) -> Result<Splits, DataError> {
        let [train, valid, test] = self.indices(data.len(), seed)?;
        Ok(Splits { train: data.select(&train), valid: data.select(&valid), test: data.select(&test) })
    }

    /// The row indices of train, valid and test among `n` rows, as [`split`](Self::split)
    /// cuts them.
    pub fn indices(&self, n: usize, seed: u64) -> Result<[Vec<usize>; 3], DataError> {
        self.validate()?;
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let n_valid = (self.valid * n as f64).floor() as usize;
        let n_test = (self.test * n as f64).floor() as usize;
        let n_train = n - n_valid - n_test;
        if n_train == 0 {
            return Err(DataError::InvalidSetting {
                key: "data.split.train".into(),
                message: format!("no training sample left out of {n}; add samples"),
            });
        }
        let test = idx.split_off(n_train + n_valid);
        let valid = idx.split_off(n_train);
        Ok([idx, valid, test])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{TaskKind, TaskSpec};

    fn counting(n: usize) -> MultiTaskDataset {
        MultiTaskDataset {
            features: (0..n).map(|i| i as f32).collect(),
            num_features: 1,
            ids: Vec::new(),
            num_ids: 0,
            tasks: vec![TaskSpec { name: "a".into(), kind: TaskKind::Regression }],
            targets: vec![(0..n).map(|i| i as f32).collect()],
            masks: vec![vec![1.0; n]],
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        }
    }

    #[test]
    fn split_is_a_seeded_partition() {
        let f = SplitFractions { train: 0.8, valid: 0.1, test: 0.1 };
        let s = f.split(&counting(100), 7).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (80, 10, 10));
        let mut all: Vec<f32> =
            [&s.train, &s.valid, &s.test].iter().flat_map(|d| d.features.clone()).collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..100).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(f.split(&counting(100), 7).unwrap(), s, "same seed, same split");
        assert_ne!(f.split(&counting(100), 8).unwrap().train, s.train);
        // targets follow their rows
        assert_eq!(s.train.features, s.train.targets[0]);
    }

    #[test]
    fn fractions_must_sum_to_one() {
        let f = SplitFractions { train: 0.8, valid: 0.3, test: 0.1 };
        let err = f.validate().unwrap_err().to_string();
        assert!(err.contains("data.split") && err.contains("sum to 1"), "{err}");
    }
}
