//! # walfs-sim
//!
//! A deterministic crash simulator for walfs. It drives the *real* engine
//! ([`walfs_core::wal::WalEngine`], the code the `walfs` crate runs) over a simulated disk that
//! crashes, and checks every recovery against a model of what was acknowledged.
//!
//! ## Durability model
//!
//! Every file has a **volatile** image (what the process reads and writes: the page cache) and
//! a **durable** image (what survives a crash), and a dirty flag per 512-byte sector, grouped in
//! 4 KiB pages.
//!
//! - `write_at` changes the volatile image and marks sectors dirty.
//! - `persist(range)` (msync) moves every dirty sector of the pages touching `range` (rounded
//!   out to pages) to the durable image; `sync` (fsync) moves all of the file's dirty sectors.
//! - The directory has a volatile and a durable namespace. Creating a segment, replacing an
//!   index file (a temporary file written and fsynced, then renamed) and removing files change
//!   only the volatile one; `sync_dir` makes every pending operation durable.
//! - [`SimStorage::crash`] builds the next durable state from a seed: each dirty page is kept
//!   whole, dropped, or torn (each of its dirty sectors new, old, or split at any byte with the
//!   unwritten part old bytes or garbage); pages are independent (mmap write-back has no order);
//!   each pending directory operation survives or not, on its own. Then volatile := durable.
//!   Bytes written but not persisted are the only bytes a crash changes.
//! - That is [`CrashMode::PageSubset`]. The swarm draw picks [`CrashMode::Prefix`] for about one
//!   run in four: the writes since the last barrier survive in write order up to a random point
//!   (the write at that point cut between two of its sectors), as a pwrite-like user of the
//!   storage would see.
//!
//! Injected faults, at seeded points ([`storage::FaultConfig`]): `persist`, `sync` or
//! `sync_dir` fails with an I/O error and the failed pages are marked clean *without* reaching
//! the durable image (so a later sync "succeeds": the engine must be poisoned already);
//! `create_segment` fails with `NoSpace`; a bit flips in acknowledged data below a segment's
//! durable watermark (latent corruption: open, or a read, must report it).
//!
//! Sectors are atomic in the default crash model: a dirty sector comes back old or new, never
//! mixed. That is the assumption walfs documents (`SQLite`'s "powersafe overwrite"; `PostgreSQL`
//! makes it too). `WALFS_SIM_TEARS=byte` (or [`storage::TearModel::AnyByte`]) tears sectors at any
//! byte, the rest old bytes or garbage. In that model the simulator shows a known limit: the
//! durable watermark covering the records of a sync reaches the disk with the *next* sync, so a
//! record acknowledged by the latest sync can be lost without a corruption report if a later
//! write tears its sector (replay: `WALFS_SIM_TEARS=byte WALFS_SIM_SEED=1000092 WALFS_SIM_RUNS=1
//! cargo run -p walfs-sim --release`). Closing it would cost a second fsync per sync.
//!
//! ## What is checked after every recovery
//!
//! Every record acknowledged durable (appended before a `sync` that returned `Ok`) is present,
//! intact, at its position and log index; the recovered log is a prefix of what was written, in
//! order, without holes; no truncated or retired record comes back; a crash in the middle of an
//! operation recovers to the log before it or after it; latent corruption below the watermark
//! is reported, never dropped; after a failed barrier every change fails until reopen; the
//! engine never panics. A violation prints its seed and the command that replays it.
//!
//! ## Crash-testing your own code
//!
//! [`SimStorage`] is a [`walfs_core::storage::Storage`]: open a `WalEngine` on a clone of it,
//! run your code, drop the engine, crash, reopen and check your invariants.
//!
//! ```
//! use walfs_core::wal::{WalEngine, WalOptions};
//! use walfs_sim::SimStorage;
//!
//! let disk = SimStorage::new();
//! let options = WalOptions { segment_size: 64 * 1024, ..WalOptions::default() };
//! for seed in 0..100 {
//!     let (mut wal, _) = WalEngine::open(disk.clone(), options)?;
//!     let acked = wal.append(format!("record {seed}").as_bytes(), 0)?;
//!     wal.sync()?; // acknowledged: must survive any crash from here on
//!     wal.append(b"not acknowledged", 0)?; // may or may not survive
//!     drop(wal); // the process dies...
//!     disk.crash(seed); // ...and so does the machine
//!     let (mut wal, _) = WalEngine::open(disk.clone(), options)?;
//!     wal.read(acked)?; // still there, CRC checked
//! }
//! # Ok::<(), walfs_core::Error<walfs_sim::SimError>>(())
//! ```
//!
//! ## Seeds
//!
//! `WALFS_SIM_SEED` (first seed) and `WALFS_SIM_RUNS` (how many) select the runs of the tests
//! and of the `walfs-sim` binary; see [`seeds_from_env`]. `WALFS_SIM_CHECK_DETERMINISM=1` runs
//! every seed twice and compares a hash of the operation and fault trace and of the final
//! durable image ([`run_twice`]). Every seed that ever failed is listed in
//! `sim/tests/regressions.txt` and replayed first ([`replay_regressions`]).
//!
//! ## Negative controls
//!
//! Built with `RUSTFLAGS="--cfg walfs_negative_controls"`, the engine can switch off each of its
//! durability barriers (`walfs_core::barrier`), and `tests/negative_controls.rs` checks that the
//! simulator catches every one of them within a bounded number of seeds.
#![forbid(unsafe_code)]

pub mod oracle;
pub mod rng;
pub mod storage;
pub mod workload;

use std::time::Instant;

pub use rng::SplitMix64;
pub use storage::{CrashMode, Disk, FaultConfig, SimError, SimRegion, SimStorage, TearModel};
pub use workload::{
    Config, Stats, Violation, run_exhaustive, run_exhaustive_with, run_random, run_with,
};

/// The seeds `start..start + runs`, from `WALFS_SIM_SEED` and `WALFS_SIM_RUNS` when set (with
/// only `WALFS_SIM_SEED`, that one seed).
pub fn seeds_from_env(default_start: u64, default_runs: u64) -> std::ops::Range<u64> {
    let parse = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match (parse("WALFS_SIM_SEED"), parse("WALFS_SIM_RUNS")) {
        (Some(seed), runs) => seed..seed + runs.unwrap_or(1),
        (None, Some(runs)) => default_start..default_start + runs,
        (None, None) => default_start..default_start + default_runs,
    }
}

/// The figures of a set of runs and the violations found.
#[derive(Debug, Default)]
pub struct Summary {
    /// Figures summed over the runs.
    pub stats: Stats,
    /// Every violation, with its seed.
    pub violations: Vec<Violation>,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl Summary {
    /// One line of figures: runs, crash states explored, faults injected, states per second.
    pub fn figures(&self, label: &str) -> String {
        let s = &self.stats;
        // Float formatting of counters: precision loss above 2^52 does not matter here.
        #[allow(clippy::cast_precision_loss)]
        let per_second = s.crash_states as f64 / self.seconds.max(1e-9);
        format!(
            "walfs-sim {label}: {} runs, {} ops, {} crash states explored ({} mid-operation), \
             {} faults injected ({} bit flips, {} reported as corruption), {} storage events, \
             {:.1} s, {per_second:.0} states/s, {} violations",
            s.runs,
            s.ops,
            s.crash_states,
            s.mid_op_crashes,
            s.faults,
            s.bit_flips,
            s.corruption_reported,
            s.events,
            self.seconds,
            self.violations.len()
        )
    }
}

/// Whether `WALFS_SIM_CHECK_DETERMINISM=1` asks to run every seed twice and compare.
pub fn determinism_check_from_env() -> bool {
    std::env::var("WALFS_SIM_CHECK_DETERMINISM").is_ok_and(|v| v.trim() == "1")
}

/// The hash of a run's operation and fault trace and final durable image (of its violation's
/// run, if it failed), with the violation's message.
fn run_fingerprint(outcome: &Result<Stats, Violation>) -> (u64, Option<&str>) {
    match outcome {
        Ok(stats) => (stats.trace_hash, None),
        Err(violation) => (violation.trace_hash, Some(violation.message.as_str())),
    }
}

/// Runs `seed` twice with `run` and compares the hashes of the two runs' operation and fault
/// traces and final durable images: a difference is a violation (the simulator, or the engine,
/// depends on something besides the seed).
pub fn run_twice(
    seed: u64,
    run: impl Fn(u64) -> Result<Stats, Violation>,
) -> Result<Stats, Violation> {
    let first = run(seed);
    let second = run(seed);
    let (first_hash, first_message) = run_fingerprint(&first);
    let (second_hash, second_message) = run_fingerprint(&second);
    if first_hash == second_hash && first_message == second_message {
        return first;
    }
    Err(Violation {
        seed,
        message: format!(
            "not deterministic: two runs of the seed differ (trace hashes {first_hash:#018x} and \
             {second_hash:#018x}; outcomes {first_message:?} and {second_message:?})"
        ),
        trace: Vec::new(),
        crash_states: first.map_or_else(|v| v.crash_states, |stats| stats.crash_states),
        trace_hash: first_hash,
    })
}

/// Which test a regression seed belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegressionKind {
    /// `random_seeds`: [`run_random`] (or [`run_with`] with the line's tear model).
    Random,
    /// `exhaustive_small_workloads`: [`run_exhaustive`].
    Exhaustive,
}

/// A seed that once failed, from `sim/tests/regressions.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regression {
    /// The test it failed in.
    pub kind: RegressionKind,
    /// The seed.
    pub seed: u64,
    /// The tear model it failed with (`tears=byte` or `tears=sector` on its line); the
    /// environment's otherwise.
    pub tears: Option<TearModel>,
    /// The line's comment.
    pub note: String,
}

impl Regression {
    /// Runs the seed (as its test would, with its tear model).
    pub fn run(&self) -> Result<Stats, Violation> {
        let tears = self.tears.unwrap_or_else(workload::tear_model_from_env);
        match self.kind {
            RegressionKind::Random => run_with(
                self.seed,
                Config {
                    tears,
                    ..Config::swarm(self.seed)
                },
            ),
            RegressionKind::Exhaustive => run_exhaustive_with(
                self.seed,
                Config {
                    tears,
                    ..Config::small(self.seed)
                },
            ),
        }
    }
}

/// A line of `regressions.txt` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegressionLineError {
    /// Line number, from 1.
    pub line: usize,
    /// The line.
    pub text: String,
}

impl std::fmt::Display for RegressionLineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "regressions.txt line {}: expected `random|exhaustive <seed> [tears=byte|sector] \
             # note`, found {:?}",
            self.line, self.text
        )
    }
}

impl std::error::Error for RegressionLineError {}

/// The seeds that ever failed (`sim/tests/regressions.txt`, compiled in): one per line,
/// `random|exhaustive <seed> [tears=byte|sector] # what it found`; blank lines and lines
/// starting with `#` are skipped.
pub fn regressions() -> Result<Vec<Regression>, RegressionLineError> {
    parse_regressions(include_str!("../tests/regressions.txt"))
}

/// Parses the text of a regressions file (see [`regressions`]).
pub fn parse_regressions(text: &str) -> Result<Vec<Regression>, RegressionLineError> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let (fields, note) = line.split_once('#').unwrap_or((line, ""));
        let mut words = fields.split_whitespace();
        let Some(kind) = words.next() else {
            continue;
        };
        let bad = || RegressionLineError {
            line: index + 1,
            text: line.to_string(),
        };
        let kind = match kind {
            "random" => RegressionKind::Random,
            "exhaustive" => RegressionKind::Exhaustive,
            _ => return Err(bad()),
        };
        let seed = words
            .next()
            .and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let tears = match words.next() {
            None => None,
            Some("tears=byte") => Some(TearModel::AnyByte),
            Some("tears=sector") => Some(TearModel::SectorAtomic),
            Some(_) => return Err(bad()),
        };
        if words.next().is_some() {
            return Err(bad());
        }
        out.push(Regression {
            kind,
            seed,
            tears,
            note: note.trim().to_string(),
        });
    }
    Ok(out)
}

/// Replays the regression seeds of `kind` (every seed that ever failed there) and sums the
/// figures; with `WALFS_SIM_CHECK_DETERMINISM=1` each runs twice.
///
/// # Panics
///
/// If `regressions.txt` does not parse.
pub fn replay_regressions(kind: RegressionKind) -> Summary {
    let seeds = regressions().unwrap_or_else(|error| panic!("{error}"));
    let seeds: Vec<Regression> = seeds.into_iter().filter(|r| r.kind == kind).collect();
    let started = Instant::now();
    let mut summary = Summary::default();
    let check_determinism = determinism_check_from_env();
    with_quiet_panics(|| {
        for regression in &seeds {
            let outcome = if check_determinism {
                run_twice(regression.seed, |_| regression.run())
            } else {
                regression.run()
            };
            match outcome {
                Ok(stats) => summary.stats.add(&stats),
                Err(violation) => summary.violations.push(violation),
            }
        }
    });
    summary.seconds = started.elapsed().as_secs_f64();
    summary
}

/// Runs `f` with the default panic message switched off (the engine's panics are caught and
/// reported as violations; keep their message from flooding the output).
fn with_quiet_panics<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(hook);
    out
}

/// Runs `run` for every seed of `seeds` and sums the figures; stops after `max_violations`.
/// With `WALFS_SIM_CHECK_DETERMINISM=1`, each seed runs twice ([`run_twice`]).
pub fn explore(
    seeds: std::ops::Range<u64>,
    max_violations: usize,
    run: impl Fn(u64) -> Result<Stats, Violation>,
) -> Summary {
    if determinism_check_from_env() {
        explore_runs(seeds, max_violations, |seed| run_twice(seed, &run))
    } else {
        explore_runs(seeds, max_violations, run)
    }
}

/// [`explore`] without the environment: runs `run` for every seed of `seeds`.
pub fn explore_runs(
    seeds: std::ops::Range<u64>,
    max_violations: usize,
    run: impl Fn(u64) -> Result<Stats, Violation>,
) -> Summary {
    let started = Instant::now();
    let mut summary = Summary::default();
    with_quiet_panics(|| {
        for seed in seeds {
            match run(seed) {
                Ok(stats) => summary.stats.add(&stats),
                Err(violation) => {
                    summary.violations.push(violation);
                    if summary.violations.len() >= max_violations {
                        break;
                    }
                }
            }
        }
    });
    summary.seconds = started.elapsed().as_secs_f64();
    summary
}
