//! `mtl export --format pytorch`: a self-contained `model.py` beside the safetensors — a
//! `torch.nn.Module` whose parameters are the exported tensors (`load_state_dict(strict=True)`)
//! and whose `forward` is the run's inference pass, operator for operator the graph
//! `mtl export --format onnx` writes ([`crate::onnx::inference`]), with the inputs' helper
//! (`prepare`: raw columns → `numeric`/`ids`) and a command line that predicts a CSV file.
//!
//! The forward reads parameters by their export names (`p["architecture.encoder.layers.0.weight"]`,
//! Linear weights `[out, in]`, as `F.linear` takes them); the graph's other constants (the
//! inputs' means and scales, shapes, axes) are written into the code. Dropout is left out
//! (inference).

use std::collections::HashMap;
use std::fmt::Write;

use mtl_model::graph::{Attr, Constant, Graph, Node, Values};

use crate::Error;
use crate::onnx::Inference;
use crate::runs::OpenedRun;

/// The inputs' helper, shared with the ONNX export's `prepare.py`.
pub const PREPARE: &str = include_str!("../python/prepare.py");

/// `model.py` for `run`, from its inference graph and the names and shapes of its exported
/// tensors (PyTorch layout: a Linear weight is `[out, in]`).
pub fn module_source(
    run: &OpenedRun,
    inference: &Inference,
    tensors: &[(String, Vec<usize>)],
) -> Result<String, Error> {
    let Inference { graph, outputs, signature } = inference;
    let forward = forward_body(graph, outputs).map_err(|message| Error::RunDir {
        path: run.dir.clone(),
        message: format!("the PyTorch export: {message}"),
    })?;
    let mut s = String::new();
    let q = |text: &str| serde_json::to_string(text).expect("a string serialises");
    s.push_str(&header(run));
    s.push_str(PREPARE);
    s.push_str("\n\n# --- The network ---\n\n");
    let list = |names: &[String]| names.iter().map(|n| q(n)).collect::<Vec<_>>().join(", ");
    writeln!(s, "NUMERIC = [{}]", list(&signature.numeric)).unwrap();
    writeln!(s, "IDS = [{}]", list(&signature.ids)).unwrap();
    let outs: Vec<String> = signature.outputs.iter().map(|(n, w)| format!("({}, {w})", q(n))).collect();
    writeln!(s, "OUTPUTS = [{}]", outs.join(", ")).unwrap();
    s.push_str("# Every tensor of model.safetensors: name and shape.\nTENSORS = [\n");
    for (name, shape) in tensors {
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        writeln!(s, "    ({}, ({}{})),", q(name), dims.join(", "), if dims.len() == 1 { "," } else { "" })
            .unwrap();
    }
    s.push_str("]\n\n\n");
    s.push_str(MODULE);
    for c in &graph.constants {
        if let Some(literal) = buffer_literal(c) {
            writeln!(s, "        self.register_buffer({}, {literal}, persistent=False)", q(&c.name)).unwrap();
        }
    }
    let args: Vec<&str> = [("numeric", &signature.numeric), ("ids", &signature.ids)]
        .into_iter()
        .filter(|(_, cols)| !cols.is_empty())
        .map(|(n, _)| n)
        .collect();
    writeln!(s, "\n    def forward(self, {}):", args.join(", ")).unwrap();
    writeln!(s, "        \"\"\"{} -> {{output name: tensor [rows, width]}}.\"\"\"", args.join(", ")).unwrap();
    writeln!(s, "        p = dict(self.named_parameters())").unwrap();
    s.push_str(&forward);
    s.push_str(FUNCTIONS);
    Ok(s)
}

/// The module's classes: parameters registered under the safetensors names (the constructor's
/// buffers and the forward follow).
const MODULE: &str = r#"class Scope(nn.Module):
    """One level of the parameter names (`architecture`, `encoder`, `layers`, `0`, ...)."""


class Model(nn.Module):
    """The run's network: parameters named as in model.safetensors, the inference forward."""

    def __init__(self):
        super().__init__()
        for name, shape in TENSORS:
            *path, leaf = name.split(".")
            scope = self
            for part in path:
                if part not in scope._modules:
                    scope.add_module(part, Scope())
                scope = scope._modules[part]
            scope.register_parameter(leaf, nn.Parameter(torch.zeros(shape)))
"#;

/// `load`, `predict_csv` and the command line.
const FUNCTIONS: &str = r#"

def load(folder=None, device="cpu"):
    """The network with the weights of model.safetensors in `folder` (default: this file's),
    loaded strictly, in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent
    net = Model()
    net.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    return net.to(device).eval()


def predict_csv(source, target, net=None):
    """Predict the rows of the CSV file `source` (raw feature columns) into `target`: one column
    per output value, TASK (or TASK_K for an output of K > 1 values)."""
    import csv

    net = net or load()
    feeds = {k: torch.from_numpy(v) for k, v in prepare(read_csv(source)).items()}
    with torch.no_grad():
        out = net(**feeds)
    header, values = [], []
    for name, width in OUTPUTS:
        header += [name] if width == 1 else [f"{name}_{k}" for k in range(width)]
        values.append(out[name].double())
    table = torch.cat(values, dim=1).tolist() if values else []
    with open(target, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([[repr(v) for v in row] for row in table])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python3 model.py rows.csv predictions.csv", file=sys.stderr)
        sys.exit(2)
    try:
        predict_csv(sys.argv[1], sys.argv[2])
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
"#;

/// The file's docstring and imports.
fn header(run: &OpenedRun) -> String {
    let q = |text: &str| serde_json::to_string(text).expect("a string serialises");
    let mut s = String::new();
    writeln!(s, "#!/usr/bin/env python3").unwrap();
    writeln!(
        s,
        r#""""mtl run {name} (epoch {epoch}) as a torch.nn.Module, written by `mtl export --format pytorch`.

    import sys, torch
    sys.path.insert(0, "EXPORT_DIR")  # this folder: model.py, model.safetensors, model.json
    import model
    net = model.load()                                   # strict load of model.safetensors
    feeds = model.prepare(model.read_csv("rows.csv"))    # raw feature columns -> inputs
    with torch.no_grad():
        out = net(**{{k: torch.from_numpy(v) for k, v in feeds.items()}})  # task -> [rows, width]

or from a shell: python3 model.py rows.csv predictions.csv

Inputs (NUMERIC, IDS below; see prepare): `numeric` float32 [rows, d] as the files hold the
columns (NaN = missing; filled with the training mean and standardised inside forward), `ids`
int64 [rows, k]. Outputs (OUTPUTS): a regression value on the target's scale, a binary
probability, class probabilities, per-label probabilities; a chain's later step gives its own
probability as TASK and the joint one as TASK_joint. These are the numbers `mtl predict`
writes. The forward is the inference pass (no dropout), operator for operator model.onnx's;
parameters are read by their names in model.safetensors (Linear weights [out, in]).
Needs torch, numpy and safetensors (pip install torch numpy safetensors).
"""
"#,
        name = q(&run.config.name),
        epoch = run.meta.selection.best_epoch,
    )
    .unwrap();
    writeln!(s, "import sys\nfrom pathlib import Path\n\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n").unwrap();
    s
}

/// A non-scalar float constant as a tensor expression (a buffer of the module); `None` for the
/// constants written into the code (scalars, int64 shapes and axes) and for parameters.
fn buffer_literal(c: &Constant) -> Option<String> {
    match &c.values {
        Values::F32(v) if !c.dims.is_empty() && c.name.starts_with("const_") => {
            let values: Vec<String> = v.iter().map(|&x| float(x)).collect();
            let dims: Vec<String> = c.dims.iter().map(usize::to_string).collect();
            Some(format!(
                "torch.tensor([{}], dtype=torch.float32).reshape({})",
                values.join(", "),
                dims.join(", ")
            ))
        }
        _ => None,
    }
}

/// An f32 as a Python literal that reads back as the same f32.
fn float(x: f32) -> String {
    if x.is_nan() {
        "float(\"nan\")".into()
    } else if x.is_infinite() {
        if x > 0.0 { "float(\"inf\")".into() } else { "float(\"-inf\")".into() }
    } else {
        format!("{x:?}")
    }
}

/// The forward's body: one statement per node, then the outputs by name.
fn forward_body(graph: &Graph, outputs: &[(String, usize, String)]) -> Result<String, String> {
    let constants: HashMap<&str, &Constant> = graph.constants.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut vars: HashMap<&str, String> = HashMap::new();
    let mut s = String::new();
    for (k, node) in graph.nodes.iter().enumerate() {
        let var = format!("v{k}");
        let expr = expression(node, &constants, &vars)?;
        if let Some(layer) = layer_of(node, &constants) {
            writeln!(s, "        # {layer}").unwrap();
        }
        writeln!(s, "        {var} = {expr}").unwrap();
        vars.insert(&node.output, var);
    }
    let q = |text: &str| serde_json::to_string(text).expect("a string serialises");
    let items: Vec<String> = (outputs.iter())
        .map(|(name, _, value)| Ok(format!("{}: {}", q(name), value_ref(value, &constants, &vars)?)))
        .collect::<Result<_, String>>()?;
    writeln!(s, "        return {{{}}}", items.join(", ")).unwrap();
    Ok(s)
}

/// The layer a node applies, for a comment: the parameter prefix of its weight.
fn layer_of(node: &Node, constants: &HashMap<&str, &Constant>) -> Option<String> {
    if !matches!(node.op, "Gemm" | "Conv" | "Gather") {
        return None;
    }
    let param = node
        .inputs
        .iter()
        .find(|i| constants.get(i.as_str()).is_some_and(|c| !c.name.starts_with("const_")))?;
    Some(param.rsplit_once('.').map_or(param.as_str(), |(p, _)| p).to_string())
}

/// How a node's input is read: a variable, a parameter, a buffer or a literal.
fn value_ref(
    name: &str,
    constants: &HashMap<&str, &Constant>,
    vars: &HashMap<&str, String>,
) -> Result<String, String> {
    if name == "numeric" || name == "ids" {
        return Ok(name.to_string());
    }
    if let Some(v) = vars.get(name) {
        return Ok(v.clone());
    }
    let Some(c) = constants.get(name) else {
        return Err(format!("the graph reads `{name}` before it is defined"));
    };
    Ok(match &c.values {
        _ if !c.name.starts_with("const_") => {
            format!("p[{}]", serde_json::to_string(&c.name).expect("serialises"))
        }
        Values::F32(v) if c.dims.is_empty() => float(v[0]),
        Values::F32(_) => format!("self.{}", c.name),
        Values::I64(v) if c.dims.is_empty() => v[0].to_string(),
        Values::I64(v) => format!("[{}]", v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    })
}

/// The int64 values of a constant input (shapes, axes, indices).
fn ints<'a>(name: &str, constants: &HashMap<&str, &'a Constant>) -> Result<&'a [i64], String> {
    match constants.get(name).map(|c| &c.values) {
        Some(Values::I64(v)) => Ok(v),
        _ => Err(format!("`{name}` is not an int64 constant")),
    }
}

fn int_attr(node: &Node, name: &str) -> Option<i64> {
    node.attrs.iter().find(|(n, _)| *n == name).and_then(|(_, a)| match a {
        Attr::Int(i) => Some(*i),
        _ => None,
    })
}

fn ints_attr<'a>(node: &'a Node, name: &str) -> Option<&'a [i64]> {
    node.attrs.iter().find(|(n, _)| *n == name).and_then(|(_, a)| match a {
        Attr::Ints(v) => Some(v.as_slice()),
        _ => None,
    })
}

fn tuple(v: &[i64]) -> String {
    match v {
        [one] => format!("({one},)"),
        _ => format!("({})", v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// The PyTorch expression of one ONNX node (the operators `mtl_model::graph` writes).
fn expression(
    node: &Node,
    constants: &HashMap<&str, &Constant>,
    vars: &HashMap<&str, String>,
) -> Result<String, String> {
    let arg = |i: usize| -> Result<String, String> {
        let name = node.inputs.get(i).ok_or_else(|| format!("{} has no input {i}", node.op))?;
        value_ref(name, constants, vars)
    };
    let axes = |i: usize| ints(&node.inputs[i], constants);
    let binary = |symbol: &str| -> Result<String, String> { Ok(format!("{} {symbol} {}", arg(0)?, arg(1)?)) };
    Ok(match node.op {
        "Gemm" => {
            if int_attr(node, "transB") != Some(1) || node.attrs.len() != 1 {
                return Err(format!("Gemm with attributes {:?}", node.attrs));
            }
            match node.inputs.len() {
                2 => format!("F.linear({}, {})", arg(0)?, arg(1)?),
                _ => format!("F.linear({}, {}, {})", arg(0)?, arg(1)?, arg(2)?),
            }
        }
        "Relu" => format!("torch.relu({})", arg(0)?),
        "Tanh" => format!("torch.tanh({})", arg(0)?),
        "Sigmoid" => format!("torch.sigmoid({})", arg(0)?),
        "Erf" => format!("torch.erf({})", arg(0)?),
        "IsNaN" => format!("torch.isnan({})", arg(0)?),
        "Identity" => arg(0)?,
        "Add" => binary("+")?,
        "Sub" => binary("-")?,
        "Mul" => binary("*")?,
        "Div" => binary("/")?,
        "Greater" => binary(">")?,
        "MatMul" => format!("torch.matmul({}, {})", arg(0)?, arg(1)?),
        "Max" | "Min" => {
            let (f, bound) =
                if node.op == "Max" { ("torch.maximum", "min") } else { ("torch.minimum", "max") };
            match constants.get(node.inputs[1].as_str()) {
                Some(c) if c.dims.is_empty() => format!("torch.clamp({}, {bound}={})", arg(0)?, arg(1)?),
                _ => format!("{f}({}, {})", arg(0)?, arg(1)?),
            }
        }
        "Clip" => format!("torch.clamp({}, {}, {})", arg(0)?, arg(1)?, arg(2)?),
        "Where" => format!("torch.where({}, {}, {})", arg(0)?, arg(1)?, arg(2)?),
        "Cast" => match int_attr(node, "to") {
            Some(1) => format!("{}.float()", arg(0)?),
            Some(7) => format!("{}.long()", arg(0)?),
            other => return Err(format!("Cast to {other:?}")),
        },
        "Softmax" => format!("torch.softmax({}, dim={})", arg(0)?, int_attr(node, "axis").unwrap_or(-1)),
        "Gather" => {
            if int_attr(node, "axis").unwrap_or(0) != 0 {
                return Err("Gather on an axis other than 0".into());
            }
            format!("{}[{}]", arg(0)?, arg(1)?)
        }
        "Reshape" => {
            let shape: Vec<String> = (axes(1)?.iter().enumerate())
                .map(|(i, &d)| {
                    if d == 0 { format!("{}.shape[{i}]", arg(0).unwrap_or_default()) } else { d.to_string() }
                })
                .collect();
            format!("{}.reshape({})", arg(0)?, shape.join(", "))
        }
        "Slice" => {
            let (start, end, axis) = (axes(1)?, axes(2)?, axes(3)?);
            if start.len() != 1 || end.len() != 1 || axis.len() != 1 || node.inputs.len() != 4 {
                return Err("Slice over more than one axis".into());
            }
            format!("torch.narrow({}, {}, {}, {})", arg(0)?, axis[0], start[0], end[0] - start[0])
        }
        "Concat" => {
            let parts: Vec<String> = (0..node.inputs.len()).map(arg).collect::<Result<_, _>>()?;
            format!("torch.cat([{}], dim={})", parts.join(", "), int_attr(node, "axis").unwrap_or(0))
        }
        "Unsqueeze" | "Squeeze" => {
            let mut dims = axes(1)?.to_vec();
            let method = if node.op == "Unsqueeze" { "unsqueeze" } else { "squeeze" };
            if node.op == "Squeeze" {
                dims.sort_unstable_by(|a, b| b.cmp(a));
            } else {
                dims.sort_unstable();
            }
            let mut e = arg(0)?;
            for d in dims {
                write!(e, ".{method}({d})").unwrap();
            }
            e
        }
        "ReduceSum" | "ReduceMean" => {
            let dims = match node.op {
                "ReduceSum" => axes(1)?,
                _ => ints_attr(node, "axes").ok_or("ReduceMean without axes")?,
            };
            let f = if node.op == "ReduceSum" { "sum" } else { "mean" };
            let keep = if int_attr(node, "keepdims").unwrap_or(1) == 1 { "True" } else { "False" };
            format!("{}.{f}(dim={}, keepdim={keep})", arg(0)?, tuple(dims))
        }
        "Conv" => {
            let pads = ints_attr(node, "pads").unwrap_or(&[0, 0, 0, 0]);
            if pads.len() != 4 || pads.iter().any(|&p| p != pads[0]) || node.attrs.len() > 1 {
                return Err(format!("Conv with attributes {:?}", node.attrs));
            }
            let bias = if node.inputs.len() > 2 { arg(2)? } else { "None".into() };
            format!("F.conv2d({}, {}, {bias}, padding={})", arg(0)?, arg(1)?, pads[0])
        }
        "MaxPool" => {
            let kernel = ints_attr(node, "kernel_shape").ok_or("MaxPool without kernel_shape")?;
            let strides = ints_attr(node, "strides").unwrap_or(kernel);
            format!("F.max_pool2d({}, {}, {})", arg(0)?, tuple(kernel), tuple(strides))
        }
        other => return Err(format!("no PyTorch form for the ONNX operator {other}")),
    })
}
