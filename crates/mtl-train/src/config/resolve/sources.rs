//! `[data]`: the split fractions, the data source and the task sampling of multi-input mode.

use std::path::PathBuf;

use mtl_data::funnel::Funnel;
use mtl_data::table::{Preprocessing, TableConfig};
use mtl_data::{MultiMnistConfig, Sampling, SplitFractions, SyntheticConfig};

use crate::config::ConfigError;
use crate::config::check::Check;
use crate::config::data::{CsvSource, DataSource};
use crate::config::schema::{DataSourceKind, FileConfig, SamplingName};

/// `[data.split]`, with a validation split unless every training file has its own.
pub(super) fn resolve_split(check: Check, file: &FileConfig) -> Result<SplitFractions, ConfigError> {
    let split = file.data.split;
    split.validate().map_err(|e| check.data(e))?;
    // A csv source whose every training file has its own validation file needs no fraction.
    let valid_files = file.data.source == DataSourceKind::Csv
        && (file.data.csv.valid.is_some()
            || file.tasks.iter().all(|t| t.files.as_ref().is_some_and(|f| f.valid.is_some())));
    check.ensure(split.valid > 0.0 || valid_files, "data.split.valid", || {
        "model selection needs a validation split; use a fraction above 0".into()
    })?;
    Ok(split)
}

/// The data source of `data.source`; `table` is the resolved CSV source, when it is one.
pub(super) fn resolve_source(
    check: Check,
    file: &FileConfig,
    table: Option<(TableConfig, Preprocessing)>,
) -> Result<DataSource, ConfigError> {
    match file.data.source {
        DataSourceKind::Synthetic => {
            let s = &file.data.synthetic;
            let synthetic = SyntheticConfig {
                samples: s.samples,
                features: s.features,
                correlation: s.correlation,
                scale: s.scale,
                sin_terms: s.sin_terms,
                noise_std: s.noise_std,
                seed: s.seed.unwrap_or(file.run.seed),
                categorical_features: s.categorical_features,
                categories: s.categories,
                task_groups: s.task_groups.clone(),
                group_conflict: s.group_conflict,
                id_features: s.id_features,
                id_cardinality: s.id_cardinality,
                multi_hot_features: s.multi_hot_features,
                multi_hot_max_len: s.multi_hot_max_len,
                funnel: s.funnel.as_ref().map(|f| Funnel {
                    click_rate: f.click_rate,
                    conversion_rate: f.conversion_rate,
                    confounding: f.confounding,
                }),
            };
            synthetic.validate(file.tasks.len()).map_err(|e| check.data(e))?;
            Ok(DataSource::Synthetic(synthetic))
        }
        DataSourceKind::MultiMnist => {
            let m = &file.data.multi_mnist;
            let dir = m.dir.as_ref().map_or_else(DataSource::default_dir, PathBuf::from);
            Ok(DataSource::MultiMnist(MultiMnistConfig {
                left_dir: dir.join(&m.left),
                right_dir: dir.join(&m.right),
                seed: m.seed.unwrap_or(file.run.seed),
            }))
        }
        DataSourceKind::Csv => {
            let (table, prep) = table.expect("resolved for a csv source");
            Ok(DataSource::Csv(Box::new(CsvSource { table, prep })))
        }
    }
}

/// `data.sampling`, which applies to multi-input mode only.
pub(super) fn resolve_sampling(
    check: Check,
    file: &FileConfig,
    data: &DataSource,
) -> Result<Sampling, ConfigError> {
    let temperature = file.data.temperature;
    let sampling = match file.data.sampling {
        SamplingName::Proportional => Sampling::Proportional,
        SamplingName::Uniform => Sampling::Uniform,
        SamplingName::Temperature => {
            check.ensure(temperature > 0.0 && temperature.is_finite(), "data.temperature", || {
                format!("{temperature}; use a value above 0")
            })?;
            Sampling::Temperature(temperature)
        }
    };
    check.ensure(sampling == Sampling::Proportional || data.multi_input(), "data.sampling", || {
        "task sampling applies to multi-input mode (each task with its own `files`); remove it".into()
    })?;
    Ok(sampling)
}
