//! Shared pieces of the gradient-level methods.
//!
//! Every gradient method here needs the per-task gradients only through their Gram matrix
//! `K = G Gᵀ` (`[T, T]`) and returns task weights `w`; the update is `wᵀ G`. So the `[T, P]`
//! matrix never leaves the device: the device computes `K` (one matmul), the T×T numbers
//! cross to the host for the small solve, and the device forms `wᵀ G` (one matmul).

use burn::tensor::{Device, Distribution, Tensor, TensorData};

use serde::{Deserialize, Serialize};

use crate::base::{GradientCombination, StepContext, WeightingMethod};

pub use crate::base::Gram;

/// `G Gᵀ` of a `[T, P]` gradient matrix, on the device (`[T, T]`).
pub fn gram_on_device(gradients: &Tensor<2>) -> Tensor<2> {
    gradients.clone().matmul(gradients.clone().transpose())
}

/// `G Gᵀ` of a `[T, P]` gradient matrix, read back to the host.
pub fn gram(gradients: &Tensor<2>) -> Gram {
    let t = gradients.dims()[0];
    crate::host::read_f64(gram_on_device(gradients)).chunks(t).map(<[f64]>::to_vec).collect()
}

/// A Gram matrix `k` (`[T, T]`, on the device) and the T losses, read in one host read.
pub fn read_gram_and_losses(k: Tensor<2>, losses: Tensor<1>) -> (Gram, Vec<f64>) {
    let t = k.dims()[0];
    let mut v = crate::host::read_f64(Tensor::cat(vec![k.reshape([t * t]), losses], 0));
    let losses = v.split_off(t * t);
    (v.chunks(t).map(<[f64]>::to_vec).collect(), losses)
}

/// The update `wᵀ G`, formed on the device, with `w` as the logged weights.
pub fn combine(gradients: Tensor<2>, w: &[f64]) -> GradientCombination {
    let device = gradients.device();
    let weights =
        Tensor::<1>::from_data(TensorData::new(w.iter().map(|x| *x as f32).collect(), [w.len()]), &device);
    let gradient = weights.clone().unsqueeze_dim::<2>(0).matmul(gradients).squeeze_dim::<1>(0);
    GradientCombination { gradient, weights }
}

/// For each task i, a random order of the tasks, drawn with the backend's generator on
/// `device` (seeded per epoch by the trainer). PCGrad and GradVac visit the others in it.
pub fn random_orders(t: usize, device: &Device) -> Vec<Vec<usize>> {
    let keys = host(Tensor::<2>::random([t, t], Distribution::Default, device).reshape([t * t]));
    keys.chunks(t)
        .map(|row| {
            let mut o: Vec<usize> = (0..t).collect();
            o.sort_by(|a, b| row[*a].total_cmp(&row[*b]));
            o
        })
        .collect()
}

/// PyTorch's Adam (β = (0.9, 0.999), ε = 1e-8, no weight decay) for T host parameters: the
/// moments and step count of the methods that learn task logits outside the model's optimizer
/// (FAMO, GradNorm, IMTL). Saved with their state (flattened into it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostAdam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: u64,
}

impl HostAdam {
    /// Zero moments for `n` parameters.
    pub fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    /// Whether the moments hold `n` parameters.
    pub fn fits(&self, n: usize) -> bool {
        self.m.len() == n && self.v.len() == n
    }

    /// One step on `x` with gradient `g`.
    pub fn step(&mut self, x: &mut [f64], g: &[f64], lr: f64) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t as i32), 1.0 - B2.powi(self.t as i32));
        for (((x, m), v), g) in x.iter_mut().zip(self.m.iter_mut()).zip(self.v.iter_mut()).zip(g) {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *x -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// A `[T]` tensor read back to the host (one counted read).
pub fn host(t: Tensor<1>) -> Vec<f64> {
    crate::host::read_f64(t)
}

/// `K w`.
pub fn mat_vec(k: &Gram, w: &[f64]) -> Vec<f64> {
    k.iter().map(|row| row.iter().zip(w).map(|(a, b)| a * b).sum()).collect()
}

/// `wᵀ K w`.
pub fn quad(k: &Gram, w: &[f64]) -> f64 {
    mat_vec(k, w).iter().zip(w).map(|(a, b)| a * b).sum()
}

/// Euclidean projection onto the probability simplex (Duchi et al., ICML 2008).
pub fn project_simplex(v: &[f64]) -> Vec<f64> {
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut cumsum = 0.0;
    let mut theta = 0.0;
    for (i, x) in u.iter().enumerate() {
        cumsum += x;
        let t = (cumsum - 1.0) / (i + 1) as f64;
        if x - t > 0.0 {
            theta = t;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

/// The largest diagonal entry of K (the largest squared gradient norm), the scale the solvers
/// measure their tolerances against; `None` when it is not a positive finite number (all
/// gradients zero, or a non-finite one), where no solver has anything to do.
pub fn largest_diagonal(k: &Gram) -> Option<f64> {
    let scale = (0..k.len()).map(|i| k[i][i]).fold(0.0f64, f64::max);
    (scale > 0.0 && scale.is_finite()).then_some(scale)
}

/// Solve the bordered system `[A u; uᵀ 0] [x; ν] = [b; c]` (a quadratic's stationary point
/// under the constraint uᵀx = c) for x; `None` when it is singular to working precision.
pub fn solve_bordered(a: &Gram, u: &[f64], b: &[f64], c: f64) -> Option<Vec<f64>> {
    let n = u.len();
    let m: Gram = (0..=n)
        .map(|r| {
            (0..=n)
                .map(|col| match (r < n, col < n) {
                    (true, true) => a[r][col],
                    (true, false) => u[r],
                    (false, true) => u[col],
                    (false, false) => 0.0,
                })
                .collect()
        })
        .collect();
    let mut rhs = b.to_vec();
    rhs.push(c);
    let mut x = solve(&m, &rhs)?;
    x.truncate(n);
    Some(x)
}

/// The minimum-norm point of the convex hull of the gradients: `argmin_{λ ∈ Δ} λᵀ K λ`,
/// exactly (to rounding), by Wolfe's active-set algorithm (P. Wolfe, "Finding the nearest
/// point in a polytope", Math. Programming 11, 1976) on the Gram matrix. A major cycle adds
/// the vertex that most decreases ‖x‖ (the most negative `(Kλ)_j`); minor cycles move to the
/// affine minimiser of the active set and drop the vertices whose weight reaches zero. It ends
/// when no vertex improves by more than 1e-12 of the largest `K_tt` (Wolfe's test), so where 0
/// lies in the hull the result is 0 to rounding. The active set stays affinely independent, so
/// at most P + 1 vertices (any T, any rank).
pub fn min_norm_point(k: &Gram) -> Vec<f64> {
    let t = k.len();
    let Some(scale) = largest_diagonal(k).filter(|_| t > 1) else {
        return vec![1.0 / t as f64; t];
    };
    let tol = 1e-12 * scale;
    let first = (0..t).min_by(|a, b| k[*a][*a].total_cmp(&k[*b][*b])).expect("T ≥ 1");
    let mut lambda = vec![0.0; t];
    lambda[first] = 1.0;
    let mut active = vec![first];
    for _ in 0..(50 + 10 * t) {
        let kl = mat_vec(k, &lambda);
        let xx = quad(k, &lambda);
        let j = (0..t).min_by(|a, b| kl[*a].total_cmp(&kl[*b])).expect("T ≥ 1");
        if xx - kl[j] <= tol || active.contains(&j) {
            break;
        }
        active.push(j);
        // Minor cycles: at most one per vertex dropped.
        while let Some(mu) = affine_minimiser(k, &active) {
            if mu.iter().all(|m| *m > 0.0) {
                for (&i, m) in active.iter().zip(&mu) {
                    lambda[i] = *m;
                }
                break;
            }
            // Move from λ towards μ until the first weight reaches zero, then drop it.
            let theta = active
                .iter()
                .zip(&mu)
                .filter(|(_, m)| **m <= 0.0)
                .map(|(&i, m)| lambda[i] / (lambda[i] - m))
                .fold(1.0f64, f64::min);
            for (&i, m) in active.iter().zip(&mu) {
                lambda[i] += theta * (m - lambda[i]);
            }
            let (dropped, kept): (Vec<usize>, Vec<usize>) = active.iter().partition(|&&i| lambda[i] <= 1e-15);
            dropped.iter().for_each(|&i| lambda[i] = 0.0);
            active = kept;
        }
    }
    let sum: f64 = lambda.iter().sum();
    lambda.iter().map(|l| l / sum).collect()
}

/// The weights μ (summing to 1) of the point of least norm in the affine hull of the vertices
/// `active`: `[K_SS 1; 1ᵀ 0] [μ; ν] = [0; 1]`; `None` when the vertices are affinely dependent
/// to working precision.
fn affine_minimiser(k: &Gram, active: &[usize]) -> Option<Vec<f64>> {
    let n = active.len();
    let kss: Gram = active.iter().map(|&r| active.iter().map(|&c| k[r][c]).collect()).collect();
    solve_bordered(&kss, &vec![1.0; n], &vec![0.0; n], 1.0)
}

/// The eigenpairs `(λ, v)` of a Gram matrix K = GGᵀ on the directions the gradients span,
/// with its numerical null space removed. Rounding in K formed from f32 gradients is relative
/// to the norms of the two gradients of each entry, not to K's largest eigenvalue, so a
/// direction is judged on the cosine matrix C = D⁻¹KD⁻¹ (D = diag of the norms): eigenvectors
/// of C with eigenvalues at or below `rtol` of C's largest, mapped back by D⁻¹, and zero
/// gradients, form the null space N of K. K is then projected off N and decomposed; its
/// remaining eigenvalues are genuine however small (a task whose gradient is 10⁻⁴ of the
/// others keeps its direction, as it does in float64).
pub fn gram_eigen(k: &Gram, rtol: f64) -> Vec<(f64, Vec<f64>)> {
    let t = k.len();
    let n: Vec<f64> = (0..t).map(|i| k[i][i].max(0.0).sqrt()).collect();
    let live: Vec<usize> = (0..t).filter(|i| n[*i] > 0.0 && n[*i].is_finite()).collect();
    let mut null: Vec<Vec<f64>> = (0..t)
        .filter(|i| !live.contains(i))
        .map(|i| (0..t).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    if !live.is_empty() {
        let c: Gram = live.iter().map(|&i| live.iter().map(|&j| k[i][j] / (n[i] * n[j])).collect()).collect();
        let (lc, vc) = symmetric_eigen(&c);
        let max = lc.iter().copied().fold(0.0f64, f64::max);
        for (col, _) in lc.iter().enumerate().filter(|(_, l)| **l <= rtol * max) {
            let mut x = vec![0.0; t];
            for (r, &i) in live.iter().enumerate() {
                x[i] = vc[r][col] / n[i];
            }
            null.push(x);
        }
    }
    // Orthonormalise N (modified Gram–Schmidt).
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for mut x in null {
        for b in &basis {
            let dot: f64 = x.iter().zip(b).map(|(a, b)| a * b).sum();
            x.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-8 {
            basis.push(x.iter().map(|a| a / norm).collect());
        }
    }
    // K' = PKP with P = I − NNᵀ: its eigenvalues on N are 0; drop those q smallest.
    let p: Gram = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| f64::from(u8::from(i == j)) - basis.iter().map(|b| b[i] * b[j]).sum::<f64>())
                .collect()
        })
        .collect();
    let mul = |a: &Gram, b: &Gram| -> Gram {
        (0..t).map(|i| (0..t).map(|j| (0..t).map(|m| a[i][m] * b[m][j]).sum()).collect()).collect()
    };
    let kp = mul(&mul(&p, k), &p);
    let sym: Gram = (0..t).map(|i| (0..t).map(|j| 0.5 * (kp[i][j] + kp[j][i])).collect()).collect();
    let (lambda, v) = symmetric_eigen(&sym);
    let mut order: Vec<usize> = (0..t).collect();
    order.sort_by(|a, b| lambda[*a].total_cmp(&lambda[*b]));
    order
        .into_iter()
        .skip(basis.len())
        .filter(|c| lambda[*c] > 0.0)
        .map(|c| (lambda[c], (0..t).map(|i| v[i][c]).collect()))
        .collect()
}

/// `pinv(K) b` for a Gram matrix K, on the directions [`gram_eigen`] keeps — the
/// least-squares solution of minimum norm, as `torch.linalg.pinv` (which TorchJD's IMTL-G
/// uses) gives in float64.
pub fn pinv_mul(k: &Gram, b: &[f64], rtol: f64) -> Vec<f64> {
    let mut x = vec![0.0; b.len()];
    for (l, v) in gram_eigen(k, rtol) {
        let coef: f64 = v.iter().zip(b).map(|(v, b)| v * b).sum::<f64>() / l;
        x.iter_mut().zip(&v).for_each(|(x, v)| *x += coef * v);
    }
    x
}

/// The relative eigenvalue tolerance of the cosine matrix of T gradients held in f32:
/// 8·T·ε_f32, just above the rounding noise of its entries (so directions the gradients do not
/// span count as zero), and far below any direction they really have.
pub fn f32_gram_rtol(t: usize) -> f64 {
    8.0 * t as f64 * f64::from(f32::EPSILON)
}

/// Solve `A x = b` for a small dense `A` by Gaussian elimination with partial pivoting;
/// `None` when `A` is singular to working precision.
pub fn solve(a: &Gram, b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> =
        a.iter().zip(b).map(|(row, bi)| row.iter().copied().chain([*bi]).collect()).collect();
    let scale = a.iter().flatten().fold(0.0f64, |s, x| s.max(x.abs())).max(f64::MIN_POSITIVE);
    for col in 0..n {
        let pivot = (col..n).max_by(|i, j| m[*i][col].abs().total_cmp(&m[*j][col].abs()))?;
        if m[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        m.swap(col, pivot);
        let (top, bottom) = m.split_at_mut(col + 1);
        let p = &top[col];
        for row in bottom.iter_mut() {
            let f = row[col] / p[col];
            for (x, y) in row[col..].iter_mut().zip(&p[col..]) {
                *x -= f * y;
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| m[row][c] * x[c]).sum();
        x[row] = (m[row][n] - s) / m[row][row];
    }
    Some(x)
}

/// Solve `A x = b` for a small symmetric positive definite `A` by Cholesky; where rounding
/// makes a pivot non-positive (curvature below f64's resolution in some direction), the
/// smallest damping `A + μI` (μ = 1e-14, 1e-12, … times the largest diagonal) that factors,
/// so the step stays a descent direction. `None` only for a non-finite `A`.
pub fn solve_spd_damped(a: &Gram, b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = (0..n).map(|i| a[i][i]).fold(0.0f64, f64::max);
    if !scale.is_finite() || a.iter().flatten().any(|x| !x.is_finite()) {
        return None;
    }
    let mut mu = 0.0;
    loop {
        if let Some(l) = cholesky(a, mu) {
            // L y = b, then Lᵀ x = y.
            let mut y = vec![0.0; n];
            for i in 0..n {
                y[i] = (b[i] - (0..i).map(|j| l[i][j] * y[j]).sum::<f64>()) / l[i][i];
            }
            let mut x = vec![0.0; n];
            for i in (0..n).rev() {
                x[i] = (y[i] - (i + 1..n).map(|j| l[j][i] * x[j]).sum::<f64>()) / l[i][i];
            }
            return Some(x);
        }
        mu = if mu == 0.0 { 1e-14 * scale.max(f64::MIN_POSITIVE) } else { mu * 100.0 };
        if mu > scale.max(f64::MIN_POSITIVE) * 1e6 {
            return None;
        }
    }
}

/// The lower Cholesky factor of `A + μI`, or `None` at a non-positive pivot.
fn cholesky(a: &Gram, mu: f64) -> Option<Gram> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
            if i == j {
                let d = a[i][i] + mu - s;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Some(l)
}

/// Eigenvalues and eigenvectors (columns of the returned matrix) of a small symmetric matrix,
/// by the cyclic Jacobi method (Golub & Van Loan, §8.5). T is at most a few dozen here, where
/// Jacobi is accurate and simple; a linear-algebra crate would add build time for one T×T
/// call.
pub fn symmetric_eigen(a: &Gram) -> (Vec<f64>, Gram) {
    let n = a.len();
    let mut a = a.clone();
    let mut v: Gram = (0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    let total: f64 = a.iter().flatten().map(|x| x * x).sum();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut().chain(v.iter_mut()) {
                    let (x, y) = (row[p], row[q]);
                    row[p] = c * x - s * y;
                    row[q] = s * x + c * y;
                }
                let (rp, rq) = (a[p].clone(), a[q].clone());
                for k in 0..n {
                    a[p][k] = c * rp[k] - s * rq[k];
                    a[q][k] = s * rp[k] + c * rq[k];
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

/// `combine_gradients` of a method that [`WeightingMethod::weights_from_gram`]: the Gram
/// matrix of `gradients`, the method's weights from it, and `wᵀ G` on the device.
pub fn combine_through_gram<M: WeightingMethod + ?Sized>(
    method: &mut M,
    ctx: &StepContext,
    gradients: Tensor<2>,
    losses: Tensor<1>,
) -> GradientCombination {
    let k = gram_on_device(&gradients);
    combine_with_gram(method, ctx, gradients, k, losses)
}

/// [`combine_through_gram`] with the Gram matrix `k` of `gradients` already computed on the
/// device (a trainer that also derives statistics from it): K and the losses cross to the host
/// in one read, the method's weights come from them, and `wᵀ G` is formed on the device.
pub fn combine_with_gram<M: WeightingMethod + ?Sized>(
    method: &mut M,
    ctx: &StepContext,
    gradients: Tensor<2>,
    k: Tensor<2>,
    losses: Tensor<1>,
) -> GradientCombination {
    let device = gradients.device();
    let (k, losses) = read_gram_and_losses(k, losses);
    let w = method.gram_weights(ctx, &k, &losses, &device);
    combine(gradients, &w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn simplex_projection_matches_hand_values() {
        assert_eq!(project_simplex(&[0.5, 0.5]), vec![0.5, 0.5]);
        assert_eq!(project_simplex(&[2.0, 0.0]), vec![1.0, 0.0]);
        // (0.6, 0.6, −1): θ = 0.1 → (0.5, 0.5, 0).
        let p = project_simplex(&[0.6, 0.6, -1.0]);
        assert!((p[0] - 0.5).abs() < 1e-12 && (p[1] - 0.5).abs() < 1e-12 && p[2] == 0.0, "{p:?}");
    }

    #[test]
    fn min_norm_point_of_two_and_three_gradients() {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        // g1 = (1, 0), g2 = (0, 2): λ = (4/5, 1/5), the point (4/5, 2/5).
        let l = min_norm_point(&vec![vec![1.0, 0.0], vec![0.0, 4.0]]);
        assert!(close(&l, &[0.8, 0.2]), "{l:?}");
        // Three orthonormal gradients: the centroid, exactly.
        let k = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let l = min_norm_point(&k);
        assert!(close(&l, &[1.0 / 3.0; 3]), "{l:?}");
        // A gradient inside the hull's cone: (1, 0) and (2, 0) → all weight on the shorter.
        assert_eq!(min_norm_point(&vec![vec![1.0, 2.0], vec![2.0, 4.0]]), vec![1.0, 0.0]);
    }

    #[test]
    fn min_norm_point_is_exactly_zero_where_the_hull_holds_the_origin() {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        // (1, 0), (0, 1), (−1, −1): 0 = (g1 + g2 + g3)/3. Frank–Wolfe stalls at ~1e-3 here.
        let g = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]];
        let k: Gram = g.iter().map(|a| g.iter().map(|b| a[0] * b[0] + a[1] * b[1]).collect()).collect();
        let l = min_norm_point(&k);
        assert!(quad(&k, &l) < 1e-28, "{l:?}");
        assert!(l.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12), "{l:?}");
        // More tasks than dimensions (T = 4 in R¹): 1, −1, 2, −3 → 0 on the edge (1, −1).
        let g = [1.0, -1.0, 2.0, -3.0];
        let k: Gram = g.iter().map(|a| g.iter().map(|b| a * b).collect()).collect();
        let l = min_norm_point(&k);
        assert!(quad(&k, &l) < 1e-28 && l.iter().all(|x| *x >= 0.0), "{l:?}");
        // The closest point lies inside a face: g = (1, 1, 0), (1, −1, 0), (3, 0, 1):
        // the edge g1–g2 holds (1, 0, 0), and g3 does not improve on it ((1,0,0)·g3 = 3 > 1).
        let g = [[1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [3.0, 0.0, 1.0]];
        let dot = |a: &[f64; 3], b: &[f64; 3]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let k: Gram = g.iter().map(|a| g.iter().map(|b| dot(a, b)).collect()).collect();
        let l = min_norm_point(&k);
        assert!(close(&l, &[0.5, 0.5, 0.0]), "{l:?}");
    }

    #[test]
    fn pinv_mul_is_the_least_squares_minimum_norm_solution() {
        // K = diag(2, 0): pinv(K)(1, 1) = (1/2, 0).
        let x = pinv_mul(&vec![vec![2.0, 0.0], vec![0.0, 0.0]], &[1.0, 1.0], 1e-6);
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
        // [[1, 1], [1, 1]] has eigenvalues 2 (along (1, 1)/√2) and 0: pinv = K/4.
        let x = pinv_mul(&vec![vec![1.0, 1.0], vec![1.0, 1.0]], &[1.0, 3.0], 1e-6);
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12, "{x:?}");
    }

    #[test]
    fn symmetric_eigen_reconstructs_the_matrix() {
        let a = vec![vec![4.0, 1.0, -2.0], vec![1.0, 2.0, 0.5], vec![-2.0, 0.5, 3.0]];
        let (l, v) = symmetric_eigen(&a);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| v[i][k] * l[k] * v[j][k]).sum();
                assert!((r - a[i][j]).abs() < 1e-12, "({i}, {j}): {r} vs {}", a[i][j]);
                let o: f64 = (0..3).map(|k| v[k][i] * v[k][j]).sum();
                assert!((o - f64::from(u8::from(i == j))).abs() < 1e-12, "V is orthogonal");
            }
        }
        // A 2×2 case by hand: [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let (mut l, _) = symmetric_eigen(&vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        l.sort_by(f64::total_cmp);
        assert!((l[0] - 1.0).abs() < 1e-12 && (l[1] - 3.0).abs() < 1e-12, "{l:?}");
    }

    #[test]
    fn solve_and_device_helpers() {
        let a = vec![vec![2.0, 1.0], vec![1.0, 3.0]];
        let x = solve(&a, &[3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12, "{x:?}");
        assert!(solve(&vec![vec![1.0, 2.0], vec![2.0, 4.0]], &[1.0, 2.0]).is_none());
        let x = solve_spd_damped(&a, &[3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12, "{x:?}");
        // Singular: damped just enough to factor, and still a descent direction (xᵀb > 0).
        let x = solve_spd_damped(&vec![vec![1.0, 1.0], vec![1.0, 1.0]], &[1.0, 0.0]).unwrap();
        assert!(x.iter().all(|v| v.is_finite()) && x[0] > 0.0, "{x:?}");

        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]], &device);
        assert_eq!(gram(&g), vec![vec![5.0, 2.0], vec![2.0, 2.0]]);
        let GradientCombination { gradient: c, weights: w } = combine(g, &[2.0, -1.0]);
        assert_eq!(c.into_data().to_vec::<f32>().unwrap(), vec![2.0, 3.0, -1.0]);
        assert_eq!(w.into_data().to_vec::<f32>().unwrap(), vec![2.0, -1.0]);
    }
}
