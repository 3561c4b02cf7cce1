//! `mtl export RUN_DIR`: a run's weights as safetensors in PyTorch's layout, with a
//! description, and on request an ONNX graph or a PyTorch module of the network.

use std::path::{Path, PathBuf};

use mtl_train::Error;
use mtl_train::backend::SelectedDevice;
use mtl_train::export::{ExportFormat, export_as};
use mtl_train::runs::{CheckpointChoice, open_run};

/// Run `mtl export`.
pub fn run(
    run_dir: &Path,
    format: ExportFormat,
    checkpoint: CheckpointChoice,
    out: Option<PathBuf>,
    device: &SelectedDevice,
) -> Result<(), Error> {
    let run = open_run(run_dir, checkpoint, device)?;
    let out = out.unwrap_or_else(|| run_dir.join("export"));
    let written = export_as(&run, &out, format)?;
    println!("{}", written.weights.display());
    println!("{}", written.description.display());
    for file in &written.code {
        println!("{}", file.display());
    }
    Ok(())
}
