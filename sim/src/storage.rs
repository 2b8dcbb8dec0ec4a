//! The simulated disk: [`SimStorage`] (a directory) and [`SimRegion`] (a segment file), with a
//! volatile and a durable image of every file and of the directory, and [`SimStorage::crash`].
//!
//! See the crate docs for the durability model. Granularity: dirty tracking per 512-byte sector,
//! grouped in 4 KiB pages (what `msync` rounds to).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;

use walfs_core::position::SegmentId;
use walfs_core::region::{Region, RegionError, RegionErrorKind, RegionRead};
use walfs_core::storage::Storage;

use crate::rng::SplitMix64;

/// Bytes per sector: the unit a crash tears at (what a disk writes atomically, at best).
pub const SECTOR_BYTES: usize = 512;
/// Bytes per page: the unit `persist` (msync) rounds to and write-back moves.
pub const PAGE_BYTES: usize = 4096;
/// Sectors per page.
pub const SECTORS_PER_PAGE: usize = PAGE_BYTES / SECTOR_BYTES;
const _: () = assert!(PAGE_BYTES.is_multiple_of(SECTOR_BYTES));

/// A name in the simulated directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileName {
    /// A segment file.
    Segment(SegmentId),
    /// The index file of a sealed segment.
    Index(SegmentId),
}

type FileId = u64;

/// One file: what the process sees, what survives, and which sectors differ.
#[derive(Debug, Clone)]
struct SimFile {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    /// One flag per sector: written since it last reached `durable` (or was dropped).
    dirty: Vec<bool>,
    /// Per sector: the number of the last write that dirtied it (the write order, for the
    /// [`CrashMode::Prefix`] crash).
    written_by: Vec<u64>,
}

impl SimFile {
    fn new(bytes: Vec<u8>) -> Self {
        let sectors = bytes.len().div_ceil(SECTOR_BYTES);
        SimFile {
            durable: bytes.clone(),
            volatile: bytes,
            dirty: vec![false; sectors],
            written_by: vec![0; sectors],
        }
    }

    fn sector_range(&self, sector: usize) -> Range<usize> {
        let start = sector * SECTOR_BYTES;
        start..(start + SECTOR_BYTES).min(self.volatile.len())
    }

    /// Sectors of the pages touching `range` (msync rounds out to pages).
    fn page_sectors(&self, range: Range<u64>) -> Range<usize> {
        if range.start >= range.end {
            return 0..0;
        }
        let first_page = usize::try_from(range.start).unwrap_or(usize::MAX) / PAGE_BYTES;
        let end_page = usize::try_from(range.end)
            .unwrap_or(usize::MAX)
            .div_ceil(PAGE_BYTES);
        let start = (first_page * SECTORS_PER_PAGE).min(self.dirty.len());
        let end = end_page
            .saturating_mul(SECTORS_PER_PAGE)
            .min(self.dirty.len());
        start..end
    }

    /// Moves the dirty sectors of `sectors` to durable (`reach == true`) or drops their
    /// dirtiness without reaching it (a failed msync/fsync: the kernel marks them clean).
    fn write_back(&mut self, sectors: Range<usize>, reach: bool) -> u64 {
        let mut moved = 0;
        for sector in sectors {
            if self.dirty[sector] {
                if reach {
                    let bytes = self.sector_range(sector);
                    self.durable[bytes.clone()].copy_from_slice(&self.volatile[bytes]);
                }
                self.dirty[sector] = false;
                moved += 1;
            }
        }
        moved
    }
}

/// A directory operation not yet made durable by a directory sync.
#[derive(Debug, Clone, Copy)]
enum DirOp {
    /// `name` now refers to `file` (create, or rename over).
    Link(FileName, FileId),
    /// `name` is removed.
    Unlink(FileName),
}

/// What a crash does with one dirty sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectorFate {
    /// The new bytes reached the medium.
    Written,
    /// The old bytes stay.
    Lost,
    /// The first `at` bytes are new and the rest old (`garbage == None`) or garbage drawn from
    /// the seed; with `new_first == false` the last bytes are the new ones.
    Torn {
        /// Split point inside the sector, in bytes.
        at: usize,
        /// Whether the new bytes come first.
        new_first: bool,
        /// Seed of the garbage replacing the unwritten part, if it is garbage.
        garbage: Option<u64>,
    },
}

/// How a crash may tear a dirty sector of a torn page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TearModel {
    /// At any byte boundary, the unwritten part old bytes or garbage (the model).
    AnyByte,
    /// Never inside a sector: a sector is old or new (disks with atomic sector writes).
    SectorAtomic,
}

/// Which dirty data a crash keeps, chosen per run by the swarm draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Each dirty page independently kept, dropped or torn: no order, because mmap write-back
    /// has none (the default, what the engine's mmap backend sees).
    PageSubset,
    /// The writes since the last barrier survive in the order they were made, up to a random
    /// point; the write at that point may be cut between two of its sectors (for pwrite-like
    /// users of the storage).
    Prefix,
}

/// A unit of state a crash decides on: a dirty sector, or a pending directory operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashUnit {
    /// Sector `sector` of file `file` (internal file number).
    Sector {
        /// Internal file number.
        file: u64,
        /// Sector index.
        sector: usize,
    },
    /// The `index`-th directory operation since the last directory sync.
    DirOp(usize),
}

/// The whole simulated disk: files and directory, volatile and durable.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    files: BTreeMap<FileId, SimFile>,
    next_file: FileId,
    volatile_names: BTreeMap<FileName, FileId>,
    durable_names: BTreeMap<FileName, FileId>,
    pending: Vec<DirOp>,
    /// Writes so far (numbers the writes, for [`CrashMode::Prefix`]).
    write_count: u64,
}

impl Disk {
    fn add_file(&mut self, bytes: Vec<u8>) -> FileId {
        let id = self.next_file;
        self.next_file += 1;
        self.files.insert(id, SimFile::new(bytes));
        id
    }

    fn dir_op(&mut self, op: DirOp) {
        match op {
            DirOp::Link(name, file) => self.volatile_names.insert(name, file),
            DirOp::Unlink(name) => self.volatile_names.remove(&name),
        };
        self.pending.push(op);
    }

    /// Every unit the next crash decides on, in a fixed order: dirty sectors of files that
    /// the directory can still reach after a crash, then pending directory operations.
    pub fn crash_units(&self) -> Vec<CrashUnit> {
        let mut units = Vec::new();
        for (&file, sim) in &self.files {
            if !self.reachable_after_crash(file) {
                continue;
            }
            for (sector, &dirty) in sim.dirty.iter().enumerate() {
                if dirty {
                    units.push(CrashUnit::Sector { file, sector });
                }
            }
        }
        units.extend((0..self.pending.len()).map(CrashUnit::DirOp));
        units
    }

    fn reachable_after_crash(&self, file: FileId) -> bool {
        self.durable_names.values().any(|&f| f == file)
            || self
                .pending
                .iter()
                .any(|op| matches!(op, DirOp::Link(_, f) if *f == file))
    }

    /// Number of dirty pages (of reachable files) and of pending directory operations.
    pub fn dirty_pages(&self) -> usize {
        let mut pages = 0;
        for (&file, sim) in &self.files {
            if self.reachable_after_crash(file) {
                pages += sim
                    .dirty
                    .chunks(SECTORS_PER_PAGE)
                    .filter(|page| page.iter().any(|&d| d))
                    .count();
            }
        }
        pages
    }

    /// Builds the post-crash disk: each dirty sector meets `sector_fate`, each pending
    /// directory operation survives if `dir_survives` says so; then volatile := durable.
    pub fn crash_with(
        &mut self,
        mut sector_fate: impl FnMut(u64, usize) -> SectorFate,
        mut dir_survives: impl FnMut(usize) -> bool,
    ) {
        for (&file, sim) in &mut self.files {
            for sector in 0..sim.dirty.len() {
                if !sim.dirty[sector] {
                    continue;
                }
                let bytes = sim.sector_range(sector);
                match sector_fate(file, sector) {
                    SectorFate::Written => {
                        sim.durable[bytes.clone()].copy_from_slice(&sim.volatile[bytes]);
                    }
                    SectorFate::Lost => {}
                    SectorFate::Torn {
                        at,
                        new_first,
                        garbage,
                    } => {
                        let at = at.min(bytes.len());
                        let (new, unwritten) = if new_first {
                            (bytes.start..bytes.start + at, bytes.start + at..bytes.end)
                        } else {
                            (bytes.start + at..bytes.end, bytes.start..bytes.start + at)
                        };
                        sim.durable[new.clone()].copy_from_slice(&sim.volatile[new]);
                        if let Some(seed) = garbage {
                            let mut rng = SplitMix64::new(seed);
                            for byte in &mut sim.durable[unwritten] {
                                // Keeping the low byte of a random word is the point.
                                #[allow(clippy::cast_possible_truncation)]
                                let value = rng.next_u64() as u8;
                                *byte = value;
                            }
                        }
                    }
                }
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (index, op) in pending.into_iter().enumerate() {
            if dir_survives(index) {
                match op {
                    DirOp::Link(name, file) => self.durable_names.insert(name, file),
                    DirOp::Unlink(name) => self.durable_names.remove(&name),
                };
            }
        }
        let live: Vec<FileId> = self.durable_names.values().copied().collect();
        self.files.retain(|file, _| live.contains(file));
        for sim in self.files.values_mut() {
            sim.volatile.clone_from(&sim.durable);
            sim.dirty.fill(false);
        }
        self.volatile_names.clone_from(&self.durable_names);
    }

    /// The random crash of `mode`, with sectors torn per `tears` in [`CrashMode::PageSubset`].
    pub fn crash_in_mode(&mut self, seed: u64, mode: CrashMode, tears: TearModel) {
        match mode {
            CrashMode::PageSubset => self.crash_random_with(seed, tears),
            CrashMode::Prefix => self.crash_prefix(seed),
        }
    }

    /// The [`CrashMode::Prefix`] crash: the dirty sectors last written before a random write
    /// survive, those of later writes are lost, and the write at that point keeps a random
    /// number of its first sectors. Each pending directory operation survives or not.
    pub fn crash_prefix(&mut self, seed: u64) {
        let mut rng = SplitMix64::new(seed);
        let mut writes: Vec<u64> = Vec::new();
        for sim in self.files.values() {
            for (sector, &dirty) in sim.dirty.iter().enumerate() {
                if dirty {
                    writes.push(sim.written_by[sector]);
                }
            }
        }
        writes.sort_unstable();
        writes.dedup();
        // The first write that does not (wholly) survive; `u64::MAX`: every write survives.
        let cut = if writes.is_empty() {
            u64::MAX
        } else {
            writes
                .get(rng.index(writes.len() + 1))
                .copied()
                .unwrap_or(u64::MAX)
        };
        let mut cut_sectors = 0usize;
        for sim in self.files.values() {
            cut_sectors += sim
                .dirty
                .iter()
                .zip(&sim.written_by)
                .filter(|&(&dirty, &write)| dirty && write == cut)
                .count();
        }
        let mut cut_sectors_kept = rng.index(cut_sectors + 1);
        let mut dir_rng = rng.fork();
        let written_by: BTreeMap<FileId, Vec<u64>> = self
            .files
            .iter()
            .map(|(&file, sim)| (file, sim.written_by.clone()))
            .collect();
        self.crash_with(
            |file, sector| {
                let write = written_by[&file][sector];
                if write < cut {
                    SectorFate::Written
                } else if write == cut && cut_sectors_kept > 0 {
                    cut_sectors_kept -= 1;
                    SectorFate::Written
                } else {
                    SectorFate::Lost
                }
            },
            |_| dir_rng.chance(500),
        );
    }

    /// A hash of the durable state: the durable directory and every durable byte.
    pub fn durable_fingerprint(&self) -> u64 {
        let mut hash = TraceHash::default();
        for (name, &file) in &self.durable_names {
            let (kind, id) = match name {
                FileName::Segment(id) => (1, id.0),
                FileName::Index(id) => (2, id.0),
            };
            hash.add(&[kind, u64::from(id), file]);
            if let Some(sim) = self.files.get(&file) {
                hash.add_bytes(&sim.durable);
            }
        }
        hash.value()
    }

    /// The random crash of the fault model with sectors atomic (per page: kept whole, dropped,
    /// or torn between sectors), the assumption walfs documents. See
    /// [`Disk::crash_random_with`] for sectors torn at any byte.
    pub fn crash_random(&mut self, seed: u64) {
        self.crash_random_with(seed, TearModel::SectorAtomic);
    }

    /// The random crash, with sectors torn per `tears`.
    pub fn crash_random_with(&mut self, seed: u64, tears: TearModel) {
        let mut rng = SplitMix64::new(seed);
        let mut page_fates: BTreeMap<(u64, usize), u64> = BTreeMap::new();
        let mut sector_rng = rng.fork();
        let mut dir_rng = rng.fork();
        self.crash_with(
            |file, sector| {
                let page = sector / SECTORS_PER_PAGE;
                let fate = *page_fates
                    .entry((file, page))
                    .or_insert_with(|| sector_rng.below(3));
                match fate {
                    0 => SectorFate::Written,
                    1 => SectorFate::Lost,
                    _ => match sector_rng.below(4) {
                        0 => SectorFate::Written,
                        1 => SectorFate::Lost,
                        _ if tears == TearModel::SectorAtomic => SectorFate::Lost,
                        _ => {
                            let at = sector_rng.index(SECTOR_BYTES + 1);
                            let new_first = sector_rng.chance(500);
                            let garbage = sector_rng.chance(500).then(|| sector_rng.next_u64());
                            SectorFate::Torn {
                                at,
                                new_first,
                                garbage,
                            }
                        }
                    },
                }
            },
            |_| dir_rng.chance(500),
        );
    }

    /// The durable bytes of segment `id` (as a crash would leave them if nothing more reached
    /// the medium), for inspection.
    pub fn durable_segment(&self, id: SegmentId) -> Option<&[u8]> {
        let file = self.durable_names.get(&FileName::Segment(id))?;
        self.files.get(file).map(|sim| sim.durable.as_slice())
    }

    /// Flips bit `bit` of byte `offset` of segment `id`'s durable image and volatile image
    /// (latent corruption of data at rest). Returns false if there is no such byte.
    pub fn flip_bit(&mut self, id: SegmentId, offset: usize, bit: u8) -> bool {
        let Some(file) = self.durable_names.get(&FileName::Segment(id)) else {
            return false;
        };
        let Some(sim) = self.files.get_mut(file) else {
            return false;
        };
        if offset >= sim.durable.len() {
            return false;
        }
        sim.durable[offset] ^= 1 << (bit % 8);
        sim.volatile[offset] ^= 1 << (bit % 8);
        true
    }

    /// The segments of the durable directory.
    pub fn durable_segments(&self) -> Vec<SegmentId> {
        self.durable_names
            .keys()
            .filter_map(|name| match name {
                FileName::Segment(id) => Some(*id),
                FileName::Index(_) => None,
            })
            .collect()
    }
}

/// An order-dependent 64-bit hash of a trace of events (FNV-1a over 64-bit words, with a final
/// avalanche): what `WALFS_SIM_CHECK_DETERMINISM` compares between two runs of a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xCBF2_9CE4_8422_2325)
    }
}

impl TraceHash {
    const PRIME: u64 = 0x0000_0100_0000_01B3;

    /// Adds words to the trace.
    pub fn add(&mut self, words: &[u64]) {
        for &word in words {
            self.0 = (self.0 ^ word).wrapping_mul(Self::PRIME);
            self.0 ^= self.0 >> 29;
        }
    }

    /// Adds bytes (and their length) to the trace.
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        self.add(&[bytes.len() as u64]);
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(&[u64::from_le_bytes(word)]);
        }
    }

    /// The hash so far.
    pub fn value(self) -> u64 {
        let mut rng = SplitMix64::new(self.0);
        rng.next_u64()
    }
}

/// Faults the storage injects, drawn from its own generator.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// Chance per `persist`, `sync` or `sync_dir` that it fails with an I/O error (the failed
    /// pages are marked clean without reaching the medium).
    pub io_per_mille: u32,
    /// Chance per `create_segment` that it fails with `NoSpace`.
    pub no_space_per_mille: u32,
    /// At most this many faults are injected before [`SimStorage::disarm_faults`] or a crash
    /// re-arms them.
    pub max_faults: u32,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            io_per_mille: 0,
            no_space_per_mille: 0,
            max_faults: 1,
        }
    }
}

/// Counters of a storage.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimCounters {
    /// Storage events (writes, persists, syncs, directory operations).
    pub events: u64,
    /// Faults injected.
    pub faults: u64,
    /// Crashes.
    pub crashes: u64,
}

#[derive(Debug)]
struct SimState {
    disk: Disk,
    counters: SimCounters,
    /// Take a snapshot of the disk when `counters.events` reaches this.
    crash_at_event: Option<u64>,
    snapshot: Option<Disk>,
    /// Exhaustive mode: a snapshot after every event.
    record_every_event: bool,
    recorded: Vec<(u64, Disk)>,
    faults: FaultConfig,
    fault_rng: SplitMix64,
    faults_left: u32,
    /// Faults injected since the last [`SimStorage::take_fault_note`].
    fault_note: u32,
    /// Every storage event and fault, hashed in order.
    trace: TraceHash,
}

/// What a storage event was, for the trace hash.
#[derive(Debug, Clone, Copy)]
enum EventKind {
    Write = 1,
    Persist,
    Sync,
    Create,
    Remove,
    WriteIndex,
    SyncDir,
    Crash,
}

impl SimState {
    /// Counts a storage event and adds it, with what it touched and whether a fault failed it,
    /// to the trace.
    fn event(&mut self, kind: EventKind, target: u64, detail: u64) {
        self.trace.add(&[kind as u64, target, detail]);
        self.counters.events += 1;
        if self.crash_at_event == Some(self.counters.events) {
            self.snapshot = Some(self.disk.clone());
            self.crash_at_event = None;
        }
        if self.record_every_event {
            let disk = self.disk.clone();
            self.recorded.push((self.counters.events, disk));
        }
    }

    fn draw_fault(&mut self, per_mille: u32) -> bool {
        if self.faults_left == 0 || per_mille == 0 || !self.fault_rng.chance(per_mille) {
            return false;
        }
        self.faults_left -= 1;
        self.counters.faults += 1;
        self.fault_note += 1;
        true
    }
}

/// Error of the simulated storage and its regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimError {
    /// The kind of failure.
    pub kind: RegionErrorKind,
    /// What failed.
    pub op: &'static str,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulated {}: {:?}", self.op, self.kind)
    }
}

impl std::error::Error for SimError {}

impl RegionError for SimError {
    fn kind(&self) -> RegionErrorKind {
        self.kind
    }

    fn as_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self)
    }
}

fn sim_err(kind: RegionErrorKind, op: &'static str) -> SimError {
    SimError { kind, op }
}

/// A simulated directory of segments: a cheap handle (clones share the same disk), so the
/// harness keeps one while the engine owns another.
#[derive(Debug, Clone)]
pub struct SimStorage {
    state: Rc<RefCell<SimState>>,
}

impl Default for SimStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl SimStorage {
    /// An empty disk without fault injection.
    pub fn new() -> Self {
        Self::from_disk(Disk::default())
    }

    /// A storage over `disk`.
    pub fn from_disk(disk: Disk) -> Self {
        SimStorage {
            state: Rc::new(RefCell::new(SimState {
                disk,
                counters: SimCounters::default(),
                crash_at_event: None,
                snapshot: None,
                record_every_event: false,
                recorded: Vec::new(),
                faults: FaultConfig::default(),
                fault_rng: SplitMix64::new(0),
                faults_left: 0,
                fault_note: 0,
                trace: TraceHash::default(),
            })),
        }
    }

    /// Injects faults per `config`, drawn from `seed`.
    pub fn set_faults(&self, config: FaultConfig, seed: u64) {
        let mut state = self.state.borrow_mut();
        state.faults_left = config.max_faults;
        state.faults = config;
        state.fault_rng = SplitMix64::new(seed);
    }

    /// Stops injecting faults until [`SimStorage::arm_faults`].
    pub fn disarm_faults(&self) {
        self.state.borrow_mut().faults_left = 0;
    }

    /// Allows `max_faults` more faults.
    pub fn arm_faults(&self) {
        let mut state = self.state.borrow_mut();
        state.faults_left = state.faults.max_faults;
    }

    /// How many faults were injected since the last call.
    pub fn take_fault_note(&self) -> u32 {
        std::mem::take(&mut self.state.borrow_mut().fault_note)
    }

    /// The hash of every storage event, fault and crash so far, in order.
    pub fn trace_hash(&self) -> u64 {
        self.state.borrow().trace.value()
    }

    /// The counters.
    pub fn counters(&self) -> SimCounters {
        self.state.borrow().counters
    }

    /// Takes a snapshot of the disk right after the `after_events`-th next event (a crash
    /// point in the middle of whatever the engine is doing then).
    pub fn crash_after_events(&self, after_events: u64) {
        let mut state = self.state.borrow_mut();
        state.crash_at_event = Some(state.counters.events + after_events.max(1));
    }

    /// Cancels a pending crash point.
    pub fn cancel_crash_point(&self) {
        self.state.borrow_mut().crash_at_event = None;
    }

    /// The snapshot taken at the crash point, if it was reached.
    pub fn take_snapshot(&self) -> Option<Disk> {
        self.state.borrow_mut().snapshot.take()
    }

    /// Records a snapshot after every event from now on (exhaustive exploration).
    pub fn record_every_event(&self, on: bool) {
        self.state.borrow_mut().record_every_event = on;
    }

    /// The snapshots recorded, with their event numbers.
    pub fn take_recorded(&self) -> Vec<(u64, Disk)> {
        std::mem::take(&mut self.state.borrow_mut().recorded)
    }

    /// A copy of the disk as it is now.
    pub fn disk(&self) -> Disk {
        self.state.borrow().disk.clone()
    }

    /// Runs `f` on the disk (to inspect or damage it).
    pub fn with_disk<T>(&self, f: impl FnOnce(&mut Disk) -> T) -> T {
        f(&mut self.state.borrow_mut().disk)
    }

    /// Replaces the disk (for example with a crashed snapshot).
    pub fn set_disk(&self, disk: Disk) {
        self.state.borrow_mut().disk = disk;
    }

    /// Crashes the machine: the next durable state is built from `seed` per the fault model
    /// (dirty pages kept, dropped or torn; pending directory operations kept or not), and the
    /// volatile state becomes that durable state. Drop the engine before calling this: its
    /// in-memory state belongs to the process that died. Fault injection is re-armed.
    pub fn crash(&self, seed: u64) {
        let mut state = self.state.borrow_mut();
        state.disk.crash_random(seed);
        state.trace.add(&[EventKind::Crash as u64, seed]);
        state.counters.crashes += 1;
        state.faults_left = state.faults.max_faults;
    }

    fn with_file<T>(
        &self,
        file: FileId,
        op: &'static str,
        f: impl FnOnce(&mut SimFile) -> T,
    ) -> Result<T, SimError> {
        let mut state = self.state.borrow_mut();
        let sim = state
            .disk
            .files
            .get_mut(&file)
            .ok_or_else(|| sim_err(RegionErrorKind::Other, op))?;
        Ok(f(sim))
    }
}

/// A segment file of a [`SimStorage`]. Reads and writes go to the volatile image.
#[derive(Debug)]
pub struct SimRegion {
    storage: SimStorage,
    file: FileId,
    capacity: u64,
}

impl SimRegion {
    fn range(&self, offset: u64, len: usize) -> Result<Range<usize>, SimError> {
        let start = usize::try_from(offset).map_err(|_| out_of_bounds())?;
        let end = start.checked_add(len).ok_or_else(out_of_bounds)?;
        if end as u64 > self.capacity {
            return Err(out_of_bounds());
        }
        Ok(start..end)
    }

    /// Shared by `persist` and `sync`: moves the dirty sectors of `sectors` (or fails).
    fn barrier(
        &mut self,
        op: &'static str,
        sectors: impl FnOnce(&SimFile) -> Range<usize>,
    ) -> Result<(), SimError> {
        let mut state = self.storage.state.borrow_mut();
        let per_mille = state.faults.io_per_mille;
        let fail = state.draw_fault(per_mille);
        let sim = state
            .disk
            .files
            .get_mut(&self.file)
            .ok_or_else(|| sim_err(RegionErrorKind::Other, op))?;
        let sectors = sectors(sim);
        let moved = sim.write_back(sectors, !fail);
        let kind = if op == "msync" {
            EventKind::Persist
        } else {
            EventKind::Sync
        };
        state.event(kind, self.file, (moved << 1) | u64::from(fail));
        if fail {
            return Err(sim_err(RegionErrorKind::Io, op));
        }
        Ok(())
    }
}

fn out_of_bounds() -> SimError {
    sim_err(RegionErrorKind::OutOfBounds, "access")
}

impl RegionRead for SimRegion {
    type Error = SimError;

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), SimError> {
        let range = self.range(offset, buf.len())?;
        self.storage.with_file(self.file, "read", |sim| {
            buf.copy_from_slice(&sim.volatile[range]);
        })
    }
}

impl Region for SimRegion {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), SimError> {
        let range = self.range(offset, data.len())?;
        if range.is_empty() {
            return Ok(());
        }
        let mut state = self.storage.state.borrow_mut();
        let disk = &mut state.disk;
        disk.write_count += 1;
        let write = disk.write_count;
        let sim = disk
            .files
            .get_mut(&self.file)
            .ok_or_else(|| sim_err(RegionErrorKind::Other, "write"))?;
        for sector in range.start / SECTOR_BYTES..range.end.div_ceil(SECTOR_BYTES) {
            sim.dirty[sector] = true;
            sim.written_by[sector] = write;
        }
        sim.volatile[range.clone()].copy_from_slice(data);
        state.event(
            EventKind::Write,
            self.file,
            (offset << 20) ^ range.len() as u64,
        );
        Ok(())
    }

    fn persist(&mut self, range: Range<u64>) -> Result<(), SimError> {
        let len = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX);
        self.range(range.start, len)?;
        self.barrier("msync", |sim| sim.page_sectors(range))
    }

    fn sync(&mut self) -> Result<(), SimError> {
        self.barrier("fsync", |sim| 0..sim.dirty.len())
    }
}

impl Storage for SimStorage {
    type Error = SimError;
    type Region = SimRegion;

    fn list_segments(&mut self) -> Result<Vec<SegmentId>, SimError> {
        let state = self.state.borrow();
        Ok(state
            .disk
            .volatile_names
            .keys()
            .filter_map(|name| match name {
                FileName::Segment(id) => Some(*id),
                FileName::Index(_) => None,
            })
            .collect())
    }

    fn create_segment(&mut self, id: SegmentId, capacity: u64) -> Result<SimRegion, SimError> {
        let mut state = self.state.borrow_mut();
        let per_mille = state.faults.no_space_per_mille;
        if state.draw_fault(per_mille) {
            return Err(sim_err(RegionErrorKind::NoSpace, "create segment"));
        }
        if state
            .disk
            .volatile_names
            .contains_key(&FileName::Segment(id))
        {
            return Err(sim_err(RegionErrorKind::Other, "create segment (exists)"));
        }
        let len = usize::try_from(capacity)
            .map_err(|_| sim_err(RegionErrorKind::NoSpace, "create segment"))?;
        // Reserved space reads as zeros, on the medium too (fallocate).
        let file = state.disk.add_file(vec![0; len]);
        state.disk.dir_op(DirOp::Link(FileName::Segment(id), file));
        state.event(EventKind::Create, u64::from(id.0), file);
        Ok(SimRegion {
            storage: self.clone(),
            file,
            capacity,
        })
    }

    fn open_segment(&mut self, id: SegmentId) -> Result<SimRegion, SimError> {
        let state = self.state.borrow();
        let file = *state
            .disk
            .volatile_names
            .get(&FileName::Segment(id))
            .ok_or_else(|| sim_err(RegionErrorKind::Other, "open segment (missing)"))?;
        let capacity = state.disk.files[&file].volatile.len() as u64;
        Ok(SimRegion {
            storage: self.clone(),
            file,
            capacity,
        })
    }

    fn remove_segment(&mut self, id: SegmentId) -> Result<(), SimError> {
        let mut state = self.state.borrow_mut();
        for name in [FileName::Index(id), FileName::Segment(id)] {
            if state.disk.volatile_names.contains_key(&name) {
                state.disk.dir_op(DirOp::Unlink(name));
                let kind = u64::from(matches!(name, FileName::Index(_)));
                state.event(EventKind::Remove, u64::from(id.0), kind);
            }
        }
        Ok(())
    }

    fn read_index(&mut self, id: SegmentId, out: &mut Vec<u8>) -> Result<bool, SimError> {
        out.clear();
        let state = self.state.borrow();
        let Some(file) = state.disk.volatile_names.get(&FileName::Index(id)) else {
            return Ok(false);
        };
        out.extend_from_slice(&state.disk.files[file].volatile);
        Ok(true)
    }

    fn write_index(&mut self, id: SegmentId, bytes: &[u8]) -> Result<(), SimError> {
        let mut state = self.state.borrow_mut();
        // A temporary file written and fsynced (durable at once), then renamed over the old
        // one: only the rename waits for a directory sync.
        let file = state.disk.add_file(bytes.to_vec());
        state.disk.dir_op(DirOp::Link(FileName::Index(id), file));
        state.event(EventKind::WriteIndex, u64::from(id.0), bytes.len() as u64);
        Ok(())
    }

    fn sync_dir(&mut self) -> Result<(), SimError> {
        let mut state = self.state.borrow_mut();
        let per_mille = state.faults.io_per_mille;
        if state.draw_fault(per_mille) {
            // The operations stay pending: each may or may not have reached the medium.
            state.event(EventKind::SyncDir, 0, 1);
            return Err(sim_err(RegionErrorKind::Io, "fsync directory"));
        }
        let disk = &mut state.disk;
        disk.durable_names.clone_from(&disk.volatile_names);
        disk.pending.clear();
        state.event(EventKind::SyncDir, 0, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use walfs_core::position::SegmentId;
    use walfs_core::region::Region;
    use walfs_core::storage::Storage;

    use super::{SECTOR_BYTES, SimStorage};

    #[test]
    fn prefix_crash_keeps_writes_in_order_up_to_a_point() {
        let mut kept_counts = [0u32; 4];
        for seed in 0..64 {
            let mut storage = SimStorage::new();
            let mut region = storage.create_segment(SegmentId(1), 4096).expect("create");
            storage.sync_dir().expect("sync_dir");
            // Three writes, in this order, to sectors 2, 0 and 1.
            for (write, sector) in [2usize, 0, 1].into_iter().enumerate() {
                let byte = u8::try_from(write + 1).expect("small");
                region
                    .write_at((sector * SECTOR_BYTES) as u64, &[byte; SECTOR_BYTES])
                    .expect("write");
            }
            drop(region);
            let mut disk = storage.disk();
            disk.crash_prefix(seed);
            let bytes = disk.durable_segment(SegmentId(1)).expect("segment");
            let kept: Vec<bool> = [2usize, 0, 1]
                .iter()
                .map(|&sector| bytes[sector * SECTOR_BYTES] != 0)
                .collect();
            let count = kept.iter().take_while(|&&k| k).count();
            assert!(
                kept[count..].iter().all(|&k| !k),
                "seed {seed}: {kept:?} is not a prefix of the writes"
            );
            kept_counts[count] += 1;
        }
        assert!(
            kept_counts.iter().all(|&n| n > 0),
            "every cut point is drawn: {kept_counts:?}"
        );
    }
}
