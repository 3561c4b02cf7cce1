//! Data-parallel training: the processes of one job (an MPI world) and the few collectives the
//! trainer needs. A [`World`] of one process (no launcher, or a build without the `mpi`
//! feature) makes every collective the identity, so the single-process path is the N = 1 case
//! of the same code.
//!
//! How a step is shared (see `step.rs`): the global batch of `train.batch_size` samples is cut
//! into contiguous, near-equal parts, one per rank ([`World::part`]); every task loss is the
//! rank's part of the global masked mean (its masked sum over the global batch's label weight,
//! [`mtl_data::BatchShare`]), so sums over ranks are the single-process values. Everything a
//! weighting method reads (losses, gradient matrices, the losses after a step) is reduced
//! before the method runs, so its state evolves identically on every rank.
//!
//! Only `mpi.rs` names the `mpi` crate.

#[cfg(feature = "mpi")]
mod mpi;

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use burn::tensor::Device;
use mtl_data::{MultiTaskBatch, MultiTaskDataset};

use crate::error::Error;

/// What a world of several processes can do; implemented over MPI in `mpi.rs`.
trait Collective {
    /// Element-wise sum over the ranks, in place.
    fn sum_f32(&self, buf: &mut [f32]);
    /// Element-wise sum over the ranks, in place.
    fn sum_f64(&self, buf: &mut [f64]);
    /// The largest of the ranks' values.
    fn max_u64(&self, value: u64) -> u64;
    /// Every rank's `local`, concatenated in rank order; `counts[r]` is rank r's length.
    fn gather_f32(&self, local: &[f32], counts: &[usize]) -> Vec<f32>;
    /// Every rank's bytes, in rank order (lengths may differ).
    fn gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>>;
    /// End every process of the job with `code`.
    fn abort(&self, code: i32) -> !;
}

/// The processes of this job, and this process's place among them.
#[derive(Clone)]
pub struct World {
    rank: usize,
    size: usize,
    local_rank: usize,
    local_size: usize,
    host: String,
    /// MPI handles belong to the thread that initialised MPI: not `Send`, hence `Rc`.
    comm: Option<Rc<dyn Collective>>,
    /// Nanoseconds spent in collectives (for the step-time breakdown).
    comm_ns: Arc<AtomicU64>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "World(rank {} of {}, local {} of {} on {})",
            self.rank, self.size, self.local_rank, self.local_size, self.host
        )
    }
}

impl Default for World {
    fn default() -> Self {
        Self::single()
    }
}

/// Environment variables that MPI launchers set in every process they start: Open MPI's
/// `mpirun`, PMIx (Open MPI 5, `srun --mpi=pmix`), MPICH/Hydra and Intel MPI's PMI.
const LAUNCHER_VARIABLES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"];

/// Whether this process was started by an MPI launcher.
pub fn launched_by_mpi() -> bool {
    LAUNCHER_VARIABLES.iter().any(|v| std::env::var_os(v).is_some())
}

impl World {
    /// One process, no communication.
    pub fn single() -> Self {
        Self {
            rank: 0,
            size: 1,
            local_rank: 0,
            local_size: 1,
            host: hostname(),
            comm: None,
            comm_ns: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The job this process belongs to: the MPI world when an MPI launcher started it (and
    /// the build has the `mpi` feature), else one process. Call once, at start-up; the world
    /// ends (MPI is finalised) when the last clone is dropped.
    pub fn from_environment() -> Result<Self, Error> {
        if !launched_by_mpi() {
            return Ok(Self::single());
        }
        #[cfg(feature = "mpi")]
        {
            mpi::init()
        }
        #[cfg(not(feature = "mpi"))]
        {
            // Several copies of a build without MPI would each train the whole model alone
            // and fight over one run folder.
            let size = std::env::var("OMPI_COMM_WORLD_SIZE")
                .or_else(|_| std::env::var("PMI_SIZE"))
                .ok()
                .and_then(|s| s.parse::<usize>().ok());
            match size {
                Some(1) => Ok(Self::single()),
                _ => Err(Error::Usage(
                    "this mtl was started by an MPI launcher (mpirun/srun) but built without MPI; rebuild \
                     with `cargo build --release --features mpi` (needs libopenmpi-dev and libclang-dev), or \
                     run it without mpirun"
                        .into(),
                )),
            }
        }
    }

    /// This process's rank, 0-based.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// This process's rank among the processes on its machine (picks its GPU).
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// The number of this job's processes on this machine.
    pub fn local_size(&self) -> usize {
        self.local_size
    }

    /// The machine's name, as MPI reports it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// More than one process.
    pub fn is_parallel(&self) -> bool {
        self.size > 1
    }

    /// Rank 0 alone writes files and prints progress.
    pub fn is_writer(&self) -> bool {
        self.rank == 0
    }

    /// `rank r of N` for messages (empty for one process).
    pub fn label(&self) -> String {
        if self.is_parallel() { format!("rank {} of {}", self.rank, self.size) } else { String::new() }
    }

    /// The part of a global batch of `n` samples this rank trains on: contiguous, sizes differ
    /// by at most one, earlier ranks take the larger parts.
    pub fn part(&self, n: usize) -> std::ops::Range<usize> {
        part(n, self.size, self.rank)
    }

    /// This rank's part of the global batch `global` (indices into `data`) on `device`, with its
    /// share of the global batch; the whole batch for one process.
    pub fn rank_batch(&self, data: &MultiTaskDataset, global: &[usize], device: &Device) -> MultiTaskBatch {
        if self.is_parallel() {
            MultiTaskBatch::gather_part(data, global, self.part(global.len()), device)
        } else {
            MultiTaskBatch::gather(data, global, device)
        }
    }

    /// The sizes of every rank's part of `n` samples.
    pub fn part_sizes(&self, n: usize) -> Vec<usize> {
        (0..self.size).map(|r| part(n, self.size, r).len()).collect()
    }

    /// Every part's vector, in part order, from the ranks' own parts (`local`: this rank's
    /// consecutive parts, ranks holding consecutive blocks of parts). One all-gather; the
    /// identity for one process.
    pub fn gather_parts(&self, local: &[Vec<f64>]) -> Vec<Vec<f64>> {
        if !self.is_parallel() {
            return local.to_vec();
        }
        let mut bytes = Vec::new();
        for v in local {
            bytes.extend((v.len() as u64).to_le_bytes());
            v.iter().for_each(|x| bytes.extend(x.to_le_bytes()));
        }
        let mut parts = Vec::new();
        for rank in self.gather_bytes(&bytes) {
            let mut at = 0;
            let word = |at: &mut usize| {
                let w: [u8; 8] = rank[*at..*at + 8].try_into().expect("8 bytes");
                *at += 8;
                w
            };
            while at < rank.len() {
                let n = u64::from_le_bytes(word(&mut at)) as usize;
                parts.push((0..n).map(|_| f64::from_le_bytes(word(&mut at))).collect());
            }
        }
        parts
    }

    /// The sum of every part's vector (all of one length), added in part order: the same
    /// additions in the same order whatever the number of ranks, hence the same bits.
    pub fn ordered_sum(&self, local: &[Vec<f64>]) -> Vec<f64> {
        sum_in_order(self.gather_parts(local))
    }

    /// Seconds spent in collectives so far.
    pub fn comm_seconds(&self) -> f64 {
        self.comm_ns.load(Ordering::Relaxed) as f64 * 1e-9
    }

    fn timed<T>(&self, f: impl FnOnce(&dyn Collective) -> T) -> Option<T> {
        let comm = self.comm.as_ref()?;
        let started = Instant::now();
        let out = f(comm.as_ref());
        self.comm_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Some(out)
    }

    /// Sum `buf` over the ranks, in place (nothing for one process).
    pub fn sum(&self, buf: &mut [f32]) {
        self.timed(|c| c.sum_f32(buf));
    }

    /// Sum `buf` over the ranks, in place (nothing for one process).
    pub fn sum_f64(&self, buf: &mut [f64]) {
        self.timed(|c| c.sum_f64(buf));
    }

    /// Every rank's `local` in rank order; `counts` are the ranks' lengths (`local` for one
    /// process).
    pub fn gather(&self, local: &[f32], counts: &[usize]) -> Vec<f32> {
        self.timed(|c| c.gather_f32(local, counts)).unwrap_or_else(|| local.to_vec())
    }

    /// Every rank's bytes, in rank order.
    pub fn gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        self.timed(|c| c.gather_bytes(local)).unwrap_or_else(|| vec![local.to_vec()])
    }

    /// Make every rank agree on how a phase ended: when any rank failed, every rank returns an
    /// error — its own, or [`Error::Peer`] naming the first failed rank and its exit code. A
    /// collective: every rank must call it at the same point.
    pub fn agree<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        let Some(comm) = &self.comm else { return result };
        let code = match &result {
            Ok(_) => 0,
            Err(e) => e.exit_code().clamp(1, 255) as u64,
        };
        // The largest code wins; among equal codes, the lowest rank.
        let key = comm.max_u64(code << 32 | (u32::MAX as u64 - self.rank as u64));
        let (worst, first) = (key >> 32, u32::MAX as u64 - (key & u32::MAX as u64));
        match result {
            Ok(_) if worst > 0 => Err(Error::Peer { rank: first as usize, code: worst as i32 }),
            other => other,
        }
    }

    /// End the whole job with `code` (every rank stops); for one process, return.
    pub fn abort_job(&self, code: i32) {
        if let Some(comm) = &self.comm {
            comm.abort(code);
        }
    }
}

/// Feed `values` (their little-endian bytes) to the digest `hash`, a block at a time.
pub(crate) fn hash_f32s(hash: &mut sha2::Sha256, values: &[f32]) {
    use sha2::Digest;
    for block in values.chunks(16 * 1024) {
        let bytes: Vec<u8> = block.iter().flat_map(|x| x.to_le_bytes()).collect();
        hash.update(&bytes);
    }
}

/// The element-wise sum of `parts` (all of one length), added in their order.
pub fn sum_in_order(parts: impl IntoIterator<Item = Vec<f64>>) -> Vec<f64> {
    let mut parts = parts.into_iter();
    let mut sum = parts.next().expect("at least one part");
    for p in parts {
        sum.iter_mut().zip(&p).for_each(|(s, x)| *s += x);
    }
    sum
}

/// Part `index` of `n` items cut into `parts` contiguous parts whose sizes differ by at most one
/// (earlier parts take the larger sizes).
pub fn part(n: usize, parts: usize, index: usize) -> std::ops::Range<usize> {
    let (size, rank) = (parts, index);
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// This machine's name (read once).
fn hostname() -> String {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
    .clone()
}

/// The first difference between two texts of `key = value` lines (configs serialised the
/// same way), as `key: A vs B`; `None` when they are equal.
pub fn first_difference(mine: &str, theirs: &str) -> Option<String> {
    if mine == theirs {
        return None;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), theirs.lines().collect());
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or("(nothing)"), b.get(i).copied().unwrap_or("(nothing)"));
        if x != y {
            return Some(format!("`{}` vs `{}`", x.trim(), y.trim()));
        }
    }
    Some("the same lines in another order".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_batch_in_order_and_differ_by_at_most_one() {
        for n in 0..40 {
            for size in 1..6 {
                let parts: Vec<_> = (0..size).map(|r| part(n, size, r)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[size - 1].end, n);
                assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
                let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{n} {size} {lens:?}");
            }
        }
        assert_eq!(part(10, 3, 0), 0..4);
        assert_eq!(part(10, 3, 2), 7..10);
    }

    #[test]
    fn an_ordered_sum_adds_parts_in_order() {
        let w = World::single();
        // (1e16 + 1) − 1e16 = 0 in f64 when added in this order, 1 in the other.
        let parts = vec![vec![1e16, 1.0], vec![1.0, 2.0], vec![-1e16, 3.0]];
        assert_eq!(w.ordered_sum(&parts), vec![0.0, 6.0]);
        assert_eq!(w.gather_parts(&parts), parts);
    }

    #[test]
    fn one_process_is_the_identity() {
        let w = World::single();
        let mut v = [1.0, 2.0];
        w.sum(&mut v);
        assert_eq!(v, [1.0, 2.0]);
        assert_eq!(w.gather(&v, &[2]), vec![1.0, 2.0]);
        assert!(w.agree(Ok::<_, Error>(3)).is_ok());
        assert_eq!(w.label(), "");
    }

    #[test]
    fn the_first_difference_names_both_lines() {
        assert_eq!(first_difference("a = 1\nb = 2\n", "a = 1\nb = 2\n"), None);
        assert_eq!(first_difference("a = 1\nb = 2", "a = 1\nb = 3").unwrap(), "`b = 2` vs `b = 3`");
        assert_eq!(first_difference("a = 1", "a = 1\nc = 4").unwrap(), "`(nothing)` vs `c = 4`");
    }
}
