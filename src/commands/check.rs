//! `mtl check CONFIG`: validate a config without training, and say what it would train.

use std::path::Path;

use mtl_train::Error;
use mtl_train::config::RunConfig;

/// Run `mtl check`.
pub fn run(config: &Path, set: &[String]) -> Result<(), Error> {
    let c = RunConfig::from_file(config, set)?;
    let tasks: Vec<String> =
        c.tasks.iter().map(|t| format!("{} ({})", t.spec.name, t.spec.kind.name())).collect();
    println!(
        "{}: ok — {} tasks [{}], {} with {} ({}), {} epochs of batch {}, run folder {}",
        config.display(),
        c.tasks.len(),
        tasks.join(", "),
        c.model.architecture.name(),
        c.weighting.name(),
        c.weighting_input.name(),
        c.train.epochs,
        c.train.batch_size,
        c.run_dir().display()
    );
    Ok(())
}
