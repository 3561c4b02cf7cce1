//! A two-step funnel, impression → click → conversion, whose true rates are known on every
//! impression: the data of the models that pass knowledge along a chain of tasks (ESMM,
//! ESCM², AITM), where a conversion is only observed after a click.
//!
//! The generator of [`SyntheticConfig`](crate::SyntheticConfig) draws the two latents y_click
//! and y_conv of every impression (their weight vectors at cosine `correlation`: how much
//! clicking and converting share). Each latent is standardised over the impressions and
//! turned into a probability
//!
//! p_t(x) = σ(k · (y_t − mean) / std + b_t), k = [`LOGIT_SCALE`],
//!
//! with b_t found by bisection so that the mean of p_t over the impressions is the configured
//! rate (`click_rate`, and `conversion_rate` over the *entire* impression space). Then
//! click ~ Bernoulli(p_click) and conversion ~ Bernoulli(p_conv), independently given x and
//! on every impression. The conversion is *observed* only where the impression was clicked
//! (elsewhere its label is missing), which is the sample selection bias of ESMM (Ma et al.,
//! SIGIR 2018, §2.2): the clicked rows over-represent high y_click and, through the shared
//! direction, high y_conv. A lower `click_rate` makes the observed sample smaller and more
//! biased. Still, click and conversion are independent *given x*; `confounding` κ adds what
//! real logs have on top, a latent u ~ N(0, 1) of each impression that is not among the
//! features and moves both steps: each standardised latent becomes √(1−κ)·z_t + √κ·u before
//! the calibration, so that p(conversion | x, click) ≠ p(conversion | x). The unobserved truth
//! stays in the data (`conversion_true`, `p_click`,
//! `p_conversion` columns of `mtl synth`), so entire-space metrics can be computed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::DataError;
use crate::task::{TaskKind, TaskSpec};

/// The slope k of the logits in the standardised latent: p spans roughly σ(b ± 2k) over ±2
/// standard deviations.
pub const LOGIT_SCALE: f64 = 2.0;

/// Funnel settings (`[data.synthetic.funnel]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Funnel {
    /// Mean click probability over the impressions, in (0, 1).
    pub click_rate: f64,
    /// Mean conversion probability over all impressions (clicked or not), in (0, 1).
    pub conversion_rate: f64,
    /// Share κ ∈ [0, 1) of each latent's variance that comes from an unobserved latent shared
    /// by the click and the conversion (0: independent given the features).
    pub confounding: f64,
}

/// One draw of the funnel: per impression, the true probabilities and the outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelDraw {
    /// p_click(x).
    pub p_click: Vec<f64>,
    /// p_conv(x), defined on every impression.
    pub p_conversion: Vec<f64>,
    /// The click.
    pub click: Vec<bool>,
    /// The conversion as it would happen on every impression (observed only where clicked).
    pub conversion: Vec<bool>,
}

fn invalid(key: &str, message: String) -> DataError {
    DataError::InvalidSetting { key: format!("data.synthetic.funnel.{key}"), message }
}

impl Funnel {
    /// Check the rates.
    pub fn validate(&self) -> Result<(), DataError> {
        for (key, rate) in [("click_rate", self.click_rate), ("conversion_rate", self.conversion_rate)] {
            if !(rate > 0.0 && rate < 1.0) {
                return Err(invalid(key, format!("{rate} is not a rate strictly between 0 and 1")));
            }
        }
        if !(0.0..1.0).contains(&self.confounding) {
            return Err(invalid("confounding", format!("{} is not a share in [0, 1)", self.confounding)));
        }
        Ok(())
    }

    /// The funnel's tasks: two binary tasks, the click then the conversion.
    pub fn check_tasks(tasks: &[TaskSpec]) -> Result<(), DataError> {
        if tasks.len() != 2 || tasks.iter().any(|t| t.kind != TaskKind::Binary) {
            let found: Vec<String> =
                tasks.iter().map(|t| format!("{} ({})", t.name, t.kind.name())).collect();
            return Err(DataError::InvalidSetting {
                key: "data.synthetic.funnel".into(),
                message: format!(
                    "a funnel has two binary tasks, the click then the conversion; the config has [{}]",
                    found.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// The probabilities and outcomes of the impressions whose latents are `click` and
    /// `conversion`, with outcomes drawn from `seed`.
    pub fn draw(&self, click: &[f64], conversion: &[f64], seed: u64) -> FunnelDraw {
        let (click, conversion) = if self.confounding == 0.0 {
            (click.to_vec(), conversion.to_vec())
        } else {
            let k = self.confounding;
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC0_F0D5);
            let u: Vec<f64> = (0..click.len()).map(|_| rng.sample(rand_distr::StandardNormal)).collect();
            let mix = |latent: &[f64]| -> Vec<f64> {
                let z = standardised(latent);
                z.iter().zip(&u).map(|(z, u)| (1.0 - k).sqrt() * z + k.sqrt() * u).collect()
            };
            (mix(click), mix(conversion))
        };
        let p_click = calibrated(&click, self.click_rate);
        let p_conversion = calibrated(&conversion, self.conversion_rate);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xF0_77E1);
        let mut outcomes = |p: &[f64]| p.iter().map(|&p| rng.random::<f64>() < p).collect::<Vec<bool>>();
        let click = outcomes(&p_click);
        let conversion = outcomes(&p_conversion);
        FunnelDraw { p_click, p_conversion, click, conversion }
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// `latent` minus its mean, over its (population) standard deviation.
fn standardised(latent: &[f64]) -> Vec<f64> {
    let n = latent.len().max(1) as f64;
    let mean = latent.iter().sum::<f64>() / n;
    let std = (latent.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    latent.iter().map(|v| (v - mean) / if std > 0.0 { std } else { 1.0 }).collect()
}

/// σ(k · standardised latent + b) with b such that the mean is `rate` (bisection: the mean is
/// increasing in b).
pub fn calibrated(latent: &[f64], rate: f64) -> Vec<f64> {
    let n = latent.len().max(1) as f64;
    let mean = latent.iter().sum::<f64>() / n;
    let std = (latent.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // k·(v − mean)/std in this order: the recorded study's probabilities, bit for bit.
    let z: Vec<f64> =
        latent.iter().map(|v| LOGIT_SCALE * (v - mean) / if std > 0.0 { std } else { 1.0 }).collect();
    let mean_at = |b: f64| z.iter().map(|&v| sigmoid(v + b)).sum::<f64>() / n;
    let (mut lo, mut hi) = (-60.0, 60.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mean_at(mid) < rate { lo = mid } else { hi = mid }
    }
    let b = 0.5 * (lo + hi);
    z.iter().map(|&v| sigmoid(v + b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_have_the_configured_mean_and_follow_the_latent() {
        let latent: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin() * 3.0 + i as f64 * 1e-3).collect();
        for rate in [0.01, 0.2, 0.9] {
            let p = calibrated(&latent, rate);
            let mean = p.iter().sum::<f64>() / p.len() as f64;
            assert!((mean - rate).abs() < 1e-9, "{rate}: {mean}");
            // Monotone in the latent.
            let mut pairs: Vec<(f64, f64)> = latent.iter().copied().zip(p.iter().copied()).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(pairs.windows(2).all(|w| w[0].1 <= w[1].1));
        }
        // By hand: latents −1, +1 standardise to ∓1; with rate 1/2 the bias is 0 by symmetry.
        let p = calibrated(&[-1.0, 1.0], 0.5);
        let want = [sigmoid(-LOGIT_SCALE), sigmoid(LOGIT_SCALE)];
        assert!((p[0] - want[0]).abs() < 1e-12 && (p[1] - want[1]).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn outcomes_are_seeded_bernoulli_draws() {
        let f = Funnel { click_rate: 0.2, conversion_rate: 0.1, confounding: 0.0 };
        let latent: Vec<f64> = (0..20_000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let d = f.draw(&latent, &latent, 3);
        assert_eq!(d, f.draw(&latent, &latent, 3));
        assert_ne!(d.click, f.draw(&latent, &latent, 4).click);
        let rate = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
        // Binomial: 4 standard deviations of the mean at n = 20000.
        let sd = |p: f64| 4.0 * (p * (1.0 - p) / 20_000.0).sqrt();
        assert!((rate(&d.click) - 0.2).abs() < sd(0.2), "{}", rate(&d.click));
        assert!((rate(&d.conversion) - 0.1).abs() < sd(0.1), "{}", rate(&d.conversion));
    }

    #[test]
    fn bad_rates_and_tasks_are_refused_with_the_key() {
        let e = Funnel { click_rate: 0.0, conversion_rate: 0.1, confounding: 0.0 }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.synthetic.funnel.click_rate"), "{e}");
        let e = Funnel { click_rate: 0.5, conversion_rate: 1.0, confounding: 0.0 }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.synthetic.funnel.conversion_rate"), "{e}");
        let e = Funnel { click_rate: 0.5, conversion_rate: 0.5, confounding: 1.0 }.validate().unwrap_err();
        assert!(e.to_string().contains("data.synthetic.funnel.confounding"), "{e}");
        let t = |name: &str, kind| TaskSpec { name: name.into(), kind };
        assert!(Funnel::check_tasks(&[t("c", TaskKind::Binary), t("v", TaskKind::Binary)]).is_ok());
        let e = Funnel::check_tasks(&[t("c", TaskKind::Binary), t("v", TaskKind::Regression)]).unwrap_err();
        assert!(e.to_string().contains("v (regression)"), "{e}");
    }
}
