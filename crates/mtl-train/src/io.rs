//! Small file helpers: atomic replacement and JSON lines.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, io_error as io};

/// Replace `path` with `bytes` atomically: write a temporary sibling, sync, rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().map(|e| e.to_string_lossy().to_string()).unwrap_or_default()
    ));
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Append one JSON value as a line to `path`.
pub fn append_json_line(path: &Path, value: &serde_json::Value) -> Result<(), Error> {
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path).map_err(io(path))?;
    writeln!(f, "{value}").map_err(io(path))?;
    f.flush().map_err(io(path))
}

/// Keep the lines of a JSON-lines file whose `"epoch"` is at most `max_epoch`.
pub fn truncate_epochs(path: &Path, max_epoch: usize) -> Result<(), Error> {
    let Ok(text) = fs::read_to_string(path) else { return Ok(()) };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("epoch").and_then(|e| e.as_u64()))
                .is_some_and(|e| e as usize <= max_epoch)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    atomic_write(path, kept.as_bytes())
}
