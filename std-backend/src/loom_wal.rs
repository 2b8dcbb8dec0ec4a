//! End-to-end loom model: a writer appends through walfs-core's `Segment`, seals and rotates into
//! a new segment published in the [`SegmentTable`]; a tailing reader runs walfs-core's cursor
//! against the [`ReadGate`] and follows the rotation. Over every interleaving loom explores, the
//! reader never sees a partial record (the cursor checks every CRC), misses none and reads none
//! twice. The region stores bytes in loom atomics, 8 bytes a slot, so a read that is not ordered
//! after the write it depends on sees stale bytes and fails the CRC.

use std::ops::Range;

use walfs_core::region::{Region, RegionError, RegionErrorKind, RegionRead};
use walfs_core::{CrcCheck, CursorStep, Segment, SegmentCursor, SegmentId, SegmentInit};

use crate::gate::ReadGate;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::table::SegmentTable;

const CAPACITY: usize = 112; // header + 2 frames of 24 bytes

#[derive(Debug)]
struct Shared {
    slots: Vec<AtomicU64>,
    gate: ReadGate,
}

#[derive(Debug, Clone)]
struct LoomRegion(Arc<Shared>);

#[derive(Debug)]
struct OutOfBounds;

impl std::fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of bounds")
    }
}

impl RegionError for OutOfBounds {
    fn kind(&self) -> RegionErrorKind {
        RegionErrorKind::OutOfBounds
    }
}

impl LoomRegion {
    fn new() -> Self {
        LoomRegion(Arc::new(Shared {
            slots: (0..CAPACITY / 8).map(|_| AtomicU64::new(0)).collect(),
            gate: ReadGate::new(),
        }))
    }

    fn byte_range(offset: u64, len: usize) -> Result<Range<usize>, OutOfBounds> {
        let start = usize::try_from(offset).map_err(|_| OutOfBounds)?;
        let end = start.checked_add(len).ok_or(OutOfBounds)?;
        if end > CAPACITY {
            return Err(OutOfBounds);
        }
        Ok(start..end)
    }
}

impl RegionRead for LoomRegion {
    type Error = OutOfBounds;

    fn capacity(&self) -> u64 {
        CAPACITY as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let range = Self::byte_range(offset, buf.len())?;
        // One load per slot touched.
        let mut at = range.start;
        while at < range.end {
            let slot = at / 8;
            let word = self.0.slots[slot].load(Ordering::Relaxed).to_le_bytes();
            let until = range.end.min((slot + 1) * 8);
            buf[at - range.start..until - range.start]
                .copy_from_slice(&word[at % 8..at % 8 + (until - at)]);
            at = until;
        }
        Ok(())
    }
}

impl Region for LoomRegion {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        let range = Self::byte_range(offset, data.len())?;
        assert!(
            self.0
                .gate
                .may_write(offset, offset + data.len() as u64, 64)
        );
        // One load and one store per slot touched (the writer is the only one writing).
        let mut at = range.start;
        while at < range.end {
            let slot = &self.0.slots[at / 8];
            let until = range.end.min((at / 8 + 1) * 8);
            let mut word = slot.load(Ordering::Relaxed).to_le_bytes();
            word[at % 8..at % 8 + (until - at)]
                .copy_from_slice(&data[at - range.start..until - range.start]);
            slot.store(u64::from_le_bytes(word), Ordering::Relaxed);
            at = until;
        }
        Ok(())
    }

    fn persist(&mut self, _range: Range<u64>) -> Result<(), OutOfBounds> {
        Ok(())
    }

    fn sync(&mut self) -> Result<(), OutOfBounds> {
        Ok(())
    }

    fn publish_end(&mut self, end: u64) {
        self.0.gate.publish_end(end);
    }

    fn publish_sealed(&mut self, sealed: bool) {
        self.0.gate.publish_sealed(sealed);
    }
}

/// The reader's step, as `Reader::next` takes it: pin, load "sealed then end", run the cursor,
/// follow the table to the next segment at the end of a sealed one.
fn read_step(table: &SegmentTable<Shared>, cursor: &mut SegmentCursor, out: &mut Vec<u8>) -> bool {
    let Some(shared) = table.get(cursor.segment()) else {
        return false;
    };
    if !shared.gate.pin() {
        return false;
    }
    let mut region = LoomRegion(Arc::clone(&shared));
    let published = shared.gate.published();
    let step = cursor
        .next(&mut region, published, CrcCheck::Verify)
        .expect("never a partial or damaged record");
    let progressed = match step {
        CursorStep::Record(frame) => {
            let mut payload = [0u8; 1];
            region
                .read_at(frame.payload_offset(), &mut payload)
                .unwrap();
            out.push(payload[0]);
            true
        }
        CursorStep::NoNewData => false,
        CursorStep::EndOfSegment => match table.next_after(cursor.segment()) {
            Some((next, _)) => {
                *cursor = SegmentCursor::new(next);
                true
            }
            None => false,
        },
    };
    shared.gate.unpin();
    progressed
}

fn init() -> SegmentInit {
    SegmentInit {
        created_at: 0,
        marker: 0,
        first_log_index: 0,
    }
}

/// A reader crossing a rotation misses nothing and reads nothing twice.
#[test]
fn tailing_reader_across_a_rotation_reads_every_record_once_in_order() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.max_branches = 100_000;
    builder.check(|| {
        let table = Arc::new(SegmentTable::new());
        let first = Segment::create(LoomRegion::new(), SegmentId(1), init()).unwrap();
        let first_shared = Arc::clone(&first.region().0);
        table.sync_with(
            [SegmentId(1)].into_iter(),
            |_| true,
            |_| Some(Arc::clone(&first_shared)),
            |_| {},
        );
        let writer = {
            let table = Arc::clone(&table);
            loom::thread::spawn(move || {
                let mut first = first;
                first.append(&[1], 0).unwrap();
                first.seal(0).unwrap();
                let mut second = Segment::create(LoomRegion::new(), SegmentId(2), init()).unwrap();
                let second_shared = Arc::clone(&second.region().0);
                table.sync_with(
                    [SegmentId(1), SegmentId(2)].into_iter(),
                    |_| true,
                    |_| Some(Arc::clone(&second_shared)),
                    |_| {},
                );
                second.append(&[2], 0).unwrap();
            })
        };
        let mut cursor = SegmentCursor::new(SegmentId(1));
        let mut seen = Vec::new();
        for _ in 0..3 {
            read_step(&table, &mut cursor, &mut seen);
        }
        writer.join().unwrap();
        while read_step(&table, &mut cursor, &mut seen) {}
        assert_eq!(seen, [1, 2]);
    });
}
