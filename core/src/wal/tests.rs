//! Behaviour of the WAL engine over the in-memory storage.
#![allow(clippy::cast_possible_truncation, reason = "small test indexes")]

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::error::CorruptionReason;
use crate::format::SegmentHeader;
use crate::region::RegionErrorKind;
use crate::segment::{OpenOptions, SyncCompletion};
use crate::testing::{MemError, MemStorage};

type Engine = WalEngine<MemStorage>;

fn options(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        clock: || 1_700_000_000_000_000_000,
        ..WalOptions::default()
    }
}

fn open(storage: MemStorage, segment_size: u64) -> (Engine, RecoveryReport) {
    WalEngine::open(storage, options(segment_size)).unwrap()
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 7 + j) as u8).collect()
}

/// Reads the whole log with a cursor: (position, payload) pairs.
fn read_all(engine: &mut Engine) -> Vec<(Position, Vec<u8>)> {
    let first = engine.segment_ids().next().unwrap();
    let mut cursor = WalCursor::new(first);
    let mut out = Vec::new();
    loop {
        match cursor.next(engine).unwrap() {
            WalStep::Record(position, frame) => {
                let mut buf = vec![0u8; frame.payload_len as usize];
                let payload = engine
                    .read_payload(position.segment, &frame, &mut buf)
                    .unwrap();
                out.push((position, payload.to_vec()));
            }
            WalStep::NoNewData => return out,
        }
    }
}

#[test]
fn empty_directory_gets_a_durable_segment_one() {
    let (engine, report) = open(MemStorage::new(), 512);
    assert_eq!(report.created, Some(SegmentId(1)));
    assert_eq!(engine.active_id(), SegmentId(1));
    assert_eq!(engine.storage().dir_syncs(), 1);
    let (engine, report) = open(engine.into_storage(), 512);
    assert_eq!(report.created, None, "reopening creates nothing");
    assert_eq!(engine.storage().dir_syncs(), 1, "nor syncs the directory");
}

#[test]
fn records_rotate_across_segments_and_survive_reopen_in_order() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    let mut written = Vec::new();
    for i in 0..40 {
        let data = payload(i, (i as usize * 13) % 150);
        written.push((engine.append(&data, 0).unwrap(), data));
    }
    engine.sync().unwrap();
    assert!(engine.active_id() > SegmentId(3));
    let (mut engine, report) = open(engine.into_storage(), 512);
    assert!(
        report.rebuilt_indexes.is_empty(),
        "index files of sealed segments are used"
    );
    assert_eq!(read_all(&mut engine), written);
    for info in engine.segment_infos() {
        assert_eq!(info.sealed, !info.active);
    }
}

#[test]
fn a_record_too_large_for_a_segment_is_refused_before_writing() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    assert!(matches!(
        engine.append(&[0u8; 433], 0),
        Err(Error::RecordTooLarge {
            max_payload_len: 432,
            ..
        })
    ));
    assert_eq!(engine.segment_infos().next().unwrap().record_count, 0);
    engine.append(&[0u8; 432], 0).unwrap();
}

#[test]
fn batch_spans_rotations_and_returns_every_position() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    let payloads: Vec<Vec<u8>> = (0..30).map(|i| payload(i, 60)).collect();
    let mut positions = Vec::new();
    engine.append_batch(&payloads, 1, &mut positions).unwrap();
    assert_eq!(positions.len(), 30);
    assert!(positions.last().unwrap().segment > SegmentId(1));
    for (i, position) in positions.iter().enumerate() {
        assert_eq!(engine.position_for_index(i as u64 + 1).unwrap(), *position);
        let frame = engine.read(*position).unwrap();
        assert_eq!(frame.payload_len, 60);
    }
    // Segments' first log indexes increase strictly (SPEC §14, TestWALog_WriteBatch_LogIndexesAcrossRotation).
    let firsts: Vec<u64> = engine
        .segment_infos()
        .filter_map(|i| i.first_log_index)
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(firsts[0], 1);
}

#[test]
fn non_contiguous_log_indexes_are_refused_and_nothing_is_written() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(b"ten", 10).unwrap();
    engine.append(b"eleven", 11).unwrap();
    for wrong in [0, 10, 13, 9] {
        assert!(matches!(
            engine.append(b"x", wrong),
            Err(Error::LogIndexMismatch { expected: 12, found, .. }) if found == wrong
        ));
    }
    let mut positions = Vec::new();
    assert!(
        engine
            .append_batch(&[b"a", b"b"], 13, &mut positions)
            .is_err()
    );
    assert!(positions.is_empty());
    assert_eq!(engine.log_index_bounds(), Some((10, 11)));
    assert_eq!(engine.segment_infos().next().unwrap().record_count, 2);
}

#[test]
fn indexes_start_in_a_new_segment_after_records_without_one() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(b"plain", 0).unwrap();
    let position = engine.append(b"first indexed", 5).unwrap();
    assert_eq!(position.segment, SegmentId(2));
    assert_eq!(engine.position_for_index(5).unwrap(), position);
    let (mut engine, _) = open(engine.into_storage(), 4096);
    assert_eq!(engine.position_for_index(5).unwrap(), position);
}

#[test]
fn position_for_index_reports_not_yet_available_and_truncated() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    assert!(matches!(
        engine.position_for_index(1),
        Err(Error::LogIndexNotYetAvailable {
            requested: 1,
            last: 0
        })
    ));
    for i in 10..=12 {
        engine.append(b"r", i).unwrap();
    }
    assert!(engine.position_for_index(10).is_ok());
    assert!(matches!(
        engine.position_for_index(9),
        Err(Error::LogIndexTruncated {
            requested: 9,
            first: 10
        })
    ));
    assert!(matches!(
        engine.position_for_index(20),
        Err(Error::LogIndexNotYetAvailable {
            requested: 20,
            last: 12
        })
    ));
}

#[test]
fn log_index_is_rebuilt_identically_after_reopen() {
    let (mut engine, _) = open(MemStorage::new(), 300);
    let positions: Vec<Position> = (1..=25)
        .map(|i| engine.append(&payload(i, 50), i).unwrap())
        .collect();
    engine.sync().unwrap();
    let (mut engine, _) = open(engine.into_storage(), 300);
    for (i, position) in positions.iter().enumerate() {
        assert_eq!(engine.position_for_index(i as u64 + 1).unwrap(), *position);
    }
    assert_eq!(engine.log_index_bounds(), Some((1, 25)));
}

#[test]
fn truncate_inside_the_active_segment_keeps_its_id_and_reuses_the_offset() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    let positions: Vec<Position> = (1..=10)
        .map(|i| engine.append(&payload(i, 20), i).unwrap())
        .collect();
    engine.truncate_after(3).unwrap();
    assert_eq!(engine.active_id(), SegmentId(1));
    assert_eq!(engine.log_index_bounds(), Some((1, 3)));
    assert!(engine.position_for_index(4).is_err());
    let fourth = engine.append(b"new four", 4).unwrap();
    assert_eq!(fourth, positions[3]);
}

#[test]
fn truncate_into_a_sealed_segment_removes_later_ones_and_unseals_it() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 1..=20 {
        engine.append(&payload(i, 40), i).unwrap();
    }
    let target = engine.position_for_index(5).unwrap().segment;
    assert!(engine.active_id() > target);
    engine.truncate_after(5).unwrap();
    assert_eq!(engine.active_id(), target);
    assert_eq!(engine.segment_ids().last(), Some(target));
    assert!(!engine.segment(target).unwrap().is_sealed());
    assert_eq!(engine.log_index_bounds(), Some((1, 5)));
    // The next rotation reaches the next id again and writes go on.
    for i in 6..=12 {
        engine.append(&payload(i, 40), i).unwrap();
    }
    assert!(engine.active_id() > target);
}

#[test]
fn truncated_records_never_come_back_after_new_writes_and_reopen() {
    // SPEC §13.2: Truncate(5) of 40 records, 15 new writes of the same size, reopen.
    let (mut engine, _) = open(MemStorage::new(), 1 << 16);
    for i in 1..=40 {
        engine.append(&payload(i, 100), i).unwrap();
    }
    engine.sync().unwrap();
    engine.truncate_after(5).unwrap();
    for i in 6..=20 {
        engine.append(&payload(1000 + i, 100), i).unwrap();
    }
    engine.sync().unwrap();
    let (mut engine, _) = open(engine.into_storage(), 1 << 16);
    assert_eq!(engine.log_index_bounds(), Some((1, 20)));
    let records = read_all(&mut engine);
    assert_eq!(records.len(), 20);
    assert_eq!(records[5].1, payload(1006, 100));
}

#[test]
fn truncate_to_zero_empties_the_log_without_restarting_ids() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 1..=12 {
        engine.append(&payload(i, 40), i).unwrap();
    }
    engine.truncate_after(0).unwrap();
    assert_eq!(engine.segment_ids().collect::<Vec<_>>(), vec![SegmentId(1)]);
    assert_eq!(engine.log_index_bounds(), None);
    assert!(read_all(&mut engine).is_empty());
    engine.append(b"again", 1).unwrap();
}

#[test]
fn truncate_beyond_the_last_index_or_before_the_first_fails_and_changes_nothing() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    for i in 11..=20 {
        engine.append(b"r", i).unwrap();
    }
    assert!(matches!(
        engine.truncate_after(21),
        Err(Error::LogIndexNotYetAvailable {
            requested: 21,
            last: 20
        })
    ));
    assert!(matches!(
        engine.truncate_after(5),
        Err(Error::LogIndexTruncated {
            requested: 5,
            first: 11
        })
    ));
    assert_eq!(engine.log_index_bounds(), Some((11, 20)));
    engine.truncate_after(10).unwrap();
    assert_eq!(
        engine.log_index_bounds(),
        None,
        "10 = first - 1 removes every indexed record"
    );
}

#[test]
fn interrupted_truncation_leftovers_are_removed_at_open() {
    // Crash after the target's cut became durable, before the later segments were removed.
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 1..=20 {
        engine.append(&payload(i, 40), i).unwrap();
    }
    engine.sync().unwrap();
    let target = engine.position_for_index(5).unwrap().segment;
    let last = engine.active_id();
    let mut storage = engine.into_storage();
    let region = storage.open_segment(target).unwrap();
    let (mut segment, _) = Segment::open(region, target, OpenOptions::default()).unwrap();
    let keep = 5 - segment.first_log_index() + 1;
    segment.truncate_to(keep, 0).unwrap();
    drop(segment);
    let (engine, report) = open(storage, 256);
    assert_eq!(report.removed_leftovers.len() as u32, last.0 - target.0);
    assert_eq!(engine.active_id(), target);
    assert_eq!(engine.log_index_bounds(), Some((1, 5)));
}

#[test]
fn unsealed_go_segment_before_the_last_is_sealed_at_open() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 0..10 {
        engine.append(&payload(i, 40), 0).unwrap();
    }
    engine.sync().unwrap();
    let mut storage = engine.into_storage();
    // Make segment 1 look like the Go original's crash during rotation: ACTIVE, no watermark.
    {
        let mut bytes = storage.segment_bytes(SegmentId(1)).unwrap();
        let mut header = SegmentHeader::decode(bytes[..64].try_into().unwrap()).unwrap();
        header.flags = crate::format::SegmentFlags(crate::format::SegmentFlags::ACTIVE);
        bytes[..64].copy_from_slice(&header.encode());
    }
    storage.put_index(SegmentId(1), None);
    let (mut engine, report) = open(storage, 256);
    assert_eq!(report.sealed, vec![SegmentId(1)]);
    assert!(engine.segment(SegmentId(1)).unwrap().is_sealed());
    assert!(engine.storage().index(SegmentId(1)).is_some());
    assert_eq!(read_all(&mut engine).len(), 10);
}

#[test]
fn sealed_last_segment_gets_a_new_active_segment() {
    // SPEC §13.12: a crash between sealing and creating the next segment.
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(b"one", 0).unwrap();
    engine.rotate().unwrap();
    let mut storage = engine.into_storage();
    storage.remove_segment(SegmentId(2)).unwrap();
    let (mut engine, report) = open(storage, 4096);
    assert_eq!(report.created, Some(SegmentId(2)));
    engine.append(b"two", 0).unwrap();
    assert_eq!(read_all(&mut engine).len(), 2);
}

#[test]
fn never_written_last_segment_is_removed_and_writes_go_on() {
    // SPEC §13.18: rotation sealed segment 2 and created segment 3, but the crash came before
    // segment 3's header reached the disk.
    let (mut engine, _) = open(MemStorage::new(), 512);
    engine.append(b"kept", 0).unwrap();
    engine.rotate().unwrap();
    engine.append(b"also kept", 0).unwrap();
    engine.rotate().unwrap();
    let storage = engine.into_storage();
    storage.segment_bytes(SegmentId(3)).unwrap().fill(0);
    let (mut engine, report) = open(storage, 512);
    assert_eq!(report.removed_unwritten, Some(SegmentId(3)));
    assert_eq!(
        report.created,
        Some(SegmentId(3)),
        "the sealed last segment gets a successor"
    );
    assert_eq!(read_all(&mut engine).len(), 2);
    engine.append(b"more", 0).unwrap();
}

#[test]
fn unsealed_segment_before_others_means_an_interrupted_truncation() {
    // walfs seals a segment durably before creating the next, so only truncation leaves an
    // unsealed walfs segment before others: the later ones must not come back.
    let (mut engine, _) = open(MemStorage::new(), 512);
    engine.append(b"kept", 0).unwrap();
    engine.rotate().unwrap();
    engine.append(b"leftover", 0).unwrap();
    let mut storage = engine.into_storage();
    {
        let mut bytes = storage.segment_bytes(SegmentId(1)).unwrap();
        let mut header = SegmentHeader::decode(bytes[..64].try_into().unwrap()).unwrap();
        header.flags = header.flags.unsealed();
        bytes[..64].copy_from_slice(&header.encode());
    }
    storage.put_segment(SegmentId(3), vec![0; 512]);
    let (mut engine, report) = open(storage, 512);
    assert_eq!(report.removed_leftovers, vec![SegmentId(2), SegmentId(3)]);
    assert_eq!(engine.active_id(), SegmentId(1));
    assert_eq!(read_all(&mut engine).len(), 1);
}

#[test]
fn damaged_header_with_data_after_it_is_corruption() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    engine.append(b"data", 0).unwrap();
    engine.sync().unwrap();
    let storage = engine.into_storage();
    storage.segment_bytes(SegmentId(1)).unwrap()[8] ^= 1;
    assert!(matches!(
        WalEngine::open(storage, options(512)),
        Err(Error::Corrupt {
            segment: SegmentId(1),
            offset: 0,
            reason: CorruptionReason::BadHeaderCrc { .. }
        })
    ));
}

#[test]
fn missing_short_or_garbage_index_files_are_rebuilt() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 0..12 {
        engine.append(&payload(i, 40), 0).unwrap();
    }
    let good = engine.storage().index(SegmentId(1)).unwrap().to_vec();
    let mut storage = engine.into_storage();
    for bad in [
        None,
        Some(good[..good.len() - 16].to_vec()),
        Some(vec![0xAB; 40]),
        Some(vec![0; 32]),
    ] {
        storage.put_index(SegmentId(1), bad);
        let (engine, report) = open(storage, 256);
        assert_eq!(report.rebuilt_indexes, vec![SegmentId(1)]);
        storage = engine.into_storage();
        assert_eq!(storage.index(SegmentId(1)).unwrap(), good.as_slice());
    }
}

#[test]
fn corruption_below_the_watermark_fails_the_open_unless_repair_is_asked() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    let positions: Vec<Position> = (0..5)
        .map(|i| engine.append(&payload(i, 30), 0).unwrap())
        .collect();
    engine.sync().unwrap();
    engine.sync().unwrap();
    let storage = engine.into_storage();
    storage.segment_bytes(SegmentId(1)).unwrap()[positions[2].offset as usize + 12] ^= 4;
    let error = WalEngine::open(storage, options(4096)).unwrap_err();
    assert!(matches!(error, Error::Corrupt { offset, .. } if offset == positions[2].offset));
}

#[test]
fn torn_tail_above_the_watermark_is_cut_and_reported() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(b"synced", 0).unwrap();
    engine.sync().unwrap();
    let torn = engine.append(b"not synced", 0).unwrap();
    let storage = engine.into_storage();
    storage.segment_bytes(SegmentId(1)).unwrap()[torn.offset as usize + 10] ^= 1;
    let (mut engine, report) = open(storage, 4096);
    assert_eq!(report.torn_tails.len(), 1);
    assert_eq!(report.torn_tails[0].1.offset, torn.offset);
    assert_eq!(read_all(&mut engine).len(), 1);
}

#[test]
fn failed_sync_poisons_the_engine_rotation_included() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    engine.append(b"one", 0).unwrap();
    engine.storage().faults().fail_next_persist.set(true);
    assert!(matches!(
        engine.sync(),
        Err(Error::Region {
            source: MemError {
                kind: RegionErrorKind::Io
            },
            ..
        })
    ));
    assert!(engine.is_poisoned());
    let poisoned = |result: Result<(), MemError>| {
        matches!(
            result,
            Err(Error::Poisoned {
                first_failure: RegionErrorKind::Io,
                ..
            })
        )
    };
    assert!(poisoned(engine.sync()));
    assert!(poisoned(engine.append(b"two", 0).map(|_| ())));
    assert!(poisoned(engine.rotate().map(|_| ())));
    assert!(poisoned(engine.truncate_after(0)));
    // Reopening recovers what reached the medium.
    let (mut engine, _) = open(engine.into_storage(), 256);
    assert!(!engine.is_poisoned());
    engine.append(b"two", 0).unwrap();
}

#[test]
fn no_space_at_rotation_is_a_typed_error_and_poisons() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    engine.append(&[1u8; 100], 0).unwrap();
    engine.storage().faults().no_space.set(true);
    assert!(matches!(
        engine.append(&[2u8; 150], 0),
        Err(Error::Storage {
            op: StorageOp::Create,
            source: MemError {
                kind: RegionErrorKind::NoSpace
            },
            ..
        })
    ));
    assert!(engine.is_poisoned());
}

#[test]
fn cursor_follows_rotation_and_reports_a_removed_segment() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    let mut cursor = WalCursor::new(SegmentId(1));
    assert_eq!(cursor.next(&mut engine).unwrap(), WalStep::NoNewData);
    let first = engine.append(&payload(1, 100), 0).unwrap();
    assert!(matches!(cursor.next(&mut engine).unwrap(), WalStep::Record(p, _) if p == first));
    assert_eq!(cursor.next(&mut engine).unwrap(), WalStep::NoNewData);
    let second = engine.append(&payload(2, 150), 0).unwrap();
    assert_eq!(second.segment, SegmentId(2), "rotated");
    assert!(matches!(cursor.next(&mut engine).unwrap(), WalStep::Record(p, _) if p == second));
    // A cursor left in segment 1 after retention removed it gets an error, not a silent skip.
    let mut stale = WalCursor::new(SegmentId(1));
    engine.remove_oldest(SegmentId(1)).unwrap();
    assert!(matches!(
        stale.next(&mut engine),
        Err(Error::NoSuchSegment {
            segment: SegmentId(1)
        })
    ));
}

#[test]
fn retention_removes_only_an_old_prefix_and_honours_the_minimum() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 0..6 {
        engine.append(&payload(i, 150), 0).unwrap();
    }
    assert_eq!(engine.segment_ids().count(), 6);
    let now = 1_700_000_000_000_000_000 + 10;
    let by_count = RetentionPolicy {
        max_segments: Some(2),
        min_segments: 3,
        ..RetentionPolicy::default()
    };
    assert_eq!(
        engine.retention_candidates(&by_count, now).len(),
        3,
        "min 3 wins over max 2"
    );
    let by_age = RetentionPolicy {
        max_age_ns: Some(5),
        min_segments: 3,
        ..RetentionPolicy::default()
    };
    assert_eq!(engine.retention_candidates(&by_age, now).len(), 3);
    let too_young = RetentionPolicy {
        max_age_ns: Some(50),
        ..RetentionPolicy::default()
    };
    assert!(engine.retention_candidates(&too_young, now).is_empty());
    assert!(matches!(
        engine.remove_oldest(SegmentId(2)),
        Err(Error::NotRemovable { .. })
    ));
    assert!(matches!(
        engine.remove_oldest(engine.active_id()),
        Err(Error::NotRemovable { .. })
    ));
    for id in engine.retention_candidates(&by_count, now) {
        engine.remove_oldest(id).unwrap();
    }
    assert_eq!(engine.segment_ids().count(), 3);
    assert!(
        engine.retention_candidates(&by_count, now).is_empty(),
        "asking again removes no more"
    );
}

#[test]
fn read_only_open_changes_nothing_and_refuses_changes() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    engine.append(b"synced", 0).unwrap();
    engine.sync().unwrap();
    let torn = engine.append(b"torn", 0).unwrap();
    engine.rotate().unwrap();
    let mut storage = engine.into_storage();
    storage.remove_segment(SegmentId(2)).unwrap();
    storage.put_index(SegmentId(1), None);
    {
        // Unseal it and tear the second record, so a normal open would repair and rewrite.
        let mut bytes = storage.segment_bytes(SegmentId(1)).unwrap();
        let mut header = SegmentHeader::decode(bytes[..64].try_into().unwrap()).unwrap();
        header.flags = header.flags.unsealed();
        header.write_offset = torn.offset; // the watermark before the torn record
        bytes[..64].copy_from_slice(&header.encode());
        bytes[torn.offset as usize + 9] ^= 1;
    }
    let before = storage.segment_bytes(SegmentId(1)).unwrap().clone();
    let syncs = storage.dir_syncs();
    let read_only = WalOptions {
        read_only: true,
        ..options(512)
    };
    let (mut engine, report) = WalEngine::open(storage, read_only).unwrap();
    assert!(matches!(
        report.torn_tails[0].1.reason,
        CorruptionReason::BadCrc { .. } | CorruptionReason::ZeroCrc { .. }
    ));
    assert!(report.created.is_none());
    assert!(matches!(
        engine.append(b"x", 0),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(engine.sync(), Err(Error::ReadOnly { .. })));
    let storage = engine.into_storage();
    assert_eq!(*storage.segment_bytes(SegmentId(1)).unwrap(), before);
    assert_eq!(storage.dir_syncs(), syncs);
    assert!(storage.index(SegmentId(1)).is_none());
}

#[test]
fn scan_stops_are_reported_per_segment() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    engine.append(b"a", 0).unwrap();
    engine.rotate().unwrap();
    engine.append(b"synced", 0).unwrap();
    engine.sync().unwrap();
    let torn = engine.append(b"not synced", 0).unwrap();
    let (engine, clean) = open(engine.into_storage(), 512);
    assert!(clean.torn_tails.is_empty() && clean.repaired.is_empty());
    let storage = engine.into_storage();
    storage.segment_bytes(SegmentId(2)).unwrap()[torn.offset as usize + 9] ^= 1;
    let (_, report) = open(storage, 512);
    assert_eq!(report.torn_tails.len(), 1, "only segment 2 has a torn tail");
    assert_eq!(report.torn_tails[0].0, SegmentId(2));
    assert_eq!(report.torn_tails[0].1.offset, torn.offset);
    assert!(report.repaired.is_empty());
}

#[test]
fn a_sealed_segments_table_is_read_when_first_needed_and_a_wrong_one_rebuilt_then() {
    let (mut engine, _) = open(MemStorage::new(), 256);
    for i in 1..=12 {
        engine.append(&payload(i, 40), i).unwrap();
    }
    let expected: Vec<Position> = (1..=12)
        .map(|i| engine.position_for_index(i).unwrap())
        .collect();
    let good = engine.storage().index(SegmentId(1)).unwrap().to_vec();
    let mut storage = engine.into_storage();
    // The right size, wrong entries: open cannot tell without reading it, so it is left on disk
    // and rebuilt by a scan when first loaded.
    let mut wrong = good.clone();
    wrong[0] ^= 0x40;
    storage.put_index(SegmentId(1), Some(wrong));
    let (mut engine, report) = open(storage, 256);
    assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
    assert_eq!(engine.index_entries_in_memory(SegmentId(1)), Some(0));
    for (i, position) in (1..=12).zip(&expected) {
        assert_eq!(engine.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(
        engine.storage().index(SegmentId(1)).unwrap(),
        good.as_slice()
    );
    assert_eq!(
        engine.release_index_memory(SegmentId(1)).unwrap(),
        IndexRelease::Released {
            entries: good.len() / 16
        }
    );
    let frames: Vec<RecordFrame> = engine
        .record_frames(SegmentId(1))
        .unwrap()
        .unwrap()
        .collect();
    assert_eq!(frames.len(), good.len() / 16);
    assert_eq!(frames[0].offset, expected[0].offset);
}

/// The durable watermark in segment `id`'s header bytes.
fn stored_watermark(engine: &Engine, id: SegmentId) -> u64 {
    let bytes = engine.storage().segment_bytes(id).unwrap();
    SegmentHeader::decode(bytes[..64].try_into().unwrap())
        .unwrap()
        .write_offset
}

#[test]
fn a_completed_sync_plan_acknowledges_the_records_before_it_and_writes_its_end_as_watermark() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(&payload(1, 40), 0).unwrap();
    let plan = engine.sync_plan().unwrap();
    assert_eq!(plan.segment(), SegmentId(1));
    assert!(plan.needs_flush());
    engine.append(&payload(2, 40), 0).unwrap();
    assert_eq!(
        engine.complete_sync(plan, Ok(())).unwrap(),
        SyncCompletion::Planned
    );
    let info = engine.segment_infos().next().unwrap();
    assert_eq!(info.durable_end, plan.end());
    assert!(info.end > plan.end());
    assert_eq!(stored_watermark(&engine, SegmentId(1)), plan.end());
}

#[test]
fn a_sync_plan_completed_after_a_rotation_or_a_truncation_falls_back_to_a_full_sync() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(&payload(1, 40), 1).unwrap();
    let plan = engine.sync_plan().unwrap();
    engine.rotate().unwrap();
    engine.append(&payload(2, 40), 2).unwrap();
    assert_eq!(
        engine.complete_sync(plan, Ok(())).unwrap(),
        SyncCompletion::FellBack
    );
    let active = engine.segment_infos().last().unwrap();
    assert_eq!(active.id, SegmentId(2));
    assert_eq!(active.durable_end, active.end);

    // Segment 2 is removed by a truncation and created again by a rotation: the same id, and
    // bytes below the plan's end that its flush never saw.
    let plan = engine.sync_plan().unwrap();
    assert_eq!(plan.segment(), SegmentId(2));
    engine.truncate_after(1).unwrap();
    assert_eq!(engine.rotate().unwrap(), SegmentId(2));
    for i in 2..6 {
        engine.append(&payload(i, 40), i).unwrap();
    }
    assert!(engine.segment_infos().last().unwrap().end > plan.end());
    assert_eq!(
        engine.complete_sync(plan, Ok(())).unwrap(),
        SyncCompletion::FellBack
    );
    let active = engine.segment_infos().last().unwrap();
    assert_eq!(active.durable_end, active.end);
    assert_eq!(stored_watermark(&engine, SegmentId(2)), active.end);
}

#[test]
fn a_failed_flush_of_a_sync_plan_poisons_the_engine_until_reopen() {
    let (mut engine, _) = open(MemStorage::new(), 4096);
    engine.append(b"one", 0).unwrap();
    let plan = engine.sync_plan().unwrap();
    let failure = MemError {
        kind: RegionErrorKind::Io,
    };
    assert!(matches!(
        engine.complete_sync(plan, Err(failure)),
        Err(Error::Region {
            segment: SegmentId(1),
            source: MemError {
                kind: RegionErrorKind::Io
            },
            ..
        })
    ));
    assert!(engine.is_poisoned());
    assert!(matches!(
        engine.sync(),
        Err(Error::Poisoned {
            first_failure: RegionErrorKind::Io,
            ..
        })
    ));
    assert!(engine.sync_plan().is_err());
    assert!(engine.append(b"two", 0).is_err());
    let (engine, _) = open(engine.into_storage(), 4096);
    assert!(!engine.is_poisoned());
}

/// The last log index the engine remembers between appends is always what a walk over the
/// segments gives: after single and batch appends, a rotation, a truncation, the removal of the
/// only indexed segment, and a reopen.
#[test]
fn the_remembered_last_log_index_follows_appends_truncation_removal_and_reopen() {
    fn walked(engine: &Engine) -> Option<u64> {
        engine
            .segments
            .values()
            .rev()
            .find_map(Slot::last_log_index)
    }
    let (mut engine, _) = open(MemStorage::new(), 1024);
    assert_eq!(engine.last_log_index(), None);
    engine.append(&payload(0, 40), 7).unwrap();
    assert_eq!(engine.last_log_index(), Some(7));
    let batch = [payload(1, 40), payload(2, 40), payload(3, 40)];
    let mut positions = Vec::new();
    engine.append_batch(&batch, 8, &mut positions).unwrap();
    assert_eq!(engine.last_log_index(), Some(10));
    assert_eq!(engine.last_log_index(), walked(&engine));
    engine.truncate_after(8).unwrap();
    assert_eq!(engine.last_log_index(), Some(8));
    assert_eq!(engine.last_log_index(), walked(&engine));
    engine.rotate().unwrap();
    assert_eq!(
        engine.last_log_index(),
        Some(8),
        "an empty new segment changes nothing"
    );
    engine.remove_oldest(SegmentId(1)).unwrap();
    assert_eq!(walked(&engine), None);
    assert_eq!(
        engine.last_log_index(),
        None,
        "the only indexed segment is gone"
    );
    engine.append(&payload(4, 40), 0).unwrap();
    assert_eq!(engine.last_log_index(), None);
    let storage = engine.into_storage();
    let (engine, _) = open(storage, 1024);
    assert_eq!(engine.last_log_index(), None);
}

/// What [`Recording`] saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Open(SegmentId),
    WillRead(SegmentId, core::ops::Range<u64>),
}

/// A [`MemStorage`] that records the segments it opens and the reads announced to them.
struct Recording {
    inner: MemStorage,
    seen: alloc::rc::Rc<core::cell::RefCell<Vec<Seen>>>,
}

struct RecordingRegion {
    inner: crate::testing::MemRegion,
    id: SegmentId,
    seen: alloc::rc::Rc<core::cell::RefCell<Vec<Seen>>>,
}

impl crate::region::RegionRead for RecordingRegion {
    type Error = MemError;
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> core::result::Result<(), MemError> {
        self.inner.read_at(offset, buf)
    }
    fn will_read(&self, range: core::ops::Range<u64>) {
        self.seen.borrow_mut().push(Seen::WillRead(self.id, range));
    }
}

impl crate::region::Region for RecordingRegion {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> core::result::Result<(), MemError> {
        self.inner.write_at(offset, data)
    }
    fn persist(&mut self, range: core::ops::Range<u64>) -> core::result::Result<(), MemError> {
        self.inner.persist(range)
    }
    fn sync(&mut self) -> core::result::Result<(), MemError> {
        self.inner.sync()
    }
}

impl Storage for Recording {
    type Error = MemError;
    type Region = RecordingRegion;
    fn list_segments(&mut self) -> core::result::Result<Vec<SegmentId>, MemError> {
        self.inner.list_segments()
    }
    fn create_segment(
        &mut self,
        id: SegmentId,
        capacity: u64,
    ) -> core::result::Result<RecordingRegion, MemError> {
        let inner = self.inner.create_segment(id, capacity)?;
        let seen = alloc::rc::Rc::clone(&self.seen);
        Ok(RecordingRegion { inner, id, seen })
    }
    fn open_segment(&mut self, id: SegmentId) -> core::result::Result<RecordingRegion, MemError> {
        self.seen.borrow_mut().push(Seen::Open(id));
        let inner = self.inner.open_segment(id)?;
        let seen = alloc::rc::Rc::clone(&self.seen);
        Ok(RecordingRegion { inner, id, seen })
    }
    fn remove_segment(&mut self, id: SegmentId) -> core::result::Result<(), MemError> {
        self.inner.remove_segment(id)
    }
    fn read_index(
        &mut self,
        id: SegmentId,
        out: &mut Vec<u8>,
    ) -> core::result::Result<bool, MemError> {
        self.inner.read_index(id, out)
    }
    fn index_len(&mut self, id: SegmentId) -> core::result::Result<Option<u64>, MemError> {
        self.inner.index_len(id)
    }
    fn write_index(&mut self, id: SegmentId, bytes: &[u8]) -> core::result::Result<(), MemError> {
        self.inner.write_index(id, bytes)
    }
    fn sync_dir(&mut self) -> core::result::Result<(), MemError> {
        self.inner.sync_dir()
    }
}

/// Open announces the active segment's recovery scan (all of it after the header) before it
/// opens any sealed segment, so a mapped region can bring its pages in meanwhile; the segment
/// is opened once. A sealed last segment is not announced: it is not scanned.
#[test]
fn open_announces_the_active_segments_scan_before_opening_the_sealed_ones() {
    let (mut engine, _) = open(MemStorage::new(), 512);
    for i in 0..20 {
        engine.append(&payload(i, 100), 0).unwrap();
    }
    engine.sync().unwrap();
    let last = engine.active_id();
    assert!(last > SegmentId(2));
    let storage_seen = alloc::rc::Rc::default();
    let storage = Recording {
        inner: engine.into_storage(),
        seen: alloc::rc::Rc::clone(&storage_seen),
    };
    let (engine, _) = WalEngine::open(storage, options(512)).unwrap();
    let seen = storage_seen.borrow().clone();
    let header_end = HEADER_LEN as u64;
    assert_eq!(
        seen[..2],
        [Seen::Open(last), Seen::WillRead(last, header_end..512)],
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|s| **s == Seen::Open(last)).count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen[2..].contains(&Seen::Open(SegmentId(1))),
        "the sealed segments come after: {seen:?}"
    );

    // A sealed last segment (its successor gone): nothing is scanned, nothing announced.
    let mut storage = engine.into_storage();
    storage.inner.remove_segment(last).unwrap();
    storage.seen.borrow_mut().clear();
    let (_, report) = WalEngine::open(storage, options(512)).unwrap();
    assert_eq!(report.created, Some(last));
    let seen = storage_seen.borrow();
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::WillRead(..))),
        "{seen:?}"
    );
}
