//! Appending: single records, batches across segments, rotation, and sync.
//!
//! Rotation, in crash-safe order: the active segment is sealed (synced, then its SEALED header
//! made durable), its index file is replaced, the next segment is created with a durable header,
//! and the directory is synced. A crash between any two steps recovers to the old segment sealed
//! and last, which recovery follows with a new active segment, or to both segments (§13.12,
//! §13.18).
//!
//! Sync comes whole ([`WalEngine::sync`]) or in two phases ([`WalEngine::sync_plan`], a flush
//! by the caller, [`WalEngine::complete_sync`]), for a backend that flushes without holding the
//! engine (see [`crate::segment`]'s "Sync in two phases").

use alloc::vec::Vec;

use super::WalEngine;
use crate::error::{Error, Result};
use crate::format::frame_len;
use crate::position::{Position, SegmentId};
use crate::segment::{NextLogIndex, SegmentSyncPlan, SyncCompletion, check_payload_fits};
use crate::storage::Storage;

/// A sync plan of the engine ([`WalEngine::sync_plan`]): which segment to flush, the end the
/// flush makes durable, and what [`WalEngine::complete_sync`] needs to check that nothing
/// overtook it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPlan {
    /// The active segment when the plan was taken.
    segment: SegmentId,
    /// The engine's sync generation when the plan was taken.
    generation: u64,
    /// The segment's own plan.
    inner: SegmentSyncPlan,
}

impl SyncPlan {
    /// The segment whose region the caller flushes.
    pub fn segment(&self) -> SegmentId {
        self.segment
    }

    /// The end of the data (in [`SyncPlan::segment`]) the plan makes durable.
    pub fn end(&self) -> u64 {
        self.inner.end()
    }

    /// Whether the caller must flush the segment's region before completing the plan.
    pub fn needs_flush(&self) -> bool {
        self.inner.needs_flush()
    }
}

impl<S: Storage> WalEngine<S> {
    /// The log index the next record must carry: `Some(n)` once a record carries one (the run
    /// continues at `n`; records without an index are refused from then on), `None` before
    /// (any index starts the run, and 0 appends a record without one). Also `None` when the run
    /// reached `u64::MAX`: then every append is refused with [`Error::LogIndexOverflow`].
    pub fn next_log_index(&self) -> Option<u64> {
        self.last_log_index()?.checked_add(1)
    }

    /// Checks a log index (or the first of a batch of `count`) against the WAL's run.
    fn check_log_index(&self, log_index: u64, count: usize) -> Result<(), S::Error> {
        let Some(last) = self.last_log_index() else {
            return Ok(());
        };
        let expected = last.checked_add(1).ok_or_else(|| Error::LogIndexOverflow {
            segment: self.active,
        })?;
        if log_index != expected {
            return Err(Error::LogIndexMismatch {
                segment: self.active,
                expected,
                found: log_index,
            });
        }
        if log_index.checked_add(count as u64 - 1).is_none() {
            return Err(Error::LogIndexOverflow {
                segment: self.active,
            });
        }
        Ok(())
    }

    /// Refuses a payload that a new segment (of the configured size) could not hold: a record
    /// that does not fit the active segment goes to the next one, so that size decides.
    fn check_payload_len(&self, batch_index: usize, payload_len: u64) -> Result<(), S::Error> {
        check_payload_fits(
            self.active,
            self.options.segment_size,
            batch_index,
            payload_len,
        )
    }

    /// Whether the active segment must be rotated before a record with `log_index` goes in.
    fn must_rotate_for(&self, payload_len: u64, log_index: u64) -> bool {
        let Some(slot) = self.active_slot_ref() else {
            return true;
        };
        let segment = &slot.segment;
        if segment.is_sealed() || !segment.fits(payload_len) {
            return true;
        }
        // A segment holds one contiguous run of indexes, or none: a run that starts (or a
        // record without index after one) needs a segment of its own.
        match segment.expected_log_index() {
            NextLogIndex::Any => false,
            NextLogIndex::Unindexed => log_index != 0,
            NextLogIndex::Exactly(next) => next != log_index,
            NextLogIndex::Exhausted => true,
        }
    }

    /// Appends one record and returns its position. `log_index` is 0 for none; otherwise it must
    /// continue the WAL's run ([`WalEngine::next_log_index`]). Rotates first when the record does
    /// not fit. Durable after the next [`WalEngine::sync`].
    #[inline]
    pub fn append(&mut self, payload: &[u8], log_index: u64) -> Result<Position, S::Error> {
        self.check_changeable()?;
        let payload_len = payload.len() as u64;
        self.check_payload_len(0, payload_len)?;
        self.check_log_index(log_index, 1)?;
        if self.must_rotate_for(payload_len, log_index) {
            let result = self.rotate_locked();
            self.note_failure(result)?;
        }
        let id = self.active;
        let result = {
            let slot = self.active_slot()?;
            let result = slot.segment.append(payload, log_index);
            if let Ok(offset) = result {
                slot.push(crate::format::RecordFrame {
                    offset,
                    payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
                });
            }
            result
        };
        let offset = self.note_failure(result)?;
        if log_index != 0 {
            // This record's index is now the last one (the run is contiguous and only grows
            // by appends).
            self.last_log_index
                .set(super::LastLogIndex::Known(Some(log_index)));
        }
        Ok(Position::new(id, offset))
    }

    /// Appends a batch, rotating as needed, and pushes the position of each record written to
    /// `positions`, in order. `first_log_index` is the log index of `payloads[0]` (0 = none); the
    /// others follow contiguously.
    ///
    /// Every payload is checked before anything is written (too large, log index). A batch that
    /// spans segments is not atomic: if a rotation or a write fails half-way, the records already
    /// written stay (their positions are in `positions`) and the error is returned.
    pub fn append_batch<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
        first_log_index: u64,
        positions: &mut Vec<Position>,
    ) -> Result<(), S::Error> {
        if payloads.is_empty() {
            return Ok(());
        }
        self.check_changeable()?;
        for (batch_index, payload) in payloads.iter().enumerate() {
            self.check_payload_len(batch_index, payload.as_ref().len() as u64)?;
        }
        self.check_log_index(first_log_index, payloads.len())?;
        let mut done = 0;
        while done < payloads.len() {
            let log_index = if first_log_index == 0 {
                0
            } else {
                first_log_index + done as u64
            };
            let first_len = payloads[done].as_ref().len() as u64;
            if self.must_rotate_for(first_len, log_index) {
                let result = self.rotate_locked();
                self.note_failure(result)?;
            }
            let id = self.active;
            let rest = &payloads[done..];
            let result = self.active_slot()?.segment.append_batch(rest, log_index);
            let batch = self.note_failure(result)?;
            let slot = self.active_slot()?;
            let mut offset = batch.start_offset;
            for payload in &rest[..batch.written] {
                let payload_len = payload.as_ref().len() as u64;
                slot.push(crate::format::RecordFrame {
                    offset,
                    payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
                });
                positions.push(Position::new(id, offset));
                offset += frame_len(payload_len);
            }
            done += batch.written;
            if first_log_index != 0 {
                self.last_log_index.set(super::LastLogIndex::Known(Some(
                    first_log_index + done as u64 - 1,
                )));
            }
        }
        Ok(())
    }

    /// Seals the active segment and starts the next one; returns the new active id.
    pub fn rotate(&mut self) -> Result<SegmentId, S::Error> {
        self.check_changeable()?;
        let result = self.rotate_locked();
        self.note_failure(result)?;
        Ok(self.active)
    }

    fn rotate_locked(&mut self) -> Result<(), S::Error> {
        self.sync_generation += 1;
        let old = self.active;
        let next = self.next_id()?;
        if self
            .segments
            .get(&old)
            .is_some_and(|slot| !slot.segment.is_sealed())
        {
            self.seal_slot(old)?;
        }
        self.create_slot(next)?;
        self.sync_dir(Some(next))
    }

    /// Makes every record appended so far durable.
    pub fn sync(&mut self) -> Result<(), S::Error> {
        self.check_changeable()?;
        let now = self.now();
        let result = self.active_slot()?.segment.sync(now);
        self.note_failure(result)
    }

    /// First phase of a sync in two phases: notes the active segment and its end. Writes
    /// nothing, so it is cheap under a lock. The caller then flushes that segment's region if
    /// [`SyncPlan::needs_flush`] says so (a full barrier that starts after this call returned,
    /// and may run while others append) and hands the outcome to [`WalEngine::complete_sync`].
    ///
    /// A plan belongs to this engine: complete it on the engine that issued it.
    pub fn sync_plan(&self) -> Result<SyncPlan, S::Error> {
        self.check_changeable()?;
        let slot = self
            .segments
            .get(&self.active)
            .ok_or_else(|| Error::NoSuchSegment {
                segment: self.active,
            })?;
        Ok(SyncPlan {
            segment: self.active,
            generation: self.sync_generation,
            inner: slot.segment.sync_plan()?,
        })
    }

    /// Second phase of a sync in two phases: `flushed` is the outcome of the caller's flush of
    /// [`SyncPlan::segment`]'s region (`Ok(())` too when the plan needed none).
    ///
    /// A failed flush poisons the engine (SPEC §13.4): it is returned as [`Error::Region`], and
    /// every later change fails until reopen. A plan overtaken by a rotation, a truncation or a
    /// seal falls back to a full [`WalEngine::sync`] ([`SyncCompletion::FellBack`]: everything
    /// appended so far is durable). Otherwise the records below the plan's end are durable and
    /// acknowledged ([`SyncCompletion::Planned`]); those appended after the plan was taken are
    /// not.
    pub fn complete_sync(
        &mut self,
        plan: SyncPlan,
        flushed: core::result::Result<(), S::Error>,
    ) -> Result<SyncCompletion, S::Error> {
        let now = self.now();
        if let Err(source) = flushed {
            let result = match self.segments.get_mut(&plan.segment) {
                Some(slot) => slot.segment.complete_sync(plan.inner, Err(source), now),
                None => Err(Error::Region {
                    segment: plan.segment,
                    offset: plan.end(),
                    source,
                }),
            };
            return self.note_failure(result);
        }
        self.check_changeable()?;
        if plan.generation != self.sync_generation || plan.segment != self.active {
            self.sync()?;
            return Ok(SyncCompletion::FellBack);
        }
        let result = self
            .active_slot()?
            .segment
            .complete_sync(plan.inner, Ok(()), now);
        self.note_failure(result)
    }

    /// The active segment's slot.
    ///
    /// The active segment has the highest id, so it is the map's last entry, reached along the
    /// tree's right edge without comparing keys; a search of the map would compare the id with
    /// every key of each node on its way (the last key is the worst case of a node's linear
    /// search), twice per append. The search stays as the fallback, should the active segment
    /// ever not be the last.
    pub(super) fn active_slot(&mut self) -> Result<&mut super::Slot<S::Region>, S::Error> {
        let active = self.active;
        let slot = if self
            .segments
            .last_key_value()
            .is_some_and(|(&last, _)| last == active)
        {
            self.segments
                .last_entry()
                .map(alloc::collections::btree_map::OccupiedEntry::into_mut)
        } else {
            self.segments.get_mut(&active)
        };
        slot.ok_or_else(|| Error::NoSuchSegment { segment: active })
    }

    /// [`Self::active_slot`], shared.
    fn active_slot_ref(&self) -> Option<&super::Slot<S::Region>> {
        match self.segments.last_key_value() {
            Some((&last, slot)) if last == self.active => Some(slot),
            _ => self.segments.get(&self.active),
        }
    }
}
