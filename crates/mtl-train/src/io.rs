//! Small file helpers: atomic replacement and JSON lines.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, io_error as io};

/// Replace `path` with `bytes` atomically: write a temporary sibling, sync, rename. When any
/// step fails the temporary file is removed and `path` is unchanged.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().map(|e| e.to_string_lossy().to_string()).unwrap_or_default()
    ));
    let written = (|| {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))
    })();
    if written.is_err() {
        // Nothing is left behind; `path` keeps its earlier contents.
        let _ = fs::remove_file(&tmp);
    }
    written
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_atomic_write_leaves_nothing_behind_and_the_target_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: a non-empty folder stands where the file should go.
        let target = dir.path().join("summary.json");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "kept").unwrap();
        let e = atomic_write(&target, b"{}").unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("summary.json"), "{e}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["summary.json"], "no temporary file is left");
        assert_eq!(std::fs::read_to_string(target.join("keep")).unwrap(), "kept");
        // A write that succeeds replaces the file whole.
        let file = dir.path().join("x.json");
        atomic_write(&file, b"1").unwrap();
        atomic_write(&file, b"22").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"22");
    }
}
