//! Write failures through the binary. A write failing at each write operation of a run, an
//! export and a prediction in turn (the debug builds' `MTL_FAIL_WRITE=N` seam, see
//! `mtl_train::io`), and real full and read-only file systems (a small tmpfs, where this
//! process may mount one): each is bad input (exit 2) with one message, leaves no temporary
//! file or folder, keeps the earlier files, and the advice it gives (resume, or start afresh)
//! ends in exactly the metrics of an uninterrupted run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{SMALL, json, stderr};

/// [`SMALL`] for two epochs: faults in the second one meet a first checkpoint.
fn run_config() -> String {
    SMALL.replace("epochs = 1", "epochs = 2")
}

/// `mtl ARGS` in `cwd`, with the `fail_at`-th write operation failing when given.
fn mtl(args: &[&str], cwd: &Path, fail_at: Option<usize>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mtl"));
    c.args(args).current_dir(cwd).env_remove("MTL_DATA_DIR").env_remove("MTL_FAIL_WRITE");
    if let Some(n) = fail_at {
        c.env("MTL_FAIL_WRITE", n.to_string());
    }
    c.output().expect("mtl runs")
}

/// A temporary folder whose own name has no `.tmp` in it.
fn tempdir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("mtl-wf").tempdir()
}

/// Paths under `dir` that a write leaves only while it is under way.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".tmp") || name.ends_with(".old") {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(leftovers(&path));
        }
    }
    found
}

/// `metrics.jsonl` without its timings, and `summary.json` without its timings and path.
fn results(run: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let strip = |mut v: serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            for key in ["wall_s", "train_s", "seconds", "run_dir"] {
                o.remove(key);
            }
        }
        v
    };
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let metrics = lines.lines().map(|l| strip(serde_json::from_str(l).unwrap())).collect();
    (metrics, strip(json(&run.join("summary.json"))))
}

/// The single `error:` line of a failed command, checked to be a full disk said once.
fn full_disk_error(o: &Output, what: &str) -> String {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{what}: {e}");
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{what}: one message: {e}");
    let line = errors[0].to_string();
    assert_eq!(line.matches("no space left on device").count(), 1, "{what}: the cause once: {e}");
    assert!(line.contains("free space") && !line.contains("os error"), "{what}: {e}");
    assert!(!line.contains(".tmp") && !line.contains(".old"), "{what}: names the real file: {e}");
    line
}

/// Continue a failed run the way its messages say: `--resume`, or when that answers that
/// there is no checkpoint, the `--overwrite` it advises.
fn recover(dir: &Path, cfg: &str, run: &Path) -> String {
    let r = run.to_str().unwrap();
    let o = mtl(&["train", "--resume", r, "--backend", "ndarray", "-q"], dir, None);
    if o.status.success() {
        return "resume".into();
    }
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("--overwrite") || e.contains("`mtl train CONFIG --out DIR`"),
        "a folder that cannot be resumed says what to do: {e}"
    );
    let o = mtl(&["train", cfg, "--backend", "ndarray", "--out", r, "--overwrite", "-q"], dir, None);
    assert!(o.status.success(), "the advised --overwrite works: {}", stderr(&o));
    "overwrite".into()
}

#[test]
fn a_write_failing_at_any_step_of_a_run_is_said_once_leaves_nothing_and_resumes_exactly() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the MTL_FAIL_WRITE seam exists in debug builds only");
        return;
    }
    let dir = tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), run_config()).unwrap();
    let reference = dir.path().join("reference");
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--out", "reference", "-q"], dir.path(), None);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = results(&reference);

    let mut recovered = std::collections::BTreeSet::new();
    let mut at = 1;
    loop {
        let run = dir.path().join(format!("r{at}"));
        let out = run.to_str().unwrap();
        let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--out", out, "-q"], dir.path(), Some(at));
        let e = stderr(&o);
        if o.status.success() {
            if !e.contains("no space left") {
                break; // The run has fewer write operations than `at`.
            }
            // Only the plots, drawn after the run is complete, are allowed to fail softly.
            assert!(e.contains("plots not written") && e.contains("mtl plot"), "at {at}: {e}");
        } else {
            let line = full_disk_error(&o, &format!("write {at}"));
            assert!(line.contains(out), "at {at}: names a file of the run folder: {line}");
        }
        assert_eq!(leftovers(&run), Vec::<PathBuf>::new(), "at {at}: {e}");
        if !o.status.success() {
            recovered.insert(recover(dir.path(), "c.toml", &run));
        }
        assert_eq!(results(&run), want, "write {at} failed, then the run was continued as advised");
        at += 1;
    }
    assert!(at > 40, "a two-epoch run has dozens of write operations, saw {}", at - 1);
    assert_eq!(recovered.len(), 2, "both ways back were taken: {recovered:?}");
}

#[test]
fn a_failed_export_or_prediction_keeps_the_earlier_files() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: the MTL_FAIL_WRITE seam exists in debug builds only");
        return;
    }
    let dir = tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), SMALL).unwrap();
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--out", "run", "-q"], dir.path(), None);
    assert!(o.status.success(), "{}", stderr(&o));
    let commands: [&[&str]; 2] = [
        &["export", "run", "--out", "exported"],
        &[
            "predict",
            "run",
            "--split",
            "test",
            "--output",
            "exported/predictions.csv",
            "--backend",
            "ndarray",
        ],
    ];
    for args in commands {
        // A first, complete result; each failing rewrite must leave it exactly.
        let o = mtl(args, dir.path(), None);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let snapshot = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            let mut v: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
                .collect();
            v.sort();
            v
        };
        let before = snapshot(&dir.path().join("exported"));
        let mut at = 1;
        loop {
            let o = mtl(args, dir.path(), Some(at));
            if o.status.success() {
                break;
            }
            full_disk_error(&o, &format!("{args:?} at {at}"));
            assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new(), "{args:?} at {at}");
            assert_eq!(snapshot(&dir.path().join("exported")), before, "{args:?} at {at}");
            at += 1;
        }
        assert!(at > 3, "{args:?} writes through the seam");
    }
}

/// A tmpfs mounted for one test, unmounted when dropped. `None` where this process may not
/// mount (not root, no CAP_SYS_ADMIN, no `mount`).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Option<Self> {
        let dir = tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "skipped: cannot mount a tmpfs here (needs root); the MTL_FAIL_WRITE tests cover the same paths"
            );
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, options: &str) {
        let s = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(self.path()).status();
        assert!(s.is_ok_and(|s| s.success()), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

#[test]
fn a_full_disk_stops_the_run_cleanly_and_it_resumes_once_there_is_space() {
    let dir = tempdir().unwrap();
    // A model of about 1 MB per checkpoint: the 256 KiB file system fills on the first one.
    let cfg = run_config().replace("hidden = [8]", "hidden = [256, 256]");
    std::fs::write(dir.path().join("c.toml"), &cfg).unwrap();
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--out", "reference", "-q"], dir.path(), None);
    assert!(o.status.success(), "{}", stderr(&o));
    let Some(fs) = Tmpfs::mount("size=256k") else { return };
    let run = fs.path().join("run");
    let out = run.to_str().unwrap();
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--out", out, "-q"], dir.path(), None);
    let line = full_disk_error(&o, "full tmpfs");
    assert!(line.contains("checkpoint"), "{line}");
    assert_eq!(leftovers(fs.path()), Vec::<PathBuf>::new(), "{line}");
    fs.remount("size=64m");
    let how = recover(dir.path(), "c.toml", &run);
    assert_eq!(results(&run), results(&dir.path().join("reference")), "continued by {how}");
}

#[test]
fn a_read_only_file_system_is_bad_input_for_every_writer_and_fine_for_readers() {
    let dir = tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), SMALL).unwrap();
    let Some(fs) = Tmpfs::mount("size=16m") else { return };
    let run = fs.path().join("run");
    let r = run.to_str().unwrap();
    let o = mtl(&["train", "c.toml", "--backend", "ndarray", "--out", r, "-q"], dir.path(), None);
    assert!(o.status.success(), "{}", stderr(&o));
    fs.remount("ro");
    let writers: [&[&str]; 4] = [
        &["train", "--resume", r, "--set", "train.epochs=2", "--backend", "ndarray", "-q"],
        &["train", "c.toml", "--out", r, "--overwrite", "--backend", "ndarray", "-q"],
        &["export", r],
        &["predict", r, "--split", "test", "--backend", "ndarray"],
    ];
    for args in writers {
        let o = mtl(args, dir.path(), None);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.matches("read-only file system").count(), 1, "{args:?}: the cause once: {e}");
        assert!(e.contains("write elsewhere") && !e.contains("os error"), "{args:?}: {e}");
    }
    let o = mtl(&["eval", r, "--backend", "ndarray"], dir.path(), None);
    assert!(o.status.success(), "reading needs no writes: {}", stderr(&o));
}
