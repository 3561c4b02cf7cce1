//! Shared pieces of the gradient-level methods.
//!
//! Every gradient method here needs the per-task gradients only through their Gram matrix
//! `K = G Gᵀ` (`[T, T]`) and returns task weights `w`; the update is `wᵀ G`. So the `[T, P]`
//! matrix never leaves the device: the device computes `K` (one matmul), the T×T numbers
//! cross to the host for the small solve, and the device forms `wᵀ G` (one matmul).

use burn::tensor::{Device, Distribution, Tensor, TensorData};

use serde::{Deserialize, Serialize};

use crate::base::GradientCombination;

/// A small dense symmetric matrix on the host, row-major.
pub type Gram = Vec<Vec<f64>>;

/// `G Gᵀ` of a `[T, P]` gradient matrix, read back to the host.
pub fn gram(gradients: &Tensor<2>) -> Gram {
    let t = gradients.dims()[0];
    let k = gradients.clone().matmul(gradients.clone().transpose());
    let v = k.into_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data");
    v.chunks(t).map(<[f64]>::to_vec).collect()
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

/// A `[T]` tensor read back to the host.
pub fn host(t: Tensor<1>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data")
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

/// The minimum-norm point of the convex hull of the gradients: `argmin_{λ ∈ Δ} λᵀ K λ`, by
/// Frank–Wolfe with exact line search (Sener & Koltun 2018, Algorithm 2; Jaggi 2013), from the
/// best vertex or pair, as LibMTL's `_find_min_norm_element`. Stops when an iteration moves λ
/// by less than `tol` (L1) or after `max_iter` iterations.
pub fn min_norm_point(k: &Gram, max_iter: usize, tol: f64) -> Vec<f64> {
    let t = k.len();
    if t == 1 {
        return vec![1.0];
    }
    // Start from the best pair (the exact 2-task solution on each edge).
    let mut best = (f64::INFINITY, vec![1.0 / t as f64; t]);
    for i in 0..t {
        for j in i + 1..t {
            let (gamma, cost) = min_norm_pair(k[i][i], k[i][j], k[j][j]);
            if cost < best.0 {
                let mut l = vec![0.0; t];
                l[i] = gamma;
                l[j] = 1.0 - gamma;
                best = (cost, l);
            }
        }
    }
    let mut lambda = best.1;
    for _ in 0..max_iter {
        let kl = mat_vec(k, &lambda);
        let s = (0..t).min_by(|a, b| kl[*a].total_cmp(&kl[*b])).expect("T ≥ 1");
        // Line search between v = Σ λ g and g_s: v·v, v·g_s, g_s·g_s.
        let vv = quad(k, &lambda);
        let (gamma, _) = min_norm_pair(vv, kl[s], k[s][s]);
        let mut next: Vec<f64> = lambda.iter().map(|l| gamma * l).collect();
        next[s] += 1.0 - gamma;
        let change: f64 = next.iter().zip(&lambda).map(|(a, b)| (a - b).abs()).sum();
        lambda = next;
        if change < tol {
            break;
        }
    }
    lambda
}

/// `argmin_{γ ∈ [0, 1]} ‖γ a + (1 − γ) b‖²` from `a·a`, `a·b`, `b·b`: `(γ, value)`.
pub fn min_norm_pair(aa: f64, ab: f64, bb: f64) -> (f64, f64) {
    if ab >= aa {
        return (1.0, aa);
    }
    if ab >= bb {
        return (0.0, bb);
    }
    let gamma = (bb - ab) / (aa + bb - 2.0 * ab);
    (gamma, gamma * gamma * aa + 2.0 * gamma * (1.0 - gamma) * ab + (1.0 - gamma) * (1.0 - gamma) * bb)
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
        // g1 = (1, 0), g2 = (0, 2): λ = (4/5, 1/5), the point (4/5, 2/5).
        let k = vec![vec![1.0, 0.0], vec![0.0, 4.0]];
        let l = min_norm_point(&k, 250, 1e-9);
        assert!((l[0] - 0.8).abs() < 1e-12 && (l[1] - 0.2).abs() < 1e-12, "{l:?}");
        // Three orthonormal gradients: the centroid.
        let k = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let l = min_norm_point(&k, 1000, 1e-12);
        assert!(l.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-3), "{l:?}");
        // A gradient inside the hull's cone: (1, 0) and (2, 0) → all weight on the shorter.
        let k = vec![vec![1.0, 2.0], vec![2.0, 4.0]];
        assert_eq!(min_norm_point(&k, 250, 1e-9), vec![1.0, 0.0]);
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

        let device = Device::ndarray();
        let g = Tensor::<2>::from_floats([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]], &device);
        assert_eq!(gram(&g), vec![vec![5.0, 2.0], vec![2.0, 2.0]]);
        let GradientCombination { gradient: c, weights: w } = combine(g, &[2.0, -1.0]);
        assert_eq!(c.into_data().to_vec::<f32>().unwrap(), vec![2.0, 3.0, -1.0]);
        assert_eq!(w.into_data().to_vec::<f32>().unwrap(), vec![2.0, -1.0]);
    }
}
