//! Named regression tests for what the bad-input fuzzing (`bad_input_open.rs`) found in the WAL
//! engine, each one the smallest directory that showed it:
//!
//! - a log index run that reaches `u64::MAX` (written so, or a header's first index read from the
//!   medium) made `next_log_index` and the last-index arithmetic overflow: a panic in debug
//!   builds, a wrong answer in release;
//! - a storage that lists a segment twice or out of order made recovery take an earlier segment
//!   for a leftover of an interrupted truncation and remove it: silent loss of records;
//! - an empty last segment (a crash between creating a segment file and sizing it) failed the
//!   open with `BadCapacity` for good, instead of being removed as a segment never written.

#![allow(clippy::cast_possible_truncation, reason = "small test values")]

use walfs_core::crc::crc32c;
use walfs_core::error::Error;
use walfs_core::storage::Storage;
use walfs_core::testing::MemStorage;
use walfs_core::wal::{WalEngine, WalOptions};
use walfs_core::{Position, SegmentId};
use walfs_tests::relisted::RelistedStorage;

fn options() -> WalOptions {
    WalOptions {
        segment_size: 512,
        ..WalOptions::default()
    }
}

fn read(engine: &mut WalEngine<impl Storage>, position: Position) -> Vec<u8> {
    let frame = engine.read(position).expect("the record reads");
    let mut buf = vec![0; frame.payload_len as usize];
    engine
        .read_payload(position.segment, &frame, &mut buf)
        .expect("its payload reads")
        .to_vec()
}

#[test]
fn next_log_index_after_a_run_that_reached_u64_max_is_none_and_appends_are_refused() {
    let (mut engine, _) = WalEngine::open(MemStorage::new(), options()).unwrap();
    engine.append(b"last", u64::MAX - 1).unwrap();
    engine.append(b"very last", u64::MAX).unwrap();
    assert_eq!(engine.log_index_bounds(), Some((u64::MAX - 1, u64::MAX)));
    assert_eq!(engine.next_log_index(), None, "no index follows u64::MAX");
    for log_index in [0, 1, u64::MAX] {
        assert!(
            matches!(
                engine.append(b"more", log_index),
                Err(Error::LogIndexOverflow { .. })
            ),
            "append with index {log_index} after the run ended is refused"
        );
    }
}

#[test]
fn a_header_first_log_index_near_u64_max_opens_without_overflow() {
    let (mut engine, _) = WalEngine::open(MemStorage::new(), options()).unwrap();
    let positions: Vec<Position> = (0..3u8)
        .map(|i| engine.append(&[i; 5], 7 + u64::from(i)).unwrap())
        .collect();
    engine.sync().unwrap();
    let storage = engine.into_storage();
    {
        // first_log_index (bytes 44..52) := u64::MAX - 1, header CRC fixed: three records now
        // claim indexes past u64::MAX.
        let mut bytes = storage.segment_bytes(SegmentId(1)).unwrap();
        bytes[44..52].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
        let crc = crc32c(&bytes[..56]);
        bytes[56..60].copy_from_slice(&crc.to_le_bytes());
    }
    let (mut engine, _) = WalEngine::open(storage, options()).unwrap();
    assert_eq!(engine.log_index_bounds(), Some((u64::MAX - 1, u64::MAX)));
    assert_eq!(engine.next_log_index(), None);
    assert_eq!(engine.position_for_index(u64::MAX).unwrap(), positions[1]);
    for (i, &position) in positions.iter().enumerate() {
        assert_eq!(read(&mut engine, position), vec![i as u8; 5]);
    }
    assert!(matches!(
        engine.append(b"more", 0),
        Err(Error::LogIndexOverflow { .. })
    ));
}

/// Three segments (two sealed, the last active), one record each.
fn three_segments() -> (MemStorage, Vec<Position>) {
    let (mut engine, _) = WalEngine::open(MemStorage::new(), options()).unwrap();
    let mut positions = Vec::new();
    for i in 0..3u8 {
        if i > 0 {
            engine.rotate().unwrap();
        }
        positions.push(engine.append(&[i; 9], 0).unwrap());
    }
    engine.sync().unwrap();
    (engine.into_storage(), positions)
}

/// Opens the three segments through `listing`: every record is there, nothing is removed, and
/// the log goes on (an append survives a reopen with a correct listing).
fn open_through(listing: fn(Vec<SegmentId>) -> Vec<SegmentId>) {
    let (inner, positions) = three_segments();
    let storage = RelistedStorage::new(inner, listing);
    let (mut engine, report) = WalEngine::open(storage, options()).unwrap();
    assert!(report.removed_leftovers.is_empty(), "{report:?}");
    for (i, &position) in positions.iter().enumerate() {
        assert_eq!(read(&mut engine, position), vec![i as u8; 9]);
    }
    let appended = engine.append(b"after", 0).unwrap();
    engine.sync().unwrap();
    let (mut engine, _) = WalEngine::open(engine.into_storage().inner, options()).unwrap();
    for (i, &position) in positions.iter().enumerate() {
        assert_eq!(read(&mut engine, position), vec![i as u8; 9]);
    }
    assert_eq!(read(&mut engine, appended), b"after");
}

#[test]
fn a_listing_out_of_order_never_removes_segments_as_truncation_leftovers() {
    open_through(|mut ids| {
        ids.reverse();
        ids
    });
}

#[test]
fn a_segment_listed_twice_is_opened_once_and_never_removed() {
    open_through(|mut ids| {
        let last = *ids.last().unwrap();
        ids.push(last);
        ids.insert(0, ids[0]);
        ids
    });
}

#[test]
fn an_empty_or_short_last_segment_is_removed_as_never_written_not_refused() {
    for len in [0usize, 1, 40, 63, 64, 79] {
        // A rotation sealed segment 3, then crashed before segment 4 got its size and header.
        let (storage, positions) = three_segments();
        let (mut engine, _) = WalEngine::open(storage, options()).unwrap();
        assert_eq!(engine.rotate().unwrap(), SegmentId(4));
        let mut storage = engine.into_storage();
        storage.put_segment(SegmentId(4), vec![0; len]);
        let (mut engine, report) = WalEngine::open(storage, options())
            .unwrap_or_else(|error| panic!("a last segment of {len} bytes: {error}"));
        assert_eq!(report.removed_unwritten, Some(SegmentId(4)), "{len} bytes");
        for (i, &position) in positions.iter().enumerate() {
            assert_eq!(read(&mut engine, position), vec![i as u8; 9]);
        }
        engine.append(b"more", 0).unwrap();
    }
}

#[test]
fn an_empty_segment_before_the_last_is_a_typed_error() {
    let (mut storage, _) = three_segments();
    storage.put_segment(SegmentId(0), Vec::new());
    assert!(matches!(
        WalEngine::open(storage, options()),
        Err(Error::BadCapacity {
            segment: SegmentId(0),
            capacity: 0
        })
    ));
}
