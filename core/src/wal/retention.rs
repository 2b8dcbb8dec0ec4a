//! Retention: which segments may go, and their removal from the front of the log (SPEC §8,
//! with the guards of §13.19 honoured).
//!
//! Only a prefix of sealed segments is ever removed, oldest first, so the log stays one
//! contiguous run and a reader never jumps over a hole. The minimum count is honoured by every
//! rule, the active segment is never a candidate, and asking twice does not remove more.
//! Whether a candidate can go *now* (no reader holds it, the application's own predicate) is
//! the caller's business: the std backend defers removal while a reader holds a segment.

use alloc::vec::Vec;

use super::{WalEngine, storage_err};
use crate::error::{Error, Result};
use crate::position::SegmentId;
use crate::storage::{Storage, StorageOp};

/// Which segments retention may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Sealed segments last modified at least this long ago (nanoseconds) may go.
    pub max_age_ns: Option<u64>,
    /// Segments beyond this many (counting the active one) may go, oldest first.
    pub max_segments: Option<usize>,
    /// Never fewer segments than this remain (counting the active one).
    pub min_segments: usize,
}

impl<S: Storage> WalEngine<S> {
    /// The segments the policy allows to remove at time `now` (nanoseconds since the epoch),
    /// oldest first: a prefix of the sealed segments.
    pub fn retention_candidates(&self, policy: &RetentionPolicy, now: i64) -> Vec<SegmentId> {
        let total = self.segments.len();
        let keep_at_least = policy.min_segments.max(1);
        let removable = total.saturating_sub(keep_at_least);
        let by_count = policy
            .max_segments
            .map_or(0, |max| total.saturating_sub(max.max(1)));
        let mut candidates = Vec::new();
        for (&id, slot) in &self.segments {
            if candidates.len() >= removable || id == self.active || !slot.segment.is_sealed() {
                break;
            }
            let aged = policy.max_age_ns.is_some_and(|max_age| {
                let age = now.saturating_sub(slot.segment.header().last_modified_at);
                u64::try_from(age).is_ok_and(|age| age >= max_age)
            });
            if candidates.len() < by_count || aged {
                candidates.push(id);
            } else {
                break;
            }
        }
        candidates
    }

    /// Removes the oldest segment, which must be sealed and not the active one, and syncs the
    /// directory.
    pub fn remove_oldest(&mut self, id: SegmentId) -> Result<(), S::Error> {
        self.check_changeable()?;
        let oldest = self
            .segments
            .first_key_value()
            .map(|(&oldest, slot)| (oldest, slot.segment.is_sealed()));
        if oldest != Some((id, true)) || id == self.active {
            return Err(Error::NotRemovable { segment: id });
        }
        let result = self
            .storage
            .remove_segment(id)
            .map_err(storage_err(StorageOp::Remove, Some(id)))
            .and_then(|()| {
                self.segments.remove(&id);
                self.forget_last_log_index();
                self.sync_dir(None)
            });
        self.note_failure(result)
    }

    /// The sealed segments with an id above `after`, ascending: what a backup after `after`
    /// copies (the active segment is copied once it is sealed).
    pub fn sealed_segments_after(&self, after: SegmentId) -> Vec<SegmentId> {
        self.segments
            .iter()
            .filter(|(id, slot)| **id > after && slot.segment.is_sealed())
            .map(|(&id, _)| id)
            .collect()
    }
}
