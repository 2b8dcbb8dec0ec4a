//! Negative controls: switches that turn off one durability barrier of the engine at a time, so
//! the crash simulator (`walfs-sim`) can prove that each barrier is needed — a barrier whose
//! removal no simulated crash notices is not proven.
//!
//! The switches exist only in a build with `RUSTFLAGS="--cfg walfs_negative_controls"` (one test
//! build for all six). In every other build [`is_skipped`] is a `const fn` returning `false`, so
//! the checks at the barrier points compile to nothing and normal builds (the Cortex-M4 one too)
//! are unchanged.
//!
//! The switch is one process-wide bitmask: a test that flips it must be the only test of its
//! binary (`walfs-sim`'s `tests/negative_controls.rs` is).

/// A durability barrier of the engine that a negative control can switch off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Barrier {
    /// [`Segment::sync`](crate::Segment::sync) makes the appended data durable (msync of the range
    /// and the region's full barrier) before it acknowledges. Off: `sync` acknowledges without
    /// forcing the data to the medium.
    DataPersist,
    /// Every rewritten segment header (watermark, seal, truncation, lowered watermark) is
    /// persisted. Off: headers are written but not persisted by their own barrier.
    HeaderPersist,
    /// Every directory sync of the engine (after create, rotation, removal, truncation, recovery).
    /// Off: directory changes stay pending.
    DirSync,
    /// At open, the stale bytes after the recovered end of the active segment are erased (and the
    /// watermark lowered) before new appends. Off: they stay.
    StaleTailZeroing,
    /// Truncation cuts the target segment durably before it removes the segments after it.
    /// Off: the later segments are removed (and the directory synced) first.
    TruncationOrder,
    /// A failed write, persist or sync poisons the segment and the engine. Off: nothing is
    /// poisoned; later writes and syncs are accepted.
    SyncPoisoning,
}

impl Barrier {
    /// Every barrier, in a fixed order.
    pub const ALL: [Barrier; 6] = [
        Barrier::DataPersist,
        Barrier::HeaderPersist,
        Barrier::DirSync,
        Barrier::StaleTailZeroing,
        Barrier::TruncationOrder,
        Barrier::SyncPoisoning,
    ];

    /// The bit of this barrier in the switch mask.
    #[cfg(walfs_negative_controls)]
    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

#[cfg(walfs_negative_controls)]
mod switch {
    use core::sync::atomic::{AtomicU32, Ordering};

    use super::Barrier;

    /// The barriers switched off, one bit each.
    static SKIPPED: AtomicU32 = AtomicU32::new(0);

    /// Switches `barrier` off for the whole process until [`restore_all`].
    pub fn skip(barrier: Barrier) {
        SKIPPED.fetch_or(barrier.bit(), Ordering::SeqCst);
    }

    /// Switches every barrier back on.
    pub fn restore_all() {
        SKIPPED.store(0, Ordering::SeqCst);
    }

    /// Whether `barrier` is switched off.
    #[inline]
    pub fn is_skipped(barrier: Barrier) -> bool {
        SKIPPED.load(Ordering::Relaxed) & barrier.bit() != 0
    }
}

#[cfg(walfs_negative_controls)]
pub use switch::{is_skipped, restore_all, skip};

/// Whether `barrier` is switched off: never, in a build without `cfg(walfs_negative_controls)`.
#[cfg(not(walfs_negative_controls))]
#[inline]
pub const fn is_skipped(barrier: Barrier) -> bool {
    let _ = barrier;
    false
}
