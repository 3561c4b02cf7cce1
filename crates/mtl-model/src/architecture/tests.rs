//! Tests every architecture shares: shapes with every encoder, gates that sum to 1, hand
//! parameter counts, and shared parameters that match what the gradients reach.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Distribution, Gradients, Int, Tensor};

use crate::architecture::*;
use crate::encoder::{CnnConfig, EncoderConfig, MlpConfig, TabularConfig};
use crate::params::{param_ids, parameter_count, parameter_count_of};
use crate::{ActivationKind, Input, MultiTaskModelConfig};

const T: usize = 3;

// Tanh rather than ReLU: with a handful of rows a dead ReLU would hide a parameter's gradient.
fn mlp(d_input: usize, hidden: Vec<usize>) -> EncoderConfig {
    EncoderConfig::Mlp(MlpConfig { d_input, hidden, activation: ActivationKind::Tanh, dropout: 0.0 })
}

/// The three encoders on 16-wide rows (a 1×4×4 image for the CNN; the tabular encoder reads
/// one id column besides).
fn encoders() -> Vec<EncoderConfig> {
    vec![
        mlp(16, vec![6, 5]),
        EncoderConfig::Cnn(CnnConfig {
            channels: vec![2],
            kernel_size: 3,
            pool: 1,
            hidden: vec![5],
            activation: ActivationKind::Tanh,
            ..CnnConfig::lenet([1, 4, 4])
        }),
        EncoderConfig::Tabular(TabularConfig {
            d_input: 16,
            fields: crate::encoder::fields_per_column(&[4], &[3]).unwrap().0,
            tables: crate::encoder::fields_per_column(&[4], &[3]).unwrap().1,
            hidden: vec![5],
            activation: ActivationKind::Tanh,
            dropout: 0.0,
        }),
    ]
}

fn architectures(encoder: &EncoderConfig) -> Vec<ArchitectureConfig> {
    let stem = StemConfig::for_encoder(encoder, 2);
    vec![
        ArchitectureConfig::Hps(HpsConfig { encoder: encoder.clone() }),
        ArchitectureConfig::Mmoe(MmoeConfig {
            expert: encoder.clone(),
            experts: 3,
            num_tasks: T,
            stem: stem.clone(),
        }),
        ArchitectureConfig::Omoe(OmoeConfig { expert: encoder.clone(), experts: 3, stem: stem.clone() }),
        ArchitectureConfig::Cgc(CgcConfig {
            expert: encoder.clone(),
            shared_experts: 2,
            task_experts: 1,
            num_tasks: T,
            stem: stem.clone(),
        }),
        ArchitectureConfig::Ple(PleConfig {
            expert: encoder.clone(),
            shared_experts: 2,
            task_experts: 1,
            num_tasks: T,
            levels: 2,
            stem: stem.clone(),
        }),
        ArchitectureConfig::CrossStitch(CrossStitchConfig {
            column: encoder.clone(),
            num_tasks: T,
            self_weight: 0.8,
        }),
        ArchitectureConfig::DselectK(DselectKConfig {
            expert: encoder.clone(),
            experts: 3,
            k: 2,
            gamma: 1.0,
            entropy_weight: 0.1,
            num_tasks: T,
            stem,
        }),
    ]
}

fn model(architecture: ArchitectureConfig) -> MultiTaskModelConfig {
    MultiTaskModelConfig {
        architecture,
        head_hidden: vec![],
        head_activation: ActivationKind::Relu,
        head_dropout: 0.0,
        task_outputs: vec![1, 2, 4],
        chains: Vec::new(),
        counterfactual: None,
        transfer: None,
    }
}

/// Five 16-wide rows, and one id column (ids 0–3) that only the tabular encoder reads.
fn input(device: &Device) -> Input {
    device.seed(7);
    let ids = Tensor::<2, Int>::from_ints([[0], [1], [2], [3], [1]], device);
    Input::new(Tensor::random([5, 16], Distribution::Uniform(0.0, 3.0), device), Some(ids))
}

#[test]
fn every_architecture_with_every_encoder_has_the_right_output_shapes() {
    let device = Device::ndarray();
    for encoder in encoders() {
        for arch in architectures(&encoder) {
            let m = model(arch.clone()).init(&device);
            let x = input(&device);
            let dims: Vec<_> = m.forward(x.clone()).iter().map(|o| o.dims()).collect();
            assert_eq!(dims, vec![[5, 1], [5, 2], [5, 4]], "{} on {}", arch.name(), encoder.name());
            let z = m.architecture.shared(x.clone());
            for t in 0..T {
                assert_eq!(m.architecture.task_input(t, &x, z.clone()).dims(), [5, arch.d_task()]);
            }
        }
    }
}

#[test]
fn gates_sum_to_one() {
    let device = Device::ndarray();
    for encoder in encoders() {
        for arch in architectures(&encoder) {
            if matches!(arch, ArchitectureConfig::Hps(_)) {
                continue;
            }
            let m = model(arch.clone()).init(&device);
            let gates = m.gate_weights(&input(&device)).expect("gated architecture");
            let width = arch.gate_labels().unwrap().len();
            assert_eq!(gates.len(), T);
            for g in gates {
                assert_eq!(g.dims(), [5, width], "{}", arch.name());
                let sums = g.clone().sum_dim(1).into_data().to_vec::<f32>().unwrap();
                assert!(
                    sums.iter().all(|s| (s - 1.0).abs() < 1e-5),
                    "{} on {}: {sums:?}",
                    arch.name(),
                    encoder.name()
                );
                assert!(g.into_data().to_vec::<f32>().unwrap().iter().all(|&w| w >= 0.0));
            }
        }
    }
}

#[test]
fn parameter_counts_match_a_hand_count() {
    let device = Device::ndarray();
    // Experts: MLP 4 → 3, 12 + 3 = 15 values. Heads: linear 3 → (1, 2, 4): 4 + 8 + 16 = 28.
    let expert = mlp(4, vec![3]);
    let stem = StemConfig::for_encoder(&expert, 0);
    let heads = 28;
    let gate = |e: usize| 4 * e + e;
    let count = |a: ArchitectureConfig| {
        let m = model(a).init(&device);
        (parameter_count(&m), parameter_count_of(&m, &m.shared_param_ids()))
    };
    // HPS: the encoder is all that is shared.
    assert_eq!(count(ArchitectureConfig::Hps(HpsConfig { encoder: expert.clone() })), (15 + heads, 15));
    // MMoE: 4 experts shared, one 4-way gate per task.
    let mmoe = MmoeConfig { expert: expert.clone(), experts: 4, num_tasks: T, stem: stem.clone() };
    assert_eq!(count(ArchitectureConfig::Mmoe(mmoe)), (4 * 15 + T * gate(4) + heads, 4 * 15));
    // OMoE: experts and the one gate, all shared.
    let omoe = OmoeConfig { expert: expert.clone(), experts: 4, stem: stem.clone() };
    assert_eq!(count(ArchitectureConfig::Omoe(omoe)), (4 * 15 + gate(4) + heads, 4 * 15 + gate(4)));
    // CGC: 2 shared + 1 per task; gates over 3 experts; only the shared experts are shared.
    let cgc = CgcConfig {
        expert: expert.clone(),
        shared_experts: 2,
        task_experts: 1,
        num_tasks: T,
        stem: stem.clone(),
    };
    assert_eq!(count(ArchitectureConfig::Cgc(cgc)), ((2 + T) * 15 + T * gate(3) + heads, 2 * 15));
    // PLE on an MLP 4 → 3 → 2 in two levels. Level 1: layer 4 → 3 (15) per expert, task gates
    // (4 → 3) and a shared gate over 2 + 3 experts (4 → 5). Level 2: layer 3 → 2 (8) per
    // expert, task gates 3 → 3. Heads read width 2: 3 + 6 + 12 = 21.
    let deep = mlp(4, vec![3, 2]);
    let ple = PleConfig {
        expert: deep.clone(),
        shared_experts: 2,
        task_experts: 1,
        num_tasks: T,
        levels: 2,
        stem: StemConfig::for_encoder(&deep, 0),
    };
    let level1 = (2 + T) * 15 + T * gate(3) + gate(5);
    let level2_shared = 2 * 8;
    let level2_tasks = T * 8 + T * (3 * 3 + 3);
    assert_eq!(
        count(ArchitectureConfig::Ple(ple)),
        (level1 + level2_shared + level2_tasks + 21, level1 + level2_shared)
    );
    // Cross-stitch: T columns and one T × T unit per block (2 blocks), all shared.
    let cs = CrossStitchConfig { column: deep.clone(), num_tasks: T, self_weight: 0.9 };
    let shared = T * (15 + 8) + 2 * T * T;
    assert_eq!(count(ArchitectureConfig::CrossStitch(cs)), (shared + 21, shared));
    // DSelect-k, 4 experts (m = 2 bits), k = 2: per task 4 → k·m = 4 logits and 4 → k weights.
    let ds = DselectKConfig { expert, experts: 4, k: 2, gamma: 1.0, entropy_weight: 0.0, num_tasks: T, stem };
    assert_eq!(count(ArchitectureConfig::DselectK(ds)), (4 * 15 + T * (20 + 10) + heads, 4 * 15));
}

/// Sum of |gradient| of each parameter, keyed by id.
struct GradMass<'a> {
    grads: &'a Gradients,
    mass: Vec<(ParamId, f32)>,
}

impl ModuleVisitor for GradMass<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let m = param.val().grad(self.grads).map_or(0.0, |g| g.abs().sum().into_scalar::<f32>());
        self.mass.push((param.id, m));
    }
}

#[test]
fn task_specific_parameters_are_reached_by_their_task_only() {
    // A parameter that is not reported as shared must get a gradient from at most one task's
    // loss; the shared ones are all reached from some task.
    let device = Device::ndarray().autodiff();
    for encoder in encoders() {
        for arch in architectures(&encoder) {
            let m = model(arch.clone()).init(&device);
            let shared = m.shared_param_ids();
            let x = input(&device);
            let mut reached_by = vec![Vec::new(); param_ids(&m).len()];
            for t in 0..T {
                let out = m.forward(x.clone()).swap_remove(t);
                let grads = out.powi_scalar(2).sum().backward();
                let mut v = GradMass { grads: &grads, mass: Vec::new() };
                m.visit(&mut v);
                for (i, (_, mass)) in v.mass.iter().enumerate() {
                    if *mass > 0.0 {
                        reached_by[i].push(t);
                    }
                }
            }
            for (id, tasks) in param_ids(&m).iter().zip(&reached_by) {
                let what = format!("{} on {}", arch.name(), encoder.name());
                if shared.contains(id) {
                    assert!(!tasks.is_empty(), "{what}: a shared parameter no task reaches");
                } else {
                    assert!(tasks.len() <= 1, "{what}: a task parameter reached by tasks {tasks:?}");
                }
            }
        }
    }
}

#[test]
fn cross_stitch_with_identity_mixing_equals_independent_columns() {
    let device = Device::ndarray();
    let column = mlp(16, vec![6, 5]);
    let cfg = CrossStitchConfig { column: column.clone(), num_tasks: T, self_weight: 1.0 };
    assert_eq!(cfg.initial_alpha(), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    let cs = cfg.init(&device);
    let x = input(&device);
    let z = cs.shared(x.clone());
    for t in 0..T {
        let alone = cs.columns_for_test()[t].forward(x.clone());
        cs.task_input(t, &x, z.clone())
            .into_data()
            .assert_approx_eq::<f32>(&alone.into_data(), Default::default());
    }
}

#[test]
fn cross_stitch_mixes_columns_by_alpha() {
    // Two tasks, one linear block: z_t = Σ_s α[t, s] c_s(x).
    let device = Device::ndarray();
    let cfg = CrossStitchConfig { column: mlp(16, vec![4]), num_tasks: 2, self_weight: 0.9 };
    assert_eq!(cfg.initial_alpha(), vec![0.9, 0.1f64 as f32, 0.1f64 as f32, 0.9]);
    let cs = cfg.init(&device);
    let x = input(&device);
    let c: Vec<Tensor<2>> = cs.columns_for_test().iter().map(|c| c.forward(x.clone())).collect();
    let z = cs.shared(x.clone());
    let want0 = c[0].clone().mul_scalar(0.9) + c[1].clone().mul_scalar(0.1);
    cs.task_input(0, &x, z).into_data().assert_approx_eq::<f32>(&want0.into_data(), Default::default());
}

#[test]
fn smooth_step_matches_its_closed_form() {
    let device = Device::ndarray();
    let t = Tensor::<1>::from_floats([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 2.0], &device);
    let s = smooth_step(t, 1.0).into_data().to_vec::<f32>().unwrap();
    // −2t³ + 1.5t + 0.5 on [−0.5, 0.5]: S(±0.25) = 0.5 ± (0.375 − 0.03125).
    let want = [0.0, 0.0, 0.15625, 0.5, 0.84375, 1.0, 1.0];
    assert!(s.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{s:?}");
}

fn dselect(experts: usize, k: usize, device: &Device) -> DselectK {
    let expert = mlp(16, vec![4]);
    DselectKConfig {
        stem: StemConfig::for_encoder(&expert, 0),
        expert,
        experts,
        k,
        gamma: 1.0,
        entropy_weight: 1.0,
        num_tasks: 1,
    }
    .init(device)
}

/// Selector logits fixed (zero weights, bias = `bias`) so that every row selects the same codes.
fn fix_selectors(d: &mut DselectK, bias: &[f32], device: &Device) {
    let gate = &mut d.gates[0];
    let [d_in, width] = gate.z_logits.weight.dims();
    gate.z_logits.weight = Param::from_tensor(Tensor::zeros([d_in, width], device));
    gate.z_logits.bias = Some(Param::from_tensor(Tensor::from_floats(bias, device)));
}

#[test]
fn dselect_k_has_exactly_k_nonzero_weights_once_converged() {
    let device = Device::ndarray();
    // 8 experts, m = 3 bits, k = 2: selector 1 → code 101 = expert 5, selector 2 → 010 = 2.
    let mut d = dselect(8, 2, &device);
    fix_selectors(&mut d, &[3.0, -3.0, 3.0, -3.0, 3.0, -3.0], &device);
    let w = d.gate_weights(&input(&device)).remove(0);
    for row in w.into_data().to_vec::<f32>().unwrap().chunks(8) {
        let nonzero: Vec<usize> = (0..8).filter(|&j| row[j] > 0.0).collect();
        assert_eq!(nonzero, vec![2, 5], "{row:?}");
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    // Converged selectors have zero entropy.
    assert!(d.regularizer(&input(&device)).into_scalar::<f32>().abs() < 1e-4);
}

#[test]
fn dselect_k_selectors_get_gradients_before_convergence_and_none_after() {
    let device = Device::ndarray().autodiff();
    let grad_of_selectors = |bias: &[f32]| {
        let mut d = dselect(4, 2, &device);
        fix_selectors(&mut d, bias, &device);
        let x = input(&device);
        let z = d.shared(x.clone());
        let loss = d.task_input(0, &x, z).powi_scalar(2).sum();
        let grads = loss.backward();
        let g = d.gates[0].z_logits.bias.as_ref().unwrap().val().grad(&grads).unwrap();
        g.abs().sum().into_scalar::<f32>()
    };
    assert!(grad_of_selectors(&[0.1, -0.2, 0.05, 0.3]) > 0.0);
    assert_eq!(grad_of_selectors(&[2.0, -2.0, -2.0, 2.0]), 0.0);
}

#[test]
fn dselect_k_entropy_training_converges_to_at_most_k_experts() {
    // Minimising the entropy regulariser alone drives every selector to one code.
    use burn::optim::{GradientsParams, SgdConfig};
    let device = Device::ndarray().autodiff();
    let mut d = dselect(8, 2, &device);
    let x = input(&device);
    let mut opt = SgdConfig::new().init();
    for _ in 0..300 {
        let grads = d.regularizer(&x).backward();
        d = opt.step(0.5, d.clone(), GradientsParams::from_grads(grads, &d));
    }
    let w = d.gate_weights(&x).remove(0).into_data().to_vec::<f32>().unwrap();
    for row in w.chunks(8) {
        let nonzero = row.iter().filter(|&&v| v > 0.0).count();
        assert!((1..=2).contains(&nonzero), "{row:?}");
    }
}

#[test]
fn dselect_k_with_a_non_power_of_two_keeps_weights_on_real_experts() {
    let device = Device::ndarray();
    let d = dselect(5, 2, &device);
    let w = d.gate_weights(&input(&device)).remove(0);
    let sums = w.sum_dim(1).into_data().to_vec::<f32>().unwrap();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
    // The penalty is 0 only when all mass sits on codes < 5; at initialisation it is positive.
    assert!(d.regularizer(&input(&device)).into_scalar::<f32>() > 0.0);
}

#[test]
fn ple_levels_split_the_encoder_blocks() {
    let cfg = PleConfig {
        expert: mlp(4, vec![8, 8, 8, 8, 8]),
        shared_experts: 1,
        task_experts: 1,
        num_tasks: 2,
        levels: 2,
        stem: StemConfig::Identity { d_input: 4 },
    };
    assert_eq!(cfg.level_blocks(), vec![0..2, 2..5]);
}
