//! Choosing task groups from an affinity matrix (TAG's selection rule, for a partition).
//!
//! A partition puts every task in exactly one group. Task t receives from its group the mean
//! affinity of its group-mates onto it, a_t = mean_{i ∈ G(t), i ≠ t} Z_{i→t} (0 alone in its
//! group), and a partition scores Σ_t a_t (Fifty et al. 2021, §3.2, with each task served by
//! its own group). For T ≤ [`EXHAUSTIVE_TASKS`] every partition into K non-empty groups is
//! scored (restricted-growth strings; at most Bell(10) = 115,975); beyond, a local search
//! (documented in [`best_partition`]) gives a good partition without a guarantee.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

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

/// Entry-wise mean of T×T matrices, each entry over the matrices where it is finite (`NaN`
/// where it never is).
pub fn mean_matrix<'a>(matrices: impl IntoIterator<Item = &'a Vec<Vec<f64>>>) -> Vec<Vec<f64>> {
    let mut sums: Vec<Vec<(f64, usize)>> = Vec::new();
    for m in matrices {
        if sums.is_empty() {
            sums = m.iter().map(|r| vec![(0.0, 0); r.len()]).collect();
        }
        for (row, values) in sums.iter_mut().zip(m) {
            for (cell, &v) in row.iter_mut().zip(values) {
                if v.is_finite() {
                    cell.0 += v;
                    cell.1 += 1;
                }
            }
        }
    }
    sums.into_iter()
        .map(|r| r.into_iter().map(|(s, n)| if n > 0 { s / n as f64 } else { f64::NAN }).collect())
        .collect()
}

/// How sure a chosen partition is (`groups.json`'s `stability`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stability {
    /// Bootstrap resamples drawn.
    pub resamples: usize,
    /// Measuring runs (seeds) resampled.
    pub runs: usize,
    /// Measured steps, all runs together.
    pub steps: usize,
    /// Share of the resamples whose best partition is the chosen one.
    pub share: f64,
    /// `[T][T]`: share of the resamples in which tasks i and j land in one group (1 on the
    /// diagonal).
    pub together: Vec<Vec<f64>>,
}

/// Below this share of agreeing resamples a partition is called unstable (the CLI warns).
pub const STABLE_SHARE: f64 = 0.8;

/// The stability of `chosen`, the best `k`-partition of the mean of every measured step of
/// every run (`runs[r][s]`: run r's step s, a T×T matrix): a two-level bootstrap (Davison &
/// Hinkley 1997, §3.8) draws `resamples` times, from a generator seeded with `seed`, as many
/// runs as there are with replacement and within each drawn run as many of its steps with
/// replacement, averages them and partitions again. Resampling the runs sees what a seed
/// changes (initialisation, split, batch order) — the steps of one run share its
/// initialisation, so with one run the share only bounds the noise of its steps and is
/// optimistic.
pub fn stability(
    runs: &[Vec<Vec<Vec<f64>>>],
    chosen: &[Vec<usize>],
    k: usize,
    resamples: usize,
    seed: u64,
) -> Stability {
    let t = chosen.iter().map(Vec::len).sum::<usize>();
    let mut together = vec![vec![0usize; t]; t];
    let mut same = 0;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let live: Vec<&Vec<Vec<Vec<f64>>>> = runs.iter().filter(|r| !r.is_empty()).collect();
    for _ in 0..resamples {
        let mut drawn: Vec<&Vec<Vec<f64>>> = Vec::new();
        for _ in 0..live.len() {
            let run = live[if live.len() > 1 { rng.random_range(0..live.len()) } else { 0 }];
            drawn.extend((0..run.len()).map(|_| &run[rng.random_range(0..run.len())]));
        }
        let (groups, _) = best_partition(&mean_matrix(drawn), k);
        same += usize::from(groups == chosen);
        for g in &groups {
            for &i in g {
                for &j in g {
                    together[i][j] += 1;
                }
            }
        }
    }
    let share = |n: usize| if resamples == 0 { f64::NAN } else { n as f64 / resamples as f64 };
    Stability {
        resamples,
        runs: live.len(),
        steps: live.iter().map(|r| r.len()).sum(),
        share: share(same),
        together: together.into_iter().map(|r| r.into_iter().map(share).collect()).collect(),
    }
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

    /// `n` steps of the blocks matrix plus noise of amplitude `noise` (seeded).
    fn noisy_steps(n: usize, noise: f64, seed: u64) -> Vec<Vec<Vec<f64>>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                (blocks().iter())
                    .map(|r| r.iter().map(|v| v + noise * (rng.random::<f64>() * 2.0 - 1.0)).collect())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn mean_matrix_skips_undefined_entries() {
        let a = vec![vec![f64::NAN, 1.0], vec![2.0, f64::NAN]];
        let b = vec![vec![f64::NAN, 3.0], vec![f64::NAN, f64::NAN]];
        let m = mean_matrix([&a, &b]);
        assert!(m[0][0].is_nan() && m[1][1].is_nan());
        assert_eq!((m[0][1], m[1][0]), (2.0, 2.0));
    }

    #[test]
    fn a_clear_grouping_is_stable_and_noise_is_not() {
        // Little noise: every resample gives the blocks; tasks of a block always together.
        let steps = noisy_steps(40, 0.1, 1);
        let (chosen, _) = best_partition(&mean_matrix(&steps), 2);
        assert_eq!(chosen, vec![vec![0, 1], vec![2, 3]]);
        let s = stability(&[steps], &chosen, 2, 100, 7);
        assert_eq!((s.resamples, s.runs, s.steps, s.share), (100, 1, 40, 1.0));
        assert_eq!(s.together[0][1], 1.0);
        assert_eq!(s.together[0][2], 0.0);
        assert_eq!(s.together[3][3], 1.0);
        // Noise 30× the signal: the mean moves with the resample, and so does the partition
        // (3 partitions of 4 tasks into pairs, 7 into 2 groups in all).
        let steps = noisy_steps(40, 30.0, 2);
        let (chosen, _) = best_partition(&mean_matrix(&steps), 2);
        let s = stability(std::slice::from_ref(&steps), &chosen, 2, 100, 7);
        assert!(s.share < STABLE_SHARE, "{s:?}");
        assert!(s.together[0][1] < 1.0 && s.together[0][2] > 0.0, "{s:?}");
        // The resample draws are seeded.
        assert_eq!(s, stability(&[steps], &chosen, 2, 100, 7));
        // Symmetric shares.
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(s.together[i][j], s.together[j][i]);
            }
        }
    }

    #[test]
    fn runs_that_disagree_make_a_partition_unstable_that_each_run_alone_calls_stable() {
        // Two runs whose steps agree within the run but not across: run A sees the blocks
        // {0,1} {2,3}, run B sees {0,2} {1,3}, each without noise.
        let a = noisy_steps(30, 0.0, 1);
        let swap = |m: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            let p = [0, 2, 1, 3]; // B's task i is A's task p[i]
            (0..4).map(|i| (0..4).map(|j| m[p[i]][p[j]]).collect()).collect()
        };
        let b: Vec<Vec<Vec<f64>>> = a.iter().map(swap).collect();
        let (chosen_a, _) = best_partition(&mean_matrix(&a), 2);
        assert_eq!(stability(std::slice::from_ref(&a), &chosen_a, 2, 50, 3).share, 1.0);
        let both = [a, b];
        let pooled: Vec<&Vec<Vec<f64>>> = both.iter().flatten().collect();
        let (chosen, _) = best_partition(&mean_matrix(pooled), 2);
        let s = stability(&both, &chosen, 2, 200, 3);
        assert_eq!((s.runs, s.steps), (2, 60));
        // A resample holds A twice (1/4), B twice (1/4) or both (1/2).
        assert!(s.share < STABLE_SHARE && s.share > 0.0, "{s:?}");
        assert!((s.together[0][1] - 0.25).abs() < 0.1 || (s.together[0][2] - 0.25).abs() < 0.1, "{s:?}");
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
