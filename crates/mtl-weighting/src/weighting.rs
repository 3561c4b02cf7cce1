//! The runtime enum over all methods; a Burn module so trainable state is optimised and saved.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::aligned::AlignedMtl;
use crate::base::{GradientCombination, LossCombination, StepContext, WeightingInput, WeightingMethod};
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
use crate::mgda::Mgda;
use crate::moco::MoCo;
use crate::nash::NashMtl;
use crate::pcgrad::PcGrad;
use crate::rlw::Rlw;
use crate::si::Si;
use crate::stch::Stch;
use crate::upgrad::UpGrad;
use crate::uw::Uw;

/// A built weighting method.
#[derive(Module, Debug)]
pub enum Weighting {
    /// Equal weighting.
    Ew(Ew),
    /// Uncertainty weighting.
    Uw(Uw),
    /// Dynamic weight average.
    Dwa(Dwa),
    /// Random loss weighting.
    Rlw(Rlw),
    /// Geometric loss strategy.
    Gls(Gls),
    /// Scale-invariant Σ log L_t.
    Si(Si),
    /// Min-norm multiple-gradient descent.
    Mgda(Mgda),
    /// Gradient surgery.
    PcGrad(PcGrad),
    /// Conflict-averse gradient descent.
    CaGrad(CaGrad),
    /// Impartial MTL, gradient part.
    ImtlG(ImtlG),
    /// Nash bargaining.
    NashMtl(NashMtl),
    /// Unconflicting projection of gradients.
    UpGrad(UpGrad),
    /// Impartial MTL, loss part.
    ImtlL(ImtlL),
    /// Fast adaptive multitask optimisation.
    Famo(Famo),
    /// Gradient vaccine.
    GradVac(GradVac),
    /// Conflict-free inverse gradients.
    ConFig(ConFig),
    /// Gradient sign dropout.
    GradDrop(GradDrop),
    /// α-fair allocation.
    FairGrad(FairGrad),
    /// Independent component alignment.
    AlignedMtl(AlignedMtl),
    /// Smooth Tchebycheff scalarisation.
    Stch(Stch),
    /// Gradient normalisation.
    GradNorm(GradNorm),
    /// Dual balancing.
    DbMtl(DbMtl),
    /// Multi-objective gradient correction.
    MoCo(MoCo),
    /// IMTL = IMTL-L + IMTL-G.
    Imtl(Imtl),
}

/// `match` over every variant, binding the method to `$m` (one list for both borrows).
macro_rules! each_method {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            Weighting::Ew($m) => $body,
            Weighting::Uw($m) => $body,
            Weighting::Dwa($m) => $body,
            Weighting::Rlw($m) => $body,
            Weighting::Gls($m) => $body,
            Weighting::Si($m) => $body,
            Weighting::Mgda($m) => $body,
            Weighting::PcGrad($m) => $body,
            Weighting::CaGrad($m) => $body,
            Weighting::ImtlG($m) => $body,
            Weighting::NashMtl($m) => $body,
            Weighting::UpGrad($m) => $body,
            Weighting::ImtlL($m) => $body,
            Weighting::Famo($m) => $body,
            Weighting::GradVac($m) => $body,
            Weighting::ConFig($m) => $body,
            Weighting::GradDrop($m) => $body,
            Weighting::FairGrad($m) => $body,
            Weighting::AlignedMtl($m) => $body,
            Weighting::Stch($m) => $body,
            Weighting::GradNorm($m) => $body,
            Weighting::DbMtl($m) => $body,
            Weighting::MoCo($m) => $body,
            Weighting::Imtl($m) => $body,
        }
    };
}

impl Weighting {
    fn method(&mut self) -> &mut dyn WeightingMethod {
        each_method!(self, m => m)
    }

    fn method_ref(&self) -> &dyn WeightingMethod {
        each_method!(self, m => m)
    }
}

impl WeightingMethod for Weighting {
    fn inputs(&self) -> &'static [WeightingInput] {
        self.method_ref().inputs()
    }

    fn combine_losses(&mut self, ctx: &StepContext, losses: Tensor<1>) -> LossCombination {
        self.method().combine_losses(ctx, losses)
    }

    fn combine_gradients(
        &mut self,
        ctx: &StepContext,
        gradients: Tensor<2>,
        losses: Tensor<1>,
    ) -> GradientCombination {
        self.method().combine_gradients(ctx, gradients, losses)
    }

    fn wants_losses_after_step(&self) -> bool {
        self.method_ref().wants_losses_after_step()
    }

    fn after_step(&mut self, ctx: &StepContext, losses_before: Tensor<1>, losses_after: Option<Tensor<1>>) {
        self.method().after_step(ctx, losses_before, losses_after)
    }

    fn end_epoch(&mut self, epoch: usize, mean_losses: &[f64]) {
        self.method().end_epoch(epoch, mean_losses)
    }

    fn state(&self) -> serde_json::Value {
        self.method_ref().state()
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.method().load_state(state)
    }
}
