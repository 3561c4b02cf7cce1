//! The synthetic multi-task generator of the MMoE paper, generalised to T tasks.
//!
//! Ma, Zhao, Yi, Chen, Hong, Chi. "Modeling Task Relationships in Multi-task Learning with
//! Multi-gate Mixture-of-Experts", KDD 2018, §3.2 (<https://doi.org/10.1145/3219819.3220007>).
//!
//! For T tasks with pairwise correlation p ∈ [0, 1]:
//!
//! 1. draw orthonormal u_0, u_1, …, u_T ∈ R^d (Gram–Schmidt on Gaussian vectors);
//! 2. w_t = c·(√p·u_0 + √(1−p)·u_t), so that ‖w_t‖ = c and cos(w_s, w_t) = p for s ≠ t;
//! 3. x ~ N(0, I_d);
//! 4. y_t = w_tᵀx + Σ_{i=1..m} sin(α_i·w_tᵀx + β_i) + ε_t, with α_i, β_i ~ N(0, 1) drawn once
//!    and shared by all tasks, ε_t ~ N(0, σ²).
//!
//! With task groups (`task_groups`, one group id per task), each group g has its own shared
//! direction u_g and w_t = c·(√p·u_{g(t)} + √(1−p)·v_t): tasks of one group have correlation p,
//! tasks of different groups are orthogonal (correlation 0) — a block structure for testing
//! task-affinity measures. Without groups every task is in group 0 and the draws are the ones
//! above.
//!
//! **Conflicting groups** (`group_conflict` γ ∈ (0, 1], with `task_groups`): groups that
//! transfer negatively, for studies where the choice of groups matters. Every group direction
//! leans on one common direction s, u'_g = √γ·s + √(1−γ)·u_g (so tasks of different groups
//! read overlapping projections of x, cos(w_s, w_t) = p·γ across groups), and every group has
//! its own sine coefficients (α_g, β_g): tasks of different groups are *different nonlinear
//! functions of nearly the same projection*, whose features compete for a narrow shared layer,
//! while a group's own tasks share theirs. s and the groups' coefficients come from a second
//! stream (seeded from the seed), so γ = 0 gives exactly the draws above.
//!
//! The paper builds the two-task pair as w_1 = c·u_1, w_2 = c·(p·u_1 + √(1−p²)·u_2). Any two
//! vectors with equal norms and the same cosine differ by a rotation, and x is isotropic, so for
//! T = 2 the joint law of (y_1, y_2) is the paper's; the symmetric form above extends it to any
//! T with every pair at correlation p. The paper does not publish α, β, c, m or the noise; the
//! defaults (d = 100, c = 1, m = 10, σ = 0.1) are ours and match `shared/bench/mmoe_synth.py`.
//!
//! Classification variants threshold the same latent y_t: a binary task is 1 when y_t lies
//! above its median over the generated samples, a multiclass task with k classes bins y_t by
//! its k-quantiles, so classes are balanced.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::dataset::MultiTaskDataset;
use crate::error::DataError;
use crate::funnel::Funnel;
use crate::table::OutColumn;
use crate::task::{TaskKind, TaskSpec};

/// Settings of the generator (`[data.synthetic]` in a config).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Number of samples generated (before the split).
    pub samples: usize,
    /// Input dimension d.
    pub features: usize,
    /// Pairwise task correlation p = cos(w_s, w_t), in [0, 1].
    pub correlation: f64,
    /// Norm c of each task's weight vector.
    pub scale: f64,
    /// Number m of sine terms.
    pub sin_terms: usize,
    /// Standard deviation σ of the label noise.
    pub noise_std: f64,
    /// Seed of the generator.
    pub seed: u64,
    /// Number of leading features replaced by category codes 0..categories (balanced
    /// quantile bins of the feature), after the labels are computed from the continuous
    /// values: inputs for the tabular encoder's embeddings.
    pub categorical_features: usize,
    /// Categories of each such feature.
    pub categories: usize,
    /// Group id of each task (ids 0..G, each used); tasks correlate within their group only.
    /// Empty = one group.
    pub task_groups: Vec<usize>,
    /// γ ∈ [0, 1]: groups share a common direction (weight γ) and each has its own sine
    /// coefficients — conflicting groups (see the module docs). 0 = orthogonal groups.
    pub group_conflict: f64,
    /// Table output only ([`SyntheticConfig::generate_table`]): id columns.
    pub id_features: usize,
    /// Distinct ids of each id and multi-hot column.
    pub id_cardinality: u64,
    /// Table output only: multi-hot columns.
    pub multi_hot_features: usize,
    /// Longest list of a multi-hot column.
    pub multi_hot_max_len: usize,
    /// A click → conversion funnel in place of the thresholded labels (two binary tasks; see
    /// [`crate::funnel`]); the task correlation is the two latents' cosine.
    pub funnel: Option<Funnel>,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            samples: 10_000,
            features: 100,
            correlation: 0.9,
            scale: 1.0,
            sin_terms: 10,
            noise_std: 0.1,
            seed: 0,
            categorical_features: 0,
            categories: 8,
            task_groups: Vec::new(),
            group_conflict: 0.0,
            id_features: 0,
            id_cardinality: 1_000_000,
            multi_hot_features: 0,
            multi_hot_max_len: 10,
            funnel: None,
        }
    }
}

fn invalid(key: &str, message: String) -> DataError {
    DataError::InvalidSetting { key: format!("data.synthetic.{key}"), message }
}

impl SyntheticConfig {
    /// Check the settings against the number of tasks.
    pub fn validate(&self, num_tasks: usize) -> Result<(), DataError> {
        if !(0.0..=1.0).contains(&self.correlation) {
            return Err(invalid(
                "correlation",
                format!("{} is outside [0, 1]; use a correlation between 0 and 1", self.correlation),
            ));
        }
        if self.samples < 2 {
            return Err(invalid("samples", "needs at least 2 samples".into()));
        }
        if !self.task_groups.is_empty() {
            if self.task_groups.len() != num_tasks {
                return Err(invalid(
                    "task_groups",
                    format!("{} group ids for {num_tasks} tasks; give one per task", self.task_groups.len()),
                ));
            }
            if (0..self.groups()).any(|g| !self.task_groups.contains(&g)) {
                return Err(invalid("task_groups", "use every group id from 0 up to the largest".into()));
            }
        }
        if !(0.0..=1.0).contains(&self.group_conflict) {
            return Err(invalid(
                "group_conflict",
                format!(
                    "{} is outside [0, 1]; use a weight between 0 (orthogonal groups) and 1",
                    self.group_conflict
                ),
            ));
        }
        if self.group_conflict > 0.0 && self.groups() < 2 {
            return Err(invalid(
                "group_conflict",
                "needs task groups to set against each other; set data.synthetic.task_groups (at least two groups)".into(),
            ));
        }
        let directions = num_tasks + self.groups() + usize::from(self.group_conflict > 0.0);
        if self.features < directions {
            return Err(invalid(
                "features",
                format!(
                    "{} features cannot hold {directions} orthogonal task directions; use at least {directions}",
                    self.features,
                ),
            ));
        }
        if !(self.noise_std >= 0.0 && self.noise_std.is_finite()) {
            return Err(invalid("noise_std", "must be a finite value ≥ 0".into()));
        }
        if self.categorical_features > self.features {
            return Err(invalid(
                "categorical_features",
                format!("{} exceeds the {} features", self.categorical_features, self.features),
            ));
        }
        if self.categorical_features > 0 && self.categories < 2 {
            return Err(invalid("categories", "needs at least 2 categories".into()));
        }
        if !(self.scale > 0.0 && self.scale.is_finite()) {
            return Err(invalid("scale", "must be a finite value > 0".into()));
        }
        if (self.id_features > 0 || self.multi_hot_features > 0) && self.id_cardinality < 2 {
            return Err(invalid("id_cardinality", "needs at least 2 ids".into()));
        }
        if self.multi_hot_features > 0 && self.multi_hot_max_len == 0 {
            return Err(invalid("multi_hot_max_len", "must be at least 1".into()));
        }
        if let Some(f) = &self.funnel {
            f.validate()?;
            if num_tasks != 2 {
                return Err(DataError::InvalidSetting {
                    key: "data.synthetic.funnel".into(),
                    message: format!(
                        "a funnel has two tasks, the click then the conversion; the config has {num_tasks}"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Number of task groups (1 without `task_groups`).
    pub fn groups(&self) -> usize {
        self.task_groups.iter().max().map_or(1, |g| g + 1)
    }

    /// Generate the dataset for `tasks` (one latent target per task, in order).
    pub fn generate(&self, tasks: &[TaskSpec]) -> Result<MultiTaskDataset, DataError> {
        if self.id_features > 0 || self.multi_hot_features > 0 {
            let key = if self.id_features > 0 { "id_features" } else { "multi_hot_features" };
            return Err(invalid(
                key,
                "id and multi-hot columns are written by `mtl synth` to a file; train on that file with \
                 data.source = \"csv\" (`mtl synth` prints the [data.csv] section), or set it to 0"
                    .into(),
            ));
        }
        let (mut features, latent) = self.draw(tasks.len())?;
        self.bin_categorical(&mut features);
        let n = self.samples;
        let (targets, masks, truth) = match &self.funnel {
            Some(f) => {
                Funnel::check_tasks(tasks)?;
                let d = f.draw(&latent[0], &latent[1], self.seed);
                let flags = |v: &[bool]| v.iter().map(|&b| f32::from(b)).collect::<Vec<f32>>();
                // The conversion is observed (mask 1) only where the impression was clicked.
                let targets = vec![flags(&d.click), flags(&d.conversion)];
                // The truth: the conversion of every impression, clicked or not.
                (targets, vec![vec![1.0; n], flags(&d.click)], vec![None, Some(flags(&d.conversion))])
            }
            None => (
                tasks.iter().zip(&latent).map(|(task, y)| label(task.kind, y)).collect(),
                vec![vec![1.0; n]; tasks.len()],
                Vec::new(),
            ),
        };
        Ok(MultiTaskDataset {
            features,
            num_features: self.features,
            ids: Vec::new(),
            num_ids: 0,
            tasks: tasks.to_vec(),
            targets,
            masks,
            groups: None,
            target_scales: Vec::new(),
            truth,
        })
    }

    /// The features (row-major, continuous) and each task's latent target.
    fn draw(&self, t_count: usize) -> Result<(Vec<f32>, Vec<Vec<f64>>), DataError> {
        self.validate(t_count)?;
        let (d, n, m) = (self.features, self.samples, self.sin_terms);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut normal = || -> f64 { rng.sample(StandardNormal) };

        // Group directions first, then one direction per task.
        let groups = self.groups();
        let basis = orthonormal(d, t_count + groups, &mut normal);
        let (sp, sq) = (self.correlation.sqrt(), (1.0 - self.correlation).sqrt());
        let group_of = |t: usize| self.task_groups.get(t).copied().unwrap_or(0);
        // Conflicting groups: the common direction and each group's sines, from their own stream.
        let gamma = self.group_conflict;
        let (common, group_sines) = if gamma > 0.0 {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6772_6f75_7073); // "groups"
            let mut normal = || -> f64 { rng.sample(StandardNormal) };
            let mut spanned = basis.clone();
            extend_orthonormal(d, &mut spanned, basis.len() + 1, &mut normal);
            let sines: Vec<(Vec<f64>, Vec<f64>)> = (0..groups)
                .map(|_| ((0..m).map(|_| normal()).collect(), (0..m).map(|_| normal()).collect()))
                .collect();
            (spanned.pop(), sines)
        } else {
            (None, Vec::new())
        };
        let direction = |g: usize, k: usize| match &common {
            Some(s) => gamma.sqrt() * s[k] + (1.0 - gamma).sqrt() * basis[g][k],
            None => basis[g][k],
        };
        let weights: Vec<Vec<f64>> = (0..t_count)
            .map(|t| {
                (0..d)
                    .map(|k| self.scale * (sp * direction(group_of(t), k) + sq * basis[groups + t][k]))
                    .collect()
            })
            .collect();
        let alpha: Vec<f64> = (0..m).map(|_| normal()).collect();
        let beta: Vec<f64> = (0..m).map(|_| normal()).collect();
        let sines_of = |t: usize| match group_sines.get(group_of(t)) {
            Some((a, b)) => (a.as_slice(), b.as_slice()),
            None => (alpha.as_slice(), beta.as_slice()),
        };

        let mut features = Vec::with_capacity(n * d);
        let mut latent = vec![Vec::with_capacity(n); t_count];
        for _ in 0..n {
            let x: Vec<f64> = (0..d).map(|_| normal()).collect();
            for (t, w) in weights.iter().enumerate() {
                let z: f64 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
                let (alpha, beta) = sines_of(t);
                let s: f64 = alpha.iter().zip(beta).map(|(a, b)| (a * z + b).sin()).sum();
                latent[t].push(z + s + self.noise_std * normal());
            }
            features.extend(x.iter().map(|&v| v as f32));
        }
        Ok((features, latent))
    }

    /// Replace the leading `categorical_features` features by their quantile bins.
    fn bin_categorical(&self, features: &mut [f32]) {
        let (d, n) = (self.features, self.samples);
        for j in 0..self.categorical_features {
            let column: Vec<f64> = (0..n).map(|i| f64::from(features[i * d + j])).collect();
            let cuts = quantile_cuts(&column, self.categories);
            for (i, v) in column.iter().enumerate() {
                features[i * d + j] = cuts.iter().filter(|&&c| *v > c).count() as f32;
            }
        }
    }

    /// The generated samples as the columns of a table file (`mtl synth`): `c0`, … (category
    /// codes of the leading features), `x…` (the other features), `id0`, … (ids), `hist0`, …
    /// (lists of ids), then one label column per task, named after it (a multilabel task as
    /// `NAME_0`, `NAME_1`, … 0/1 columns).
    ///
    /// Ids are heavy-tailed like a click log's: `⌊N^u⌋ − 1` for u ~ U(0, 1) (log-uniform over
    /// 1..N, so small ids are frequent). Each id `k` of column `j` has a fixed effect
    /// e = ±1 (the lowest bit of FNV-1a of `"j:k"`), and every task's latent moves by
    /// 0.5·e per id column and by 0.5·mean(e) per multi-hot list, before the labels are cut:
    /// the id columns carry signal a model can memorise. Draws come from their own stream, so
    /// the other columns equal [`generate`](Self::generate)'s.
    pub fn generate_table(&self, tasks: &[TaskSpec]) -> Result<(Vec<String>, Vec<OutColumn>), DataError> {
        let (mut features, mut latent) = self.draw(tasks.len())?;
        self.bin_categorical(&mut features);
        let (d, n) = (self.features, self.samples);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x1D5_C011_5EED);
        let card = self.id_cardinality as f64;
        let draw_id =
            |rng: &mut ChaCha8Rng| -> i64 { (card.powf(rng.random::<f64>()).floor() as i64 - 1).max(0) };
        let effect = |column: &str, id: i64| {
            if crate::table::fnv1a64(&format!("{column}:{id}")) & 1 == 1 { 0.5 } else { -0.5 }
        };
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for j in 0..d {
            let values = (0..n).map(|i| features[i * d + j]);
            if j < self.categorical_features {
                names.push(format!("c{j}"));
                columns.push(OutColumn::Int(values.map(|v| v as i64).collect()));
            } else {
                names.push(format!("x{j}"));
                columns.push(OutColumn::Float(values.collect()));
            }
        }
        for k in 0..self.id_features {
            let name = format!("id{k}");
            let ids: Vec<i64> = (0..n).map(|_| draw_id(&mut rng)).collect();
            for (i, &id) in ids.iter().enumerate() {
                latent.iter_mut().for_each(|y| y[i] += effect(&name, id));
            }
            names.push(name);
            columns.push(OutColumn::Int(ids));
        }
        for k in 0..self.multi_hot_features {
            let name = format!("hist{k}");
            let mut lists = Vec::with_capacity(n);
            for i in 0..n {
                let len = rng.random_range(0..=self.multi_hot_max_len);
                let list: Vec<i64> = (0..len).map(|_| draw_id(&mut rng)).collect();
                if !list.is_empty() {
                    let e = list.iter().map(|&id| effect(&name, id)).sum::<f64>() / list.len() as f64;
                    latent.iter_mut().for_each(|y| y[i] += e);
                }
                lists.push(list);
            }
            names.push(name);
            columns.push(OutColumn::IdLists(lists));
        }
        if let Some(f) = &self.funnel {
            Funnel::check_tasks(tasks)?;
            let d = f.draw(&latent[0], &latent[1], self.seed);
            let ints = |v: &[bool]| v.iter().map(|&b| i64::from(b)).collect::<Vec<i64>>();
            let observed = d.click.iter().zip(&d.conversion).map(|(&c, &v)| c.then_some(i64::from(v)));
            let floats = |v: &[f64]| v.iter().map(|&p| p as f32).collect::<Vec<f32>>();
            let (click, conversion) = (&tasks[0].name, &tasks[1].name);
            names.extend([
                click.clone(),
                conversion.clone(),
                format!("{conversion}_true"),
                format!("p_{click}"),
                format!("p_{conversion}"),
            ]);
            columns.extend([
                OutColumn::Int(ints(&d.click)),
                OutColumn::OptInt(observed.collect()),
                OutColumn::Int(ints(&d.conversion)),
                OutColumn::Float(floats(&d.p_click)),
                OutColumn::Float(floats(&d.p_conversion)),
            ]);
            return Ok((names, columns));
        }
        for (task, y) in tasks.iter().zip(&latent) {
            let labels = label(task.kind, y);
            match task.kind {
                TaskKind::Regression => {
                    names.push(task.name.clone());
                    columns.push(OutColumn::Float(labels));
                }
                TaskKind::Multilabel { labels: count } => {
                    for l in 0..count {
                        names.push(format!("{}_{l}", task.name));
                        let bits =
                            labels.iter().map(|&code| i64::from(crate::task::decode_labels(code, count)[l]));
                        columns.push(OutColumn::Int(bits.collect()));
                    }
                }
                _ => {
                    names.push(task.name.clone());
                    columns.push(OutColumn::Int(labels.iter().map(|&v| v as i64).collect()));
                }
            }
        }
        Ok((names, columns))
    }
}

/// `count` orthonormal vectors of R^d by Gram–Schmidt on Gaussian draws.
fn orthonormal(d: usize, count: usize, normal: &mut impl FnMut() -> f64) -> Vec<Vec<f64>> {
    let mut basis = Vec::with_capacity(count);
    extend_orthonormal(d, &mut basis, count, normal);
    basis
}

/// Extend the orthonormal `basis` to `count` vectors (Gram–Schmidt on Gaussian draws).
fn extend_orthonormal(d: usize, basis: &mut Vec<Vec<f64>>, count: usize, normal: &mut impl FnMut() -> f64) {
    while basis.len() < count {
        let mut v: Vec<f64> = (0..d).map(|_| normal()).collect();
        for b in basis.iter() {
            let dot: f64 = v.iter().zip(b).map(|(a, c)| a * c).sum();
            v.iter_mut().zip(b).for_each(|(a, c)| *a -= dot * c);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        // A draw (almost) inside the span is redrawn; with count ≤ d this ends quickly.
        if norm > 1e-6 {
            basis.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
}

/// Turn a latent target into the label of a task of `kind`.
fn label(kind: TaskKind, y: &[f64]) -> Vec<f32> {
    match kind {
        TaskKind::Regression => y.iter().map(|&v| v as f32).collect(),
        TaskKind::Binary => {
            let cuts = quantile_cuts(y, 2);
            y.iter().map(|&v| f32::from(v > cuts[0])).collect()
        }
        TaskKind::Multiclass { classes } => {
            let cuts = quantile_cuts(y, classes);
            y.iter().map(|&v| cuts.iter().filter(|&&c| v > c).count() as f32).collect()
        }
        // Nested labels: label k is on above the (k+1)/(L+1) quantile.
        TaskKind::Multilabel { labels } => {
            let cuts = quantile_cuts(y, labels + 1);
            y.iter()
                .map(|&v| crate::task::encode_labels(&cuts.iter().map(|&c| v > c).collect::<Vec<_>>()))
                .collect()
        }
    }
}

/// The `k − 1` inner k-quantiles of `y` (nearest-rank on the sorted values).
fn quantile_cuts(y: &[f64], k: usize) -> Vec<f64> {
    let mut sorted = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    (1..k).map(|j| sorted[(j * sorted.len() / k).saturating_sub(1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, kind: TaskKind) -> TaskSpec {
        TaskSpec { name: name.into(), kind }
    }

    fn pearson(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn task_directions_have_the_requested_cosine() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut normal = || -> f64 { rng.sample(StandardNormal) };
        let b = orthonormal(10, 4, &mut normal);
        for i in 0..4 {
            for j in 0..4 {
                let dot: f64 = b[i].iter().zip(&b[j]).map(|(x, y)| x * y).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "u{i}·u{j} = {dot}");
            }
        }
    }

    #[test]
    fn linear_parts_correlate_as_configured() {
        // With no sine terms and no noise, y_t = w_tᵀx, so corr(y_s, y_t) → cos(w_s, w_t) = p.
        let cfg = SyntheticConfig {
            samples: 20_000,
            sin_terms: 0,
            noise_std: 0.0,
            correlation: 0.5,
            ..Default::default()
        };
        let tasks = [
            task("a", TaskKind::Regression),
            task("b", TaskKind::Regression),
            task("c", TaskKind::Regression),
        ];
        let d = cfg.generate(&tasks).unwrap();
        let y: Vec<Vec<f64>> = d.targets.iter().map(|t| t.iter().map(|&v| v as f64).collect()).collect();
        for (s, t) in [(0, 1), (0, 2), (1, 2)] {
            let r = pearson(&y[s], &y[t]);
            assert!((r - 0.5).abs() < 0.03, "corr(y{s}, y{t}) = {r}");
        }
        // ‖w_t‖ = c = 1 and x ~ N(0, I): var(y_t) ≈ 1.
        let var = y[0].iter().map(|v| v * v).sum::<f64>() / y[0].len() as f64;
        assert!((var - 1.0).abs() < 0.05, "var = {var}");
    }

    #[test]
    fn categorical_features_become_balanced_codes() {
        let cfg = SyntheticConfig {
            samples: 400,
            features: 6,
            categorical_features: 2,
            categories: 4,
            ..Default::default()
        };
        let data = cfg.generate(&[task("a", TaskKind::Regression)]).unwrap();
        let plain = SyntheticConfig { categorical_features: 0, ..cfg.clone() }
            .generate(&[task("a", TaskKind::Regression)])
            .unwrap();
        for j in 0..2 {
            let mut counts = [0usize; 4];
            for i in 0..400 {
                counts[data.features[i * 6 + j] as usize] += 1;
            }
            assert_eq!(counts, [100; 4], "column {j}");
        }
        // Labels and the other columns are those of the continuous data.
        assert_eq!(data.targets, plain.targets);
        assert_eq!(data.features[2..6], plain.features[2..6]);
    }

    #[test]
    fn generator_is_seeded() {
        let tasks = [task("a", TaskKind::Regression), task("b", TaskKind::Binary)];
        let cfg = SyntheticConfig { samples: 50, ..Default::default() };
        assert_eq!(cfg.generate(&tasks).unwrap(), cfg.generate(&tasks).unwrap());
        let other = SyntheticConfig { seed: 1, ..cfg.clone() };
        assert_ne!(cfg.generate(&tasks).unwrap().features, other.generate(&tasks).unwrap().features);
    }

    #[test]
    fn classification_labels_are_balanced_thresholds_of_the_latent() {
        let cfg = SyntheticConfig { samples: 999, ..Default::default() };
        let tasks = [
            task("r", TaskKind::Regression),
            task("b", TaskKind::Binary),
            task("m", TaskKind::Multiclass { classes: 3 }),
        ];
        let d = cfg.generate(&tasks).unwrap();
        let ones = d.targets[1].iter().filter(|&&v| v == 1.0).count();
        assert!((ones as i64 - 499).abs() <= 1, "binary positives {ones}");
        for c in 0..3 {
            let k = d.targets[2].iter().filter(|&&v| v == c as f32).count();
            assert_eq!(k, 333, "class {c}");
        }
        // Thresholding keeps order: a sample labelled 1 has a larger latent than one labelled 0.
        // The same tasks as regressions expose the latent targets (same seed, same draws).
        let as_regression = [
            task("r", TaskKind::Regression),
            task("b", TaskKind::Regression),
            task("m", TaskKind::Regression),
        ];
        let reg = cfg.generate(&as_regression).unwrap();
        let y = &reg.targets[1];
        let max0 = (0..999).filter(|&i| d.targets[1][i] == 0.0).map(|i| y[i]).fold(f32::MIN, f32::max);
        let min1 = (0..999).filter(|&i| d.targets[1][i] == 1.0).map(|i| y[i]).fold(f32::MAX, f32::min);
        assert!(max0 < min1);
    }

    /// Pearson correlation of two columns.
    fn corr(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len() as f64;
        let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let (ma, mb) = (mean(a), mean(b));
        let cov: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - ma) * (f64::from(y) - mb)).sum();
        let va: f64 = a.iter().map(|&x| (f64::from(x) - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|&y| (f64::from(y) - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    /// Four linear regressions (no sines, no noise) in two groups at correlation 0.8.
    fn two_linear_groups() -> (Vec<TaskSpec>, SyntheticConfig) {
        let tasks = (0..4).map(|t| task(&format!("y{t}"), TaskKind::Regression)).collect();
        let cfg = SyntheticConfig {
            samples: 4000,
            sin_terms: 0,
            noise_std: 0.0,
            correlation: 0.8,
            task_groups: vec![0, 0, 1, 1],
            ..Default::default()
        };
        (tasks, cfg)
    }

    #[test]
    fn task_groups_give_a_block_correlation_structure() {
        let (tasks, cfg) = two_linear_groups();
        let d = cfg.generate(&tasks).unwrap();
        // Without sines or noise y_t = w_tᵀx: correlation = cos(w_s, w_t) = 0.8 within a group, 0 across.
        let y = &d.targets;
        for (s, t, want) in [(0, 1, 0.8), (2, 3, 0.8), (0, 2, 0.0), (1, 3, 0.0)] {
            assert!((corr(&y[s], &y[t]) - want).abs() < 0.05, "corr(y{s}, y{t}) = {}", corr(&y[s], &y[t]));
        }
        // One group reproduces the ungrouped draws.
        let one = SyntheticConfig { task_groups: vec![0; 4], ..cfg.clone() };
        let none = SyntheticConfig { task_groups: Vec::new(), ..cfg.clone() };
        assert_eq!(one.generate(&tasks).unwrap(), none.generate(&tasks).unwrap());
        let bad = SyntheticConfig { task_groups: vec![0, 2, 2, 2], ..cfg };
        assert!(bad.validate(4).unwrap_err().to_string().contains("task_groups"));
    }

    #[test]
    fn conflicting_groups_overlap_in_direction_and_differ_in_their_sines() {
        let (tasks, base) = two_linear_groups();
        // Linear targets: cos(w_s, w_t) = p within a group, p·γ = 0.8 · 0.5 across.
        let cfg = SyntheticConfig { group_conflict: 0.5, ..base.clone() };
        let y = cfg.generate(&tasks).unwrap().targets;
        for (s, t, want) in [(0, 1, 0.8), (2, 3, 0.8), (0, 2, 0.4), (1, 3, 0.4)] {
            assert!((corr(&y[s], &y[t]) - want).abs() < 0.05, "corr(y{s}, y{t}) = {}", corr(&y[s], &y[t]));
        }
        // The features are the orthogonal groups' draws (the conflict has its own stream).
        assert_eq!(cfg.generate(&tasks).unwrap().features, base.generate(&tasks).unwrap().features);
        // p = γ = 1: every task reads the same projection z = sᵀx; a group's tasks share their
        // sines (equal targets), the two groups' sines differ (different targets).
        let one = SyntheticConfig { correlation: 1.0, group_conflict: 1.0, sin_terms: 3, ..base.clone() };
        let y = one.generate(&tasks).unwrap().targets;
        assert_eq!(y[0], y[1]);
        assert_eq!(y[2], y[3]);
        assert_ne!(y[0], y[2]);
        let linear = SyntheticConfig { sin_terms: 0, ..one };
        let z = linear.generate(&tasks).unwrap().targets;
        assert!(
            z.windows(2).all(|p| p[0].iter().zip(&p[1]).all(|(a, b)| (a - b).abs() < 1e-5)),
            "one projection"
        );
        // Bad settings name the key.
        for (cfg, needle) in [
            (SyntheticConfig { group_conflict: 1.5, ..base.clone() }, "outside [0, 1]"),
            (
                SyntheticConfig { group_conflict: 0.5, task_groups: Vec::new(), ..base.clone() },
                "needs task groups",
            ),
            (SyntheticConfig { group_conflict: 0.5, features: 6, ..base }, "use at least 7"),
        ] {
            let e = cfg.validate(4).unwrap_err().to_string();
            assert!(e.contains("group_conflict") || e.contains("features"), "{e}");
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn multilabel_labels_are_nested_thresholds_of_the_latent() {
        let cfg = SyntheticConfig { samples: 999, ..Default::default() };
        let tasks = [task("r", TaskKind::Regression), task("l", TaskKind::Multilabel { labels: 2 })];
        let d = cfg.generate(&tasks).unwrap();
        let sets: Vec<Vec<bool>> = d.targets[1].iter().map(|&y| crate::task::decode_labels(y, 2)).collect();
        // Cuts at the 1/3 and 2/3 quantiles: label 0 on for 2/3 of the samples, label 1 for 1/3,
        // and label 1 only together with label 0.
        assert_eq!(sets.iter().filter(|s| s[0]).count(), 666);
        assert_eq!(sets.iter().filter(|s| s[1]).count(), 333);
        assert!(sets.iter().all(|s| !s[1] || s[0]));
    }

    #[test]
    fn correlation_out_of_range_names_the_key() {
        let cfg = SyntheticConfig { correlation: 1.5, ..Default::default() };
        let err = cfg.generate(&[task("a", TaskKind::Regression)]).unwrap_err().to_string();
        assert!(err.contains("data.synthetic.correlation"), "{err}");
    }

    fn funnel(correlation: f64, click_rate: f64) -> SyntheticConfig {
        SyntheticConfig {
            samples: 20_000,
            features: 10,
            correlation,
            funnel: Some(Funnel { click_rate, conversion_rate: 0.1, confounding: 0.0 }),
            ..Default::default()
        }
    }

    #[test]
    fn a_funnel_observes_conversions_on_clicks_only_and_shows_selection_bias() {
        let tasks = [task("click", TaskKind::Binary), task("buy", TaskKind::Binary)];
        let rate = |v: &[f32]| v.iter().sum::<f32>() as f64 / v.len() as f64;
        // 4 binomial standard deviations of a rate p estimated from n draws.
        let sd = |p: f64, n: usize| 4.0 * (p * (1.0 - p) / n as f64).sqrt();
        let mut clicked_rate = Vec::new();
        for correlation in [0.0, 0.9] {
            let d = funnel(correlation, 0.2).generate(&tasks).unwrap();
            assert_eq!(d.masks[1], d.targets[0], "the conversion is labelled exactly where clicked");
            assert!((rate(&d.targets[0]) - 0.2).abs() < sd(0.2, 20_000));
            assert!((rate(&d.targets[1]) - 0.1).abs() < sd(0.1, 20_000), "entire-space conversion rate");
            let clicks = d.targets[0].iter().filter(|&&c| c > 0.0).count();
            let converted =
                (d.targets[1].iter().zip(&d.targets[0])).filter(|(v, c)| **v > 0.0 && **c > 0.0).count();
            clicked_rate.push((converted as f64 / clicks as f64, clicks));
        }
        // Orthogonal latents: the clicked rows convert at the entire-space rate.
        let (independent, n) = clicked_rate[0];
        assert!((independent - 0.1).abs() < sd(0.1, n), "{independent}");
        // Shared direction: clicked rows over-represent converters (selection bias).
        let (biased, n) = clicked_rate[1];
        assert!(biased > 0.1 + sd(0.1, n), "{biased}");
        // Orthogonal directions but an unobserved shared latent: biased too.
        let confounded = SyntheticConfig {
            funnel: Some(Funnel { click_rate: 0.2, conversion_rate: 0.1, confounding: 0.6 }),
            ..funnel(0.0, 0.2)
        };
        let d = confounded.generate(&tasks).unwrap();
        assert!((rate(&d.targets[1]) - 0.1).abs() < sd(0.1, 20_000), "the rates stay calibrated");
        let clicks = d.targets[0].iter().filter(|&&c| c > 0.0).count();
        let converted =
            (d.targets[1].iter().zip(&d.targets[0])).filter(|(v, c)| **v > 0.0 && **c > 0.0).count();
        let confounded_rate = converted as f64 / clicks as f64;
        assert!(confounded_rate > 0.1 + sd(0.1, clicks), "{confounded_rate}");
    }

    #[test]
    fn a_funnel_table_records_the_truth_beside_the_observed_labels() {
        let tasks = [task("click", TaskKind::Binary), task("buy", TaskKind::Binary)];
        let cfg = SyntheticConfig { samples: 500, ..funnel(0.5, 0.3) };
        let (names, columns) = cfg.generate_table(&tasks).unwrap();
        let k = names.len();
        assert_eq!(names[k - 5..], ["click", "buy", "buy_true", "p_click", "p_buy"].map(String::from));
        let (OutColumn::Int(click), OutColumn::OptInt(buy), OutColumn::Int(truth)) =
            (&columns[k - 5], &columns[k - 4], &columns[k - 3])
        else {
            panic!("column kinds");
        };
        for i in 0..500 {
            assert_eq!(buy[i], (click[i] == 1).then_some(truth[i]), "row {i}");
        }
        // The same draws as the in-memory dataset.
        let d = cfg.generate(&tasks).unwrap();
        assert_eq!(d.targets[1], truth.iter().map(|&v| v as f32).collect::<Vec<_>>());
        let e = SyntheticConfig { samples: 50, ..funnel(0.5, 0.3) }
            .generate(&[task("click", TaskKind::Binary), task("t", TaskKind::Regression)])
            .unwrap_err();
        assert!(e.to_string().contains("data.synthetic.funnel"), "{e}");
        let e = SyntheticConfig { samples: 50, ..funnel(0.5, 0.3) }.validate(3).unwrap_err();
        assert!(e.to_string().contains("two tasks"), "{e}");
    }
}
