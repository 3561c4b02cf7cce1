//! The contract between the trainer and a weighting method.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A small dense symmetric matrix on the host, row-major: the T×T Gram matrix K = G Gᵀ of the
/// task gradients (`k[i][j] = gᵢ·gⱼ`) and the matrices the solvers derive from it.
pub type Gram = Vec<Vec<f64>>;

/// What a method reads to decide the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightingInput {
    /// The T task losses; the method returns one scalar loss to back-propagate.
    Losses,
    /// Per-task gradients of the losses with respect to the shared representation z,
    /// flattened to a `[T, batch · d]` matrix: one shared forward, T head backwards, and the
    /// combined gradient is pushed through the shared part once.
    RepresentationGradients,
    /// Per-task gradients of the shared parameters, flattened to a `[T, P]` matrix: one
    /// forward and backward of the shared part per task.
    ParameterGradients,
}

impl WeightingInput {
    /// Name used in configs (`weighting.gradients`) and logs.
    pub fn name(self) -> &'static str {
        match self {
            WeightingInput::Losses => "losses",
            WeightingInput::RepresentationGradients => "representation",
            WeightingInput::ParameterGradients => "parameters",
        }
    }
}

/// Where in training a call happens; everything a method may read besides its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepContext {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based step within the run (across epochs).
    pub step: usize,
    /// Number of steps in one epoch.
    pub steps_per_epoch: usize,
    /// The input the trainer computed for this call.
    pub input: WeightingInput,
}

#[cfg(test)]
impl StepContext {
    /// The first step of a one-step epoch reading `input` (the context most tests need).
    pub(crate) fn first_step(input: WeightingInput) -> Self {
        Self { epoch: 0, step: 0, steps_per_epoch: 1, input }
    }
}

/// The result of combining losses.
#[derive(Debug, Clone)]
pub struct LossCombination {
    /// The scalar loss to back-propagate. Shape `[1]`.
    pub loss: Tensor<1>,
    /// The effective weight of each task, for logging (no autodiff). Shape `[T]`.
    pub weights: Tensor<1>,
}

/// The result of combining gradients.
#[derive(Debug, Clone)]
pub struct GradientCombination {
    /// The combined gradient, in the same flattened space as the inputs. Shape `[P]`.
    pub gradient: Tensor<1>,
    /// The effective weight of each task, for logging (no autodiff). Shape `[T]`.
    pub weights: Tensor<1>,
}

/// A way to balance tasks.
///
/// The trainer asks [`WeightingMethod::inputs`] what the method can read, computes that input,
/// and calls the matching `combine_*`. It never branches on a method's name. A method is only
/// called with an input it lists; anything else is a trainer bug and panics.
///
/// All tensors stay on the training device; a method may read T- or T×T-sized values back to
/// the host for a small solve, never a `[T, P]` matrix.
pub trait WeightingMethod {
    /// The inputs this method supports; the first one is its default.
    fn inputs(&self) -> &'static [WeightingInput];

    /// Combine the task losses (shape `[T]`, autodiff) into one loss.
    fn combine_losses(&mut self, _ctx: &StepContext, _losses: Tensor<1>) -> LossCombination {
        panic!("this weighting method does not combine losses");
    }

    /// Combine per-task gradients (shape `[T, P]`, no autodiff) into one gradient. `losses`
    /// are the task losses of the same batch (shape `[T]`, no autodiff).
    fn combine_gradients(
        &mut self,
        _ctx: &StepContext,
        _gradients: Tensor<2>,
        _losses: Tensor<1>,
    ) -> GradientCombination {
        panic!("this weighting method does not combine gradients");
    }

    /// Whether the method's combined gradient is Σ_t w_t g_t with weights that depend on the
    /// task gradients only through their Gram matrix K = G Gᵀ (besides the losses and the
    /// method's own state), so that [`WeightingMethod::gram_weights`] gives them. False for
    /// methods that need G itself (DB-MTL's and MoCo's gradient buffers, GradDrop's
    /// per-coordinate signs).
    fn weights_from_gram(&self) -> bool {
        false
    }

    /// Whether `combine_gradients` reads the Gram matrix to solve for its weights on the host,
    /// so that a trainer that has computed K for the step's statistics may hand it over instead
    /// ([`WeightingMethod::gram_weights`], one host read). Default:
    /// [`WeightingMethod::weights_from_gram`]; false for EW, whose weights are constant and
    /// whose combination stays on the device, and for Nash-MTL, which reads K only on the steps
    /// it solves.
    fn solves_from_gram(&self) -> bool {
        self.weights_from_gram()
    }

    /// For a method with [`WeightingMethod::weights_from_gram`]: this step's weights from the
    /// Gram matrix `k` of the `[T, P]` gradients and the task `losses` (host values; `device`
    /// for any random draw). It advances the method exactly as `combine_gradients` does, which
    /// for these methods is `gram` → `gram_weights` → the combination. A trainer whose G is
    /// split by columns across processes sums their K, asks once, and combines its own columns.
    fn gram_weights(&mut self, _ctx: &StepContext, _k: &Gram, _losses: &[f64], _device: &Device) -> Vec<f64> {
        panic!("this weighting method does not combine through the Gram matrix alone");
    }

    /// Whether the method needs the task losses of the same batch re-evaluated after the
    /// optimizer step (FAMO does). The trainer then runs one extra forward without autodiff
    /// and calls [`WeightingMethod::after_step`] with them.
    fn wants_losses_after_step(&self) -> bool {
        false
    }

    /// Called after each optimizer step with the task losses before the step and, when
    /// [`WeightingMethod::wants_losses_after_step`] is true, after it (shape `[T]`, no
    /// autodiff).
    fn after_step(
        &mut self,
        _ctx: &StepContext,
        _losses_before: Tensor<1>,
        _losses_after: Option<Tensor<1>>,
    ) {
    }

    /// Called once at the end of each epoch with the mean training loss of each task.
    fn end_epoch(&mut self, _epoch: usize, _mean_losses: &[f64]) {}

    /// Host-side state that is not a Burn parameter (loss histories, running targets), saved
    /// in checkpoints. Parameters are saved with the model and need not appear here.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restore what [`WeightingMethod::state`] returned.
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }

    /// For methods that solve for their weights and can meet a problem without a solution
    /// (Nash-MTL, FairGrad): how many steps of the run so far found none and reused the
    /// previous weights (kept in [`WeightingMethod::state`], so it survives a resume). `None`
    /// for methods that always produce fresh weights. The trainer logs the count per epoch.
    fn reused_weight_steps(&self) -> Option<u64> {
        None
    }
}

/// A method's settings (`[weighting.<name>]`): the paper's defaults are its `Default`, `check`
/// validates it once at the config boundary, `init` builds the method. Every method has one,
/// an empty struct when it has nothing to set, so the registry treats them all alike.
pub trait MethodConfig: Default {
    /// The method these settings build.
    type Method: WeightingMethod;

    /// Refuse settings the method cannot work with, naming the field.
    fn check(&self) -> Result<(), Invalid> {
        Ok(())
    }

    /// The method for `num_tasks` tasks; trainable state is created on `device`.
    fn init(&self, num_tasks: usize, device: &Device) -> Self::Method;
}

/// A setting a method refuses: which field, and why (with what to use instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field of the method's settings, e.g. `temperature`.
    pub field: &'static str,
    /// What is wrong and what to use.
    pub message: String,
}

impl Invalid {
    /// `field` is refused because of `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }

    /// `Ok` when `ok`, else the refusal.
    pub fn unless(ok: bool, field: &'static str, message: impl FnOnce() -> String) -> Result<(), Self> {
        if ok { Ok(()) } else { Err(Self::new(field, message())) }
    }
}

/// Checks shared by the methods' settings: a finite number in the named range.
pub mod checks {
    use super::Invalid;

    /// `v` > 0 and finite.
    pub fn positive(field: &'static str, v: f64, what: &str) -> Result<(), Invalid> {
        Invalid::unless(v > 0.0 && v.is_finite(), field, || format!("{v} is not a positive {what}"))
    }

    /// `v` ≥ 0 and finite.
    pub fn non_negative(field: &'static str, v: f64) -> Result<(), Invalid> {
        Invalid::unless(v >= 0.0 && v.is_finite(), field, || "use a value ≥ 0".into())
    }

    /// `v` finite.
    pub fn finite(field: &'static str, v: f64) -> Result<(), Invalid> {
        Invalid::unless(v.is_finite(), field, || "must be a finite number".into())
    }
}
