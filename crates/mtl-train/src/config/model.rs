//! Validation of `[model]` into the model crate's configs.

use std::path::Path;

use mtl_data::table::PoolingKind;
use mtl_model::architecture::{
    CgcConfig, CrossStitchConfig, DselectKConfig, HpsConfig, MmoeConfig, OmoeConfig, PleConfig, StemConfig,
};
use mtl_model::encoder::{
    CnnConfig, EmbeddingField, EmbeddingTable, EncoderConfig, MlpConfig, Pooling, TabularConfig,
    fields_per_column,
};
use mtl_model::{ArchitectureConfig, Counterfactual, Estimator, MultiTaskModelConfig, Transfer};

use super::check::Check;
use crate::config::ConfigError;
use crate::config::TaskConfig;
use crate::config::schema::{
    ArchitectureName, ChainKind, ChainSection, EncoderKind, EncoderSection, MlpSection, ModelSection,
};

fn widths(check: Check, key: &str, widths: &[usize]) -> Result<(), ConfigError> {
    check.ensure(!widths.contains(&0), key, || "layer widths must be at least 1".into())
}

fn at_least_one(check: Check, key: &str, n: usize) -> Result<(), ConfigError> {
    check.ensure(n > 0, key, || "must be at least 1".into())
}

fn mlp(
    check: Check,
    section: &MlpSection,
    key: &str,
    default: &[usize],
    d_input: usize,
) -> Result<MlpConfig, ConfigError> {
    let hidden = section.hidden.clone().unwrap_or_else(|| default.to_vec());
    widths(check, &format!("{key}.hidden"), &hidden)?;
    check.unit(&format!("{key}.dropout"), section.dropout)?;
    Ok(MlpConfig { d_input, hidden, activation: section.activation, dropout: section.dropout })
}

fn encoder(check: Check, e: &EncoderSection, d_input: usize) -> Result<EncoderConfig, ConfigError> {
    let key = |k: &str| format!("model.encoder.{k}");
    let default_hidden: &[usize] = if e.kind == EncoderKind::cnn { &[50] } else { &[256, 256] };
    let hidden = e.hidden.clone().unwrap_or_else(|| default_hidden.to_vec());
    widths(check, &key("hidden"), &hidden)?;
    check.unit(&key("dropout"), e.dropout)?;
    check.ensure(
        e.kind == EncoderKind::cnn || (e.input_shape.is_none() && e.channels.is_none()),
        &key("kind"),
        || "input_shape and channels are CNN settings; set kind = \"cnn\"".into(),
    )?;
    check.ensure(
        e.kind == EncoderKind::tabular || (e.categorical.is_empty() && e.cardinalities.is_empty()),
        &key("kind"),
        || "categorical and cardinalities are tabular settings; set kind = \"tabular\"".into(),
    )?;
    Ok(match e.kind {
        EncoderKind::mlp => {
            EncoderConfig::Mlp(MlpConfig { d_input, hidden, activation: e.activation, dropout: e.dropout })
        }
        EncoderKind::cnn => EncoderConfig::Cnn(cnn(check, e, d_input, hidden)?),
        EncoderKind::tabular => {
            let (fields, tables) = tabular_fields(e).map_err(|m| check.invalid(&key("embedding_dims"), m))?;
            let d_input = if e.fields.is_empty() { code_columns(check, e, d_input)? } else { d_input };
            let tab = TabularConfig {
                d_input,
                fields,
                tables,
                hidden,
                activation: e.activation,
                dropout: e.dropout,
            };
            tab.validate().map_err(|m| check.invalid(&key("categorical"), m))?;
            EncoderConfig::Tabular(tab)
        }
    })
}

/// Check the feature columns `model.encoder.categorical` names as category codes among the
/// `d_input` features (loading moves them to the id columns); the width of the rest.
fn code_columns(check: Check, e: &EncoderSection, d_input: usize) -> Result<usize, ConfigError> {
    let key = "model.encoder.categorical";
    check.ensure(e.categorical.windows(2).all(|w| w[0] < w[1]), key, || {
        "categorical column indices must be increasing and distinct".into()
    })?;
    if let Some(&c) = e.categorical.iter().find(|&&c| c >= d_input) {
        return Err(
            check.invalid(key, format!("categorical column {c} is outside the {d_input} input columns"))
        );
    }
    Ok(d_input - e.categorical.len())
}

/// The tabular encoder's fields and tables: a csv source's (bound from its preprocessing,
/// `e.cardinalities` one per table), else one per `categorical` column.
fn tabular_fields(e: &EncoderSection) -> Result<(Vec<EmbeddingField>, Vec<EmbeddingTable>), String> {
    let tables = e.cardinalities.len();
    let dims = e.embedding_dims.clone().unwrap_or_else(|| vec![8; tables]);
    if e.fields.is_empty() {
        if e.categorical.len() != tables {
            return Err(format!(
                "{} categorical columns but {tables} cardinalities; give one per column",
                e.categorical.len()
            ));
        }
        return fields_per_column(&e.cardinalities, &dims);
    }
    if dims.len() != tables {
        return Err(format!(
            "{} embedding sizes for the csv source's {tables} embedding tables (one per categorical or multi-hot \
             column that shares no other's table); give one per table, or remove the key for 8 each",
            dims.len()
        ));
    }
    let pooling = |p: PoolingKind| match p {
        PoolingKind::Mean => Pooling::Mean,
        PoolingKind::Sum => Pooling::Sum,
    };
    let fields = (e.fields.iter())
        .map(|f| EmbeddingField {
            start: f.start,
            len: f.len,
            table: f.table,
            multi_hot: f.multi_hot,
            pooling: pooling(f.pooling),
        })
        .collect();
    let tables = (e.cardinalities.iter().zip(&dims))
        .map(|(&cardinality, &dim)| EmbeddingTable { cardinality, dim })
        .collect();
    Ok((fields, tables))
}

fn cnn(
    check: Check,
    e: &EncoderSection,
    d_input: usize,
    hidden: Vec<usize>,
) -> Result<CnnConfig, ConfigError> {
    let key = |k: &str| format!("model.encoder.{k}");
    let Some(input_shape) = e.input_shape else {
        return Err(check.invalid(
            &key("input_shape"),
            format!("a CNN needs the image shape [channels, height, width] of the {d_input} features"),
        ));
    };
    let values = input_shape.iter().product::<usize>();
    check.ensure(values == d_input, &key("input_shape"), || {
        format!("{input_shape:?} holds {values} values but the data has {d_input} features")
    })?;
    let channels = e.channels.clone().unwrap_or_else(|| vec![10, 20]);
    widths(check, &key("channels"), &channels)?;
    at_least_one(check, &key("kernel_size"), e.kernel_size)?;
    at_least_one(check, &key("pool"), e.pool)?;
    let cnn = CnnConfig {
        input_shape,
        channels,
        kernel_size: e.kernel_size,
        pool: e.pool,
        hidden,
        activation: e.activation,
        dropout: e.dropout,
    };
    cnn.stage_shapes().map_err(|m| check.invalid(&key("channels"), m))?;
    check.ensure(cnn.num_blocks() > 0, &key("channels"), || {
        "a CNN needs at least one conv stage or layer".into()
    })?;
    Ok(cnn)
}

/// Validate `[model]` for `d_input` features and tasks with outputs `task_outputs`.
pub fn resolve_model(
    path: &Path,
    m: &ModelSection,
    d_input: usize,
    task_outputs: Vec<usize>,
) -> Result<MultiTaskModelConfig, ConfigError> {
    let check = Check { path };
    let encoder = encoder(check, &m.encoder, d_input)?;
    let head = mlp(check, &m.head, "model.head", &[64], 0)?;
    let num_tasks = task_outputs.len();
    let expert = match &m.experts.hidden {
        Some(h) => {
            widths(check, "model.experts.hidden", h)?;
            encoder.with_hidden(h.clone())
        }
        None => encoder.clone(),
    };
    check.ensure(
        expert.num_blocks() > 0 || m.architecture == ArchitectureName::hps,
        "model.experts.hidden",
        || "experts need at least one layer".into(),
    )?;
    at_least_one(check, "model.experts.gate_stem_channels", m.experts.gate_stem_channels)?;
    let stem = StemConfig::for_encoder(&expert, m.experts.gate_stem_channels);
    let architecture = match m.architecture {
        ArchitectureName::hps => ArchitectureConfig::Hps(HpsConfig { encoder }),
        ArchitectureName::mmoe => {
            at_least_one(check, "model.experts.count", m.experts.count)?;
            ArchitectureConfig::Mmoe(MmoeConfig { expert, experts: m.experts.count, num_tasks, stem })
        }
        ArchitectureName::omoe => {
            at_least_one(check, "model.experts.count", m.experts.count)?;
            ArchitectureConfig::Omoe(OmoeConfig { expert, experts: m.experts.count, stem })
        }
        ArchitectureName::cgc | ArchitectureName::ple => cgc_or_ple(check, m, expert, num_tasks, stem)?,
        ArchitectureName::cross_stitch => {
            let w = m.cross_stitch.self_weight;
            check.ensure(w > 0.0 && w <= 1.0, "model.cross_stitch.self_weight", || {
                format!("{w} is not in (0, 1]")
            })?;
            check.ensure(encoder.num_blocks() > 0, "model.encoder.hidden", || {
                "cross-stitch columns need at least one layer".into()
            })?;
            ArchitectureConfig::CrossStitch(CrossStitchConfig { column: encoder, num_tasks, self_weight: w })
        }
        ArchitectureName::dselect_k => dselect_k(check, m, expert, num_tasks, stem)?,
    };
    Ok(MultiTaskModelConfig {
        architecture,
        head_hidden: head.hidden,
        head_activation: head.activation,
        head_dropout: head.dropout,
        task_outputs,
        chains: Vec::new(),
        counterfactual: None,
        transfer: None,
    })
}

/// `[model.chain]` as task indices of the run's `tasks`: two or more distinct binary tasks, each
/// trained in the run. A run that trains only some of them (a single-task baseline, a task
/// group) trains them without the chain: `None`.
pub fn resolve_chain(
    path: &Path,
    chain: Option<&ChainSection>,
    tasks: &[TaskConfig],
    all_tasks: &[TaskConfig],
    multi_input: bool,
) -> Result<Option<Vec<usize>>, ConfigError> {
    let check = Check { path };
    let Some(chain) = chain else { return Ok(None) };
    let key = "model.chain.tasks";
    check
        .ensure(chain.tasks.len() >= 2, key, || "a chain needs at least two tasks, in funnel order".into())?;
    let names: Vec<&str> = all_tasks.iter().map(|t| t.spec.name.as_str()).collect();
    for (k, name) in chain.tasks.iter().enumerate() {
        let Some(task) = all_tasks.iter().find(|t| &t.spec.name == name) else {
            return Err(check.invalid(key, format!("`{name}` is not a task; the tasks are {names:?}")));
        };
        check.ensure(task.spec.kind == mtl_data::TaskKind::Binary, key, || {
            format!("`{name}` is a {} task; the steps of a chain are binary", task.spec.kind.name())
        })?;
        check.ensure(!chain.tasks[..k].contains(name), key, || format!("`{name}` is listed twice"))?;
    }
    check.ensure(!multi_input, key, || {
        "a chain needs every row to carry all its steps' labels; multi-input mode (one source per task) cannot".into()
    })?;
    let picked: Option<Vec<usize>> =
        chain.tasks.iter().map(|name| tasks.iter().position(|t| &t.spec.name == name)).collect();
    Ok(picked)
}

/// What passes along the chain of `[model.chain]`, checked: ESCM²'s counterfactual
/// regulariser and AITM's transfer (both `None` for ESMM). A key of another kind is an error.
pub fn resolve_chain_kind(
    path: &Path,
    chain: Option<&ChainSection>,
) -> Result<(Option<Counterfactual>, Option<Transfer>), ConfigError> {
    let check = Check { path };
    let Some(chain) = chain else { return Ok((None, None)) };
    let escm2 = matches!(chain.kind, ChainKind::escm2_ips | ChainKind::escm2_dr);
    let keys = [
        ("counterfactual_weight", chain.counterfactual_weight.is_some(), escm2, "escm2_ips or escm2_dr"),
        ("propensity_floor", chain.propensity_floor.is_some(), escm2, "escm2_ips or escm2_dr"),
        ("calibrator_weight", chain.calibrator_weight.is_some(), chain.kind == ChainKind::aitm, "aitm"),
    ];
    for (key, given, applies, kinds) in keys {
        check.ensure(!given || applies, &format!("model.chain.{key}"), || {
            format!(
                "applies to kind = {kinds}, not to kind = \"{:?}\"; remove it or change the kind",
                chain.kind
            )
        })?;
    }
    let weight = |key: &str, value: Option<f64>, default: f64| {
        let w = value.unwrap_or(default);
        check.ensure(w.is_finite() && w >= 0.0, &format!("model.chain.{key}"), || {
            format!("{w} is not a weight ≥ 0")
        })?;
        Ok::<f64, ConfigError>(w)
    };
    let counterfactual = |estimator| {
        let w = weight("counterfactual_weight", chain.counterfactual_weight, 1.0)?;
        let floor = chain.propensity_floor.unwrap_or(0.05);
        check.ensure(floor > 0.0 && floor <= 1.0, "model.chain.propensity_floor", || {
            format!("{floor} is not a propensity in (0, 1]")
        })?;
        Ok::<_, ConfigError>(Some(Counterfactual { weight: w, propensity_floor: floor, estimator }))
    };
    Ok(match chain.kind {
        ChainKind::esmm => (None, None),
        ChainKind::escm2_ips => (counterfactual(Estimator::Ips)?, None),
        ChainKind::escm2_dr => (counterfactual(Estimator::DoublyRobust)?, None),
        ChainKind::aitm => {
            // α = 0.6: the authors' reference code (`constraint_weight=0.6`).
            let calibrator_weight = weight("calibrator_weight", chain.calibrator_weight, 0.6)?;
            (None, Some(Transfer { calibrator_weight }))
        }
    })
}

fn cgc_or_ple(
    check: Check,
    m: &ModelSection,
    expert: EncoderConfig,
    num_tasks: usize,
    stem: StemConfig,
) -> Result<ArchitectureConfig, ConfigError> {
    at_least_one(check, "model.experts.per_task", m.experts.per_task)?;
    let blocks = expert.num_blocks();
    let levels = m.ple.levels.unwrap_or(blocks.min(2));
    let ple = m.architecture == ArchitectureName::ple;
    check.ensure(!ple || (1..=blocks).contains(&levels), "model.ple.levels", || {
        format!("the expert has {blocks} blocks (layers or conv stages); use 1 to {blocks} levels")
    })?;
    let cgc = CgcConfig {
        expert,
        shared_experts: m.experts.shared,
        task_experts: m.experts.per_task,
        num_tasks,
        stem,
    };
    Ok(if ple {
        ArchitectureConfig::Ple(PleConfig { levels, ..cgc.as_ple() })
    } else {
        ArchitectureConfig::Cgc(cgc)
    })
}

fn dselect_k(
    check: Check,
    m: &ModelSection,
    expert: EncoderConfig,
    num_tasks: usize,
    stem: StemConfig,
) -> Result<ArchitectureConfig, ConfigError> {
    let d = &m.dselect_k;
    let n = m.experts.count;
    check.ensure(n >= 2, "model.experts.count", || "DSelect-k selects among at least 2 experts".into())?;
    check.ensure((1..=n).contains(&d.k), "model.dselect_k.k", || {
        format!("use 1 to {n} (the number of experts)")
    })?;
    check.ensure(d.gamma > 0.0 && d.gamma.is_finite(), "model.dselect_k.gamma", || {
        "must be a finite value > 0".into()
    })?;
    check.ensure(
        d.entropy_weight >= 0.0 && d.entropy_weight.is_finite(),
        "model.dselect_k.entropy_weight",
        || "must be a finite value ≥ 0".into(),
    )?;
    Ok(ArchitectureConfig::DselectK(DselectKConfig {
        expert,
        experts: n,
        k: d.k,
        gamma: d.gamma,
        entropy_weight: d.entropy_weight,
        num_tasks,
        stem,
    }))
}
