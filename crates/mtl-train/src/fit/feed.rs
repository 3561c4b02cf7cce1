//! Where each step's batches come from (`train.device_data`): formed on the device from a
//! resident copy of the training split, gathered on the host by a background thread one step
//! ahead, or gathered on the host between steps. Every way gives the same batches in the same
//! order, so the choice changes speed, never the numbers. A streamed training split is read,
//! shuffled and batched by a background thread, one step ahead.

use std::ops::Range;
use std::sync::mpsc;

use burn::tensor::Device;
use mtl_data::{DataError, DeviceOrder, HostBatch, MultiTaskBatch, MultiTaskDataset, ResidentSplit};

use super::data::{SplitData, Streamed};
use crate::error::Error;

use crate::backend::SelectedDevice;
use crate::config::RunConfig;
use crate::config::schema::DeviceData;

/// The default budget where the device does not report its memory.
const DEFAULT_BUDGET: u64 = 1 << 30;

/// One batch of a step: positions `global` of the epoch's order are the step's global batch,
/// and this batch is its part `part` (relative to `global`); `share`: the batch carries its
/// [`BatchShare`] (data-parallel runs and fixed parts).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Slice {
    pub global: Range<usize>,
    pub part: Range<usize>,
    pub share: bool,
}

/// How the run feeds its steps, decided once.
#[derive(Debug)]
pub(super) enum Feed {
    /// The training split on the device.
    Resident(Box<ResidentSplit>),
    /// Gathered by a background thread.
    Prefetch,
    /// Gathered between steps.
    Host,
    /// Read from the file, shuffled and batched by a background thread: one step ahead
    /// (`ahead`), or only while the training thread waits for the step's batches (a CPU backend:
    /// reading beside a step would take a core from it).
    Stream(Box<Streamed>, bool),
}

/// What a streamed epoch's shuffle depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct EpochShuffle {
    pub seed: u64,
    pub epoch: usize,
    pub batch_size: usize,
    pub drop_last: bool,
}

impl Feed {
    /// Choose (and for residency, upload) as `train.device_data` says; the line says what
    /// was chosen and why, for the banner.
    pub fn new(config: &RunConfig, data: &SplitData, device: &SelectedDevice) -> (Self, String) {
        let data = match data {
            SplitData::Memory(d) => d,
            SplitData::Stream(s) => {
                let ahead = match config.train.device_data {
                    DeviceData::Prefetch => true,
                    DeviceData::Auto => !device.is_cpu(),
                    DeviceData::Resident | DeviceData::Host => false,
                };
                let how = match ahead {
                    true => "one step ahead of training",
                    false => {
                        "between steps (a CPU backend: reading beside a step slows it; train.device_data = \"prefetch\" reads ahead)"
                    }
                };
                let note = format!(
                    "training batches streamed from `{}`: read, shuffled and batched by a background thread {how}",
                    s.stream.path().display()
                );
                return (Feed::Stream(s.clone(), ahead), note);
            }
        };
        let bytes = ResidentSplit::bytes(data);
        let budget = config.train.device_data_budget.unwrap_or(match device.memory {
            Some(memory) => memory / 4,
            None => DEFAULT_BUDGET,
        });
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let resident =
            || Feed::Resident(Box::new(ResidentSplit::upload(data, &device.device.clone().autodiff())));
        match config.train.device_data {
            // The CPU backends' "device" is the host: a second copy of the split buys nothing
            // (measured: a row gather is as fast as `select`, BENCHMARKS.md).
            DeviceData::Auto if device.is_cpu() => {
                (Feed::Host, "training data gathered on the host between steps (a CPU backend)".into())
            }
            DeviceData::Auto if bytes <= budget => (
                resident(),
                format!(
                    "training data resident on the device ({:.1} MiB, budget {:.0} MiB)",
                    mib(bytes),
                    mib(budget)
                ),
            ),
            DeviceData::Auto => (
                Feed::Prefetch,
                format!(
                    "training data prefetched by a background thread ({:.1} MiB exceeds the device_data budget of {:.0} MiB)",
                    mib(bytes),
                    mib(budget)
                ),
            ),
            DeviceData::Resident => (
                resident(),
                format!("training data resident on the device ({:.1} MiB, as asked)", mib(bytes)),
            ),
            DeviceData::Prefetch => {
                (Feed::Prefetch, "training data prefetched by a background thread (as asked)".into())
            }
            DeviceData::Host => {
                (Feed::Host, "training data gathered on the host between steps (as asked)".into())
            }
        }
    }
}

/// The batch `slice` of `order`, gathered on the host.
fn gather(data: &MultiTaskDataset, order: &[usize], slice: &Slice) -> HostBatch {
    let global = &order[slice.global.clone()];
    match slice.share {
        true => HostBatch::gather_part(data, global, slice.part.clone()),
        false => HostBatch::gather(data, &global[slice.part.clone()]),
    }
}

/// An epoch's batches, in step order: `next()` gives step k's batches.
pub(super) struct EpochBatches<'a> {
    data: Option<&'a MultiTaskDataset>,
    order: &'a [usize],
    device: &'a Device,
    steps: std::vec::IntoIter<Vec<Slice>>,
    source: Source<'a>,
}

enum Source<'a> {
    Resident(&'a ResidentSplit, Box<DeviceOrder>),
    Prefetched(mpsc::Receiver<Vec<HostBatch>>),
    Host,
    /// The batches, and where the producer waits for the request of each step (between-steps
    /// reading).
    Streamed(mpsc::Receiver<Result<Vec<HostBatch>, DataError>>, Option<mpsc::SyncSender<()>>),
}

impl<'a> EpochBatches<'a> {
    /// Feed the `steps` (each a list of slices) of `order` from `feed`. A prefetching feed
    /// starts its thread in `scope`; it gathers one step ahead on the host (a channel of one)
    /// and stops when this value is dropped; the upload happens on the training thread (an
    /// OpenGL device belongs to the thread that uses it).
    pub fn new<'s>(
        scope: &'s std::thread::Scope<'s, 'a>,
        feed: &'a Feed,
        data: &'a SplitData,
        order: &'a [usize],
        device: &'a Device,
        steps: Vec<Vec<Slice>>,
        shuffle: EpochShuffle,
    ) -> Self {
        let data = data.in_memory();
        let source = match (feed, data) {
            (Feed::Stream(streamed, ahead), _) => {
                let (send, receive) = mpsc::sync_channel(1);
                let (ask, asked) = match ahead {
                    true => (None, None),
                    false => {
                        let (ask, asked) = mpsc::sync_channel(1);
                        (Some(ask), Some(asked))
                    }
                };
                let plan = steps.clone();
                scope.spawn(move || stream_epoch(streamed, plan, shuffle, send, asked));
                Source::Streamed(receive, ask)
            }
            (_, None) => unreachable!("a split in memory has a feed in memory"),
            (Feed::Resident(split), _) => Source::Resident(split, Box::new(split.order(order))),
            (Feed::Host, _) => Source::Host,
            (Feed::Prefetch, Some(data)) => {
                let (send, receive) = mpsc::sync_channel(1);
                let plan = steps.clone();
                scope.spawn(move || {
                    for slices in plan {
                        let batches = slices.iter().map(|s| gather(data, order, s)).collect();
                        // The receiver is gone when the epoch ends early (an error): stop.
                        if send.send(batches).is_err() {
                            return;
                        }
                    }
                });
                Source::Prefetched(receive)
            }
        };
        Self { data, order, device, steps: steps.into_iter(), source }
    }
}

impl Iterator for EpochBatches<'_> {
    type Item = Result<Vec<MultiTaskBatch>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let slices = self.steps.next()?;
        let data = || self.data.expect("a feed in memory has its split");
        Some(Ok(match &self.source {
            Source::Streamed(receive, ask) => {
                // A producer that stopped (an error) no longer hears requests; its message waits.
                if let Some(ask) = ask {
                    let _ = ask.send(());
                }
                match receive.recv() {
                    Ok(Ok(batches)) => batches.into_iter().map(|b| b.upload(self.device)).collect(),
                    Ok(Err(e)) => return Some(Err(e.into())),
                    Err(_) => {
                        return Some(Err(DataError::InvalidSetting {
                            key: "data".into(),
                            message: "the streaming reader stopped before the epoch's last batch".into(),
                        }
                        .into()));
                    }
                }
            }
            Source::Resident(split, on_device) => (slices.iter())
                .map(|s| {
                    split.part_batch(
                        data(),
                        (self.order, on_device),
                        s.global.clone(),
                        s.part.clone(),
                        s.share,
                    )
                })
                .collect(),
            Source::Prefetched(receive) => (receive.recv().expect("the prefetch thread gathers every step"))
                .into_iter()
                .map(|b| b.upload(self.device))
                .collect(),
            Source::Host => {
                slices.iter().map(|s| gather(data(), self.order, s).upload(self.device)).collect()
            }
        }))
    }
}

/// Read one epoch of `streamed` and send each step's batches (the slices of `plan`, of the
/// global batches the shuffle gives) to `send`, or the error that stopped it. With `asked`,
/// the work for each step starts when its request comes (and stops when the requests end).
fn stream_epoch(
    streamed: &Streamed,
    plan: Vec<Vec<Slice>>,
    shuffle: EpochShuffle,
    send: mpsc::SyncSender<Result<Vec<HostBatch>, DataError>>,
    asked: Option<mpsc::Receiver<()>>,
) {
    let wait = || asked.as_ref().is_none_or(|a| a.recv().is_ok());
    if !wait() {
        return;
    }
    let mut steps = plan.into_iter();
    let mut planned = true;
    let read = streamed.stream.shuffled(
        streamed.buffer,
        shuffle.seed,
        shuffle.epoch,
        shuffle.batch_size,
        shuffle.drop_last,
        &mut |chunk| streamed.training_chunk(chunk),
        &mut |global| {
            let Some(slices) = steps.next().filter(|s| s.iter().all(|s| s.global.len() == global.len()))
            else {
                planned = false;
                return false;
            };
            let order: Vec<usize> = (0..global.len()).collect();
            let batches = (slices.iter())
                .map(|s| gather(&global, &order, &Slice { global: 0..global.len(), ..s.clone() }))
                .collect();
            // The receiver is gone when the epoch ends early (an error): stop.
            send.send(Ok(batches)).is_ok() && wait()
        },
    );
    let failed = match read {
        Err(e) => Some(e),
        Ok(()) if !planned || steps.next().is_some() => Some(DataError::InvalidSetting {
            key: "data".into(),
            message: format!(
                "`{}` gave another number of training rows than when the run started; keep a streamed file unchanged during training",
                streamed.stream.path().display()
            ),
        }),
        Ok(()) => None,
    };
    if let Some(e) = failed {
        let _ = send.send(Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendChoice;

    fn config(extra: &str) -> RunConfig {
        let text = format!("[[tasks]]\nname = \"y\"\nkind = \"regression\"\n[train]\n{extra}\n");
        RunConfig::from_toml(std::path::Path::new("<test>"), &text, &[]).unwrap()
    }

    fn data(rows: usize) -> SplitData {
        SplitData::Memory(MultiTaskDataset {
            features: vec![0.5; rows * 3],
            num_features: 3,
            ids: Vec::new(),
            num_ids: 0,
            targets: vec![vec![1.0; rows]],
            masks: vec![vec![1.0; rows]],
            tasks: Vec::new(),
            groups: None,
            target_scales: Vec::new(),
            truth: Vec::new(),
        })
    }

    /// A GPU as the feed sees it (the tensors live on ndarray here).
    fn gpu(memory: Option<u64>) -> SelectedDevice {
        SelectedDevice {
            device: Device::ndarray(),
            backend: BackendChoice::Vulkan,
            description: "gpu".into(),
            memory,
        }
    }

    fn kind(feed: &Feed) -> &'static str {
        match feed {
            Feed::Resident(_) => "resident",
            Feed::Prefetch => "prefetch",
            Feed::Host => "host",
            Feed::Stream(..) => "stream",
        }
    }

    #[test]
    fn auto_keeps_the_split_on_a_gpu_when_it_fits_a_quarter_of_its_memory() {
        // 100 rows × (3 features + 2) × 4 bytes = 2000 bytes.
        let d = data(100);
        let auto = config("");
        assert_eq!(kind(&Feed::new(&auto, &d, &gpu(Some(8000))).0), "resident");
        let (feed, note) = Feed::new(&auto, &d, &gpu(Some(7996)));
        assert_eq!(kind(&feed), "prefetch");
        assert!(note.contains("exceeds the device_data budget"), "{note}");
        // Unknown memory: 1 GiB.
        assert_eq!(kind(&Feed::new(&auto, &d, &gpu(None)).0), "resident");
        // The budget key wins over the device's memory.
        assert_eq!(
            kind(&Feed::new(&config("device_data_budget_mb = 0"), &d, &gpu(Some(1 << 40))).0),
            "prefetch"
        );
    }

    #[test]
    fn the_cpu_gathers_on_the_host_unless_told_otherwise() {
        let d = data(10);
        let cpu = SelectedDevice {
            device: Device::ndarray(),
            backend: BackendChoice::Ndarray,
            description: "ndarray".into(),
            memory: None,
        };
        assert_eq!(kind(&Feed::new(&config(""), &d, &cpu).0), "host");
        for (key, want) in [("resident", "resident"), ("prefetch", "prefetch"), ("host", "host")] {
            let c = config(&format!("device_data = \"{key}\""));
            assert_eq!(kind(&Feed::new(&c, &d, &cpu).0), want);
            assert_eq!(kind(&Feed::new(&c, &d, &gpu(Some(1))).0), want);
        }
    }
}
