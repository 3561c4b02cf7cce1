//! The training step, checkpoints and backend parity, through the library API.

mod common;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use common::config;
use mtl_data::{MultiTaskBatch, batch_indices, epoch_permutation};
use mtl_train::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use mtl_train::fit::{init_state, prepare_data};
use mtl_train::input::BatchInput;
use mtl_train::optimizer::build_optimizer;
use mtl_train::selection::Selection;
use mtl_train::step::{TrainState, train_step};
use mtl_weighting::{StepContext, WeightingInput};

#[allow(deprecated)]
fn ndarray() -> Device {
    Device::ndarray()
}

fn ctx(input: WeightingInput) -> StepContext {
    StepContext { epoch: 0, step: 0, steps_per_epoch: 1, input }
}

fn meta() -> CheckpointMeta {
    CheckpointMeta {
        format_version: FORMAT_VERSION,
        epochs_done: 1,
        steps_done: 3,
        selection: Selection {
            best_epoch: 1,
            best_valid_loss: 1.5,
            best_monitor: Some(-1.5),
            plateau: Default::default(),
            stopped_early: false,
            monitor: "loss".into(),
        },
        seed: 7,
        weighting_state: serde_json::json!({"history": [1.0, 2.0]}),
        config: Some(config(&[]).toml),
    }
}

// EW's equality of the three routes is tested for every architecture in `architectures.rs`.

#[test]
fn checkpoint_round_trip_restores_parameters_and_optimizer_state() {
    let _serial = common::serial();
    let cfg = config(&[]);
    let device = ndarray().autodiff();
    let splits = prepare_data(&cfg).unwrap();
    let tasks = cfg.task_specs();
    let mut state = init_state(&cfg, &device);
    let mut optim = build_optimizer(&cfg.train.optimizer);
    let order = epoch_permutation(splits.train.len(), 1, 0);
    let batches = batch_indices(&order, 64, true);
    for b in &batches[..3] {
        let batch = MultiTaskBatch::gather(&splits.train, b, &device);
        let (g, _) = train_step(&mut state, &batch, &tasks, &ctx(WeightingInput::Losses));
        state = optim.step(1e-2, state, g);
    }
    let dir = tempfile::tempdir().unwrap();
    let meta = meta();
    let path = dir.path().join("last");
    checkpoint::save(&path, &state, &optim, &meta).unwrap();
    // Saving again replaces the checkpoint and leaves no temporary folder behind.
    checkpoint::save(&path, &state, &optim, &meta).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names, vec!["last".to_string()]);

    device.seed(99); // a different initialisation, overwritten by the load
    let fresh = TrainState { model: cfg.model.init(&device), weighting: cfg.weighting.init(3, &device) };
    let (loaded, mut loaded_optim, loaded_meta) =
        checkpoint::load(&path, fresh, build_optimizer(&cfg.train.optimizer), &cfg.toml).unwrap();
    assert_eq!(loaded_meta, meta);

    let probe = MultiTaskBatch::gather(&splits.valid, &(0..16).collect::<Vec<_>>(), &device);
    let out_a: Vec<_> =
        state.model.valid().forward(probe.input().inner()).into_iter().map(|t| t.into_data()).collect();
    let out_b: Vec<_> =
        loaded.model.valid().forward(probe.input().inner()).into_iter().map(|t| t.into_data()).collect();
    assert_eq!(out_a, out_b);

    // One more step from each: identical only if Adam's moments and step count came back too.
    // (Same dropout masks: the config has dropout 0.1.)
    let batch = MultiTaskBatch::gather(&splits.train, batches[3], &device);
    let step = |mut s: TrainState, o: &mut burn::optim::ModuleOptimizer| {
        device.seed(5);
        let (g, _) = train_step(&mut s, &batch, &tasks, &ctx(WeightingInput::Losses));
        o.step(1e-2, s, g)
    };
    let state = step(state, &mut optim);
    let loaded = step(loaded, &mut loaded_optim);
    let bytes = |s: TrainState| s.into_record().into_bytes().unwrap().to_vec();
    assert_eq!(bytes(state), bytes(loaded));
}

#[test]
fn corrupt_checkpoints_are_reported_with_the_file() {
    let _serial = common::serial();
    let cfg = config(&[]);
    let device = ndarray().autodiff();
    let state = init_state(&cfg, &device);
    let optim = build_optimizer(&cfg.train.optimizer);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("last");
    let meta = meta();
    checkpoint::save(&path, &state, &optim, &meta).unwrap();
    let model = path.join("model.bpk");
    let len = std::fs::metadata(&model).unwrap().len();
    std::fs::write(&model, &std::fs::read(&model).unwrap()[..(len / 2) as usize]).unwrap();
    let fresh = init_state(&cfg, &device);
    let err = checkpoint::load(&path, fresh, build_optimizer(&cfg.train.optimizer), &cfg.toml)
        .err()
        .expect("half a file does not load")
        .to_string();
    assert!(err.contains("model.bpk") && err.contains("corrupt"), "{err}");

    // A checkpoint of another architecture does not load silently, and says which config
    // keys differ (not the loop's length, which may change on resume) ...
    checkpoint::save(&path, &state, &optim, &meta).unwrap();
    let other = config(&["model.encoder.hidden=[7]", "train.epochs=9"]);
    let load_other = |meta_config: Option<String>| {
        let mut m = meta.clone();
        m.config = meta_config;
        checkpoint::save(&path, &state, &optim, &m).unwrap();
        checkpoint::load(
            &path,
            init_state(&other, &device),
            build_optimizer(&other.train.optimizer),
            &other.toml,
        )
        .err()
        .expect("another architecture does not load")
        .to_string()
    };
    let err = load_other(meta.config.clone());
    assert!(err.contains("`model.encoder.hidden` was [32], is [7]"), "{err}");
    assert!(!err.contains("train.epochs") && !err.contains("shape"), "{err}");
    assert!(err.contains("RUN_DIR/config.toml"), "{err}");
    // ... while a checkpoint that does not record its config still names the file.
    let err = load_other(None);
    assert!(err.contains("model.bpk") && err.contains("corrupt or from another config"), "{err}");
}

/// Losses of 30 Adam steps on `device`, from the parameters in `record`.
fn losses_on(device: Device, record: &[u8]) -> Vec<f32> {
    let cfg = config(&["model.encoder.dropout=0.0"]);
    let device = device.autodiff();
    let splits = prepare_data(&cfg).unwrap();
    let tasks = cfg.task_specs();
    let fresh = init_state(&cfg, &device);
    let rec = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(record.to_vec())).unwrap();
    let mut state = fresh.load_record(rec);
    let mut optim = build_optimizer(&cfg.train.optimizer);
    let mut out = Vec::new();
    for epoch in 0..4 {
        let order = epoch_permutation(splits.train.len(), 3, epoch);
        for b in batch_indices(&order, 64, true).into_iter().take(8) {
            let batch = MultiTaskBatch::gather(&splits.train, b, &device);
            let (g, report) = train_step(&mut state, &batch, &tasks, &ctx(WeightingInput::Losses));
            out.extend(report.losses.into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
            state = optim.step(3e-3, state, g);
        }
    }
    out
}

/// flex and ndarray run the same network from the same weights on the same batches. They
/// differ only in float summation order (matmul blocking, reductions): f32 rounding is
/// ~6e-8 relative per operation, and 28 Adam steps amplify it; we allow 1e-3 relative to the
/// loss, far below any real disagreement (a wrong op changes losses at the 1e-1 level).
#[test]
fn flex_and_ndarray_give_the_same_losses() {
    let _serial = common::serial();
    let cfg = config(&["model.encoder.dropout=0.0"]);
    let init = init_state(&cfg, &ndarray());
    let record = init.into_record().into_bytes().unwrap().to_vec();
    let reference = losses_on(ndarray(), &record);
    let mut backends = vec![("flex", Device::flex())];
    if std::env::var("MTL_TEST_WGPU").is_ok_and(|v| v == "1") {
        backends.push(("wgpu", wgpu_device()));
    }
    for (name, device) in backends {
        let other = losses_on(device, &record);
        let worst =
            reference.iter().zip(&other).map(|(a, b)| (a - b).abs() / a.abs().max(1e-3)).fold(0.0, f32::max);
        eprintln!("{name}: max relative loss difference {worst:e} over {} losses", other.len());
        assert!(worst < 1e-3, "{name} differs from ndarray by {worst}");
    }
}

/// A real GPU, else the software adapter of OpenGL (Mesa 22.3's lavapipe crashes compiling
/// Burn's SPIR-V kernels; see tests/backends.rs of the app).
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Device {
    use mtl_train::backend::{AdapterKind, Api, BackendChoice, adapters_for, select_device};
    let adapters = adapters_for(BackendChoice::Wgpu);
    let index = match adapters.iter().any(|a| a.kind != AdapterKind::Software) {
        true => None,
        false => adapters.iter().position(|a| a.api == Api::Gl),
    };
    select_device(BackendChoice::Wgpu, index).unwrap().device
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Device {
    panic!("MTL_TEST_WGPU=1 needs the wgpu feature (cargo test --features mtl-train/wgpu)")
}
