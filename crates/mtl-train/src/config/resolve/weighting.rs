//! `[weighting]`: the method with its own section's settings (checked by the method), and the
//! input it reads.

use mtl_weighting::{WeightingConfig, WeightingInput};

use crate::config::ConfigError;
use crate::config::check::Check;
use crate::config::schema::{GradientsName, WeightingSection};

/// The method and its input (`weighting.gradients`, else the method's default).
pub(super) fn resolve_weighting(
    check: Check,
    section: &WeightingSection,
) -> Result<(WeightingConfig, WeightingInput), ConfigError> {
    let weighting = section.chosen();
    weighting
        .check()
        .map_err(|e| check.invalid(&format!("weighting.{}.{}", section.method.name(), e.field), e.message))?;
    let supported = weighting.inputs();
    let Some(g) = section.gradients else { return Ok((weighting, supported[0])) };
    let want = match g {
        GradientsName::Losses => WeightingInput::Losses,
        GradientsName::Representation => WeightingInput::RepresentationGradients,
        GradientsName::Parameters => WeightingInput::ParameterGradients,
    };
    check.ensure(supported.contains(&want), "weighting.gradients", || {
        let names: Vec<&str> = supported.iter().map(|i| i.name()).collect();
        format!("method `{}` cannot read `{}`; use {}", weighting.name(), want.name(), names.join(" or "))
    })?;
    Ok((weighting, want))
}
