//! Task sampling for multi-input mode, where every task brings its own samples.
//!
//! An epoch draws as many samples as the tasks hold together (N = Σ n_t), but not necessarily
//! each once: task t gets N·p_t draws, with
//!
//! - proportional: p_t = n_t / N (every sample once, as in single-input mode);
//! - uniform: p_t = 1 / T (small tasks oversampled, large ones subsampled);
//! - temperature τ: p_t ∝ n_t^{1/τ} (τ = 1 proportional, τ → ∞ uniform; the multilingual-NMT
//!   rule of Arivazhagan et al. 2019, used by MT-DNN and T5 for task mixing).
//!
//! Draw counts are rounded by largest remainder so they sum to N exactly, which makes the task
//! frequencies of an epoch deterministic. A task's draws walk through seeded permutations of
//! its samples (a fresh one each time it runs out), so an oversampled task repeats every sample
//! equally often and a subsampled one sees a different subset each epoch.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// How an epoch shares its draws among the tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// p_t ∝ n_t.
    Proportional,
    /// p_t = 1/T over the tasks that have samples.
    Uniform,
    /// p_t ∝ n_t^{1/τ}, τ > 0.
    Temperature(f64),
}

impl Sampling {
    /// Sampling probability of each task, given each task's number of samples.
    pub fn probabilities(&self, sizes: &[usize]) -> Vec<f64> {
        let mass: Vec<f64> = sizes
            .iter()
            .map(|&n| match self {
                _ if n == 0 => 0.0,
                Sampling::Proportional => n as f64,
                Sampling::Uniform => 1.0,
                Sampling::Temperature(tau) => (n as f64).powf(1.0 / tau),
            })
            .collect();
        let total: f64 = mass.iter().sum();
        mass.iter().map(|m| if total > 0.0 { m / total } else { 0.0 }).collect()
    }

    /// Draws of each task in one epoch of Σ n_t samples (largest-remainder rounding).
    pub fn draws(&self, sizes: &[usize]) -> Vec<usize> {
        let total: usize = sizes.iter().sum();
        let exact: Vec<f64> = self.probabilities(sizes).iter().map(|p| p * total as f64).collect();
        let mut draws: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut by_remainder: Vec<usize> = (0..sizes.len()).filter(|&t| sizes[t] > 0).collect();
        // Stable sort: ties go to the earlier task.
        by_remainder
            .sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
        let short = total - draws.iter().sum::<usize>();
        for &t in by_remainder.iter().cycle().take(short) {
            draws[t] += 1;
        }
        draws
    }
}

/// The sample order of epoch `epoch` in multi-input mode: `groups[i]` is the task of sample
/// `i`; task t contributes `sampling.draws(..)[t]` samples (see the module docs), and the
/// draws of all tasks are shuffled together. Depends only on `(groups, sampling, seed, epoch)`.
pub fn sampled_epoch(
    groups: &[usize],
    tasks: usize,
    sampling: Sampling,
    seed: u64,
    epoch: usize,
) -> Vec<usize> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); tasks];
    for (i, &g) in groups.iter().enumerate() {
        members[g].push(i);
    }
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    let draws = sampling.draws(&sizes);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    let mut order = Vec::with_capacity(groups.len());
    for (own, &want) in members.iter().zip(&draws) {
        let mut taken = 0;
        while taken < want {
            let mut pass = own.clone();
            pass.shuffle(&mut rng);
            let take = (want - taken).min(pass.len());
            order.extend_from_slice(&pass[..take]);
            taken += take;
        }
    }
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(sizes: &[usize]) -> Vec<usize> {
        sizes.iter().enumerate().flat_map(|(t, &n)| std::iter::repeat_n(t, n)).collect()
    }

    fn task_counts(order: &[usize], groups: &[usize], tasks: usize) -> Vec<usize> {
        let mut c = vec![0; tasks];
        for &i in order {
            c[groups[i]] += 1;
        }
        c
    }

    #[test]
    fn each_strategy_gives_its_task_frequencies_over_an_epoch() {
        let g = groups(&[900, 100]);
        // Proportional: every sample once.
        let order = sampled_epoch(&g, 2, Sampling::Proportional, 3, 0);
        assert_eq!(task_counts(&order, &g, 2), vec![900, 100]);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        // Uniform: 500 each; the small task's 100 samples 5 times each.
        let order = sampled_epoch(&g, 2, Sampling::Uniform, 3, 0);
        assert_eq!(task_counts(&order, &g, 2), vec![500, 500]);
        for i in 900..1000 {
            assert_eq!(order.iter().filter(|&&j| j == i).count(), 5);
        }
        // Temperature 2: √900 : √100 = 30 : 10 → 750 / 250.
        let order = sampled_epoch(&g, 2, Sampling::Temperature(2.0), 3, 0);
        assert_eq!(task_counts(&order, &g, 2), vec![750, 250]);
        // Temperature 1 is proportional.
        assert_eq!(Sampling::Temperature(1.0).draws(&[900, 100]), vec![900, 100]);
    }

    #[test]
    fn draws_round_to_the_epoch_length() {
        // Uniform over 3 tasks of 10 samples in all: 10/3 each, the remainder to the first.
        assert_eq!(Sampling::Uniform.draws(&[5, 3, 2]), vec![4, 3, 3]);
        // Temperature 3 on 1 / 8 / 27: cube roots 1 : 2 : 3 of 36 draws.
        assert_eq!(Sampling::Temperature(3.0).draws(&[1, 8, 27]), vec![6, 12, 18]);
        // An empty task gets nothing.
        assert_eq!(Sampling::Uniform.draws(&[4, 0, 4]), vec![4, 0, 4]);
    }

    #[test]
    fn epochs_are_seeded() {
        let g = groups(&[30, 7]);
        let a = sampled_epoch(&g, 2, Sampling::Uniform, 1, 0);
        assert_eq!(a, sampled_epoch(&g, 2, Sampling::Uniform, 1, 0));
        assert_ne!(a, sampled_epoch(&g, 2, Sampling::Uniform, 1, 1));
        assert_ne!(a, sampled_epoch(&g, 2, Sampling::Uniform, 2, 0));
    }
}
