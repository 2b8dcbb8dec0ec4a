//! Memory-mapped segment files: the writer's [`MmapRegion`], and the readers' pinned views and [`RecordView`]s over
//! one shared mapping.
//!
//! # Safety
//!
//! This module and the hardware CRC of walfs-core are the only places with `unsafe`. Here it
//! turns the mapping's pointer into slices (readers, and the writer's own reads) and copies bytes
//! into it (the writer). The mapping is a `MmapRaw`: memmap2 hands out only a pointer, no
//! references, so every slice's validity rests on the protocol below, which the code enforces
//! at run time rather than assuming it of callers:
//!
//! 1. **Lifetime.** Every handle holds an `Arc<SharedMap>`, and a slice borrows its handle, so the
//!    mapping outlives every slice. It is unmapped when the last handle is dropped. The mapping
//!    is made on first use (see "Lazy mapping") and then never replaced (a `OnceLock`): a slice
//!    taken from it stays valid as long as the handle.
//! 2. **Publication** (the [`ReadGate`](crate::gate) protocol, checked by loom models). The writer
//!    stores the bytes of records first, then the new end with `Release` (`published_end`). A reader loads the end with `Acquire` and slices only record
//!    bytes, `64..end`. Appends write at or above `high_water`, the highest end ever published,
//!    so they never touch bytes a reader may be looking at.
//! 3. **Pins and exclusive access.** A reader pins the mapping (`pins += 1`) before it slices and
//!    unpins when the slice (or the record view built from it) is dropped. A write that reaches
//!    below `high_water` (truncation, which zeroes records readers may have seen) needs exclusive
//!    access: the `EXCLUSIVE` bit, set by a compare-exchange from zero pins. While it is set no
//!    pin can be taken, so no slice of the bytes being changed exists. `write_at` refuses such a
//!    write without exclusive access (an error, never a race). Ending exclusive access lowers
//!    `high_water` to the published end.
//! 4. **Header.** Readers never slice below offset 64; the writer rewrites the header in place.
//! 5. **Preparation.** The preparer thread writes zeros into the file with `pwrite` (the same
//!    page cache as the mapping), but only at or above every end the writer has claimed
//!    (`crate::prepare`, checked by a loom model), and the writer claims an end before it stores
//!    and publishes below it: no zero lands on bytes a reader may slice or the writer has stored.
//!
//! The writer is a single thread at a time (`&mut self`), so writes never race writes.
//!
//! # Lazy mapping
//!
//! A segment file is opened (and its size taken) when the storage opens it, but mapped only when
//! its bytes are first needed: a zero-copy view, a write, or a reader. Until then `read_at`
//! reads with `pread`, which sees the same page cache. Open reads only the 64-byte header of a
//! sealed segment (unless it verifies sealed segments), so a log of many sealed segments opens
//! without an `mmap` and a page fault per segment: for the 1 GiB bench log (63 sealed segments)
//! that was about a sixth of the open's time. A mapping that fails when first needed is an I/O
//! error of that access ("map segment"), as it was of the open before.
//!
//! # Scan read-ahead
//!
//! A recovery scan reads every byte of the active segment (16 MiB by default) through the
//! mapping, and the page cache of a segment written through a mapping holds 4 KiB folios, so
//! each page costs the kernel its own mapping work: a third of the open's time, after the CRC
//! the largest part. Populating the pages in bulk in the scanning thread (`MADV_POPULATE_READ`)
//! costs more than the faults it saves (the kernel walks every page a second time: 22 % of the
//! open's samples against 15 % for the faults). So [`RegionRead::will_read`], which the scan
//! calls first, hands the populate to a short-lived thread: on another core it overlaps the
//! CRC, and the scan finds the pages mapped (1 GiB bench log: open 2.3 ms to 1.8 ms, and
//! 195 ms to 140 ms with every sealed segment verified). The engine opens the last segment
//! first and announces its scan before it opens the sealed ones, so the populate also overlaps
//! their opening (63 sealed segments, about 0.3 ms: median open 1.66 ms to 1.38 ms in
//! alternating runs); the scan's own announcement then starts nothing (one read-ahead per
//! mapping). The thread holds an `Arc` of the mapping, so the mapping outlives it; it only
//! calls `madvise`, creates no slice, and changes nothing a reader can see. Where no core is
//! free it costs a thread start and the populate competes with the scan (two runs with both
//! cores of the bench machine kept busy: about as fast as without it). Two populating threads,
//! one per half, were no faster on two cores.
//!
//! The populate is the open's floor here: `MADV_POPULATE_READ` of a 16 MiB segment from a warm
//! page cache takes about 1 ms on the bench machine, three times the CRC-32C of its bytes
//! (bench `recover/map_crc32c`).

#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Range;

use memmap2::{Advice, MmapOptions, MmapRaw};
use walfs_core::format::HEADER_LEN;
use walfs_core::region::{Region, RegionErrorKind, RegionRead};

use crate::error::FsError;
use crate::gate::{REMOVED, ReadGate};
use crate::prepare::{PrepareGate, SyncHint, Zeroing};
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, OnceLock, Ordering};

const HEADER_END: u64 = HEADER_LEN as u64;

/// Bytes populated per `madvise` call of the scan read-ahead.
const READ_AHEAD_CHUNK: usize = 256 * 1024;

/// One mapped segment file, shared by its writer and readers.
#[derive(Debug)]
pub(crate) struct SharedMap {
    /// The mapping of the whole file, made on first use (see "Lazy mapping").
    map: OnceLock<MmapRaw>,
    file: File,
    len: u64,
    writable: bool,
    /// Publication, pins and exclusive access (rules 2 and 3).
    gate: ReadGate,
    /// `(epoch, end)` of the last truncations: the epoch each began and the end it cut to.
    cuts: Mutex<Vec<(u64, u64)>>,
    /// Flush bookkeeping, shared so that a sync leader can flush without the writer's lock.
    flush: FlushState,
    /// The writer/preparer protocol (`crate::prepare`); also bounds the flushed range.
    prepare: PrepareGate,
    /// The preparer thread, woken when the writer nears the end of the prepared bytes; set
    /// when the segment is created, or when its preparation resumes after an open.
    preparer: OnceLock<std::thread::Thread>,
    /// Whether the WAL syncs, which sets how the preparer writes its zeros.
    sync_hint: Option<Arc<SyncHint>>,
    /// A scan read-ahead was started for this mapping (one is enough: the pages stay mapped).
    read_ahead: AtomicBool,
    /// The ranges each `pwrite` of zeros covered, for tests.
    #[cfg(all(test, not(loom)))]
    zero_writes: Mutex<Vec<Range<u64>>>,
}

/// Which writes a successful flush has covered.
///
/// The writer bumps `writes` after each store has completed; a flush reads it before it starts,
/// so every write it counts was in the page cache when the flush began and is covered by it. A failed flush is remembered for good: the kernel may have dropped the failed pages and
/// reports the error only once per open file, so a later flush that "succeeds" must not be
/// believed (SPEC §13.4); the engine is poisoned by the error the next barrier returns.
/// Flushes of one file run one at a time (`running`): of two concurrent flushes of one open
/// file only the first would see a write-back error, and the other could return
/// success for pages that were lost.
#[derive(Debug)]
struct FlushState {
    /// Held while a flush runs.
    running: Mutex<()>,
    /// Writes through the writer's handle so far.
    writes: AtomicU64,
    /// The highest `writes` count a successful flush covered.
    flushed: AtomicU64,
    /// A flush of this file failed.
    failed: AtomicBool,
    /// Successful flushes of this file (by any handle), for tests.
    #[cfg(all(test, not(loom)))]
    file_flushes: AtomicU64,
}

impl FlushState {
    fn new() -> Self {
        FlushState {
            running: Mutex::new(()),
            writes: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            #[cfg(all(test, not(loom)))]
            file_flushes: AtomicU64::new(0),
        }
    }
}

/// How many truncations of one segment a reader can miss and still be told precisely whether
/// it was cut; a reader that missed more is told its position is gone.
const CUTS_KEPT: usize = 16;

impl SharedMap {
    /// Maps `file` (whole) read-write, or read-only: an existing segment, never prepared.
    ///
    /// Its first barrier always flushes, even with nothing written since: the page cache may
    /// hold pages an earlier process wrote and never flushed (it was killed), which recovery
    /// has just read back as records; a sync must not report them durable before they are.
    pub(crate) fn map(file: File, writable: bool) -> Result<Self, FsError> {
        let mut shared = Self::map_file(file, writable)?;
        shared.prepare = PrepareGate::unprepared(shared.len);
        shared.flush.writes.store(1, Ordering::Relaxed);
        Ok(shared)
    }

    /// Maps a segment file this process has just created and sized, every byte zero, for
    /// writing: its pages are prepared ahead of the writer by `preparer` if there is one
    /// (`crate::prepare`), and its flushes cover only what was written.
    pub(crate) fn map_new_segment(
        file: File,
        preparer: Option<std::thread::Thread>,
    ) -> Result<Self, FsError> {
        let mut shared = Self::map_file(file, true)?;
        shared.prepare = if preparer.is_some() {
            PrepareGate::new_segment()
        } else {
            PrepareGate::new_segment_unprepared()
        };
        if let Some(preparer) = preparer {
            let _ = shared.preparer.set(preparer);
        }
        Ok(shared)
    }

    /// The segment in `file`, to be mapped (whole) read-write, or read-only, when first used.
    fn map_file(file: File, writable: bool) -> Result<Self, FsError> {
        // The size from a seek to the end: cheaper than a `stat`, and all that is needed.
        let len = rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0))
            .map_err(|e| FsError::io("size segment", e.into()))?;
        Ok(SharedMap {
            map: OnceLock::new(),
            file,
            len,
            writable,
            gate: ReadGate::new(),
            cuts: Mutex::new(Vec::new()),
            flush: FlushState::new(),
            prepare: PrepareGate::unprepared(len),
            preparer: OnceLock::new(),
            sync_hint: None,
            read_ahead: AtomicBool::new(false),
            #[cfg(all(test, not(loom)))]
            zero_writes: Mutex::new(Vec::new()),
        })
    }

    /// This segment, zeroed (when it is prepared) as `hint` says.
    pub(crate) fn with_sync_hint(mut self, hint: Arc<SyncHint>) -> Self {
        self.sync_hint = Some(hint);
        self
    }

    /// Resumes the preparation of a segment an open found unsealed and last, which this process
    /// appends to from `end`: from now on it is prepared by `preparer` as a created segment
    /// whose writer has written `[0, end)`, and its flushes cover `[0, end)` and what the writer
    /// stores after it instead of the whole file. That still covers what an earlier process may
    /// have left unflushed: its records and header lie below `end`, every byte from `end` on is
    /// erased (the recovery scan checked it, or its cut zeroed it durably), and the first
    /// barrier still always flushes. Must be called before the segment's writer stores and
    /// before the preparer has it. Returns whether it resumed (not for a read-only segment or
    /// one prepared already).
    pub(crate) fn resume_preparation(&self, end: u64, preparer: std::thread::Thread) -> bool {
        if !self.writable || self.preparer.get().is_some() || end > self.len {
            return false;
        }
        self.prepare.resume(end);
        self.preparer.set(preparer).is_ok()
    }

    /// Zeroes the next chunk ahead of the writer (`pwrite(2)` of zeros, see `crate::prepare`)
    /// if less than a window is prepared; returns whether it did. A failed `pwrite` (a sparse
    /// file on a full disk) ends the preparation of this segment: the writer's stores then
    /// take their page faults themselves, as without preparation.
    pub(crate) fn prepare_next(&self) -> bool {
        self.prepare
            .prepare_next(self.len, |range| {
                self.write_zeros(range.clone(), Zeroing::Window)?;
                self.populate_range_for_writing(&range);
                Ok::<(), rustix::io::Errno>(())
            })
            .unwrap_or(false)
    }

    /// [`SharedMap::prepare_next`] for a spare segment: the whole file, chunk by chunk.
    pub(crate) fn prepare_next_ignoring_window(&self) -> bool {
        self.prepare
            .prepare_next_ignoring_window(self.len, |range| self.write_zeros(range, Zeroing::Spare))
            .unwrap_or(false)
    }

    /// Whether every byte of the file is prepared.
    pub(crate) fn is_fully_prepared(&self) -> bool {
        self.prepare.is_fully_prepared(self.len)
    }

    /// Maps every page writable in the page tables (`MADV_POPULATE_WRITE`, Linux 5.14+; ignored
    /// where unsupported). For a fully prepared spare: its pages are dirty already, so this
    /// only spares its writer the remaining (cheap) fault per page.
    pub(crate) fn populate_for_writing(&self) {
        if let Ok(map) = self.mapping() {
            let _ = map.advise(Advice::PopulateWrite);
        }
    }

    /// [`SharedMap::populate_for_writing`] of `range` only, if the segment is mapped: after its
    /// zeros, so that the writer's first store to each page there takes no fault (a page the
    /// writer finds mapped read-only, as a recovery scan leaves the active segment, would
    /// otherwise cost the file system's write fault, about 2.4 µs). Populating changes no byte.
    fn populate_range_for_writing(&self, range: &Range<u64>) {
        if let (Some(map), Ok(start), Ok(len)) = (
            self.map.get(),
            usize::try_from(range.start),
            usize::try_from(range.end - range.start),
        ) {
            let _ = map.advise_range(Advice::PopulateWrite, start, len);
        }
    }

    /// `pwrite(2)` of zeros over `range` (the preparer's zeroing, see `crate::prepare`), as
    /// many bytes per call as [`SyncHint::zero_step`] says for `zeroing` (without a hint, a
    /// chunk).
    fn write_zeros(&self, range: Range<u64>, zeroing: Zeroing) -> Result<(), rustix::io::Errno> {
        static ZEROS: [u8; crate::prepare::CHUNK_BYTES] = [0; crate::prepare::CHUNK_BYTES];
        let mut offset = range.start;
        while offset < range.end {
            let left = range.end - offset;
            let step = self
                .sync_hint
                .as_ref()
                .map_or(left, |hint| hint.zero_step(offset, left, zeroing));
            let n = usize::try_from(step)
                .unwrap_or(ZEROS.len())
                .min(ZEROS.len());
            match rustix::io::pwrite(&self.file, &ZEROS[..n], offset) {
                Ok(0) => return Err(rustix::io::Errno::NOSPC),
                Ok(written) => {
                    #[cfg(all(test, not(loom)))]
                    crate::sync::lock(&self.zero_writes).push(offset..offset + written as u64);
                    offset += written as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The ranges the `pwrite` calls of zeros have covered so far, in order.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn zero_writes_for_test(&self) -> Vec<Range<u64>> {
        crate::sync::lock(&self.zero_writes).clone()
    }

    /// Bytes prepared ahead (`u64::MAX` for a segment that is not prepared).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn prepared(&self) -> u64 {
        self.prepare.prepared()
    }

    /// The end of the range the next flush covers.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn flush_end(&self) -> u64 {
        self.prepare.written_hi()
    }

    /// Flushes the file unless every write so far is already covered, without
    /// needing the writer's handle: a sync leader runs it for the engine's sync plan
    /// (`WalEngine::sync_plan`, taken under the writer's lock) without that lock, so appenders
    /// go on while the device flushes. `Ok` means every write made before the call is durable
    /// (the plan's data and the header as written then). A failure is remembered for good (see
    /// `FlushState`) and handed to `WalEngine::complete_sync`, which poisons the engine.
    pub(crate) fn flush_ahead(&self) -> Result<(), FsError> {
        self.flush_covering_writes()
            .map(|_| ())
            .map_err(|e| FsError::io("sync segment (msync)", e))
    }

    /// Flushes that succeeded on this file so far, by any handle.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn file_flushes_for_test(&self) -> u64 {
        self.flush.file_flushes.load(Ordering::Acquire)
    }

    /// Makes every later flush of this file fail, as after a failed flush.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn fail_flushes_for_test(&self) {
        self.flush.failed.store(true, Ordering::Release);
    }

    /// One flush covering every write counted so far, unless a successful one already did;
    /// fails for good once one failed. The flush is an `msync(MS_SYNC)` of `[0, written_hi)`
    /// (see `MmapRegion`'s "Flushes").
    fn flush_covering_writes(&self) -> Result<bool, std::io::Error> {
        let flush = &self.flush;
        let _running = crate::sync::lock(&flush.running);
        if flush.failed.load(Ordering::Acquire) {
            return Err(std::io::Error::other(
                "an earlier flush of this segment failed; its pages may be lost",
            ));
        }
        let writes = flush.writes.load(Ordering::Acquire);
        if flush.flushed.load(Ordering::Acquire) >= writes {
            return Ok(false);
        }
        // Loaded after `writes`: every write counted there raised `written_hi` before it was
        // counted, so the range covers it.
        let end = usize::try_from(self.prepare.written_hi().min(self.len)).unwrap_or(usize::MAX);
        let flushed = match self.map.get() {
            Some(map) => map.flush_range(0, end),
            // Never mapped here, so nothing was written through this handle: what an earlier
            // process may have left unflushed is flushed whole.
            None => rustix::fs::fdatasync(&self.file).map_err(Into::into),
        };
        match flushed {
            Ok(()) => {
                flush.flushed.fetch_max(writes, Ordering::AcqRel);
                #[cfg(all(test, not(loom)))]
                flush.file_flushes.fetch_add(1, Ordering::AcqRel);
                Ok(true)
            }
            Err(error) => {
                flush.failed.store(true, Ordering::Release);
                Err(error)
            }
        }
    }

    /// `MADV_POPULATE_READ` of `start..start + len`, in chunks taken alternately from its lower
    /// and its upper half: the order in which a recovery scan reads an active segment (records
    /// from the bottom, the erased tail from the watermark, often the middle). Errors are
    /// ignored: this only saves the reader page faults.
    #[cfg(not(loom))]
    fn populate_halves(&self, start: usize, len: usize) {
        let Some(map) = self.map.get() else {
            return;
        };
        let half = len / 2;
        let mut at = 0;
        while at < len - half {
            for base in [start, start + half] {
                let end = (base + at + READ_AHEAD_CHUNK).min(base + len - half);
                if let Some(chunk_len) = end.checked_sub(base + at) {
                    let _ = map.advise_range(Advice::PopulateRead, base + at, chunk_len);
                }
            }
            at += READ_AHEAD_CHUNK;
        }
    }

    /// The mapping, made now if this is its first use.
    #[inline]
    fn mapping(&self) -> Result<&MmapRaw, FsError> {
        match self.map.get() {
            Some(map) => Ok(map),
            None => self.map_now(),
        }
    }

    /// Maps the file (the first access), unless another thread just did.
    #[cold]
    fn map_now(&self) -> Result<&MmapRaw, FsError> {
        let len = usize::try_from(self.len)
            .map_err(|_| FsError::kind(RegionErrorKind::OutOfBounds, "map segment"))?;
        // The length is given, so memmap2 does not stat the file again.
        let options = MmapOptions::new().len(len).clone();
        let map = if self.writable {
            options.map_raw(&self.file)
        } else {
            options.map_raw_read_only(&self.file)
        }
        .map_err(|e| FsError::io("map segment", e))?;
        // Of two threads mapping at once, one mapping wins; the other is unmapped here, before
        // anything was sliced from it.
        Ok(self.map.get_or_init(|| map))
    }

    /// Whether the file is mapped yet.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_mapped(&self) -> bool {
        self.map.get().is_some()
    }

    /// The size of the segment.
    pub(crate) fn capacity(&self) -> u64 {
        self.len
    }

    /// The published state, sealed flag first (see `walfs_core::cursor`).
    pub(crate) fn published(&self) -> walfs_core::PublishedEnd {
        self.gate.published()
    }

    #[inline]
    fn range(&self, range: &Range<u64>) -> Option<(usize, usize)> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        let start = usize::try_from(range.start).ok()?;
        let len = usize::try_from(range.end - range.start).ok()?;
        Some((start, len))
    }

    /// Takes exclusive access if no reader holds a pin.
    pub(crate) fn try_exclusive(&self) -> bool {
        self.gate.try_exclusive()
    }

    /// Ends exclusive access, remembering where it cut for readers that missed it.
    pub(crate) fn end_exclusive(&self) {
        let (epoch, end) = self.gate.end_exclusive();
        if epoch != REMOVED {
            let mut cuts = crate::sync::lock(&self.cuts);
            if cuts.len() == CUTS_KEPT {
                cuts.remove(0);
            }
            cuts.push((epoch, end));
        }
    }

    /// The truncation epoch.
    pub(crate) fn epoch(&self) -> u64 {
        self.gate.epoch()
    }

    /// Marks the segment removed from the log: readers still holding it get an error.
    pub(crate) fn mark_removed(&self) {
        self.gate.mark_removed();
    }

    /// Whether a reader that last saw epoch `seen` and stands at `offset` lost its position: a
    /// truncation since then cut the segment below it.
    pub(crate) fn cut_below(&self, seen: u64, offset: u64) -> bool {
        let cuts = crate::sync::lock(&self.cuts);
        if cuts.first().is_none_or(|&(oldest, _)| oldest > seen) {
            // Missed more truncations than are remembered: assume the worst.
            return self.gate.epoch() != seen;
        }
        cuts.iter()
            .any(|&(epoch, end)| epoch >= seen && end < offset)
    }

    /// Where `range` lies in the mapping, made if need be, when it holds record bytes below
    /// the published end (what a reader holding a pin may slice).
    #[inline]
    fn reader_range(&self, range: &Range<u64>) -> Option<(usize, usize)> {
        if range.start < HEADER_END || range.end > self.gate.end() {
            return None;
        }
        let located = self.range(range)?;
        self.mapping().ok()?;
        Some(located)
    }

    /// A slice of record bytes below the published end, for a reader holding a pin.
    #[inline]
    fn reader_slice(&self, range: Range<u64>) -> Option<&[u8]> {
        let (start, len) = self.reader_range(&range)?;
        let data = self.mapping().ok()?.as_ptr().wrapping_add(start);
        // SAFETY: the range lies inside the mapping (checked by `range`), which lives as long as
        // `self` (rule 1). It is below the published end loaded with Acquire, so the writer's
        // stores of these bytes happened before (rule 2), and while the caller holds its pin no
        // write below `high_water` can start (rule 3); appends write above it. The bytes are
        // therefore initialised and not mutated while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(data, len) })
    }
}

/// The writer's handle on a segment: the [`Region`] the engine's `Segment` writes through.
///
/// # Flushes
///
/// Both barriers are one flush, and only when something was written since the last successful
/// one. The flush is an `msync(MS_SYNC)` of `[0, written_hi)`, where `written_hi` is the end of
/// the highest byte this handle has written (the whole file for a segment this process did not
/// create, which may hold dirty pages from before it was opened). On Linux that is
/// `vfs_fsync_range` over the range with `datasync` set, the same flush as `fdatasync` limited
/// to the range: its dirty pages are written back, the journal is committed (the file's
/// metadata, unwritten extents turned written included) and the device cache is flushed. It
/// leaves out only the zeros the preparer wrote ahead of the writer (`crate::prepare`), which
/// need no durability: the file reads as zeros there either way. So a `persist` flushes at
/// least its range (writing back more than asked is always allowed: the kernel may write any
/// dirty page back at any time), and a barrier with nothing written since the last successful
/// flush has nothing left to make durable (the file's size never changes through the mapping). `Segment::sync` (persist data, persist header, sync)
/// then costs one flush instead of three, and each `persist` the engine uses as an ordering
/// point (truncation) is still a complete flush before the next write.
///
/// "Written since the last successful flush" counts a sync leader's flush too
/// (`SharedMap::flush_ahead`, run for the engine's sync plan without the writer's lock).
/// A failed flush of either kind makes every later barrier of the segment fail.
#[derive(Debug)]
pub struct MmapRegion {
    shared: Arc<SharedMap>,
    /// Flushes run (`msync` calls), for tests.
    #[cfg(all(test, not(loom)))]
    flushes: u64,
}

impl MmapRegion {
    pub(crate) fn new(shared: SharedMap) -> Self {
        MmapRegion {
            shared: Arc::new(shared),
            #[cfg(all(test, not(loom)))]
            flushes: 0,
        }
    }

    /// Flushes run so far.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn flushes(&self) -> u64 {
        self.flushes
    }

    /// One flush if anything was written since the last successful flush (this one's or
    /// a sync leader's `SharedMap::flush_ahead`); an error once any flush of the file failed.
    fn flush(&mut self, what: &'static str) -> Result<(), FsError> {
        let flushed = self
            .shared
            .flush_covering_writes()
            .map_err(|e| FsError::io(what, e))?;
        #[cfg(all(test, not(loom)))]
        {
            self.flushes += u64::from(flushed);
        }
        let _ = flushed;
        Ok(())
    }

    pub(crate) fn shared(&self) -> &Arc<SharedMap> {
        &self.shared
    }

    /// A slice for the writer itself. The writer is the only thread that writes, and it holds
    /// `&self` here, so no write is in progress; readers only read.
    fn writer_slice(&self, range: Range<u64>) -> Option<&[u8]> {
        let (start, len) = self.shared.range(&range)?;
        let data = self.shared.mapping().ok()?.as_ptr().wrapping_add(start);
        // SAFETY: in bounds (checked), mapping alive (rule 1). Only the writer writes, and it
        // cannot while this shared borrow of its handle lives; concurrent readers only read.
        Some(unsafe { std::slice::from_raw_parts(data, len) })
    }
}

impl MmapRegion {
    /// The address of `offset` in the mapping, for a store of `offset..end` by the writer, once
    /// every rule allows it: the segment is writable, the range lies inside the mapping, it is
    /// the header, unpublished bytes or under exclusive access (rules 2 to 4, so no reader holds
    /// a slice of it), and the preparer has been told not to zero below `end`.
    #[inline]
    fn store_target(&self, offset: u64, end: u64) -> Result<*mut u8, FsError> {
        let shared = &self.shared;
        if !shared.writable {
            return Err(FsError::kind(
                RegionErrorKind::Other,
                "write a read-only segment",
            ));
        }
        let (start, _) = shared
            .range(&(offset..end))
            .ok_or_else(|| FsError::kind(RegionErrorKind::OutOfBounds, "write segment"))?;
        if !shared.gate.may_write(offset, end, HEADER_END) {
            return Err(FsError::kind(
                RegionErrorKind::Other,
                "overwrite bytes readers may see without exclusive access",
            ));
        }
        // Before the store: the preparer zeroes only above every claimed end (`crate::prepare`).
        shared.prepare.claim(end);
        Ok(shared.mapping()?.as_mut_ptr().wrapping_add(start))
    }

    /// After a store that ended at `end`: counts it for the flushes and wakes the preparer if
    /// it falls behind.
    #[inline]
    fn stored(&self, end: u64) {
        let shared = &self.shared;
        // Counted after the store: a flush that sees this count starts after the bytes are in
        // the page cache (see `FlushState`). Only this writer counts, so a plain store will do.
        let writes = &shared.flush.writes;
        writes.store(writes.load(Ordering::Relaxed) + 1, Ordering::Release);
        if shared.prepare.wants_preparer(end, shared.len)
            && let Some(preparer) = shared.preparer.get()
        {
            preparer.unpark();
        }
    }
}

impl RegionRead for MmapRegion {
    type Error = FsError;

    fn capacity(&self) -> u64 {
        self.shared.len
    }

    /// From the mapping once it exists; before, with `pread` (open reads a sealed segment's
    /// header this way without mapping it).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), FsError> {
        let range = offset..offset.saturating_add(buf.len() as u64);
        if self.shared.range(&range).is_none() {
            return Err(FsError::kind(RegionErrorKind::OutOfBounds, "read segment"));
        }
        if self.shared.map.get().is_none() {
            return std::os::unix::fs::FileExt::read_exact_at(&self.shared.file, buf, offset)
                .map_err(|e| FsError::io("read segment", e));
        }
        let bytes = self
            .writer_slice(range)
            .ok_or_else(|| FsError::kind(RegionErrorKind::OutOfBounds, "read segment"))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn bytes(&self, range: Range<u64>) -> Option<&[u8]> {
        self.writer_slice(range)
    }

    /// Populates the pages of `range` from a short-lived background thread (see "Scan
    /// read-ahead"), once per mapping (the engine announces the active segment's scan when it
    /// opens it, and the scan announces it again); ranges under 1 MiB are left to the reader's
    /// own faults.
    fn will_read(&self, range: Range<u64>) {
        #[cfg(not(loom))]
        {
            let Some((start, len)) = self.shared.range(&range) else {
                return;
            };
            if len < 4 * READ_AHEAD_CHUNK
                || self.shared.read_ahead.swap(true, Ordering::Relaxed)
                || self.shared.mapping().is_err()
            {
                return;
            }
            let shared = Arc::clone(&self.shared);
            // A failed spawn only means the reader faults the pages in itself.
            let _ = std::thread::Builder::new()
                .name("walfs-read-ahead".into())
                .spawn(move || shared.populate_halves(start, len));
        }
        #[cfg(loom)]
        let _ = range;
    }
}

impl Region for MmapRegion {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        let end = offset.saturating_add(data.len() as u64);
        let target = self.store_target(offset, end)?;
        // SAFETY: `store_target` returned the start of `offset..end`, in bounds, writable and
        // sliced by no reader (see there); `data` is `end - offset` bytes and a separate
        // borrow, so the ranges do not overlap. Only this `&mut self` writer writes.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), target, data.len());
        }
        self.stored(end);
        Ok(())
    }

    /// The frame is encoded straight into the mapping (see the trait).
    #[inline]
    fn write_frame_in_place(
        &mut self,
        offset: u64,
        len: usize,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<bool, FsError> {
        let end = offset.saturating_add(len as u64);
        let target = self.store_target(offset, end)?;
        // SAFETY: `store_target` returned the start of `offset..end`: inside the live mapping,
        // writable, and sliced by no reader (rules 2 to 4; see there), with the preparer told to
        // stay above `end`. Only this `&mut self` writer stores into the mapping, so for as long
        // as `encode` runs this is the only reference to these bytes; any byte value is a valid
        // `u8`.
        let frame = unsafe { std::slice::from_raw_parts_mut(target, len) };
        encode(frame);
        self.stored(end);
        Ok(true)
    }

    fn persist(&mut self, range: Range<u64>) -> Result<(), FsError> {
        let (_, len) = self
            .shared
            .range(&range)
            .ok_or_else(|| FsError::kind(RegionErrorKind::OutOfBounds, "persist segment"))?;
        if len == 0 {
            return Ok(());
        }
        // A whole-file flush: see "Flushes" above.
        self.flush("persist segment (msync)")
    }

    fn sync(&mut self) -> Result<(), FsError> {
        self.flush("sync segment (msync)")
    }

    fn publish_end(&mut self, end: u64) {
        self.shared.gate.publish_end(end);
    }

    fn publish_sealed(&mut self, sealed: bool) {
        self.shared.gate.publish_sealed(sealed);
    }
}

/// A pinned reader's view of a segment: reads record bytes below the published end,
/// zero-copy. The pin is released on drop, or handed to a [`RecordView`].
#[derive(Debug)]
pub(crate) struct PinnedView {
    shared: Arc<SharedMap>,
}

impl PinnedView {
    /// Pins the segment; `None` while a writer has exclusive access (a truncation in progress).
    #[inline]
    pub(crate) fn pin(shared: &Arc<SharedMap>) -> Option<Self> {
        Self::pin_owned(Arc::clone(shared))
    }

    /// [`PinnedView::pin`] keeping the caller's `Arc` rather than taking another (two atomic
    /// read-modify-writes fewer per read).
    #[inline]
    pub(crate) fn pin_owned(shared: Arc<SharedMap>) -> Option<Self> {
        shared.gate.pin().then(move || PinnedView { shared })
    }

    /// The pinned segment's published state (see [`SharedMap::published`]).
    #[inline]
    pub(crate) fn published(&self) -> walfs_core::PublishedEnd {
        self.shared.published()
    }

    /// The payload bytes `range` as a record view that keeps this pin.
    #[inline]
    pub(crate) fn into_record(self, range: Range<u64>) -> Option<RecordView> {
        let (start, len) = self.shared.reader_range(&range)?;
        let this = std::mem::ManuallyDrop::new(self);
        // Move the Arc out without running PinnedView's Drop: the pin passes to the view.
        // SAFETY: `this` is never used or dropped again after this read.
        let shared = unsafe { std::ptr::read(&raw const this.shared) };
        Some(RecordView { shared, start, len })
    }
}

impl Drop for PinnedView {
    fn drop(&mut self) {
        self.shared.gate.unpin();
    }
}

impl RegionRead for PinnedView {
    type Error = FsError;

    fn capacity(&self) -> u64 {
        self.shared.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), FsError> {
        // A mapping that cannot be made is reported as such, not as an access out of bounds.
        self.shared.mapping()?;
        let bytes = self
            .shared
            .reader_slice(offset..offset.saturating_add(buf.len() as u64))
            .ok_or_else(|| FsError::kind(RegionErrorKind::OutOfBounds, "read segment"))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn bytes(&self, range: Range<u64>) -> Option<&[u8]> {
        self.shared.reader_slice(range)
    }
}

/// A record's payload, zero-copy: keeps its segment mapped and pinned until dropped.
pub struct RecordView {
    shared: Arc<SharedMap>,
    start: usize,
    len: usize,
}

impl std::ops::Deref for RecordView {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // `into_record` built this view from a slice of the mapping, so it exists.
        let Some(map) = self.shared.map.get() else {
            return &[];
        };
        let data = map.as_ptr().wrapping_add(self.start);
        // SAFETY: `PinnedView::into_record` checked that the range lies below the published end
        // and inside the mapping, and handed over its pin, which this view holds until dropped:
        // the bytes cannot be changed (rule 3) or unmapped (rule 1, the Arc) while the view
        // lives.
        unsafe { std::slice::from_raw_parts(data, self.len) }
    }
}

impl AsRef<[u8]> for RecordView {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for RecordView {
    fn drop(&mut self) {
        self.shared.gate.unpin();
    }
}

impl std::fmt::Debug for RecordView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordView")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
