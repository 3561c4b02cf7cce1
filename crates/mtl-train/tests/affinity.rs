//! Task-affinity measures against a hand computation on a tiny linear model, and the block
//! structure of the grouped synthetic generator.

mod common;

use mtl_train::input::BatchInput;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use mtl_data::MultiTaskBatch;
use mtl_train::affinity::{OutputGradient, measure, output_similarity};
use mtl_train::config::RunConfig;
use mtl_train::fit::prepare_data;

/// x ∈ R³ → z = wᵀx + b (one identity unit, shared) → ŷ_t = a_t·z + c_t, two regressions.
const LINEAR: &str = r#"
[data.synthetic]
samples = 40
features = 3
[[tasks]]
name = "p"
kind = "regression"
[[tasks]]
name = "q"
kind = "regression"
[model.encoder]
hidden = [1]
activation = "identity"
[model.head]
hidden = []
"#;

/// Every float parameter's values, in traversal order.
struct Values(Vec<Vec<f64>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        self.0.push(v.into_iter().map(f64::from).collect());
    }
}

#[test]
#[allow(deprecated)]
fn lookahead_and_cosines_match_a_hand_computation_on_a_linear_model() {
    let config = RunConfig::from_toml(Path::new("linear.toml"), LINEAR, &[]).unwrap();
    let device = Device::ndarray().autodiff();
    device.seed(3);
    let model = config.model.init(&device);
    let mut values = Values(Vec::new());
    model.visit(&mut values);
    let p = values.0;
    assert_eq!(
        p.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 1, 1, 1, 1, 1],
        "w, b, a_p, c_p, a_q, c_q"
    );
    let (w, b) = (&p[0], p[1][0]);
    let (a, c) = ([p[2][0], p[4][0]], [p[3][0], p[5][0]]);

    let data = prepare_data(&config).unwrap().train;
    let idx: Vec<usize> = (0..8).collect();
    let batch = MultiTaskBatch::gather(&data, &idx, &device);
    let lr = 0.05;
    let got = measure(&model, &batch, &config.task_specs(), lr);

    // By hand, in f64.
    let x: Vec<&[f32]> = idx.iter().map(|&i| data.row(i)).collect();
    let y = |t: usize, i: usize| f64::from(data.targets[t][idx[i]]);
    let n = x.len() as f64;
    let z =
        |w: &[f64], b: f64, i: usize| x[i].iter().zip(w).map(|(&xi, wi)| f64::from(xi) * wi).sum::<f64>() + b;
    let loss = |t: usize, w: &[f64], b: f64| {
        (0..x.len()).map(|i| (a[t] * z(w, b, i) + c[t] - y(t, i)).powi(2)).sum::<f64>() / n
    };
    // ∂L_t/∂(w, b) = mean 2·r·a_t·(x, 1); ∂L_t/∂z_i = 2·r_i·a_t / n.
    let grad = |t: usize| {
        let mut g = vec![0.0; 4];
        for (i, xi) in x.iter().enumerate() {
            let r = 2.0 * (a[t] * z(w, b, i) + c[t] - y(t, i)) * a[t] / n;
            for (gk, xk) in g.iter_mut().zip(xi.iter()) {
                *gk += r * f64::from(*xk);
            }
            g[3] += r;
        }
        g
    };
    let dz = |t: usize| {
        (0..x.len()).map(|i| 2.0 * (a[t] * z(w, b, i) + c[t] - y(t, i)) * a[t] / n).collect::<Vec<_>>()
    };
    let cos = |u: &[f64], v: &[f64]| {
        let dot: f64 = u.iter().zip(v).map(|(p, q)| p * q).sum();
        dot / (u.iter().map(|p| p * p).sum::<f64>().sqrt() * v.iter().map(|q| q * q).sum::<f64>().sqrt())
    };
    let close = |got: f64, want: f64, what: &str| {
        assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{what}: got {got}, want {want}");
    };
    for i in 0..2 {
        let g = grad(i);
        let w2: Vec<f64> = (0..3).map(|k| w[k] - lr * g[k]).collect();
        let b2 = b - lr * g[3];
        for j in 0..2 {
            let want = 1.0 - loss(j, &w2, b2) / loss(j, w, b);
            close(got.lookahead[i][j], want, &format!("Z[{i}→{j}]"));
        }
    }
    close(got.parameter_cosine[0][1], cos(&grad(0), &grad(1)), "parameter cosine");
    close(got.representation_cosine[0][1], cos(&dz(0), &dz(1)), "representation cosine");
    // ∂L_t/∂ŷ_i = 2·r_i / n: the similarity of those (its formula is checked in its own tests).
    let at_output = |t: usize| OutputGradient {
        values: (0..x.len()).map(|i| 2.0 * (a[t] * z(w, b, i) + c[t] - y(t, i)) / n).collect(),
        width: 1,
        labelled: vec![true; x.len()],
    };
    let want = output_similarity(&[at_output(0), at_output(1)]);
    close(got.output_similarity[0][1], want[0][1], "output-gradient similarity");
    close(got.output_similarity[1][1], 1.0, "self similarity");
    close(got.parameter_cosine[0][0], 1.0, "self cosine");
    assert!(got.gate_overlap.is_none(), "hard sharing has no gates");
}

#[test]
#[allow(deprecated)]
fn gate_overlap_is_a_symmetric_histogram_intersection() {
    let text = LINEAR.replace(
        "[model.encoder]",
        "[model]\narchitecture = \"mmoe\"\n[model.experts]\ncount = 3\n[model.encoder]",
    );
    let config = RunConfig::from_toml(Path::new("mmoe.toml"), &text, &[]).unwrap();
    let device = Device::ndarray().autodiff();
    device.seed(1);
    let model = config.model.init(&device);
    let data = prepare_data(&config).unwrap().train;
    let idx: Vec<usize> = (0..16).collect();
    let batch = MultiTaskBatch::gather(&data, &idx, &device);
    let got = measure(&model, &batch, &config.task_specs(), 0.01);
    let o = got.gate_overlap.expect("MMoE has gates");
    // Each task's mean gate sums to 1, so its overlap with itself is 1.
    for (i, row) in o.iter().enumerate() {
        assert!((row[i] - 1.0).abs() < 1e-5, "{o:?}");
        for (j, v) in row.iter().enumerate() {
            assert!((v - o[j][i]).abs() < 1e-9 && (0.0..=1.0 + 1e-6).contains(v), "{o:?}");
        }
    }
    // By hand from the gates: Σ_e min(p̄_0(e), p̄_1(e)).
    let gates = model.valid().gate_weights(&batch.input().inner()).unwrap();
    let mean = |g: Tensor<2>| g.mean_dim(0).into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let (p, q) = (mean(gates[0].clone()), mean(gates[1].clone()));
    let want: f32 = p.iter().zip(&q).map(|(a, b)| a.min(*b)).sum();
    assert!((o[0][1] - f64::from(want)).abs() < 1e-5);
}
