//! The workload driver: seeded random operations against the real engine, crashes at seeded
//! points (between operations and in the middle of them), injected faults, and the oracle's
//! checks after every recovery.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use walfs_core::SyncCompletion;
use walfs_core::position::Position;
use walfs_core::region::Region as _;
use walfs_core::storage::Storage as _;
use walfs_core::wal::{RetentionPolicy, SyncPlan, WalOptions};

use crate::oracle::{ModelState, Rec, Recovery, SimEngine, latent_targets, recover, walk};
use crate::rng::SplitMix64;
use crate::storage::{CrashMode, Disk, FaultConfig, SimError, SimStorage, TearModel, TraceHash};

/// The operations of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// One record.
    Append,
    /// A batch of 2 to 6 records (may span segments).
    Batch,
    /// `WalEngine::sync`: acknowledges everything written. Or, one time in two, a step of a
    /// sync in two phases: `sync_plan`, the flush of the planned segment's file (as the std
    /// backend's group commit runs it, without the engine), `complete_sync`; the other
    /// operations drawn until the next sync steps run between the phases.
    Sync,
    /// Seal the active segment and start the next.
    Rotate,
    /// `truncate_after` a log index of the log (or 0).
    Truncate,
    /// `read` and `read_payload` of a record, and `position_for_index`.
    Read,
    /// A `WalCursor` over the whole log.
    Walk,
    /// Retention: `retention_candidates` then `remove_oldest`.
    Retention,
    /// Drop the engine and open it again, without a crash.
    Reopen,
    /// Crash the machine (maybe with latent corruption) and recover.
    Crash,
}

const OPS: [Op; 10] = [
    Op::Append,
    Op::Batch,
    Op::Sync,
    Op::Rotate,
    Op::Truncate,
    Op::Read,
    Op::Walk,
    Op::Retention,
    Op::Reopen,
    Op::Crash,
];

/// A run's configuration, drawn from its seed (swarm testing: every seed is also a different
/// mix of operations, sizes and fault rates).
#[derive(Debug, Clone)]
pub struct Config {
    /// Size of new segments in bytes.
    pub segment_size: u64,
    /// Operations in the run.
    pub ops: usize,
    /// Payload lengths drawn from.
    pub payload_lens: Vec<usize>,
    /// Whether records carry log indexes.
    pub indexed: bool,
    /// Weight of each operation, in the order of the workload's operation table.
    pub weights: [u32; 10],
    /// Injected storage faults.
    pub faults: FaultConfig,
    /// Chance per crash between operations of a bit flip in acknowledged durable data.
    pub latent_per_mille: u32,
    /// Chance per operation that a crash point is set a few storage events ahead.
    pub mid_crash_per_mille: u32,
    /// `WalOptions::verify_sealed`.
    pub verify_sealed: bool,
    /// How crashes tear sectors.
    pub tears: TearModel,
    /// Which dirty data a crash keeps.
    pub crash_mode: CrashMode,
}

impl Config {
    /// The configuration of random run `seed`.
    pub fn swarm(seed: u64) -> Config {
        let mut rng = SplitMix64::new(seed ^ 0x5157_4152_4d00_0000);
        let segment_size = [4096, 8192, 12_288, 16_384, 32_768][rng.index(5)];
        let all_lens = [0usize, 1, 7, 8, 24, 100, 300, 700, 1500, 3000];
        let mut payload_lens: Vec<usize> = (0..3)
            .map(|_| all_lens[rng.index(all_lens.len())])
            .filter(|&len| (len as u64) + 64 + 16 <= segment_size)
            .collect();
        if payload_lens.is_empty() {
            payload_lens.push(24);
        }
        let mut weights = [0u32; 10];
        for weight in &mut weights {
            *weight = u32::try_from(rng.below(10)).unwrap_or(0);
        }
        weights[0] += 10; // append
        weights[2] += 2; // sync
        weights[8] = weights[8].min(3); // reopen
        weights[9] = weights[9].min(3) + 1; // crash
        Config {
            segment_size,
            ops: 80 + rng.index(160),
            payload_lens,
            indexed: rng.chance(700),
            weights,
            faults: FaultConfig {
                io_per_mille: [0, 0, 5, 30][rng.index(4)],
                no_space_per_mille: [0, 0, 100][rng.index(3)],
                max_faults: 1,
            },
            latent_per_mille: [0, 150, 400][rng.index(3)],
            mid_crash_per_mille: [0, 30, 100][rng.index(3)],
            verify_sealed: rng.chance(500),
            tears: tear_model_from_env(),
            // Drawn last, so the other draws of a seed stay what they were before it existed.
            crash_mode: if rng.chance(250) {
                CrashMode::Prefix
            } else {
                CrashMode::PageSubset
            },
        }
    }

    /// A small workload for exhaustive exploration: few operations, small records, no faults.
    pub fn small(seed: u64) -> Config {
        let mut config = Config::swarm(seed);
        let mut rng = SplitMix64::new(seed ^ 0x534d_414c_4c00_0000);
        config.segment_size = [4096, 8192][rng.index(2)];
        config.ops = 6 + rng.index(5);
        config.payload_lens = vec![8, 40, 200, 1000];
        config.indexed = rng.chance(800);
        config.weights = [10, 4, 6, 3, 3, 0, 0, 2, 0, 0];
        config.faults = FaultConfig::default();
        config.latent_per_mille = 0;
        config.mid_crash_per_mille = 0;
        config
    }

    fn options(&self) -> WalOptions {
        WalOptions {
            segment_size: self.segment_size,
            verify_sealed: self.verify_sealed,
            ..WalOptions::default()
        }
    }
}

/// The tear model of crashes: sectors atomic by default (the assumption walfs documents, as
/// `SQLite`'s "powersafe overwrite" and `PostgreSQL` do); `WALFS_SIM_TEARS=byte` tears sectors at any
/// byte, with garbage, where damage to acknowledged data must be detected (never returned).
pub fn tear_model_from_env() -> TearModel {
    match std::env::var("WALFS_SIM_TEARS").as_deref() {
        Ok("byte") => TearModel::AnyByte,
        _ => TearModel::SectorAtomic,
    }
}

/// Figures of one or more runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Runs.
    pub runs: u64,
    /// Operations executed.
    pub ops: u64,
    /// Crash states recovered and checked.
    pub crash_states: u64,
    /// Faults injected (I/O errors, no space, bit flips).
    pub faults: u64,
    /// Crashes in the middle of an operation.
    pub mid_op_crashes: u64,
    /// Latent corruptions reported by the engine, as they must be.
    pub corruption_reported: u64,
    /// Storage events (writes, barriers, directory operations).
    pub events: u64,
    /// Bit flips injected (latent corruption), part of `faults`.
    pub bit_flips: u64,
    /// Hash of the run's operation and fault trace and of its final durable image (of the runs
    /// combined, in order, for a sum).
    pub trace_hash: u64,
}

impl Stats {
    /// Adds `other` to these figures.
    pub fn add(&mut self, other: &Stats) {
        self.runs += other.runs;
        self.ops += other.ops;
        self.crash_states += other.crash_states;
        self.faults += other.faults;
        self.mid_op_crashes += other.mid_op_crashes;
        self.corruption_reported += other.corruption_reported;
        self.events += other.events;
        self.bit_flips += other.bit_flips;
        let mut hash = TraceHash::default();
        hash.add(&[self.trace_hash, other.trace_hash]);
        self.trace_hash = hash.value();
    }
}

/// A broken guarantee, with what is needed to replay it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The seed of the run.
    pub seed: u64,
    /// What broke.
    pub message: String,
    /// The last operations before it.
    pub trace: Vec<String>,
    /// Crash states the run recovered and checked before it found the violation.
    pub crash_states: u64,
    /// Hash of the run's operation and fault trace and of the durable image at the end.
    pub trace_hash: u64,
}

impl Violation {
    /// The report: message, trace, and the one command that replays it.
    pub fn report(&self, test: &str) -> String {
        let mut text = format!("VIOLATION (seed {}): {}\n", self.seed, self.message);
        for line in &self.trace {
            let _ = writeln!(text, "    {line}");
        }
        let _ = write!(
            text,
            "reproduce: WALFS_SIM_SEED={} cargo test -p walfs-sim --release {test} -- --exact",
            self.seed
        );
        text
    }
}

const TRACE_KEPT: usize = 24;

struct Run {
    seed: u64,
    config: Config,
    rng: SplitMix64,
    /// Decides when a read drops a sealed segment's record table. A stream of its own, so the
    /// main stream (and every seed's path recorded before) is unchanged.
    release_rng: SplitMix64,
    /// Decides whether a sync runs whole or in two phases, and when its phases run. A stream of
    /// its own too.
    sync_rng: SplitMix64,
    /// A sync in two phases in progress.
    pending_sync: Option<PendingSync>,
    storage: SimStorage,
    engine: Option<SimEngine>,
    model: ModelState,
    stats: Stats,
    serial: u64,
    trace: Vec<String>,
    /// Every operation and outcome noted, hashed in order.
    op_trace: TraceHash,
    /// Exhaustive mode: the disk after every storage event, with the logs allowed there.
    recorded: Option<Vec<(Vec<Disk>, Vec<ModelState>)>>,
}

/// A sync in two phases between its steps.
struct PendingSync {
    plan: SyncPlan,
    /// The last record of the log when the plan was taken: what a planned completion
    /// acknowledges.
    last: Option<Position>,
    /// The outcome of the flush of the planned segment, once it ran.
    flushed: Option<Result<(), SimError>>,
}

/// Outcome of a step: go on, or the run ended early (corruption reported as it must be).
enum Flow {
    Continue,
    Stop,
}

type Step = Result<Flow, String>;

impl Run {
    fn new(seed: u64, config: Config) -> Run {
        let mut rng = SplitMix64::new(seed);
        let storage = SimStorage::new();
        storage.set_faults(config.faults.clone(), rng.next_u64());
        Run {
            seed,
            config,
            rng,
            release_rng: SplitMix64::new(seed ^ 0x7E1E_A5E0_1D0C_0FFE),
            sync_rng: SplitMix64::new(seed ^ 0x5359_4E43_504C_414E),
            pending_sync: None,
            storage,
            engine: None,
            model: ModelState::default(),
            stats: Stats {
                runs: 1,
                ..Stats::default()
            },
            serial: 0,
            trace: Vec::new(),
            op_trace: TraceHash::default(),
            recorded: None,
        }
    }

    fn note(&mut self, line: String) {
        self.op_trace.add_bytes(line.as_bytes());
        if self.trace.len() == TRACE_KEPT {
            self.trace.remove(0);
        }
        self.trace.push(line);
    }

    fn engine(&mut self) -> &mut SimEngine {
        self.engine
            .as_mut()
            .expect("the run keeps an open engine between operations")
    }

    fn payload(&mut self) -> Rc<[u8]> {
        self.serial += 1;
        let len = self.config.payload_lens[self.rng.index(self.config.payload_lens.len())];
        let mut filler = SplitMix64::new(self.serial ^ self.seed.rotate_left(17));
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| filler.next_u64().to_le_bytes()[0])
            .collect();
        let serial = self.serial.to_le_bytes();
        let n = len.min(8);
        bytes[..n].copy_from_slice(&serial[..n]);
        bytes.into()
    }

    fn next_index(&mut self) -> u64 {
        match self.engine().next_log_index() {
            Some(next) => next,
            None if self.config.indexed && !self.rng.chance(150) => 1 + self.rng.below(50),
            None => 0,
        }
    }

    /// Opens the first engine (a crash point may fall inside).
    fn start(&mut self) -> Step {
        self.recover_after_crash(None, &[ModelState::default()], false)
    }

    fn run(&mut self) -> Result<(), String> {
        if let Flow::Stop = self.start()? {
            return Ok(());
        }
        for _ in 0..self.config.ops {
            self.stats.ops += 1;
            if self.rng.chance(self.config.mid_crash_per_mille) {
                let ahead = 1 + self.rng.below(24);
                self.storage.crash_after_events(ahead);
            }
            let op = self.draw_op();
            if let Flow::Stop = self.step(op)? {
                return Ok(());
            }
        }
        self.storage.cancel_crash_point();
        let states = [self.model.clone()];
        self.engine = None;
        self.recover_after_crash(Some(self.storage.disk()), &states, true)
            .map(|_| ())
    }

    fn record(&mut self, states: Vec<ModelState>) {
        if let Some(recorded) = &mut self.recorded {
            let disks = self
                .storage
                .take_recorded()
                .into_iter()
                .map(|(_, d)| d)
                .collect();
            recorded.push((disks, states));
        }
    }

    fn draw_op(&mut self) -> Op {
        let total: u32 = self.config.weights.iter().sum();
        let mut pick = u32::try_from(self.rng.below(u64::from(total))).unwrap_or(0);
        for (op, &weight) in OPS.iter().zip(&self.config.weights) {
            if pick < weight {
                return *op;
            }
            pick -= weight;
        }
        Op::Append
    }

    fn step(&mut self, op: Op) -> Step {
        match op {
            Op::Reopen => return self.reopen(),
            Op::Crash => {
                self.storage.cancel_crash_point();
                let states = [self.model.clone()];
                self.engine = None;
                self.note("crash".into());
                return self.recover_after_crash(Some(self.storage.disk()), &states, true);
            }
            Op::Read => return self.read().map(|()| Flow::Continue),
            Op::Walk => {
                let limit = self.model.recs.len() + 8;
                let recovered = walk(self.engine(), limit)?;
                let expected: Vec<(Position, Vec<u8>)> = self
                    .model
                    .recs
                    .iter()
                    .map(|r| (r.pos, r.payload.to_vec()))
                    .collect();
                if recovered != expected {
                    return Err(format!(
                        "walk of the live log: {} records, model {}",
                        recovered.len(),
                        expected.len()
                    ));
                }
                return Ok(Flow::Continue);
            }
            _ => {}
        }
        let before = self.model.clone();
        let (result, label) = self.mutate(op);
        self.note(format!("{label} -> {result:?}"));
        let after = self.model.clone();
        self.record(vec![before.clone(), after.clone()]);
        let faults = self.storage.take_fault_note();
        let snapshot = self.storage.take_snapshot();
        if faults > 0 {
            if result.is_ok() {
                return Err(format!("{label}: a failed barrier was reported as success"));
            }
            self.check_poisoned(&label)?;
        } else if let Err(error) = &result {
            return Err(format!("{label}: unexpected error {error}"));
        }
        if snapshot.is_none() && faults == 0 {
            return Ok(Flow::Continue);
        }
        // A crash in the middle of the operation, or the restart after a failure.
        if snapshot.is_some() {
            self.stats.mid_op_crashes += 1;
        }
        self.storage.cancel_crash_point();
        self.engine = None;
        let disk = snapshot.unwrap_or_else(|| self.storage.disk());
        self.recover_after_crash(Some(disk), &[before, after], false)
    }

    /// Runs a changing operation and updates the model to its effect ("after").
    fn mutate(&mut self, op: Op) -> (Result<(), String>, String) {
        match op {
            Op::Append => {
                let log_index = self.next_index();
                let payload = self.payload();
                let label = format!("append len {} index {log_index}", payload.len());
                match self.engine().append(&payload, log_index) {
                    Ok(pos) => {
                        self.model.recs.push(Rec {
                            pos,
                            log_index,
                            payload,
                        });
                        (Ok(()), label)
                    }
                    Err(e) => (Err(e.to_string()), label),
                }
            }
            Op::Batch => {
                let count = 2 + self.rng.index(5);
                let first = self.next_index();
                let payloads: Vec<Rc<[u8]>> = (0..count).map(|_| self.payload()).collect();
                let label = format!("batch of {count} from index {first}");
                let mut positions = Vec::new();
                let result = self.engine().append_batch(&payloads, first, &mut positions);
                for (i, (pos, payload)) in positions.into_iter().zip(payloads).enumerate() {
                    let log_index = if first == 0 { 0 } else { first + i as u64 };
                    self.model.recs.push(Rec {
                        pos,
                        log_index,
                        payload,
                    });
                }
                (result.map_err(|e| e.to_string()), label)
            }
            Op::Sync => self.sync_step(),
            Op::Rotate => {
                let result = self.engine().rotate();
                (
                    result.map(|_| ()).map_err(|e| e.to_string()),
                    "rotate".into(),
                )
            }
            Op::Truncate => self.truncate(),
            Op::Retention => {
                let policy = RetentionPolicy {
                    max_age_ns: None,
                    max_segments: Some(1 + self.rng.index(3)),
                    min_segments: self.rng.index(2),
                };
                let candidates = self.engine().retention_candidates(&policy, 0);
                let Some(&id) = candidates.first() else {
                    return (Ok(()), "retention: nothing to remove".into());
                };
                let result = self.engine().remove_oldest(id);
                let removed = self
                    .model
                    .recs
                    .iter()
                    .filter(|r| r.pos.segment == id)
                    .count();
                debug_assert!(
                    self.model.recs[..removed]
                        .iter()
                        .all(|r| r.pos.segment == id)
                );
                self.model.recs.drain(..removed);
                self.model.acked = self.model.acked.saturating_sub(removed);
                (
                    result.map_err(|e| e.to_string()),
                    format!("remove_oldest {id:?} ({removed} records)"),
                )
            }
            Op::Read | Op::Walk | Op::Reopen | Op::Crash => (Ok(()), format!("{op:?}")),
        }
    }

    /// `WalEngine::sync`, acknowledging every record.
    fn full_sync(&mut self, label: &str) -> (Result<(), String>, String) {
        let result = self.engine().sync();
        if result.is_ok() {
            self.model.acked = self.model.recs.len();
        }
        (result.map_err(|e| e.to_string()), label.into())
    }

    /// A whole sync, or the next steps of a sync in two phases: the plan, the flush of the
    /// planned segment's file, the completion. Each step but the last may leave the rest to a
    /// later sync operation, so other operations run between the phases.
    fn sync_step(&mut self) -> (Result<(), String>, String) {
        let mut label = String::new();
        let mut pending = match self.pending_sync.take() {
            // A whole sync between the phases (another thread's `SyncPolicy::EveryWrite`, or
            // `Wal::close`): the completion must not undo it.
            Some(pending) if self.sync_rng.chance(200) => {
                self.pending_sync = Some(pending);
                return self.full_sync("sync (a sync in two phases pending)");
            }
            Some(pending) => pending,
            None if self.sync_rng.chance(500) => {
                let plan = match self.engine().sync_plan() {
                    Ok(plan) => plan,
                    Err(e) => return (Err(e.to_string()), "sync_plan".into()),
                };
                let pending = PendingSync {
                    plan,
                    last: self.model.recs.last().map(|r| r.pos),
                    flushed: None,
                };
                label = format!("sync_plan {:?} end {}", plan.segment(), plan.end());
                if self.sync_rng.chance(500) {
                    self.pending_sync = Some(pending);
                    return (Ok(()), label);
                }
                pending
            }
            None => return self.full_sync("sync"),
        };
        if pending.flushed.is_none() {
            let Some(flushed) = self.flush_planned(&pending.plan) else {
                // The planned segment is gone (truncated away): its flush would be stale.
                return self.full_sync(&format!("{label} sync (planned segment gone)"));
            };
            let _ = write!(label, " flush -> {flushed:?}");
            let ok = flushed.is_ok();
            pending.flushed = Some(flushed);
            if ok && self.sync_rng.chance(500) {
                self.pending_sync = Some(pending);
                return (Ok(()), label);
            }
        }
        let flushed = pending.flushed.unwrap_or(Ok(()));
        let result = self.engine().complete_sync(pending.plan, flushed);
        let _ = write!(label, " complete_sync -> {result:?}");
        match result {
            Ok(SyncCompletion::Planned) => {
                let covered = pending
                    .last
                    .and_then(|last| self.model.recs.iter().position(|r| r.pos == last));
                if let Some(at) = covered {
                    self.model.acked = self.model.acked.max(at + 1);
                }
                (Ok(()), label)
            }
            Ok(SyncCompletion::FellBack) => {
                self.model.acked = self.model.recs.len();
                (Ok(()), label)
            }
            Err(e) => (Err(e.to_string()), label),
        }
    }

    /// The flush a sync plan asks for: a full barrier of the planned segment's file, run
    /// without the engine (as the std backend's group commit leader runs it). `None` when the
    /// segment is gone.
    fn flush_planned(&self, plan: &SyncPlan) -> Option<Result<(), SimError>> {
        if !plan.needs_flush() {
            return Some(Ok(()));
        }
        let mut storage = self.storage.clone();
        let mut region = storage.open_segment(plan.segment()).ok()?;
        Some(region.sync())
    }

    fn truncate(&mut self) -> (Result<(), String>, String) {
        let indexed: Vec<u64> = self
            .model
            .recs
            .iter()
            .map(|r| r.log_index)
            .filter(|&i| i != 0)
            .collect();
        let log_index = match (indexed.first(), indexed.last()) {
            (Some(&first), Some(&last)) if !self.rng.chance(50) => {
                first - 1 + self.rng.below(last - first + 2)
            }
            _ if self.rng.chance(300) => 0,
            _ => return (Ok(()), "truncate: nothing to do".into()),
        };
        let label = format!("truncate_after {log_index}");
        let result = self.engine().truncate_after(log_index);
        let cut = if log_index == 0 {
            0
        } else {
            self.model
                .recs
                .iter()
                .position(|r| r.log_index > log_index)
                .unwrap_or(self.model.recs.len())
        };
        self.model.recs.truncate(cut);
        self.model.acked = self.model.acked.min(cut);
        (result.map_err(|e| e.to_string()), label)
    }

    fn read(&mut self) -> Result<(), String> {
        if self.model.recs.is_empty() {
            return Ok(());
        }
        let rec = self.model.recs[self.rng.index(self.model.recs.len())].clone();
        let engine = self.engine();
        let frame = engine
            .read(rec.pos)
            .map_err(|e| format!("read {:?}: {e}", rec.pos))?;
        let mut buf = vec![0u8; rec.payload.len().max(1)];
        let payload = engine
            .read_payload(rec.pos.segment, &frame, &mut buf)
            .map_err(|e| format!("read_payload {:?}: {e}", rec.pos))?;
        if payload != &rec.payload[..] {
            return Err(format!("read {:?}: payload differs", rec.pos));
        }
        if rec.log_index != 0 {
            let pos = engine.position_for_index(rec.log_index);
            if pos.as_ref().ok() != Some(&rec.pos) {
                return Err(format!(
                    "position_for_index({}) = {pos:?}, expected {:?}",
                    rec.log_index, rec.pos
                ));
            }
        }
        // Now and then drop the record table of the record's segment, so the next lookup or
        // truncation there reads it back from the index file on the (simulated) disk.
        if self.release_rng.chance(250) {
            let segment = rec.pos.segment;
            let released = self
                .engine()
                .release_index_memory(segment)
                .map_err(|e| format!("release_index_memory({segment:?}): {e}"))?;
            self.note(format!("release_index_memory({segment:?}) -> {released:?}"));
        }
        Ok(())
    }

    /// After a failed barrier: the engine must be poisoned, and every change must fail.
    fn check_poisoned(&mut self, label: &str) -> Result<(), String> {
        self.storage.disarm_faults();
        let engine = self.engine();
        // What a caller sees first (a retried sync must not succeed: the failed pages may be
        // gone), then the flag.
        if engine.sync().is_ok() {
            return Err(format!("{label}: sync returned Ok after a failed barrier"));
        }
        let index = engine.next_log_index().unwrap_or(0);
        if engine.append(b"after a failure", index).is_ok() {
            return Err(format!("{label}: append accepted after a failed barrier"));
        }
        if !engine.is_poisoned() {
            return Err(format!("{label}: failed, yet the engine is not poisoned"));
        }
        Ok(())
    }

    fn reopen(&mut self) -> Step {
        self.note("reopen".into());
        self.engine = None;
        self.pending_sync = None;
        let options = self.config.options();
        let states = [self.model.clone()];
        match recover(&self.storage, options, &states, false, false, false)? {
            Recovery::Checked(engine, model) => {
                self.engine = Some(*engine);
                self.model = model;
                Ok(Flow::Continue)
            }
            Recovery::FaultDuringOpen(_) => {
                self.recover_after_crash(Some(self.storage.disk()), &states, false)
            }
            Recovery::CorruptionReported(e) => Err(format!("reopen reported corruption: {e}")),
        }
    }

    /// Crashes `disk` (the current one, or a snapshot taken mid-operation), maybe flips a bit
    /// of acknowledged durable data, and recovers, checking against `states`. `None`: open the
    /// disk as it is (the first open of the run). A crash point may fall inside the open
    /// itself, which is then recovered again.
    fn recover_after_crash(
        &mut self,
        disk: Option<Disk>,
        states: &[ModelState],
        allow_latent: bool,
    ) -> Step {
        // A sync plan belongs to the engine that issued it, which is gone.
        self.pending_sync = None;
        let options = self.config.options();
        let mut disk = disk;
        let mut states = states.to_vec();
        let mut crashed = disk.is_some();
        // A bit flipped in acknowledged data stays on the medium through every retry of the
        // open (an injected fault may fail the first one before it reads the damaged record):
        // once flipped, corruption is expected until it is reported.
        let mut expect_corruption = false;
        for attempt in 0..6 {
            if let Some(mut next) = disk.take() {
                next.crash_in_mode(
                    self.rng.next_u64(),
                    self.config.crash_mode,
                    self.config.tears,
                );
                self.stats.crash_states += 1;
                if allow_latent
                    && attempt == 0
                    && states.len() == 1
                    && self.rng.chance(self.config.latent_per_mille)
                {
                    let targets = latent_targets(&next, &states[0]);
                    if !targets.is_empty() {
                        let (pos, len) = targets[self.rng.index(targets.len())];
                        let offset = pos.offset + self.rng.below(len);
                        let bit = u8::try_from(self.rng.below(8)).unwrap_or(0);
                        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
                        expect_corruption |= next.flip_bit(pos.segment, offset, bit);
                        self.stats.bit_flips += 1;
                        self.note(format!("bit flip in {pos:?} at byte {offset} bit {bit}"));
                    }
                }
                self.storage.set_disk(next);
            }
            if attempt < 4 {
                self.storage.arm_faults();
                if self.rng.chance(self.config.mid_crash_per_mille) {
                    let ahead = 1 + self.rng.below(12);
                    self.storage.crash_after_events(ahead);
                }
            } else {
                self.storage.disarm_faults();
            }
            // A crash that tears a sector holding acknowledged bytes (the byte-tear model) may
            // destroy them: the engine must then report damage, never return wrong data.
            let tears_may_destroy = crashed && self.config.tears == TearModel::AnyByte;
            let recovery = recover(
                &self.storage,
                options,
                &states,
                crashed,
                expect_corruption,
                tears_may_destroy,
            );
            self.storage.cancel_crash_point();
            let snapshot = self.storage.take_snapshot();
            match recovery? {
                Recovery::CorruptionReported(_) => {
                    self.stats.corruption_reported += 1;
                    self.note("latent corruption reported at recovery".into());
                    return Ok(Flow::Stop);
                }
                Recovery::FaultDuringOpen(error) => {
                    self.storage.take_fault_note();
                    self.note(format!("open failed on an injected fault: {error}"));
                    disk = Some(snapshot.unwrap_or_else(|| self.storage.disk()));
                    crashed = true;
                }
                Recovery::Checked(engine, model) => {
                    self.note(format!("recovered {} records", model.recs.len()));
                    let Some(snapshot) = snapshot else {
                        self.engine = Some(*engine);
                        self.model = model;
                        return Ok(Flow::Continue);
                    };
                    // The open itself was interrupted: recover again, which must find exactly
                    // what this recovery found.
                    self.stats.mid_op_crashes += 1;
                    drop(engine);
                    states = vec![model];
                    disk = Some(snapshot);
                    crashed = true;
                }
            }
        }
        Err("the engine did not open after 6 crashes and retries".into())
    }
}

/// Runs random workload `seed` and checks it; a panic of the engine is a violation too.
pub fn run_random(seed: u64) -> Result<Stats, Violation> {
    run_with(seed, Config::swarm(seed))
}

/// Runs `config` with `seed`.
pub fn run_with(seed: u64, config: Config) -> Result<Stats, Violation> {
    let mut run = Run::new(seed, config);
    let outcome = catch_unwind(AssertUnwindSafe(|| run.run()));
    let counters = run.storage.counters();
    run.stats.events = counters.events;
    run.stats.faults = counters.faults + run.stats.bit_flips;
    verdict(seed, outcome, run)
}

/// The result of a run: its figures, or the violation (an oracle failure or a panic, caught).
fn verdict(
    seed: u64,
    outcome: std::thread::Result<Result<(), String>>,
    mut run: Run,
) -> Result<Stats, Violation> {
    let mut hash = TraceHash::default();
    hash.add(&[
        run.op_trace.value(),
        run.storage.trace_hash(),
        run.storage.with_disk(|disk| disk.durable_fingerprint()),
    ]);
    run.stats.trace_hash = hash.value();
    let message = match outcome {
        Ok(Ok(())) => return Ok(run.stats),
        Ok(Err(message)) => message,
        Err(panic) => format!(
            "the engine (or the simulator) panicked: {}",
            panic_text(&*panic)
        ),
    };
    Err(Violation {
        seed,
        message,
        trace: run.trace,
        crash_states: run.stats.crash_states,
        trace_hash: run.stats.trace_hash,
    })
}

/// Runs small workload `seed` once, recording the disk after every storage event (write,
/// persist, sync, directory operation), then recovers every crash state of each: every subset
/// of the dirty sectors and pending directory operations when there are at most
/// [`EXHAUSTIVE_UNITS_MAX`] (sector granularity), else every subset of dirty pages and
/// directory operations when those are at most that many (page granularity), else
/// [`SAMPLES_ABOVE_MAX`] random crashes of the full fault model.
pub fn run_exhaustive(seed: u64) -> Result<Stats, Violation> {
    run_exhaustive_with(seed, Config::small(seed))
}

/// Runs small workload `seed` with `config` exhaustively (see [`run_exhaustive`]).
pub fn run_exhaustive_with(seed: u64, config: Config) -> Result<Stats, Violation> {
    let options = config.options();
    let mut run = Run::new(seed, config);
    run.storage.record_every_event(true);
    run.recorded = Some(Vec::new());
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<_>, String> {
        run.start()?;
        run.record(vec![ModelState::default()]);
        for _ in 0..run.config.ops {
            run.stats.ops += 1;
            let op = run.draw_op();
            run.step(op)?;
        }
        let recorded = run.recorded.take().unwrap_or_default();
        let mut rng = SplitMix64::new(seed ^ 0x4558_4841_5553_5400);
        for (disks, states) in &recorded {
            for disk in disks {
                run.stats.crash_states += explore_disk(disk, states, options, &mut rng)?;
            }
        }
        Ok(recorded)
    }));
    run.stats.events = run.storage.counters().events;
    verdict(seed, outcome.map(|result| result.map(|_| ())), run)
}

/// Largest number of units (sectors or pages, plus directory operations) whose every subset
/// the exhaustive mode enumerates.
pub const EXHAUSTIVE_UNITS_MAX: usize = 12;
/// Random crash states tried at a crash point with more units than that.
pub const SAMPLES_ABOVE_MAX: u64 = 32;

fn explore_disk(
    disk: &Disk,
    states: &[ModelState],
    options: WalOptions,
    rng: &mut SplitMix64,
) -> Result<u64, String> {
    use crate::storage::{CrashUnit, SECTORS_PER_PAGE, SectorFate};
    use std::collections::BTreeMap;
    let units = disk.crash_units();
    let by_page = units.len() > EXHAUSTIVE_UNITS_MAX;
    let mut groups: BTreeMap<(u64, usize), usize> = BTreeMap::new();
    let mut dir_groups = Vec::new();
    for unit in &units {
        match *unit {
            CrashUnit::Sector { file, sector } => {
                let key = if by_page {
                    (file, sector / SECTORS_PER_PAGE)
                } else {
                    (file, sector)
                };
                let next = groups.len() + dir_groups.len();
                groups.entry(key).or_insert(next);
            }
            CrashUnit::DirOp(index) => {
                dir_groups.push(groups.len() + index);
            }
        }
    }
    // Directory operations come after every sector in `units`, so their group numbers follow.
    let group_count = groups.len() + dir_groups.len();
    let check = |crashed: Disk| -> Result<(), String> {
        let storage = SimStorage::from_disk(crashed);
        match recover(&storage, options, states, true, false, false)? {
            Recovery::Checked(..) => Ok(()),
            other => Err(format!("unexpected recovery outcome {other:?}")),
        }
    };
    if group_count > EXHAUSTIVE_UNITS_MAX {
        for _ in 0..SAMPLES_ABOVE_MAX {
            let mut crashed = disk.clone();
            crashed.crash_random(rng.next_u64());
            check(crashed).map_err(|e| format!("sampled crash state: {e}"))?;
        }
        return Ok(SAMPLES_ABOVE_MAX);
    }
    let sector_groups = groups.len();
    for mask in 0u32..(1u32 << group_count) {
        let mut crashed = disk.clone();
        crashed.crash_with(
            |file, sector| {
                let key = if by_page {
                    (file, sector / SECTORS_PER_PAGE)
                } else {
                    (file, sector)
                };
                match groups.get(&key) {
                    Some(&group) if mask & (1 << group) != 0 => SectorFate::Written,
                    _ => SectorFate::Lost,
                }
            },
            |index| mask & (1 << (sector_groups + index)) != 0,
        );
        check(crashed).map_err(|e| {
            format!(
                "crash state {mask:#b} of {group_count} units ({}): {e}",
                if by_page { "pages" } else { "sectors" }
            )
        })?;
    }
    Ok(1u64 << group_count)
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "(non-string panic)".into())
}
