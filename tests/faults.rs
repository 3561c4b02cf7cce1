//! File-system faults and bad names through the binary: each is bad input (exit 2) with one
//! message naming the path or key and what to do; advice that works for each state of a run
//! folder; inference input checked as training input is.

mod common;

use std::path::{Path, PathBuf};

use common::{SMALL, mtl, stderr};

/// A run of [`SMALL`] trained in `dir` (into `runs/f`), and its folder.
fn trained(dir: &Path) -> PathBuf {
    let cfg = config(dir);
    let o = mtl(&["train", cfg.to_str().unwrap(), "--backend", "ndarray", "-q"], dir);
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("runs/f")
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("c.toml");
    std::fs::write(&p, SMALL).unwrap();
    p
}

#[test]
fn a_file_where_the_run_folder_should_be_is_bad_input_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let blocker = dir.path().join("taken");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = blocker.join("run");
    let o = mtl(
        &["train", cfg.to_str().unwrap(), "--backend", "ndarray", "--out", out.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("taken") && e.contains("a file stands where a folder should be"), "{e}");
    assert_eq!(e.matches("not a directory").count(), 1, "the cause is said once: {e}");
    assert!(!e.contains("os error"), "{e}");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "not a folder", "nothing was overwritten");
}

#[test]
fn names_that_become_folders_are_checked_at_config_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let long = "x".repeat(201);
    for (set, key) in [
        ("run.name=\"..\"".to_string(), "run.name"),
        (format!("run.name=\"{long}\""), "run.name"),
        ("tasks.1.name=\"b/c\"".to_string(), "tasks[1].name"),
        (format!("tasks.0.name=\"{long}\""), "tasks[0].name"),
    ] {
        let o = mtl(&["check", cfg.to_str().unwrap(), "--set", &set], dir.path());
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(key) && e.contains("names a folder"), "{set}: {e}");
    }
}

#[test]
fn resuming_a_folder_without_a_checkpoint_advises_overwrite_which_then_works() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // A run stopped before its first epoch ended: its folder has a config but no checkpoint.
    let run = dir.path().join("runs/f");
    std::fs::create_dir_all(run.join("checkpoints")).unwrap();
    std::fs::write(run.join("config.toml"), SMALL).unwrap();
    let o = mtl(&["train", "--resume", run.to_str().unwrap(), "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("--overwrite"), "{e}");
    let o = mtl(
        &[
            "train",
            cfg.to_str().unwrap(),
            "--backend",
            "ndarray",
            "--out",
            run.to_str().unwrap(),
            "--overwrite",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "the advice works: {}", stderr(&o));
}

#[test]
fn predict_refuses_cells_that_are_not_finite_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained(dir.path());
    for cell in ["nan", "inf", "-inf", "1e999"] {
        let input = dir.path().join("in.csv");
        std::fs::write(&input, format!("x0,x1,x2,x3\n0.1,0.2,0.3,0.4\n0.5,{cell},0.1,0.2\n")).unwrap();
        let o = mtl(
            &["predict", run.to_str().unwrap(), "--input", input.to_str().unwrap(), "--backend", "ndarray"],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{cell}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("in.csv") && e.contains("line 3") && e.contains("is not a finite number"),
            "{cell}: {e}"
        );
        assert!(!run.join("predictions/in.csv").exists(), "{cell}: no predictions written");
    }
}

#[test]
fn config_files_that_cannot_be_read_say_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("bin.toml", b"\xff\xfe[run]\n", "not UTF-8"),
        ("dup.toml", b"[run]\nname = \"a\"\nname = \"b\"\n", "line 3: `name` is given twice"),
        ("dupt.toml", b"[run]\nseed = 1\n[run]\nseed = 2\n", "line 3: `run` is given twice"),
    ];
    for (name, bytes, want) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let o = mtl(&["check", name], dir.path());
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
        assert!(!e.contains("check the path"), "{name}: the path is fine: {e}");
    }
    let o = mtl(&["check", "."], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it is a folder"), "{}", stderr(&o));
}

#[test]
fn a_headerless_table_without_column_names_says_to_name_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("h.csv"), "1.0,2.0,yes\n3.0,4.0,no\n").unwrap();
    let cfg = "[data]\nsource = \"csv\"\n[data.csv]\ntrain = \"h.csv\"\nheader = false\nnumeric = [\"x1\", \"x2\"]\n\
               [[tasks]]\nname = \"y\"\nkind = \"binary\"\npositive = \"yes\"\n[model.encoder]\nhidden = [4]\n";
    std::fs::write(dir.path().join("h.toml"), cfg).unwrap();
    let o = mtl(&["check", "h.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("h.csv") && e.contains("`x1`") && e.contains("data.csv.columns"), "{e}");
}

#[test]
fn readers_of_a_missing_checkpoint_name_the_ones_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained(dir.path());
    let r = run.to_str().unwrap();
    std::fs::remove_dir_all(run.join("checkpoints/best")).unwrap();
    let readers: [&[&str]; 3] = [
        &["eval", r, "--backend", "ndarray"],
        &["predict", r, "--split", "test", "--backend", "ndarray"],
        &["export", r],
    ];
    for args in readers {
        let o = mtl(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("best") && e.contains("the run has last; choose one with `--checkpoint last`"),
            "{e}"
        );
        let mut advised = args.to_vec();
        advised.extend(["--checkpoint", "last"]);
        let o = mtl(&advised, dir.path());
        assert!(o.status.success(), "the advice works: {advised:?}: {}", stderr(&o));
    }
    std::fs::remove_dir_all(run.join("checkpoints/last")).unwrap();
    let o = mtl(&["eval", r, "--checkpoint", "last", "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has no checkpoint") && stderr(&o).contains("--overwrite"), "{}", stderr(&o));
}

#[test]
fn a_checkpoint_loaded_with_another_config_names_the_keys_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained(dir.path());
    let r = run.to_str().unwrap();
    // Resuming with a wider encoder.
    let o = mtl(
        &[
            "train",
            "--resume",
            r,
            "--set",
            "model.encoder.hidden=[16]",
            "--set",
            "train.epochs=2",
            "--backend",
            "ndarray",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("`model.encoder.hidden` was [8], is [16]"), "{e}");
    assert!(!e.contains("train.epochs") && !e.contains("Shape"), "only keys that shape the network: {e}");
    // Evaluating after the saved config was edited by hand (a wider head).
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    std::fs::write(
        run.join("config.toml"),
        saved.replace("[model.head]\nhidden = [4]", "[model.head]\nhidden = [6]"),
    )
    .unwrap();
    let o = mtl(&["eval", r, "--backend", "ndarray"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("`model.head.hidden` was [4], is [6]"), "{}", stderr(&o));
}

#[test]
fn a_device_index_that_does_not_exist_names_the_flag_and_lists_the_devices() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    for backend in ["flex", "ndarray", "auto"] {
        let o =
            mtl(&["train", cfg.to_str().unwrap(), "--backend", backend, "--device", "3", "-q"], dir.path());
        assert_eq!(o.status.code(), Some(2), "{backend}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("--device 3 does not exist") && e.contains(&format!("--backend {backend}")),
            "{e}"
        );
        assert!(
            e.contains("Devices found:") && e.contains("flex     CPU") && e.contains("ndarray  CPU"),
            "{e}"
        );
        assert!(!dir.path().join("runs/f").exists(), "{backend}: nothing written");
    }
}

#[test]
fn paths_given_to_readers_and_writers_that_cannot_work_are_said_once_without_os_codes() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path());
    std::fs::write(dir.path().join("afile"), "keep").unwrap();
    std::fs::create_dir_all(dir.path().join("adir/sub")).unwrap();
    let cases: [(&[&str], &str, &str); 5] = [
        (&["export", "runs/f", "--out", "afile"], "afile", "a file stands where a folder should be"),
        (
            &["predict", "runs/f", "--split", "test", "--output", "adir", "--backend", "ndarray"],
            "adir",
            "a folder where a file should be",
        ),
        (
            &["predict", "runs/f", "--input", "nothere.csv", "--backend", "ndarray"],
            "nothere.csv",
            "check the path",
        ),
        (&["plot", "afile"], "afile", "is this a run folder"),
        (&["eval", "nothere", "--backend", "ndarray"], "nothere", "is not a run folder"),
    ];
    for (args, path, advice) in cases {
        let o = mtl(args, dir.path());
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(path) && e.contains(advice), "{args:?}: {e}");
        assert!(!e.contains("os error") && e.lines().count() == 1, "{args:?}: one line, no OS codes: {e}");
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("afile")).unwrap(), "keep");
    assert_eq!(std::fs::read_dir(dir.path().join("adir")).unwrap().count(), 1, "nothing written into adir");
}
