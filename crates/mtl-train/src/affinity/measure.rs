//! One measurement of the task-affinity matrices on one batch.
//!
//! - **Gradient cosine, shared parameters**: per task a forward and a backward give
//!   g_t = ∇_θs L_t; C_ij = cos(g_i, g_j).
//! - **Gradient cosine, shared representation**: one forward of the shared part, then per task
//!   a head forward and backward give ∇_z L_t; cosines of those (flattened over the batch).
//! - **Output-gradient similarity**: per task the per-sample gradient of its loss at its own
//!   outputs, G_t = ∂L_t/∂ŷ_t (B × K_t: the residual for a regression, p − y for logits);
//!   per pair, over the samples both tasks label, linear CKA (Kornblith, Norouzi, Lee,
//!   Hinton, "Similarity of Neural Network Representations Revisited", ICML 2019, eq. 4)
//!   with the unbiased HSIC estimator (Song et al. 2012), so that unrelated tasks score about
//!   0 whatever their output widths; reported as the signed square root, S_ij ≈ |r_ij| (the
//!   correlation of the two gradients) for one output each. Sign-free: tasks whose errors
//!   move together or against each other can both be served by one representation (their
//!   heads flip the sign). The representation gradient is this gradient carried back through
//!   the head, ∇_z L_t = Σ_n J_t(n)ᵀ G_t(n): early in training the heads' Jacobians J_t are
//!   random and hide the tasks' relation in the representation cosine; this measure is what
//!   the shared part is asked to fit, without them. At the first step it is about the
//!   targets' dependence; later, that of what is still unexplained.
//! - **Look-ahead affinity** (TAG: Fifty, Amid, Zhao, Yu, Anil, Finn, "Efficiently Identifying
//!   Task Groupings in Multi-Task Learning", NeurIPS 2021, eq. 3): a virtual SGD step on the
//!   shared parameters with task i's gradient alone, θs' = θs − η·g_i (heads unchanged), then
//!   Z_{i→j} = 1 − L_j(θs', θj) / L_j(θs, θj) on the same batch. Positive: task i's step helps
//!   task j. Asymmetric.
//! - **Gate overlap** (gated architectures): with p̄_t the mean gate distribution of task t over
//!   the batch, O_ij = Σ_e min(p̄_i(e), p̄_j(e)) (histogram intersection; 1 = same experts).
//!
//! Cost per measured step, T tasks: T forward + T backward passes of the whole network (the
//! parameter gradients), one shared forward + T head forward/backward passes (the representation
//! gradients; the output gradients come with them, one loss backward each), T forward passes
//! of the whole network (the look-ahead), one gate pass.

use crate::input::BatchInput;
use std::collections::HashSet;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use mtl_data::{MultiTaskBatch, TaskSpec};
use mtl_model::MultiTaskModel;

use crate::grads::flatten;
use crate::loss::masked_loss;
use crate::metrics::host_values;
use crate::step::{batch_losses, inner_batch};

/// The matrices of one batch, on the host; `NaN` where undefined (a task without labels in
/// the batch, a zero gradient).
#[derive(Debug, Clone, PartialEq)]
pub struct StepAffinity {
    /// Cosines of the shared-parameter gradients. `[T][T]`.
    pub parameter_cosine: Vec<Vec<f64>>,
    /// Cosines of the shared-representation gradients. `[T][T]`.
    pub representation_cosine: Vec<Vec<f64>>,
    /// Similarities of the output gradients (signed √ of debiased linear CKA). `[T][T]`.
    pub output_similarity: Vec<Vec<f64>>,
    /// TAG's Z_{i→j}, row i = the task that stepped. `[T][T]`.
    pub lookahead: Vec<Vec<f64>>,
    /// Gate-distribution overlap; `None` for architectures without gates.
    pub gate_overlap: Option<Vec<Vec<f64>>>,
}

/// Subtract `lr·flat` (laid out as by [`flatten`]) from the parameters `ids`.
struct Step<'a> {
    flat: Tensor<1>,
    lr: f64,
    offset: usize,
    ids: &'a HashSet<ParamId>,
}

impl ModuleMapper for Step<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !self.ids.contains(&param.id) {
            return param;
        }
        let dims: [usize; D] = param.lazy_shape().dims::<D>();
        let n: usize = dims.iter().product();
        let g = self.flat.clone().narrow(0, self.offset, n).reshape(dims).mul_scalar(self.lr);
        self.offset += n;
        param.map(|p| p - g)
    }
}

/// The model with its shared parameters moved by −lr·`flat`.
pub fn virtual_step(
    model: &MultiTaskModel,
    flat: Tensor<1>,
    lr: f64,
    ids: &HashSet<ParamId>,
) -> MultiTaskModel {
    model.clone().map(&mut Step { flat, lr, offset: 0, ids })
}

fn cosines(rows: &[Tensor<1>]) -> Vec<Vec<f64>> {
    let g = Tensor::stack::<2>(rows.to_vec(), 0);
    let t = rows.len();
    let k = host_values(mtl_weighting::gram::gram_on_device(&g).flatten(0, 1));
    let norm = |i: usize| k[i * t + i].max(0.0).sqrt();
    (0..t)
        .map(|i| {
            (0..t)
                .map(|j| k[i * t + j] / (norm(i) * norm(j)))
                .map(|c| if c.is_finite() { c } else { f64::NAN })
                .collect()
        })
        .collect()
}

/// One task's per-sample output gradients on the host: `values` row-major `[B][width]`, and
/// which samples the task labels.
#[derive(Debug, Clone)]
pub struct OutputGradient {
    /// `[B × width]`, row-major.
    pub values: Vec<f64>,
    /// Outputs of the task (K_t).
    pub width: usize,
    /// `[B]`: the sample has a label for the task (mask > 0).
    pub labelled: Vec<bool>,
}

impl OutputGradient {
    /// Sample `r`'s gradient.
    fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.width..(r + 1) * self.width]
    }
}

/// Song, Smola, Gretton, Bedo, Borgwardt, "Feature Selection via Dependence Maximization",
/// JMLR 13 (2012), eq. 5: the unbiased estimator of HSIC with linear kernels K = AAᵀ, L = BBᵀ
/// over `rows` (at least 4), in feature space: with K̃, L̃ the kernels with zeroed diagonals,
/// [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)).
fn hsic(a: &OutputGradient, b: &OutputGradient, rows: &[usize]) -> f64 {
    let n = rows.len() as f64;
    let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| p * q).sum::<f64>();
    let sum = |g: &OutputGradient| {
        let mut s = vec![0.0; g.width];
        for &r in rows {
            s.iter_mut().zip(g.row(r)).for_each(|(acc, v)| *acc += v);
        }
        s
    };
    let (sa, sb) = (sum(a), sum(b));
    // AᵀB, then tr(KL) = ‖AᵀB‖²_F.
    let mut ab = vec![0.0; a.width * b.width];
    let (mut diag, mut kl_1, mut k1, mut l1) = (0.0, 0.0, 0.0, 0.0);
    for &r in rows {
        let (u, v) = (a.row(r), b.row(r));
        for (i, ui) in u.iter().enumerate() {
            for (j, vj) in v.iter().enumerate() {
                ab[i * b.width + j] += ui * vj;
            }
        }
        let (kii, lii) = (dot(u, u), dot(v, v));
        diag += kii * lii;
        // (K̃1)_r·(L̃1)_r
        kl_1 += (dot(u, &sa) - kii) * (dot(v, &sb) - lii);
        k1 += kii;
        l1 += lii;
    }
    let trace = ab.iter().map(|x| x * x).sum::<f64>() - diag;
    let (k_sum, l_sum) = (dot(&sa, &sa) - k1, dot(&sb, &sb) - l1);
    (trace + k_sum * l_sum / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * kl_1) / (n * (n - 3.0))
}

/// The output-gradient similarity matrix (module docs): per pair, over the samples both tasks
/// label, debiased linear CKA = HSIC₁(A, B) / √(HSIC₁(A, A)·HSIC₁(B, B)) (HSIC₁: Song et al.'s
/// unbiased estimator), reported as its signed square root (≈ |r| for one output each; about
/// 0 ± noise for unrelated tasks, whatever their widths). `NaN` where fewer than 4 samples are shared or a task's gradient
/// does not vary over them.
pub fn output_similarity(tasks: &[OutputGradient]) -> Vec<Vec<f64>> {
    let pair = |i: &OutputGradient, j: &OutputGradient| -> f64 {
        let rows: Vec<usize> = (0..i.labelled.len()).filter(|&n| i.labelled[n] && j.labelled[n]).collect();
        if rows.len() < 4 {
            return f64::NAN;
        }
        let (ii, jj) = (hsic(i, i, &rows), hsic(j, j, &rows));
        // A gradient that does not vary over the rows has HSIC 0 up to rounding, relative to
        // the square of its mean squared norm.
        let varies = |h: f64, g: &OutputGradient| {
            let scale = rows.iter().flat_map(|&r| g.row(r)).map(|v| v * v).sum::<f64>() / rows.len() as f64;
            h > 1e-9 * scale * scale
        };
        if !(varies(ii, i) && varies(jj, j)) {
            return f64::NAN;
        }
        let cka = (hsic(i, j, &rows) / (ii * jj).sqrt()).clamp(-1.0, 1.0);
        if cka.is_finite() { cka.signum() * cka.abs().sqrt() } else { f64::NAN }
    };
    tasks.iter().map(|i| tasks.iter().map(|j| pair(i, j)).collect()).collect()
}

/// Measure every matrix on `batch` (on the autodiff device of `model`), with look-ahead
/// learning rate `lr`. Leaves `model` unchanged.
pub fn measure(model: &MultiTaskModel, batch: &MultiTaskBatch, tasks: &[TaskSpec], lr: f64) -> StepAffinity {
    let x = batch.input();
    let shared: Vec<ParamId> = model.shared_param_ids();
    let ids: HashSet<ParamId> = shared.iter().copied().collect();
    let device = x.device().inner();
    let t_count = tasks.len();
    let loss = |t: usize, out: Tensor<2>| {
        masked_loss(tasks[t].kind, out, batch.targets[t].clone(), batch.masks[t].clone())
    };

    // Shared-parameter gradients, one full pass per task (Burn has no retain_graph).
    let mut param_rows = Vec::with_capacity(t_count);
    let mut before = Vec::with_capacity(t_count);
    for t in 0..t_count {
        let z = model.architecture.shared(x.clone());
        let l = loss(t, model.forward_task_from_shared(t, &x, z));
        let mut grads = l.backward();
        let g = GradientsParams::from_params(&mut grads, model, &shared);
        param_rows.push(flatten(model, &g, &ids, &device));
        before.push(l.detach().inner());
    }
    let before = host_values(Tensor::cat(before, 0));

    // Shared-representation gradients: z detached into a leaf, a head pass per task.
    let z = model.architecture.shared(x.clone()).detach();
    let dims = z.dims();
    let mut repr_rows = Vec::with_capacity(t_count);
    let mut outputs = Vec::with_capacity(t_count);
    for t in 0..t_count {
        let leaf = z.clone().require_grad();
        let out = model.forward_task_from_shared(t, &x, leaf.clone());
        // The output gradient: the loss alone, on the outputs as a leaf.
        let out_leaf = out.clone().detach().require_grad();
        let g_out = out_leaf.grad(&loss(t, out_leaf.clone()).backward()).expect("the loss reads the outputs");
        let width = g_out.dims()[1];
        let labelled = host_values(batch.masks[t].clone().inner()).into_iter().map(|m| m > 0.0).collect();
        outputs.push(OutputGradient { values: host_values(g_out.flatten(0, 1)), width, labelled });
        let grads = loss(t, out).backward();
        let g = leaf.grad(&grads).expect("every head reads the shared representation");
        repr_rows.push(g.reshape([dims[0] * dims[1]]));
    }

    // TAG look-ahead on the non-autodiff copy.
    let inner = model.valid();
    let plain = inner_batch(batch);
    let lookahead = param_rows
        .iter()
        .map(|g| {
            let after = host_values(batch_losses(&virtual_step(&inner, g.clone(), lr, &ids), &plain, tasks));
            (0..t_count)
                .map(|j| if before[j] > 0.0 { 1.0 - after[j] / before[j] } else { f64::NAN })
                .collect()
        })
        .collect();

    let gate_overlap = inner.gate_weights(&plain.input()).map(|gates| {
        let means: Vec<Vec<f64>> =
            gates.into_iter().map(|g| host_values(g.mean_dim(0).flatten(0, 1))).collect();
        means
            .iter()
            .map(|p| means.iter().map(|q| p.iter().zip(q).map(|(a, b)| a.min(*b)).sum()).collect())
            .collect()
    });

    StepAffinity {
        parameter_cosine: cosines(&param_rows),
        representation_cosine: cosines(&repr_rows),
        output_similarity: output_similarity(&outputs),
        lookahead,
        gate_overlap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn task(values: Vec<f64>, width: usize) -> OutputGradient {
        let n = values.len() / width;
        OutputGradient { values, width, labelled: vec![true; n] }
    }

    fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
        // Box–Muller: enough for test data.
        (0..n)
            .map(|_| {
                let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            })
            .collect()
    }

    /// Song et al. 2012, eq. 5, with the n × n kernels written out.
    fn hsic_by_kernels(a: &OutputGradient, b: &OutputGradient, rows: &[usize]) -> f64 {
        let kernel = |g: &OutputGradient| -> Vec<Vec<f64>> {
            let dot = |i: usize, j: usize| {
                (0..g.width).map(|k| g.values[i * g.width + k] * g.values[j * g.width + k]).sum()
            };
            rows.iter()
                .map(|&i| rows.iter().map(|&j| if i == j { 0.0 } else { dot(i, j) }).collect())
                .collect()
        };
        let (k, l) = (kernel(a), kernel(b));
        let n = rows.len() as f64;
        let trace: f64 =
            (0..rows.len()).map(|i| (0..rows.len()).map(|j| k[i][j] * l[j][i]).sum::<f64>()).sum();
        let k1: Vec<f64> = k.iter().map(|r| r.iter().sum()).collect();
        let l1: Vec<f64> = l.iter().map(|r| r.iter().sum()).collect();
        let kl1: f64 = k1.iter().zip(&l1).map(|(p, q)| p * q).sum();
        let (sk, sl) = (k1.iter().sum::<f64>(), l1.iter().sum::<f64>());
        (trace + sk * sl / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * kl1) / (n * (n - 3.0))
    }

    #[test]
    fn hsic_in_feature_space_is_the_kernel_formula() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = task(normals(&mut rng, 11 * 3), 3);
        let b = task(normals(&mut rng, 11), 1);
        let rows = [0, 2, 3, 5, 6, 7, 10];
        for (x, y) in [(&a, &b), (&a, &a), (&b, &b), (&b, &a)] {
            let (got, want) = (hsic(x, y, &rows), hsic_by_kernels(x, y, &rows));
            assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "got {got}, want {want}");
        }
    }

    #[test]
    fn same_or_opposite_errors_are_fully_similar_whatever_the_scale_shift_or_rotation() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let a = normals(&mut rng, 20);
        let opposite: Vec<f64> = a.iter().map(|v| 5.0 - 3.0 * v).collect();
        let s = output_similarity(&[task(a.clone(), 1), task(opposite, 1)]);
        assert!((s[0][1] - 1.0).abs() < 1e-9 && (s[0][0] - 1.0).abs() < 1e-9, "{s:?}");
        // Two outputs and the same two rotated by 30° and scaled: one space of errors.
        let wide = normals(&mut rng, 40);
        let (c, si) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let turned: Vec<f64> = wide
            .chunks(2)
            .flat_map(|p| [2.0 * (c * p[0] - si * p[1]), 2.0 * (si * p[0] + c * p[1])])
            .collect();
        let s = output_similarity(&[task(wide, 2), task(turned, 2)]);
        assert!((s[0][1] - 1.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn similarity_tends_to_the_absolute_correlation_and_unrelated_tasks_to_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // b = ρa + √(1−ρ²)e with ρ = −0.6: S → |ρ| for large n.
        let (n, rho) = (20_000, -0.6f64);
        let a = normals(&mut rng, n);
        let e = normals(&mut rng, n);
        let b: Vec<f64> = a.iter().zip(&e).map(|(x, z)| rho * x + (1.0 - rho * rho).sqrt() * z).collect();
        let s = output_similarity(&[task(a, 1), task(b, 1)])[0][1];
        assert!((s - 0.6).abs() < 0.02, "{s}");
        // Independent errors of a 3-output and a 4-output task on batches of 64: debiased, CKA
        // is 0 on average (the biased estimate sits near √(3·4)/64 ≈ 0.054, its root near 0.23).
        let draws = 400;
        let cka: Vec<f64> = (0..draws)
            .map(|_| {
                let (x, y) = (task(normals(&mut rng, 64 * 3), 3), task(normals(&mut rng, 64 * 4), 4));
                let s = output_similarity(&[x, y])[0][1];
                s * s.abs()
            })
            .collect();
        let mean = cka.iter().sum::<f64>() / draws as f64;
        let sd = (cka.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (draws - 1) as f64).sqrt();
        assert!(mean.abs() < 4.0 * sd / (draws as f64).sqrt() && mean.abs() < 0.01, "mean {mean}, sd {sd}");
    }

    #[test]
    fn only_samples_both_tasks_label_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let a = normals(&mut rng, 12);
        let mut b: Vec<f64> = a.iter().map(|v| 0.5 * v).collect();
        let mut labelled = vec![true; 12];
        // Unrelated values on the samples b does not label.
        for n in [1, 4, 9] {
            b[n] = 100.0 * (n as f64).sin();
            labelled[n] = false;
        }
        let s = output_similarity(&[task(a, 1), OutputGradient { values: b, width: 1, labelled }]);
        assert!((s[0][1] - 1.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn too_few_shared_samples_or_a_constant_gradient_are_undefined() {
        let few = OutputGradient {
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0],
            width: 1,
            labelled: vec![true, true, true, false, false],
        };
        let other = task(vec![2.0, 1.0, 0.0, 3.0, 1.0], 1);
        assert!(output_similarity(&[few, other.clone()])[0][1].is_nan());
        let flat = task(vec![0.5; 5], 1);
        let s = output_similarity(&[flat, other]);
        assert!(s[0][1].is_nan() && s[0][0].is_nan() && (s[1][1] - 1.0).abs() < 1e-9, "{s:?}");
    }
}
