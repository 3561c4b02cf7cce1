//! `mtl export`: a run's weights as safetensors, named and laid out the way PyTorch names
//! them, plus a JSON description of the architecture.
//!
//! Burn stores a Linear weight as `[in, out]`; the export goes through burn-store's
//! `BurnToPyTorchAdapter`, which transposes it to PyTorch's `[out, in]`, and leaves enum
//! variant names out of the paths (`architecture.encoder.layers.0.weight`, not
//! `architecture.Hps.encoder…`). `model.json` lists every tensor with its shape, the input
//! columns, the tasks and their output meaning, and the `[model]` config section, which is
//! enough to rebuild the network in PyTorch (or in mtl: [`load_safetensors`]).

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
    /// opset 17; see [`crate::onnx`]).
    Onnx,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The weights.
    pub weights: PathBuf,
    /// The description.
    pub description: PathBuf,
    /// The ONNX graph, when asked for.
    pub onnx: Option<PathBuf>,
}

/// Export `run` into folder `out` (`model.safetensors`, `model.json`).
pub fn export(run: &OpenedRun, out: &Path) -> Result<Exported, Error> {
    export_as(run, out, ExportFormat::Safetensors)
}

/// Export `run` into folder `out` in `format`: `model.safetensors` and `model.json` always,
/// `model.onnx` for [`ExportFormat::Onnx`]; every file written atomically, together.
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

    let tensors: Vec<serde_json::Value> = run
        .model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| serde_json::json!({"name": t.name, "shape": t.shape.to_vec(), "dtype": format!("{:?}", t.dtype)}))
        .collect();
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
    let inputs = InputSchema::load(&run.dir)?;
    let onnx = match format {
        ExportFormat::Safetensors => None,
        ExportFormat::Onnx => Some(crate::onnx::onnx_model(run)?),
    };
    let mut json = serde_json::json!({
        "format": "safetensors",
        "layout": "PyTorch: Linear weights are [out, in]; enum variant names left out of the paths",
        "run": run.config.name,
        "checkpoint": run.checkpoint,
        "epoch": run.meta.epochs_done,
        "inputs": inputs,
        "tasks": tasks,
        "model": run.config.file.model,
        "tensors": tensors,
    });
    let onnx_path = out.join("model.onnx");
    if let Some((_, signature)) = &onnx {
        json["onnx"] = serde_json::json!({
            "file": "model.onnx",
            "opset": crate::onnx::OPSET,
            "inputs": {
                "numeric": {"dtype": "float32", "shape": ["batch", signature.numeric.len()], "columns": signature.numeric, "missing": "NaN (filled with the training mean, then standardised, inside the graph)"},
                "ids": {"dtype": "int64", "shape": ["batch", signature.ids.len()], "columns": signature.ids, "mapping": "a categorical value values[i] of its vocabulary in inputs.json is id i + 1; 0 = missing or unseen; hashed columns 1 + fnv1a64(value) mod N; multi-hot slots 0-padded"},
            },
            "outputs": signature.outputs.iter().map(|(n, w)| serde_json::json!({"name": n, "shape": ["batch", w]})).collect::<Vec<_>>(),
        });
    }
    let json = serde_json::to_vec_pretty(&json).expect("description serialises");
    let mut files: Vec<(&Path, &[u8])> = vec![(&weights, &bytes), (&description, &json)];
    if let Some((graph, _)) = &onnx {
        files.push((&onnx_path, graph));
    }
    atomic_write_all(&files)?;
    Ok(Exported { weights, description, onnx: onnx.map(|_| onnx_path) })
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
