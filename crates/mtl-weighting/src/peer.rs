//! The peer check (issue #20): every gradient method that TorchJD 0.18.0 also has, against
//! TorchJD's aggregations of a fixed set of 33 matrices (T = 2…8, P = 2…50: random, strongly
//! conflicting, near-collinear, row norms 10⁴ apart, more tasks than dimensions, and the cases
//! of the issue), stored in `tests/fixtures/torchjd/aggregations.json` by its
//! `make_fixture.py`, which records the TorchJD, torch, cvxpy and scipy versions and every
//! setting it chose.
//!
//! The inputs are float32 values (what gradients hold) and TorchJD ran in float64, so the
//! reference is exact to ~1e-15 except where TorchJD's own solver stops early (Frank–Wolfe,
//! ECOS, scipy's `least_squares`). mtl's weights are computed here from the float64 Gram, as
//! its solvers do on the host; on the device the Gram is formed in f32, whose rounding
//! (~1e-7 of ‖g‖², times the conditioning of the method) is what the tolerance allows for:
//! ‖d − d_ref‖ ≤ 1e-4·‖d_ref‖ + 1e-6·rms_t ‖g_t‖ (the second term for updates near 0).
//!
//! Conventions that differ, aligned here and named where they are used:
//! - EW sums the gradients (LibMTL's `EW`); TorchJD's `Mean` averages them (and `Sum` sums).
//! - CAGrad: TorchJD does not rescale; mtl's `rescale = 0` is that (its default, 1, divides
//!   by 1 + c², as the paper's code and LibMTL).
//! - Aligned-MTL: mtl uses B·1 (the paper's code), TorchJD B·1/T.
//! - GradVac: TorchJD adds ε = 1e-8 to its denominators; mtl skips zero norms instead.
//! - GradDrop: mtl adds 1e-7 to the purity's denominator (LibMTL's); TorchJD none.
//! - PCGrad, GradVac, GradDrop draw random numbers: the recorded draws are replayed.
//! - MGDA: mtl solves exactly (Wolfe's active set); the fixture runs TorchJD's Frank–Wolfe to
//!   convergence, and mtl's point must be at least as close to 0 as TorchJD's default run.
//! - Nash-MTL and FairGrad: where TorchJD's solver did not converge (its equation residual is
//!   above 1e-6 relative to its terms: Nash-MTL on 5 of the 30 solvable matrices, residual
//!   0.2…1, ECOS stopping short; scipy's FairGrad converged on all), mtl must instead
//!   satisfy the equation itself; where no solution exists (0 in the hull) mtl must say so,
//!   on exactly those matrices.
//!
//! Not compared: methods TorchJD lacks (GradNorm, DB-MTL, MoCo, IMTL, SDMGrad, the loss
//! methods) and TorchJD's that mtl lacks (Krum, TrimmedMean, …).

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use crate::base::{StepContext, WeightingInput, WeightingMethod};
use crate::gram::{Gram, f32_gram_rtol, mat_vec, quad};

const FIXTURE: &str = include_str!("../../../tests/fixtures/torchjd/aggregations.json");

struct Case {
    name: String,
    g: Vec<Vec<f64>>,
    k: Gram,
    rms: f64,
    data: Value,
}

impl Case {
    fn t(&self) -> usize {
        self.g.len()
    }

    /// d = wᵀG in f64.
    fn update(&self, w: &[f64]) -> Vec<f64> {
        (0..self.g[0].len()).map(|p| (0..self.t()).map(|i| w[i] * self.g[i][p]).sum()).collect()
    }

    fn vector(&self, key: &str) -> Vec<f64> {
        numbers(&self.data["vectors"][key])
    }

    fn weights(&self, key: &str) -> Vec<f64> {
        numbers(&self.data["weights"][key])
    }

    fn tensor(&self) -> Tensor<2> {
        let (t, p) = (self.t(), self.g[0].len());
        let flat: Vec<f32> = self.g.iter().flatten().map(|x| *x as f32).collect();
        Tensor::from_data(TensorData::new(flat, [t, p]), &Device::ndarray())
    }

    /// The recorded visiting orders under `key`, one per task.
    fn orders(&self, key: &str) -> Vec<Vec<usize>> {
        let orders = self.data[key].as_array().unwrap_or_else(|| panic!("{}: no {key}", self.name));
        orders.iter().map(|o| numbers(o).iter().map(|x| *x as usize).collect()).collect()
    }
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}")).iter().map(|x| x.as_f64().unwrap()).collect()
}

fn cases() -> (Value, Vec<Case>) {
    let root: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let cases = root["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let g: Vec<Vec<f64>> = c["matrix"].as_array().unwrap().iter().map(numbers).collect();
            let k: Gram = g
                .iter()
                .map(|a| g.iter().map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum()).collect())
                .collect();
            let rms = ((0..g.len()).map(|i| k[i][i]).sum::<f64>() / g.len() as f64).sqrt();
            Case { name: c["name"].as_str().unwrap().to_string(), g, k, rms, data: c.clone() }
        })
        .collect();
    (root, cases)
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Comparisons made and mismatches found, per method.
#[derive(Default)]
struct Tally {
    compared: std::collections::BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, method: &'static str, case: &Case, got: &[f64], want: &[f64]) {
        *self.compared.entry(method).or_default() += 1;
        let (err, tol) = (distance(got, want), 1e-4 * norm(want) + 1e-6 * case.rms);
        if err.is_nan() || err > tol {
            self.failures.push(format!("{method} on {}: ‖d − d_ref‖ = {err:.3e} > {tol:.3e}", case.name));
        }
    }

    fn fail(&mut self, message: String) {
        self.failures.push(message);
    }
}

fn ctx() -> StepContext {
    StepContext::first_step(WeightingInput::ParameterGradients)
}

fn device_update(method: &mut dyn WeightingMethod, case: &Case) -> Vec<f64> {
    let losses = Tensor::<1>::ones([case.t()], &Device::ndarray());
    let c = method.combine_gradients(&ctx(), case.tensor(), losses);
    c.gradient.into_data().convert::<f64>().to_vec::<f64>().unwrap()
}

#[test]
fn every_method_torchjd_also_has_matches_its_aggregation() {
    let (root, cases) = cases();
    assert_eq!(root["torchjd"], "0.18.0", "the fixture was made with another TorchJD");
    let mut tally = Tally::default();
    for case in &cases {
        let (t, k) = (case.t(), &case.k);
        let rtol = f32_gram_rtol(t);
        // EW sums (on the device, in f32); TorchJD's Sum sums and its Mean averages.
        let ew = device_update(&mut crate::Ew::new(t), case);
        tally.check("ew", case, &ew, &case.vector("sum"));
        let mean: Vec<f64> = case.vector("mean").iter().map(|x| x * t as f64).collect();
        tally.check("ew", case, &ew, &mean);

        check_mgda(case, &mut tally);
        tally.check(
            "upgrad",
            case,
            &case.update(&crate::upgrad::upgrad_weights(k, 1e-4)),
            &case.vector("upgrad"),
        );
        tally.check(
            "dualproj",
            case,
            &case.update(&crate::DualProj::new(1e-4).weights(k)),
            &case.vector("dualproj"),
        );
        // CAGrad: TorchJD does not rescale (mtl's rescale = 0).
        tally.check(
            "cagrad",
            case,
            &case.update(&crate::CaGrad::new(0.5, 0).weights(k)),
            &case.vector("cagrad"),
        );
        let imtl = crate::imtl::imtl_g_weights(k, rtol);
        tally.check("imtl_g", case, &case.update(&imtl), &case.vector("imtl_g"));
        tally.check("imtl_g weights", case, &imtl, &case.weights("imtl_g"));
        let config = crate::conflict_free::config_weights(k, rtol);
        tally.check("config", case, &case.update(&config), &case.vector("config"));
        // Aligned-MTL: mtl's B·1 is T times TorchJD's B·1/T.
        let aligned: Vec<f64> =
            case.update(&crate::aligned::aligned_weights(k)).iter().map(|x| x / t as f64).collect();
        tally.check("aligned_mtl", case, &aligned, &case.vector("aligned_mtl"));

        // The random methods replay TorchJD's draws.
        let orders = case.orders("pcgrad_orders");
        let pcgrad = case.update(&crate::pcgrad::pcgrad_weights(k, &orders));
        tally.check("pcgrad", case, &pcgrad, &case.vector("pcgrad"));
        let orders = case.orders("gradvac_orders");
        let gradvac = case.update(&crate::GradVac::new(t, 0.5).weights(k, &orders));
        tally.check("gradvac", case, &gradvac, &case.vector("gradvac"));
        let u = numbers(&case.data["graddrop_u"]);
        let u = Tensor::<2>::from_data(
            TensorData::new(u.iter().map(|x| *x as f32).collect(), [1, u.len()]),
            &Device::ndarray(),
        );
        let g = case.tensor();
        let mask = crate::graddrop::graddrop_mask(&g, u);
        let graddrop = (g * mask).sum_dim(0).into_data().convert::<f64>().to_vec::<f64>().unwrap();
        tally.check("graddrop", case, &graddrop, &case.vector("graddrop"));

        check_barrier_methods(case, &mut tally);
    }
    let failures = tally.failures.join("\n");
    assert!(tally.failures.is_empty(), "{} mismatches:\n{failures}", tally.failures.len());
    for (method, n) in &tally.compared {
        assert!(*n >= 20, "{method} was compared on only {n} matrices");
    }
}

/// MGDA: mtl's exact min-norm point against TorchJD's Frank–Wolfe run long. Where Frank–Wolfe
/// has not converged (it is sublinear on faces), its point x is still in the hull, and for the
/// min-norm point x* of a convex set ‖x − x*‖² ≤ ‖x‖² − ‖x*‖²: mtl's point passes when it is
/// that close, which certifies it as the better answer. mtl's λ must also meet the optimality
/// conditions (Kλ)_j ≥ λᵀKλ for every j, to rounding.
fn check_mgda(case: &Case, tally: &mut Tally) {
    let (t, k) = (case.t(), &case.k);
    let lambda = crate::Mgda::new(crate::MgdaNormalization::None).weights(k, &vec![1.0; t]);
    let got = case.update(&lambda);
    let (fw, fw_default) = (case.vector("mgda"), case.vector("mgda_default"));
    let tol = 1e-4 * norm(&fw) + 1e-6 * case.rms;
    let bound = (norm(&fw).powi(2) - norm(&got).powi(2)).max(0.0).sqrt() + tol;
    *tally.compared.entry("mgda").or_default() += 1;
    if distance(&got, &fw) > bound {
        tally.fail(format!(
            "mgda on {}: {:.3e} from TorchJD's, above {bound:.3e}",
            case.name,
            distance(&got, &fw)
        ));
    }
    if norm(&got) > norm(&fw_default) + 1e-9 * case.rms {
        tally.fail(format!("mgda on {}: farther from 0 than TorchJD's default Frank–Wolfe", case.name));
    }
    let (kl, q) = (mat_vec(k, &lambda), quad(k, &lambda));
    if kl.iter().any(|x| *x < q - 1e-9 * case.rms * case.rms) {
        tally.fail(format!("mgda on {}: λ is not optimal", case.name));
    }
}

/// Nash-MTL and FairGrad (α = 1, 2) against TorchJD where its solver converged; everywhere
/// else mtl must solve the equation itself, and refuse exactly where no solution exists.
fn check_barrier_methods(case: &Case, tally: &mut Tally) {
    let k = &case.k;
    let origin_in_hull = norm(&case.vector("mgda")) <= 1e-6 * case.rms;
    if crate::nash::barrier_has_no_solution(k) != origin_in_hull {
        tally.fail(format!("{}: mtl's no-solution test disagrees with TorchJD's MGDA", case.name));
    }
    for (method, key, p) in
        [("nash_mtl", "nash_mtl", 1.0), ("fairgrad", "fairgrad_1", 1.0), ("fairgrad", "fairgrad_2", 0.5)]
    {
        let Some(w) = crate::nash::power_barrier_weights(k, p) else {
            if !origin_in_hull {
                tally.fail(format!("{method} on {}: refused, but a solution exists", case.name));
            }
            continue;
        };
        if origin_in_hull {
            tally.fail(format!("{method} on {}: found weights where no solution exists", case.name));
            continue;
        }
        if crate::nash::barrier_residual(&case.k, &w, p) > 1e-10 {
            tally.fail(format!("{method} on {}: mtl's weights do not solve the equation", case.name));
        }
        // TorchJD's α (Nash-MTL: before clipping) or w.
        let reference = case.weights(key);
        if crate::nash::barrier_residual(&case.k, &reference, p) > 1e-6 {
            continue; // TorchJD's solver stopped short; checked above that mtl's does not.
        }
        tally.check(method, case, &case.update(&w), &case.update(&reference));
        if method == "nash_mtl" {
            // With TorchJD's default max_norm = 1, the update is clipped to norm 1 (‖d‖ = √T).
            let clipped: Vec<f64> = case.update(&w).iter().map(|x| x / quad(k, &w).sqrt()).collect();
            tally.check("nash_mtl clipped", case, &clipped, &case.vector("nash_mtl_clipped"));
        }
    }
}

/// The trained path end to end: each method built from its config as a user writes it,
/// combining the f32 gradients on the device (the Gram formed in f32), against TorchJD's
/// defaults, on the fixture's 19 matrices whose cosine matrix is well conditioned (the random
/// and conflicting ones, T ≤ P; elsewhere f32 rounding of K, amplified by the conditioning,
/// exceeds 1e-4). Nash-MTL's default here is TorchJD's default, clipped to max_norm = 1.
#[test]
fn the_methods_as_configured_match_torchjd_through_the_device() {
    use crate::{MethodConfig, WeightingConfig};
    let (_, cases) = cases();
    let mut tally = Tally::default();
    let configured = |name: &str| WeightingConfig::by_name(name).expect("a registered method");
    for case in cases.iter().filter(|c| c.name.starts_with("random_") || c.name.starts_with("conflicting_")) {
        let t = case.t();
        let device = Device::ndarray();
        let run = |config: WeightingConfig| device_update(&mut config.init(t, &device), case);
        tally.check("mgda", case, &run(configured("mgda")), &case.vector("mgda"));
        tally.check("upgrad", case, &run(configured("upgrad")), &case.vector("upgrad"));
        tally.check("dualproj", case, &run(configured("dualproj")), &case.vector("dualproj"));
        tally.check("imtl_g", case, &run(configured("imtl_g")), &case.vector("imtl_g"));
        tally.check("config", case, &run(configured("config")), &case.vector("config"));
        tally.check("fairgrad", case, &run(configured("fairgrad")), &case.vector("fairgrad_1"));
        // Where TorchJD's ECOS stopped short, the barrier tests above hold mtl to the equation.
        if crate::nash::barrier_residual(&case.k, &case.weights("nash_mtl"), 1.0) <= 1e-6 {
            tally.check("nash_mtl", case, &run(configured("nash_mtl")), &case.vector("nash_mtl_clipped"));
        }
        // CAGrad without its default rescale (1 + c²), which TorchJD does not apply.
        let cagrad = crate::CaGradConfig { c: 0.5, rescale: 0 };
        tally.check(
            "cagrad",
            case,
            &device_update(&mut cagrad.init(t, &device), case),
            &case.vector("cagrad"),
        );
        let aligned: Vec<f64> = run(configured("aligned_mtl")).iter().map(|x| x / t as f64).collect();
        tally.check("aligned_mtl", case, &aligned, &case.vector("aligned_mtl"));
    }
    let failures = tally.failures.join("\n");
    assert!(tally.failures.is_empty(), "{} mismatches:\n{failures}", tally.failures.len());
    assert!(tally.compared.values().all(|n| *n >= 16), "{:?}", tally.compared);
}
