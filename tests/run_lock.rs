//! One writer per run folder, through the binary: a second writer and the readers are refused
//! (exit 2, naming the holder) while a run trains; racing writers never mix their runs; a run
//! killed with SIGKILL leaves no stale lock.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{json, mtl, stderr};

const LONG: &str = r#"
[run]
name = "locked"

[data.synthetic]
samples = 400
features = 8

[[tasks]]
name = "a"
kind = "regression"

[[tasks]]
name = "b"
kind = "binary"

[model.encoder]
hidden = [16]

[model.head]
hidden = [8]

[train]
epochs = 100000
batch_size = 20
"#;

fn spawn(args: &[&str], cwd: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mtl"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mtl starts")
}

/// Wait until the run in `run` holds its lock and has written its first checkpoint.
fn wait_for_lock(run: &Path, child: &mut Child) {
    let started = Instant::now();
    while !(run.join(".lock").exists() && run.join("checkpoints/last/state.json").exists()) {
        assert!(child.try_wait().unwrap().is_none(), "the training ended early");
        assert!(started.elapsed() < Duration::from_secs(60), "the training never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_writer_and_the_readers_are_refused_while_a_run_trains_and_a_kill_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, LONG).unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = dir.path().join("runs/locked");
    let mut first = spawn(&["train", cfg, "--backend", "ndarray", "-q"], dir.path());
    wait_for_lock(&run, &mut first);

    for args in [
        vec!["train", cfg, "--backend", "ndarray", "--overwrite"],
        vec!["train", "--resume", run.to_str().unwrap(), "--backend", "ndarray"],
    ] {
        let o = mtl(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("is being written") && e.contains(&format!("pid {}", first.id())), "{e}");
    }
    let o = mtl(&["plot", run.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is being written"), "{}", stderr(&o));

    // SIGKILL: the OS drops the lock with the process.
    first.kill().unwrap();
    first.wait().unwrap();
    let o = mtl(
        &["train", cfg, "--backend", "ndarray", "--overwrite", "-q", "--set", "train.epochs=1"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&run.join("summary.json"))["epochs_done"], 1);
}

#[test]
fn racing_writers_never_mix_their_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, LONG).unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = dir.path().join("runs/locked");
    let mut refused = 0;
    for round in 0..4 {
        let racers: Vec<(u64, Child)> = (0..3u64)
            .map(|i| {
                let seed = format!("run.seed={}", 10 * round + i);
                let args =
                    ["train", cfg, "--backend", "ndarray", "--overwrite", "-q", "--set", "train.epochs=20"];
                let mut args = args.to_vec();
                args.extend(["--set", seed.as_str()]);
                (10 * round + i, spawn(&args, dir.path()))
            })
            .collect();
        let mut winners = Vec::new();
        for (seed, child) in racers {
            let o = child.wait_with_output().unwrap();
            match o.status.code() {
                Some(0) => winners.push(seed),
                Some(2) => {
                    let e = String::from_utf8_lossy(&o.stderr);
                    assert!(e.contains("is being written"), "round {round}: {e}");
                    refused += 1;
                }
                other => panic!("round {round}: exit {other:?}: {}", String::from_utf8_lossy(&o.stderr)),
            }
        }
        assert!(!winners.is_empty(), "round {round}: some racer must win");
        // The folder holds one run: its config, summary and checkpoints agree on the seed.
        let summary = json(&run.join("summary.json"));
        let seed = summary["seed"].as_u64().unwrap();
        assert!(winners.contains(&seed), "round {round}: {seed} not among {winners:?}");
        let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("seed = {seed}")),
            "round {round}: config of another run:\n{config}"
        );
        let state = json(&run.join("checkpoints/last/state.json"));
        assert_eq!(state["seed"].as_u64(), Some(seed), "round {round}");
        let o = mtl(&["eval", run.to_str().unwrap(), "--backend", "ndarray", "--json"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (now, then) =
            (eval["metrics"]["a"]["loss"].as_f64().unwrap(), summary["test"]["a"]["loss"].as_f64().unwrap());
        assert!((now - then).abs() <= 1e-9 * then.abs(), "round {round}: eval {now} vs summary {then}");
    }
    // Whether racers overlap depends on the scheduler; report how often one was turned away.
    eprintln!("{refused} of 12 racers were refused while another wrote");
}
