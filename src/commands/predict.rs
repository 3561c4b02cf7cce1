//! `mtl predict RUN_DIR`: per-task predictions of a run, for a CSV file or one of the run's own
//! splits, written as CSV.

use std::path::{Path, PathBuf};

use mtl_train::Error;
use mtl_train::backend::SelectedDevice;
use mtl_train::predict::{InputSchema, default_output, predict, write_predictions};
use mtl_train::runs::{CheckpointChoice, SplitChoice, open_run};

/// What to predict.
#[derive(Debug, Clone)]
pub enum Source {
    /// A CSV file in the run's input format.
    File(PathBuf),
    /// One of the run's splits (adds the labels).
    Split(SplitChoice),
}

/// Run `mtl predict`.
pub fn run(
    run_dir: &Path,
    source: Source,
    output: Option<PathBuf>,
    checkpoint: CheckpointChoice,
    ids: bool,
    device: &SelectedDevice,
) -> Result<(), Error> {
    let schema = InputSchema::load(run_dir)?;
    let run = open_run(run_dir, checkpoint, device)?;
    let output = output.unwrap_or_else(|| match &source {
        Source::File(path) => default_output(run_dir, Some(path), None),
        Source::Split(s) => default_output(run_dir, None, Some(s.name())),
    });
    let d = schema.features.len();
    let (features, labels) = match source {
        Source::File(path) => (schema.read_csv(&path)?.0, None),
        Source::Split(s) => {
            let data = run.split(s)?;
            (data.features.clone(), Some(data))
        }
    };
    let mut outputs = predict(&run.model, &run.config.tasks, &features, d, &device.device);
    schema.unscale(&run.config.tasks, &mut outputs);
    let names = if ids { vec![None; run.config.tasks.len()] } else { schema.class_names(&run.config) };
    write_predictions(&output, &run.config.tasks, &outputs, labels.as_ref(), &names)?;
    eprintln!("{} rows predicted", features.len() / d.max(1));
    println!("{}", output.display());
    Ok(())
}
