//! Choosing task groups from an affinity matrix (TAG's selection rule, for a partition).
//!
//! A partition puts every task in exactly one group. Task t receives from its group the mean
//! affinity of its group-mates onto it, a_t = mean_{i ∈ G(t), i ≠ t} Z_{i→t} (0 alone in its
//! group), and a partition scores Σ_t a_t (Fifty et al. 2021, §3.2, with each task served by
//! its own group). For T ≤ [`EXHAUSTIVE_TASKS`] every partition into K non-empty groups is
//! scored (restricted-growth strings; at most Bell(10) = 115,975); beyond, a local search
//! (documented in [`best_partition`]) gives a good partition without a guarantee.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Largest task count searched exhaustively.
pub const EXHAUSTIVE_TASKS: usize = 10;

/// Σ_t a_t of `groups` under `z` (`z[i][j]` = Z_{i→j}; `NaN` entries count as 0).
pub fn score(z: &[Vec<f64>], groups: &[Vec<usize>]) -> f64 {
    let at = |i: usize, j: usize| if z[i][j].is_nan() { 0.0 } else { z[i][j] };
    groups
        .iter()
        .filter(|g| g.len() > 1)
        .map(|g| {
            g.iter()
                .map(|&t| {
                    g.iter().filter(|&&i| i != t).map(|&i| at(i, t)).sum::<f64>() / (g.len() - 1) as f64
                })
                .sum::<f64>()
        })
        .sum()
}

fn groups_of(assign: &[usize], k: usize) -> Vec<Vec<usize>> {
    let mut g = vec![Vec::new(); k];
    for (t, &a) in assign.iter().enumerate() {
        g[a].push(t);
    }
    g
}

/// The best partition of the tasks of `z` into `k` non-empty groups and its score. Groups come
/// sorted by their first task. Exhaustive up to [`EXHAUSTIVE_TASKS`] tasks (ties: the first
/// found in restricted-growth order); beyond, from 32 seeded random starts, moves of one task
/// to another group and swaps of two tasks are applied while they raise the score.
pub fn best_partition(z: &[Vec<f64>], k: usize) -> (Vec<Vec<usize>>, f64) {
    let t = z.len();
    assert!((1..=t).contains(&k), "k = {k} groups for {t} tasks");
    if t <= EXHAUSTIVE_TASKS {
        let mut best: Option<(Vec<usize>, f64)> = None;
        let mut assign = vec![0usize; t];
        exhaustive(z, k, &mut assign, 1, 1, &mut best);
        let (a, s) = best.expect("a partition into k ≤ T groups exists");
        return (groups_of(&a, k), s);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut best: Option<(Vec<usize>, f64)> = None;
    for _ in 0..32 {
        // A random assignment with every group used.
        let mut order: Vec<usize> = (0..t).collect();
        order.shuffle(&mut rng);
        let mut assign = vec![0; t];
        for (i, &task) in order.iter().enumerate() {
            assign[task] = if i < k { i } else { i % k };
        }
        let mut current = score(z, &groups_of(&assign, k));
        loop {
            let mut improved = false;
            for task in 0..t {
                for g in 0..k {
                    let from = assign[task];
                    if g == from || assign.iter().filter(|&&a| a == from).count() == 1 {
                        continue;
                    }
                    assign[task] = g;
                    let s = score(z, &groups_of(&assign, k));
                    if s > current + 1e-12 {
                        current = s;
                        improved = true;
                    } else {
                        assign[task] = from;
                    }
                }
                for other in task + 1..t {
                    if assign[task] == assign[other] {
                        continue;
                    }
                    assign.swap(task, other);
                    let s = score(z, &groups_of(&assign, k));
                    if s > current + 1e-12 {
                        current = s;
                        improved = true;
                    } else {
                        assign.swap(task, other);
                    }
                }
            }
            if !improved {
                break;
            }
        }
        if best.as_ref().is_none_or(|(_, s)| current > *s + 1e-12) {
            best = Some((assign, current));
        }
    }
    let (a, s) = best.expect("32 starts");
    let mut groups = groups_of(&a, k);
    groups.sort();
    (groups, s)
}

/// Restricted-growth enumeration: task `i` joins an existing group or opens group `used`.
fn exhaustive(
    z: &[Vec<f64>],
    k: usize,
    assign: &mut Vec<usize>,
    i: usize,
    used: usize,
    best: &mut Option<(Vec<usize>, f64)>,
) {
    let t = z.len();
    // Not enough tasks left to open the missing groups.
    if used + (t - i) < k {
        return;
    }
    if i == t {
        if used == k {
            let s = score(z, &groups_of(assign, k));
            if best.as_ref().is_none_or(|(_, b)| s > *b + 1e-12) {
                *best = Some((assign.clone(), s));
            }
        }
        return;
    }
    for g in 0..=used.min(k - 1) {
        assign[i] = g;
        exhaustive(z, k, assign, i + 1, used.max(g + 1), best);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two blocks {0, 1} and {2, 3}: strong affinity inside, harm across.
    fn blocks() -> Vec<Vec<f64>> {
        vec![
            vec![f64::NAN, 0.5, -0.1, -0.2],
            vec![0.4, f64::NAN, -0.3, 0.0],
            vec![-0.2, -0.1, f64::NAN, 0.6],
            vec![0.0, -0.4, 0.3, f64::NAN],
        ]
    }

    #[test]
    fn score_by_hand() {
        // {0,1}: a_0 = Z_{1→0} = 0.4, a_1 = Z_{0→1} = 0.5; {2,3}: a_2 = 0.3, a_3 = 0.6.
        assert!((score(&blocks(), &[vec![0, 1], vec![2, 3]]) - 1.8).abs() < 1e-12);
        // {0,1,2}: a_0 = (0.4 − 0.2)/2, a_1 = (0.5 − 0.1)/2, a_2 = (−0.1 − 0.3)/2; {3} alone: 0.
        assert!((score(&blocks(), &[vec![0, 1, 2], vec![3]]) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn the_search_finds_the_blocks() {
        let (g, s) = best_partition(&blocks(), 2);
        assert_eq!(g, vec![vec![0, 1], vec![2, 3]]);
        assert!((s - 1.8).abs() < 1e-12);
        // One group: everyone together; four groups: singletons, score 0.
        assert_eq!(best_partition(&blocks(), 1).0, vec![vec![0, 1, 2, 3]]);
        assert_eq!(best_partition(&blocks(), 4), (vec![vec![0], vec![1], vec![2], vec![3]], 0.0));
    }

    #[test]
    fn local_search_recovers_planted_groups_beyond_the_exhaustive_size() {
        // 12 tasks in three planted groups of four: +1 inside, −1 across.
        let t = 12;
        let group = |i: usize| [0, 1, 2][i % 3];
        let z: Vec<Vec<f64>> = (0..t)
            .map(|i| {
                (0..t)
                    .map(|j| {
                        if i == j {
                            f64::NAN
                        } else if group(i) == group(j) {
                            1.0
                        } else {
                            -1.0
                        }
                    })
                    .collect()
            })
            .collect();
        let (g, s) = best_partition(&z, 3);
        assert_eq!(g, vec![vec![0, 3, 6, 9], vec![1, 4, 7, 10], vec![2, 5, 8, 11]]);
        assert!((s - 12.0).abs() < 1e-9);
    }
}
