//! Validation of `[model]` into the model crate's configs.

use std::path::Path;

use mtl_model::architecture::{
    CgcConfig, CrossStitchConfig, DselectKConfig, HpsConfig, MmoeConfig, OmoeConfig, PleConfig, StemConfig,
};
use mtl_model::encoder::{CnnConfig, EncoderConfig, MlpConfig, TabularConfig};
use mtl_model::{ArchitectureConfig, MultiTaskModelConfig};

use crate::config::ConfigError;
use crate::config::schema::{ArchitectureName, EncoderKind, EncoderSection, MlpSection, ModelSection};

struct Check<'a> {
    path: &'a Path,
}

impl Check<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { path: self.path.to_path_buf(), key: key.into(), message: message.into() }
    }

    fn widths(&self, key: &str, widths: &[usize]) -> Result<(), ConfigError> {
        if widths.contains(&0) {
            return Err(self.invalid(key, "layer widths must be at least 1"));
        }
        Ok(())
    }

    fn dropout(&self, key: &str, p: f64) -> Result<(), ConfigError> {
        if !(0.0..1.0).contains(&p) {
            return Err(self.invalid(key, format!("{p} is not in [0, 1)")));
        }
        Ok(())
    }

    fn at_least_one(&self, key: &str, n: usize) -> Result<(), ConfigError> {
        if n == 0 {
            return Err(self.invalid(key, "must be at least 1"));
        }
        Ok(())
    }

    fn mlp(
        &self,
        section: &MlpSection,
        key: &str,
        default: &[usize],
        d_input: usize,
    ) -> Result<MlpConfig, ConfigError> {
        let hidden = section.hidden.clone().unwrap_or_else(|| default.to_vec());
        self.widths(&format!("{key}.hidden"), &hidden)?;
        self.dropout(&format!("{key}.dropout"), section.dropout)?;
        Ok(MlpConfig { d_input, hidden, activation: section.activation, dropout: section.dropout })
    }

    fn encoder(&self, e: &EncoderSection, d_input: usize) -> Result<EncoderConfig, ConfigError> {
        let key = |k: &str| format!("model.encoder.{k}");
        let default_hidden: &[usize] = if e.kind == EncoderKind::Cnn { &[50] } else { &[256, 256] };
        let hidden = e.hidden.clone().unwrap_or_else(|| default_hidden.to_vec());
        self.widths(&key("hidden"), &hidden)?;
        self.dropout(&key("dropout"), e.dropout)?;
        if e.kind != EncoderKind::Cnn && (e.input_shape.is_some() || e.channels.is_some()) {
            return Err(
                self.invalid(&key("kind"), "input_shape and channels are CNN settings; set kind = \"cnn\"")
            );
        }
        if e.kind != EncoderKind::Tabular && !(e.categorical.is_empty() && e.cardinalities.is_empty()) {
            return Err(self.invalid(
                &key("kind"),
                "categorical and cardinalities are tabular settings; set kind = \"tabular\"",
            ));
        }
        Ok(match e.kind {
            EncoderKind::Mlp => EncoderConfig::Mlp(MlpConfig {
                d_input,
                hidden,
                activation: e.activation,
                dropout: e.dropout,
            }),
            EncoderKind::Cnn => {
                let Some(input_shape) = e.input_shape else {
                    return Err(self.invalid(
                        &key("input_shape"),
                        format!(
                            "a CNN needs the image shape [channels, height, width] of the {d_input} features"
                        ),
                    ));
                };
                if input_shape.iter().product::<usize>() != d_input {
                    return Err(self.invalid(
                        &key("input_shape"),
                        format!(
                            "{input_shape:?} holds {} values but the data has {d_input} features",
                            input_shape.iter().product::<usize>()
                        ),
                    ));
                }
                let channels = e.channels.clone().unwrap_or_else(|| vec![10, 20]);
                self.widths(&key("channels"), &channels)?;
                self.at_least_one(&key("kernel_size"), e.kernel_size)?;
                self.at_least_one(&key("pool"), e.pool)?;
                let cnn = CnnConfig {
                    input_shape,
                    channels,
                    kernel_size: e.kernel_size,
                    pool: e.pool,
                    hidden,
                    activation: e.activation,
                    dropout: e.dropout,
                };
                cnn.stage_shapes().map_err(|m| self.invalid(&key("channels"), m))?;
                if cnn.num_blocks() == 0 {
                    return Err(
                        self.invalid(&key("channels"), "a CNN needs at least one conv stage or layer")
                    );
                }
                EncoderConfig::Cnn(cnn)
            }
            EncoderKind::Tabular => {
                let k = e.categorical.len();
                let tab = TabularConfig {
                    d_input,
                    categorical: e.categorical.clone(),
                    cardinalities: e.cardinalities.clone(),
                    embedding_dims: e.embedding_dims.clone().unwrap_or_else(|| vec![8; k]),
                    hidden,
                    activation: e.activation,
                    dropout: e.dropout,
                };
                tab.validate().map_err(|m| self.invalid(&key("categorical"), m))?;
                EncoderConfig::Tabular(tab)
            }
        })
    }
}

/// Validate `[model]` for `d_input` features and tasks with outputs `task_outputs`.
pub fn resolve_model(
    path: &Path,
    m: &ModelSection,
    d_input: usize,
    task_outputs: Vec<usize>,
) -> Result<MultiTaskModelConfig, ConfigError> {
    let check = Check { path };
    let encoder = check.encoder(&m.encoder, d_input)?;
    let head = check.mlp(&m.head, "model.head", &[64], 0)?;
    let num_tasks = task_outputs.len();
    let expert = match &m.experts.hidden {
        Some(h) => {
            check.widths("model.experts.hidden", h)?;
            encoder.with_hidden(h.clone())
        }
        None => encoder.clone(),
    };
    if expert.num_blocks() == 0 && m.architecture != ArchitectureName::Hps {
        return Err(check.invalid("model.experts.hidden", "experts need at least one layer"));
    }
    check.at_least_one("model.experts.gate_stem_channels", m.experts.gate_stem_channels)?;
    let stem = StemConfig::for_encoder(&expert, m.experts.gate_stem_channels);
    let architecture = match m.architecture {
        ArchitectureName::Hps => ArchitectureConfig::Hps(HpsConfig { encoder }),
        ArchitectureName::Mmoe => {
            check.at_least_one("model.experts.count", m.experts.count)?;
            ArchitectureConfig::Mmoe(MmoeConfig { expert, experts: m.experts.count, num_tasks, stem })
        }
        ArchitectureName::Omoe => {
            check.at_least_one("model.experts.count", m.experts.count)?;
            ArchitectureConfig::Omoe(OmoeConfig { expert, experts: m.experts.count, stem })
        }
        ArchitectureName::Cgc | ArchitectureName::Ple => {
            check.at_least_one("model.experts.per_task", m.experts.per_task)?;
            let blocks = expert.num_blocks();
            let levels = m.ple.levels.unwrap_or(blocks.min(2));
            if m.architecture == ArchitectureName::Ple && !(1..=blocks).contains(&levels) {
                return Err(check.invalid(
                    "model.ple.levels",
                    format!(
                        "the expert has {blocks} blocks (layers or conv stages); use 1 to {blocks} levels"
                    ),
                ));
            }
            let cgc = CgcConfig {
                expert,
                shared_experts: m.experts.shared,
                task_experts: m.experts.per_task,
                num_tasks,
                stem,
            };
            if m.architecture == ArchitectureName::Cgc {
                ArchitectureConfig::Cgc(cgc)
            } else {
                ArchitectureConfig::Ple(PleConfig { levels, ..cgc.as_ple() })
            }
        }
        ArchitectureName::CrossStitch => {
            let w = m.cross_stitch.self_weight;
            if !(w > 0.0 && w <= 1.0) {
                return Err(check.invalid("model.cross_stitch.self_weight", format!("{w} is not in (0, 1]")));
            }
            if encoder.num_blocks() == 0 {
                return Err(
                    check.invalid("model.encoder.hidden", "cross-stitch columns need at least one layer")
                );
            }
            ArchitectureConfig::CrossStitch(CrossStitchConfig { column: encoder, num_tasks, self_weight: w })
        }
        ArchitectureName::DselectK => {
            let d = &m.dselect_k;
            let n = m.experts.count;
            if n < 2 {
                return Err(
                    check.invalid("model.experts.count", "DSelect-k selects among at least 2 experts")
                );
            }
            if !(1..=n).contains(&d.k) {
                return Err(
                    check.invalid("model.dselect_k.k", format!("use 1 to {n} (the number of experts)"))
                );
            }
            if !(d.gamma > 0.0 && d.gamma.is_finite()) {
                return Err(check.invalid("model.dselect_k.gamma", "must be a finite value > 0"));
            }
            if !(d.entropy_weight >= 0.0 && d.entropy_weight.is_finite()) {
                return Err(check.invalid("model.dselect_k.entropy_weight", "must be a finite value ≥ 0"));
            }
            ArchitectureConfig::DselectK(DselectKConfig {
                expert,
                experts: n,
                k: d.k,
                gamma: d.gamma,
                entropy_weight: d.entropy_weight,
                num_tasks,
                stem,
            })
        }
    };
    Ok(MultiTaskModelConfig {
        architecture,
        head_hidden: head.hidden,
        head_activation: head.activation,
        head_dropout: head.dropout,
        task_outputs,
    })
}
