//! One writer per run folder: a training holds an exclusive OS lock on `RUN_DIR/.lock` for the
//! whole run. The lock belongs to the open file, so it dies with the process (a `kill -9` leaves
//! no stale lock); the file itself stays and holds the last holder's process id and start time.
//! Readers (`eval`, `predict`, `export`, `plot`) refuse a folder whose lock is held, instead of
//! reading a half-updated state.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, io_error};

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a run folder, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Lock `dir` (which must exist) for writing; a folder locked by another process is an
    /// error naming the folder and the holder.
    pub fn acquire(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(LOCK_FILE);
        crate::io::fault_point(&path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(busy(dir, &holder(&mut file))),
            Err(TryLockError::Error(e)) => return Err(io_error(&path)(e)),
        }
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let me = format!("pid {} (started at unix time {started})\n", std::process::id());
        file.set_len(0).map_err(io_error(&path))?;
        file.rewind().map_err(io_error(&path))?;
        file.write_all(me.as_bytes()).and_then(|()| file.flush()).map_err(io_error(&path))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Refuse to read `dir` while a training writes it. A folder without a lock file (written
/// before locks existed, or not a run folder) passes.
pub fn ensure_not_written(dir: &Path) -> Result<(), Error> {
    let path = dir.join(LOCK_FILE);
    let Ok(mut file) = File::open(&path) else { return Ok(()) };
    match file.try_lock_shared() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(busy(dir, &holder(&mut file))),
        Err(TryLockError::Error(e)) => Err(io_error(&path)(e)),
    }
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() { "another process".into() } else { text.to_string() }
}

fn busy(dir: &Path, holder: &str) -> Error {
    Error::RunDir {
        path: dir.to_path_buf(),
        message: format!(
            "is being written by a running `mtl train` ({holder}); wait for it to finish, or write this run into \
             another folder (--out DIR or --set run.name=NEW)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_naming_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let e = RunLock::acquire(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains(&format!("pid {}", std::process::id())) && msg.contains("--out"), "{msg}");
        assert!(ensure_not_written(dir.path()).is_err(), "readers are refused while it is held");
        drop(first);
        assert!(ensure_not_written(dir.path()).is_ok());
        let again = RunLock::acquire(dir.path()).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }

    #[test]
    fn a_folder_without_a_lock_file_can_be_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_not_written(dir.path()).is_ok());
        assert!(!dir.path().join(LOCK_FILE).exists(), "reading creates no lock file");
    }
}
