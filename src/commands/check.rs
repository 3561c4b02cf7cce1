//! `mtl check CONFIG`: validate a config without training, and say what it would train.

use std::path::Path;

use mtl_train::Error;
use mtl_train::config::RunConfig;

/// Run `mtl check`: the config, then its data as a training would load it (label columns,
/// classes, binary values, labelled samples per split), with the messages `train` gives.
pub fn run(config: &Path, set: &[String]) -> Result<(), Error> {
    let c = RunConfig::from_file(config, set)?;
    let splits = mtl_train::fit::prepare_run_data(&c)?;
    if let Some(w) =
        splits.train.in_memory().and_then(|t| mtl_train::data_report::target_scale_warning(&c, t))
    {
        eprintln!("warning: {w}");
    }
    let tasks: Vec<String> =
        c.tasks.iter().map(|t| format!("{} ({})", t.spec.name, t.spec.kind.name())).collect();
    println!(
        "{}: ok — {} [{}], {} / {} / {} train / valid / test samples, {} with {} ({}), {} of batch {}, run folder {}",
        config.display(),
        if c.tasks.len() == 1 { "1 task".to_string() } else { format!("{} tasks", c.tasks.len()) },
        tasks.join(", "),
        splits.train.len(),
        splits.valid.len(),
        splits.test.len(),
        c.model.architecture.name(),
        c.weighting.name(),
        c.weighting_input.name(),
        if c.train.epochs == 1 { "1 epoch".to_string() } else { format!("{} epochs", c.train.epochs) },
        c.train.batch_size,
        c.run_dir().display()
    );
    Ok(())
}
