//! `Wal`: the WAL handle users share between threads.
//!
//! - **Writers** are serialized by one mutex around the engine (walfs-core's `WalEngine`).
//! - **Sync is group commit**: a `sync` call returns once a sync that started after its own
//!   appends has succeeded; concurrent callers share one flush (a leader syncs, the others
//!   wait for its result), which the leader runs without the writer's mutex (a sync in two
//!   phases: plan under the mutex, flush without it, complete under it), so appends go on
//!   while the device flushes.
//! - **Readers** never take the writer's mutex: they find a segment's mapping in a small table
//!   (a read lock, taken only when a reader enters a segment) and then read below the published
//!   end with the core's cursor (see `mmap`'s safety protocol).
//! - **Poisoning**: after a failed write or sync, every change fails until the WAL is reopened.

use std::path::Path;
use std::time::{Duration, Instant};

use walfs_core::format::frame_len;
use walfs_core::wal::{
    IndexRelease, RecoveryReport, RetentionPolicy, SegmentInfo, WalEngine, WalOptions,
};
use walfs_core::{CrcCheck, Position, SegmentId, SyncCompletion};

use crate::error::{Error, Result};
use crate::fs_storage::FsStorage;
use crate::mmap::{PinnedView, RecordView, SharedMap};
use crate::options::{Options, SyncPolicy};
use crate::reader::Reader;
use crate::sync::{
    Arc, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, lock, wait, wait_timeout,
};
use crate::table::SegmentTable;

/// The writer's state.
#[derive(Debug)]
struct Writer {
    engine: WalEngine<FsStorage>,
    /// Frame bytes appended since the last sync (for [`SyncPolicy::Bytes`]).
    unsynced_bytes: u64,
}

/// Group-commit state.
#[derive(Debug, Default)]
struct SyncState {
    /// Appends covered by the last successful sync.
    synced: u64,
    /// A leader is syncing.
    leader: bool,
    /// Callers waiting for a round's result.
    waiting: usize,
    /// Of the callers waiting when the last round ended, those not woken yet.
    to_wake: usize,
    /// Callers the last round satisfied (its leader included) that returned so far: each may
    /// append again and call `sync` at once.
    released: u64,
    /// Appends when the last round ended.
    appended_at_release: u64,
    /// How long the last round's flush took.
    last_flush: Duration,
}

/// Everything the handle and its readers share.
#[derive(Debug)]
pub(crate) struct Shared {
    writer: Mutex<Writer>,
    /// Segment id → its mapping, for readers.
    table: SegmentTable<SharedMap>,
    /// Appends so far (a sequence number for group commit), plus one when the open found an
    /// active segment to append to: what recovery read back there may be only in the page cache
    /// (a killed process's unsynced records), and counting it as an append makes the first
    /// [`Wal::sync`] run a barrier, which flushes it, even with nothing appended since.
    appended: AtomicU64,
    sync_state: Mutex<SyncState>,
    sync_done: Condvar,
    /// Tail readers waiting for new data.
    tail: Mutex<u64>,
    tail_cv: Condvar,
    tail_waiters: AtomicUsize,
    committed: Mutex<Option<Position>>,
    options: Options,
    /// Rotations since open.
    rotations: AtomicU64,
    /// Syncs triggered by [`SyncPolicy::Bytes`] since open.
    threshold_syncs: AtomicU64,
    /// Whether this WAL syncs, shared with its storage's preparer (how it zeroes segments).
    sync_hint: Arc<crate::prepare::SyncHint>,
    /// Group-commit rounds led so far, for tests.
    #[cfg(all(test, not(loom)))]
    sync_rounds: AtomicU64,
}

impl Shared {
    /// The mapping of segment `id`.
    pub(crate) fn map(&self, id: SegmentId) -> Option<Arc<SharedMap>> {
        self.table.get(id)
    }

    /// The first segment after `id`.
    pub(crate) fn next_map(&self, id: SegmentId) -> Option<(SegmentId, Arc<SharedMap>)> {
        self.table.next_after(id)
    }

    /// The lowest and highest segment ids.
    pub(crate) fn id_range(&self) -> Option<(SegmentId, SegmentId)> {
        self.table.id_range()
    }

    pub(crate) fn committed(&self) -> Option<Position> {
        *lock(&self.committed)
    }

    pub(crate) fn commit_check(&self) -> bool {
        self.options.commit_check
    }

    /// Waits until an append happens or `timeout` passes; `seen` is the append count the
    /// caller last observed.
    pub(crate) fn wait_for_append(&self, seen: u64, timeout: Duration) {
        self.tail_waiters.fetch_add(1, Ordering::SeqCst);
        let guard = lock(&self.tail);
        if self.appended.load(Ordering::SeqCst) == seen {
            drop(wait_timeout(&self.tail_cv, guard, timeout));
        }
        self.tail_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn appended(&self) -> u64 {
        self.appended.load(Ordering::SeqCst)
    }

    #[inline]
    fn notify_appended(&self, count: u64) {
        self.appended.fetch_add(count, Ordering::SeqCst);
        if self.tail_waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.tail);
            self.tail_cv.notify_all();
        }
    }

    /// See [`Wal::apply_retention`].
    pub(crate) fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        can_remove: impl Fn(SegmentId) -> bool,
    ) -> Result<Vec<SegmentId>> {
        let mut writer = lock(&self.writer);
        let candidates = writer.engine.retention_candidates(policy, now_ns());
        let mut removed = Vec::new();
        for id in candidates {
            if !can_remove(id) {
                break;
            }
            // Held only by the table and the engine's segment: no reader has it.
            let engine = &mut writer.engine;
            let gone = self.table.remove_unheld(id, 1, |map| {
                engine.remove_oldest(id)?;
                map.mark_removed();
                Ok::<(), walfs_core::Error<crate::FsError>>(())
            })?;
            if !gone {
                break;
            }
            removed.push(id);
        }
        Ok(removed)
    }

    /// Ids of the sealed segments after `after`, with their mappings held (so retention keeps
    /// them while a backup copies them), and the storage's paths.
    pub(crate) fn sealed_after(
        &self,
        after: SegmentId,
    ) -> Vec<(
        SegmentId,
        Arc<SharedMap>,
        std::path::PathBuf,
        std::path::PathBuf,
    )> {
        let writer = lock(&self.writer);
        let storage = writer.engine.storage();
        writer
            .engine
            .sealed_segments_after(after)
            .into_iter()
            .filter_map(|id| {
                let map = self.table.get(id)?;
                Some((id, map, storage.segment_path(id), storage.index_path(id)))
            })
            .collect()
    }

    pub(crate) fn dir(&self) -> std::path::PathBuf {
        lock(&self.writer).engine.storage().dir().to_path_buf()
    }

    /// Brings the readers' table in line with the engine's segments.
    fn refresh_table(&self, engine: &WalEngine<FsStorage>) {
        self.table.sync_with(
            engine.segment_ids(),
            |id| engine.segment(id).is_some(),
            |id| {
                engine
                    .segment(id)
                    .map(|segment| Arc::clone(segment.region().shared()))
            },
            SharedMap::mark_removed,
        );
    }
}

/// A write-ahead log in a directory. `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
}

fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

impl Wal {
    /// Opens the WAL in `dir` (created if missing), recovering it: torn tails are cut, damage
    /// below a durable watermark fails the open (see [`Options::repair`]).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        Self::open_with_report(dir, options).map(|(wal, _)| wal)
    }

    /// [`Wal::open`], also returning what recovery found and did.
    pub fn open_with_report(
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Self, RecoveryReport)> {
        let mut storage = FsStorage::open(dir, &options.ext, options.read_only)?;
        storage.set_prepare_segments(options.prepare_segments);
        let sync_hint = Arc::clone(storage.sync_hint());
        if crate::prepare::syncs_often(options.sync) {
            sync_hint.note_sync();
        }
        let engine_options = WalOptions {
            segment_size: options.segment_size,
            marker: options.marker,
            marker_validator: options.marker_validator,
            repair: options.repair,
            verify_sealed: options.verify_sealed,
            read_only: options.read_only,
            clock: now_ns,
        };
        let (mut engine, report) = WalEngine::open(storage, engine_options)?;
        let reopened_active = !options.read_only && report.created.is_none();
        if reopened_active {
            let active = engine.active_id();
            let resumable = engine
                .segment(active)
                .filter(|segment| !segment.is_sealed())
                .map(|segment| (Arc::clone(segment.region().shared()), segment.end()));
            if let Some((shared, end)) = resumable {
                engine.storage_mut().resume_active(&shared, end);
            }
        }
        let shared = Arc::new(Shared {
            writer: Mutex::new(Writer {
                engine,
                unsynced_bytes: 0,
            }),
            table: SegmentTable::new(),
            appended: AtomicU64::new(u64::from(reopened_active)),
            sync_state: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
            tail: Mutex::new(0),
            tail_cv: Condvar::new(),
            tail_waiters: AtomicUsize::new(0),
            committed: Mutex::new(None),
            options,
            rotations: AtomicU64::new(0),
            threshold_syncs: AtomicU64::new(0),
            sync_hint,
            #[cfg(all(test, not(loom)))]
            sync_rounds: AtomicU64::new(0),
        });
        shared.refresh_table(&lock(&shared.writer).engine);
        Ok((Wal { shared }, report))
    }

    /// Appends a record without a log index; returns its position. Durable after [`Wal::sync`]
    /// (or per the [`SyncPolicy`]).
    pub fn append(&self, payload: &[u8]) -> Result<Position> {
        self.append_indexed(payload, 0)
    }

    /// Appends a record with a log index (0 = none). Log indexes form one contiguous run: the
    /// first may be any value, each later one must be the previous plus one.
    pub fn append_indexed(&self, payload: &[u8], log_index: u64) -> Result<Position> {
        let mut writer = lock(&self.shared.writer);
        let active = writer.engine.active_id();
        let position = writer.engine.append(payload, log_index)?;
        let rotated = self.note_rotation(&writer, active);
        let synced = self.after_append(&mut writer, frame_len(payload.len() as u64), 1);
        drop(writer);
        self.call_rotation_hook(rotated);
        synced?;
        Ok(position)
    }

    /// Appends records (without log indexes) and returns their positions, rotating as needed.
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<Vec<Position>> {
        self.append_batch_indexed(payloads, 0)
    }

    /// Appends records whose log indexes are `first_log_index`, `first_log_index + 1`, ...
    /// (0 = none). Every record is checked before anything is written. A batch that crosses
    /// segments is not atomic: on an error half-way, the records written stay.
    pub fn append_batch_indexed<P: AsRef<[u8]>>(
        &self,
        payloads: &[P],
        first_log_index: u64,
    ) -> Result<Vec<Position>> {
        let mut positions = Vec::with_capacity(payloads.len());
        let mut writer = lock(&self.shared.writer);
        let active = writer.engine.active_id();
        let result = writer
            .engine
            .append_batch(payloads, first_log_index, &mut positions);
        let rotated = self.note_rotation(&writer, active);
        let bytes = payloads
            .iter()
            .take(positions.len())
            .map(|p| frame_len(p.as_ref().len() as u64))
            .sum();
        let synced = if positions.is_empty() {
            Ok(())
        } else {
            self.after_append(&mut writer, bytes, positions.len() as u64)
        };
        drop(writer);
        self.call_rotation_hook(rotated);
        result?;
        synced?;
        Ok(positions)
    }

    /// After a change that may have rotated: refreshes the readers' table and counts the
    /// rotations. Returns the new active id if the active segment changed.
    fn note_rotation(&self, writer: &Writer, before: SegmentId) -> Option<SegmentId> {
        let after = writer.engine.active_id();
        if after == before {
            return None;
        }
        self.shared.refresh_table(&writer.engine);
        let rotations = u64::from(after.0.saturating_sub(before.0));
        self.shared
            .rotations
            .fetch_add(rotations, Ordering::Relaxed);
        Some(after)
    }

    /// Runs the rotation hook, outside the writer's lock.
    fn call_rotation_hook(&self, rotated: Option<SegmentId>) {
        if let (Some(id), Some(hook)) = (rotated, &self.shared.options.on_rotate) {
            (hook.0)(id);
        }
    }

    /// Rotations since the WAL was opened (`SegmentRotatedCount`).
    pub fn rotation_count(&self) -> u64 {
        self.shared.rotations.load(Ordering::Relaxed)
    }

    /// Syncs triggered by [`SyncPolicy::Bytes`] since the WAL was opened
    /// (`BytesPerSyncCallCount`, which the original resets at each rotation).
    pub fn threshold_sync_count(&self) -> u64 {
        self.shared.threshold_syncs.load(Ordering::Relaxed)
    }

    #[inline]
    fn after_append(&self, writer: &mut Writer, bytes: u64, count: u64) -> Result<()> {
        writer.unsynced_bytes += bytes;
        let must_sync = match self.shared.options.sync {
            SyncPolicy::Manual => false,
            SyncPolicy::EveryWrite => true,
            SyncPolicy::Bytes(threshold) => threshold > 0 && writer.unsynced_bytes >= threshold,
        };
        self.shared.notify_appended(count);
        if must_sync {
            if matches!(self.shared.options.sync, SyncPolicy::Bytes(_)) {
                self.shared.threshold_syncs.fetch_add(1, Ordering::Relaxed);
            }
            let upto = self.shared.appended();
            writer.engine.sync()?;
            writer.unsynced_bytes = 0;
            let mut state = lock(&self.shared.sync_state);
            state.synced = state.synced.max(upto);
        }
        Ok(())
    }

    /// Makes every record appended before this call durable. Concurrent callers share syncs
    /// (group commit). After a failure the WAL is poisoned: this and every later change fail
    /// until it is reopened.
    pub fn sync(&self) -> Result<()> {
        self.shared.sync_hint.note_sync();
        let target = self.shared.appended();
        let mut state = lock(&self.shared.sync_state);
        loop {
            if state.synced >= target {
                return Ok(());
            }
            if state.leader {
                state.waiting += 1;
                state = wait(&self.shared.sync_done, state);
                state.waiting -= 1;
                state.to_wake = state.to_wake.saturating_sub(1);
                if state.synced >= target {
                    state.released += 1;
                    return Ok(());
                }
                continue;
            }
            state.leader = true;
            state = self.gather(state);
            drop(state);
            let result = self.lead_sync_round();
            state = lock(&self.shared.sync_state);
            state.leader = false;
            state.to_wake = state.waiting;
            state.released = 0;
            state.appended_at_release = self.shared.appended();
            match result {
                Ok((upto, flush_time)) => {
                    state.synced = state.synced.max(upto);
                    state.last_flush = flush_time;
                    if upto >= target {
                        state.released = 1;
                    }
                }
                Err(_) => state.last_flush = Duration::ZERO,
            }
            // Notified without the lock, so the callers woken do not queue behind it.
            drop(state);
            self.shared.sync_done.notify_all();
            result?;
            state = lock(&self.shared.sync_state);
        }
    }

    /// Before a new round's plan: gives the callers the last round released the chance to
    /// append again, so the round covers them too. Without this wait, a caller released by one
    /// round appends while the next one flushes and waits for the round after it: each caller
    /// would ride every other round only. The leader yields until every caller woken by the last
    /// round has appended once more, or half the last flush's duration has passed. A single
    /// caller never waits: it is the one the last round released, and it has appended.
    fn gather<'a>(&'a self, mut state: MutexGuard<'a, SyncState>) -> MutexGuard<'a, SyncState> {
        let patience = state.last_flush / 2;
        if patience.is_zero() {
            return state;
        }
        let started = Instant::now();
        loop {
            let appended = self.shared.appended();
            let returned = state.to_wake == 0
                && appended >= state.appended_at_release.saturating_add(state.released);
            if returned || started.elapsed() >= patience {
                return state;
            }
            drop(state);
            std::thread::yield_now();
            state = lock(&self.shared.sync_state);
        }
    }

    /// One group-commit round, run by its leader: a sync in two phases whose one flush runs
    /// without the writer's lock. Under the lock the engine hands out a sync plan (the active
    /// segment and its end; nothing is written); the leader flushes that segment's file
    /// (`SharedMap::flush_ahead`, which starts after every byte below the plan's end was
    /// stored) while appenders go on; under the lock again the engine acknowledges the plan's
    /// end and writes its watermark, or falls back to a full sync if a rotation or truncation
    /// overtook the plan. Returns the appends made durable and how long the flush took.
    fn lead_sync_round(&self) -> Result<(u64, Duration)> {
        #[cfg(all(test, not(loom)))]
        self.shared.sync_rounds.fetch_add(1, Ordering::Relaxed);
        let (plan, upto, unsynced_bytes) = {
            let writer = lock(&self.shared.writer);
            let plan = writer.engine.sync_plan()?;
            (plan, self.shared.appended(), writer.unsynced_bytes)
        };
        let flush_started = Instant::now();
        let flushed = if plan.needs_flush() {
            self.shared.map(plan.segment()).map(|map| map.flush_ahead())
        } else {
            Some(Ok(()))
        };
        let flush_time = flush_started.elapsed();
        let mut writer = lock(&self.shared.writer);
        let completion = if let Some(flushed) = flushed {
            writer.engine.complete_sync(plan, flushed)?
        } else {
            // The segment left the table meanwhile (a truncation removed it): the plan is
            // stale, and so is any flush of that file.
            writer.engine.sync()?;
            SyncCompletion::FellBack
        };
        let upto = match completion {
            SyncCompletion::Planned => {
                writer.unsynced_bytes = writer.unsynced_bytes.saturating_sub(unsynced_bytes);
                upto
            }
            SyncCompletion::FellBack => {
                writer.unsynced_bytes = 0;
                self.shared.appended()
            }
        };
        Ok((upto, flush_time))
    }

    /// Seals the active segment and starts the next one; returns the new segment's id.
    pub fn rotate(&self) -> Result<SegmentId> {
        let mut writer = lock(&self.shared.writer);
        let before = writer.engine.active_id();
        let id = writer.engine.rotate()?;
        let rotated = self.note_rotation(&writer, before);
        drop(writer);
        self.call_rotation_hook(rotated);
        Ok(id)
    }

    /// Reads the record at `position`, checking its CRC. The view is zero-copy and keeps its
    /// segment mapped (and protected from truncation) until dropped.
    pub fn read(&self, position: Position) -> Result<RecordView> {
        let map = self
            .shared
            .map(position.segment)
            .ok_or(walfs_core::Error::NoSuchSegment {
                segment: position.segment,
            })?;
        let mut view = PinnedView::pin_owned(map).ok_or(Error::SegmentInUse {
            segment: position.segment,
        })?;
        let published = view.published();
        let frame = walfs_core::record::read_record(
            &mut view,
            position.segment,
            position.offset,
            published.end,
            CrcCheck::Verify,
        )?;
        view.into_record(frame.payload_range())
            .ok_or(Error::Wal(walfs_core::Error::NoRecord {
                segment: position.segment,
                offset: position.offset,
                end: published.end,
            }))
    }

    /// A reader from the first record of the log.
    pub fn reader(&self) -> Reader {
        let first = self
            .shared
            .id_range()
            .map_or(SegmentId(1), |(first, _)| first);
        Reader::new(Arc::clone(&self.shared), Position::new(first, 0))
    }

    /// A reader from `position` (offsets inside the header mean the segment's first record; the
    /// nil position means the start of the log, as in the original).
    pub fn reader_at(&self, position: Position) -> Result<Reader> {
        let Some(map) = self.shared.map(position.segment) else {
            if position.segment == SegmentId(0) {
                return Ok(self.reader());
            }
            return Err(walfs_core::Error::NoSuchSegment {
                segment: position.segment,
            }
            .into());
        };
        let capacity = map.capacity();
        if position.offset > capacity {
            return Err(walfs_core::Error::OffsetOutOfBounds {
                segment: position.segment,
                offset: position.offset,
                capacity,
            }
            .into());
        }
        Ok(Reader::new(Arc::clone(&self.shared), position))
    }

    /// A reader from the record after the one at `position`, which must exist.
    pub fn reader_after(&self, position: Position) -> Result<Reader> {
        let mut reader = self.reader_at(position)?;
        match reader.next()? {
            Some(record) if record.position() == position => Ok(reader),
            _ => Err(walfs_core::Error::NoRecord {
                segment: position.segment,
                offset: position.offset,
                end: 0,
            }
            .into()),
        }
    }

    /// Records `position` as committed; readers with the commit check stop after it.
    pub fn commit(&self, position: Position) {
        *lock(&self.shared.committed) = Some(position);
    }

    /// The last committed position.
    pub fn committed(&self) -> Option<Position> {
        self.shared.committed()
    }

    /// The position of the record with log index `log_index`.
    pub fn position_for_index(&self, log_index: u64) -> Result<Position> {
        Ok(lock(&self.shared.writer)
            .engine
            .position_for_index(log_index)?)
    }

    /// Drops the in-memory record table of a sealed segment (the Go original's
    /// `ClearIndexFromMemory`): 8 bytes per record. It is read back from the segment's index file
    /// when next needed (a log index lookup or a truncation into the segment). On an unsealed
    /// segment (the active one) it changes nothing and returns [`IndexRelease::Unsealed`]. Reads
    /// and readers never need the table.
    pub fn release_index_memory(&self, segment: SegmentId) -> Result<IndexRelease> {
        Ok(lock(&self.shared.writer)
            .engine
            .release_index_memory(segment)?)
    }

    /// Entries of segment `segment`'s record table held in memory (`None`: no such segment).
    /// Sealed segments' tables are loaded when first needed, not at open.
    pub fn index_entries_in_memory(&self, segment: SegmentId) -> Option<usize> {
        lock(&self.shared.writer)
            .engine
            .index_entries_in_memory(segment)
    }

    /// The first and last log index present, if any.
    pub fn log_index_bounds(&self) -> Option<(u64, u64)> {
        lock(&self.shared.writer).engine.log_index_bounds()
    }

    /// Removes every record with a log index above `log_index` (`0`: every record), crash-safely:
    /// no removed record can come back. Fails with [`Error::SegmentInUse`] while a reader is in
    /// the middle of a read or a [`RecordView`] of the segment being cut is alive.
    pub fn truncate_after(&self, log_index: u64) -> Result<()> {
        let mut writer = lock(&self.shared.writer);
        let (target, _) = writer.engine.truncation_target(log_index)?;
        let map = self
            .shared
            .map(target)
            .ok_or(walfs_core::Error::NoSuchSegment { segment: target })?;
        if !map.try_exclusive() {
            return Err(Error::SegmentInUse { segment: target });
        }
        let result = writer.engine.truncate_after(log_index);
        map.end_exclusive();
        self.shared.refresh_table(&writer.engine);
        result?;
        Ok(())
    }

    /// Removes the segments `policy` allows, oldest first, for which `can_remove` agrees; a
    /// segment a reader holds is kept for a later call (and so are the ones after it: only a
    /// prefix of the log is removed). Returns the ids removed.
    pub fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        can_remove: impl Fn(SegmentId) -> bool,
    ) -> Result<Vec<SegmentId>> {
        self.shared.apply_retention(policy, can_remove)
    }

    /// What is known about every segment (id, state, records, bytes, log indexes, times).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        lock(&self.shared.writer).engine.segment_infos().collect()
    }

    /// The id of the active segment.
    pub fn active_segment(&self) -> SegmentId {
        lock(&self.shared.writer).engine.active_id()
    }

    /// Whether an earlier failure poisoned the WAL.
    pub fn is_poisoned(&self) -> bool {
        lock(&self.shared.writer).engine.is_poisoned()
    }

    /// Syncs every record appended so far and closes this handle, returning the sync's error
    /// (dropping a `Wal` does not sync: it cannot report a failure). The directory stays locked
    /// until every [`Reader`] of this `Wal` is dropped too, since they keep the log open.
    pub fn close(self) -> Result<()> {
        self.sync()?;
        // A second sync makes the header that records the durable watermark durable too.
        lock(&self.shared.writer).engine.sync()?;
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> std::path::PathBuf {
        self.shared.dir()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The active segment's mapping and the flush counts of its file: every flush, and
    /// those the engine's own barriers ran (under the writer's lock).
    fn flush_counts(wal: &Wal) -> (Arc<SharedMap>, u64, u64) {
        let writer = lock(&wal.shared.writer);
        let active = writer.engine.active_id();
        let map = wal.shared.map(active).unwrap();
        let engine_flushes = writer.engine.segment(active).unwrap().region().flushes();
        let all = map.file_flushes_for_test();
        (map, all, engine_flushes)
    }

    /// Waits up to 10 s for `done` (background work), failing with `what`.
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Page-cache bytes this thread has dirtied (`write_bytes` of `/proc/thread-self/io`: Linux
    /// counts a folio's whole size each time a store dirties it), or `None` where it is not
    /// counted.
    fn bytes_dirtied_by_this_thread() -> Option<u64> {
        let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
        io.lines()
            .find_map(|line| line.strip_prefix("write_bytes:"))?
            .trim()
            .parse()
            .ok()
    }

    /// A sync writes back whole page-cache folios, and a store into a clean folio dirties all of
    /// it. The kernel may make a large folio of each `pwrite` of zeros (64 KiB ones on this
    /// project's machine, in release builds), and a synced 1 KiB append then dirtied (and its
    /// sync wrote) 64 KiB of data and the header's folio. A WAL that syncs is zeroed in synced
    /// steps (16 KiB), its header page on its own, so a synced append dirties the folio it lands
    /// in and the header page. Both ways a WAL syncs: a sync policy (known at open) and
    /// `Wal::sync` (noted at its first call).
    #[test]
    fn a_synced_wal_is_zeroed_in_synced_steps_and_a_synced_append_dirties_only_its_folio() {
        use crate::prepare::{CHUNK, SYNCED_STEP, WINDOW};
        const APPENDS: u64 = 64;
        let page = rustix::param::page_size() as u64;
        let step = SYNCED_STEP.max(page);
        for policy in [SyncPolicy::EveryWrite, SyncPolicy::Manual] {
            let dir = tempfile::tempdir().unwrap();
            let options = Options::new().segment_size(8 << 20).sync_policy(policy);
            let wal = Wal::open(dir.path(), options).unwrap();
            let record = [7u8; 1024];
            wal.sync().unwrap();
            // Well into the segment.
            let mut last = wal.append(&record).unwrap();
            while last.offset < WINDOW + 2 * CHUNK {
                last = wal.append(&record).unwrap();
            }
            let end = last.offset + frame_len(1024);
            let map = wal.shared.map(last.segment).unwrap();
            let measured = end..end + 2 * CHUNK;
            wait_until("the preparer", || map.prepared() >= measured.end);
            let zeroed = map.zero_writes_for_test();
            assert!(
                zeroed.first().is_some_and(|first| *first == (0..page)),
                "{policy:?}: the header page is zeroed on its own: {zeroed:?}"
            );
            let large: Vec<_> = zeroed
                .iter()
                .filter(|range| range.end > measured.start && range.start < measured.end)
                .filter(|range| range.end - range.start > step)
                .collect();
            assert!(
                large.is_empty(),
                "{policy:?}: zeroed more than a synced step at once: {large:?}"
            );

            let Some(before) = bytes_dirtied_by_this_thread() else {
                eprintln!("this kernel does not count dirtied bytes per thread: not measured");
                continue;
            };
            for _ in 0..APPENDS {
                wal.append(&record).unwrap();
                if policy == SyncPolicy::Manual {
                    wal.sync().unwrap();
                }
            }
            let dirtied = bytes_dirtied_by_this_thread().unwrap() - before;
            // Its folio (sometimes two: frames cross folio boundaries) and the header page.
            assert!(
                dirtied <= (page + 2 * step) * APPENDS,
                "{policy:?}: {} bytes dirtied per synced 1 KiB append",
                dirtied / APPENDS
            );
        }
    }

    /// A `Manual` WAL's preparer makes a spare segment before the WAL's first sync, zeroed in
    /// chunks; once the WAL syncs, that spare is not used (each chunk would be a folio that
    /// every sync writes back whole): the segment after the rotation is zeroed in synced steps.
    #[test]
    fn a_spare_zeroed_in_chunks_is_not_used_once_the_wal_syncs() {
        let step = crate::prepare::SYNCED_STEP.max(rustix::param::page_size() as u64);
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), Options::new().segment_size(1 << 20)).unwrap();
        wait_until("a spare for the next rotation", || {
            lock(&wal.shared.writer)
                .engine
                .storage()
                .has_spare_for_test()
        });
        wal.sync().unwrap();
        let mut last = wal.append(&[1u8; 1000]).unwrap();
        while last.segment == SegmentId(1) {
            last = wal.append(&[1u8; 1000]).unwrap();
        }
        let zeroed = wal.shared.map(last.segment).unwrap().zero_writes_for_test();
        assert!(!zeroed.is_empty());
        assert!(
            zeroed.iter().all(|range| range.end - range.start <= step),
            "{zeroed:?}"
        );
    }

    /// Records a killed process appended without a sync may be only in the page cache; the
    /// reopen reads them back as records. A `Wal::sync` right after the reopen, with nothing
    /// appended since, makes them durable: it runs a barrier, which flushes the segment (the
    /// first barrier of a reopened segment always does). With or without preparation.
    #[test]
    fn a_sync_right_after_a_reopen_flushes_what_recovery_read_back() {
        for prepare in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let options = || {
                Options::new()
                    .segment_size(1 << 20)
                    .prepare_segments(prepare)
            };
            let position = {
                let wal = Wal::open(dir.path(), options()).unwrap();
                wal.append(b"never synced").unwrap()
            };
            let wal = Wal::open(dir.path(), options()).unwrap();
            assert_eq!(&*wal.read(position).unwrap(), b"never synced");
            let map = wal.shared.map(position.segment).unwrap();
            assert_eq!(map.file_flushes_for_test(), 0);
            wal.sync().unwrap();
            assert_eq!(map.file_flushes_for_test(), 1, "prepare {prepare}");
            wal.sync().unwrap();
            assert_eq!(map.file_flushes_for_test(), 1, "then nothing is left");
        }
    }

    /// After a reopen the active segment is prepared ahead of its writer as a created one is
    /// (without it, every append until the next rotation took the file system's page fault):
    /// the preparer zeroes from the recovered end, never below it; flushes cover the records
    /// (those a killed process left unsynced too) but not the zeros above them; a spare is
    /// made; and every record reads back, before and after another reopen, with the bytes after
    /// the last one still erased.
    #[test]
    fn a_reopened_active_segment_is_prepared_from_its_end() {
        use crate::prepare::CHUNK;
        let dir = tempfile::tempdir().unwrap();
        let options = || Options::new().segment_size(4 << 20);
        let record = |i: u32| -> Vec<u8> {
            (0..1000)
                .map(|j| ((i * 7 + j) % 256).to_le_bytes()[0])
                .collect()
        };
        let mut written = Vec::new();
        {
            let wal = Wal::open(dir.path(), options()).unwrap();
            for i in 0..100 {
                written.push((wal.append(&record(i)).unwrap(), record(i)));
            }
            wal.sync().unwrap();
            for i in 100..110 {
                written.push((wal.append(&record(i)).unwrap(), record(i)));
            }
            // Dropped without a sync: ten records only in the page cache, as after a kill.
        }
        let wal = Wal::open(dir.path(), options()).unwrap();
        let active = lock(&wal.shared.writer).engine.active_id();
        assert_eq!(
            active, written[0].0.segment,
            "no rotation: the same segment"
        );
        let map = wal.shared.map(active).unwrap();
        let end = written.last().unwrap().0.offset + frame_len(1000);
        assert_eq!(
            map.flush_end(),
            end,
            "flushes cover the records, not the zeros above"
        );
        wait_until("the preparer", || map.prepared() >= end + CHUNK);
        let zeroed = map.zero_writes_for_test();
        assert!(
            zeroed.iter().all(|range| range.start >= end),
            "zeros only from the recovered end: {zeroed:?}"
        );
        assert_eq!(zeroed.first().map(|range| range.start), Some(end));
        for i in 110..300 {
            written.push((wal.append(&record(i)).unwrap(), record(i)));
        }
        wait_until("a spare for the next rotation", || {
            lock(&wal.shared.writer)
                .engine
                .storage()
                .has_spare_for_test()
        });
        for (position, data) in &written {
            assert_eq!(&*wal.read(*position).unwrap(), data.as_slice());
        }
        wal.close().unwrap();
        let wal = Wal::open(dir.path(), options()).unwrap();
        for (position, data) in &written {
            assert_eq!(&*wal.read(*position).unwrap(), data.as_slice());
        }
        let end = written.last().unwrap().0.offset + frame_len(1000);
        drop(wal);
        let name = crate::fs_storage::segment_file_name(active, ".wal");
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert!(
            bytes[usize::try_from(end).unwrap()..]
                .iter()
                .all(|&b| b == 0),
            "the bytes after the last record are erased"
        );
    }

    #[test]
    fn a_group_commit_round_costs_one_flush_and_none_under_the_writers_lock() {
        const THREADS: u64 = 8;
        const SYNCS_PER_THREAD: u64 = 40;
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), Options::new().segment_size(4 << 20)).unwrap();
        let record = [7u8; 1024];
        let (map, all_before, engine_before) = flush_counts(&wal);
        let rounds_before = wal.shared.sync_rounds.load(Ordering::Relaxed);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..SYNCS_PER_THREAD {
                        wal.append(&record).unwrap();
                        wal.sync().unwrap();
                    }
                });
            }
        });
        let (after_map, all_after, engine_after) = flush_counts(&wal);
        assert!(Arc::ptr_eq(&map, &after_map), "no rotation");
        let rounds = wal.shared.sync_rounds.load(Ordering::Relaxed) - rounds_before;
        let flushes = all_after - all_before;
        println!(
            "{} syncs in {rounds} rounds, {flushes} flushes",
            THREADS * SYNCS_PER_THREAD
        );
        assert!(
            (1..THREADS * SYNCS_PER_THREAD).contains(&rounds),
            "concurrent syncs share rounds"
        );
        assert_eq!(flushes, rounds, "one flush per group-commit round");
        assert_eq!(
            engine_after, engine_before,
            "no flush under the writer's lock"
        );
        let info = wal.segments().pop().unwrap();
        assert_eq!(info.record_count, THREADS * SYNCS_PER_THREAD);
        assert_eq!(
            info.durable_end, info.end,
            "the last round covered every append"
        );
    }

    #[test]
    fn a_failed_flush_of_a_group_commit_round_poisons_the_wal_until_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), Options::new()).unwrap();
        wal.append(b"one").unwrap();
        wal.sync().unwrap();
        let position = wal.append(b"two").unwrap();
        let (map, _, _) = flush_counts(&wal);
        map.fail_flushes_for_test();
        assert!(wal.sync().is_err(), "the round's flush failed");
        assert!(wal.is_poisoned());
        assert!(
            wal.sync().is_err(),
            "a failed flush is never retried into success"
        );
        assert!(wal.append(b"three").is_err());
        let durable = wal.segments().pop().unwrap().durable_end;
        assert!(
            durable <= position.offset,
            "the failed round acknowledged nothing"
        );
        drop(map);
        drop(wal);
        let wal = Wal::open(dir.path(), Options::new()).unwrap();
        assert!(!wal.is_poisoned());
        wal.append(b"three").unwrap();
        wal.sync().unwrap();
    }
}
