//! `ReadGate`: the protocol between a segment's writer and its concurrent readers, as atomics
//! only, so loom can check it in isolation (`mmap` builds its safety argument on it).
//!
//! - The writer publishes the end of the data with `Release` after writing the bytes; readers
//!   load it with `Acquire` and read only below it.
//! - `high_water` is the highest end published since the last exclusive access: bytes below it
//!   may be in a reader's hands.
//! - A reader *pins* before it reads and unpins after. A writer that must change bytes below
//!   `high_water` (truncation) takes *exclusive* access, which succeeds only with no pin held and
//!   blocks new pins until it ends.
//! - The sealed flag is published after the final end, so "sealed, then end" read in that order
//!   means the end is final.

use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The `pins` bit that marks exclusive access.
const EXCLUSIVE: u64 = 1 << 63;
/// The epoch of a segment removed from the log.
pub(crate) const REMOVED: u64 = u64::MAX;

/// Reader/writer coordination of one segment.
#[derive(Debug)]
pub(crate) struct ReadGate {
    published_end: AtomicU64,
    high_water: AtomicU64,
    sealed: AtomicBool,
    pins: AtomicU64,
    epoch: AtomicU64,
}

impl ReadGate {
    pub(crate) fn new() -> Self {
        ReadGate {
            published_end: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
            sealed: AtomicBool::new(false),
            pins: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// The published state, sealed flag first (see `walfs_core::cursor`).
    pub(crate) fn published(&self) -> walfs_core::PublishedEnd {
        let sealed = self.sealed.load(Ordering::Acquire);
        let end = self.published_end.load(Ordering::Acquire);
        walfs_core::PublishedEnd { sealed, end }
    }

    /// The published end (Acquire).
    pub(crate) fn end(&self) -> u64 {
        self.published_end.load(Ordering::Acquire)
    }

    /// Writer: the bytes below `end` are written.
    pub(crate) fn publish_end(&self, end: u64) {
        self.published_end.store(end, Ordering::Release);
        if end > self.high_water.load(Ordering::Relaxed) {
            self.high_water.store(end, Ordering::Relaxed);
        }
    }

    /// Writer: the segment is sealed (after its final end was published), or unsealed again.
    pub(crate) fn publish_sealed(&self, sealed: bool) {
        self.sealed.store(sealed, Ordering::Release);
    }

    /// Writer: whether bytes `start..end` may be written now. Bytes a reader may have seen
    /// (below `high_water`, past the header) need exclusive access.
    pub(crate) fn may_write(&self, start: u64, end: u64, header_end: u64) -> bool {
        end <= header_end
            || start >= self.high_water.load(Ordering::Relaxed)
            || self.pins.load(Ordering::Acquire) & EXCLUSIVE != 0
    }

    /// Reader: takes a pin, unless a writer has exclusive access.
    pub(crate) fn pin(&self) -> bool {
        let previous = self.pins.fetch_add(1, Ordering::Acquire);
        if previous & EXCLUSIVE != 0 {
            self.pins.fetch_sub(1, Ordering::Release);
            return false;
        }
        true
    }

    /// Reader: releases a pin.
    pub(crate) fn unpin(&self) {
        self.pins.fetch_sub(1, Ordering::Release);
    }

    /// Writer: takes exclusive access if no reader holds a pin.
    pub(crate) fn try_exclusive(&self) -> bool {
        self.pins
            .compare_exchange(0, EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Writer: ends exclusive access; returns the epoch that began and the end it left.
    pub(crate) fn end_exclusive(&self) -> (u64, u64) {
        let end = self.published_end.load(Ordering::Relaxed);
        self.high_water.store(end, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Relaxed);
        if epoch != REMOVED {
            self.epoch.store(epoch + 1, Ordering::Release);
        }
        self.pins.store(0, Ordering::Release);
        (epoch, end)
    }

    /// The truncation epoch: bumped by every exclusive access, [`REMOVED`] once removed.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Marks the segment removed from the log.
    pub(crate) fn mark_removed(&self) {
        self.epoch.store(REMOVED, Ordering::Release);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::sync::Arc;

    /// Four 8-byte slots of "record" bytes: slot 0 is written, then published as end 8; slot 1
    /// the same with end 16. A truncation zeroes slot 1 back to end 8 under exclusive access.
    struct Model {
        gate: ReadGate,
        slots: [AtomicU64; 2],
    }

    /// A pinned reader never sees a byte below the published end that is not the writer's,
    /// whatever the interleaving of appends, a truncation and the read.
    #[test]
    fn pinned_reader_never_sees_unwritten_or_truncated_bytes() {
        loom::model(|| {
            let model = Arc::new(Model {
                gate: ReadGate::new(),
                slots: [AtomicU64::new(0), AtomicU64::new(0)],
            });
            let writer = {
                let model = Arc::clone(&model);
                loom::thread::spawn(move || {
                    for (slot, value) in model.slots.iter().zip([11, 22]) {
                        let end = model.gate.end();
                        assert!(model.gate.may_write(end, end + 8, 0));
                        slot.store(value, Ordering::Relaxed);
                        model.gate.publish_end(end + 8);
                    }
                    // Truncate back to one slot if no reader holds a pin.
                    if model.gate.try_exclusive() {
                        model.gate.publish_end(8);
                        assert!(model.gate.may_write(8, 16, 0));
                        model.slots[1].store(0, Ordering::Relaxed);
                        model.gate.end_exclusive();
                    } else {
                        assert!(!model.gate.may_write(8, 16, 0), "no write below readers");
                    }
                })
            };
            if model.gate.pin() {
                let end = model.gate.end();
                let expected = [11, 22];
                for (slot, value) in model.slots.iter().zip(expected).take((end / 8) as usize) {
                    assert_eq!(slot.load(Ordering::Relaxed), value);
                }
                model.gate.unpin();
            }
            writer.join().unwrap();
        });
    }

    /// "Sealed, then end" read in that order means the end is final.
    #[test]
    fn sealed_flag_read_first_means_the_end_is_final() {
        loom::model(|| {
            let gate = Arc::new(ReadGate::new());
            let writer = {
                let gate = Arc::clone(&gate);
                loom::thread::spawn(move || {
                    gate.publish_end(8);
                    gate.publish_end(16);
                    gate.publish_sealed(true);
                })
            };
            let published = gate.published();
            if published.sealed {
                assert_eq!(published.end, 16);
            }
            writer.join().unwrap();
        });
    }
}
