//! Every file and folder the program writes goes through this module: a file is replaced
//! atomically ([`atomic_write`]), a folder of files is swapped in whole ([`atomic_dir`]), a
//! JSON line is appended whole or not at all ([`append_json_line`]). When a write fails (a full
//! disk, a read-only file system) no temporary file or folder stays behind and the earlier
//! files are unchanged; the error is [`Error::Io`]: bad input, exit code 2.
//!
//! Test seam: in debug builds, `MTL_FAIL_WRITE=N` in the environment makes the N-th write
//! operation of the process (creating a file or folder, writing, syncing, renaming) fail as
//! it would on a full disk; `tests/write_faults.rs` walks N over every operation of a run.
//! Removing files is not a write operation: cleaning up must not fail.

use std::fs;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, io_error as io};

/// Replace `path` with `bytes` atomically: write a temporary sibling, sync, rename. When any
/// step fails the temporary file is removed and `path` is unchanged.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = sibling(path, "tmp");
    let written = write_synced(&tmp, bytes).and_then(|()| rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(|e| named_as(e, &tmp, path))
}

/// An error about the temporary `stand_in` (or a path inside it) told about `real`, the path
/// the user knows: the temporary no longer exists once the error is reported.
fn named_as(e: Error, stand_in: &Path, real: &Path) -> Error {
    match e {
        Error::Io { path, cause } => {
            let path = match path.strip_prefix(stand_in) {
                Ok(rest) if rest.as_os_str().is_empty() => real.to_path_buf(),
                Ok(rest) => real.join(rest),
                Err(_) => path,
            };
            Error::Io { path, cause }
        }
        other => other,
    }
}

/// Replace several files together: all are written to temporary siblings first, then renamed
/// into place; when any step fails, the files already replaced get their earlier contents
/// back, no temporary file stays, and the error is returned. For files that only make sense
/// together (an export's weights and their description).
pub fn atomic_write_all(files: &[(&Path, &[u8])]) -> Result<(), Error> {
    let staged: Vec<(PathBuf, &Path)> = files.iter().map(|(path, _)| (sibling(path, "tmp"), *path)).collect();
    let clean = |from: usize| {
        for (tmp, _) in &staged[from..] {
            let _ = fs::remove_file(tmp);
        }
    };
    for (i, (tmp, _)) in staged.iter().enumerate() {
        if let Err(e) = write_synced(tmp, files[i].1) {
            clean(0);
            return Err(named_as(e, tmp, files[i].0));
        }
    }
    // Commit: the earlier version of each file is kept aside until all are in place.
    let mut done: Vec<(&Path, Option<PathBuf>)> = Vec::new();
    for (i, (tmp, path)) in staged.iter().enumerate() {
        let old = moved_away(path);
        let kept = if path.exists() { rename(path, &old).map(|()| Some(old)) } else { Ok(None) };
        let committed = kept.and_then(|kept| {
            let moved = rename(tmp, path);
            if moved.is_err()
                && let Some(old) = &kept
            {
                let _ = fs::rename(old, path);
            }
            moved.map(|()| kept)
        });
        match committed {
            Ok(kept) => done.push((path, kept)),
            Err(e) => {
                for (path, kept) in done.into_iter().rev() {
                    match kept {
                        Some(old) => drop(fs::rename(old, path)),
                        None => drop(fs::remove_file(path)),
                    }
                }
                clean(i);
                return Err(named_as(named_as(e, tmp, path), &moved_away(path), path));
            }
        }
    }
    for (_, kept) in done {
        if let Some(old) = kept {
            let _ = fs::remove_file(old);
        }
    }
    Ok(())
}

/// Write the folder `dir` whole: `fill` writes its files into a fresh temporary sibling
/// (with [`write_synced`]), which then replaces `dir` by renames (the old folder renamed
/// away, the new one into place, the old one deleted). When `fill` or a rename fails, the
/// temporary folder is removed and `dir` is as it was. A crash between the two renames leaves
/// the old folder complete under [`moved_away`]`(dir)`, where readers look for it.
pub fn atomic_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), Error>) -> Result<(), Error> {
    let tmp = sibling(dir, "tmp");
    let old = moved_away(dir);
    swap_in_dir(dir, &tmp, &old, fill).map_err(|e| named_as(named_as(e, &tmp, dir), &old, dir))
}

fn swap_in_dir(
    dir: &Path,
    tmp: &Path,
    old: &Path,
    fill: impl FnOnce(&Path) -> Result<(), Error>,
) -> Result<(), Error> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all(parent)?;
    }
    // Leftovers of a process killed mid-write.
    remove_dir_if_present(tmp)?;
    let filled = create_dir(tmp).and_then(|()| fill(tmp));
    if filled.is_err() {
        let _ = fs::remove_dir_all(tmp);
        return filled;
    }
    if dir.exists() {
        remove_dir_if_present(old)?;
        if let Err(e) = rename(dir, old) {
            let _ = fs::remove_dir_all(tmp);
            return Err(e);
        }
    }
    if let Err(e) = rename(tmp, dir) {
        if old.exists() {
            let _ = fs::rename(old, dir);
        }
        let _ = fs::remove_dir_all(tmp);
        return Err(e);
    }
    remove_dir_if_present(old)
}

/// Where [`atomic_dir`] (and [`atomic_write_all`]) keep the previous folder or file while the
/// new one is moved into place.
pub fn moved_away(dir: &Path) -> PathBuf {
    sibling(dir, "old")
}

/// Write `bytes` to a new file `path` and sync it: for the files of an [`atomic_dir`]; other
/// files are written with [`atomic_write`].
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    fault_point(path)?;
    let mut f = fs::File::create(path).map_err(io(path))?;
    fault_point(path)?;
    f.write_all(bytes).map_err(io(path))?;
    fault_point(path)?;
    f.sync_all().map_err(io(path))
}

/// Create `dir` and its missing parents.
pub fn create_dir_all(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    fault_point(dir)?;
    fs::create_dir_all(dir).map_err(io(dir))
}

/// Append one JSON value as a line to `path`, whole or not at all: a failed write is cut off
/// again, so the file never ends in half a line.
pub fn append_json_line(path: &Path, value: &serde_json::Value) -> Result<(), Error> {
    fault_point(path)?;
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path).map_err(io(path))?;
    let before = f.seek(std::io::SeekFrom::End(0)).map_err(io(path))?;
    let written =
        fault_point(path).and_then(|()| f.write_all(format!("{value}\n").as_bytes()).map_err(io(path)));
    if written.is_err() {
        let _ = f.set_len(before);
    }
    written
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
    if kept == text {
        return Ok(());
    }
    atomic_write(path, kept.as_bytes())
}

/// Remove the temporaries a killed process left in `dir` and its subfolders (`.NAME.tmp`
/// files and folders), except inside nested run folders (those holding a file named
/// `run_marker`, their lock); copies moved away mid-swap
/// (`.NAME.old`) stay, readers fall back on them.
pub fn remove_leftovers(dir: &Path, run_marker: &str) -> Result<(), Error> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let leftover = name.starts_with('.') && name.ends_with(".tmp");
        match (leftover, path.is_dir()) {
            (true, true) => fs::remove_dir_all(&path).map_err(io(&path))?,
            (true, false) => fs::remove_file(&path).map_err(io(&path))?,
            // A nested run folder (with its own lock) belongs to its own writer.
            (false, true) if !path.join(run_marker).exists() => remove_leftovers(&path, run_marker)?,
            (false, _) => {}
        }
    }
    Ok(())
}

/// `.NAME.TAG` beside `path`: hidden, and never mistaken for the real file.
fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}"))
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    fault_point(dir)?;
    fs::create_dir(dir).map_err(io(dir))
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fault_point(to)?;
    fs::rename(from, to).map_err(io(to))
}

fn remove_dir_if_present(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(dir)(e)),
        _ => Ok(()),
    }
}

/// One write operation on `path`: fails when the test seam (see the module docs) says so.
pub fn fault_point(path: &Path) -> Result<(), Error> {
    #[cfg(debug_assertions)]
    {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FAIL_AT: OnceLock<Option<usize>> = OnceLock::new();
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let fail_at =
            FAIL_AT.get_or_init(|| std::env::var("MTL_FAIL_WRITE").ok().and_then(|v| v.parse().ok()));
        // ENOSPC, as a full disk answers on Linux.
        let full = || Error::Io {
            path: path.to_path_buf(),
            cause: if cfg!(target_os = "linux") {
                std::io::Error::from_raw_os_error(28)
            } else {
                std::io::ErrorKind::StorageFull.into()
            },
        };
        if let Some(n) = fail_at
            && COUNT.fetch_add(1, Ordering::SeqCst) + 1 == *n
        {
            return Err(full());
        }
        #[cfg(test)]
        if tests::fails_here() {
            return Err(full());
        }
    }
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// (write operations seen, the one to fail) on this test's thread.
        static SEAM: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    }

    pub(super) fn fails_here() -> bool {
        SEAM.with(|s| match s.get() {
            Some((seen, at)) => {
                s.set(Some((seen + 1, at)));
                seen + 1 == at
            }
            None => false,
        })
    }

    /// Run `write` with its `at`-th write operation failing; `None` when it has fewer.
    fn failing_at<T>(at: usize, write: impl FnOnce() -> Result<T, Error>) -> Option<Error> {
        SEAM.with(|s| s.set(Some((0, at))));
        let result = write();
        let seen = SEAM.with(|s| s.replace(None)).map_or(0, |(seen, _)| seen);
        match result {
            Err(e) => Some(e),
            Ok(_) => {
                assert!(seen < at, "operation {at} was meant to fail");
                None
            }
        }
    }

    /// Every file under `dir` with its contents, sorted by path.
    fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                out.extend(tree(&path).into_iter().map(|(n, b)| (format!("{name}/{n}"), b)));
            } else {
                out.push((name, fs::read(&path).unwrap()));
            }
        }
        out.sort();
        out
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failure_at_any_write_operation_leaves_the_earlier_files_exactly() {
        type Write = fn(&Path) -> Result<(), Error>;
        let writes: [(&str, Write); 5] = [
            ("atomic_write", |r| atomic_write(&r.join("a.json"), b"a2")),
            ("atomic_write_all", |r| {
                atomic_write_all(&[
                    (&r.join("a.json"), b"a2"),
                    (&r.join("b.json"), b"b2"),
                    (&r.join("c.json"), b"c2"),
                ])
            }),
            ("atomic_dir", |r| {
                atomic_dir(&r.join("ckpt"), |tmp| {
                    write_synced(&tmp.join("x"), b"x2").and(write_synced(&tmp.join("y"), b"y2"))
                })
            }),
            ("atomic_dir (new parent)", |r| {
                atomic_dir(&r.join("new/ckpt"), |tmp| write_synced(&tmp.join("x"), b"x2"))
            }),
            ("append_json_line", |r| {
                append_json_line(&r.join("log.jsonl"), &serde_json::json!({"epoch": 2}))
            }),
        ];
        for (what, write) in writes {
            let mut at = 1;
            loop {
                let root = tempfile::Builder::new().prefix("root").tempdir().unwrap();
                let r = root.path();
                atomic_write_all(&[(&r.join("a.json"), b"a1"), (&r.join("b.json"), b"b1")]).unwrap();
                atomic_dir(&r.join("ckpt"), |tmp| write_synced(&tmp.join("x"), b"x1")).unwrap();
                append_json_line(&r.join("log.jsonl"), &serde_json::json!({"epoch": 1})).unwrap();
                let before = tree(r);
                let Some(e) = failing_at(at, || write(r)) else { break };
                assert_eq!(e.exit_code(), 2);
                assert!(e.to_string().contains("disk is full"), "{e}");
                assert!(
                    !e.to_string().contains(".tmp") && !e.to_string().contains(".old"),
                    "names the real path: {e}"
                );
                let after: Vec<_> = tree(r).into_iter().filter(|(n, _)| !n.starts_with("new")).collect();
                assert_eq!(after, before, "{what} failing at write operation {at}");
                if r.join("new").exists() {
                    assert_eq!(names(&r.join("new")), Vec::<String>::new(), "{what} at {at}");
                }
                at += 1;
            }
            assert!(at > 2, "{what} has several write operations");
        }
    }

    #[test]
    fn a_failed_atomic_write_leaves_nothing_behind_and_the_target_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: a non-empty folder stands where the file should go.
        let target = dir.path().join("summary.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), "kept").unwrap();
        let e = atomic_write(&target, b"{}").unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("summary.json"), "{e}");
        assert_eq!(names(dir.path()), ["summary.json"], "no temporary file is left");
        assert_eq!(fs::read_to_string(target.join("keep")).unwrap(), "kept");
        // A write that succeeds replaces the file whole.
        let file = dir.path().join("x.json");
        atomic_write(&file, b"1").unwrap();
        atomic_write(&file, b"22").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"22");
    }

    #[test]
    fn a_folder_is_swapped_in_whole_or_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("last");
        atomic_dir(&dir, |tmp| write_synced(&tmp.join("a"), b"1")).unwrap();
        assert_eq!(names(root.path()), ["last"]);
        // A failing fill leaves the previous folder as it was and nothing beside it.
        let e = atomic_dir(&dir, |tmp| {
            write_synced(&tmp.join("a"), b"2")?;
            Err(Error::Io { path: tmp.join("b"), cause: std::io::ErrorKind::StorageFull.into() })
        })
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(names(root.path()), ["last"]);
        assert_eq!(fs::read(dir.join("a")).unwrap(), b"1");
        // A rename that fails (a file stands where the parent folder should be) leaves nothing.
        let blocked = root.path().join("file");
        fs::write(&blocked, "x").unwrap();
        assert!(atomic_dir(&blocked.join("sub"), |_| Ok(())).is_err());
        assert_eq!(names(root.path()), ["file", "last"]);
        // A success replaces the contents.
        atomic_dir(&dir, |tmp| write_synced(&tmp.join("b"), b"3")).unwrap();
        assert_eq!(names(&dir), ["b"]);
        assert_eq!(names(root.path()), ["file", "last"]);
    }

    #[test]
    fn files_written_together_all_change_or_none_do() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a.json"), root.path().join("b.json"));
        atomic_write_all(&[(&a, b"1"), (&b, b"1")]).unwrap();
        atomic_write_all(&[(&a, b"2"), (&b, b"2")]).unwrap();
        assert_eq!((fs::read(&a).unwrap(), fs::read(&b).unwrap()), (b"2".to_vec(), b"2".to_vec()));
        assert_eq!(names(root.path()), ["a.json", "b.json"]);
    }

    #[test]
    fn leftovers_of_a_killed_writer_are_removed_and_moved_away_copies_kept() {
        let root = tempfile::Builder::new().prefix("root").tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("checkpoints/.last.tmp")).unwrap();
        fs::create_dir_all(r.join("checkpoints/.best.old")).unwrap();
        fs::write(r.join("checkpoints/.last.tmp/model.bpk"), "x").unwrap();
        fs::write(r.join(".summary.json.tmp"), "x").unwrap();
        fs::write(r.join("metrics.jsonl"), "x").unwrap();
        fs::create_dir_all(r.join("stl/a")).unwrap();
        fs::write(r.join("stl/a/.lock"), "").unwrap();
        fs::write(r.join("stl/a/.summary.json.tmp"), "theirs").unwrap();
        remove_leftovers(r, ".lock").unwrap();
        assert_eq!(names(r), ["checkpoints", "metrics.jsonl", "stl"]);
        assert_eq!(names(&r.join("stl/a")), [".lock", ".summary.json.tmp"], "another run's folder");
        assert_eq!(names(&r.join("checkpoints")), [".best.old"]);
    }

    #[test]
    fn lines_are_appended_whole_and_truncation_keeps_the_earlier_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        append_json_line(&path, &serde_json::json!({"epoch": 1})).unwrap();
        append_json_line(&path, &serde_json::json!({"epoch": 2})).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"epoch\":1}\n{\"epoch\":2}\n");
        truncate_epochs(&path, 1).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"epoch\":1}\n");
        assert_eq!(names(dir.path()), ["metrics.jsonl"]);
    }
}
