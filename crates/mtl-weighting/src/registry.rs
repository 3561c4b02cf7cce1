//! The one table of weighting methods. Each line names a method's variant, its config name
//! (also the name of its `[weighting.<name>]` section), its type and its settings type; every
//! list over the methods is generated from it:
//!
//! - [`Weighting`], the built method (a Burn `Module` enum, so trainable task weights reach
//!   the optimizer and the checkpoints), and its dispatch of [`WeightingMethod`];
//! - [`WeightingConfig`], the chosen method with its settings: `NAMES`, `name`, `inputs`,
//!   `check`, `init`;
//! - through [`weighting_methods!`], any list a user of the crate needs (the trainer's
//!   `[weighting]` schema is generated from it).
//!
//! Adding a method: its file (method, `<Name>Config` with the paper's defaults and `check`),
//! one line here, a README row, and its tests.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::base::{
    GradientCombination, Invalid, LossCombination, MethodConfig, StepContext, WeightingInput, WeightingMethod,
};

/// Calls `$callback! { … }` with the registry: one `Variant, name, MethodType, ConfigType, "doc";`
/// per method, in the order of the [`Weighting`] enum (which checkpoints record).
#[macro_export]
macro_rules! weighting_methods {
    ($callback:ident) => {
        $callback! {
            Ew, ew, $crate::Ew, $crate::EwConfig, "Equal weighting.";
            Uw, uw, $crate::Uw, $crate::UwConfig, "Uncertainty weighting.";
            Dwa, dwa, $crate::Dwa, $crate::DwaConfig, "Dynamic weight average.";
            Rlw, rlw, $crate::Rlw, $crate::RlwConfig, "Random loss weighting.";
            Gls, gls, $crate::Gls, $crate::GlsConfig, "Geometric loss strategy.";
            Si, si, $crate::Si, $crate::SiConfig, "Scale-invariant Σ log L_t.";
            Mgda, mgda, $crate::Mgda, $crate::MgdaConfig, "Min-norm multiple-gradient descent.";
            PcGrad, pcgrad, $crate::PcGrad, $crate::PcGradConfig, "Gradient surgery.";
            CaGrad, cagrad, $crate::CaGrad, $crate::CaGradConfig, "Conflict-averse gradient descent.";
            ImtlG, imtl_g, $crate::ImtlG, $crate::ImtlGConfig, "Impartial MTL, gradient part.";
            NashMtl, nash_mtl, $crate::NashMtl, $crate::NashMtlConfig, "Nash bargaining.";
            UpGrad, upgrad, $crate::UpGrad, $crate::UpGradConfig, "Unconflicting projection of gradients.";
            ImtlL, imtl_l, $crate::ImtlL, $crate::ImtlLConfig, "Impartial MTL, loss part.";
            Famo, famo, $crate::Famo, $crate::FamoConfig, "Fast adaptive multitask optimisation.";
            GradVac, gradvac, $crate::GradVac, $crate::GradVacConfig, "Gradient vaccine.";
            ConFig, config, $crate::ConFig, $crate::ConFigConfig, "Conflict-free inverse gradients.";
            GradDrop, graddrop, $crate::GradDrop, $crate::GradDropConfig, "Gradient sign dropout.";
            FairGrad, fairgrad, $crate::FairGrad, $crate::FairGradConfig, "α-fair allocation.";
            AlignedMtl, aligned_mtl, $crate::AlignedMtl, $crate::AlignedMtlConfig, "Independent component alignment.";
            Stch, stch, $crate::Stch, $crate::StchConfig, "Smooth Tchebycheff scalarisation.";
            GradNorm, gradnorm, $crate::GradNorm, $crate::GradNormConfig, "Gradient normalisation.";
            DbMtl, db_mtl, $crate::DbMtl, $crate::DbMtlConfig, "Dual balancing.";
            MoCo, moco, $crate::MoCo, $crate::MoCoConfig, "Multi-objective gradient correction.";
            Imtl, imtl, $crate::Imtl, $crate::ImtlConfig, "IMTL = IMTL-L + IMTL-G.";
            DualProj, dualproj, $crate::DualProj, $crate::DualProjConfig, "Projection onto the dual cone.";
            SdmGrad, sdmgrad, $crate::SdmGrad, $crate::SdmGradConfig, "Stochastic direction-oriented MGDA.";
        }
    };
}

macro_rules! define_registry {
    ($($variant:ident, $name:ident, $method:ty, $config:ty, $doc:literal;)*) => {
        /// A built weighting method.
        #[derive(Module, Debug)]
        pub enum Weighting {
            $(#[doc = $doc] $variant($method),)*
        }

        /// Which method to build, with its settings.
        #[derive(Debug, Clone, PartialEq)]
        pub enum WeightingConfig {
            $(#[doc = $doc] $variant($config),)*
        }

        impl WeightingConfig {
            /// Every config name (`weighting.method`), in registry order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// Config name (`weighting.method`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($name),)*
                }
            }

            /// The method called `name` with its default settings.
            pub fn by_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Self::$variant(<$config>::default())),)*
                    _ => None,
                }
            }

            /// Inputs the method supports; the first is its default.
            pub fn inputs(&self) -> &'static [WeightingInput] {
                match self {
                    $(Self::$variant(_) => <$method>::INPUTS,)*
                }
            }

            /// Refuse settings the method cannot work with.
            pub fn check(&self) -> Result<(), Invalid> {
                match self {
                    $(Self::$variant(c) => c.check(),)*
                }
            }

            /// Build the method for `num_tasks` tasks; trainable state is created on `device`.
            pub fn init(&self, num_tasks: usize, device: &Device) -> Weighting {
                match self {
                    $(Self::$variant(c) => Weighting::$variant(c.init(num_tasks, device)),)*
                }
            }
        }

        impl Weighting {
            fn method(&mut self) -> &mut dyn WeightingMethod {
                match self {
                    $(Self::$variant(m) => m,)*
                }
            }

            fn method_ref(&self) -> &dyn WeightingMethod {
                match self {
                    $(Self::$variant(m) => m,)*
                }
            }
        }
    };
}

weighting_methods!(define_registry);

impl Default for WeightingConfig {
    fn default() -> Self {
        Self::Ew(crate::EwConfig::default())
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

    fn weights_from_gram(&self) -> bool {
        self.method_ref().weights_from_gram()
    }

    fn solves_from_gram(&self) -> bool {
        self.method_ref().solves_from_gram()
    }

    fn gram_weights(
        &mut self,
        ctx: &StepContext,
        k: &crate::gram::Gram,
        losses: &[f64],
        device: &burn::tensor::Device,
    ) -> Vec<f64> {
        self.method().gram_weights(ctx, k, losses, device)
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

    fn reused_weight_steps(&self) -> Option<u64> {
        self.method_ref().reused_weight_steps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for name in WeightingConfig::NAMES {
            assert!(seen.insert(*name), "`{name}` listed twice");
            let config = WeightingConfig::by_name(name).expect("every listed name builds");
            assert_eq!(config.name(), *name);
            assert!(config.check().is_ok(), "`{name}`: the paper's defaults must pass the check");
            assert!(!config.inputs().is_empty(), "`{name}` supports no input");
        }
        assert_eq!(WeightingConfig::by_name("nope"), None);
    }
}

#[cfg(test)]
mod faults {
    use super::*;

    #[test]
    fn non_finite_gradients_neither_panic_nor_hang_in_any_solver() {
        // The trainer stops on a non-finite loss; a method must still return (not loop or
        // panic) on the step that saw it.
        let device = Device::ndarray();
        let bad = [[f32::NAN, 1.0, 0.0], [0.0, f32::INFINITY, 1.0], [1.0, 0.0, 0.0]];
        for name in WeightingConfig::NAMES {
            let config = WeightingConfig::by_name(name).unwrap();
            let Some(input) = config.inputs().iter().copied().find(|i| *i != WeightingInput::Losses) else {
                continue;
            };
            let mut method = config.init(3, &device);
            let ctx = StepContext::first_step(input);
            let g = Tensor::<2>::from_floats(bad, &device);
            let c = method.combine_gradients(&ctx, g, Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device));
            assert_eq!(c.weights.dims(), [3], "{name}");
        }
    }
}

#[cfg(test)]
mod split_columns {
    use super::*;
    use crate::gram::{combine, gram};
    use burn::tensor::Distribution;

    /// A method that combines through its Gram matrix gives the same update when G is split by
    /// columns (as across the processes of a data-parallel run): the halves' Gram matrices sum
    /// to G's, its weights combine each half, and the halves side by side are the update of G.
    /// Four steps, so stateful methods (GradNorm, GradVac, Nash-MTL, FairGrad, IMTL) are
    /// compared after their state has moved; random draws come from a seed reset before each.
    #[test]
    fn gram_weights_on_summed_halves_give_the_whole_update() {
        let device = Device::ndarray();
        let mut covered = Vec::new();
        for name in WeightingConfig::NAMES {
            let config = WeightingConfig::by_name(name).unwrap();
            let Some(input) = config.inputs().iter().copied().find(|i| *i != WeightingInput::Losses) else {
                continue;
            };
            let (mut whole, mut split) = (config.init(3, &device), config.init(3, &device));
            if !whole.weights_from_gram() {
                continue;
            }
            covered.push(*name);
            for step in 0..4 {
                let ctx = StepContext { epoch: 0, step, steps_per_epoch: 4, input };
                device.seed(100 + step as u64);
                let g = Tensor::<2>::random([3, 10], Distribution::Normal(0.0, 1.0), &device);
                let losses = Tensor::<1>::from_floats([1.0, 0.5 + step as f32, 2.0], &device);
                device.seed(7 + step as u64);
                let want = whole.combine_gradients(&ctx, g.clone(), losses.clone()).gradient;
                let (a, b) = (g.clone().narrow(1, 0, 4), g.narrow(1, 4, 6));
                let (ka, kb) = (gram(&a), gram(&b));
                let k: Vec<Vec<f64>> =
                    ka.iter().zip(&kb).map(|(x, y)| x.iter().zip(y).map(|(p, q)| p + q).collect()).collect();
                device.seed(7 + step as u64);
                let w = split.gram_weights(&ctx, &k, &crate::gram::host(losses), &device);
                let got = Tensor::cat(vec![combine(a, &w).gradient, combine(b, &w).gradient], 0);
                let (want, got) = (crate::gram::host(want), crate::gram::host(got));
                let scale = want.iter().map(|x| x.abs()).fold(1e-3, f64::max);
                for (x, y) in want.iter().zip(&got) {
                    assert!((x - y).abs() <= 1e-4 * scale, "{name} step {step}: {want:?} vs {got:?}");
                }
            }
        }
        // Every method whose weights are a function of K is covered.
        for name in ["ew", "mgda", "pcgrad", "cagrad", "nash_mtl", "fairgrad", "upgrad", "gradnorm"] {
            assert!(covered.contains(&name), "{name} does not combine through its Gram matrix");
        }
        for name in ["graddrop", "moco", "db_mtl"] {
            assert!(!covered.contains(&name), "{name} needs G itself");
        }
    }
}
