//! `mtl devices`: the backends and devices this build can use; under mpirun/srun, the rank,
//! world size, machine and device of every process.

use mtl_train::Error;
use mtl_train::backend::{BackendChoice, list_devices, select_device_for};
use mtl_train::parallel::World;

/// Run `mtl devices` as one process of `world`.
pub fn run(world: &World) -> Result<(), Error> {
    let mine = match select_device_for(BackendChoice::Auto, None, world.local_rank()) {
        Ok(d) => d.description,
        Err(e) => e.to_string(),
    };
    let line = format!(
        "rank {} of {} on {} (local rank {} of {}): auto → {mine}",
        world.rank(),
        world.size(),
        world.host(),
        world.local_rank(),
        world.local_size()
    );
    let ranks = world.gather_bytes(line.as_bytes());
    if !world.is_writer() {
        return Ok(());
    }
    for line in list_devices() {
        println!("{line}");
    }
    if world.is_parallel() {
        for r in ranks {
            println!("{}", String::from_utf8_lossy(&r));
        }
    }
    Ok(())
}
