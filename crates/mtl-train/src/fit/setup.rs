//! What a run needs before its first step: the data splits, the training state (fresh or from
//! the `last` checkpoint), the optimizer, the schedule and the selector.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};
use mtl_data::TaskSpec;
use mtl_model::{parameter_count, parameter_count_of};
use mtl_weighting::WeightingMethod;

use super::data::{RunData, SplitData, data_digest, prepare_run_data, steps_per_epoch};
use super::feed::Feed;
use super::observer::RunStart;
use crate::backend::{SelectedDevice, host_generator};
use crate::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use crate::config::{ConfigError, RunConfig};
use crate::error::{Error, io_error as io};
use crate::lock::{LOCK_FILE, RunLock};
use crate::optimizer::build_optimizer;
use crate::parallel::{World, first_difference};
use crate::schedule::Schedule;
use crate::selection::{Selection, Selector};
use crate::step::TrainState;
use crate::stl::{self, StlReference};

/// How to run a training.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Where to train.
    pub device: SelectedDevice,
    /// Run folder; default `<run.output_dir>/<run.name>`.
    pub run_dir: Option<PathBuf>,
    /// Continue the run in `run_dir` from its `last` checkpoint.
    pub resume: bool,
    /// Replace an existing run folder instead of refusing.
    pub overwrite: bool,
    /// Stop after this many epochs in total, as if interrupted (for tests and time-boxed runs).
    pub stop_after_epoch: Option<usize>,
    /// Single-task baselines to compare with; `None` looks them up by the config's key in
    /// `<run.output_dir>/stl/` (see [`crate::stl`]).
    pub reference: Option<StlReference>,
    /// The processes that train this run together (one by default); rank 0 alone writes.
    pub world: World,
}

impl FitOptions {
    /// Continue the run in `dir` from its last checkpoint when `resume`, else start it afresh
    /// there (replacing what an interrupted earlier start left).
    pub fn continuing(device: SelectedDevice, dir: PathBuf, resume: bool) -> Self {
        Self { run_dir: Some(dir), resume, overwrite: !resume, ..Self::new(device) }
    }

    /// A fresh run on `device` into the config's run folder.
    pub fn new(device: SelectedDevice) -> Self {
        Self {
            device,
            run_dir: None,
            resume: false,
            overwrite: false,
            stop_after_epoch: None,
            reference: None,
            world: World::single(),
        }
    }
}

/// A fresh, fully initialised training state on `device` (autodiff), seeded by the run seed.
///
/// The model's initial parameters are drawn on the CPU by one seeded generator
/// ([`host_generator`]) and then moved to `device`, so the same seed starts every backend —
/// ndarray, flex, a GPU — from the same numbers.
pub fn init_state(config: &RunConfig, device: &Device) -> TrainState {
    let host = host_generator();
    host.seed(config.seed);
    let drawn = config.model.init(&host);
    // Parameters are initialised lazily; draw them now, in a fixed order, so later seeding
    // (dropout) cannot change them.
    drawn.visit(&mut Materialize);
    let bytes = drawn.into_record().into_bytes().expect("a freshly drawn model serialises");
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .expect("a freshly serialised model loads");
    device.seed(config.seed);
    // The model built on `device` is replaced before any of its (lazy) parameters is drawn.
    let state = TrainState {
        model: config.model.init(device).load_record(record),
        weighting: config.weighting.init(config.tasks.len(), device),
    };
    state.visit(&mut Materialize);
    state
}

struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Everything the loop carries from epoch to epoch.
pub(super) struct Run<'c> {
    pub config: &'c RunConfig,
    pub options: &'c FitOptions,
    pub run_dir: PathBuf,
    pub train_data: SplitData,
    pub valid_data: SplitData,
    pub test_data: SplitData,
    /// A streamed run's data digest (see [`RunData::digest`]).
    pub stream_digest: Option<String>,
    pub data_note: Option<String>,
    /// Per trained task, the `(mean, std)` of its standardised targets.
    pub target_scales: Vec<Option<(f64, f64)>>,
    pub class_weights: Vec<Option<Vec<f64>>>,
    pub tasks: Vec<TaskSpec>,
    pub device: Device,
    pub eval_device: Device,
    pub optim: ModuleOptimizer,
    pub meta: CheckpointMeta,
    pub best_state: Option<TrainState>,
    pub reference: Option<StlReference>,
    pub selector: Selector,
    pub schedule: Schedule,
    pub steps_per_epoch: usize,
    pub last_epoch: usize,
    pub lr: f64,
    /// The job's processes (one for a plain run).
    pub world: World,
    /// Per rank, `host: device`, for the banner.
    pub rank_devices: Vec<String>,
    /// Where the steps' batches come from, and the banner's line about it.
    pub feed: Feed,
    pub feed_note: String,
    /// The run folder's lock, held by rank 0 until the run ends.
    _lock: Option<RunLock>,
}

impl<'c> Run<'c> {
    /// Check the data, find the baselines, prepare the folder, and build or restore the state.
    pub fn new(config: &'c RunConfig, options: &'c FitOptions) -> Result<(Self, TrainState), Error> {
        let world = &options.world;
        // Three phases, each ended by every rank learning whether every other rank got through
        // it (none waits for one that stopped): the data and settings; rank 0 taking the run
        // folder (lock, --overwrite, leftovers of a killed write) before any rank reads it; the
        // state, fresh or from the checkpoint.
        let ready = world.agree(Ready::load(config, options))?;
        let lock = world.agree(match world.is_writer() {
            true => prepare_run_dir(&ready.run_dir, options).map(Some),
            false => Ok(None),
        })?;
        let (mut run, state) = world.agree(Self::prepare(config, options, ready, lock))?;
        let mine = format!("{}: {}", world.host(), options.device.description);
        run.rank_devices = world
            .gather_bytes(mine.as_bytes())
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        check_ranks_agree(&run)?;
        Ok((run, state))
    }

    fn prepare(
        config: &'c RunConfig,
        options: &'c FitOptions,
        ready: Ready,
        lock: Option<RunLock>,
    ) -> Result<(Self, TrainState), Error> {
        let world = &options.world;
        let Ready { run_dir, data, reference, mut selector } = ready;
        let RunData { train: train_data, valid: valid_data, test: test_data, class_weights, digest, note } =
            data;
        let device = options.device.device.clone().autodiff();
        let mut state = init_state(config, &device);
        let mut optim = build_optimizer(&config.train.optimizer);
        let mut meta = CheckpointMeta {
            format_version: FORMAT_VERSION,
            epochs_done: 0,
            steps_done: 0,
            selection: Selection::default(),
            seed: config.seed,
            weighting_state: serde_json::Value::Null,
            config: Some(config.toml.clone()),
        };
        if options.resume {
            (state, optim, meta) = resume(&run_dir, state, optim, &config.toml)?;
            selector.resume(config, &meta.selection)?;
            meta.config = Some(config.toml.clone());
        }
        meta.selection.monitor = selector.monitor.name(&config.tasks);
        let steps_per_epoch = steps_per_epoch(config, train_data.len())?;
        let train = &config.train;
        let schedule = Schedule {
            lr: train.lr,
            kind: train.schedule,
            warmup_steps: (train.warmup_epochs * steps_per_epoch as f64).round() as usize,
            total_steps: train.epochs * steps_per_epoch,
        };
        let best_state = if meta.selection.best_epoch > 0 {
            let best = run_dir.join("checkpoints/best");
            Some(checkpoint::load_state(&best, init_state(config, &device), &config.toml)?.0)
        } else {
            None
        };
        let lr = schedule.lr(meta.steps_done, meta.epochs_done, &meta.selection.plateau);
        let (feed, feed_note) = Feed::new(config, &train_data, &options.device);
        let run = Self {
            config,
            options,
            run_dir,
            target_scales: train_data.target_scales(),
            train_data,
            valid_data,
            test_data,
            stream_digest: digest,
            data_note: note,
            class_weights,
            tasks: config.task_specs(),
            eval_device: options.device.device.clone(),
            device,
            optim,
            meta,
            best_state,
            reference,
            selector,
            schedule,
            steps_per_epoch,
            last_epoch: options.stop_after_epoch.map_or(train.epochs, |s| s.min(train.epochs)),
            lr,
            world: world.clone(),
            rank_devices: Vec::new(),
            feed,
            feed_note,
            _lock: lock,
        };
        Ok((run, state))
    }

    pub fn start_event(&self) -> RunStart<'_> {
        RunStart {
            config: self.config,
            run_dir: &self.run_dir,
            resumed: self.options.resume,
            epochs_done: self.meta.epochs_done,
            steps_per_epoch: self.steps_per_epoch,
            epochs: self.config.train.epochs,
            tasks: &self.tasks,
            target_scales: &self.target_scales,
        }
    }

    /// The lines that open a run: what is trained where, and how.
    pub fn banner(&self, state: &TrainState) -> Vec<String> {
        let c = self.config;
        let parameters = parameter_count(&state.model);
        let shared = parameter_count_of(&state.model, &state.model.shared_param_ids());
        let place = if self.world.is_parallel() {
            format!("{} processes", self.world.size())
        } else {
            self.options.device.description.clone()
        };
        let mut lines = vec![format!(
            "training `{}` on {} — {}, {} on a {} encoder, {parameters} parameters ({shared} shared), {} train / {} valid / {} test samples, {} via {}, {}",
            c.name,
            place,
            if self.tasks.len() == 1 { "1 task".to_string() } else { format!("{} tasks", self.tasks.len()) },
            c.model.architecture.name(),
            c.model.architecture.encoder().name(),
            self.train_data.len(),
            self.valid_data.len(),
            self.test_data.len(),
            c.weighting.name(),
            c.weighting_input.name(),
            if c.train.select_last {
                format!(
                    "reporting the last epoch (plateau and logs on {})",
                    self.selector.monitor.name(&c.tasks)
                )
            } else {
                format!("selecting on {}", self.selector.monitor.name(&c.tasks))
            },
        )];
        if let (Some(section), false) = (&c.file.model.chain, c.model.chains.is_empty()) {
            let chains = c.model.chains.iter().map(|chain| {
                chain.iter().map(|&t| c.tasks[t].spec.name.as_str()).collect::<Vec<_>>().join(" → ")
            });
            lines.push(format!(
                "chain {} ({:?}): a later step is trained on the joint event over every row; its tower is reported under \"tower\"",
                chains.collect::<Vec<_>>().join(", "),
                section.kind
            ));
        }
        if self.world.is_parallel() || c.train.parts.is_some() {
            let split = match c.train.parts {
                Some(k) => format!(
                    "cut into {k} fixed parts ({} per rank, summed in part order)",
                    k / self.world.size()
                ),
                None => format!("split {:?} over the ranks", self.world.part_sizes(c.train.batch_size)),
            };
            lines.push(format!(
                "data-parallel: global batch {} {split}; {}",
                c.train.batch_size,
                (self.rank_devices.iter().enumerate())
                    .map(|(r, d)| format!("rank {r} on {d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        lines.extend(self.data_note.clone());
        lines.push(self.feed_note.clone());
        lines.extend(self.selector.note.as_ref().map(|n| format!("note: {n}")));
        for (task, w) in self.tasks.iter().zip(&self.class_weights) {
            if let Some(w) = w {
                let w: Vec<String> = w.iter().map(|v| format!("{v:.3}")).collect();
                lines.push(format!("class weights of `{}`: [{}]", task.name, w.join(", ")));
            }
        }
        if let Some(groups) = self.train_data.groups() {
            let sizes: Vec<usize> =
                (0..self.tasks.len()).map(|t| groups.iter().filter(|&&s| s == t).count()).collect();
            let p = c.sampling.probabilities(&sizes);
            let shares: Vec<String> = (self.tasks.iter().zip(&sizes).zip(&p))
                .map(|((t, n), p)| format!("{} {n} samples → {:.1}%", t.name, p * 100.0))
                .collect();
            lines.push(format!("multi-input sampling ({:?}): {}", c.sampling, shares.join(", ")));
        }
        lines
    }
}

/// What a run has checked before it touches its folder.
struct Ready {
    run_dir: PathBuf,
    data: RunData,
    reference: Option<StlReference>,
    selector: Selector,
}

impl Ready {
    /// The data (checked), the baselines and the selector of `config`.
    fn load(config: &RunConfig, options: &FitOptions) -> Result<Self, Error> {
        let world = &options.world;
        if (world.is_parallel() || config.train.parts.is_some()) && config.affinity.is_some() {
            return Err(Error::Usage(
                "`[affinity]` measurement during training runs in one process on whole batches; train this \
                 config without mpirun and without `train.parts`, or remove the `[affinity]` section"
                    .into(),
            ));
        }
        let run_dir = options.run_dir.clone().unwrap_or_else(|| config.run_dir());
        let data = prepare_run_data(config)?;
        let reference = match &options.reference {
            Some(r) => Some(r.clone()),
            None => stl::find_reference(config)?,
        };
        let selector = Selector::new(config, reference.as_ref())?;
        let train = &data.train;
        if let Some(k) = config.train.parts {
            check_parts(config, train, k, world.size())?;
        } else if world.is_parallel() {
            check_split(config, train, world.size(), "processes")?;
        }
        Ok(Self { run_dir, data, reference, selector })
    }
}

/// Every rank must train the same config on the same data: compare each rank's resolved config
/// and data digest with rank 0's (one all-gather); a difference stops every rank with the same
/// message (exit 2).
fn check_ranks_agree(run: &Run) -> Result<(), Error> {
    let world = &run.world;
    if !world.is_parallel() {
        return Ok(());
    }
    let digest = match (
        &run.stream_digest,
        run.train_data.in_memory(),
        run.valid_data.in_memory(),
        run.test_data.in_memory(),
    ) {
        (None, Some(train), Some(valid), Some(test)) => data_digest(&[train, valid, test]),
        (digest, ..) => digest.clone().unwrap_or_default(),
    };
    let mine = format!("{digest}\n{}", run.config.toml);
    let all = world.gather_bytes(mine.as_bytes());
    let texts: Vec<String> = all.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    for (rank, text) in texts.iter().enumerate().skip(1) {
        let (d0, c0) = texts[0].split_once('\n').unwrap_or((&texts[0], ""));
        let (d, c) = text.split_once('\n').unwrap_or((text, ""));
        if let Some(diff) = first_difference(c0, c) {
            return Err(Error::Ranks(format!(
                "rank {rank} of {} read another config than rank 0 (rank 0 vs rank {rank}: {diff}); every \
                 process must read the same config file with the same --set overrides",
                world.size()
            )));
        }
        if d0 != d {
            return Err(Error::Ranks(format!(
                "rank {rank} of {} (on {}) loaded other data than rank 0 (digest {d} vs {d0}): the data \
                 files differ between the machines; give every process the same files",
                world.size(),
                run.rank_devices.get(rank).map_or("?", |s| s.split(':').next().unwrap_or("?"))
            )));
        }
    }
    Ok(())
}

/// `train.parts` must split among the processes and leave every part a sample.
fn check_parts(config: &RunConfig, data: &SplitData, parts: usize, ranks: usize) -> Result<(), Error> {
    if !parts.is_multiple_of(ranks) {
        return Err(Error::Config(ConfigError::Invalid {
            path: config.source.clone(),
            key: "train.parts".into(),
            message: format!(
                "{parts} parts cannot be shared evenly by {ranks} processes; use a multiple of {ranks} \
                 (every process computes the same number of parts)"
            ),
        }));
    }
    check_split(config, data, parts, "parts")
}

/// Data-parallel training needs every batch to give each rank a sample.
/// (A multi-input epoch's length varies; its batches are checked as they come.)
fn check_split(config: &RunConfig, data: &SplitData, ranks: usize, what: &str) -> Result<(), Error> {
    let train = &config.train;
    let last = data.len() % train.batch_size;
    if train.batch_size < ranks {
        return Err(too_small(config, train.batch_size, ranks, what));
    }
    if last > 0 && last < ranks && !train.drop_last && data.groups().is_none() {
        return Err(too_small(config, last, ranks, what));
    }
    Ok(())
}

/// Make `dir` ready for this run and lock it for the whole run (see [`crate::lock`]); the
/// occupancy checks run under the lock, so two runs cannot both pass them.
fn prepare_run_dir(dir: &Path, options: &FitOptions) -> Result<RunLock, Error> {
    if options.resume && !dir.join("checkpoints").exists() {
        return Err(Error::RunDir {
            path: dir.to_path_buf(),
            message:
                "has no checkpoint to resume from (check the path; a run stopped before its first epoch \
                      ended is started afresh with `mtl train CONFIG --out DIR --overwrite`)"
                    .into(),
        });
    }
    crate::io::create_dir_all(dir)?;
    let lock = RunLock::acquire(dir)?;
    // A process killed mid-write leaves its temporaries; this run owns the folder now.
    crate::io::remove_leftovers(dir, LOCK_FILE)?;
    let occupied = dir.join("metrics.jsonl").exists() || dir.join("checkpoints").exists();
    if occupied && !options.resume {
        if !options.overwrite {
            return Err(Error::RunDir {
                path: dir.to_path_buf(),
                message: "already holds a run; continue it with `mtl train --resume DIR`, replace it with \
                          --overwrite, or choose another `run.name` (e.g. --set run.name=NEW) or --out"
                    .into(),
            });
        }
        // Everything but the lock, which this run holds.
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.file_name().is_some_and(|n| n == LOCK_FILE) {
                continue;
            }
            let removed =
                if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.map_err(io(&path))?;
        }
    }
    Ok(lock)
}

/// The state, optimizer and meta of the run's `last` checkpoint.
fn resume(
    run_dir: &Path,
    state: TrainState,
    optim: ModuleOptimizer,
    config: &str,
) -> Result<(TrainState, ModuleOptimizer, CheckpointMeta), Error> {
    let last = run_dir.join("checkpoints").join("last");
    let (mut state, optim, meta) = checkpoint::load(&last, state, optim, config)?;
    state
        .weighting
        .load_state(&meta.weighting_state)
        .map_err(|message| checkpoint::CheckpointError::Corrupt { path: last.join("state.json"), message })?;
    Ok((state, optim, meta))
}

/// A batch of `n` samples cannot give each of `ranks` processes a sample.
pub(super) fn too_small(config: &RunConfig, n: usize, ranks: usize, what: &str) -> Error {
    Error::Config(ConfigError::Invalid {
        path: config.source.clone(),
        key: "train.batch_size".into(),
        message: format!(
            "a batch of {n} samples cannot be split into {ranks} {what} (each needs a sample); use a \
             batch_size of at least {ranks}, and `train.drop_last = true` when the last batch is smaller"
        ),
    })
}
