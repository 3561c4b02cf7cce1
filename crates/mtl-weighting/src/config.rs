//! Typed settings of each method and the runtime choice among them.

use burn::tensor::Device;

use crate::aligned::AlignedMtl;
use crate::base::WeightingInput;
use crate::cagrad::CaGrad;
use crate::conflict_free::ConFig;
use crate::dbmtl::DbMtl;
use crate::dwa::Dwa;
use crate::ew::Ew;
use crate::fairgrad::FairGrad;
use crate::famo::Famo;
use crate::gls::Gls;
use crate::graddrop::GradDrop;
use crate::gradnorm::GradNorm;
use crate::gradvac::GradVac;
use crate::imtl::{Imtl, ImtlG};
use crate::imtl_l::ImtlL;
use crate::mgda::{Mgda, MgdaNormalization};
use crate::moco::{MoCo, MoCoRates};
use crate::nash::NashMtl;
use crate::pcgrad::PcGrad;
use crate::rlw::Rlw;
use crate::si::Si;
use crate::stch::Stch;
use crate::upgrad::UpGrad;
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

/// Settings of [`Mgda`] (`[weighting.mgda]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MgdaConfig {
    /// Gradient normalisation before the min-norm solve. Default none (LibMTL's).
    pub normalization: MgdaNormalization,
}

/// Settings of [`CaGrad`] (`[weighting.cagrad]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CaGradConfig {
    /// Conflict weight α (c = α‖g₀‖). Default 0.5 (LibMTL's `calpha`; the paper uses 0.4 on
    /// NYUv2).
    pub c: f64,
    /// 0: no rescale, 1: divide by 1 + α² (default), 2: divide by 1 + α.
    pub rescale: usize,
}

impl Default for CaGradConfig {
    fn default() -> Self {
        Self { c: 0.5, rescale: 1 }
    }
}

/// Settings of [`NashMtl`] (`[weighting.nash_mtl]`).
#[derive(Debug, Clone, PartialEq)]
pub struct NashMtlConfig {
    /// Solve for new weights every this many steps. Default 1.
    pub update_weights_every: usize,
}

impl Default for NashMtlConfig {
    fn default() -> Self {
        Self { update_weights_every: 1 }
    }
}

/// Settings of [`UpGrad`] (`[weighting.upgrad]`).
#[derive(Debug, Clone, PartialEq)]
pub struct UpGradConfig {
    /// Diagonal regularisation of the normalised Gram matrix. Default 1e-4 (TorchJD's).
    pub reg_eps: f64,
}

impl Default for UpGradConfig {
    fn default() -> Self {
        Self { reg_eps: 1e-4 }
    }
}

/// Settings of [`Famo`] (`[weighting.famo]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FamoConfig {
    /// Adam learning rate of the task logits. Default 0.025 (the paper's).
    pub lr: f64,
    /// Adam weight decay of the logits. Default 1e-3 (the paper's).
    pub weight_decay: f64,
}

impl Default for FamoConfig {
    fn default() -> Self {
        Self { lr: 0.025, weight_decay: 1e-3 }
    }
}

/// Settings of [`GradVac`] (`[weighting.gradvac]`).
#[derive(Debug, Clone, PartialEq)]
pub struct GradVacConfig {
    /// EMA rate of the target cosines. Default 0.5 (LibMTL's; the paper uses 1e-2).
    pub beta: f64,
}

impl Default for GradVacConfig {
    fn default() -> Self {
        Self { beta: 0.5 }
    }
}

/// Settings of [`FairGrad`] (`[weighting.fairgrad]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FairGradConfig {
    /// Fairness α > 0 (1 = proportional fairness). Default 1.
    pub alpha: f64,
}

impl Default for FairGradConfig {
    fn default() -> Self {
        Self { alpha: 1.0 }
    }
}

/// Settings of [`Stch`] (`[weighting.stch]`).
#[derive(Debug, Clone, PartialEq)]
pub struct StchConfig {
    /// Smoothing μ > 0. Default 1 (LibMTL's).
    pub mu: f64,
    /// Epochs of Σ log L before the smooth max; the last one forms the nadir. Default 4.
    pub warmup_epochs: usize,
}

impl Default for StchConfig {
    fn default() -> Self {
        Self { mu: 1.0, warmup_epochs: 4 }
    }
}

/// Settings of [`GradNorm`] (`[weighting.gradnorm]`).
#[derive(Debug, Clone, PartialEq)]
pub struct GradNormConfig {
    /// Restoring force α. Default 1.5 (the paper's and LibMTL's).
    pub alpha: f64,
    /// Adam learning rate of the weight logits. Default 0.025.
    pub lr: f64,
}

impl Default for GradNormConfig {
    fn default() -> Self {
        Self { alpha: 1.5, lr: 0.025 }
    }
}

/// Settings of [`DbMtl`] (`[weighting.db_mtl]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DbMtlConfig {
    /// EMA rate β of the log-loss gradients. Default 0.9 (LibMTL's).
    pub beta: f64,
    /// Decay exponent σ of the rate (β/k^σ). Default 0.
    pub beta_sigma: f64,
}

impl Default for DbMtlConfig {
    fn default() -> Self {
        Self { beta: 0.9, beta_sigma: 0.0 }
    }
}

/// Settings of [`Imtl`] (`[weighting.imtl]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImtlConfig {
    /// Adam learning rate of the loss scales. Default 1e-3.
    pub lr: f64,
}

impl Default for ImtlConfig {
    fn default() -> Self {
        Self { lr: 1e-3 }
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
    /// Min-norm multiple-gradient descent.
    Mgda(MgdaConfig),
    /// Gradient surgery.
    PcGrad,
    /// Conflict-averse gradient descent.
    CaGrad(CaGradConfig),
    /// Impartial MTL, gradient part.
    ImtlG,
    /// Nash bargaining.
    NashMtl(NashMtlConfig),
    /// Unconflicting projection of gradients.
    UpGrad(UpGradConfig),
    /// Impartial MTL, loss part.
    ImtlL,
    /// Fast adaptive multitask optimisation.
    Famo(FamoConfig),
    /// Gradient vaccine.
    GradVac(GradVacConfig),
    /// Conflict-free inverse gradients.
    ConFig,
    /// Gradient sign dropout.
    GradDrop,
    /// α-fair allocation.
    FairGrad(FairGradConfig),
    /// Independent component alignment.
    AlignedMtl,
    /// Smooth Tchebycheff scalarisation.
    Stch(StchConfig),
    /// Gradient normalisation.
    GradNorm(GradNormConfig),
    /// Dual balancing.
    DbMtl(DbMtlConfig),
    /// Multi-objective gradient correction.
    MoCo(MoCoRates),
    /// IMTL = IMTL-L + IMTL-G.
    Imtl(ImtlConfig),
}

impl WeightingConfig {
    /// Every config name, for error messages.
    pub const NAMES: &'static [&'static str] = &[
        "ew",
        "uw",
        "dwa",
        "rlw",
        "gls",
        "si",
        "imtl_l",
        "famo",
        "stch",
        "gradnorm",
        "mgda",
        "pcgrad",
        "gradvac",
        "cagrad",
        "imtl_g",
        "imtl",
        "nash_mtl",
        "upgrad",
        "config",
        "fairgrad",
        "aligned_mtl",
        "graddrop",
        "db_mtl",
        "moco",
    ];

    /// Config name (`weighting.method`).
    pub fn name(&self) -> &'static str {
        match self {
            WeightingConfig::Ew => "ew",
            WeightingConfig::Uw(_) => "uw",
            WeightingConfig::Dwa(_) => "dwa",
            WeightingConfig::Rlw => "rlw",
            WeightingConfig::Gls => "gls",
            WeightingConfig::Si => "si",
            WeightingConfig::Mgda(_) => "mgda",
            WeightingConfig::PcGrad => "pcgrad",
            WeightingConfig::CaGrad(_) => "cagrad",
            WeightingConfig::ImtlG => "imtl_g",
            WeightingConfig::NashMtl(_) => "nash_mtl",
            WeightingConfig::UpGrad(_) => "upgrad",
            WeightingConfig::ImtlL => "imtl_l",
            WeightingConfig::Famo(_) => "famo",
            WeightingConfig::GradVac(_) => "gradvac",
            WeightingConfig::ConFig => "config",
            WeightingConfig::GradDrop => "graddrop",
            WeightingConfig::FairGrad(_) => "fairgrad",
            WeightingConfig::AlignedMtl => "aligned_mtl",
            WeightingConfig::Stch(_) => "stch",
            WeightingConfig::GradNorm(_) => "gradnorm",
            WeightingConfig::DbMtl(_) => "db_mtl",
            WeightingConfig::MoCo(_) => "moco",
            WeightingConfig::Imtl(_) => "imtl",
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
            WeightingConfig::Mgda(c) => Weighting::Mgda(Mgda::new(c.normalization)),
            WeightingConfig::PcGrad => Weighting::PcGrad(PcGrad::new(num_tasks)),
            WeightingConfig::CaGrad(c) => Weighting::CaGrad(CaGrad::new(c.c, c.rescale)),
            WeightingConfig::ImtlG => Weighting::ImtlG(ImtlG::new(num_tasks)),
            WeightingConfig::NashMtl(c) => {
                Weighting::NashMtl(NashMtl::new(num_tasks, c.update_weights_every))
            }
            WeightingConfig::UpGrad(c) => Weighting::UpGrad(UpGrad::new(c.reg_eps)),
            WeightingConfig::ImtlL => Weighting::ImtlL(ImtlL::new(num_tasks, device)),
            WeightingConfig::Famo(c) => Weighting::Famo(Famo::new(num_tasks, c.lr, c.weight_decay)),
            WeightingConfig::GradVac(c) => Weighting::GradVac(GradVac::new(num_tasks, c.beta)),
            WeightingConfig::ConFig => Weighting::ConFig(ConFig::new(num_tasks)),
            WeightingConfig::GradDrop => Weighting::GradDrop(GradDrop::new(num_tasks)),
            WeightingConfig::FairGrad(c) => Weighting::FairGrad(FairGrad::new(num_tasks, c.alpha)),
            WeightingConfig::AlignedMtl => Weighting::AlignedMtl(AlignedMtl::new(num_tasks)),
            WeightingConfig::Stch(c) => Weighting::Stch(Stch::new(num_tasks, c.mu, c.warmup_epochs)),
            WeightingConfig::GradNorm(c) => Weighting::GradNorm(GradNorm::new(num_tasks, c.alpha, c.lr)),
            WeightingConfig::DbMtl(c) => Weighting::DbMtl(DbMtl::new(num_tasks, c.beta, c.beta_sigma)),
            WeightingConfig::MoCo(r) => Weighting::MoCo(MoCo::new(num_tasks, *r)),
            WeightingConfig::Imtl(c) => Weighting::Imtl(Imtl::new(num_tasks, c.lr)),
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
            WeightingConfig::Mgda(_) => Mgda::INPUTS,
            WeightingConfig::PcGrad => PcGrad::INPUTS,
            WeightingConfig::CaGrad(_) => CaGrad::INPUTS,
            WeightingConfig::ImtlG => ImtlG::INPUTS,
            WeightingConfig::NashMtl(_) => NashMtl::INPUTS,
            WeightingConfig::UpGrad(_) => UpGrad::INPUTS,
            WeightingConfig::ImtlL => ImtlL::INPUTS,
            WeightingConfig::Famo(_) => Famo::INPUTS,
            WeightingConfig::GradVac(_) => GradVac::INPUTS,
            WeightingConfig::ConFig => ConFig::INPUTS,
            WeightingConfig::GradDrop => GradDrop::INPUTS,
            WeightingConfig::FairGrad(_) => FairGrad::INPUTS,
            WeightingConfig::AlignedMtl => AlignedMtl::INPUTS,
            WeightingConfig::Stch(_) => Stch::INPUTS,
            WeightingConfig::GradNorm(_) => GradNorm::INPUTS,
            WeightingConfig::DbMtl(_) => DbMtl::INPUTS,
            WeightingConfig::MoCo(_) => MoCo::INPUTS,
            WeightingConfig::Imtl(_) => Imtl::INPUTS,
        }
    }
}
