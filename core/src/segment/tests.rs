//! Behaviour of `Segment` over RAM, a failing region and a NOR-like region.
#![allow(
    clippy::drop_non_drop,
    reason = "dropping a segment ends its borrow of the bytes before the test inspects them"
)]
#![allow(clippy::cast_possible_truncation, reason = "small test indexes")]

use super::*;
use crate::cursor::{CursorStep, SegmentCursor};
use crate::error::CorruptionReason;
use crate::format::{TRAILER, encode_frame};
use crate::region::{RamRegion, RamRegionError, RegionError, RegionRead};
use crate::scan::ScanStop;
use crate::testing::{NorRegion, NorRegionError};

const T: i64 = 1_700_000_000_000_000_000;
const ID: SegmentId = SegmentId(1);

fn init() -> SegmentInit {
    SegmentInit {
        created_at: T,
        marker: 0,
        first_log_index: 0,
    }
}

fn create(bytes: &mut [u8]) -> Segment<RamRegion<'_>> {
    Segment::create(RamRegion::new(bytes), ID, init()).unwrap()
}

fn open(bytes: &mut [u8]) -> (Segment<RamRegion<'_>>, OpenReport) {
    Segment::open(RamRegion::new(bytes), ID, OpenOptions::default()).unwrap()
}

fn payload(i: usize) -> [u8; 40] {
    core::array::from_fn(|j| (i * 31 + j * 7) as u8)
}

/// Reads every record with a cursor; returns (offset, payload length) pairs and the final step.
fn read_all<R: Region>(segment: &mut Segment<R>, out: &mut [(u64, u32)]) -> (usize, CursorStep) {
    let mut cursor = SegmentCursor::new(segment.id());
    let mut n = 0;
    loop {
        match cursor.next_in(segment).unwrap() {
            CursorStep::Record(frame) => {
                out[n] = (frame.offset, frame.payload_len);
                n += 1;
            }
            step => return (n, step),
        }
    }
}

#[test]
fn hello_record_matches_spec_bytes_and_header_after_sync() {
    let mut bytes = [0u8; 256];
    let mut segment = create(&mut bytes);
    assert_eq!(segment.append(b"hello", 1).unwrap(), 64);
    segment.sync(T).unwrap();
    drop(segment);
    #[rustfmt::skip]
    let record = [
        0xa1, 0xb1, 0x17, 0x4e, 0x05, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xde, 0xad, 0xbe,
        0xef, 0xfe, 0xed, 0xfa, 0xce, 0x00, 0x00, 0x00,
    ];
    assert_eq!(&bytes[64..88], &record);
    assert!(bytes[88..].iter().all(|&b| b == 0));
    // The header equals SPEC §1.8 after Write("hello", 1), plus our watermark flag (0x10).
    let header = SegmentHeader::decode(bytes[..64].try_into().unwrap()).unwrap();
    let expected = SegmentHeader {
        write_offset: 88,
        entry_count: 1,
        first_log_index: 1,
        flags: SegmentFlags(SegmentFlags::ACTIVE | SegmentFlags::WATERMARK),
        ..SegmentHeader::new(T, 0)
    };
    assert_eq!(header, expected);
}

#[test]
fn fresh_segment_header_is_durable_and_marked_with_a_watermark() {
    let mut bytes = [0u8; 128];
    let segment = Segment::create(
        RamRegion::new(&mut bytes),
        ID,
        SegmentInit {
            marker: 0xA1B2_C3D4,
            ..init()
        },
    )
    .unwrap();
    assert_eq!(segment.end(), 64);
    assert_eq!(segment.durable_end(), 64);
    let header = *segment.header();
    assert_eq!(
        header.flags.0,
        SegmentFlags::ACTIVE | SegmentFlags::WATERMARK
    );
    assert_eq!(header.write_offset, 64);
    assert_eq!(&bytes[52..56], &0xA1B2_C3D4u32.to_le_bytes());
}

#[test]
fn appended_records_survive_reopen_at_their_offsets() {
    let mut bytes = [0u8; 2048];
    let mut offsets = [0u64; 10];
    let mut segment = create(&mut bytes);
    for (i, offset) in offsets.iter_mut().enumerate() {
        *offset = segment.append(&payload(i)[..i * 3], 0).unwrap();
        assert_eq!(*offset % 8, 0);
    }
    segment.sync(T).unwrap();
    let (mut segment, report) = open(&mut bytes);
    let scan = report.scan.unwrap();
    assert_eq!(scan.stop, ScanStop::CleanEnd);
    assert_eq!(scan.record_count, 10);
    let mut found = [(0, 0); 16];
    let (n, last) = read_all(&mut segment, &mut found);
    assert_eq!(n, 10);
    assert_eq!(last, CursorStep::NoNewData);
    for i in 0..10 {
        assert_eq!(found[i], (offsets[i], (i * 3) as u32));
        let frame = segment.read(offsets[i]).unwrap();
        assert_eq!(segment.payload(&frame).unwrap(), &payload(i)[..i * 3]);
    }
}

#[test]
fn zero_length_records_are_valid() {
    let mut bytes = [0u8; 256];
    let mut segment = create(&mut bytes);
    assert_eq!(segment.append(b"", 0).unwrap(), 64);
    assert_eq!(segment.append(b"", 0).unwrap(), 80);
    segment.sync(T).unwrap();
    let (mut segment, _) = open(&mut bytes);
    assert_eq!(segment.record_count(), 2);
    let frame = segment.read(80).unwrap();
    assert_eq!(segment.payload(&frame), Some(&[][..]));
}

#[test]
fn record_that_exactly_fills_the_segment_fits_and_the_next_is_refused() {
    let mut bytes = [0u8; 1000];
    let mut segment = create(&mut bytes);
    let max = [7u8; 920];
    assert!(segment.fits(920));
    segment.append(&max, 0).unwrap();
    assert_eq!(segment.end(), 1000);
    assert!(matches!(
        segment.append(b"", 0),
        Err(Error::SegmentFull {
            offset: 1000,
            frame_len: 16,
            ..
        })
    ));
}

#[test]
fn oversized_record_is_refused_before_anything_is_written() {
    let mut bytes = [0u8; 1000];
    let mut segment = create(&mut bytes);
    let big = [1u8; 921];
    assert!(matches!(
        segment.append(&big, 0),
        Err(Error::RecordTooLarge {
            payload_len: 921,
            max_payload_len: 920,
            batch_index: 0,
            ..
        })
    ));
    assert_eq!(segment.end(), 64);
    assert!(bytes[64..].iter().all(|&b| b == 0));
}

#[test]
fn batch_writes_the_prefix_that_fits_and_reports_how_many() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    let payloads = [[5u8; 50]; 20];
    let batch = segment.append_batch(&payloads, 0).unwrap();
    // 448 bytes of room, 72-byte frames: 6 fit.
    assert_eq!(batch.written, 6);
    assert_eq!(batch.start_offset, 64);
    assert_eq!(batch.end_offset, 64 + 6 * 72);
    let offsets: [u64; 6] = {
        let mut it = batch.offsets(&payloads);
        core::array::from_fn(|_| it.next().unwrap())
    };
    assert_eq!(offsets, [64, 136, 208, 280, 352, 424]);
    assert_eq!(segment.record_count(), 6);
    // Nothing more fits: the next batch is SegmentFull and writes nothing.
    assert!(matches!(
        segment.append_batch(&payloads, 0),
        Err(Error::SegmentFull { offset: 496, .. })
    ));
    assert_eq!(segment.end(), 496);
}

#[test]
fn batch_with_an_oversized_record_writes_nothing_and_names_it() {
    let mut bytes = [0u8; 2048];
    let mut segment = create(&mut bytes);
    let small = [1u8; 10];
    let big = [2u8; 5000];
    let batch: [&[u8]; 3] = [&small, &small, &big];
    assert!(matches!(
        segment.append_batch(&batch, 0),
        Err(Error::RecordTooLarge {
            batch_index: 2,
            payload_len: 5000,
            ..
        })
    ));
    assert_eq!(segment.end(), 64);
    assert_eq!(segment.record_count(), 0);
}

#[test]
fn empty_batch_writes_nothing() {
    let mut bytes = [0u8; 256];
    let mut segment = create(&mut bytes);
    let none: [&[u8]; 0] = [];
    let batch = segment.append_batch(&none, 0).unwrap();
    assert_eq!(batch.written, 0);
    assert_eq!(segment.end(), 64);
}

#[test]
fn log_indexes_must_be_contiguous_and_nothing_is_written_otherwise() {
    let mut bytes = [0u8; 1024];
    let mut segment = create(&mut bytes);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Any);
    segment.append(b"a", 101).unwrap();
    assert_eq!(segment.first_log_index(), 101);
    segment.append(b"b", 102).unwrap();
    let end = segment.end();
    for wrong in [0, 101, 104, 1] {
        assert!(matches!(
            segment.append(b"c", wrong),
            Err(Error::LogIndexMismatch { expected: 103, found, .. }) if found == wrong
        ));
    }
    assert_eq!(segment.end(), end);
    let batch = segment.append_batch(&[b"c", b"d"], 103).unwrap();
    assert_eq!(batch.written, 2);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(105));
    segment.sync(T).unwrap();
    let (segment, _) = open(&mut bytes);
    assert_eq!(segment.first_log_index(), 101);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(105));
}

#[test]
fn log_index_run_ending_at_u64_max_refuses_further_records() {
    let mut bytes = [0u8; 512];
    let mut segment = Segment::create(
        RamRegion::new(&mut bytes),
        ID,
        SegmentInit {
            first_log_index: u64::MAX - 1,
            ..init()
        },
    )
    .unwrap();
    assert!(matches!(
        segment.append_batch(&[b"a", b"b", b"c"], u64::MAX - 1),
        Err(Error::LogIndexOverflow { .. })
    ));
    assert_eq!(segment.end(), 64);
    segment.append_batch(&[b"a", b"b"], u64::MAX - 1).unwrap();
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exhausted);
    assert_eq!(segment.expected_log_index().accepted(), None);
    for index in [0, 1, u64::MAX] {
        assert!(matches!(
            segment.append(b"c", index),
            Err(Error::LogIndexOverflow { .. })
        ));
    }
}

#[test]
fn segment_without_log_indexes_refuses_one_later() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"a", 0).unwrap();
    assert!(matches!(
        segment.append(b"b", 7),
        Err(Error::LogIndexMismatch {
            expected: 0,
            found: 7,
            ..
        })
    ));
}

#[test]
fn failed_batch_does_not_set_the_first_log_index() {
    // SPEC §13.6: the original sets first_log_index before any check, even when nothing is
    // written. Here a refused batch leaves it unset.
    let mut bytes = [0u8; 128];
    let mut segment = create(&mut bytes);
    let big = [0u8; 60];
    assert!(matches!(
        segment.append_batch(&[big], 42),
        Err(Error::RecordTooLarge { .. })
    ));
    assert_eq!(segment.first_log_index(), 0);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Any);
}

#[test]
fn sealed_segment_refuses_appends_and_reopens_sealed_with_its_end() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"one", 1).unwrap();
    segment.append(b"two", 2).unwrap();
    segment.seal(T + 5).unwrap();
    segment.seal(T + 6).unwrap();
    assert!(matches!(segment.append(b"x", 3), Err(Error::Sealed { .. })));
    let end = segment.end();
    let (mut segment, report) = open(&mut bytes);
    assert!(
        report.scan.is_none(),
        "a sealed segment is trusted, not scanned"
    );
    assert!(segment.is_sealed());
    assert_eq!(segment.end(), end);
    assert_eq!(segment.record_count(), 2);
    assert_eq!(segment.header().last_modified_at, T + 5);
    assert!(segment.header().flags.is_sealed() && !segment.header().flags.is_active());
    let mut found = [(0, 0); 4];
    assert_eq!(
        read_all(&mut segment, &mut found),
        (2, CursorStep::EndOfSegment)
    );
}

#[test]
fn verify_sealed_finds_a_damaged_record_that_trust_would_miss() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"one", 0).unwrap();
    let second = segment.append(b"two", 0).unwrap();
    segment.seal(T).unwrap();
    bytes[usize::try_from(second).unwrap() + 8] ^= 0x01;
    let (mut trusted, _) = open(&mut bytes);
    assert!(matches!(
        trusted.read(second),
        Err(Error::Corrupt { offset, reason: CorruptionReason::BadCrc { .. }, .. }) if offset == second
    ));
    let verify = OpenOptions {
        verify_sealed: true,
        ..OpenOptions::default()
    };
    assert!(matches!(
        Segment::open(RamRegion::new(&mut bytes), ID, verify),
        Err(Error::Corrupt { offset, .. }) if offset == second
    ));
}

#[test]
fn verify_sealed_refuses_a_header_count_that_disagrees_with_the_records() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"one", 0).unwrap();
    segment.append(b"two", 0).unwrap();
    segment.seal(T).unwrap();
    let mut header = *segment.header();
    drop(segment);
    header.entry_count = 3;
    bytes[..64].copy_from_slice(&header.encode());
    let verify = OpenOptions {
        verify_sealed: true,
        ..OpenOptions::default()
    };
    assert!(matches!(
        Segment::open(RamRegion::new(&mut bytes), ID, verify),
        Err(Error::Corrupt {
            offset: 0,
            reason: CorruptionReason::SealedCountMismatch {
                header_count: 3,
                scanned_count: 2
            },
            ..
        })
    ));
}

#[test]
fn torn_tail_above_watermark_is_cut_and_stale_bytes_are_erased() {
    let mut bytes = [0u8; 1024];
    let mut segment = create(&mut bytes);
    for i in 0..3 {
        segment.append(&payload(i), 0).unwrap();
    }
    segment.sync(T).unwrap();
    let watermark = segment.durable_end();
    let torn = segment.append(&payload(3), 0).unwrap();
    let after = segment.append(&payload(4), 0).unwrap();
    assert_eq!(torn, watermark);
    // The fourth record's trailer never reached the medium; the fifth did.
    let trailer_at = usize::try_from(torn).unwrap() + 8 + 40;
    bytes[trailer_at..trailer_at + 8].fill(0);
    let (mut segment, report) = open(&mut bytes);
    let scan = report.scan.unwrap();
    let ScanStop::TornTail(damage) = &scan.stop else {
        panic!("expected a torn tail, got {:?}", scan.stop);
    };
    assert_eq!(damage.offset, torn);
    assert_eq!(damage.reason, CorruptionReason::BadTrailer);
    assert_eq!(damage.frames_after.count, 1);
    assert_eq!(damage.frames_after.offsets.as_slice(), &[after]);
    assert_eq!(segment.record_count(), 3);
    assert_eq!(report.erased_stale.start, torn);
    // SPEC §13.17: a new record of the same size must not make the stale fifth record reachable.
    segment.append(&payload(9), 0).unwrap();
    segment.sync(T).unwrap();
    drop(segment);
    let (segment, report) = open(&mut bytes);
    assert_eq!(report.scan.unwrap().stop, ScanStop::CleanEnd);
    assert_eq!(segment.record_count(), 4);
}

#[test]
fn damage_below_watermark_is_corruption_and_refused_by_default() {
    let mut bytes = [0u8; 1024];
    let mut segment = create(&mut bytes);
    let mut offsets = [0u64; 4];
    for (i, offset) in offsets.iter_mut().enumerate() {
        *offset = segment.append(&payload(i), 0).unwrap();
    }
    segment.sync(T).unwrap();
    segment.sync(T).unwrap(); // persists the header that carries the watermark
    let damaged = usize::try_from(offsets[1]).unwrap() + 20;
    bytes[damaged] ^= 0x40;
    let error = Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()).unwrap_err();
    assert!(matches!(
        error,
        Error::Corrupt { segment: ID, offset, reason: CorruptionReason::BadCrc { .. } } if offset == offsets[1]
    ));
    let repair = OpenOptions {
        repair: RepairPolicy::TruncateAtDamage,
        ..OpenOptions::default()
    };
    let (segment, report) = Segment::open(RamRegion::new(&mut bytes), ID, repair).unwrap();
    assert!(
        matches!(report.scan.unwrap().stop, ScanStop::Corruption(ref d) if d.offset == offsets[1] && d.frames_after.count == 2)
    );
    assert_eq!(segment.record_count(), 1);
    assert_eq!(segment.header().write_offset, offsets[1]);
    drop(segment);
    // After the repair the cut is final: a plain open now sees a clean end.
    let (segment, report) = open(&mut bytes);
    assert_eq!(report.scan.unwrap().stop, ScanStop::CleanEnd);
    assert_eq!(segment.record_count(), 1);
}

#[test]
fn erased_records_below_watermark_are_reported_as_corruption() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(&payload(0), 0).unwrap();
    let lost = segment.append(&payload(1), 0).unwrap();
    segment.sync(T).unwrap();
    segment.sync(T).unwrap();
    bytes[usize::try_from(lost).unwrap()..].fill(0);
    assert!(matches!(
        Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()),
        Err(Error::Corrupt { offset, reason: CorruptionReason::Erased, .. }) if offset == lost
    ));
}

#[test]
fn segment_without_watermark_treats_every_bad_frame_as_torn() {
    // A Go-written segment: flags ACTIVE only, write_offset ahead of the data.
    let mut bytes = [0u8; 512];
    let header = SegmentHeader {
        write_offset: 200,
        entry_count: 9,
        ..SegmentHeader::new(T, 0)
    };
    bytes[..64].copy_from_slice(&header.encode());
    let mut frame = [0u8; 24];
    encode_frame(b"hello", &mut frame).unwrap();
    bytes[64..88].copy_from_slice(&frame);
    bytes[88..112].copy_from_slice(&frame);
    bytes[88] ^= 1;
    let (segment, report) = open(&mut bytes);
    assert!(matches!(report.scan.unwrap().stop, ScanStop::TornTail(ref d) if d.offset == 88));
    assert_eq!(segment.record_count(), 1);
    assert_eq!(
        segment.durable_end(),
        64,
        "nothing is known durable without a watermark"
    );
}

#[test]
fn record_with_zero_crc_is_valid_when_it_matches() {
    // SPEC §13.25: craft a payload whose record CRC is 0.
    let mut record = [0x33u8; 12];
    let length = 12u32.to_le_bytes();
    let mut prefix = [0u8; 12];
    prefix[..4].copy_from_slice(&length);
    prefix[4..].copy_from_slice(&record[..8]);
    let register = !crate::crc::crc32c(&prefix);
    let forced = unshift32(0xFFFF_FFFF) ^ register;
    record[8..].copy_from_slice(&forced.to_le_bytes());
    assert_eq!(crate::format::record_crc(&record), 0);
    let mut bytes = [0u8; 256];
    let mut segment = create(&mut bytes);
    segment.append(&record, 0).unwrap();
    segment.append(b"after", 0).unwrap();
    segment.sync(T).unwrap();
    assert_eq!(&bytes[64..68], &[0, 0, 0, 0]);
    let (segment, report) = open(&mut bytes);
    assert_eq!(report.scan.unwrap().stop, ScanStop::CleanEnd);
    assert_eq!(segment.record_count(), 2);
}

/// Inverse of 32 steps of the reflected CRC-32C register shift.
fn unshift32(mut register: u32) -> u32 {
    const POLY: u32 = 0x82F6_3B78;
    for _ in 0..32 {
        register = if register & 0x8000_0000 != 0 {
            ((register ^ POLY) << 1) | 1
        } else {
            register << 1
        };
    }
    register
}

#[test]
fn crc_zero_with_mismatch_is_reported_as_zero_crc() {
    let mut bytes = [0u8; 256];
    let mut segment = create(&mut bytes);
    segment.append(b"hello", 0).unwrap();
    bytes[64..68].fill(0);
    let (_, report) = open(&mut bytes);
    let scan = report.scan.unwrap();
    assert!(matches!(
        scan.stop,
        ScanStop::TornTail(ref d) if d.offset == 64 && matches!(d.reason, CorruptionReason::ZeroCrc { computed: 0x4E17_B1A1 })
    ));
}

#[test]
fn truncated_records_never_come_back() {
    // SPEC §13.2: truncate, then write past any zeroed window, then reopen.
    let mut bytes = [0u8; 4096];
    let mut segment = create(&mut bytes);
    for i in 0..40u64 {
        segment.append(&payload(i as usize), i + 1).unwrap();
    }
    segment.sync(T).unwrap();
    segment.truncate_to(5, T + 1).unwrap();
    assert_eq!(segment.record_count(), 5);
    assert_eq!(segment.end(), 64 + 5 * 56);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(6));
    for i in 5..20u64 {
        segment.append(&payload(100 + i as usize), i + 1).unwrap();
    }
    segment.sync(T + 2).unwrap();
    let end = segment.end();
    drop(segment);
    assert!(
        bytes[usize::try_from(end).unwrap()..]
            .iter()
            .all(|&b| b == 0)
    );
    let (segment, report) = open(&mut bytes);
    assert_eq!(report.scan.unwrap().stop, ScanStop::CleanEnd);
    assert_eq!(segment.record_count(), 20);
    assert_eq!(segment.end(), end);
}

#[test]
fn truncating_a_sealed_segment_unseals_it() {
    let mut bytes = [0u8; 1024];
    let mut segment = create(&mut bytes);
    for i in 1..=4 {
        segment.append(&payload(0), i).unwrap();
    }
    segment.seal(T).unwrap();
    segment.truncate_to(2, T).unwrap();
    assert!(!segment.is_sealed());
    segment.append(b"three", 3).unwrap();
    segment.sync(T).unwrap();
    let (segment, _) = open(&mut bytes);
    assert!(!segment.is_sealed());
    assert_eq!(segment.record_count(), 3);
    assert_eq!(segment.first_log_index(), 1);
}

#[test]
fn truncate_beyond_the_records_is_refused() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"a", 0).unwrap();
    assert!(matches!(
        segment.truncate_to(2, T),
        Err(Error::TruncateBeyondEnd {
            keep: 2,
            record_count: 1,
            ..
        })
    ));
    segment.truncate_to(0, T).unwrap();
    assert_eq!(segment.end(), 64);
    assert!(bytes[64..].iter().all(|&b| b == 0));
}

#[test]
fn read_rejects_positions_that_cannot_hold_a_record() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"hello", 0).unwrap();
    assert!(matches!(
        segment.read(0),
        Err(Error::OffsetBeforeHeader { offset: 0, .. })
    ));
    assert!(matches!(
        segment.read(513),
        Err(Error::OffsetOutOfBounds {
            offset: 513,
            capacity: 512,
            ..
        })
    ));
    assert!(matches!(
        segment.read(68),
        Err(Error::NotARecordStart { offset: 68, .. })
    ));
    assert!(matches!(
        segment.read(88),
        Err(Error::NoRecord {
            offset: 88,
            end: 88,
            ..
        })
    ));
    assert!(matches!(segment.read(512), Err(Error::NoRecord { .. })));
}

#[test]
fn read_reports_a_bad_length_or_trailer_as_corruption() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(b"hello", 0).unwrap();
    let bytes = segment.region_mut().as_mut_slice();
    bytes[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        segment.read(64),
        Err(Error::Corrupt {
            offset: 64,
            reason: CorruptionReason::LengthOutOfRange { length: u32::MAX },
            ..
        })
    ));
    let bytes = segment.region_mut().as_mut_slice();
    bytes[68..72].copy_from_slice(&5u32.to_le_bytes());
    bytes[77] = 0;
    assert!(matches!(
        segment.read(64),
        Err(Error::Corrupt {
            offset: 64,
            reason: CorruptionReason::BadTrailer,
            ..
        })
    ));
}

#[test]
fn read_payload_copies_into_a_buffer_or_reports_its_size() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"hello", 0).unwrap();
    let frame = segment.read(offset).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(segment.read_payload(&frame, &mut buf).unwrap(), b"hello");
    let mut small = [0u8; 4];
    assert!(matches!(
        segment.read_payload(&frame, &mut small),
        Err(Error::BufferTooSmall { needed: 5, .. })
    ));
}

#[test]
fn cursor_reports_no_new_data_then_end_of_sealed_segment_and_repeats_errors() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    let mut cursor = SegmentCursor::new(ID);
    assert_eq!(cursor.next_in(&mut segment).unwrap(), CursorStep::NoNewData);
    assert_eq!(cursor.last_record_position(), None);
    let first = segment.append(b"one", 0).unwrap();
    assert!(
        matches!(cursor.next_in(&mut segment).unwrap(), CursorStep::Record(f) if f.offset == first)
    );
    assert_eq!(
        cursor.last_record_position(),
        Some(Position::new(ID, first))
    );
    assert_eq!(cursor.next_in(&mut segment).unwrap(), CursorStep::NoNewData);
    let second = segment.append(b"two", 0).unwrap();
    segment.region_mut().as_mut_slice()[usize::try_from(second).unwrap() + 9] ^= 0xFF;
    for _ in 0..2 {
        assert!(matches!(
            cursor.next_in(&mut segment),
            Err(Error::Corrupt { offset, .. }) if offset == second
        ));
        assert_eq!(cursor.offset(), second);
    }
    segment.region_mut().as_mut_slice()[usize::try_from(second).unwrap() + 9] ^= 0xFF;
    assert!(matches!(
        cursor.next_in(&mut segment).unwrap(),
        CursorStep::Record(_)
    ));
    segment.seal(T).unwrap();
    assert_eq!(
        cursor.next_in(&mut segment).unwrap(),
        CursorStep::EndOfSegment
    );
    let start = SegmentCursor::at(ID, 10);
    assert_eq!(start.offset(), 64);
}

#[test]
fn erased_header_and_bad_capacity_are_typed_errors() {
    let mut bytes = [0u8; 256];
    assert!(matches!(
        Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()),
        Err(Error::Corrupt {
            offset: 0,
            reason: CorruptionReason::ErasedHeader,
            ..
        })
    ));
    let mut tiny = [0u8; 79];
    assert!(matches!(
        Segment::create(RamRegion::new(&mut tiny), ID, init()),
        Err(Error::BadCapacity { capacity: 79, .. })
    ));
    assert!(matches!(
        Segment::open(RamRegion::new(&mut tiny), ID, OpenOptions::default()),
        Err(Error::BadCapacity { capacity: 79, .. })
    ));
}

#[test]
fn marker_validator_can_refuse_the_open() {
    let mut bytes = [0u8; 256];
    Segment::create(
        RamRegion::new(&mut bytes),
        ID,
        SegmentInit {
            marker: 1,
            ..init()
        },
    )
    .unwrap();
    let expecting_two = OpenOptions {
        marker_validator: Some(|marker| marker == 2),
        ..OpenOptions::default()
    };
    assert!(matches!(
        Segment::open(RamRegion::new(&mut bytes), ID, expecting_two),
        Err(Error::MarkerRejected { marker: 1, .. })
    ));
    let expecting_one = OpenOptions {
        marker_validator: Some(|marker| marker == 1),
        ..OpenOptions::default()
    };
    assert!(Segment::open(RamRegion::new(&mut bytes), ID, expecting_one).is_ok());
}

#[test]
fn read_only_open_changes_no_byte() {
    let mut bytes = [0u8; 1024];
    let mut segment = create(&mut bytes);
    segment.append(&payload(0), 0).unwrap();
    segment.append(&payload(1), 0).unwrap();
    segment.sync(T).unwrap();
    bytes[64 + 56 + 20] ^= 1; // damage the second record, below the watermark
    let before = bytes;
    let options = OpenOptions {
        read_only: true,
        repair: RepairPolicy::TruncateAtDamage,
        ..OpenOptions::default()
    };
    let (mut segment, report) = Segment::open(RamRegion::new(&mut bytes), ID, options).unwrap();
    assert!(report.scan.unwrap().damage().is_some());
    assert!(matches!(segment.sync(T), Err(Error::ReadOnly { .. })));
    assert!(matches!(segment.seal(T), Err(Error::ReadOnly { .. })));
    assert!(matches!(
        segment.truncate_to(0, T),
        Err(Error::ReadOnly { .. })
    ));
    drop(segment);
    assert_eq!(bytes, before);
}

/// A RAM region whose persist or sync can be made to fail.
struct FailingRegion<'a> {
    inner: RamRegion<'a>,
    fail_next_persist: bool,
}

#[derive(Debug, PartialEq)]
struct Injected;

impl core::fmt::Display for Injected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("injected I/O failure")
    }
}

impl RegionError for Injected {
    fn kind(&self) -> RegionErrorKind {
        RegionErrorKind::Io
    }
}

impl From<RamRegionError> for Injected {
    fn from(_: RamRegionError) -> Self {
        Injected
    }
}

impl RegionRead for FailingRegion<'_> {
    type Error = Injected;
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> core::result::Result<(), Injected> {
        Ok(self.inner.read_at(offset, buf)?)
    }
    fn bytes(&self, range: Range<u64>) -> Option<&[u8]> {
        self.inner.bytes(range)
    }
}

impl Region for FailingRegion<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> core::result::Result<(), Injected> {
        Ok(self.inner.write_at(offset, data)?)
    }
    fn persist(&mut self, _range: Range<u64>) -> core::result::Result<(), Injected> {
        if core::mem::take(&mut self.fail_next_persist) {
            return Err(Injected);
        }
        Ok(())
    }
    fn sync(&mut self) -> core::result::Result<(), Injected> {
        Ok(())
    }
}

/// A segment over a [`FailingRegion`] of `bytes`, holding one record ("one").
fn failing_segment_with_one_record(bytes: &mut [u8]) -> Segment<FailingRegion<'_>> {
    let region = FailingRegion {
        inner: RamRegion::new(bytes),
        fail_next_persist: false,
    };
    let mut segment = Segment::create(region, ID, init()).unwrap();
    segment.append(b"one", 0).unwrap();
    segment
}

#[test]
fn failed_persist_poisons_every_later_change() {
    let mut bytes = [0u8; 512];
    let mut segment = failing_segment_with_one_record(&mut bytes);
    segment.region_mut().fail_next_persist = true;
    assert!(matches!(
        segment.sync(T),
        Err(Error::Region {
            source: Injected,
            offset: 64,
            ..
        })
    ));
    // The next sync would succeed at the region, but must not claim durability.
    let poisoned = |r: &Result<_, Injected>| {
        matches!(
            r,
            Err(Error::Poisoned {
                first_failure: RegionErrorKind::Io,
                ..
            })
        )
    };
    assert!(poisoned(&segment.sync(T)));
    assert!(poisoned(&segment.append(b"two", 0).map(|_| ())));
    assert!(poisoned(&segment.seal(T)));
    assert!(poisoned(&segment.truncate_to(0, T)));
    assert_eq!(segment.durable_end(), 64);
    // Reads still work.
    assert!(segment.read(64).is_ok());
}

#[test]
fn nor_region_segment_appends_reopens_and_never_overwrites() {
    let mut flash = [0u8; 1024];
    let mut segment = Segment::create(
        NorRegion::erased(&mut flash),
        ID,
        SegmentInit {
            first_log_index: 10,
            ..init()
        },
    )
    .unwrap();
    assert!(!segment.header().flags.has_watermark());
    segment.append(b"alpha", 10).unwrap();
    segment.append_batch(&[b"beta", b"gamm"], 11).unwrap();
    segment.sync(T).unwrap();
    segment.seal(T).unwrap();
    assert!(matches!(
        segment.truncate_to(1, T),
        Err(Error::NeedsOverwrite { .. })
    ));
    let (mut segment, report) =
        Segment::open(NorRegion::existing(&mut flash), ID, OpenOptions::default()).unwrap();
    assert_eq!(report.scan.unwrap().stop, ScanStop::CleanEnd);
    assert_eq!(segment.record_count(), 3);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(13));
    let mut buf = [0u8; 8];
    let frame = segment.read(64).unwrap();
    assert_eq!(
        segment.payload(&frame),
        None,
        "NOR offers no zero-copy view"
    );
    assert_eq!(segment.read_payload(&frame, &mut buf).unwrap(), b"alpha");
    segment.append(b"delta", 13).unwrap();
}

#[test]
fn nor_power_cut_mid_append_recovers_the_prefix_and_stops_appending_there() {
    let mut flash = [0u8; 1024];
    let mut segment = Segment::create(NorRegion::erased(&mut flash), ID, init()).unwrap();
    segment.append(b"kept", 0).unwrap();
    segment.region_mut().cut_power_after(10);
    assert!(matches!(
        segment.append(b"torn record", 0),
        Err(Error::Region {
            source: NorRegionError::PowerCut { .. },
            ..
        })
    ));
    drop(segment);
    let (mut segment, report) =
        Segment::open(NorRegion::existing(&mut flash), ID, OpenOptions::default()).unwrap();
    let scan = report.scan.unwrap();
    assert!(matches!(scan.stop, ScanStop::TornTail(ref d) if d.offset == 88));
    assert_eq!(segment.record_count(), 1);
    assert!(matches!(
        segment.append(b"next", 0),
        Err(Error::SegmentFull { .. })
    ));
    assert!(!segment.fits(0));
}

#[test]
fn nor_region_refuses_setting_bits() {
    let mut flash = [0u8; 128];
    let mut region = NorRegion::erased(&mut flash);
    region.write_at(0, &[0x0F]).unwrap();
    assert_eq!(
        region.write_at(0, &[0xF0]),
        Err(NorRegionError::NotErased { offset: 0 })
    );
    region.write_at(0, &[0x00]).unwrap();
    assert_eq!(region.writes(), 3);
}

#[test]
fn trailer_constant_is_what_frames_carry() {
    let mut bytes = [0u8; 256];
    let mut segment = create(&mut bytes);
    segment.append(b"abc", 0).unwrap();
    assert_eq!(&bytes[64 + 8 + 3..64 + 16 + 3], &TRAILER);
}

/// Six records, synced twice so the header's watermark covers them all; their offsets.
fn six_records_under_the_watermark(bytes: &mut [u8]) -> [u64; 6] {
    let mut segment = create(bytes);
    let mut offsets = [0u64; 6];
    for (i, offset) in offsets.iter_mut().enumerate() {
        *offset = segment.append(&payload(i), 0).unwrap();
    }
    segment.sync(T).unwrap();
    segment.sync(T).unwrap();
    offsets
}

#[test]
fn file_cut_below_its_watermark_is_corruption_at_the_cut_and_repairable() {
    let mut bytes = [0u8; 1024];
    let offsets = six_records_under_the_watermark(&mut bytes);
    // The file now ends inside the fourth record: the watermark lies beyond its end.
    let cut = usize::try_from(offsets[3]).unwrap() + 20;
    let short = &mut bytes[..cut];
    assert!(matches!(
        Segment::open(RamRegion::new(short), ID, OpenOptions::default()),
        Err(Error::Corrupt { offset, .. }) if offset == offsets[3]
    ));
    let repair = OpenOptions {
        repair: RepairPolicy::TruncateAtDamage,
        ..OpenOptions::default()
    };
    let (segment, report) = Segment::open(RamRegion::new(short), ID, repair).unwrap();
    assert!(
        matches!(report.scan.unwrap().stop, ScanStop::Corruption(ref d) if d.offset == offsets[3])
    );
    assert_eq!(segment.record_count(), 3);
    assert_eq!(segment.header().write_offset, offsets[3]);
}

#[test]
fn file_cut_exactly_at_a_record_boundary_below_its_watermark_is_not_a_clean_end() {
    let mut bytes = [0u8; 1024];
    let offsets = six_records_under_the_watermark(&mut bytes);
    let short = &mut bytes[..usize::try_from(offsets[4]).unwrap()];
    assert!(matches!(
        Segment::open(RamRegion::new(short), ID, OpenOptions::default()),
        Err(Error::Corrupt { offset, reason: CorruptionReason::Erased, .. }) if offset == offsets[4]
    ));
}

#[test]
fn a_completed_sync_plan_acknowledges_its_end_only_and_writes_it_as_the_watermark() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(&payload(0), 0).unwrap();
    segment.append(&payload(1), 0).unwrap();
    let plan = segment.sync_plan().unwrap();
    assert!(plan.needs_flush());
    assert_eq!(plan.end(), segment.end());
    // Appended after the plan: not covered by the flush, not acknowledged by it.
    segment.append(&payload(2), 0).unwrap();
    assert_eq!(
        segment.complete_sync(plan, Ok(()), T + 1).unwrap(),
        SyncCompletion::Planned
    );
    assert_eq!(segment.durable_end(), plan.end());
    assert!(segment.end() > plan.end());
    let header = *segment.header();
    assert_eq!(header.write_offset, plan.end());
    assert_eq!(header.entry_count, 2, "the records below the plan's end");
    assert!(header.flags.has_watermark());
    assert_eq!(header.last_modified_at, T + 1);
    // The third record and the watermark header are left for the next flush.
    let next = segment.sync_plan().unwrap();
    assert!(next.needs_flush());
    segment.complete_sync(next, Ok(()), T + 2).unwrap();
    assert_eq!(segment.durable_end(), segment.end());
    drop(segment);
    let written = SegmentHeader::decode(bytes[..64].try_into().unwrap()).unwrap();
    assert_eq!(written.write_offset, next.end());
    assert_eq!(written.entry_count, 3);
}

#[test]
fn a_completed_plan_clears_the_dirty_header_it_flushed_and_then_needs_no_flush() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(&payload(0), 0).unwrap();
    segment.sync(T).unwrap();
    // Nothing appended, but the watermark header written by that sync is not durable yet.
    let plan = segment.sync_plan().unwrap();
    assert!(plan.needs_flush(), "the watermark header is dirty");
    segment.complete_sync(plan, Ok(()), T).unwrap();
    let idle = segment.sync_plan().unwrap();
    assert!(!idle.needs_flush(), "the flush covered the header");
    assert_eq!(
        segment.complete_sync(idle, Ok(()), T).unwrap(),
        SyncCompletion::Planned
    );
    // A header written after a plan (the first log index of a new run) stays dirty.
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    let plan = segment.sync_plan().unwrap();
    segment.append(&payload(0), 7).unwrap();
    segment.complete_sync(plan, Ok(()), T).unwrap();
    assert!(segment.sync_plan().unwrap().needs_flush());
}

#[test]
fn a_sync_plan_overtaken_by_a_truncation_or_a_seal_falls_back_to_a_full_sync() {
    let mut bytes = [0u8; 1024];
    let mut segment = create(&mut bytes);
    for i in 0..3 {
        segment.append(&payload(i), 0).unwrap();
    }
    let plan = segment.sync_plan().unwrap();
    // Truncated and written again past the plan's end while the caller flushed: the flush
    // did not cover the new bytes below that end.
    segment.truncate_to(1, T).unwrap();
    for i in 3..6 {
        segment.append(&payload(i), 0).unwrap();
    }
    assert!(segment.end() > plan.end());
    assert_eq!(
        segment.complete_sync(plan, Ok(()), T).unwrap(),
        SyncCompletion::FellBack
    );
    assert_eq!(
        segment.durable_end(),
        segment.end(),
        "the full sync covered all"
    );
    assert_eq!(segment.header().write_offset, segment.end());

    let plan = segment.sync_plan().unwrap();
    segment.seal(T).unwrap();
    let sealed_header = *segment.header();
    assert_eq!(
        segment.complete_sync(plan, Ok(()), T).unwrap(),
        SyncCompletion::FellBack
    );
    assert_eq!(
        *segment.header(),
        sealed_header,
        "a sealed header is not touched"
    );
}

#[test]
fn a_plan_completed_after_a_full_sync_never_lowers_the_durable_end() {
    let mut bytes = [0u8; 512];
    let mut segment = create(&mut bytes);
    segment.append(&payload(0), 0).unwrap();
    let plan = segment.sync_plan().unwrap();
    segment.append(&payload(1), 0).unwrap();
    segment.sync(T).unwrap();
    let synced = *segment.header();
    assert_eq!(
        segment.complete_sync(plan, Ok(()), T + 1).unwrap(),
        SyncCompletion::Planned
    );
    assert_eq!(segment.durable_end(), segment.end());
    assert_eq!(*segment.header(), synced);
}

#[test]
fn a_failed_flush_of_a_sync_plan_poisons_the_segment() {
    let mut bytes = [0u8; 512];
    let mut segment = failing_segment_with_one_record(&mut bytes);
    let plan = segment.sync_plan().unwrap();
    assert!(matches!(
        segment.complete_sync(plan, Err(Injected), T),
        Err(Error::Region {
            source: Injected,
            offset: 64,
            ..
        })
    ));
    assert_eq!(segment.durable_end(), 64);
    assert!(segment.is_poisoned());
    assert!(matches!(
        segment.sync(T),
        Err(Error::Poisoned {
            first_failure: RegionErrorKind::Io,
            ..
        })
    ));
    assert!(segment.sync_plan().is_err());
    assert!(segment.append(b"two", 0).is_err());
}

/// A RAM region that does not lend its bytes: frames go through `write_frame_parts`.
struct PartsOnly<'a>(RamRegion<'a>);

impl RegionRead for PartsOnly<'_> {
    type Error = RamRegionError;
    fn capacity(&self) -> u64 {
        self.0.capacity()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> core::result::Result<(), RamRegionError> {
        self.0.read_at(offset, buf)
    }
}

impl Region for PartsOnly<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> core::result::Result<(), RamRegionError> {
        self.0.write_at(offset, data)
    }
    fn persist(&mut self, range: Range<u64>) -> core::result::Result<(), RamRegionError> {
        self.0.persist(range)
    }
    fn sync(&mut self) -> core::result::Result<(), RamRegionError> {
        self.0.sync()
    }
}

/// A region that lends its bytes (frames encoded in place, the payload copied and checksummed
/// in one pass) ends up byte for byte like one written in parts, for payloads on both sides of
/// the CRC's fold block and of 8-byte alignment; both read back.
#[test]
fn frames_written_in_place_equal_frames_written_in_parts() {
    let mut in_place = [0u8; 16 * 1024];
    let mut in_parts = [0u8; 16 * 1024];
    let source: [u8; 1500] = core::array::from_fn(|i| (i * 13 + 5) as u8);
    let lengths = [0usize, 1, 7, 8, 255, 256, 257, 300, 1024, 1025, 1500];
    {
        let mut lent = create(&mut in_place);
        let mut parts =
            Segment::create(PartsOnly(RamRegion::new(&mut in_parts)), ID, init()).unwrap();
        for (i, &len) in lengths.iter().enumerate() {
            let payload = &source[i..i + len.min(source.len() - i)];
            assert_eq!(
                lent.append(payload, 0).unwrap(),
                parts.append(payload, 0).unwrap()
            );
        }
    }
    assert_eq!(in_place, in_parts);
    let (mut segment, report) = open(&mut in_place);
    assert!(report.erased_stale.is_empty());
    assert_eq!(segment.record_count(), lengths.len() as u64);
    let mut found = [(0, 0); 16];
    let (count, _) = read_all(&mut segment, &mut found);
    assert_eq!(count, lengths.len());
}
