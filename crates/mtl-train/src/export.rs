//! `mtl export`: a run's weights as safetensors, named and laid out the way PyTorch names
//! them, plus a JSON description of the architecture.
//!
//! Burn stores a Linear weight as `[in, out]`; the export goes through burn-store's
//! `BurnToPyTorchAdapter`, which transposes it to PyTorch's `[out, in]`, and leaves enum
//! variant names out of the paths (`architecture.encoder.layers.0.weight`, not
//! `architecture.Hps.encoder…`). `model.json` lists every tensor with its shape, the input
//! columns, the tasks and their output meaning, the `[model]` config section and the resolved
//! network (`network`), which is enough to rebuild the network in PyTorch (or in mtl:
//! [`load_safetensors`]); `--format onnx` and `--format pytorch` write that network out
//! ([`crate::onnx`], [`crate::pytorch`]).

use std::path::{Path, PathBuf};

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use mtl_data::TaskKind;
use mtl_model::MultiTaskModel;

use crate::error::Error;
use crate::io::atomic_write_all;
use crate::predict::InputSchema;
use crate::runs::OpenedRun;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ExportFormat {
    /// Hugging Face safetensors (PyTorch layout and names).
    Safetensors,
    /// The safetensors and an ONNX graph of the inference forward pass (`model.onnx`,
    /// opset 17; see [`crate::onnx`]), with `prepare.py`, the inputs' helper, and
    /// `config.pbtxt`, a Triton Inference Server model configuration.
    Onnx,
    /// The safetensors and `model.py`, a self-contained `torch.nn.Module` of the inference
    /// forward pass with the inputs' helper (see [`crate::pytorch`]).
    Pytorch,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The weights.
    pub weights: PathBuf,
    /// The description.
    pub description: PathBuf,
    /// The ONNX graph and its inputs' helper, or the PyTorch module, when asked for.
    pub code: Vec<PathBuf>,
}

/// Export `run` into folder `out` (`model.safetensors`, `model.json`).
pub fn export(run: &OpenedRun, out: &Path) -> Result<Exported, Error> {
    export_as(run, out, ExportFormat::Safetensors)
}

/// Export `run` into folder `out` in `format`: `model.safetensors` and `model.json` always,
/// `model.onnx`, `prepare.py` and Triton's `config.pbtxt` for [`ExportFormat::Onnx`], `model.py` for
/// [`ExportFormat::Pytorch`]; every file written atomically, together.
pub fn export_as(run: &OpenedRun, out: &Path, format: ExportFormat) -> Result<Exported, Error> {
    crate::io::create_dir_all(out)?;
    let weights = out.join("model.safetensors");
    let description = out.join("model.json");
    let store_err = |e: &dyn std::fmt::Display| Error::Io {
        path: weights.clone(),
        cause: std::io::Error::other(e.to_string()),
    };

    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata("producer", "mtl")
        .metadata("run", run.config.name.clone())
        .metadata("epoch", run.meta.selection.best_epoch.to_string());
    run.model.save_into(&mut store).map_err(|e| store_err(&e))?;
    let bytes = store.get_bytes().map_err(|e| store_err(&e))?;

    // Every exported tensor: name and shape as PyTorch lays them out, dtype.
    let snapshots: Vec<(String, Vec<usize>, String)> = (run.model)
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| (t.name, t.shape.to_vec(), format!("{:?}", t.dtype)))
        .collect();
    let tensors: Vec<serde_json::Value> = (snapshots.iter())
        .map(|(name, shape, dtype)| serde_json::json!({"name": name, "shape": shape, "dtype": dtype}))
        .collect();
    let inputs = InputSchema::load(&run.dir)?;
    let classes = inputs.class_names(&run.config);
    let tasks: Vec<serde_json::Value> = (run.config.tasks.iter().enumerate())
        .map(|(i, t)| {
            let (outputs, meaning) = match t.spec.kind {
                TaskKind::Regression => (1, "the predicted value"),
                TaskKind::Binary => (1, "the logit of class 1 (apply a sigmoid)"),
                TaskKind::Multiclass { .. } => (t.spec.kind.output_dim(), "class logits (apply a softmax)"),
                TaskKind::Multilabel { .. } => {
                    (t.spec.kind.output_dim(), "one logit per label (apply a sigmoid to each)")
                }
            };
            let mut task = serde_json::json!({"name": t.spec.name, "kind": t.spec.kind.name(), "outputs": outputs, "output": meaning});
            if let Some(names) = &classes[i] {
                task["classes"] = serde_json::json!(names); // output k is class names[k]
            }
            let follows = run.model.follows(i);
            if !follows.is_empty() {
                let names: Vec<&str> = follows.iter().map(|&s| run.config.tasks[s].spec.name.as_str()).collect();
                task["follows"] = serde_json::json!(names);
                task["joint"] = if run.model.transfers(i) {
                    "the joint probability of the chain so far: this task's own output is its logit (AITM; its head reads the AIT units' fused representation, exported as ait.*)"
                } else {
                    "the joint probability of the chain so far: the product of the sigmoids of these tasks' outputs and this one's (ESMM)"
                }
                .into();
            }
            task
        })
        .collect();
    // The inference graph, traced once for the format that writes it out.
    let inference = match format {
        ExportFormat::Safetensors => None,
        _ => Some(crate::onnx::inference(run)?),
    };
    let signature = inference.as_ref().map(|i| i.signature.clone());
    let mut code: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    match (format, inference) {
        (ExportFormat::Onnx, Some(inference)) => {
            code.push((out.join("config.pbtxt"), triton_config(&inference.signature).into_bytes()));
            code.push((out.join("model.onnx"), crate::onnx::onnx_model(run, inference)?));
            code.push((out.join("prepare.py"), prepare_script().into_bytes()));
        }
        (ExportFormat::Pytorch, Some(inference)) => {
            let shapes: Vec<(String, Vec<usize>)> =
                snapshots.iter().map(|(n, s, _)| (n.clone(), s.clone())).collect();
            let source = crate::pytorch::module_source(run, &inference, &shapes)?;
            code.push((out.join("model.py"), source.into_bytes()));
        }
        _ => {}
    }
    let mut json = serde_json::json!({
        "format": "safetensors",
        "layout": "PyTorch: Linear weights are [out, in]; enum variant names left out of the paths",
        "run": run.config.name,
        "checkpoint": run.checkpoint,
        "epoch": run.meta.epochs_done,
        "inputs": inputs,
        "tasks": tasks,
        "model": run.config.file.model,
        "network": network(run),
        "tensors": tensors,
    });
    if let Some(signature) = &signature {
        let serving = serde_json::json!({
            "inputs": {
                "numeric": {"dtype": "float32", "shape": ["batch", signature.numeric.len()], "columns": signature.numeric, "missing": "NaN (filled with the training mean, then standardised, inside the graph)"},
                "ids": {"dtype": "int64", "shape": ["batch", signature.ids.len()], "columns": signature.ids, "mapping": crate::predict::ID_MAPPING},
            },
            "outputs": signature.outputs.iter().map(|(n, w)| serde_json::json!({"name": n, "shape": ["batch", w]})).collect::<Vec<_>>(),
            "helper": "prepare(columns) in prepare.py (ONNX) or model.py (PyTorch) maps raw feature columns to these inputs",
        });
        let mut section = serving;
        let key = match format {
            ExportFormat::Onnx => {
                section["file"] = "model.onnx".into();
                section["opset"] = crate::onnx::OPSET.into();
                "onnx"
            }
            _ => {
                section["file"] = "model.py".into();
                section["class"] = "Model".into();
                section["load"] = "model.load(folder): strict load_state_dict of model.safetensors".into();
                "pytorch"
            }
        };
        json[key] = section;
    }
    let json = serde_json::to_vec_pretty(&json).expect("description serialises");
    let mut files: Vec<(&Path, &[u8])> = vec![(&weights, &bytes), (&description, &json)];
    files.extend(code.iter().map(|(path, bytes)| (path.as_path(), bytes.as_slice())));
    atomic_write_all(&files)?;
    Ok(Exported { weights, description, code: code.into_iter().map(|(path, _)| path).collect() })
}

/// The resolved network (`model.json`'s `network`): the config the model was built from, with
/// every width, table and activation filled in from the data, and how its parts connect.
fn network(run: &OpenedRun) -> serde_json::Value {
    serde_json::json!({
        "resolved": run.config.model,
        "input": "the encoder's input row is the dense columns (model.json onnx/pytorch inputs.numeric, each missing cell filled with its training mean, then (x − mean) / std with inputs.json's table.numeric or standardize scales) followed, for a tabular encoder, by each embedding field's vector in field order (fields tile the id columns: encoder.tabular.fields[k] reads ids[start .. start + len] from table `table`; a multi-hot field pools its slots' vectors, id 0 left out, by mean or sum); the concatenation enters the encoder's MLP",
        "layers": "an MLP (encoder, expert, tower) applies Linear → activation to every hidden width in order, the last one included, with dropout after each activation in training only; a task head is its tower MLP (head_hidden, head_activation) then a Linear output layer with no activation; a CNN runs, per entry of channels, conv (kernel_size, stride 1, no padding) → activation → max-pool (pool × pool, stride pool), reading the flat row as [C, H, W] (input_shape) and flattening channel-major, then its fully connected layers",
        "gates": "mixture-of-experts gates (mmoe, omoe, cgc, ple, dselect_k) are one Linear with a softmax (dselect_k: its smooth-step selectors) reading the gate stem: the input row itself for an MLP encoder, the tabular encoder's embeddings next to the numeric columns, or a CNN's conv stem (conv 3×3 with one pixel of zero padding → activation → adaptive average pool to 4×4, flattened channel-major); each task's tower reads its gate's mixture of the experts' outputs",
        "exact": "model.py (mtl export --format pytorch) and model.onnx (--format onnx) are the inference forward written out operator by operator",
    })
}

/// A Triton Inference Server model configuration for `model.onnx` (its ONNX Runtime backend;
/// the model folder is `MODEL_NAME/config.pbtxt` beside `MODEL_NAME/1/model.onnx`). Batch is
/// the first dimension of every tensor (`max_batch_size: 0`, dims `[-1, width]`).
fn triton_config(signature: &crate::onnx::OnnxSignature) -> String {
    let tensor = |name: &str, dtype: &str, width: usize| {
        format!(
            "  {{\n    name: {}\n    data_type: {dtype}\n    dims: [ -1, {width} ]\n  }}",
            serde_json::json!(name)
        )
    };
    let mut inputs = Vec::new();
    if !signature.numeric.is_empty() {
        inputs.push(tensor("numeric", "TYPE_FP32", signature.numeric.len()));
    }
    if !signature.ids.is_empty() {
        inputs.push(tensor("ids", "TYPE_INT64", signature.ids.len()));
    }
    let outputs: Vec<String> = signature.outputs.iter().map(|(n, w)| tensor(n, "TYPE_FP32", *w)).collect();
    format!(
        "# Triton model configuration of model.onnx (written by mtl export --format onnx).\n# Model repository layout: MODEL_NAME/config.pbtxt and MODEL_NAME/1/model.onnx.\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 0\ninput [\n{}\n]\noutput [\n{}\n]\n",
        inputs.join(",\n"),
        outputs.join(",\n")
    )
}

/// `prepare.py`: the inputs' helper on its own (the ONNX export's).
fn prepare_script() -> String {
    format!(
        "#!/usr/bin/env python3\n\"\"\"Raw feature columns -> the inputs of model.onnx (written by mtl export).\n\n    import onnxruntime, prepare\n    feeds = prepare.prepare(prepare.read_csv(\"rows.csv\"))\n    outputs = onnxruntime.InferenceSession(\"model.onnx\").run(None, feeds)\n\"\"\"\n\n{}",
        crate::pytorch::PREPARE
    )
}

/// Load an exported `model.safetensors` into `model` (built from the same config). Fails when
/// a tensor is missing, unused, or of the wrong shape.
pub fn load_safetensors(model: &mut MultiTaskModel, path: &Path) -> Result<(), String> {
    let mut store =
        SafetensorsStore::from_file(path).with_from_adapter(PyTorchToBurnAdapter).skip_enum_variants(true);
    let result = model.load_from(&mut store).map_err(|e| e.to_string())?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(format!(
            "errors {:?}, missing {:?}, unused {:?}",
            result.errors, result.missing, result.unused
        ));
    }
    Ok(())
}
