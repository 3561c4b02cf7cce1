//! `mtl devices`: the backends and devices this build can use.

use mtl_train::Error;
use mtl_train::backend::list_devices;

/// Run `mtl devices`.
pub fn run() -> Result<(), Error> {
    for line in list_devices() {
        println!("{line}");
    }
    Ok(())
}
