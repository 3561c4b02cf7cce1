//! `mtl data CONFIG`: per task and split, labelled samples, missing rate and class balance or
//! target mean and std, with warnings.

use std::path::Path;

use mtl_train::Error;
use mtl_train::config::RunConfig;
use mtl_train::data_report::describe;

/// Run `mtl data`.
pub fn run(config: &Path, set: &[String], json: bool) -> Result<(), Error> {
    let report = describe(&RunConfig::from_file(config, set)?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
    } else {
        for line in report.lines() {
            println!("{line}");
        }
    }
    Ok(())
}
