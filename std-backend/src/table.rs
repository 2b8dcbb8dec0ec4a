//! `SegmentTable`: the readers' map from segment id to the segment's shared mapping.
//!
//! Readers take a clone of a segment's `Arc` under the read lock when they enter it, and keep it
//! while they read there. A segment leaves the table, and the log, only through
//! [`SegmentTable::remove_unheld`], which under the write lock checks that nobody but the table
//! and the writer holds it: so it is removed exactly once, and never while a reader holds it
//! (loom model below). Removing from the table happens before the caller deletes the file, and
//! no reader can obtain the segment afterwards.

use std::collections::BTreeMap;

use walfs_core::SegmentId;

use crate::sync::{Arc, RwLock, read, write};

/// Segment id → shared segment state.
#[derive(Debug)]
pub(crate) struct SegmentTable<T> {
    segments: RwLock<BTreeMap<SegmentId, Arc<T>>>,
}

impl<T> SegmentTable<T> {
    pub(crate) fn new() -> Self {
        SegmentTable {
            segments: RwLock::new(BTreeMap::new()),
        }
    }

    /// The segment `id`.
    pub(crate) fn get(&self, id: SegmentId) -> Option<Arc<T>> {
        read(&self.segments).get(&id).cloned()
    }

    /// The first segment after `id`.
    pub(crate) fn next_after(&self, id: SegmentId) -> Option<(SegmentId, Arc<T>)> {
        read(&self.segments)
            .range(id..)
            .find(|(next, _)| **next > id)
            .map(|(&next, segment)| (next, Arc::clone(segment)))
    }

    /// The lowest and highest ids.
    pub(crate) fn id_range(&self) -> Option<(SegmentId, SegmentId)> {
        let segments = read(&self.segments);
        Some((*segments.keys().next()?, *segments.keys().next_back()?))
    }

    /// Makes the table hold exactly the segments `present` says exist, creating entries with
    /// `make`; `on_removed` runs for each entry dropped.
    pub(crate) fn sync_with(
        &self,
        ids: impl Iterator<Item = SegmentId>,
        present: impl Fn(SegmentId) -> bool,
        make: impl Fn(SegmentId) -> Option<Arc<T>>,
        on_removed: impl Fn(&T),
    ) {
        let mut segments = write(&self.segments);
        segments.retain(|&id, segment| {
            let keep = present(id);
            if !keep {
                on_removed(segment);
            }
            keep
        });
        for id in ids {
            if let std::collections::btree_map::Entry::Vacant(entry) = segments.entry(id)
                && let Some(segment) = make(id)
            {
                entry.insert(segment);
            }
        }
    }

    /// Removes segment `id` if nobody holds it but the table and `owners` others (the writer),
    /// running `remove` (the deletion) under the write lock first; a failed `remove` keeps the
    /// entry. Returns whether it was removed, or the error of `remove`.
    pub(crate) fn remove_unheld<E>(
        &self,
        id: SegmentId,
        owners: usize,
        remove: impl FnOnce(&T) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut segments = write(&self.segments);
        let Some(segment) = segments.get(&id) else {
            return Ok(false);
        };
        if Arc::strong_count(segment) > 1 + owners {
            return Ok(false);
        }
        remove(segment)?;
        segments.remove(&id);
        Ok(true)
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::sync::{AtomicBool, AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Segment {
        deleted: AtomicBool,
    }

    /// A segment is deleted exactly once, and never while a reader holds it.
    #[test]
    fn segment_is_deleted_once_and_never_while_a_reader_holds_it() {
        loom::model(|| {
            let table = Arc::new(SegmentTable::new());
            let deletions = Arc::new(AtomicUsize::new(0));
            table.sync_with(
                [SegmentId(1)].into_iter(),
                |_| true,
                |_| Some(Arc::new(Segment::default())),
                |_| {},
            );
            let reader = {
                let table = Arc::clone(&table);
                loom::thread::spawn(move || {
                    if let Some(segment) = table.get(SegmentId(1)) {
                        // While held, the segment is not deleted.
                        assert!(!segment.deleted.load(Ordering::SeqCst));
                        loom::thread::yield_now();
                        assert!(!segment.deleted.load(Ordering::SeqCst));
                    }
                })
            };
            let deleter = |table: &SegmentTable<Segment>, deletions: &AtomicUsize| {
                let _ = table.remove_unheld(SegmentId(1), 0, |segment| {
                    segment.deleted.store(true, Ordering::SeqCst);
                    deletions.fetch_add(1, Ordering::SeqCst);
                    Ok::<(), ()>(())
                });
            };
            let other = {
                let (table, deletions) = (Arc::clone(&table), Arc::clone(&deletions));
                loom::thread::spawn(move || deleter(&table, &deletions))
            };
            deleter(&table, &deletions);
            reader.join().unwrap();
            other.join().unwrap();
            deleter(&table, &deletions);
            assert_eq!(
                deletions.load(Ordering::SeqCst),
                1,
                "deleted exactly once in the end"
            );
            assert!(table.get(SegmentId(1)).is_none());
        });
    }
}
