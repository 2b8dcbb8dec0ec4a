//! The log index: log index → position, and the bounds of the run.
//!
//! Each segment stores the log index of its first record; its i-th record carries that plus i.
//! Because the engine only accepts one contiguous run, a lookup is a search over segments
//! followed by an array access, and the bounds are the first and last indexed segments' ends.
//! For directories written by the Go original, which did not enforce contiguity, a later
//! segment wins where two claim the same index (as in the original, SPEC §3.6).

use super::WalEngine;
use crate::error::{Error, Result};
use crate::position::Position;
use crate::storage::Storage;

impl<S: Storage> WalEngine<S> {
    /// The last log index written, if any record carries one.
    pub fn last_log_index(&self) -> Option<u64> {
        if let super::LastLogIndex::Known(last) = self.last_log_index.get() {
            return last;
        }
        let last = self
            .segments
            .values()
            .rev()
            .find_map(super::Slot::last_log_index);
        self.last_log_index.set(super::LastLogIndex::Known(last));
        last
    }

    /// Drops the remembered [`WalEngine::last_log_index`]: the segments changed otherwise than
    /// by an append.
    pub(super) fn forget_last_log_index(&self) {
        self.last_log_index.set(super::LastLogIndex::Unknown);
    }

    /// The first log index still present, if any record carries one.
    pub fn first_log_index(&self) -> Option<u64> {
        self.segments.values().find_map(|slot| {
            let first = slot.segment.first_log_index();
            (first != 0 && slot.segment.record_count() != 0).then_some(first)
        })
    }

    /// `(first, last)` log index present, if any record carries one.
    pub fn log_index_bounds(&self) -> Option<(u64, u64)> {
        Some((self.first_log_index()?, self.last_log_index()?))
    }

    /// The position of the record with log index `log_index`.
    ///
    /// Errors: [`Error::LogIndexNotYetAvailable`] past the last index (or when none exists),
    /// [`Error::LogIndexTruncated`] before the first one still present. Loads the record table
    /// of the sealed segment holding it if that is not in memory.
    pub fn position_for_index(&mut self, log_index: u64) -> Result<Position, S::Error> {
        let Some((first, last)) = self.log_index_bounds() else {
            return Err(Error::LogIndexNotYetAvailable {
                requested: log_index,
                last: 0,
            });
        };
        if log_index > last || log_index == 0 {
            return Err(Error::LogIndexNotYetAvailable {
                requested: log_index,
                last,
            });
        }
        if log_index < first {
            return Err(Error::LogIndexTruncated {
                requested: log_index,
                first,
            });
        }
        let holder = self.segments.iter().rev().find_map(|(&id, slot)| {
            let segment_first = slot.segment.first_log_index();
            let ordinal = log_index.checked_sub(segment_first)?;
            (segment_first != 0 && ordinal < slot.segment.record_count()).then_some((id, ordinal))
        });
        if let Some((id, ordinal)) = holder {
            self.load_records(id)?;
            if let Some(&(offset, _)) = self.segments.get(&id).and_then(|slot| {
                usize::try_from(ordinal)
                    .ok()
                    .and_then(|ordinal| slot.records.get(ordinal))
            }) {
                return Ok(Position::new(id, u64::from(offset)));
            }
        }
        // Inside the bounds but in no segment: a gap left by the Go original's writer.
        Err(Error::LogIndexTruncated {
            requested: log_index,
            first,
        })
    }
}
