//! `mtl plot RUN_DIR`: redraw a run's SVG plots from its logs.

use std::path::Path;

use mtl_train::Error;

use crate::report::plots::plot_run;

/// Run `mtl plot`.
pub fn run(run_dir: &Path) -> Result<(), Error> {
    mtl_train::lock::ensure_not_written(run_dir)?;
    for path in plot_run(run_dir)? {
        println!("{}", path.display());
    }
    Ok(())
}
