//! The whole multi-task network: an architecture plus one head per task.

use burn::module::{Module, ParamId};
use burn::tensor::activation::{log_sigmoid, sigmoid, softplus};
use burn::tensor::{Device, Tensor};

use crate::Input;
use crate::activation::ActivationKind;
use crate::architecture::{Architecture, ArchitectureConfig};
use crate::graph::{Graph, GraphInput};
use crate::head::{HeadConfig, TaskHead};
use crate::transfer::{Ait, AitConfig, calibrator_penalty};

/// One task's outputs in a traced graph (see [`MultiTaskModel::trace`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TracedTask {
    /// The task's output as the network gives it: a value, a logit, class logits.
    pub output: String,
    /// A chain's later step: its own (conditional) probability and the chain's joint
    /// probability up to it.
    pub chain: Option<(String, String)>,
}

/// Configuration of a [`MultiTaskModel`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    /// AITM's information transfer along the chains (see [`crate::Ait`]) in place of
    /// ESMM's product; `None` for ESMM and ESCM².
    pub transfer: Option<Transfer>,
}

/// AITM (Xi et al., KDD 2021): each later step's tower fuses the step before's representation
/// through a transfer and an attention unit ([`crate::Ait`]), and its output is the chain's
/// joint probability up to it directly; the behavioural expectation calibrator
/// ([`crate::calibrator_penalty`]) keeps it below the step before's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Transfer {
    /// α, the weight of the calibrator's penalty.
    pub calibrator_weight: f64,
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Counterfactual {
    /// λ, the weight of the risk.
    pub weight: f64,
    /// Smallest propensity used.
    pub propensity_floor: f64,
    /// The estimator.
    pub estimator: Estimator,
}

/// ESCM²'s estimators of the counterfactual risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// AITM: the transfer and attention units of the chains' later steps (empty otherwise).
    pub ait: Vec<Ait>,
    /// Per task, the tasks it follows in its chain (in chain order); empty for a task that
    /// follows none.
    #[module(skip)]
    follows: Vec<Vec<usize>>,
    /// Per task, its imputation tower's index in `imputation`.
    #[module(skip)]
    imputed: Vec<Option<usize>>,
    /// Per task, its AIT unit's index in `ait`.
    #[module(skip)]
    transferred: Vec<Option<usize>>,
    #[module(skip)]
    counterfactual: Option<Counterfactual>,
    #[module(skip)]
    transfer: Option<Transfer>,
}

/// The logit of the joint probability Π_k σ(a_k) of a chain's steps, from their tower logits
/// `a_k` (ESMM: pCTCVR = pCTR · pCVR, Ma et al., SIGIR 2018, eq. (2)): log P = Σ_k log σ(a_k),
/// logit P = log P − log(1 − P). A binary loss on this logit is the cross-entropy of P.
///
/// # Shapes
/// - towers: each `[batch, 1]`
/// - output: `[batch, 1]`
pub fn chain_logit(towers: Vec<Tensor<2>>) -> Tensor<2> {
    logit_of_log(towers.into_iter().map(log_sigmoid).reduce(|a, b| a + b).expect("a chain has steps"))
}

/// The logit of a conditional probability P(later | earlier) = P(later) / P(earlier) from the
/// two joint probabilities' logits (AITM's step tower), capped at 1 where the joints are out of
/// order (the calibrator's penalty then applies).
///
/// # Shapes
/// - earlier, later: `[batch, 1]`
/// - output: `[batch, 1]`
pub fn conditional_logit(earlier: Tensor<2>, later: Tensor<2>) -> Tensor<2> {
    logit_of_log((log_sigmoid(later) - log_sigmoid(earlier)).clamp_max(0.0))
}

/// logit P = log P − log(1 − P) from log P ≤ 0.
fn logit_of_log(log_p: Tensor<2>) -> Tensor<2> {
    // 1 − P floored: P → 1 only when every step is certain.
    let rest = log_p.clone().exp().neg().add_scalar(1.0).clamp_min(1e-7).log();
    log_p - rest
}

impl MultiTaskModelConfig {
    /// Build the model on `device`.
    pub fn init(&self, device: &Device) -> MultiTaskModel {
        let d_task = self.architecture.d_task();
        let head_config = |d_output: usize| HeadConfig {
            d_input: d_task,
            hidden: self.head_hidden.clone(),
            activation: self.head_activation,
            dropout: self.head_dropout,
            d_output,
        };
        let head = |d_output: usize| head_config(d_output).init(device);
        let heads: Vec<TaskHead> = self.task_outputs.iter().map(|&d| head(d)).collect();
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
        let mut transferred = vec![None; self.task_outputs.len()];
        let mut ait = Vec::new();
        if self.transfer.is_some() {
            let d = head_config(1).d_represent();
            for (t, slot) in transferred.iter_mut().enumerate() {
                if !follows[t].is_empty() {
                    *slot = Some(ait.len());
                    ait.push(AitConfig { d, dropout: self.head_dropout }.init(device));
                }
            }
        }
        MultiTaskModel {
            architecture: self.architecture.init(device),
            heads,
            imputation,
            ait,
            follows,
            imputed,
            transferred,
            counterfactual: self.counterfactual,
            transfer: self.transfer,
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
        let mut towers = Towers::new(self, x, z);
        (0..self.num_tasks()).map(|t| towers.output(t)).collect()
    }

    /// Per-task outputs and own towers (see [`Self::tower`]; a task outside a chain's later
    /// steps is its own tower) from one pass over the heads.
    pub fn forward_with_towers(&self, x: &Input, z: Tensor<2>) -> (Vec<Tensor<2>>, Vec<Tensor<2>>) {
        let mut towers = Towers::new(self, x, z);
        (0..self.num_tasks()).map(|t| (towers.output(t), towers.conditional(t))).unzip()
    }

    /// Task `t`'s output from the shared representation `z`: its tower's, or for a task that
    /// follows others in a chain the logit of the chain's joint probability up to it.
    pub fn forward_task_from_shared(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        Towers::new(self, x, z).output(t)
    }

    /// Task `t`'s own tower output: for a chain's later step, the logit of its conditional
    /// probability (ESMM's pCVR; for AITM, whose output is the joint, the ratio of its joint
    /// probability to the step before's, see [`conditional_logit`]).
    pub fn tower(&self, t: usize, x: &Input, z: Tensor<2>) -> Tensor<2> {
        Towers::new(self, x, z).conditional(t)
    }

    /// The tasks task `t` follows in its chain, in order (empty when it follows none).
    pub fn follows(&self, t: usize) -> &[usize] {
        &self.follows[t]
    }

    /// Whether task `t` is an AITM step whose output is the chain's joint probability itself
    /// (its tower fuses the step before's through an AIT unit), rather than ESMM's product.
    pub fn transfers(&self, t: usize) -> bool {
        self.transferred[t].is_some()
    }

    /// Each task's gate weights, `[batch, gate width]` (see [`Architecture::gate_weights`]).
    pub fn gate_weights(&self, x: &Input) -> Option<Vec<Tensor<2>>> {
        self.architecture.gate_weights(x, self.num_tasks())
    }

    /// The architecture's regulariser on `x`, if it has one. Shape `[1]`.
    pub fn regularizer(&self, x: &Input) -> Option<Tensor<1>> {
        self.architecture.regularizer(x)
    }

    /// The chains' own loss terms on a batch with `targets` and `masks` (the chain's training
    /// targets: a later step's is the joint event, which on the rows where the step before
    /// happened is the step's own label): ESCM²'s counterfactual risk (see [`Counterfactual`])
    /// and AITM's calibrator penalty (see [`Transfer`]) of every later step. `None` without
    /// them. Shape `[1]`.
    pub fn chain_regularizer(
        &self,
        x: &Input,
        targets: &[Tensor<1>],
        masks: &[Tensor<1>],
    ) -> Option<Tensor<1>> {
        if self.counterfactual.is_none() && self.transfer.is_none() {
            return None;
        }
        let steps: Vec<usize> = (0..self.num_tasks()).filter(|&t| !self.follows[t].is_empty()).collect();
        if steps.is_empty() {
            return None;
        }
        let mut towers = Towers::new(self, x, self.architecture.shared(x.clone()));
        let mut terms = Vec::new();
        for t in steps {
            let prev = *self.follows[t].last().expect("a later step");
            if let Some(cf) = self.counterfactual {
                let risk = self.counterfactual_risk(cf, &mut towers, (prev, t), targets, masks);
                terms.push(risk.mul_scalar(cf.weight));
            }
            if let Some(transfer) = self.transfer {
                let penalty = calibrator_penalty(towers.output(prev), towers.output(t));
                terms.push(penalty.mul_scalar(transfer.calibrator_weight));
            }
        }
        Some(Tensor::cat(terms, 0).sum())
    }

    /// ESCM²'s counterfactual risk of step `t` after `prev`, unweighted.
    fn counterfactual_risk(
        &self,
        cf: Counterfactual,
        towers: &mut Towers,
        (prev, t): (usize, usize),
        targets: &[Tensor<1>],
        masks: &[Tensor<1>],
    ) -> Tensor<1> {
        let b = targets[t].dims()[0];
        let reached = targets[prev].clone() * masks[prev].clone().greater_elem(0.0).float();
        let observed = reached * masks[t].clone().greater_elem(0.0).float(); // o_i
        let propensity = sigmoid(towers.output(prev).reshape([b])).detach().clamp(cf.propensity_floor, 1.0);
        let a = towers.conditional(t).reshape([b]);
        let y = targets[t].clone();
        let delta =
            (log_sigmoid(a.clone()) * y.clone() + log_sigmoid(a.neg()) * y.neg().add_scalar(1.0)).neg();
        let Some(k) = self.imputed[t] else { return (observed * delta / propensity).mean() };
        let g = self.imputation[k].forward(self.architecture.task_input(t, towers.x, towers.z.clone()));
        let e = softplus(g.reshape([b]), 1.0);
        let risk =
            e.clone().detach() + observed.clone() * (delta.clone() - e.clone().detach()) / propensity.clone();
        let imputation = observed * (e - delta.detach()).powi_scalar(2) / propensity;
        risk.mean() + imputation.mean()
    }

    /// The inference forward into `g` (see [`crate::graph`]): per task, its output as
    /// [`Self::forward`] gives it (a value or logits), and for a chain's later step the
    /// probabilities `mtl predict` writes instead.
    pub fn trace(&self, g: &mut Graph, x: &GraphInput) -> Vec<TracedTask> {
        let n = self.num_tasks();
        let inputs = self.architecture.trace(g, x, n);
        let mut reps: Vec<Option<String>> = vec![None; n];
        // Every step after the ones it follows, so that an AITM step finds the step before's
        // representation.
        for t in self.trace_order() {
            let q = self.heads[t].trace_represent(g, &format!("heads.{t}"), inputs[t].clone());
            reps[t] = Some(match (self.transferred[t], self.follows[t].last()) {
                (Some(k), Some(&prev)) => {
                    let previous = reps[prev].clone().expect("the step before comes first");
                    self.ait[k].trace(g, &format!("ait.{k}"), &previous, &q)
                }
                _ => q,
            });
        }
        let logits: Vec<String> = (0..n)
            .map(|t| self.heads[t].trace_output(g, &format!("heads.{t}"), reps[t].as_ref().expect("traced")))
            .collect();
        let prob = |g: &mut Graph, s: usize| g.op("Sigmoid", &[&logits[s]], vec![]);
        (0..n)
            .map(|t| {
                let Some(&prev) = self.follows[t].last() else {
                    return TracedTask { output: logits[t].clone(), chain: None };
                };
                let (own, joint) = if self.transfers(t) {
                    // AITM: the head gives the joint; the step's own is its ratio to the joint before.
                    let (joint, before) = (prob(g, t), prob(g, prev));
                    let ratio = g.op("Div", &[&joint, &before], vec![]);
                    let one = g.floats(vec![1.0], vec![]);
                    (g.op("Min", &[&ratio, &one], vec![]), joint)
                } else {
                    // ESMM: the joint is the product of the chain's towers.
                    let own = prob(g, t);
                    let mut joint = own.clone();
                    for &s in &self.follows[t] {
                        let p = prob(g, s);
                        joint = g.op("Mul", &[&p, &joint], vec![]);
                    }
                    (own, joint)
                };
                TracedTask { output: logits[t].clone(), chain: Some((own, joint)) }
            })
            .collect()
    }

    /// Every task, each after the tasks it follows.
    fn trace_order(&self) -> Vec<usize> {
        let mut order = Vec::new();
        for t in 0..self.num_tasks() {
            for &s in self.follows[t].iter().chain([&t]) {
                if !order.contains(&s) {
                    order.push(s);
                }
            }
        }
        order
    }

    /// Ids of the parameters shared by the tasks.
    pub fn shared_param_ids(&self) -> Vec<ParamId> {
        self.architecture.shared_param_ids()
    }
}

/// The towers of one forward from a shared representation, each computed once: a task's
/// representation (AITM: fused with the step before's), head logit, output and conditional.
struct Towers<'a> {
    model: &'a MultiTaskModel,
    x: &'a Input,
    z: Tensor<2>,
    representations: Vec<Option<Tensor<2>>>,
    logits: Vec<Option<Tensor<2>>>,
}

impl<'a> Towers<'a> {
    fn new(model: &'a MultiTaskModel, x: &'a Input, z: Tensor<2>) -> Self {
        let n = model.num_tasks();
        Towers { model, x, z, representations: vec![None; n], logits: vec![None; n] }
    }

    /// Task `t`'s tower representation: q_t, or AITM's z_t = AIT(z_{t−1}, q_t).
    fn representation(&mut self, t: usize) -> Tensor<2> {
        if let Some(r) = &self.representations[t] {
            return r.clone();
        }
        let m = self.model;
        let q = m.heads[t].represent(m.architecture.task_input(t, self.x, self.z.clone()));
        let r = match m.transferred[t] {
            Some(k) => {
                let prev = *m.follows[t].last().expect("a transferring step follows one");
                let previous = self.representation(prev);
                m.ait[k].forward(previous, q)
            }
            None => q,
        };
        self.representations[t] = Some(r.clone());
        r
    }

    /// Task `t`'s head output on its representation.
    fn logit(&mut self, t: usize) -> Tensor<2> {
        if let Some(l) = &self.logits[t] {
            return l.clone();
        }
        let l = self.model.heads[t].output(self.representation(t));
        self.logits[t] = Some(l.clone());
        l
    }

    /// Task `t`'s output: its head's, or for an ESMM step the chain logit of the tasks it
    /// follows and its own (an AITM step's head gives the joint itself).
    fn output(&mut self, t: usize) -> Tensor<2> {
        let follows = &self.model.follows[t];
        if follows.is_empty() || self.model.transfers(t) {
            return self.logit(t);
        }
        let steps: Vec<usize> = follows.iter().copied().chain([t]).collect();
        chain_logit(steps.into_iter().map(|s| self.logit(s)).collect())
    }

    /// Task `t`'s conditional probability's logit given the steps before (its head's for an
    /// ESMM step; the ratio of the joints for an AITM step).
    fn conditional(&mut self, t: usize) -> Tensor<2> {
        match self.model.follows[t].last() {
            Some(&prev) if self.model.transfers(t) => conditional_logit(self.output(prev), self.logit(t)),
            _ => self.logit(t),
        }
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
            transfer: None,
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

    /// AITM on a three-step chain 0 → 1 → 2: z_0 = q_0, z_1 = AIT_1(z_0, q_1), z_2 = AIT_2(z_1,
    /// q_2); each step's output is its head's output layer on z (the joint itself), its tower
    /// the ratio of its joint to the step before's, and the calibrator α · Σ_t mean(max(ŷ_t −
    /// ŷ_{t−1}, 0)), by hand.
    #[test]
    fn aitm_fuses_the_step_before_and_outputs_the_joint() {
        use burn::tensor::activation::sigmoid;
        let device = Device::ndarray();
        let cfg = MultiTaskModelConfig {
            task_outputs: vec![1, 1, 1],
            chains: vec![vec![0, 1, 2]],
            transfer: Some(Transfer { calibrator_weight: 0.7 }),
            ..config()
        };
        let model = cfg.init(&device);
        assert_eq!(model.ait.len(), 2);
        assert!(!model.transfers(0) && model.transfers(1) && model.transfers(2));
        // One AIT unit per transition: (3·3 + 3) for the transfer, 3 · 3·3 for h_1..h_3.
        let unit = (3 * 3 + 3) + 3 * (3 * 3);
        let plain = MultiTaskModelConfig { transfer: None, ..cfg.clone() }.init(&device);
        assert_eq!(parameter_count(&model), parameter_count(&plain) + 2 * unit);
        let x: Input = Tensor::<2>::random([5, 6], burn::tensor::Distribution::Default, &device).into();
        let z = model.architecture.shared(x.clone());
        let q = |t: usize| model.heads[t].represent(model.architecture.task_input(t, &x, z.clone()));
        let z1 = model.ait[0].forward(q(0), q(1));
        let z2 = model.ait[1].forward(z1.clone(), q(2));
        let want = [model.heads[0].output(q(0)), model.heads[1].output(z1), model.heads[2].output(z2)];
        let out = model.forward_from_shared(&x, z.clone());
        for t in 0..3 {
            out[t]
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&want[t].clone().into_data(), Default::default());
            let alone = model.forward_task_from_shared(t, &x, z.clone());
            alone.into_data().assert_approx_eq::<f32>(&want[t].clone().into_data(), Default::default());
        }
        let host = |t: Tensor<2>| t.into_data().to_vec::<f32>().unwrap();
        let p: Vec<Vec<f64>> =
            out.iter().map(|o| host(sigmoid(o.clone())).iter().map(|&v| v as f64).collect()).collect();
        // The tower: min(ŷ_t / ŷ_{t−1}, 1).
        let tower = host(sigmoid(model.tower(2, &x, z.clone())));
        for i in 0..5 {
            let want = (p[2][i] / p[1][i]).min(1.0);
            assert!((tower[i] as f64 - want).abs() < 1e-5, "row {i}: {} vs {want}", tower[i]);
        }
        assert_eq!(host(model.tower(0, &x, z)), host(out[0].clone()));
        let (targets, masks) =
            (vec![Tensor::<1>::zeros([5], &device); 3], vec![Tensor::<1>::ones([5], &device); 3]);
        let got = model.chain_regularizer(&x, &targets, &masks).unwrap().into_scalar::<f32>() as f64;
        let hinge = |t: usize| (0..5).map(|i| (p[t][i] - p[t - 1][i]).max(0.0)).sum::<f64>() / 5.0;
        let want = 0.7 * (hinge(1) + hinge(2));
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert!(plain.chain_regularizer(&x, &targets, &masks).is_none());
    }

    #[test]
    fn the_conditional_logit_by_hand() {
        let device = Device::ndarray();
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        // (earlier, later) joint logits; the third pair is out of order: capped at 1.
        let pairs = [(0.5f64, -1.0f64), (2.0, 0.3), (-1.0, 0.5)];
        let earlier = Tensor::<2>::from_floats([[0.5], [2.0], [-1.0]], &device);
        let later = Tensor::<2>::from_floats([[-1.0], [0.3], [0.5]], &device);
        let got = conditional_logit(earlier, later).into_data().to_vec::<f32>().unwrap();
        for (g, (a, b)) in got.iter().zip(pairs) {
            let r = (s(b) / s(a)).min(1.0);
            assert!((s(f64::from(*g)) - r).abs() < 1e-5, "{g} vs {r}");
        }
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
