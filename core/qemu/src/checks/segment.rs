//! `Segment` over RAM on the target: append, seal, reopen and scan; the recovery verdicts; the
//! reader cursor across a whole segment.

use walfs_core::{
    CorruptionReason, CursorStep, Error, OpenOptions, RamRegion, RepairPolicy, ScanStop, Segment,
    SegmentCursor, SegmentId, SegmentInit,
};

use crate::Outcome;

const ID: SegmentId = SegmentId(5);

const INIT: SegmentInit = SegmentInit {
    created_at: 10,
    marker: 0,
    first_log_index: 1,
};

/// A payload of `len` bytes (up to 255) that differs per `seed`.
pub(crate) fn payload(len: usize, seed: u8) -> [u8; 255] {
    core::array::from_fn(|i| {
        if i < len {
            // i < 255: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            let i = i as u8;
            i.wrapping_mul(13) ^ seed
        } else {
            0
        }
    })
}

/// The length of record `i` in these checks: every residue mod 8, some long ones.
fn len_of(i: usize) -> usize {
    (i * 37) % 120
}

/// Appends records `0..count` (log indexes 1..) and returns their offsets.
fn append_records(
    segment: &mut Segment<RamRegion<'_>>,
    count: usize,
    offsets: &mut [u64],
) -> Outcome {
    for (i, offset) in offsets.iter_mut().enumerate().take(count) {
        #[allow(clippy::cast_possible_truncation)]
        let bytes = payload(len_of(i), i as u8);
        *offset = ok!(segment.append(&bytes[..len_of(i)], 1 + i as u64), "append");
    }
    Ok(())
}

/// Every record of `segment`: its payload matches record `i`'s.
fn verify_records(segment: &mut Segment<RamRegion<'_>>, offsets: &[u64]) -> Outcome {
    let mut buf = [0u8; 255];
    for (i, &offset) in offsets.iter().enumerate() {
        let frame = ok!(segment.read(offset), "read");
        let read = ok!(segment.read_payload(&frame, &mut buf), "read_payload");
        #[allow(clippy::cast_possible_truncation)]
        let expected = payload(len_of(i), i as u8);
        ensure!(read == &expected[..len_of(i)], "payload");
    }
    Ok(())
}

/// Append, sync, reopen (clean end), append a batch, seal, reopen sealed (header and verified).
pub fn append_seal_reopen_scan() -> Outcome {
    let mut bytes = [0u8; 4096];
    let mut offsets = [0u64; 24];
    let mut segment = ok!(
        Segment::create(RamRegion::new(&mut bytes), ID, INIT),
        "create"
    );
    append_records(&mut segment, 16, &mut offsets)?;
    ok!(segment.sync(11), "sync");
    let end = segment.end();

    let (mut segment, report) = ok!(
        Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()),
        "reopen"
    );
    ensure!(
        report
            .scan
            .is_some_and(|s| s.stop == ScanStop::CleanEnd && s.end == end),
        "clean end"
    );
    ensure!(segment.record_count() == 16, "count after reopen");
    verify_records(&mut segment, &offsets[..16])?;
    let batch: [[u8; 3]; 8] = core::array::from_fn(|i| {
        #[allow(clippy::cast_possible_truncation)]
        let i = i as u8;
        [i, i, i]
    });
    let appended = ok!(segment.append_batch(&batch, 17), "append_batch");
    ensure!(appended.written == 8, "the whole batch fits");
    ok!(segment.seal(12), "seal");
    ensure!(
        matches!(segment.append(b"x", 25), Err(Error::Sealed { .. })),
        "a sealed segment refuses appends"
    );
    let end = segment.end();

    for verify_sealed in [false, true] {
        let options = OpenOptions {
            verify_sealed,
            ..OpenOptions::default()
        };
        let (mut segment, report) = ok!(
            Segment::open(RamRegion::new(&mut bytes), ID, options),
            "open sealed"
        );
        ensure!(segment.is_sealed(), "sealed after reopening");
        ensure!(
            report.scan.is_some() == verify_sealed,
            "scanned only when asked"
        );
        ensure!(
            segment.end() == end && segment.record_count() == 24,
            "end and count of the sealed segment"
        );
        verify_records(&mut segment, &offsets[..16])?;
    }
    Ok(())
}

/// A segment in `bytes` with records 0..4 synced (below the watermark) and records 4 and 5
/// appended after the last sync; their offsets in `offsets`.
fn build_unsynced_tail(bytes: &mut [u8], offsets: &mut [u64; 6]) -> Outcome {
    let mut segment = ok!(Segment::create(RamRegion::new(bytes), ID, INIT), "create");
    append_records(&mut segment, 4, offsets)?;
    ok!(segment.sync(11), "sync");
    let synced_end = segment.end();
    ok!(segment.persist(), "persist is no sync");
    for i in 4..6 {
        #[allow(clippy::cast_possible_truncation)]
        let bytes = payload(len_of(i), i as u8);
        offsets[i] = ok!(segment.append(&bytes[..len_of(i)], 1 + i as u64), "append");
    }
    ensure!(
        segment.durable_end() == synced_end,
        "watermark at the last sync"
    );
    Ok(())
}

/// Damage above the durable watermark is a torn tail: cut silently and reported, with the
/// valid-looking frames after it.
pub fn torn_tail_above_the_watermark() -> Outcome {
    let mut offsets = [0u64; 6];
    // A bad CRC in the last, unsynced record: torn tail, cut, stale bytes erased.
    let mut bytes = [0u8; 2048];
    build_unsynced_tail(&mut bytes, &mut offsets)?;
    let at = usize::try_from(offsets[5]).map_err(|_| "offset")?;
    bytes[at + 9] ^= 0x40;
    let (mut segment, report) = ok!(
        Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()),
        "open with a torn tail"
    );
    let Some(scan) = report.scan else {
        fail!("scanned");
    };
    ensure!(
        matches!(scan.stop, ScanStop::TornTail(ref d) if d.offset == offsets[5]
            && matches!(d.reason, CorruptionReason::BadCrc { .. })),
        "torn tail at the damaged unsynced record"
    );
    ensure!(
        segment.record_count() == 5,
        "records before the tear survive"
    );
    ensure!(!report.erased_stale.is_empty(), "the torn bytes are erased");
    verify_records(&mut segment, &offsets[..5])?;
    ensure!(
        bytes[at..].iter().all(|&b| b == 0),
        "nothing stale after the recovered end"
    );

    // A bad trailer in the first unsynced record, a valid-looking one after it: still torn.
    let mut bytes = [0u8; 2048];
    build_unsynced_tail(&mut bytes, &mut offsets)?;
    let at = usize::try_from(offsets[4]).map_err(|_| "offset")?;
    bytes[at + 8 + len_of(4)] ^= 0xFF;
    let (segment, report) = ok!(
        Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()),
        "open with a torn trailer"
    );
    ensure!(
        report
            .scan
            .is_some_and(|s| matches!(s.stop, ScanStop::TornTail(ref d)
            if d.reason == CorruptionReason::BadTrailer && d.frames_after.count == 1)),
        "torn tail, one valid-looking frame after it"
    );
    ensure!(segment.record_count() == 4, "synced records survive");
    Ok(())
}

/// Damage below the durable watermark is corruption of acknowledged data: refused, or cut
/// when asked.
pub fn corruption_below_the_watermark() -> Outcome {
    let mut offsets = [0u64; 6];
    // A bad CRC in a synced record: corruption of acknowledged data, refused by default.
    let mut bytes = [0u8; 2048];
    build_unsynced_tail(&mut bytes, &mut offsets)?;
    let at = usize::try_from(offsets[2]).map_err(|_| "offset")?;
    bytes[at + 9] ^= 0x01;
    let refused = Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default());
    ensure!(
        matches!(refused, Err(Error::Corrupt { offset, reason: CorruptionReason::BadCrc { .. }, .. })
            if offset == offsets[2]),
        "corruption below the watermark is refused"
    );
    let repair = OpenOptions {
        repair: RepairPolicy::TruncateAtDamage,
        ..OpenOptions::default()
    };
    let (segment, report) = ok!(
        Segment::open(RamRegion::new(&mut bytes), ID, repair),
        "open with repair"
    );
    ensure!(
        report
            .scan
            .is_some_and(|s| matches!(s.stop, ScanStop::Corruption(_))),
        "repair reports the corruption"
    );
    ensure!(segment.record_count() == 2, "repair cuts at the damage");

    // Synced records zeroed (erased) below the watermark: corruption, reason Erased.
    let mut bytes = [0u8; 2048];
    build_unsynced_tail(&mut bytes, &mut offsets)?;
    let from = usize::try_from(offsets[1]).map_err(|_| "offset")?;
    bytes[from..].fill(0);
    let refused = Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default());
    ensure!(
        matches!(
            refused,
            Err(Error::Corrupt {
                reason: CorruptionReason::Erased,
                ..
            })
        ),
        "acknowledged records that vanished are corruption"
    );
    Ok(())
}

/// Fill a segment to the last byte, then read it with the cursor: every record in order,
/// `NoNewData` while active, `EndOfSegment` once sealed; and a cursor started mid-way.
pub fn cursor_across_a_whole_segment() -> Outcome {
    let mut bytes = [0u8; 4096];
    let mut segment = ok!(
        Segment::create(RamRegion::new(&mut bytes), ID, INIT),
        "create"
    );
    let mut count = 0usize;
    let mut tenth = 0u64;
    loop {
        let len = len_of(count);
        if !segment.fits(len as u64) {
            break;
        }
        #[allow(clippy::cast_possible_truncation)]
        let bytes = payload(len, count as u8);
        let offset = ok!(segment.append(&bytes[..len], 1 + count as u64), "append");
        if count == 10 {
            tenth = offset;
        }
        count += 1;
    }
    // Fill the rest exactly with one record of the length that fits (less than 128 bytes).
    let room = usize::try_from(segment.capacity() - segment.end()).map_err(|_| "room")?;
    let filler_len = room.checked_sub(16);
    if let Some(len) = filler_len {
        #[allow(clippy::cast_possible_truncation)]
        let bytes = payload(len, count as u8);
        ok!(segment.append(&bytes[..len], 1 + count as u64), "filler");
        count += 1;
    }
    ensure!(
        segment.end() == segment.capacity(),
        "the segment is full to its last byte"
    );
    ensure!(
        matches!(
            segment.append(b"", 1 + count as u64),
            Err(Error::SegmentFull { .. })
        ),
        "a full segment refuses even an empty record"
    );

    let mut cursor = SegmentCursor::new(ID);
    let mut seen = 0usize;
    let mut last = 0u64;
    loop {
        match ok!(cursor.next_in(&mut segment), "cursor step") {
            CursorStep::Record(frame) => {
                ensure!(seen == 0 || frame.offset > last, "records in order");
                let len = match filler_len {
                    Some(len) if seen == count - 1 => len,
                    _ => len_of(seen),
                };
                #[allow(clippy::cast_possible_truncation)]
                let expected = payload(len, seen as u8);
                ensure!(
                    segment.payload(&frame) == Some(&expected[..len]),
                    "payload through the cursor"
                );
                last = frame.offset;
                seen += 1;
            }
            CursorStep::NoNewData => break,
            CursorStep::EndOfSegment => fail!("not sealed yet"),
        }
    }
    ensure!(seen == count, "every record once");
    ensure!(
        cursor.last_record_position().map(|p| p.offset) == Some(last),
        "last record position"
    );
    ok!(segment.seal(20), "seal");
    ensure!(
        matches!(cursor.next_in(&mut segment), Ok(CursorStep::EndOfSegment)),
        "end of segment once sealed"
    );
    let mut cursor = SegmentCursor::at(ID, tenth);
    let mut from_tenth = 0usize;
    while let Ok(CursorStep::Record(_)) = cursor.next_in(&mut segment) {
        from_tenth += 1;
    }
    ensure!(from_tenth == count - 10, "a cursor started at record 10");
    Ok(())
}
