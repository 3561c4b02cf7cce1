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
    let mut schema = InputSchema::load(run_dir)?;
    let run = open_run(run_dir, checkpoint, device)?;
    if schema.codes.is_empty() {
        // inputs.json written before code columns were recorded: the config names them.
        schema.codes = run.config.float_id_columns();
    }
    let output = output.unwrap_or_else(|| match &source {
        Source::File(path) => default_output(run_dir, Some(path), None),
        Source::Split(s) => default_output(run_dir, None, Some(s.name())),
    });
    let (rows, labels) = match source {
        Source::File(path) => (schema.read_csv(&path)?, None),
        Source::Split(s) => {
            let data = run.split(s)?;
            (data.feature_rows(), Some(data))
        }
    };
    let mut outputs = predict(&run.model, &run.config.tasks, &rows, &device.device);
    schema.unscale(&run.config.tasks, &mut outputs);
    let names = if ids { vec![None; run.config.tasks.len()] } else { schema.class_names(&run.config) };
    write_predictions(&output, &run.config.tasks, &outputs, labels.as_ref(), &names)?;
    eprintln!("{} rows predicted", rows.rows);
    println!("{}", output.display());
    Ok(())
}
