//! Preparing segments before their writer gets to them, so that the file system's cost of the
//! first store to each page is paid by a background thread and not on the append path.
//!
//! # Why
//!
//! The first store to a page of a shared file mapping takes a write fault, and ext4 then runs
//! `page_mkwrite` (block mapping, buffer heads, dirtying). Measured on this project's 2-core
//! machine (ext4, fallocated segment, 1 KiB stores): about 600 ns per KiB written, four times
//! the memcpy + CRC-32C of that KiB. Populating the pages for writing (`MADV_POPULATE_WRITE`)
//! costs the same 2.4 µs per page, so doing only that in another thread cannot keep up with a
//! writer. Writing zeros with `pwrite(2)` in 64 KiB chunks goes through the file system's
//! write path instead, about 200 ns per KiB, after which populating for writing is cheap and a
//! store through the mapping takes no fault at all. The criterion bench of 1 KiB appends
//! (`append/write_nosync`): 199 ns per record prepared, 776 ns with
//! `Options::prepare_segments(false)`, against 144 ns for memcpy + CRC-32C.
//!
//! Zeros are what a new segment's bytes already are (the file is created empty and
//! `fallocate`d), so writing them changes nothing a reader or a recovery can see, provided they
//! are never written over bytes the writer has stored. That is the protocol below.
//!
//! # The spare segment
//!
//! A segment is needed at once when a rotation creates it, so the thread makes the next one
//! beforehand: a file named [`SPARE_NAME`] (never a segment name), space reserved, every byte
//! zeroed, mapped and populated for writing. The rotation renames it to the new segment's name
//! (`RENAME_NOREPLACE`, so an existing file is never replaced) and the engine writes its header
//! as into a new file; a crash before the header is durable leaves an all-zero last segment,
//! which recovery treats as never written. A spare left by a crash is removed when the
//! directory is opened. The first segment (and one created while no spare of its size is
//! ready) is prepared in the window ahead of its writer instead, and so is the active segment an
//! open found, from its recovered end ([`PrepareGate::resume`]; every byte from there on is
//! erased). In the window each chunk is also populated for writing after its zeros, so the
//! writer's stores take no fault even on pages a recovery scan left mapped read-only.
//!
//! # The protocol ([`PrepareGate`])
//!
//! - `prepared`: every byte below it has been zeroed, or is the writer's. Only the preparer
//!   raises it, after its zeros are written, with `Release`. `u64::MAX` means "not prepared"
//!   (segments this process did not create, or after a failed `pwrite`): writes never wait.
//! - `written_hi`: the highest end the writer has claimed. Only the writer raises it.
//! - The preparer zeroes `[max(prepared, written_hi), chunk end)` while it holds `zeroing`.
//! - The writer, before storing `[start, end)`: if `end <= prepared` (`Acquire`) the zeros
//!   below `prepared` are written and the preparer only works above it, so it stores at once.
//!   Otherwise it takes `zeroing` (waiting for a chunk in progress to finish), raises
//!   `written_hi` to `end` and releases it: every later chunk starts at or above `end`.
//!
//! So no zero is written over a byte the writer has stored or is storing. The loom model at
//! the end checks it over every interleaving. A spare is fully prepared before any writer has
//! it, so its writer never waits.
//!
//! # Page cache granularity
//!
//! The page cache writes back whole folios, and a store into a clean folio through the mapping
//! dirties all of it. On kernels whose file system caches files in large folios (ext4 on Linux
//! 6.16+), one `pwrite` may make one folio of its whole length: zeros written 64 KiB at a time
//! became 64 KiB folios on this project's machine. Every sync then wrote back a 64 KiB folio for
//! the header (which each sync rewrites) and one for the data: 71 KB reached the disk per synced
//! 1 KiB append with one writer (the header had a chunk of its own too: 132 KB).
//!
//! So the zeros are written as [`SyncHint`] says ([`Zeroing`]): the segment's first page (the
//! header) always on its own; the window ahead of a writer (the active segment) always
//! [`SYNCED_STEP`] (16 KiB) per `pwrite`, since a `Manual` WAL's first sync may come after it;
//! a spare segment in synced steps once the WAL syncs (from its open with `EveryWrite` or
//! `Bytes(n)` under 1 MiB, [`syncs_often`], otherwise from its first call of `Wal::sync`), and
//! 64 KiB at a time before. A synced 1 KiB append then writes 22 KB back with one writer (10 KB
//! with page-sized folios, which made eight concurrent writers a quarter slower: see
//! [`SYNCED_STEP`]). Small `pwrite`s cost the preparer more (a page at a time, 700-850 ns per
//! KiB against 150): zeroing every page apart made a sustained writer that never syncs about
//! half as fast (375 against 850 MB/s of 1 KiB appends in this machine's `walfs bench`), so
//! spares stay at 64 KiB until the WAL syncs. Pages the writer reaches before the preparer take a write
//! fault, which makes a page-sized folio. A spare zeroed in chunks before a `Manual` WAL's first
//! sync is discarded once it syncs, and a new one made ([`SpareSegment`]). Not covered: folios
//! already in the page cache when a WAL is reopened. A segment an earlier, non-syncing process
//! zeroed in chunks, still cached, costs a syncing successor about 68 KB of write-back per
//! synced 1 KiB append until the next rotation (measured; after a cold start the kernel's
//! read-ahead made page-sized folios here, 8 KB).
//!
//! Pages prepared but not yet written are dirty zeros in the page cache: the segment's flush
//! (see `MmapRegion`'s "Flushes") covers only `[0, written_hi)` of a segment this process
//! created, so a sync never writes them back. The kernel may (after 30 s by default), which
//! costs disk bandwidth, as the `wal_init_zero` of Postgres does, and changes no byte.

use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::{JoinHandle, Thread};

use crate::mmap::SharedMap;
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, Ordering, lock};

/// Bytes zeroed per step: the longest a writer that catches up with the preparer waits.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// [`CHUNK_BYTES`] as an offset.
pub(crate) const CHUNK: u64 = CHUNK_BYTES as u64;
/// How far ahead of the writer the preparer works.
pub(crate) const WINDOW: u64 = 2 * 1024 * 1024;

/// Whether the WAL that owns a directory's segments makes records durable with syncs: a sync
/// policy or a call of [`Wal::sync`](crate::Wal::sync). Shared by the storage, its segments
/// and its preparer; it decides how many bytes one `pwrite` of zeros covers (see "Page cache
/// granularity" in the module docs).
#[derive(Debug)]
pub(crate) struct SyncHint {
    syncs: AtomicBool,
}

impl SyncHint {
    /// A WAL not known to sync (yet).
    pub(crate) fn new() -> Self {
        SyncHint {
            syncs: AtomicBool::new(false),
        }
    }

    /// Whether the WAL is known to sync.
    pub(crate) fn syncs(&self) -> bool {
        self.syncs.load(Ordering::Relaxed)
    }

    /// The WAL syncs: spares zeroed from now on are zeroed [`SYNCED_STEP`] per `pwrite`.
    pub(crate) fn note_sync(&self) {
        if !self.syncs.load(Ordering::Relaxed) {
            self.syncs.store(true, Ordering::Relaxed);
        }
    }

    /// The bytes one `pwrite` of zeros at `offset` covers, at most `left`, up to the next
    /// multiple of the step: a page for the segment's first page (its header, rewritten by
    /// every sync); [`SYNCED_STEP`] (at least a page) in the window ahead of a writer
    /// (`zeroing`) and in a spare of a WAL that syncs; otherwise [`CHUNK`].
    pub(crate) fn zero_step(&self, offset: u64, left: u64, zeroing: Zeroing) -> u64 {
        let page = page_size();
        let unit = if offset < page {
            page
        } else if zeroing == Zeroing::Window || self.syncs() {
            SYNCED_STEP.max(page)
        } else {
            CHUNK
        };
        (unit - offset % unit).min(left)
    }
}

/// Bytes per `pwrite` of zeros where a sync may write the folios back: each becomes a folio,
/// and a synced append dirties (and its sync writes back) the folio it lands in and the header
/// page. Measured on this project's machine, 1 KiB records, one and eight threads each
/// appending and calling `Wal::sync`, bytes the disk wrote per record and time per record:
///
/// | zeros per `pwrite` | 1 thread | 8 threads |
/// | --- | --- | --- |
/// | 4 KiB (a page) | 10.4 KB, 122-139 µs | 2.6 KB, 31-39 µs |
/// | 16 KiB | 21.9 KB, 115-143 µs | 3.9 KB, 25 µs |
/// | 64 KiB ([`CHUNK`]) | 70.8 KB, 118-160 µs | 9.9 KB, 22-31 µs |
///
/// Page-sized folios write the least but made concurrent synced appends a quarter slower (the
/// kernel's cost per folio, not the disk's); 16 KiB keeps most of both.
pub(crate) const SYNCED_STEP: u64 = 16 * 1024;

/// What the preparer is zeroing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zeroing {
    /// The window ahead of a writer: the active segment, whose writer may be appending now.
    /// Always [`SYNCED_STEP`] per `pwrite`: a `Manual` WAL's first sync may come after it.
    Window,
    /// A whole spare segment, made before a rotation needs it.
    Spare,
}

/// Whether a WAL with this sync policy syncs often enough for zeroing in synced steps to pay: every
/// write, or every `n` bytes with `n` under 1 MiB (from there a sync writes back at most two
/// chunk-sized folios more than it must, under 13 %). `Bytes(0)` never syncs on its own, as
/// `Manual`.
pub(crate) fn syncs_often(policy: crate::SyncPolicy) -> bool {
    match policy {
        crate::SyncPolicy::Manual => false,
        crate::SyncPolicy::EveryWrite => true,
        crate::SyncPolicy::Bytes(bytes) => bytes > 0 && bytes < 16 * CHUNK,
    }
}

/// The system's page size, the smallest unit of the page cache.
fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// The writer/preparer protocol of one segment (see the module docs).
#[derive(Debug)]
pub(crate) struct PrepareGate {
    prepared: AtomicU64,
    written_hi: AtomicU64,
    zeroing: Mutex<()>,
    /// The preparer was asked for more and has not started on it.
    wanted: AtomicBool,
}

impl PrepareGate {
    /// A segment that is not prepared: writes never wait, and its flush covers the whole file
    /// (`written_hi` = `capacity`: it may hold dirty pages written before this process opened it).
    pub(crate) fn unprepared(capacity: u64) -> Self {
        PrepareGate {
            prepared: AtomicU64::new(u64::MAX),
            written_hi: AtomicU64::new(capacity),
            zeroing: Mutex::new(()),
            wanted: AtomicBool::new(false),
        }
    }

    /// A segment this process created: every byte is zero and nothing is written yet.
    pub(crate) fn new_segment() -> Self {
        PrepareGate {
            prepared: AtomicU64::new(0),
            written_hi: AtomicU64::new(0),
            zeroing: Mutex::new(()),
            wanted: AtomicBool::new(false),
        }
    }

    /// A segment this process created, every byte zero, that no thread prepares: writes never
    /// wait, and flushes cover what was written.
    pub(crate) fn new_segment_unprepared() -> Self {
        PrepareGate {
            prepared: AtomicU64::new(u64::MAX),
            written_hi: AtomicU64::new(0),
            zeroing: Mutex::new(()),
            wanted: AtomicBool::new(false),
        }
    }

    /// An existing segment whose writer will append from `end`, every byte from `end` on
    /// erased: from now on as a created segment whose writer has written `[0, end)` (prepared
    /// up to `end`, flushes up to the writer's end). Called before the writer stores and before
    /// the preparer has the segment.
    pub(crate) fn resume(&self, end: u64) {
        let _zeroing = lock(&self.zeroing);
        self.written_hi.store(end, Ordering::Release);
        self.prepared.store(end, Ordering::Release);
    }

    /// Writer: called before storing bytes that end at `end`. Waits only if the preparer is
    /// zeroing at or above `prepared` and `end` reaches beyond it. Only one thread writes (the
    /// writer holds `&mut` to the region), so `written_hi` is raised with a plain store.
    pub(crate) fn claim(&self, end: u64) {
        if end > self.prepared.load(Ordering::Acquire) {
            let _zeroing = lock(&self.zeroing);
            self.raise_written_hi(end);
        } else {
            self.raise_written_hi(end);
        }
    }

    fn raise_written_hi(&self, end: u64) {
        if end > self.written_hi.load(Ordering::Relaxed) {
            self.written_hi.store(end, Ordering::Release);
        }
    }

    /// The end of every byte the writer has stored: a flush of `[0, written_hi)` covers them.
    pub(crate) fn written_hi(&self) -> u64 {
        self.written_hi.load(Ordering::Acquire)
    }

    /// Writer: whether the preparer should be woken for a write that ended at `end` in a
    /// segment of `capacity` bytes (less than half a window prepared ahead, something left to
    /// prepare, and it was not asked already). A fully prepared segment never wakes it: the
    /// preparer would find nothing to do and clear its request, and the next write would wake
    /// it again, a futex wake per append over the segment's last half window.
    pub(crate) fn wants_preparer(&self, end: u64, capacity: u64) -> bool {
        let prepared = self.prepared.load(Ordering::Relaxed);
        prepared < capacity
            && end.saturating_add(WINDOW / 2) > prepared
            && !self.wanted.load(Ordering::Relaxed)
            && !self.wanted.swap(true, Ordering::AcqRel)
    }

    /// Preparer: zeroes the next chunk with `zero` if less than a window is prepared ahead of the
    /// writer and the segment is not fully prepared. Returns whether it zeroed anything. A
    /// failed `zero` ends the preparation of this segment (writes then never wait); its error is
    /// returned.
    pub(crate) fn prepare_next<E>(
        &self,
        capacity: u64,
        zero: impl FnOnce(Range<u64>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.prepare_next_with(capacity, CHUNK, WINDOW, zero)
    }

    fn prepare_next_with<E>(
        &self,
        capacity: u64,
        chunk: u64,
        window: u64,
        zero: impl FnOnce(Range<u64>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.wanted.store(false, Ordering::Release);
        let _zeroing = lock(&self.zeroing);
        let prepared = self.prepared.load(Ordering::Relaxed);
        if prepared == u64::MAX {
            return Ok(false);
        }
        let written_hi = self.written_hi.load(Ordering::Acquire);
        let start = prepared.max(written_hi);
        if start >= capacity || start >= written_hi.saturating_add(window) {
            return Ok(false);
        }
        let end = (start / chunk + 1).saturating_mul(chunk).min(capacity);
        match zero(start..end) {
            Ok(()) => {
                self.prepared.store(end, Ordering::Release);
                Ok(true)
            }
            Err(error) => {
                self.prepared.store(u64::MAX, Ordering::Release);
                Err(error)
            }
        }
    }

    /// Preparer: [`PrepareGate::prepare_next`] with no window: the whole segment, chunk by
    /// chunk (a spare segment, before any writer has it).
    pub(crate) fn prepare_next_ignoring_window<E>(
        &self,
        capacity: u64,
        zero: impl FnOnce(Range<u64>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.prepare_next_with(capacity, CHUNK, u64::MAX, zero)
    }

    /// Whether every byte below `capacity` is prepared.
    pub(crate) fn is_fully_prepared(&self, capacity: u64) -> bool {
        let prepared = self.prepared.load(Ordering::Acquire);
        prepared != u64::MAX && prepared >= capacity
    }

    /// Bytes prepared (`u64::MAX` when not prepared).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn prepared(&self) -> u64 {
        self.prepared.load(Ordering::Acquire)
    }
}

/// The name of the spare segment file in the WAL directory. Not a segment name for any
/// extension (segment names are digits, then the extension), and removed when the directory is
/// opened if a crash left it.
pub(crate) const SPARE_NAME: &str = "walfs-spare-segment.tmp";

/// A segment file made ready before a rotation needs it: created as [`SPARE_NAME`], its space
/// reserved, every page zeroed and mapped writable. A rotation renames it to the new segment's
/// name and writes into it without a single expensive page fault.
#[derive(Debug)]
pub(crate) struct SpareSegment {
    pub(crate) map: SharedMap,
    pub(crate) capacity: u64,
    /// Zeroed in synced steps throughout (the WAL was known to sync when it was begun). A
    /// spare zeroed in chunks is not used once the WAL syncs: each of its chunks is a folio
    /// that every sync would write back whole (see "Page cache granularity").
    in_synced_steps: bool,
}

impl SpareSegment {
    /// Whether this spare suits a WAL that syncs as `hint` says.
    fn fits(&self, hint: &SyncHint) -> bool {
        self.in_synced_steps || !hint.syncs()
    }
}

/// The state the preparer thread shares with its owner.
#[derive(Debug)]
struct PreparerState {
    stop: AtomicBool,
    /// The directory, for the spare file.
    dir: PathBuf,
    /// The segment being prepared: the newest one this process created.
    target: Mutex<Option<Arc<SharedMap>>>,
    /// The capacity of the spare to make next, if one is wanted.
    spare_wanted: Mutex<Option<u64>>,
    /// A finished spare.
    spare: Mutex<Option<SpareSegment>>,
    /// How the storage's segments are zeroed.
    sync_hint: Arc<SyncHint>,
}

/// The background thread that prepares the newest segment of a directory and a spare segment
/// for the next rotation. Owned by the `FsStorage` that creates the segments; dropping it stops
/// and joins the thread and removes the spare file, which the storage does before it unlocks
/// the directory (after that another process may write the files).
#[derive(Debug)]
pub(crate) struct Preparer {
    state: Arc<PreparerState>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    /// Starts the thread for the directory `dir`; `None` if it cannot be started (segments are
    /// then not prepared).
    pub(crate) fn start(dir: &Path, sync_hint: Arc<SyncHint>) -> Option<Self> {
        let state = Arc::new(PreparerState {
            stop: AtomicBool::new(false),
            dir: dir.to_path_buf(),
            target: Mutex::new(None),
            spare_wanted: Mutex::new(None),
            spare: Mutex::new(None),
            sync_hint,
        });
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("walfs-prepare".into())
            .spawn(move || run(&thread_state))
            .ok()?;
        Some(Preparer {
            state,
            thread: Some(thread),
        })
    }

    /// The thread's handle, for waking it.
    pub(crate) fn thread(&self) -> Option<&Thread> {
        self.thread.as_ref().map(JoinHandle::thread)
    }

    /// Makes `map` (a segment just created) the one to prepare, asks for a spare of `capacity`
    /// for the next rotation, and wakes the thread.
    pub(crate) fn prepare(&self, map: Arc<SharedMap>, capacity: u64) {
        *lock(&self.state.target) = Some(map);
        *lock(&self.state.spare_wanted) = Some(capacity);
        if let Some(thread) = self.thread() {
            thread.unpark();
        }
    }

    /// The finished spare, if there is one of `capacity` bytes that fits how the WAL syncs; any
    /// other spare is removed.
    pub(crate) fn take_spare(&self, capacity: u64) -> Option<SpareSegment> {
        let spare = lock(&self.state.spare).take()?;
        if spare.capacity == capacity && spare.fits(&self.state.sync_hint) {
            Some(spare)
        } else {
            drop(spare);
            let _ = std::fs::remove_file(self.spare_path());
            None
        }
    }

    /// Whether a finished spare is waiting.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn has_spare(&self) -> bool {
        lock(&self.state.spare).is_some()
    }

    /// The path of the spare file.
    pub(crate) fn spare_path(&self) -> PathBuf {
        self.state.dir.join(SPARE_NAME)
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        if lock(&self.state.spare).take().is_some() {
            let _ = std::fs::remove_file(self.spare_path());
        }
    }
}

/// The thread: prepares the target until it has a window ahead of its writer, makes a spare
/// when one is wanted (turning back to the target between chunks), then sleeps until woken (by
/// the writer, a new target, or the owner stopping it).
fn run(state: &PreparerState) {
    while !state.stop.load(Ordering::Acquire) {
        prepare_target(state);
        discard_unfit_spare(state);
        let wanted = lock(&state.spare_wanted).take();
        if let Some(capacity) = wanted
            && lock(&state.spare).is_none()
        {
            let spare = make_spare(state, capacity);
            *lock(&state.spare) = spare;
            continue;
        }
        std::thread::park();
    }
}

/// Removes a spare zeroed in chunks once the WAL syncs, and asks for a new one.
fn discard_unfit_spare(state: &PreparerState) {
    let mut spare = lock(&state.spare);
    if let Some(unfit) = spare.take_if(|spare| !spare.fits(&state.sync_hint)) {
        let capacity = unfit.capacity;
        drop(unfit);
        let _ = std::fs::remove_file(state.dir.join(SPARE_NAME));
        lock(&state.spare_wanted).get_or_insert(capacity);
    }
}

/// Prepares the target segment until it has a window ahead of its writer, one chunk per step so
/// that a stop request waits for one chunk at most.
fn prepare_target(state: &PreparerState) {
    let target = lock(&state.target).clone();
    if let Some(map) = target {
        loop {
            if state.stop.load(Ordering::Acquire) || !map.prepare_next() {
                break;
            }
        }
    }
}

/// Creates, sizes, zeroes and maps a spare segment file; `None` if stopped or if any step fails
/// (the rotation then creates its segment as usual), in which case no spare file is left.
fn make_spare(state: &PreparerState, capacity: u64) -> Option<SpareSegment> {
    let path = state.dir.join(SPARE_NAME);
    let _ = std::fs::remove_file(&path);
    // Read before the first zero: if the WAL starts to sync meanwhile, the spare is mixed and
    // counts as zeroed in chunks.
    let in_synced_steps = state.sync_hint.syncs();
    let made = (|| {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .ok()?;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, capacity).ok()?;
        let map = SharedMap::map_new_segment(file, Some(std::thread::current()))
            .ok()?
            .with_sync_hint(Arc::clone(&state.sync_hint));
        if map.capacity() != capacity {
            return None;
        }
        loop {
            if state.stop.load(Ordering::Acquire) {
                return None;
            }
            // The active segment first: its writer may be waiting.
            prepare_target(state);
            if !map.prepare_next_ignoring_window() {
                break;
            }
        }
        map.is_fully_prepared().then(|| {
            map.populate_for_writing();
            SpareSegment {
                map,
                capacity,
                in_synced_steps,
            }
        })
    })();
    if made.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    made
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The header page is always zeroed on its own and the window ahead of a writer in synced
    /// steps; a spare a chunk at a time (up to the next chunk boundary, so folios stay aligned)
    /// until the WAL syncs, then in synced steps.
    #[test]
    fn spares_are_zeroed_in_synced_steps_once_the_wal_syncs_windows_always() {
        let page = page_size();
        let hint = SyncHint::new();
        let synced = SYNCED_STEP.max(page);
        let spare = |offset, left| hint.zero_step(offset, left, Zeroing::Spare);
        let window = |offset, left| hint.zero_step(offset, left, Zeroing::Window);
        assert_eq!(spare(0, CHUNK), page);
        assert_eq!(spare(page, CHUNK - page), CHUNK - page);
        assert_eq!(spare(CHUNK, CHUNK), CHUNK);
        assert_eq!(spare(CHUNK + 512, 2 * CHUNK), CHUNK - 512);
        assert_eq!(spare(CHUNK, 100), 100, "never past the range");
        assert_eq!(window(0, CHUNK), page);
        assert_eq!(
            window(CHUNK, CHUNK),
            synced,
            "the window always in synced steps"
        );
        assert_eq!(window(CHUNK + 512, CHUNK), synced - 512);
        hint.note_sync();
        assert_eq!(spare(0, CHUNK), page);
        assert_eq!(spare(CHUNK, CHUNK), synced);
        assert_eq!(spare(CHUNK + 512, CHUNK), synced - 512);
        assert_eq!(spare(CHUNK, 100), 100);
        assert_eq!(window(CHUNK, CHUNK), synced);
    }

    /// The policies known at open to sync often: every write, or every `n` bytes under 1 MiB.
    #[test]
    fn every_write_and_small_byte_thresholds_sync_often_manual_zero_and_large_ones_do_not() {
        use crate::SyncPolicy;
        assert!(syncs_often(SyncPolicy::EveryWrite));
        assert!(syncs_often(SyncPolicy::Bytes(64 * 1024)));
        assert!(syncs_often(SyncPolicy::Bytes(1024 * 1024 - 1)));
        assert!(!syncs_often(SyncPolicy::Bytes(1024 * 1024)));
        assert!(!syncs_often(SyncPolicy::Manual));
        assert!(
            !syncs_often(SyncPolicy::Bytes(0)),
            "a zero threshold never syncs"
        );
    }

    /// The writer wakes the preparer while less than half a window is prepared ahead of it,
    /// once per request, and never for a segment with nothing left to prepare.
    #[test]
    fn a_fully_prepared_segment_never_wakes_the_preparer() {
        let capacity = 4 * WINDOW;
        let gate = PrepareGate::new_segment();
        // Nothing prepared yet: the first write asks, the next (request pending) does not.
        assert!(gate.wants_preparer(CHUNK, capacity));
        assert!(!gate.wants_preparer(2 * CHUNK, capacity));
        // The preparer zeroes all of it; each step clears the request.
        while gate
            .prepare_next_ignoring_window(capacity, |_| Ok::<(), ()>(()))
            .unwrap()
        {}
        assert!(gate.is_fully_prepared(capacity));
        // Writes over the last half window find nothing to ask for, however many there are.
        for end in [capacity - WINDOW / 2 + CHUNK, capacity - CHUNK, capacity] {
            assert!(!gate.wants_preparer(end, capacity), "end {end}");
        }
        // A segment nobody prepares never asks either.
        assert!(!PrepareGate::unprepared(capacity).wants_preparer(capacity, capacity));
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;

    /// The writer stores two 8-byte records while the preparer zeroes ahead in 8-byte chunks
    /// (the segment's three "pages" are atomics with `Relaxed` stores, so loom orders them only
    /// by the gate's own synchronization): no zero lands after a stored value, so both records
    /// keep their values, and the writer never waits forever.
    #[test]
    fn zeros_never_land_on_the_writers_bytes() {
        loom::model(|| {
            let gate = Arc::new(PrepareGate::new_segment());
            let bytes = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
            let preparer = {
                let (gate, bytes) = (Arc::clone(&gate), Arc::clone(&bytes));
                loom::thread::spawn(move || {
                    for _ in 0..2 {
                        let _ = gate.prepare_next_with(24, 8, 24, |range| {
                            for slot in range.start / 8..range.end / 8 {
                                bytes[slot as usize].store(0, Ordering::Relaxed);
                            }
                            Ok::<(), ()>(())
                        });
                    }
                })
            };
            for (slot, value) in [(0u64, 11u64), (1, 22)] {
                gate.claim((slot + 1) * 8);
                bytes[slot as usize].store(value, Ordering::Relaxed);
            }
            preparer.join().unwrap();
            assert_eq!(bytes[0].load(Ordering::Relaxed), 11);
            assert_eq!(bytes[1].load(Ordering::Relaxed), 22);
        });
    }
}
