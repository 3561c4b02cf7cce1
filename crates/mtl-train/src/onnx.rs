//! `mtl export --format onnx`: a run's inference forward pass as one ONNX graph (opset 17).
//!
//! Inputs: `numeric`, float32 `[batch, d]` — the dense feature columns as the files hold them
//! (`model.json` lists them; a missing value is NaN), standardised inside the graph with the
//! training split's means and standard deviations — and, where the network embeds ids,
//! `ids`, int64 `[batch, k]`: each categorical column's id (`values[i]` of its vocabulary in
//! `inputs.json` → i + 1, 0 = missing or unseen; hashed columns 1 + fnv1a64 mod N; a multi-hot
//! column's ids in its `max_len` slots, 0-padded; a generated dataset's category codes as
//! they are). Outputs, one per task, named as the task: a regression value on the target's
//! scale, a binary probability, class probabilities (softmax) or per-label probabilities; a
//! chain's later step gives its own probability as `TASK` and the joint as `TASK_joint`.
//! These are the numbers `mtl predict` writes (`TASK` / `TASK_prob*`, `TASK_joint_prob`).
//! The export's `prepare.py` maps raw feature columns to the two inputs; [`inference`] is the
//! graph the PyTorch export ([`crate::pytorch`]) writes out too.

use mtl_data::TaskKind;
use mtl_model::graph::{Attr, Graph, GraphInput, Values};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto,
};

use crate::Error;
use crate::predict::InputSchema;
use crate::runs::OpenedRun;

/// The ONNX operator set the graph uses.
pub const OPSET: i64 = 17;

/// The names the graph's inputs and outputs carry, for `model.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OnnxSignature {
    /// `numeric`'s columns, in order (empty: no `numeric` input).
    pub numeric: Vec<String>,
    /// `ids`' columns, in order (empty: no `ids` input).
    pub ids: Vec<String>,
    /// Each output: its name and width.
    pub outputs: Vec<(String, usize)>,
}

/// A run's inference forward pass as a graph: what the ONNX and the PyTorch exports write.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The graph (inputs `numeric` and `ids`).
    pub graph: Graph,
    /// Each output: its name (the task's, `TASK_joint` for a chain's joint), width, and the
    /// graph value holding it.
    pub outputs: Vec<(String, usize, String)>,
    /// Input columns and output names.
    pub signature: OnnxSignature,
}

/// The run's inference graph: the network traced on the raw inputs (numeric columns
/// standardised inside), outputs on the scale `mtl predict` writes.
pub fn inference(run: &OpenedRun) -> Result<Inference, Error> {
    let schema = InputSchema::load(&run.dir)?;
    let numeric = schema.dense_names();
    let ids: Vec<String> = schema.features.iter().filter(|f| !numeric.contains(f)).cloned().collect();
    let mut g = Graph::default();
    let dense = standardised(&mut g, &schema, numeric.len()).map_err(|message| Error::RunDir {
        path: run.dir.clone(),
        message: format!("inputs.json: {message}; retrain the run to rewrite it"),
    })?;
    let input = GraphInput { dense, ids: (!ids.is_empty()).then(|| "ids".to_string()) };
    let traced = run.model.trace(&mut g, &input);
    let mut outputs = Vec::new();
    for (task, traced) in run.config.tasks.iter().zip(traced) {
        let name = &task.spec.name;
        let kind = task.spec.kind;
        let value = match (&traced.chain, kind) {
            (Some((own, _)), _) => own.clone(),
            (None, TaskKind::Regression) => match schema.targets.get(name) {
                Some(s) => {
                    let (std, mean) =
                        (g.floats(vec![s.std as f32], vec![]), g.floats(vec![s.mean as f32], vec![]));
                    let y = g.op("Mul", &[&traced.output, &std], vec![]);
                    g.op("Add", &[&y, &mean], vec![])
                }
                None => traced.output.clone(),
            },
            (None, TaskKind::Binary | TaskKind::Multilabel { .. }) => {
                g.op("Sigmoid", &[&traced.output], vec![])
            }
            (None, TaskKind::Multiclass { .. }) => g.softmax(&traced.output, 1),
        };
        outputs.push((name.clone(), kind.output_dim(), value));
        if let Some((_, joint)) = traced.chain {
            outputs.push((format!("{name}_joint"), 1, joint));
        }
    }
    let signature =
        OnnxSignature { numeric, ids, outputs: outputs.iter().map(|(n, w, _)| (n.clone(), *w)).collect() };
    Ok(Inference { graph: g, outputs, signature })
}

/// The run's inference graph ([`inference`]), serialised as an ONNX model.
pub fn onnx_model(run: &OpenedRun, inference: Inference) -> Result<Vec<u8>, Error> {
    let Inference { graph: mut g, outputs, signature } = inference;
    let (numeric, ids) = (&signature.numeric, &signature.ids);
    // Each output is its own node's value under the task's name.
    for (name, _, value) in &outputs {
        g.nodes.push(mtl_model::graph::Node {
            op: "Identity",
            inputs: vec![value.clone()],
            output: name.clone(),
            attrs: vec![],
        });
    }
    let mut graph = GraphProto { name: run.config.name.clone(), ..Default::default() };
    if !numeric.is_empty() {
        graph.input.push(value_info("numeric", DataType::FLOAT, numeric.len()));
    }
    if !ids.is_empty() {
        graph.input.push(value_info("ids", DataType::INT64, ids.len()));
    }
    graph.output = signature.outputs.iter().map(|(n, w)| value_info(n, DataType::FLOAT, *w)).collect();
    graph.initializer = g.constants.iter().map(tensor).collect();
    graph.node = g.nodes.iter().map(node).collect();
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { version: OPSET, ..Default::default() }],
        producer_name: "mtl".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("mtl run `{}`, epoch {}", run.config.name, run.meta.selection.best_epoch),
        graph: Some(graph).into(),
        ..Default::default()
    };
    model.write_to_bytes().map_err(|e| Error::Io {
        path: run.dir.join("export/model.onnx"),
        cause: std::io::Error::other(e.to_string()),
    })
}

/// The `numeric` input as the network reads it: missing cells filled with the training mean,
/// then standardised where training standardised; `numeric` itself when nothing is fitted. An
/// error when the fitted columns are not the dense columns.
fn standardised(g: &mut Graph, schema: &InputSchema, width: usize) -> Result<String, String> {
    let fitted: Option<Vec<(f64, f64, bool)>> = match (&schema.table, &schema.standardize) {
        (Some(prep), _) => Some(prep.numeric.iter().map(|s| (s.mean, s.std, s.standardize)).collect()),
        (None, Some(scales)) => Some(scales.iter().map(|&(m, s)| (m, s, true)).collect()),
        (None, None) => None,
    };
    let Some(fitted) = fitted.filter(|_| width > 0) else { return Ok("numeric".into()) };
    if fitted.len() != width {
        return Err(format!("{} fitted numeric columns for {width} dense columns", fitted.len()));
    }
    let row = |f: &dyn Fn(&(f64, f64, bool)) -> f64| fitted.iter().map(|v| f(v) as f32).collect::<Vec<f32>>();
    let mean = g.floats(row(&|v| v.0), vec![1, width]);
    let shift = g.floats(row(&|v| if v.2 { v.0 } else { 0.0 }), vec![1, width]);
    let scale = g.floats(row(&|v| if v.2 { v.1 } else { 1.0 }), vec![1, width]);
    let missing = g.op("IsNaN", &["numeric"], vec![]);
    let filled = g.op("Where", &[&missing, &mean, "numeric"], vec![]);
    let centred = g.op("Sub", &[&filled, &shift], vec![]);
    Ok(g.op("Div", &[&centred, &scale], vec![]))
}

fn value_info(name: &str, dtype: DataType, width: usize) -> ValueInfoProto {
    let dim = |value| Dimension { value: Some(value), ..Default::default() };
    let shape = TensorShapeProto {
        dim: vec![
            dim(dimension::Value::DimParam("batch".into())),
            dim(dimension::Value::DimValue(width as i64)),
        ],
        ..Default::default()
    };
    let tensor =
        type_proto::Tensor { elem_type: dtype as i32, shape: Some(shape).into(), ..Default::default() };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() })
            .into(),
        ..Default::default()
    }
}

fn tensor(c: &mtl_model::graph::Constant) -> TensorProto {
    let mut t = TensorProto {
        name: c.name.clone(),
        dims: c.dims.iter().map(|&d| d as i64).collect(),
        ..Default::default()
    };
    match &c.values {
        Values::F32(v) => {
            t.data_type = DataType::FLOAT as i32;
            t.raw_data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        }
        Values::I64(v) => {
            t.data_type = DataType::INT64 as i32;
            t.raw_data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        }
    }
    t
}

fn node(n: &mtl_model::graph::Node) -> NodeProto {
    let attribute = (n.attrs.iter())
        .map(|(name, value)| {
            let mut a = AttributeProto { name: name.to_string(), ..Default::default() };
            match value {
                Attr::Int(i) => {
                    a.type_ = AttributeType::INT.into();
                    a.i = *i;
                }
                Attr::Ints(v) => {
                    a.type_ = AttributeType::INTS.into();
                    a.ints = v.clone();
                }
                Attr::Float(f) => {
                    a.type_ = AttributeType::FLOAT.into();
                    a.f = *f;
                }
            }
            a
        })
        .collect();
    NodeProto {
        input: n.inputs.clone(),
        output: vec![n.output.clone()],
        name: n.output.clone(),
        op_type: n.op.to_string(),
        attribute,
        ..Default::default()
    }
}
