//! The whole multi-task network: an architecture plus one head per task.

use burn::module::{Module, ParamId};
use burn::tensor::activation::{log_sigmoid, sigmoid, softplus};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::activation::ActivationKind;
use crate::architecture::{Architecture, ArchitectureConfig};
use crate::head::{HeadConfig, TaskHead};

/// Configuration of a [`MultiTaskModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTaskModelConfig {
    /// The sharing architecture.
    pub architecture: ArchitectureConfig,
    /// Hidden layers of every task head.
    pub head_hidden: Vec<usize>,
    /// Activation of the heads.
    pub head_activation: ActivationKind,
    /// Dropout of the heads.
    pub head_dropout: f64,
    /// Output width of each task's head, in task order.
    pub task_outputs: Vec<usize>,
    /// Chains of binary tasks (task indices, in funnel order) whose later outputs are joint
    /// probabilities, ESMM-style (see [`chain_logit`]); empty for independent tasks.
    pub chains: Vec<Vec<usize>>,
    /// ESCM²'s counterfactual regulariser on the chains' later steps; `None` for ESMM.
    pub counterfactual: Option<Counterfactual>,
}

/// ESCM²'s counterfactual risk of a later step's tower over the entire space (Wang et al.,
/// "ESCM²: Entire Space Counterfactual Multi-Task Model for Post-Click Conversion Rate
/// Estimation", SIGIR 2022, §3.3). With o_i = 1 where the step before happened and the step
/// is labelled, δ_i the cross-entropy of the tower's probability against the step's own
/// label, and the propensity ô_i the chain's joint probability up to the step before (pCTR
/// for click → conversion), detached and floored (clipping, as IPS estimators do, bounds the
/// weights at 1/floor):
///
/// - IPS (eq. (6)): R = (1/N) Σ_i o_i δ_i / ô_i;
/// - DR (eq. (8)–(9)): an imputation tower predicts the error, ê_i = softplus(g(x_i)) ≥ 0, and
///   R = (1/N) Σ_i [ê_i + o_i (δ_i − ê_i) / ô_i] (ê detached here) plus the imputation loss
///   (1/N) Σ_i o_i (ê_i − δ_i)² / ô_i (δ detached there), which trains g.
///
/// It is added to the ESMM losses as `weight · R`, outside the task weighting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counterfactual {
    /// λ, the weight of the risk.
    pub weight: f64,
    /// Smallest propensity used.
    pub propensity_floor: f64,
    /// The estimator.
    pub estimator: Estimator,
}

/// ESCM²'s estimators of the counterfactual risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimator {
    /// Inverse propensity score.
    Ips,
    /// Doubly robust (with an imputation tower per later step).
    DoublyRobust,
}

/// Shared part plus per-task heads.
#[derive(Module, Debug)]
pub struct MultiTaskModel {
    /// What the tasks share.
    pub architecture: Architecture,
    /// One head per task, in task order.
    pub heads: Vec<TaskHead>,
    /// ESCM²-DR: the imputation towers of the chains' later steps (empty otherwise).
    pub imputation: Vec<TaskHead>,
    /// Per task, the tasks it follows in its chain (in chain order); empty for a task that
    /// follows none.
    #[module(skip)]
    follows: Vec<Vec<usize>>,
    /// Per task, its imputation tower's index in `imputation`.
    #[module(skip)]
    imputed: Vec<Option<usize>>,
    #[module(skip)]
    counterfactual: Option<Counterfactual>,
}

/// The logit of the joint probability Π_k σ(a_k) of a chain's steps, from their tower logits
/// `a_k` (ESMM: pCTCVR = pCTR · pCVR, Ma et al., SIGIR 2018, eq. (2)): log P = Σ_k log σ(a_k),
/// logit P = log P − log(1 − P). A binary loss on this logit is the cross-entropy of P.
///
/// # Shapes
/// - towers: each `[batch, 1]`
/// - output: `[batch, 1]`
pub fn chain_logit(towers: Vec<Tensor<2>>) -> Tensor<2> {
    let log_p = towers.into_iter().map(log_sigmoid).reduce(|a, b| a + b).expect("a chain has steps");
    // 1 − P floored: P → 1 only when every step is certain.
    let rest = log_p.clone().exp().neg().add_scalar(1.0).clamp_min(1e-7).log();
    log_p - rest
}

impl MultiTaskModelConfig {
    /// Build the model on `device`.
    pub fn init(&self, device: &Device) -> MultiTaskModel {
        let d_task = self.architecture.d_task();
        let head = |d_output: usize| {
            HeadConfig {
                d_input: d_task,
                hidden: self.head_hidden.clone(),
                activation: self.head_activation,
                dropout: self.head_dropout,
                d_output,
            }
            .init(device)
        };
        let heads = self.task_outputs.iter().map(|&d| head(d)).collect();
        let mut follows = vec![Vec::new(); self.task_outputs.len()];
        for chain in &self.chains {
            for (k, &t) in chain.iter().enumerate() {
                follows[t] = chain[..k].to_vec();
            }
        }
        let dr =
            matches!(self.counterfactual, Some(Counterfactual { estimator: Estimator::DoublyRobust, .. }));
        let mut imputed = vec![None; self.task_outputs.len()];
        let mut imputation = Vec::new();
        for (t, slot) in imputed.iter_mut().enumerate() {
            if dr && !follows[t].is_empty() {
                *slot = Some(imputation.len());
                imputation.push(head(1));
            }
        }
        MultiTaskModel {
            architecture: self.architecture.init(device),
            heads,
            imputation,
            follows,
            imputed,
            counterfactual: self.counterfactual,
        }
    }

    /// Whether any layer has a dropout rate above 0, so that a training forward draws random
    /// numbers: the encoder (every expert, column and gate stem of an architecture is built
    /// from it) or the heads.
    pub fn has_dropout(&self) -> bool {
        self.head_dropout > 0.0 || self.architecture.encoder().dropout() > 0.0
    }
}

impl MultiTaskModel {
    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.heads.len()
    }

    /// Per-task outputs (values or logits).
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `T` tensors `[batch, d_output_t]`
    pub fn forward(&self, x: Input) -> Vec<Tensor<2>> {
        let z = self.architecture.shared(x.clone());
        self.forward_from_shared(&x, z)
    }

    /// Per-task outputs from an already computed shared representation `z`.
    pub fn forward_from_shared(&self, x: &Input, z: Tensor<2>) -> Vec<Tensor<2>> {
        let towers: Vec<Tensor<2>> = (0..self.num_tasks()).map(|t| self.tower(t, x, z.clone())).collect();
        (0..self.num_tasks()).map(|t| self.chained(t, |s| towers[s].clone())).collect()
    }

    /// Task `t`'s output from the shared representation `z`: its tower's, or for a task that
    /// follows others in a chain the logit of the chain's joint probability up to it.
    pub fn forward_task_from_shared(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        self.chained(t, |s| self.tower(s, x, z.clone()))
    }

    /// Task `t`'s own tower (head) output: for a chain's later step, the logit of its
    /// conditional probability (ESMM's pCVR).
    pub fn tower(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        self.heads[t].forward(self.architecture.task_input(t, x, z))
    }

    /// The tasks task `t` follows in its chain, in order (empty when it follows none).
    pub fn follows(&self, t: usize) -> &[usize] {
        &self.follows[t]
    }

    /// Task `t`'s output from the towers (`tower(s)`: task s's tower output): its own, or the
    /// chain logit of the tasks it follows and its own.
    fn chained(&self, t: usize, tower: impl Fn(usize) -> Tensor<2>) -> Tensor<2> {
        if self.follows[t].is_empty() {
            return tower(t);
        }
        chain_logit(self.follows[t].iter().chain([&t]).map(|&s| tower(s)).collect())
    }

    /// Each task's gate weights, `[batch, gate width]` (see [`Architecture::gate_weights`]).
    pub fn gate_weights(&self, x: &Input) -> Option<Vec<Tensor<2>>> {
        self.architecture.gate_weights(x, self.num_tasks())
    }

    /// The architecture's regulariser on `x`, if it has one. Shape `[1]`.
    pub fn regularizer(&self, x: &Input) -> Option<Tensor<1>> {
        self.architecture.regularizer(x)
    }

    /// ESCM²'s counterfactual risk (see [`Counterfactual`]) of every chain step on a batch
    /// with `targets` and `masks` (the chain's training targets: a later step's is the joint
    /// event, which on the rows where the step before happened is the step's own label).
    /// `None` without it. Shape `[1]`.
    pub fn chain_regularizer(
        &self,
        x: &Input,
        targets: &[Tensor<1>],
        masks: &[Tensor<1>],
    ) -> Option<Tensor<1>> {
        let cf = self.counterfactual?;
        let steps: Vec<usize> = (0..self.num_tasks()).filter(|&t| !self.follows[t].is_empty()).collect();
        if steps.is_empty() {
            return None;
        }
        let z = self.architecture.shared(x.clone());
        let terms: Vec<Tensor<1>> = (steps.into_iter())
            .map(|t| {
                let prev = *self.follows[t].last().expect("a later step");
                let b = targets[t].dims()[0];
                let reached = targets[prev].clone() * masks[prev].clone().greater_elem(0.0).float();
                let observed = reached * masks[t].clone().greater_elem(0.0).float(); // o_i
                let propensity = sigmoid(self.forward_task_from_shared(prev, x, z.clone()).reshape([b]))
                    .detach()
                    .clamp(cf.propensity_floor, 1.0);
                let a = self.tower(t, x, z.clone()).reshape([b]);
                let y = targets[t].clone();
                let delta = (log_sigmoid(a.clone()) * y.clone()
                    + log_sigmoid(a.neg()) * y.neg().add_scalar(1.0))
                .neg();
                let Some(k) = self.imputed[t] else { return (observed * delta / propensity).mean() };
                let g = self.imputation[k].forward(self.architecture.task_input(t, x, z.clone()));
                let e = softplus(g.reshape([b]), 1.0);
                let risk = e.clone().detach()
                    + observed.clone() * (delta.clone() - e.clone().detach()) / propensity.clone();
                let imputation = observed * (e - delta.detach()).powi_scalar(2) / propensity;
                risk.mean() + imputation.mean()
            })
            .collect();
        Some(Tensor::cat(terms, 0).sum().mul_scalar(cf.weight))
    }

    /// Ids of the parameters shared by the tasks.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        self.architecture.shared_param_ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::architecture::HpsConfig;
    use crate::encoder::{EncoderConfig, MlpConfig};
    use crate::params::{param_ids, parameter_count};

    #[test]
    fn dropout_is_found_in_the_encoder_and_in_the_heads() {
        let plain = config();
        assert!(!plain.has_dropout());
        let heads = MultiTaskModelConfig { head_dropout: 0.25, ..config() };
        assert!(heads.has_dropout());
        let mut encoder = config();
        if let ArchitectureConfig::Hps(h) = &mut encoder.architecture
            && let EncoderConfig::Mlp(m) = &mut h.encoder
        {
            m.dropout = 1e-3;
        }
        assert!(encoder.has_dropout());
    }

    fn config() -> MultiTaskModelConfig {
        MultiTaskModelConfig {
            architecture: ArchitectureConfig::Hps(HpsConfig {
                encoder: EncoderConfig::Mlp(MlpConfig {
                    d_input: 6,
                    hidden: vec![8, 4],
                    activation: ActivationKind::Relu,
                    dropout: 0.0,
                }),
            }),
            head_hidden: vec![3],
            head_activation: ActivationKind::Relu,
            head_dropout: 0.0,
            task_outputs: vec![1, 5],
            chains: Vec::new(),
            counterfactual: None,
        }
    }

    #[test]
    fn the_ips_risk_by_hand() {
        let device = Device::ndarray();
        let cf = Counterfactual { weight: 0.5, propensity_floor: 0.2, estimator: Estimator::Ips };
        let cfg = MultiTaskModelConfig {
            task_outputs: vec![1, 1],
            chains: vec![vec![0, 1]],
            counterfactual: Some(cf),
            ..config()
        };
        let model = cfg.init(&device);
        let x: Input = Tensor::<2>::random([4, 6], burn::tensor::Distribution::Default, &device).into();
        // Clicks 1, 1, 0, 1; the joint targets (the conversion where clicked) 1, 0, 0, 0; the
        // fourth row's conversion unlabelled.
        let targets = [
            Tensor::<1>::from_floats([1.0, 1.0, 0.0, 1.0], &device),
            Tensor::from_floats([1.0, 0.0, 0.0, 0.0], &device),
        ];
        let masks = [Tensor::<1>::ones([4], &device), Tensor::from_floats([1.0, 1.0, 1.0, 0.0], &device)];
        let got = model.chain_regularizer(&x, &targets, &masks).unwrap().into_scalar::<f32>() as f64;
        let z = model.architecture.shared(x.clone());
        let host = |t: Tensor<2>| t.into_data().to_vec::<f32>().unwrap();
        let (ctr, cvr) = (host(model.tower(0, &x, z.clone())), host(model.tower(1, &x, z)));
        let s = |v: f32| 1.0 / (1.0 + (-(v as f64)).exp());
        let bce = |p: f64, y: f64| -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
        // Rows 0 and 1 are observed (clicked and labelled): δ / max(pCTR, 0.2), over 4 rows.
        let want =
            0.5 * (bce(s(cvr[0]), 1.0) / s(ctr[0]).max(0.2) + bce(s(cvr[1]), 0.0) / s(ctr[1]).max(0.2)) / 4.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        let esmm = MultiTaskModelConfig { counterfactual: None, ..cfg.clone() }.init(&device);
        assert!(esmm.chain_regularizer(&x, &targets, &masks).is_none());
        assert!(model.imputation.is_empty() && esmm.imputation.is_empty());

        // DR: the imputed error ê = softplus(g) of the conversion's imputation tower.
        let dr = Counterfactual { estimator: Estimator::DoublyRobust, ..cf };
        let model = MultiTaskModelConfig { counterfactual: Some(dr), ..cfg }.init(&device);
        assert_eq!(model.imputation.len(), 1);
        let got = model.chain_regularizer(&x, &targets, &masks).unwrap().into_scalar::<f32>() as f64;
        let z = model.architecture.shared(x.clone());
        let (ctr, cvr) = (host(model.tower(0, &x, z.clone())), host(model.tower(1, &x, z.clone())));
        let g = host(model.imputation[0].forward(model.architecture.task_input(1, &x, z)));
        let softplus = |v: f32| (1.0 + (v as f64).exp()).ln();
        let (mut risk, mut imputation) = (0.0, 0.0);
        for i in 0..4 {
            let e = softplus(g[i]);
            let o = if i < 2 { 1.0 } else { 0.0 };
            let delta = bce(s(cvr[i]), [1.0, 0.0, 0.0, 0.0][i]);
            let p = s(ctr[i]).max(0.2);
            risk += e + o * (delta - e) / p;
            imputation += o * (e - delta).powi(2) / p;
        }
        let want = 0.5 * (risk + imputation) / 4.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn a_chain_outputs_the_joint_probability_of_its_steps() {
        use burn::tensor::activation::sigmoid;
        let device = Device::ndarray();
        let cfg = MultiTaskModelConfig { task_outputs: vec![1, 1, 1], chains: vec![vec![2, 0]], ..config() };
        let model = cfg.init(&device);
        assert_eq!((model.follows(0), model.follows(2)), (&[2][..], &[][..]));
        let x: Input = Tensor::<2>::random([4, 6], burn::tensor::Distribution::Default, &device).into();
        let out = model.forward(x.clone());
        let z = model.architecture.shared(x.clone());
        let tower = |t: usize| sigmoid(model.tower(t, &x, z.clone()));
        // Task 0 follows task 2: σ(out_0) = σ(a_2)·σ(a_0); tasks 1 and 2 are their towers.
        sigmoid(out[0].clone()).into_data().assert_approx_eq::<f32>(
            &(tower(2) * tower(0)).into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
        out[2].clone().into_data().assert_eq(&model.tower(2, &x, z.clone()).into_data(), true);
        let alone = model.forward_task_from_shared(0, &x, z);
        alone.into_data().assert_approx_eq::<f32>(&out[0].clone().into_data(), Default::default());
    }

    #[test]
    fn the_chain_logit_by_hand() {
        let device = Device::ndarray();
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let a = Tensor::<2>::from_floats([[0.5], [-1.0]], &device);
        let b = Tensor::<2>::from_floats([[2.0], [0.3]], &device);
        let got = chain_logit(vec![a, b]).into_data().to_vec::<f32>().unwrap();
        for (g, (x, y)) in got.iter().zip([(0.5, 2.0), (-1.0, 0.3)]) {
            let p = s(x) * s(y);
            assert!((*g as f64 - (p / (1.0 - p)).ln()).abs() < 1e-5, "{g} vs {p}");
        }
    }

    #[test]
    fn hps_outputs_have_one_width_per_task() {
        let device = Device::ndarray();
        let model = config().init(&device);
        let out = model.forward(Tensor::zeros([2, 6], &device).into());
        assert_eq!(out.iter().map(|o| o.dims()).collect::<Vec<_>>(), vec![[2, 1], [2, 5]]);
    }

    #[test]
    fn hps_parameter_count_matches_a_hand_count() {
        let model = config().init(&Device::ndarray());
        let encoder = (6 * 8 + 8) + (8 * 4 + 4);
        let head = |out: usize| (4 * 3 + 3) + (3 * out + out);
        assert_eq!(parameter_count(&model), encoder + head(1) + head(5));
        // The shared parameters are exactly the encoder's four tensors.
        assert_eq!(model.shared_param_ids().len(), 4);
        assert_eq!(crate::params::parameter_count_of(&model, &model.shared_param_ids()), encoder);
        let all = param_ids(&model);
        assert_eq!(&all[..4], &model.shared_param_ids()[..]);
    }
}
