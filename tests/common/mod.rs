//! Helpers shared by the binary's end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A two-task synthetic config small enough to train in a fraction of a second (one epoch,
/// run name `f`), for the tests of faults and messages.
pub const SMALL: &str = r#"
[run]
name = "f"

[data.synthetic]
samples = 200
features = 4

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[model.encoder]
hidden = [8]

[model.head]
hidden = [4]

[train]
epochs = 1
batch_size = 50
"#;

/// Run `mtl ARGS` in `cwd` with `MTL_DATA_DIR` set to `data_dir` (or unset).
pub fn mtl_env(args: &[&str], cwd: &Path, data_dir: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mtl"));
    c.args(args).current_dir(cwd);
    match data_dir {
        Some(d) => c.env("MTL_DATA_DIR", d),
        None => c.env_remove("MTL_DATA_DIR"),
    };
    c.output().expect("mtl runs")
}

/// Run `mtl ARGS` in `cwd` (without `MTL_DATA_DIR`).
pub fn mtl(args: &[&str], cwd: &Path) -> Output {
    mtl_env(args, cwd, None)
}

/// The command's standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The command's standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Write `text` to `dir/name` and return the path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `mtl synth` of the generator config `generator` into `dir/out`; the file and what the
/// command printed.
#[allow(dead_code)] // Not every test binary writes tables.
pub fn synth(dir: &Path, generator: &str, out: &str) -> (PathBuf, String) {
    let config = write_config(dir, "gen.toml", generator);
    let o = mtl(&["synth", config.to_str().unwrap(), "--out", out], dir);
    assert!(o.status.success(), "{}", stderr(&o));
    (dir.join(out), stdout(&o))
}
