//! Typed settings of each method and the runtime choice among them.

use burn::tensor::Device;

use crate::base::WeightingInput;
use crate::dwa::Dwa;
use crate::ew::Ew;
use crate::gls::Gls;
use crate::rlw::Rlw;
use crate::si::Si;
use crate::uw::Uw;
use crate::weighting::Weighting;

/// Settings of [`Uw`] (`[weighting.uw]`).
#[derive(Debug, Clone, PartialEq)]
pub struct UwConfig {
    /// Initial log-variance s_t of every task. Default 0 (weights ½), as in
    /// `shared/bench/mtl_lib.py`; LibMTL starts at −0.5.
    pub init_log_var: f64,
}

impl Default for UwConfig {
    fn default() -> Self {
        Self { init_log_var: 0.0 }
    }
}

/// Settings of [`Dwa`] (`[weighting.dwa]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DwaConfig {
    /// Softmax temperature τ. Default 2 (the paper's and LibMTL's).
    pub temperature: f64,
}

impl Default for DwaConfig {
    fn default() -> Self {
        Self { temperature: 2.0 }
    }
}

/// Which method to build, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightingConfig {
    /// Equal weighting.
    Ew,
    /// Uncertainty weighting.
    Uw(UwConfig),
    /// Dynamic weight average.
    Dwa(DwaConfig),
    /// Random loss weighting.
    Rlw,
    /// Geometric loss strategy.
    Gls,
    /// Scale-invariant Σ log L_t.
    Si,
}

impl WeightingConfig {
    /// Every config name, for error messages.
    pub const NAMES: &'static [&'static str] = &["ew", "uw", "dwa", "rlw", "gls", "si"];

    /// Config name (`weighting.method`).
    pub fn name(&self) -> &'static str {
        match self {
            WeightingConfig::Ew => "ew",
            WeightingConfig::Uw(_) => "uw",
            WeightingConfig::Dwa(_) => "dwa",
            WeightingConfig::Rlw => "rlw",
            WeightingConfig::Gls => "gls",
            WeightingConfig::Si => "si",
        }
    }

    /// Build the method for `num_tasks` tasks; trainable state is created on `device`.
    pub fn init(&self, num_tasks: usize, device: &Device) -> Weighting {
        match self {
            WeightingConfig::Ew => Weighting::Ew(Ew::new(num_tasks)),
            WeightingConfig::Uw(c) => Weighting::Uw(Uw::new(num_tasks, c.init_log_var, device)),
            WeightingConfig::Dwa(c) => Weighting::Dwa(Dwa::new(num_tasks, c.temperature)),
            WeightingConfig::Rlw => Weighting::Rlw(Rlw::new(num_tasks)),
            WeightingConfig::Gls => Weighting::Gls(Gls::new(num_tasks)),
            WeightingConfig::Si => Weighting::Si(Si::new(num_tasks)),
        }
    }

    /// Inputs the method supports; the first is its default.
    pub fn inputs(&self) -> &'static [WeightingInput] {
        match self {
            WeightingConfig::Ew => Ew::INPUTS,
            WeightingConfig::Uw(_) => Uw::INPUTS,
            WeightingConfig::Dwa(_) => Dwa::INPUTS,
            WeightingConfig::Rlw => Rlw::INPUTS,
            WeightingConfig::Gls => Gls::INPUTS,
            WeightingConfig::Si => Si::INPUTS,
        }
    }
}
