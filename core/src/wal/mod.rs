//! The WAL engine (feature `alloc`): a directory of segments behind the [`Storage`] trait.
//!
//! Every decision that spans segments is made here, once, for every backend: recovery of a
//! directory ([`open`](WalEngine::open)), rotation, batches across segments, the log index,
//! crash-safe truncation, retention and backup planning, inspection. The `walfs` crate adds
//! threads (a writer lock, group commit, lock-free readers); `walfs-sim` adds a disk that
//! crashes. Both run this code.
//!
//! # Log indexes
//!
//! A record may carry a *log index* (a caller's sequence number, for example a Raft index). The
//! indexes of a WAL form one contiguous run: the first indexed record may carry any index ≥ 1,
//! every later one exactly the previous plus one (SPEC §13.6: the on-disk format can only
//! represent that, since a segment stores its first index and the rest is the ordinal). Records
//! without an index (0) may come before the run starts. Lookups are a binary search over
//! segments and an array access inside one: no hash map, 8 bytes of memory per record.

mod cursor;
mod log_index;
mod open;
mod retention;
mod truncate;
mod write;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

pub use cursor::{WalCursor, WalStep};
pub use open::RecoveryReport;
pub use retention::RetentionPolicy;
pub use write::SyncPlan;

use crate::barrier::{Barrier, is_skipped};
use crate::error::{Error, Result};
use crate::format::{
    FRAME_OVERHEAD_LEN, HEADER_LEN, IndexEntry, RecordFrame, SEGMENT_SIZE_DEFAULT,
};

/// Bytes of the smallest frame (a zero-length payload).
const FRAME_OVERHEAD: u64 = FRAME_OVERHEAD_LEN as u64;
use crate::position::{Position, SegmentId};
use crate::region::RegionErrorKind;
use crate::segment::{RepairPolicy, Segment};
use crate::storage::{Storage, StorageOp};

/// Options of a [`WalEngine`]. The defaults equal the Go original's.
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    /// Size of new segments (16 MiB). Existing segments keep the size they have (SPEC §13.14).
    pub segment_size: u64,
    /// Marker stored in new segments' headers (0 = none).
    pub marker: u32,
    /// Called with the marker of every existing segment at open; `false` refuses the open.
    pub marker_validator: Option<fn(u32) -> bool>,
    /// What to do with damage below a durable watermark (default: refuse to open).
    pub repair: RepairPolicy,
    /// Scan sealed segments at open, checking every CRC (default: trust their headers and
    /// index files, check each record when it is read).
    pub verify_sealed: bool,
    /// Open without changing a byte: nothing is created, sealed, repaired or erased, and every
    /// change is refused. For tools that inspect a log another process may be writing.
    pub read_only: bool,
    /// The wall clock, in nanoseconds since the Unix epoch, for header timestamps.
    pub clock: fn() -> i64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: SEGMENT_SIZE_DEFAULT,
            marker: 0,
            marker_validator: None,
            repair: RepairPolicy::Refuse,
            verify_sealed: false,
            read_only: false,
            clock: || 0,
        }
    }
}

/// One segment of the WAL and the frames of its records.
#[derive(Debug)]
struct Slot<R: crate::region::Region> {
    segment: Segment<R>,
    /// Offset and payload length of every record, in order (segments are at most 4 GiB). Empty
    /// while `loaded` is false.
    records: Vec<(u32, u32)>,
    /// Whether `records` holds the segment's records. A sealed segment's table is read from its
    /// index file when first needed (not at open) and can be released again
    /// ([`WalEngine::release_index_memory`]); an unsealed segment's is always loaded.
    loaded: bool,
}

impl<R: crate::region::Region> Slot<R> {
    /// Reserves room for as many records as the segment can hold (one per 16-byte frame), so
    /// appends to the active segment never reallocate: the write path allocates nothing. A large
    /// allocation is committed lazily by the OS, so memory use follows the records written; a
    /// failed reservation only means the table grows as needed.
    fn reserve_for_appends(&mut self) {
        let frames = self.segment.capacity().saturating_sub(HEADER_LEN as u64) / FRAME_OVERHEAD;
        let more = usize::try_from(frames)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.records.len());
        let _ = self.records.try_reserve_exact(more);
    }

    /// Gives back the room reserved for appends once the segment is sealed.
    fn release_reserve(&mut self) {
        self.records.shrink_to_fit();
    }

    fn push(&mut self, frame: RecordFrame) {
        // Offsets are below the segment size, at most 4 GiB - 16.
        let offset = u32::try_from(frame.offset).unwrap_or(u32::MAX);
        self.records.push((offset, frame.payload_len));
    }

    /// Log index of the last record, if the segment's records carry indexes. A header's first
    /// index is read from the medium: a run that would pass `u64::MAX` ends there.
    fn last_log_index(&self) -> Option<u64> {
        let first = self.segment.first_log_index();
        let count = self.segment.record_count();
        (first != 0 && count != 0).then(|| first.saturating_add(count - 1))
    }

    fn index_bytes(&self) -> Vec<u8> {
        debug_assert!(self.loaded);
        let mut bytes = Vec::with_capacity(self.records.len() * 16);
        for &(offset, payload_len) in &self.records {
            let entry = IndexEntry {
                offset: u64::from(offset),
                payload_len,
            };
            bytes.extend_from_slice(&entry.encode());
        }
        bytes
    }
}

/// What [`WalEngine::release_index_memory`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexRelease {
    /// The sealed segment's record table was dropped; it held this many entries.
    Released {
        /// Entries dropped.
        entries: usize,
    },
    /// The sealed segment's record table was not in memory: nothing to drop.
    NotLoaded,
    /// The segment is not sealed (the active segment): its table stays, nothing changed.
    Unsealed,
}

/// What the engine knows about a segment, for inspection and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment id.
    pub id: SegmentId,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Whether it is the active segment (the one appended to).
    pub active: bool,
    /// Number of records.
    pub record_count: u64,
    /// Bytes used: header and frames.
    pub end: u64,
    /// Size of the segment.
    pub capacity: u64,
    /// Bytes acknowledged by a sync.
    pub durable_end: u64,
    /// Log index of the first record (`None` when its records carry none).
    pub first_log_index: Option<u64>,
    /// Log index of the last record.
    pub last_log_index: Option<u64>,
    /// Creation time (nanoseconds since the epoch).
    pub created_at: i64,
    /// Time of the last header update (nanoseconds since the epoch).
    pub last_modified_at: i64,
}

/// The WAL engine over a storage.
#[derive(Debug)]
pub struct WalEngine<S: Storage> {
    storage: S,
    options: WalOptions,
    segments: BTreeMap<SegmentId, Slot<S::Region>>,
    /// The segment appended to; always the highest id.
    active: SegmentId,
    /// Set by the first failed write, persist or sync: the medium's state is unknown.
    poisoned: Option<RegionErrorKind>,
    /// Changed by every rotation and truncation: a [`SyncPlan`] taken before is stale.
    sync_generation: u64,
    /// [`WalEngine::last_log_index`] once computed (`None`: not known). Every append checks the
    /// log index against it, and computing it walks the segments from the newest until one
    /// carries an index: all of them, for a log without indexes. Appends keep it; truncation,
    /// removal, a failure and the end of open forget it.
    last_log_index: core::cell::Cell<LastLogIndex>,
}

/// What the engine knows of its last log index.
#[derive(Debug, Clone, Copy)]
enum LastLogIndex {
    /// Not computed since the segments last changed otherwise than by an append.
    Unknown,
    /// Computed: the last index, or `None` if no record carries one.
    Known(Option<u64>),
}

impl<S: Storage> WalEngine<S> {
    /// The options the engine runs with.
    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage, mutably (for backend-specific operations such as backups).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// The id of the active segment.
    pub fn active_id(&self) -> SegmentId {
        self.active
    }

    /// Whether an earlier failure poisoned the engine: every later change fails until reopen.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The ids of all segments, ascending.
    pub fn segment_ids(&self) -> impl Iterator<Item = SegmentId> + '_ {
        self.segments.keys().copied()
    }

    /// The segment `id`, for reading (the std backend hands its region's views to readers).
    pub fn segment(&self, id: SegmentId) -> Option<&Segment<S::Region>> {
        self.segments.get(&id).map(|slot| &slot.segment)
    }

    /// What is known about every segment, ascending by id.
    pub fn segment_infos(&self) -> impl Iterator<Item = SegmentInfo> + '_ {
        self.segments.iter().map(|(&id, slot)| {
            let segment = &slot.segment;
            let header = segment.header();
            let first = segment.first_log_index();
            SegmentInfo {
                id,
                sealed: segment.is_sealed(),
                active: id == self.active,
                record_count: segment.record_count(),
                end: segment.end(),
                capacity: segment.capacity(),
                durable_end: segment.durable_end(),
                first_log_index: (first != 0).then_some(first),
                last_log_index: slot.last_log_index(),
                created_at: header.created_at,
                last_modified_at: header.last_modified_at,
            }
        })
    }

    /// Offset and payload length of every record of segment `id` (`None`: no such segment).
    /// Loads a sealed segment's record table from its index file if it is not in memory.
    pub fn record_frames(
        &mut self,
        id: SegmentId,
    ) -> Result<Option<impl Iterator<Item = RecordFrame> + '_>, S::Error> {
        if self.segments.contains_key(&id) {
            self.load_records(id)?;
        }
        Ok(self.segments.get(&id).map(|slot| {
            slot.records
                .iter()
                .map(|&(offset, payload_len)| RecordFrame {
                    offset: u64::from(offset),
                    payload_len,
                })
        }))
    }

    /// Drops the in-memory record table of sealed segment `id` (the Go original's
    /// `ClearIndexFromMemory`, SPEC §6). It is read back from the index file when next needed
    /// (a log index lookup, a truncation into the segment). An unsealed segment's table is
    /// never dropped: the call changes nothing.
    pub fn release_index_memory(&mut self, id: SegmentId) -> Result<IndexRelease, S::Error> {
        let slot = self
            .segments
            .get_mut(&id)
            .ok_or(Error::NoSuchSegment { segment: id })?;
        if !slot.segment.is_sealed() {
            return Ok(IndexRelease::Unsealed);
        }
        if !slot.loaded {
            return Ok(IndexRelease::NotLoaded);
        }
        let entries = slot.records.len();
        slot.records = Vec::new();
        slot.loaded = false;
        Ok(IndexRelease::Released { entries })
    }

    /// Number of record-table entries of segment `id` in memory (`None`: no such segment).
    pub fn index_entries_in_memory(&self, id: SegmentId) -> Option<usize> {
        self.segments
            .get(&id)
            .map(|slot| if slot.loaded { slot.records.len() } else { 0 })
    }

    /// Reads segment `id`'s record table from its index file if it is not in memory (checked
    /// against the segment as at open; rebuilt by a scan, and the file rewritten, when it
    /// disagrees).
    pub(crate) fn load_records(&mut self, id: SegmentId) -> Result<(), S::Error> {
        let Some(slot) = self.segments.get_mut(&id) else {
            return Ok(());
        };
        if slot.loaded {
            return Ok(());
        }
        let mut segment_slot = self
            .segments
            .remove(&id)
            .ok_or(Error::NoSuchSegment { segment: id })?;
        let mut index_buf = Vec::new();
        let mut report = RecoveryReport::default();
        let frames = self.sealed_frames(&mut segment_slot.segment, &mut index_buf, &mut report);
        let frames = match frames {
            Ok(frames) => frames,
            Err(error) => {
                self.segments.insert(id, segment_slot);
                return Err(error);
            }
        };
        segment_slot.records = Vec::with_capacity(frames.len());
        for frame in frames {
            segment_slot.push(frame);
        }
        segment_slot.loaded = true;
        self.segments.insert(id, segment_slot);
        Ok(())
    }

    /// Reads and validates (CRC included) the record at `position`.
    pub fn read(&mut self, position: Position) -> Result<RecordFrame, S::Error> {
        let slot = self
            .segments
            .get_mut(&position.segment)
            .ok_or(Error::NoSuchSegment {
                segment: position.segment,
            })?;
        slot.segment.read(position.offset)
    }

    /// The payload of a record read by [`WalEngine::read`], as a zero-copy view if the medium
    /// offers one.
    pub fn payload(&self, segment: SegmentId, frame: &RecordFrame) -> Option<&[u8]> {
        self.segments.get(&segment)?.segment.payload(frame)
    }

    /// Copies the payload of a record into `buf`.
    pub fn read_payload<'b>(
        &mut self,
        segment: SegmentId,
        frame: &RecordFrame,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], S::Error> {
        let slot = self
            .segments
            .get_mut(&segment)
            .ok_or(Error::NoSuchSegment { segment })?;
        slot.segment.read_payload(frame, buf)
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    fn now(&self) -> i64 {
        (self.options.clock)()
    }

    fn check_changeable(&self) -> Result<(), S::Error> {
        if self.options.read_only {
            return Err(Error::ReadOnly {
                segment: self.active,
            });
        }
        if let Some(first_failure) = self.poisoned {
            return Err(Error::Poisoned {
                segment: self.active,
                first_failure,
            });
        }
        Ok(())
    }

    /// Records the first failure of a change: region and storage failures poison the engine.
    fn note_failure<T>(&mut self, result: Result<T, S::Error>) -> Result<T, S::Error> {
        if let Err(error) = &result {
            // A change may have stopped half-way: what is on record is no longer known.
            self.forget_last_log_index();
            let kind = match error {
                Error::Region { source, .. } | Error::Storage { source, .. } => {
                    Some(crate::region::RegionError::kind(source))
                }
                Error::Poisoned { first_failure, .. } => Some(*first_failure),
                _ => None,
            };
            if let Some(kind) = kind
                && !is_skipped(Barrier::SyncPoisoning)
            {
                self.poisoned.get_or_insert(kind);
            }
        }
        result
    }
}

impl<S: Storage> WalEngine<S> {
    /// Makes the directory's pending changes durable (the directory sync barrier).
    fn sync_dir(&mut self, segment: Option<SegmentId>) -> Result<(), S::Error> {
        if is_skipped(Barrier::DirSync) {
            return Ok(());
        }
        self.storage
            .sync_dir()
            .map_err(storage_err(StorageOp::SyncDir, segment))
    }
}

fn storage_err<E>(op: StorageOp, segment: Option<SegmentId>) -> impl FnOnce(E) -> Error<E> {
    move |source| Error::Storage {
        op,
        segment,
        source,
    }
}

#[cfg(test)]
mod tests;
