#![cfg(not(loom))]
//! SPEC §14, the checklist lines of `walog_internal_test.go`, `wal_corruption_test.go`,
//! `sharded_index_test.go`, `decoder_test.go`, `util_test.go` (reader tracker), `segment_benchmark_test.go` and
//! "Beyond the Go tests", run against `walfs::Wal` on real files (and, where a storage fault must
//! be injected, against the engine over walfs-core's `MemStorage`).
//!
//! How the Go notions map here:
//! - The Go WAL's log index is a sharded hash map. Ours is per segment: its first log index and
//!   the offsets of its records, one contiguous run for the whole log (SPEC §13.6, §13.28). The
//!   sharded-index lines are tested through what they stand for: `position_for_index` after
//!   writes, removal through truncation (a suffix) and retention (a prefix), `log_index_bounds`.
//! - The Go reader tracker (segment id → registered readers) is our holding of a segment: a
//!   `Reader` that entered a segment, or a live `Record`/`RecordView`, keeps it from retention; a
//!   live `Record`/`RecordView` (a pin) keeps it from truncation. Dropping releases.
//! - Corruption is made by flipping bytes of the files on disk, then reopening and reading.
//!   Our verdicts differ from Go's by design: recovery tells a torn tail (above the durable
//!   watermark) from corruption of acknowledged data (below it), and every read checks the CRC.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test offsets, sizes and counts are far below the limits of the target types"
)]
#![allow(
    clippy::too_many_lines,
    reason = "each test follows one checklist line from setup to verdict"
)]
#![allow(
    unsafe_code,
    reason = "the §13.10 test counts allocations with a global allocator that forwards to System"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use walfs::core::format::{
    FRAME_HEADER_LEN, HEADER_LEN, INDEX_ENTRY_LEN, IndexEntry, MAGIC, SegmentFlags, SegmentHeader,
    TRAILER, VERSION, align8, frame_len, record_crc,
};
use walfs::core::testing::MemStorage;
use walfs::core::wal::{WalEngine, WalOptions};
use walfs::core::{
    CorruptionReason, CursorStep, RamRegion, RegionErrorKind, Segment, SegmentCursor, SegmentInit,
};
use walfs::{
    Error, FsError, Options, Position, RepairPolicy, RetentionPolicy, SegmentId, SyncPolicy, Wal,
};

// ---------------------------------------------------------------------------------------------
// Helpers

const EXT: &str = ".wal";

type CoreError = walfs::core::Error<FsError>;

fn options(segment_size: u64) -> Options {
    Options::new().segment_size(segment_size)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A payload that differs for every `i` (its first 8 bytes determine `i`).
fn payload(i: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| ((i >> (8 * (j % 8))) as u8) ^ (j as u8).wrapping_mul(37))
        .collect()
}

fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(walfs::segment_file_name(SegmentId(id), EXT))
}

fn index_path(dir: &Path, id: u32) -> PathBuf {
    let mut path = segment_path(dir, id).into_os_string();
    path.push(".idx");
    PathBuf::from(path)
}

/// Segment ids of the files in `dir`, ascending.
fn ids_on_disk(dir: &Path) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name();
            walfs::parse_segment_file_name(name.to_str()?, EXT).map(|id| id.0)
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Every record from the start, until the reader reports nothing more; panics on an error.
fn read_all(wal: &Wal) -> Vec<(Position, Vec<u8>)> {
    let (records, error) = read_until_error(wal);
    assert!(error.is_none(), "unexpected read error: {error:?}");
    records
}

/// Every record from the start, until nothing more or an error (returned).
fn read_until_error(wal: &Wal) -> (Vec<(Position, Vec<u8>)>, Option<Error>) {
    let mut reader = wal.reader();
    let mut records = Vec::new();
    loop {
        match reader.next() {
            Ok(Some(record)) => records.push((record.position(), record.payload().to_vec())),
            Ok(None) => return (records, None),
            Err(error) => return (records, Some(error)),
        }
    }
}

/// The core error inside a walfs error.
fn core_error<T: std::fmt::Debug>(result: walfs::Result<T>) -> CoreError {
    match result {
        Err(Error::Wal(error)) => error,
        other => panic!("expected a walfs_core error, got {other:?}"),
    }
}

fn flip(path: &Path, offset: u64, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

fn overwrite(path: &Path, offset: u64, with: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize..offset as usize + with.len()].copy_from_slice(with);
    std::fs::write(path, bytes).unwrap();
}

/// Appends `indexes` with 100-byte payloads `payload(i, 100)`.
fn append_range(wal: &Wal, indexes: std::ops::RangeInclusive<u64>) -> Vec<Position> {
    indexes
        .map(|i| wal.append_indexed(&payload(i, 100), i).unwrap())
        .collect()
}

/// 1 KiB segments and 100-byte payloads (frame 120): exactly 8 records per segment, so log
/// indexes 1..=50 fill segments 1..=6 (41..=48 in segment 6) and put 49, 50 in segment 7.
fn fifty_indexed(dir: &Path) -> (Wal, Vec<Position>) {
    let wal = Wal::open(dir, options(1024)).unwrap();
    let positions = append_range(&wal, 1..=50);
    assert_eq!(positions[44].segment, SegmentId(6));
    assert_eq!(positions[48], Position::new(SegmentId(7), 64));
    (wal, positions)
}

/// A retention policy that keeps at most `max` segments.
fn keep_at_most(max: usize) -> RetentionPolicy {
    RetentionPolicy {
        max_segments: Some(max),
        ..RetentionPolicy::default()
    }
}

/// Number of log indexes between the bounds.
fn index_span(wal: &Wal) -> u64 {
    wal.log_index_bounds()
        .map_or(0, |(first, last)| last - first + 1)
}

// ---------------------------------------------------------------------------------------------
// walog_internal_test.go

/// [`TestTruncateWithActiveReaders`] Ours: what holds a segment against truncation is a live
/// record (`Record` or `RecordView`), not a registered reader, because that is what truncation
/// would pull bytes from under; the refusal is the typed `SegmentInUse`, at once.
#[test]
fn truncate_to_zero_fails_promptly_while_a_record_of_segment_1_is_held() {
    let dir = tempdir();
    let (wal, _) = fifty_indexed(dir.path());
    let mut reader = wal.reader();
    let held = reader.next().unwrap().unwrap();
    assert_eq!(held.position().segment, SegmentId(1));
    let before = wal.segments();
    let started = Instant::now();
    let result = wal.truncate_after(0);
    assert!(started.elapsed() < Duration::from_secs(1), "no blocking");
    assert!(
        matches!(
            result,
            Err(Error::SegmentInUse {
                segment: SegmentId(1)
            })
        ),
        "{result:?}"
    );
    assert_eq!(wal.segments(), before, "the segment map is unchanged");
    assert!(segment_path(dir.path(), 1).exists());
    assert_eq!(held.payload(), payload(1, 100).as_slice());
    assert_eq!(wal.log_index_bounds(), Some((1, 50)));
}

/// [`TestTruncateWithActiveReaders_NewSegmentIDDoesNotReuse`]
#[test]
fn failed_truncate_to_zero_creates_no_segment_and_the_highest_id_stays_active() {
    let dir = tempdir();
    let (wal, _) = fifty_indexed(dir.path());
    let held = wal.read(wal.position_for_index(3).unwrap()).unwrap();
    let ids = ids_on_disk(dir.path());
    assert!(wal.truncate_after(0).is_err());
    assert_eq!(ids_on_disk(dir.path()), ids, "no file created or removed");
    assert_eq!(wal.active_segment(), SegmentId(7));
    assert_eq!(*ids.last().unwrap(), 7);
    let next = wal.append_indexed(b"fifty-one", 51).unwrap();
    assert_eq!(
        next.segment,
        SegmentId(7),
        "writes continue in the active segment"
    );
    drop(held);
}

/// [`TestTruncateWithinTailWithActiveReaders`]
#[test]
fn truncate_within_the_tail_succeeds_while_segment_1_is_held_and_creates_no_id() {
    let dir = tempdir();
    let (wal, positions) = fifty_indexed(dir.path());
    let held = wal.read(positions[0]).unwrap();
    wal.truncate_after(45).unwrap();
    assert_eq!(wal.active_segment(), SegmentId(6), "the segment holding 45");
    assert_eq!(ids_on_disk(dir.path()), vec![1, 2, 3, 4, 5, 6]);
    assert!(segment_path(dir.path(), 1).exists());
    assert_eq!(&*held, payload(1, 100).as_slice());
    assert_eq!(wal.log_index_bounds(), Some((1, 45)));
    let next = wal.append_indexed(&payload(46, 100), 46).unwrap();
    assert_eq!(next, positions[45], "46 goes where it was, in segment 6");
    assert_eq!(ids_on_disk(dir.path()), vec![1, 2, 3, 4, 5, 6]);
}

/// [`TestTruncateTargetSegmentWithActiveReader`] A reader that stands in the segment being cut
/// (holding no record) does not block the truncation, and since the cut lies after its position
/// it goes on reading.
#[test]
fn a_reader_standing_in_the_target_segment_does_not_block_truncation() {
    let dir = tempdir();
    let (wal, positions) = fifty_indexed(dir.path());
    let mut reader = wal.reader();
    for i in 1..=44 {
        let record = reader.next().unwrap().unwrap();
        assert_eq!(record.position(), positions[i - 1]);
    }
    assert_eq!(reader.segment(), SegmentId(6));
    wal.truncate_after(45).unwrap();
    let record = reader.next().unwrap().unwrap();
    assert_eq!(record.position(), positions[44]);
    assert_eq!(record.payload(), payload(45, 100).as_slice());
    drop(record);
    assert!(reader.next().unwrap().is_none(), "46.. are gone");
}

/// [`TestTruncateWithActiveReaderOnDeletedSegment`] Ours differs by design: removing a later
/// segment changes no byte that a holder can see (its mapping lives as long as its holders; the
/// file is only unlinked), so `truncate_after(first − 1)` succeeds instead of failing with "has
/// active readers": the held record stays readable, and a reader standing in the removed
/// segment gets `Error::Closed` rather than silently skipping it (§13.7).
#[test]
fn truncating_away_a_held_last_segment_succeeds_and_the_held_record_stays_valid() {
    let dir = tempdir();
    let (wal, positions) = fifty_indexed(dir.path());
    let last = *wal.segments().last().unwrap();
    assert_eq!((last.id, last.first_log_index), (SegmentId(7), Some(49)));
    let held = wal.read(positions[48]).unwrap();
    let mut standing = wal.reader();
    for _ in 1..=49 {
        standing.next().unwrap().unwrap();
    }
    assert_eq!(standing.segment(), SegmentId(7));
    wal.truncate_after(48).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 48)));
    assert_eq!(ids_on_disk(dir.path()), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        &*held,
        payload(49, 100).as_slice(),
        "the held bytes are intact"
    );
    assert!(matches!(standing.next(), Err(Error::Closed)));
}

/// [`TestClearIndexOnFlush_EnabledClearsAfterRotation`] Ours has no clear-on-flush option (the
/// in-memory index is 8 bytes per record and always kept); what the line checks of the flush is
/// that a rotated segment's index file is written at rotation (synchronously, §13.8) while the
/// active segment has none.
#[test]
fn a_rotated_segment_has_its_index_file_at_rotation_and_the_active_one_has_none() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let lens = [10usize, 20, 30];
    let positions: Vec<Position> = (1..=3)
        .map(|i| {
            wal.append_indexed(&payload(i, lens[i as usize - 1]), i)
                .unwrap()
        })
        .collect();
    assert!(!index_path(dir.path(), 1).exists());
    wal.rotate().unwrap();
    let index = std::fs::read(index_path(dir.path(), 1)).unwrap();
    assert_eq!(index.len(), 3 * INDEX_ENTRY_LEN);
    for ((chunk, position), len) in index.chunks(INDEX_ENTRY_LEN).zip(&positions).zip(lens) {
        let entry = IndexEntry::decode(chunk.try_into().unwrap());
        assert_eq!(
            (entry.offset, entry.payload_len as usize),
            (position.offset, len)
        );
        assert_eq!(&chunk[12..], &[0; 4]);
    }
    wal.append_indexed(b"four", 4).unwrap();
    assert!(
        !index_path(dir.path(), 2).exists(),
        "the active segment has no index file"
    );
}

/// [`TestClearIndexOnFlush_ReopenedSegmentsRemainCleared`] Ours loads the offsets of reopened
/// sealed segments from their index files (no rescan), and the log index has all 5 positions.
#[test]
fn reopened_sealed_segments_serve_all_five_log_indexes_from_their_index_files() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let mut positions = Vec::new();
    for i in 1..=5 {
        positions.push(wal.append_indexed(&payload(i, 50), i).unwrap());
        if i % 2 == 0 {
            wal.rotate().unwrap();
        }
    }
    wal.close().unwrap();
    let (wal, report) = Wal::open_with_report(dir.path(), options(4096)).unwrap();
    assert!(report.rebuilt_indexes.is_empty(), "{report:?}");
    let sealed: Vec<bool> = wal.segments().iter().map(|s| s.sealed).collect();
    assert_eq!(sealed, vec![true, true, false]);
    assert_eq!(wal.log_index_bounds(), Some((1, 5)));
    for (i, position) in (1..=5).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
        assert_eq!(&*wal.read(*position).unwrap(), payload(i, 50).as_slice());
    }
}

/// [`TestClearIndexOnFlush_DisabledDoesNotClearOnRotation`] A rotated segment's entries stay in
/// memory: lookups into it work even after its index file is deleted behind the WAL's back.
#[test]
fn a_rotated_segment_keeps_its_entries_in_memory() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions = append_range(&wal, 1..=3);
    wal.rotate().unwrap();
    wal.append_indexed(&payload(4, 100), 4).unwrap();
    std::fs::remove_file(index_path(dir.path(), 1)).unwrap();
    let first = wal.segments()[0];
    assert_eq!(
        (
            first.record_count,
            first.first_log_index,
            first.last_log_index
        ),
        (3, Some(1), Some(3))
    );
    for (i, position) in (1..=3).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
        assert_eq!(&*wal.read(*position).unwrap(), payload(i, 100).as_slice());
    }
}

/// [`TestClearIndexOnFlush_MultipleRotations`] Ours: three rotated segments each have their
/// index file; the active one indexes a new write in memory.
#[test]
fn three_rotations_leave_three_index_files_and_the_active_segment_indexes_its_writes() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    for round in 0..3 {
        append_range(&wal, round * 2 + 1..=round * 2 + 2);
        wal.rotate().unwrap();
    }
    for id in 1..=3 {
        let index = std::fs::read(index_path(dir.path(), id)).unwrap();
        assert_eq!(index.len(), 2 * INDEX_ENTRY_LEN, "segment {id}");
    }
    let position = wal.append_indexed(&payload(7, 100), 7).unwrap();
    assert_eq!(position.segment, SegmentId(4));
    assert_eq!(wal.position_for_index(7).unwrap(), position);
    assert!(!index_path(dir.path(), 4).exists());
}

/// [`TestWALog_LogIndexWriteTracking`] Ours refuses the unindexed record written after index 1
/// (`LogIndexMismatch`, nothing written): after a reopen the format can only say "first index +
/// ordinal", so accepting it would map 2 to the wrong record (§13.6).
#[test]
fn indexes_1_then_0_then_2_track_1_and_2_and_refuse_the_unindexed_record() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let one = wal.append_indexed(b"one", 1).unwrap();
    assert!(matches!(
        core_error(wal.append_indexed(b"none", 0)),
        walfs::core::Error::LogIndexMismatch {
            expected: 2,
            found: 0,
            ..
        }
    ));
    let two = wal.append_indexed(b"two", 2).unwrap();
    assert_eq!(wal.position_for_index(1).unwrap(), one);
    assert_eq!(wal.position_for_index(2).unwrap(), two);
    assert!(matches!(
        core_error(wal.position_for_index(0)),
        walfs::core::Error::LogIndexNotYetAvailable { requested: 0, .. }
    ));
    assert_eq!(wal.log_index_bounds(), Some((1, 2)));
    assert_eq!(read_all(&wal).len(), 2);
}

/// [`TestWALog_LogIndexWriteBatchAcrossRotation`]
#[test]
fn a_batch_with_indexes_10_to_21_across_rotations_maps_each_index_to_its_position() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(512)).unwrap();
    let payloads: Vec<Vec<u8>> = (10..=21).map(|i| payload(i, 100)).collect();
    let positions = wal.append_batch_indexed(&payloads, 10).unwrap();
    assert_eq!(positions.len(), 12);
    assert!(positions.last().unwrap().segment > SegmentId(2), "rotated");
    for (i, position) in (10..=21).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(wal.log_index_bounds(), Some((10, 21)));
}

/// [`TestWALog_LogIndexTruncateRemovesEntries`]
#[test]
fn truncate_after_5_of_10_keeps_1_to_5_at_their_positions_and_removes_6_to_10() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(1024)).unwrap();
    let positions = append_range(&wal, 1..=10);
    wal.truncate_after(5).unwrap();
    for (i, position) in (1..=5).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    for i in 6..=10 {
        assert!(matches!(
            core_error(wal.position_for_index(i)),
            walfs::core::Error::LogIndexNotYetAvailable { last: 5, .. }
        ));
    }
    assert_eq!(wal.log_index_bounds(), Some((1, 5)));
}

/// [`TestWALog_LogIndexClearedOnFullTruncate`]
#[test]
fn truncate_after_0_empties_the_log_index() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(1024)).unwrap();
    append_range(&wal, 1..=20);
    wal.truncate_after(0).unwrap();
    assert_eq!(wal.log_index_bounds(), None);
    assert!(matches!(
        core_error(wal.position_for_index(1)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 1,
            last: 0
        }
    ));
    assert!(read_all(&wal).is_empty());
}

/// [`TestWALog_LogIndexDeleteSegmentsRemovesEntries`] Ours removes a segment (here through
/// retention) together with its offsets, so lookups below the new first index report
/// `LogIndexTruncated`; nothing is computed from a header count that may be stale (§13.16).
#[test]
fn removing_a_non_active_segment_removes_exactly_its_indexes() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let first = append_range(&wal, 1..=4);
    wal.rotate().unwrap();
    let second = append_range(&wal, 5..=8);
    wal.rotate().unwrap();
    let third = append_range(&wal, 9..=10);
    let removed = wal.apply_retention(&keep_at_most(2), |_| true).unwrap();
    assert_eq!(removed, vec![SegmentId(1)]);
    assert_eq!(first.len(), 4);
    for i in 1..=4 {
        assert!(matches!(
            core_error(wal.position_for_index(i)),
            walfs::core::Error::LogIndexTruncated { first: 5, .. }
        ));
    }
    for (i, position) in (5..=10).zip(second.iter().chain(&third)) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(wal.log_index_bounds(), Some((5, 10)));
    assert_eq!(wal.segments().last().unwrap().first_log_index, Some(9));
}

/// [`TestWALog_LogIndexRebuiltOnReopen`]
#[test]
fn after_reopen_every_index_maps_to_the_same_position() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(512)).unwrap();
    let positions = append_range(&wal, 1..=6);
    assert!(positions[5].segment > SegmentId(1));
    drop(wal);
    let wal = Wal::open(dir.path(), options(512)).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 6)));
    for (i, position) in (1..=6).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
}

// ---------------------------------------------------------------------------------------------
// wal_corruption_test.go

/// 10 records of 100 bytes in segment 1 (sealed by a rotation), closed. Returns the positions.
fn sealed_segment_of_ten(dir: &Path) -> Vec<Position> {
    let wal = Wal::open(dir, options(4096)).unwrap();
    let positions: Vec<Position> = (0..10)
        .map(|i| wal.append(&payload(i, 100)).unwrap())
        .collect();
    wal.rotate().unwrap();
    wal.close().unwrap();
    positions
}

fn is_bad_crc(error: &Error) -> bool {
    matches!(
        error.corruption(),
        Some((
            _,
            _,
            CorruptionReason::BadCrc { .. } | CorruptionReason::ZeroCrc { .. }
        ))
    )
}

/// [`TestCorruption_SingleBitFlip_InData`]
#[test]
fn a_flipped_payload_bit_in_a_sealed_record_is_a_crc_error() {
    let dir = tempdir();
    let positions = sealed_segment_of_ten(dir.path());
    flip(
        &segment_path(dir.path(), 1),
        positions[3].offset + 8 + 5,
        0x10,
    );
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let error = wal.read(positions[3]).unwrap_err();
    assert!(is_bad_crc(&error), "{error:?}");
    assert_eq!(
        error.corruption().map(|(s, o, _)| (s, o)),
        Some((SegmentId(1), positions[3].offset))
    );
}

/// [`TestCorruption_SingleBitFlip_InCRC`]
#[test]
fn a_flipped_bit_in_the_crc_field_of_a_sealed_record_is_a_crc_error() {
    let dir = tempdir();
    let positions = sealed_segment_of_ten(dir.path());
    flip(&segment_path(dir.path(), 1), positions[3].offset + 1, 0x01);
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let error = wal.read(positions[3]).unwrap_err();
    assert!(is_bad_crc(&error), "{error:?}");
    assert!(wal.read(positions[2]).is_ok() && wal.read(positions[4]).is_ok());
}

/// [`TestCorruption_SingleBitFlip_InLength`] Ours differs: the flip lies in synced data of the
/// active segment, below its durable watermark, so the open itself refuses with a typed
/// corruption (`LengthOutOfRange` at the record) instead of a later read error; a repair cuts
/// there and says so.
#[test]
fn a_flipped_high_length_bit_in_synced_active_data_is_reported_as_corruption() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions: Vec<Position> = (0..10)
        .map(|i| wal.append(&payload(i, 100)).unwrap())
        .collect();
    wal.close().unwrap();
    flip(&segment_path(dir.path(), 1), positions[5].offset + 7, 0x80);
    let error = Wal::open(dir.path(), options(4096)).unwrap_err();
    let (segment, offset, reason) = error.corruption().expect("typed corruption");
    assert_eq!((segment, offset), (SegmentId(1), positions[5].offset));
    assert!(
        matches!(reason, CorruptionReason::LengthOutOfRange { .. }),
        "{reason:?}"
    );
    let (wal, report) = Wal::open_with_report(
        dir.path(),
        options(4096).repair(RepairPolicy::TruncateAtDamage),
    )
    .unwrap();
    assert_eq!(report.repaired.len(), 1);
    assert_eq!(report.repaired[0].1.offset, positions[5].offset);
    assert_eq!(read_all(&wal).len(), 5);
}

/// [`TestCorruption_Truncation_PreservesValidRecords`] Ours never resizes an existing file
/// (§13.14): a segment cut at record 50 is opened with the size it has. If its records were
/// never synced, the cut is a torn tail and the first 50 come back unchanged; had a sync
/// acknowledged the cut records, the open would refuse with a typed corruption instead.
#[test]
fn a_segment_cut_at_record_50_of_100_reopens_with_exactly_the_first_50() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    let positions: Vec<Position> = (0..100)
        .map(|i| wal.append(&payload(i, 40)).unwrap())
        .collect();
    drop(wal); // not synced: the durable watermark is the header
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 1))
        .unwrap();
    file.set_len(positions[50].offset).unwrap();
    drop(file);
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    let records = read_all(&wal);
    assert_eq!(records.len(), 50);
    for (i, (position, bytes)) in records.iter().enumerate() {
        assert_eq!(*position, positions[i]);
        assert_eq!(*bytes, payload(i as u64, 40));
    }

    let synced = tempdir();
    let wal = Wal::open(synced.path(), options(64 * 1024)).unwrap();
    let positions: Vec<Position> = (0..100)
        .map(|i| wal.append(&payload(i, 40)).unwrap())
        .collect();
    wal.close().unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(synced.path(), 1))
        .unwrap();
    file.set_len(positions[50].offset).unwrap();
    drop(file);
    let error = Wal::open(synced.path(), options(64 * 1024)).unwrap_err();
    assert!(error.corruption().is_some(), "{error:?}");
}

/// [`TestCorruption_MiddleRecord_PreservesBefore`]
#[test]
fn a_damaged_crc_on_record_10_of_a_sealed_segment_stops_the_reader_after_records_0_to_9() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(8192)).unwrap();
    let positions: Vec<Position> = (0..20)
        .map(|i| wal.append(&payload(i, 100)).unwrap())
        .collect();
    wal.rotate().unwrap();
    wal.close().unwrap();
    flip(&segment_path(dir.path(), 1), positions[10].offset, 0xFF);
    let wal = Wal::open(dir.path(), options(8192)).unwrap();
    let mut reader = wal.reader();
    for (i, position) in positions.iter().enumerate().take(10) {
        let record = reader.next().unwrap().unwrap();
        assert_eq!(record.position(), *position);
        assert_eq!(record.payload(), payload(i as u64, 100).as_slice());
    }
    let error = reader.next().unwrap_err();
    assert!(is_bad_crc(&error), "{error:?}");
    assert!(
        reader.next().is_err(),
        "the reader does not skip the damage"
    );
}

/// [`TestCorruption_ZeroFill`] Ours names the reason: erased bytes where the sealed segment's
/// header says a record must be.
#[test]
fn a_zeroed_record_5_of_a_sealed_segment_stops_the_reader_after_records_0_to_4() {
    let dir = tempdir();
    let positions = sealed_segment_of_ten(dir.path());
    overwrite(&segment_path(dir.path(), 1), positions[5].offset, &[0; 120]);
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let (records, error) = read_until_error(&wal);
    assert_eq!(records.len(), 5);
    for (i, (position, bytes)) in records.iter().enumerate() {
        assert_eq!(
            (*position, bytes.clone()),
            (positions[i], payload(i as u64, 100))
        );
    }
    let error = error.expect("an error at record 5");
    assert_eq!(
        error.corruption(),
        Some((SegmentId(1), positions[5].offset, CorruptionReason::Erased))
    );
}

/// [`TestCorruption_TrailerMarker_Protects`] Ours: the three records were never synced, so the
/// damaged first one is a torn tail: the next write goes to its offset, as in Go, and the two
/// valid-looking records after it are erased, so they cannot come back (§13.17).
#[test]
fn a_damaged_trailer_on_the_first_of_three_unsynced_records_puts_the_write_offset_there() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions: Vec<Position> = (0..3)
        .map(|i| wal.append(&payload(i, 30)).unwrap())
        .collect();
    drop(wal);
    flip(
        &segment_path(dir.path(), 1),
        positions[0].offset + 8 + 30,
        0x01,
    );
    let (wal, report) = Wal::open_with_report(dir.path(), options(4096)).unwrap();
    assert_eq!(report.torn_tails.len(), 1);
    let (segment, damage) = &report.torn_tails[0];
    assert_eq!((*segment, damage.offset), (SegmentId(1), 64));
    assert_eq!(damage.reason, CorruptionReason::BadTrailer);
    assert_eq!(damage.frames_after.count, 2);
    assert!(read_all(&wal).is_empty());
    assert_eq!(
        wal.append(&payload(9, 30)).unwrap(),
        Position::new(SegmentId(1), 64)
    );
    drop(wal);
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    assert_eq!(read_all(&wal).len(), 1, "the stale records stay gone");
}

/// [`TestCorruption_MultipleSegments_Isolation`] Ours: the unsynced active segment's damaged first
/// record is a torn tail; every earlier (sealed, synced) segment reads completely.
#[test]
fn a_damaged_first_record_of_the_active_segment_leaves_the_earlier_segments_whole() {
    let dir = tempdir();
    let (wal, positions) = fifty_indexed(dir.path());
    drop(wal);
    flip(&segment_path(dir.path(), 7), 64 + 8 + 3, 0x40);
    let wal = Wal::open(dir.path(), options(1024)).unwrap();
    let records = read_all(&wal);
    assert_eq!(
        records.len(),
        48,
        "segments 1..=6, and nothing of segment 7"
    );
    for (i, (position, bytes)) in records.iter().enumerate() {
        assert_eq!(*position, positions[i]);
        assert_eq!(*bytes, payload(i as u64 + 1, 100));
    }
}

/// [`TestCorruption_MiddleSegment_StopsReading`]
#[test]
fn a_damaged_record_in_sealed_segment_2_of_3_stops_the_reader_before_segment_3() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let mut positions = Vec::new();
    for round in 0..3 {
        for i in 0..5 {
            positions.push(wal.append(&payload(round * 5 + i, 100)).unwrap());
        }
        if round < 2 {
            wal.rotate().unwrap();
        }
    }
    wal.close().unwrap();
    assert_eq!(positions[7].segment, SegmentId(2));
    flip(&segment_path(dir.path(), 2), positions[7].offset + 8, 0x04);
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let mut reader = wal.reader();
    for position in &positions[..7] {
        assert_eq!(reader.next().unwrap().unwrap().position(), *position);
    }
    let error = reader.next().unwrap_err();
    assert!(is_bad_crc(&error), "{error:?}");
    assert_eq!(
        error.corruption().map(|(s, o, _)| (s, o)),
        Some((SegmentId(2), positions[7].offset))
    );
    assert!(reader.next().is_err(), "segment 3 is not read");
    assert_eq!(reader.segment(), SegmentId(2));
}

/// [`TestCorruption_BitFlipEveryPosition`] Ours also covers the trailer.
#[test]
fn every_single_bit_flip_in_a_sealed_record_is_detected() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    wal.append(b"before").unwrap();
    let target = wal.append(&payload(1, 16)).unwrap();
    wal.append(b"after").unwrap();
    wal.rotate().unwrap();
    wal.close().unwrap();
    let path = segment_path(dir.path(), 1);
    let pristine = std::fs::read(&path).unwrap();
    let frame = frame_len(16) as usize; // crc, length, payload, trailer: no padding
    let start = target.offset as usize;
    let mut detected = 0;
    for byte in start..start + frame {
        for bit in 0..8 {
            let mut bytes = pristine.clone();
            bytes[byte] ^= 1 << bit;
            std::fs::write(&path, &bytes).unwrap();
            let wal = Wal::open(dir.path(), options(4096)).unwrap();
            match wal.read(target) {
                Ok(view) => panic!(
                    "flip of bit {bit} at byte {} went unnoticed: {:?}",
                    byte - start,
                    &*view
                ),
                Err(error) => assert!(error.corruption().is_some(), "{error:?}"),
            }
            detected += 1;
        }
    }
    assert_eq!(detected, frame * 8);
}

// ---------------------------------------------------------------------------------------------
// sharded_index_test.go

/// [`TestShardedIndex_NewShardedIndex`] Ours has no shards: a fresh WAL simply has no bounds.
#[test]
fn a_fresh_wal_has_no_log_index() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    assert_eq!(wal.log_index_bounds(), None);
    assert!(matches!(
        core_error(wal.position_for_index(1)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 1,
            last: 0
        }
    ));
    assert_eq!(wal.segments()[0].first_log_index, None);
}

/// [`TestShardedIndex_SetAndGet`] Ours overwrites an index only by truncating and writing it
/// again; the lookup then returns the new record and the count is unchanged.
#[test]
fn an_index_maps_to_its_record_and_a_rewritten_index_to_the_new_record() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let one = wal.append_indexed(b"one", 1).unwrap();
    assert_eq!(wal.position_for_index(1).unwrap(), one);
    assert!(matches!(
        core_error(wal.position_for_index(2)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 2,
            last: 1
        }
    ));
    wal.append_indexed(b"two", 2).unwrap();
    wal.truncate_after(1).unwrap();
    let rewritten = wal.append_indexed(b"two, rewritten", 2).unwrap();
    assert_eq!(wal.position_for_index(2).unwrap(), rewritten);
    assert_eq!(
        &*wal.read(wal.position_for_index(2).unwrap()).unwrap(),
        b"two, rewritten"
    );
    assert_eq!(wal.log_index_bounds(), Some((1, 2)));
}

/// [`TestShardedIndex_SetDistributesAcrossShards`] Ours: 1000 indexes over many segments.
#[test]
fn a_thousand_indexes_over_many_segments_are_all_readable() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let payloads: Vec<Vec<u8>> = (1..=1000).map(|i| payload(i, 20)).collect();
    let positions = wal.append_batch_indexed(&payloads, 1).unwrap();
    assert!(wal.segments().len() >= 10);
    for (i, position) in (1..=1000).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(wal.log_index_bounds(), Some((1, 1000)));
}

/// [`TestShardedIndex_Delete`] Ours deletes by truncation: removing the last index drops it; doing
/// it again, or naming an index that does not exist, changes nothing (the latter is refused).
#[test]
fn truncation_removes_an_index_once_and_a_missing_or_repeated_delete_changes_nothing() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    append_range(&wal, 1..=10);
    wal.truncate_after(9).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 9)));
    wal.truncate_after(9).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 9)));
    assert_eq!(read_all(&wal).len(), 9);
    assert!(matches!(
        core_error(wal.truncate_after(20)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 20,
            last: 9
        }
    ));
    assert_eq!(wal.log_index_bounds(), Some((1, 9)));
    assert_eq!(read_all(&wal).len(), 9);
}

/// Log indexes 1..=10 with `split` as the first of segment 2, and 8.. in segment 3 when `three`.
fn split_wal(dir: &Path, split: u64, third: Option<u64>) -> (Wal, Vec<Position>) {
    let wal = Wal::open(dir, options(4096)).unwrap();
    let mut positions = Vec::new();
    for i in 1..=10 {
        if i == split || Some(i) == third {
            wal.rotate().unwrap();
        }
        positions.push(wal.append_indexed(&payload(i, 100), i).unwrap());
    }
    (wal, positions)
}

/// [`TestShardedIndex_DeleteRange_Comprehensive`] (3, 7) in the middle. Ours differs by design:
/// the log is one contiguous run, retention removes a prefix and truncation a suffix, so a hole
/// such as 3..=7 cannot be made; asking retention to drop segment 2 (3..=7) while segment 1 must
/// stay removes nothing.
#[test]
fn a_range_in_the_middle_cannot_be_removed() {
    let dir = tempdir();
    let (wal, positions) = split_wal(dir.path(), 3, Some(8));
    assert_eq!(positions[2].segment, SegmentId(2));
    assert_eq!(positions[7].segment, SegmentId(3));
    let removed = wal
        .apply_retention(&keep_at_most(1), |id| id != SegmentId(1))
        .unwrap();
    assert!(removed.is_empty());
    for (i, position) in (1..=10).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(index_span(&wal), 10);
}

/// [`TestShardedIndex_DeleteRange_Comprehensive`] at the start, at the end, over everything.
#[test]
fn removing_the_first_five_the_last_five_or_all_ten_indexes() {
    let start = tempdir();
    let (wal, positions) = split_wal(start.path(), 6, None);
    assert_eq!(
        wal.apply_retention(&keep_at_most(1), |_| true).unwrap(),
        vec![SegmentId(1)]
    );
    assert_eq!(wal.log_index_bounds(), Some((6, 10)));
    assert_eq!(wal.position_for_index(6).unwrap(), positions[5]);

    let end = tempdir();
    let (wal, positions) = split_wal(end.path(), 6, None);
    wal.truncate_after(5).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 5)));
    assert_eq!(wal.position_for_index(5).unwrap(), positions[4]);
    assert_eq!(
        ids_on_disk(end.path()),
        vec![1],
        "segment 2 (6..=10) is gone"
    );

    let all = tempdir();
    let (wal, _) = split_wal(all.path(), 6, None);
    wal.truncate_after(0).unwrap();
    assert_eq!(wal.log_index_bounds(), None);
    assert!(read_all(&wal).is_empty());
}

/// [`TestShardedIndex_DeleteRange_Comprehensive`] (10, 1) and an empty index. Ours has no
/// reversed range; its invalid removal is a truncation after an index beyond the last, which is
/// refused and removes nothing.
#[test]
fn an_invalid_removal_removes_nothing_and_an_empty_log_has_nothing_to_remove() {
    let dir = tempdir();
    let (wal, _) = split_wal(dir.path(), 6, None);
    assert!(matches!(
        core_error(wal.truncate_after(11)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 11,
            last: 10
        }
    ));
    assert_eq!(wal.log_index_bounds(), Some((1, 10)));
    assert_eq!(read_all(&wal).len(), 10);

    let empty = tempdir();
    let wal = Wal::open(empty.path(), options(4096)).unwrap();
    wal.truncate_after(0).unwrap();
    assert_eq!(wal.log_index_bounds(), None);
    assert!(matches!(
        core_error(wal.truncate_after(1)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 1,
            last: 0
        }
    ));
    assert_eq!(wal.segments().len(), 1);
}

/// [`TestShardedIndex_DeleteRange_Comprehensive`] sparse keys, (1000, 8999) of 0..9999. Ours:
/// sparse indexes cannot exist (refused, §13.6), and a large range is removed from either end,
/// at a segment boundary (retention) or inside a segment (truncation), exactly.
#[test]
fn sparse_indexes_are_refused_and_large_ranges_are_removed_exactly() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    wal.append_indexed(b"two", 2).unwrap();
    assert!(matches!(
        core_error(wal.append_indexed(b"four", 4)),
        walfs::core::Error::LogIndexMismatch {
            expected: 3,
            found: 4,
            ..
        }
    ));
    drop(wal);

    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    let mut positions = Vec::new();
    for thousand in 0..10u64 {
        let payloads: Vec<Vec<u8>> = (1..=1000)
            .map(|i| payload(thousand * 1000 + i, 8))
            .collect();
        positions.extend(
            wal.append_batch_indexed(&payloads, thousand * 1000 + 1)
                .unwrap(),
        );
        wal.rotate().unwrap();
    }
    assert_eq!(
        wal.apply_retention(&keep_at_most(10), |_| true).unwrap(),
        vec![SegmentId(1)]
    );
    wal.truncate_after(8999).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1001, 8999)));
    assert_eq!(read_all(&wal).len(), 7999);
    assert!(matches!(
        core_error(wal.position_for_index(1000)),
        walfs::core::Error::LogIndexTruncated {
            requested: 1000,
            first: 1001
        }
    ));
    assert!(matches!(
        core_error(wal.position_for_index(9000)),
        walfs::core::Error::LogIndexNotYetAvailable {
            requested: 9000,
            last: 8999
        }
    ));
    assert_eq!(wal.position_for_index(1001).unwrap(), positions[1000]);
    assert_eq!(wal.position_for_index(8999).unwrap(), positions[8998]);
}

/// [`TestShardedIndex_SetBatch_Comprehensive`] 100 entries; an empty batch.
#[test]
fn a_batch_of_100_indexes_is_readable_and_an_empty_batch_adds_nothing() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let payloads: Vec<Vec<u8>> = (1..=100).map(|i| payload(i, 60)).collect();
    let positions = wal.append_batch_indexed(&payloads, 1).unwrap();
    for (i, position) in (1..=100).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
        assert_eq!(
            &*wal.read(*position).unwrap(),
            payloads[i as usize - 1].as_slice()
        );
    }
    assert_eq!(wal.log_index_bounds(), Some((1, 100)));
    let before = wal.segments();
    let none: [&[u8]; 0] = [];
    assert!(wal.append_batch_indexed(&none, 101).unwrap().is_empty());
    assert!(wal.append_batch(&none).unwrap().is_empty());
    assert_eq!(wal.segments(), before);
    assert_eq!(wal.log_index_bounds(), Some((1, 100)));
}

/// [`TestShardedIndex_SetBatch_Comprehensive`] duplicates and overwrites. Ours: a batch names only
/// its first index, so it cannot hold a duplicate; a batch over existing indexes is refused
/// whole (`LogIndexMismatch`); to overwrite, truncate and write again, which counts only the
/// indexes that are new.
#[test]
fn a_batch_over_existing_indexes_is_refused_and_a_rewrite_counts_only_new_indexes() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    append_range(&wal, 1..=10);
    let before = wal.segments();
    let payloads: Vec<Vec<u8>> = (0..10).map(|i| payload(100 + i, 30)).collect();
    assert!(matches!(
        core_error(wal.append_batch_indexed(&payloads, 5)),
        walfs::core::Error::LogIndexMismatch {
            expected: 11,
            found: 5,
            ..
        }
    ));
    assert_eq!(wal.segments(), before, "nothing written");
    wal.truncate_after(5).unwrap();
    let positions = wal.append_batch_indexed(&payloads, 6).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 15)), "5 new indexes");
    for (i, position) in (6..=15).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
        assert_eq!(
            &*wal.read(*position).unwrap(),
            payloads[i as usize - 6].as_slice()
        );
    }
}

/// [`TestShardedIndex_IsCurrentEntry_Comprehensive`] Ours: an (index, position) pair is current
/// when `position_for_index` returns exactly that position.
#[test]
fn a_position_is_current_only_for_its_exact_index() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let old = append_range(&wal, 1..=10);
    for i in 1..=10u64 {
        let current = wal.position_for_index(i).unwrap();
        for (j, position) in (1..=10).zip(&old) {
            assert_eq!(current == *position, i == j);
        }
    }
    wal.truncate_after(5).unwrap();
    let new: Vec<Position> = (6..=10)
        .map(|i| wal.append_indexed(&payload(i, 40), i).unwrap())
        .collect();
    assert_eq!(new[0], old[5], "6 starts where it started");
    for (k, i) in (6..=10).enumerate() {
        assert_eq!(wal.position_for_index(i).unwrap(), new[k]);
        if k > 0 {
            assert_ne!(wal.position_for_index(i).unwrap(), old[k + 5]);
        }
    }
}

/// [`TestShardedIndex_Len`] Ours: the span of the bounds.
#[test]
fn the_index_count_follows_inserts_rewrites_and_removals() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    assert_eq!(index_span(&wal), 0);
    append_range(&wal, 1..=10);
    assert_eq!(index_span(&wal), 10);
    wal.truncate_after(7).unwrap();
    assert_eq!(index_span(&wal), 7);
    wal.rotate().unwrap();
    append_range(&wal, 8..=12);
    assert_eq!(index_span(&wal), 12);
    wal.apply_retention(&keep_at_most(1), |_| true).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((8, 12)));
    assert_eq!(index_span(&wal), 5);
}

/// [`TestShardedIndex_LenSlow`] Ours: the bounds' span equals the records counted segment by
/// segment and the records a reader returns, before and after removals.
#[test]
fn the_index_count_equals_the_records_counted_one_by_one() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(1024)).unwrap();
    append_range(&wal, 1..=40);
    let counted = |wal: &Wal| {
        let by_segment: u64 = wal
            .segments()
            .iter()
            .filter(|s| s.first_log_index.is_some())
            .map(|s| s.record_count)
            .sum();
        let by_reader = read_all(wal).len() as u64;
        assert_eq!(by_segment, by_reader);
        by_reader
    };
    assert_eq!(index_span(&wal), counted(&wal));
    wal.truncate_after(29).unwrap();
    assert_eq!(index_span(&wal), counted(&wal));
    wal.apply_retention(&keep_at_most(2), |_| true).unwrap();
    assert_eq!(index_span(&wal), counted(&wal));
    assert!(index_span(&wal) < 29);
}

/// [`TestShardedIndex_Clear`] Ours: `truncate_after(0)`; afterwards a new run may start anywhere.
#[test]
fn truncating_everything_empties_the_index_and_it_is_usable_afterwards() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(1024)).unwrap();
    append_range(&wal, 1..=30);
    wal.truncate_after(0).unwrap();
    assert_eq!(index_span(&wal), 0);
    assert!(read_all(&wal).is_empty());
    let position = wal.append_indexed(b"restart", 100).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((100, 100)));
    assert_eq!(wal.position_for_index(100).unwrap(), position);
    wal.append_indexed(b"next", 101).unwrap();
    assert_eq!(index_span(&wal), 2);
}

/// [`TestShardedIndex_Range_Comprehensive`] Ours: a reader visits the records in index order; to
/// stop early is to stop calling `next`, and `reader_after` resumes after the last visited.
#[test]
fn a_reader_visits_every_indexed_record_in_order_and_resumes_after_a_stop() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(2048)).unwrap();
    assert!(
        wal.reader().next().unwrap().is_none(),
        "nothing on an empty log"
    );
    append_range(&wal, 1..=100);
    let mut reader = wal.reader();
    for i in 1..=100 {
        let record = reader.next().unwrap().unwrap();
        assert_eq!(record.position(), wal.position_for_index(i).unwrap());
    }
    assert!(reader.next().unwrap().is_none());
    let mut reader = wal.reader();
    for _ in 0..10 {
        reader.next().unwrap().unwrap();
    }
    let stop = reader.last_position().unwrap();
    assert_eq!(stop, wal.position_for_index(10).unwrap());
    let mut resumed = wal.reader_after(stop).unwrap();
    assert_eq!(
        resumed.next().unwrap().unwrap().position(),
        wal.position_for_index(11).unwrap()
    );
}

/// [`TestShardedIndex_GetFirstLast_Comprehensive`] Ours cannot hold unordered or sparse indexes
/// (refused, §13.6), and a run starting at 2^40 is exact.
#[test]
fn bounds_are_none_when_empty_exact_for_one_index_and_follow_removed_ends() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    assert_eq!(wal.log_index_bounds(), None);
    wal.append_indexed(b"seven", 7).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((7, 7)));
    assert!(matches!(
        core_error(wal.append_indexed(b"three", 3)),
        walfs::core::Error::LogIndexMismatch { .. }
    ));
    wal.rotate().unwrap();
    append_range(&wal, 8..=12);
    wal.apply_retention(&keep_at_most(1), |_| true).unwrap();
    wal.truncate_after(11).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((8, 11)), "both ends moved");

    let huge = tempdir();
    let wal = Wal::open(huge.path(), options(4096)).unwrap();
    let first = 1u64 << 40;
    let positions: Vec<Position> = (first..first + 3)
        .map(|i| wal.append_indexed(b"x", i).unwrap())
        .collect();
    assert_eq!(wal.log_index_bounds(), Some((first, first + 2)));
    assert_eq!(wal.position_for_index(first + 1).unwrap(), positions[1]);
}

/// [`TestShardedIndex_ConcurrentReads`, `TestShardedIndex_ConcurrentWrites`,
/// `TestShardedIndex_ConcurrentMixed`, `TestShardedIndex_ConcurrentDeleteRange`,
/// `TestShardedIndex_ConcurrentSetBatch`] Ours: lookups run while writers race to extend the
/// run; each writer claims the next index with a batch and retries when another won
/// (`LogIndexMismatch`), so the result is one contiguous run with no duplicate and no hole.
#[test]
fn concurrent_lookups_and_racing_batch_writers_leave_one_contiguous_run() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(16 * 1024)).unwrap();
    let seed = append_range(&wal, 1..=200);
    let writers = 4u64;
    let batches = 25u64;
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let wal = &wal;
            scope.spawn(move || {
                for batch in 0..batches {
                    let tag = writer * 1000 + batch;
                    let payloads: Vec<Vec<u8>> =
                        (0..10).map(|k| payload(tag * 10 + k, 24)).collect();
                    loop {
                        let next = wal.log_index_bounds().map_or(1, |(_, last)| last + 1);
                        match wal.append_batch_indexed(&payloads, next) {
                            Ok(positions) => {
                                assert_eq!(positions.len(), 10);
                                break;
                            }
                            Err(Error::Wal(walfs::core::Error::LogIndexMismatch { .. })) => {}
                            Err(error) => panic!("{error}"),
                        }
                    }
                }
            });
        }
        for _ in 0..4 {
            let (wal, seed) = (&wal, &seed);
            scope.spawn(move || {
                for round in 0..200 {
                    for (i, position) in (1..=200).zip(seed).skip(round % 7) {
                        assert_eq!(wal.position_for_index(i).unwrap(), *position);
                    }
                    let (first, last) = wal.log_index_bounds().unwrap();
                    assert_eq!(first, 1);
                    assert!(last >= 200);
                }
            });
        }
    });
    let total = 200 + writers * batches * 10;
    assert_eq!(wal.log_index_bounds(), Some((1, total)));
    // Every batch appears once, whole, in order.
    let records = read_all(&wal);
    assert_eq!(records.len() as u64, total);
    let mut seen = std::collections::HashSet::new();
    for chunk in records[200..].chunks(10) {
        let tag = (0..writers * 1000)
            .find(|tag| chunk[0].1 == payload(tag * 10, 24))
            .expect("a known batch");
        for (k, (_, bytes)) in chunk.iter().enumerate() {
            assert_eq!(*bytes, payload(tag * 10 + k as u64, 24));
        }
        assert!(seen.insert(tag));
    }
    for (i, (position, _)) in (1..=total).zip(&records) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
}

/// [`TestShardedIndex_ShardDistribution`] Ours has no shards: the unit that splits the index is
/// the segment. 640 consecutive indexes of equal records split into contiguous runs, one per
/// segment, that cover 1..=640 with no gap and no overlap, and every full segment holds the same
/// number of them (the last, active one holds the rest).
#[test]
fn six_hundred_forty_consecutive_indexes_split_evenly_into_contiguous_per_segment_runs() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions = append_range(&wal, 1..=640);
    let segments = wal.segments();
    assert!(segments.len() >= 10, "{} segments", segments.len());
    let mut next = 1;
    for segment in &segments {
        let (first, last) = (
            segment.first_log_index.unwrap(),
            segment.last_log_index.unwrap(),
        );
        assert_eq!(
            first, next,
            "segment {} starts where the previous ended",
            segment.id
        );
        assert_eq!(last - first + 1, segment.record_count);
        next = last + 1;
    }
    assert_eq!(next, 641);
    let full = segments[0].record_count;
    for segment in &segments[..segments.len() - 1] {
        assert_eq!(segment.record_count, full, "segment {}", segment.id);
    }
    assert!(segments.last().unwrap().record_count <= full);
    for (i, position) in (1..=640).zip(&positions) {
        let holder = segments
            .iter()
            .find(|s| (s.first_log_index.unwrap()..=s.last_log_index.unwrap()).contains(&i))
            .unwrap();
        assert_eq!(position.segment, holder.id, "index {i}");
    }
}

/// [`TestShardedIndex_GetShardConsistency`] Ours: the same index always resolves to the same
/// position: asked again, after more writes, after a rotation and after a reopen.
#[test]
fn the_same_index_always_resolves_to_the_same_position() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions = append_range(&wal, 1..=100);
    let check = |wal: &Wal| {
        for (i, position) in (1..=100).zip(&positions) {
            for _ in 0..3 {
                assert_eq!(wal.position_for_index(i).unwrap(), *position, "index {i}");
            }
        }
    };
    check(&wal);
    append_range(&wal, 101..=150);
    check(&wal);
    wal.rotate().unwrap();
    check(&wal);
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    check(&wal);
}

/// [`TestShardedIndex_ZeroIndex`, `TestShardedIndex_MaxUint64Index`] Ours differs for 0 by
/// design: in the format 0 means "no log index", so a record written with 0 is unindexed and
/// index 0 is never found; `u64::MAX` is an ordinary index, and the run ends there
/// (`LogIndexOverflow` for the next).
#[test]
fn index_0_means_none_and_u64_max_is_an_ordinary_last_index() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let unindexed = wal.append_indexed(b"zero", 0).unwrap();
    assert_eq!(wal.log_index_bounds(), None);
    assert!(matches!(
        core_error(wal.position_for_index(0)),
        walfs::core::Error::LogIndexNotYetAvailable { requested: 0, .. }
    ));
    let max = wal.append_indexed(b"max", u64::MAX).unwrap();
    assert_ne!(max, unindexed);
    assert_eq!(wal.position_for_index(u64::MAX).unwrap(), max);
    assert_eq!(wal.log_index_bounds(), Some((u64::MAX, u64::MAX)));
    assert!(matches!(
        core_error(wal.append_indexed(b"after", u64::MAX)),
        walfs::core::Error::LogIndexOverflow { .. }
    ));
    drop(wal);
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    assert_eq!(wal.position_for_index(u64::MAX).unwrap(), max);
    assert_eq!(read_all(&wal).len(), 2);
}

/// [`TestShardedIndex_BatchOperationsLargeScale`] Ours removes whole segments and cuts one, so
/// the cost follows the number of segments, not the 75,000 indexes removed (§13.28).
#[test]
fn truncating_after_25000_of_100000_keeps_the_neighbours_and_is_quick() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(256 * 1024)).unwrap();
    let payloads: Vec<Vec<u8>> = (1..=100_000).map(|i| payload(i, 8)).collect();
    let positions = wal.append_batch_indexed(&payloads, 1).unwrap();
    assert!(wal.segments().len() >= 8);
    let started = Instant::now();
    wal.truncate_after(25_000).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(wal.log_index_bounds(), Some((1, 25_000)));
    assert_eq!(wal.position_for_index(24_999).unwrap(), positions[24_998]);
    assert_eq!(wal.position_for_index(25_000).unwrap(), positions[24_999]);
    assert!(wal.position_for_index(25_001).is_err());
    assert!(wal.position_for_index(75_000).is_err());
}

// ---------------------------------------------------------------------------------------------
// util_test.go (reader tracker)

/// 512-byte segments, 200-byte payloads: 2 records per segment, 8 records in segments 1..=4.
fn four_segments(dir: &Path) -> (Wal, Vec<Position>) {
    let wal = Wal::open(dir, options(512)).unwrap();
    let positions: Vec<Position> = (1..=8)
        .map(|i| wal.append_indexed(&payload(i, 200), i).unwrap())
        .collect();
    assert_eq!(wal.segments().len(), 4);
    (wal, positions)
}

/// [`TestReaderTracker_AddAndContains`] Ours: a segment nobody holds is removable; once a reader
/// has entered it, it is held (retention keeps it).
#[test]
fn a_segment_is_held_only_once_a_reader_enters_it() {
    let dir = tempdir();
    let (wal, _) = four_segments(dir.path());
    assert_eq!(
        wal.apply_retention(&keep_at_most(3), |_| true).unwrap(),
        vec![SegmentId(1)]
    );
    let mut reader = wal.reader();
    let record = reader.next().unwrap().unwrap();
    assert_eq!(record.position().segment, SegmentId(2));
    drop(record);
    assert!(
        wal.apply_retention(&keep_at_most(2), |_| true)
            .unwrap()
            .is_empty()
    );
    assert!(segment_path(dir.path(), 2).exists());
    drop(reader);
    assert_eq!(
        wal.apply_retention(&keep_at_most(2), |_| true).unwrap(),
        vec![SegmentId(2)]
    );
}

/// [`TestReaderTracker_Remove`] Ours: each holder releases once, on drop; the segment is free
/// only when the last holder is gone.
#[test]
fn each_holder_releases_once_and_the_segment_is_free_after_the_last() {
    let dir = tempdir();
    let (wal, positions) = four_segments(dir.path());
    let first = wal.read(positions[0]).unwrap();
    let second = wal.read(positions[1]).unwrap();
    assert!(
        wal.apply_retention(&keep_at_most(3), |_| true)
            .unwrap()
            .is_empty()
    );
    drop(first);
    assert!(
        wal.apply_retention(&keep_at_most(3), |_| true)
            .unwrap()
            .is_empty()
    );
    drop(second);
    assert_eq!(
        wal.apply_retention(&keep_at_most(3), |_| true).unwrap(),
        vec![SegmentId(1)]
    );
    assert!(!segment_path(dir.path(), 1).exists());
}

/// [`TestReaderTracker_HasAny`] Ours: the question "does anyone pin this segment" is answered by
/// truncation (here a truncation after the last index, which changes nothing when allowed).
#[test]
fn truncation_sees_a_pin_only_while_a_record_is_held() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions = append_range(&wal, 1..=5);
    wal.truncate_after(5).unwrap();
    let held = wal.read(positions[2]).unwrap();
    assert!(matches!(
        wal.truncate_after(5),
        Err(Error::SegmentInUse { .. })
    ));
    drop(held);
    wal.truncate_after(5).unwrap();
    assert_eq!(read_all(&wal).len(), 5);
}

/// [`TestReaderTracker_ConcurrentAccess`] 1000 holders taken and released concurrently.
#[test]
fn a_thousand_concurrent_holds_and_releases_leave_the_segment_free() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    let positions = append_range(&wal, 1..=50);
    let threads = 8;
    let taken = Barrier::new(threads + 1);
    let checked = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (wal, positions, taken, checked) = (&wal, &positions, &taken, &checked);
            scope.spawn(move || {
                let views: Vec<_> = (0..125)
                    .map(|k| wal.read(positions[(t * 125 + k) % 50]).unwrap())
                    .collect();
                taken.wait();
                checked.wait();
                drop(views);
            });
        }
        taken.wait();
        assert!(matches!(
            wal.truncate_after(50),
            Err(Error::SegmentInUse { .. })
        ));
        checked.wait();
    });
    wal.truncate_after(50).unwrap();
    wal.truncate_after(10).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 10)));
}

// ---------------------------------------------------------------------------------------------
// segment_benchmark_test.go

/// [`BenchmarkSegment/SequentialRead`] Ours: the segment cursor returns exactly N records, then
/// "no new data" (the active segment's end, not an error).
#[test]
fn a_fresh_segment_cursor_returns_exactly_the_records_written() {
    let mut bytes = vec![0u8; 64 * 1024];
    let init = SegmentInit {
        created_at: 0,
        marker: 0,
        first_log_index: 0,
    };
    let mut segment = Segment::create(RamRegion::new(&mut bytes), SegmentId(1), init).unwrap();
    let n = 500;
    for i in 0..n {
        segment.append(&payload(i, 64), 0).unwrap();
    }
    let mut cursor = SegmentCursor::new(SegmentId(1));
    let mut count = 0;
    loop {
        match cursor.next_in(&mut segment).unwrap() {
            CursorStep::Record(frame) => {
                assert_eq!(segment.payload(&frame), Some(payload(count, 64).as_slice()));
                count += 1;
            }
            CursorStep::NoNewData => break,
            CursorStep::EndOfSegment => panic!("the segment is not sealed"),
        }
    }
    assert_eq!(count, n);
}

/// [`BenchmarkConcurrent/ConcurrentWrite`]
#[test]
fn a_write_refused_by_a_full_segment_succeeds_on_a_new_segment_with_the_next_id() {
    let init = SegmentInit {
        created_at: 0,
        marker: 0,
        first_log_index: 0,
    };
    let mut first_bytes = vec![0u8; 1024];
    let mut segment =
        Segment::create(RamRegion::new(&mut first_bytes), SegmentId(1), init).unwrap();
    let record = payload(1, 100);
    let error = loop {
        if let Err(error) = segment.append(&record, 0) {
            break error;
        }
    };
    assert!(
        matches!(
            error,
            walfs::core::Error::SegmentFull {
                segment: SegmentId(1),
                ..
            }
        ),
        "{error:?}"
    );
    let next_id = segment.id().next().unwrap();
    assert_eq!(next_id, SegmentId(2));
    let mut next_bytes = vec![0u8; 1024];
    let mut next = Segment::create(RamRegion::new(&mut next_bytes), next_id, init).unwrap();
    let offset = next.append(&record, 0).unwrap();
    assert_eq!(offset, HEADER_LEN as u64);
    let frame = next.read(offset).unwrap();
    assert_eq!(next.payload(&frame), Some(record.as_slice()));
}

// ---------------------------------------------------------------------------------------------
// Beyond the Go tests

/// The fixtures of the Go original.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/go-walfs");

/// The fixture cases, by folder name (`tests/tests/go_fixtures.rs` checks that all 13 are there).
fn fixture_cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().join("manifest.json").is_file())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 13, "{cases:?}");
    cases
}

/// A copy of the `wal/` directory of a fixture case, writable.
fn copy_fixture(case: &str) -> tempfile::TempDir {
    let dir = tempdir();
    for entry in std::fs::read_dir(Path::new(FIXTURES).join(case).join("wal")).unwrap() {
        let entry = entry.unwrap();
        let target = dir.path().join(entry.file_name());
        std::fs::copy(entry.path(), &target).unwrap();
        let mut permissions = std::fs::metadata(&target).unwrap().permissions();
        #[allow(
            clippy::permissions_set_readonly_false,
            reason = "the copy must be writable; the fixtures are read-only"
        )]
        permissions.set_readonly(false);
        std::fs::set_permissions(&target, permissions).unwrap();
    }
    dir
}

/// A JSON value, for the fixtures' manifests (numbers kept as text).
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut parser = JsonParser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value();
        parser.skip_space();
        assert_eq!(parser.at, parser.bytes.len(), "trailing bytes");
        value
    }

    fn field(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> &Json {
        self.field(key)
            .unwrap_or_else(|| panic!("no key {key} in {self:?}"))
    }

    fn u64(&self) -> u64 {
        match self {
            Json::Number(text) => text.parse().unwrap(),
            other => panic!("not a number: {other:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::String(text) => text,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(value) => *value,
            other => panic!("not a bool: {other:?}"),
        }
    }
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Json {
        assert!(self.bytes[self.at..].starts_with(word.as_bytes()));
        self.at += word.len();
        value
    }

    fn value(&mut self) -> Json {
        self.skip_space();
        match self.bytes[self.at] {
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_space();
                        let key = self.string();
                        assert!(self.eat(b':'));
                        fields.push((key, self.value()));
                        if self.eat(b'}') {
                            break;
                        }
                        assert!(self.eat(b','));
                    }
                }
                Json::Object(fields)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value());
                        if self.eat(b']') {
                            break;
                        }
                        assert!(self.eat(b','));
                    }
                }
                Json::Array(items)
            }
            b'"' => Json::String(self.string()),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => {
                let start = self.at;
                while self.at < self.bytes.len()
                    && matches!(
                        self.bytes[self.at],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.at += 1;
                }
                assert!(self.at > start, "unexpected byte at {start}");
                Json::Number(String::from_utf8(self.bytes[start..self.at].to_vec()).unwrap())
            }
        }
    }

    fn string(&mut self) -> String {
        assert_eq!(self.bytes[self.at], b'"');
        self.at += 1;
        let mut out = String::new();
        loop {
            let byte = self.bytes[self.at];
            self.at += 1;
            match byte {
                b'"' => return out,
                b'\\' => {
                    let escaped = self.bytes[self.at];
                    self.at += 1;
                    match escaped {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex =
                                std::str::from_utf8(&self.bytes[self.at..self.at + 4]).unwrap();
                            self.at += 4;
                            out.push(
                                char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap(),
                            );
                        }
                        other => out.push(char::from(other)),
                    }
                }
                _ => {
                    // Copy the whole UTF-8 sequence that starts here.
                    let start = self.at - 1;
                    let mut end = self.at;
                    while end < self.bytes.len() && (self.bytes[end] & 0xC0) == 0x80 {
                        end += 1;
                    }
                    out.push_str(std::str::from_utf8(&self.bytes[start..end]).unwrap());
                    self.at = end;
                }
            }
        }
    }
}

fn manifest(case: &str) -> Json {
    let text =
        std::fs::read_to_string(Path::new(FIXTURES).join(case).join("manifest.json")).unwrap();
    Json::parse(&text)
}

/// One splitmix64 step (fixture README, "Payload rule").
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The payloads of a fixture's records, regenerated from its parameters, keyed by position.
fn fixture_payloads(manifest: &Json) -> HashMap<Position, (u64, Vec<u8>)> {
    let params = manifest.get("written").get("params");
    let seed = u64::from_str_radix(params.get("seed").str().trim_start_matches("0x"), 16).unwrap();
    let (min, max) = (params.get("min").u64(), params.get("max").u64());
    let overrides: HashMap<u64, u64> = params
        .get("override")
        .str()
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (i, len) = part.split_once('=').unwrap();
            (i.parse().unwrap(), len.parse().unwrap())
        })
        .collect();
    let mut out = HashMap::new();
    for record in manifest.get("written").get("records").array() {
        let i = record.get("i").u64();
        let mut state = seed ^ i;
        let r0 = splitmix64(&mut state);
        let len = overrides
            .get(&i)
            .copied()
            .unwrap_or(min + r0 % (max - min + 1)) as usize;
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            bytes.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        bytes.truncate(len);
        assert_eq!(len as u64, record.get("len").u64());
        let position = Position::new(
            SegmentId(record.get("seg").u64() as u32),
            record.get("off").u64(),
        );
        out.insert(position, (record.get("log_index").u64(), bytes));
    }
    out
}

/// beyond: every fixture directory of the Go original opens (case 10, whose segment 2 has a bad
/// header CRC and records after it, is refused with a typed corruption, as in Go) and reads back
/// with the bytes, positions and log indexes of its manifest; the next write lands where Go's did.
#[test]
fn every_go_fixture_reads_back_with_the_manifest_bytes_positions_and_log_indexes() {
    let mut state = 0x0101u64;
    assert_eq!(
        splitmix64(&mut state),
        0x7329_3223_5060_2724,
        "README example"
    );
    for case in fixture_cases() {
        let case = case.as_str();
        let manifest = manifest(case);
        let dir = copy_fixture(case);
        let segment_size = manifest.get("segment_size").u64();
        let go = manifest.get("go_open_and_read");
        let end = go.get("end");
        let opened = Wal::open(dir.path(), options(segment_size));
        if end.get("end_kind").str() == "open_error" {
            let error = opened.expect_err(case);
            let (segment, offset, reason) = error.corruption().expect("typed corruption");
            assert_eq!((segment, offset), (SegmentId(2), 0), "{case}");
            assert!(
                matches!(reason, CorruptionReason::BadHeaderCrc { .. }),
                "{case}"
            );
            continue;
        }
        let wal = opened.unwrap_or_else(|error| panic!("{case}: {error}"));
        let written = fixture_payloads(&manifest);
        let (records, error) = read_until_error(&wal);
        let expected = go.get("records").array();
        assert_eq!(records.len(), expected.len(), "{case}");
        assert_eq!(records.len() as u64, end.get("count").u64(), "{case}");
        for ((position, bytes), go_record) in records.iter().zip(expected) {
            let go_position = Position::new(
                SegmentId(go_record.get("seg").u64() as u32),
                go_record.get("off").u64(),
            );
            assert_eq!(*position, go_position, "{case}");
            let (log_index, payload) = &written[position];
            assert_eq!(bytes, payload, "{case} {position}");
            if let Some(lsn) = go_record.field("lsn") {
                assert_eq!(lsn.u64(), *log_index);
                assert_eq!(
                    wal.position_for_index(lsn.u64()).unwrap(),
                    *position,
                    "{case}"
                );
            }
        }
        match end.get("end_kind").str() {
            "ErrInvalidCRC" => assert!(error.as_ref().is_some_and(is_bad_crc), "{case}: {error:?}"),
            kind => assert!(error.is_none(), "{case} ({kind}): {error:?}"),
        }
        let bounds = end.get("lsn_bounds").array();
        let bounds = (bounds[0].u64(), bounds[1].u64());
        let expected_bounds = (bounds != (0, 0)).then_some(bounds);
        let indexed = manifest.get("written").get("params").get("logindex").bool();
        assert_eq!(expected_bounds.is_some(), indexed, "{case}");
        assert_eq!(wal.log_index_bounds(), expected_bounds, "{case}");
        if let Some(probe) = end.get("probe_write").str().strip_prefix("ok ") {
            let next = end.get("next_write");
            let expected = Position::new(
                SegmentId(next.get("seg").u64() as u32),
                next.get("off").u64(),
            );
            assert!(probe.contains(&format!("off={}", expected.offset)));
            // Go wrote its probe without a log index; ours must continue the run (§13.6).
            let next_index = wal.log_index_bounds().map_or(0, |(_, last)| last + 1);
            let position = wal.append_indexed(b"probe", next_index).unwrap();
            assert_eq!(position, expected, "{case}");
        }
    }
}

/// A segment as the Go original reads it (SPEC §3.2–§3.5): header checked by CRC only; sealed →
/// frames from the index file, unsealed → the §3.3 scan. Returns (sealed, first log index,
/// records as (offset, payload)).
fn go_read_segment(path: &Path, segment_size: u64) -> (bool, u64, Vec<(u64, Vec<u8>)>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        bytes.len() as u64,
        segment_size,
        "a segment file is exactly S bytes"
    );
    let header: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
    let crc = walfs::core::crc::crc32c(&header[..56]);
    assert_eq!(
        SegmentHeader::stored_crc(header),
        crc,
        "the only check Go makes"
    );
    let fields = SegmentHeader::decode_unchecked(header);
    let sealed = fields.flags.0 & SegmentFlags::SEALED != 0;
    let frame_at = |offset: u64| -> Option<Vec<u8>> {
        let at = offset as usize;
        if at + 8 > bytes.len() {
            return None;
        }
        let stored = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let length = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if offset + frame_len(length as u64) > segment_size || (stored == 0 && length == 0) {
            return None;
        }
        let data = &bytes[at + 8..at + 8 + length];
        let trailer_ok = bytes[at + 8 + length..at + 16 + length] == TRAILER;
        (stored != 0 && stored == record_crc(data) && trailer_ok).then(|| data.to_vec())
    };
    let mut records = Vec::new();
    if sealed {
        let mut index_name = path.as_os_str().to_owned();
        index_name.push(".idx");
        let index = std::fs::read(PathBuf::from(index_name)).unwrap();
        assert_eq!(index.len() % INDEX_ENTRY_LEN, 0);
        for chunk in index.chunks(INDEX_ENTRY_LEN) {
            let offset = u64::from_le_bytes(chunk[..8].try_into().unwrap());
            let len = u32::from_le_bytes(chunk[8..12].try_into().unwrap());
            assert_eq!(&chunk[12..], &[0; 4]);
            let data = frame_at(offset).expect("an index entry names a valid frame");
            assert_eq!(data.len(), len as usize);
            records.push((offset, data));
        }
        assert!(records.last().is_none_or(|(offset, data)| {
            offset + frame_len(data.len() as u64) == fields.write_offset
        }));
    } else {
        let mut offset = HEADER_LEN as u64;
        while let Some(data) = frame_at(offset) {
            let next = offset + frame_len(data.len() as u64);
            records.push((offset, data));
            offset = next;
        }
    }
    (sealed, fields.first_log_index, records)
}

/// beyond: our files with default options (16 MiB segments), read the way the Go original
/// reads them (header CRC, flags, index files, the recovery scan, first log index + ordinal),
/// byte by byte, give back every record at its position with its log index. The walfs-only
/// WATERMARK flag (0x10) is ignored by Go, which tests only SEALED and ACTIVE.
#[test]
fn files_written_with_default_options_read_back_as_the_go_original_reads_them() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), Options::new()).unwrap();
    let mut written = Vec::new();
    for round in 0..3u64 {
        let payloads: Vec<Vec<u8>> = (0..40)
            .map(|k| payload(round * 40 + k, (k * 37 % 300) as usize))
            .collect();
        let positions = wal.append_batch_indexed(&payloads, round * 40 + 1).unwrap();
        for (k, position) in positions.into_iter().enumerate() {
            written.push((position, round * 40 + 1 + k as u64, payloads[k].clone()));
        }
        if round < 2 {
            wal.rotate().unwrap();
        }
    }
    wal.close().unwrap();
    let size = walfs::core::format::SEGMENT_SIZE_DEFAULT;
    let mut read = Vec::new();
    let ids = ids_on_disk(dir.path());
    assert_eq!(ids, vec![1, 2, 3]);
    for &id in &ids {
        let (sealed, first_log_index, records) =
            go_read_segment(&segment_path(dir.path(), id), size);
        assert_eq!(sealed, id < 3, "segment {id}");
        for (ordinal, (offset, data)) in records.into_iter().enumerate() {
            read.push((
                Position::new(SegmentId(id), offset),
                first_log_index + ordinal as u64,
                data,
            ));
        }
    }
    assert_eq!(read, written);
}

/// beyond: a fresh segment's 64 header bytes match SPEC §1.3 field by field (plus our WATERMARK
/// flag 0x10, which Go ignores); the frame of an n-byte payload is align8(16 + n) bytes, with
/// the trailer right after the payload and zero padding.
#[test]
fn a_fresh_header_and_frames_match_the_spec_byte_by_byte() {
    let dir = tempdir();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let wal = Wal::open(dir.path(), options(8192).marker(0xCAFE_F00D)).unwrap();
    let bytes = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    assert_eq!(bytes.len(), 8192);
    let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let le64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[0..4], &[0x4C, 0x41, 0x57, 0x55]);
    assert_eq!((le32(0), le32(4)), (MAGIC, VERSION));
    let created = i64::from_le_bytes(bytes[8..16].try_into().unwrap());
    assert!(created >= before && created - before < 60_000_000_000);
    assert_eq!(le64(16), le64(8), "last_modified_at = created_at");
    assert_eq!(le64(24), 64, "write_offset");
    assert_eq!(le64(32), 0, "entry_count");
    assert_eq!(le32(40), SegmentFlags::ACTIVE | SegmentFlags::WATERMARK);
    assert_eq!(le64(44), 0, "first_log_index");
    assert_eq!(le32(52), 0xCAFE_F00D, "marker");
    assert_eq!(le32(56), walfs::core::crc::crc32c(&bytes[..56]));
    assert_eq!(&bytes[60..64], &[0; 4]);
    assert!(bytes[64..].iter().all(|&b| b == 0));

    let mut positions = Vec::new();
    for n in 0..=17u64 {
        positions.push((n, wal.append(&payload(n, n as usize)).unwrap()));
    }
    wal.sync().unwrap();
    let bytes = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    for pair in positions.windows(2) {
        let ((n, at), (_, next)) = (pair[0], pair[1]);
        assert_eq!(next.offset - at.offset, align8(16 + n), "frame of {n}");
    }
    for (n, position) in positions {
        let at = position.offset as usize;
        let n = n as usize;
        let data = payload(n as u64, n);
        assert_eq!(&bytes[at..at + 4], &record_crc(&data).to_le_bytes());
        assert_eq!(&bytes[at + 4..at + 8], &(n as u32).to_le_bytes());
        assert_eq!(&bytes[at + FRAME_HEADER_LEN..at + 8 + n], data.as_slice());
        assert_eq!(&bytes[at + 8 + n..at + 16 + n], &TRAILER);
        let end = at + align8(16 + n as u64) as usize;
        assert!(
            bytes[at + 16 + n..end].iter().all(|&b| b == 0),
            "padding of {n}"
        );
    }
}

/// beyond (§13.1, §13.17): damage below the durable watermark is reported with segment, offset
/// and reason, and opening fails unless a repair policy is chosen, whose report names the cut;
/// a bad frame above the watermark is a torn tail, cut, and the valid-looking frame after it
/// is erased, so it does not come back even when the next write has the same size.
#[test]
fn damage_below_the_watermark_is_reported_and_a_torn_tail_above_it_is_cut_and_erased() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let positions: Vec<Position> = (0..5)
        .map(|i| wal.append(&payload(i, 50)).unwrap())
        .collect();
    wal.sync().unwrap();
    drop(wal);
    flip(
        &segment_path(dir.path(), 1),
        positions[2].offset + 8 + 10,
        0x08,
    );
    let error = Wal::open(dir.path(), options(4096)).unwrap_err();
    let (segment, offset, reason) = error.corruption().expect("typed corruption");
    assert_eq!((segment, offset), (SegmentId(1), positions[2].offset));
    assert!(
        matches!(reason, CorruptionReason::BadCrc { .. }),
        "{reason:?}"
    );
    let (wal, report) = Wal::open_with_report(
        dir.path(),
        options(4096).repair(RepairPolicy::TruncateAtDamage),
    )
    .unwrap();
    assert_eq!(report.repaired.len(), 1);
    let (segment, damage) = &report.repaired[0];
    assert_eq!(
        (*segment, damage.offset),
        (SegmentId(1), positions[2].offset)
    );
    assert_eq!(damage.frames_after.count, 2, "what the repair cut");
    assert_eq!(read_all(&wal).len(), 2);
    drop(wal);

    let torn = tempdir();
    let wal = Wal::open(torn.path(), options(4096)).unwrap();
    let mut positions: Vec<Position> = (0..6)
        .map(|i| wal.append(&payload(i, 50)).unwrap())
        .collect();
    wal.sync().unwrap();
    positions.extend((6..8).map(|i| wal.append(&payload(i, 50)).unwrap()));
    drop(wal);
    flip(&segment_path(torn.path(), 1), positions[6].offset + 8, 0x01);
    let (wal, report) = Wal::open_with_report(torn.path(), options(4096)).unwrap();
    assert!(report.repaired.is_empty());
    assert_eq!(report.torn_tails.len(), 1);
    let (segment, damage) = &report.torn_tails[0];
    assert_eq!(
        (*segment, damage.offset),
        (SegmentId(1), positions[6].offset)
    );
    assert_eq!(damage.frames_after.count, 1);
    assert_eq!(read_all(&wal).len(), 6);
    let rewritten = wal.append(&payload(60, 50)).unwrap();
    assert_eq!(rewritten, positions[6], "same frame size, same place");
    drop(wal);
    let wal = Wal::open(torn.path(), options(4096)).unwrap();
    let records = read_all(&wal);
    assert_eq!(records.len(), 7, "the stale record 7 did not come back");
    assert_eq!(records[6].1, payload(60, 50));
}

/// beyond (§13.2): truncated records never come back, even after new writes pass the 1 KiB the
/// Go original zeroes.
#[test]
fn after_truncation_and_many_new_writes_a_reopen_returns_exactly_the_kept_and_new_records() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    append_range(&wal, 1..=40);
    wal.truncate_after(5).unwrap();
    let new: Vec<Vec<u8>> = (6..=20).map(|i| payload(1000 + i, 100)).collect();
    for (i, data) in (6..=20).zip(&new) {
        wal.append_indexed(data, i).unwrap();
    }
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), options(64 * 1024)).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 20)));
    let records = read_all(&wal);
    assert_eq!(records.len(), 20);
    for (i, (_, bytes)) in (1..=20u64).zip(&records) {
        let expected = if i <= 5 {
            payload(i, 100)
        } else {
            new[i as usize - 6].clone()
        };
        assert_eq!(*bytes, expected, "record {i}");
    }
}

/// beyond (§13.14): the Go fixture 02 (64 KiB segments) opened with 32 KiB keeps every file at
/// 64 KiB and every record; only new segments get the new size.
#[test]
fn opening_with_another_segment_size_never_shrinks_a_file_or_loses_a_record() {
    let manifest = manifest("02-rotated-mixed");
    let written = fixture_payloads(&manifest);
    let dir = copy_fixture("02-rotated-mixed");
    let wal = Wal::open(dir.path(), options(32 * 1024)).unwrap();
    let records = read_all(&wal);
    assert_eq!(records.len(), 44);
    for (position, bytes) in &records {
        assert_eq!(*bytes, written[position].1, "{position}");
    }
    for id in 1..=7 {
        assert_eq!(
            std::fs::metadata(segment_path(dir.path(), id))
                .unwrap()
                .len(),
            65536
        );
    }
    while wal.active_segment() == SegmentId(7) {
        wal.append(&payload(1, 4000)).unwrap();
    }
    assert_eq!(
        std::fs::metadata(segment_path(dir.path(), 8))
            .unwrap()
            .len(),
        32 * 1024
    );
    drop(wal);
    for id in 1..=7 {
        assert_eq!(
            std::fs::metadata(segment_path(dir.path(), id))
                .unwrap()
                .len(),
            65536
        );
    }
    let wal = Wal::open(dir.path(), options(65536)).unwrap();
    assert!(read_all(&wal).len() > 44);
}

/// Set in the child process of the lock test: the directory to try to open.
const LOCK_CHILD: &str = "WALFS_SPEC_LOCK_CHILD_DIR";

/// beyond (§13.5): while one `Wal` has the directory open, a second open fails with the typed
/// `Error::Locked`, in this process and in another one (this test binary run again as a child).
#[test]
fn a_second_open_fails_with_a_typed_error_from_this_and_another_process() {
    if let Ok(dir) = std::env::var(LOCK_CHILD) {
        let result = Wal::open(&dir, options(4096));
        assert!(matches!(result, Err(Error::Locked { .. })), "{result:?}");
        return;
    }
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    wal.append(b"first").unwrap();
    assert!(matches!(
        Wal::open(dir.path(), options(4096)),
        Err(Error::Locked { .. })
    ));
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_second_open_fails_with_a_typed_error_from_this_and_another_process",
            "--test-threads=1",
        ])
        .env(LOCK_CHILD, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child: {stdout}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
    drop(wal);
    Wal::open(dir.path(), options(4096)).unwrap();
}

fn mem_options() -> WalOptions {
    WalOptions {
        segment_size: 1024,
        ..WalOptions::default()
    }
}

/// beyond (§13.4): after an injected msync failure (the storage trait's `persist`, here in
/// walfs-core's `MemStorage`) every later write, sync, rotation and truncation fails with
/// `Poisoned` until the WAL is reopened.
#[test]
fn after_an_injected_sync_failure_every_change_fails_until_reopen() {
    let (mut engine, _) = WalEngine::open(MemStorage::new(), mem_options()).unwrap();
    engine.append(b"synced", 1).unwrap();
    engine.sync().unwrap();
    engine.append(b"pending", 2).unwrap();
    engine.storage().faults().fail_next_persist.set(true);
    let error = engine.sync().unwrap_err();
    assert!(
        matches!(error, walfs::core::Error::Region { .. }),
        "{error:?}"
    );
    assert!(engine.is_poisoned());
    let poisoned = |result: Result<(), walfs::core::Error<walfs::core::testing::MemError>>| {
        assert!(
            matches!(
                result,
                Err(walfs::core::Error::Poisoned {
                    first_failure: RegionErrorKind::Io,
                    ..
                })
            ),
            "{result:?}"
        );
    };
    poisoned(engine.sync());
    poisoned(engine.sync());
    poisoned(engine.append(b"later", 3).map(|_| ()));
    poisoned(engine.rotate().map(|_| ()));
    poisoned(engine.truncate_after(1));
    let (mut engine, _) = WalEngine::open(engine.into_storage(), mem_options()).unwrap();
    assert!(!engine.is_poisoned());
    assert_eq!(engine.log_index_bounds().map(|(first, _)| first), Some(1));
    let next = engine.next_log_index().unwrap();
    engine.append(b"after reopen", next).unwrap();
    engine.sync().unwrap();
}

/// beyond (§13.3): a full medium when a segment is created (`MemStorage`'s `no_space`; `FsStorage`
/// maps ENOSPC from `fallocate` to the same `RegionErrorKind::NoSpace`) is an error at rotation,
/// never a fault in the middle of a write; the records written stay, and after a reopen with
/// space the log continues in a new segment.
#[test]
fn no_space_when_a_segment_is_created_is_an_error_at_rotation() {
    let (mut engine, _) = WalEngine::open(MemStorage::new(), mem_options()).unwrap();
    let mut positions = Vec::new();
    engine.storage().faults().no_space.set(true);
    let error = loop {
        match engine.append(&payload(positions.len() as u64, 100), 0) {
            Ok(position) => positions.push(position),
            Err(error) => break error,
        }
    };
    assert!(
        matches!(
            &error,
            walfs::core::Error::Storage {
                op: walfs::core::storage::StorageOp::Create,
                source,
                ..
            } if source.kind == RegionErrorKind::NoSpace
        ),
        "{error:?}"
    );
    assert_eq!(positions.len(), 8, "the first segment filled up");
    assert!(positions.iter().all(|p| p.segment == SegmentId(1)));
    let mut buf = vec![0u8; 128];
    for (i, position) in positions.iter().enumerate() {
        let frame = engine.read(*position).unwrap();
        let data = engine
            .read_payload(position.segment, &frame, &mut buf)
            .unwrap();
        assert_eq!(data, payload(i as u64, 100).as_slice());
    }
    let storage = engine.into_storage();
    storage.faults().no_space.set(false);
    let (mut engine, report) = WalEngine::open(storage, mem_options()).unwrap();
    assert_eq!(report.created, Some(SegmentId(2)), "{report:?}");
    assert_eq!(
        engine.append(b"more", 0).unwrap(),
        Position::new(SegmentId(2), 64)
    );
}

/// beyond (§13.6): a gap, a repeat or a decrease in log indexes is refused with
/// `LogIndexMismatch`, single or batched, and nothing is written.
#[test]
fn non_contiguous_or_decreasing_log_indexes_are_refused_and_nothing_is_written() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    append_range(&wal, 1..=3);
    let before = wal.segments();
    let file_before = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    for bad in [5, 3, 2, 1] {
        assert!(matches!(
            core_error(wal.append_indexed(b"bad", bad)),
            walfs::core::Error::LogIndexMismatch {
                expected: 4,
                found,
                ..
            } if found == bad
        ));
        assert!(matches!(
            core_error(wal.append_batch_indexed(&[b"a", b"b"], bad)),
            walfs::core::Error::LogIndexMismatch { expected: 4, .. }
        ));
    }
    assert_eq!(wal.segments(), before);
    assert_eq!(
        std::fs::read(segment_path(dir.path(), 1)).unwrap(),
        file_before
    );
    assert_eq!(read_all(&wal).len(), 3);
    wal.append_indexed(b"four", 4).unwrap();
}

/// beyond (§13.7): a reader at the end of the active segment continues into the next segment
/// after a rotation, and `next_timeout` waits until new data or the deadline.
#[test]
fn a_reader_at_the_tail_follows_rotation_and_waits_for_new_data_or_a_deadline() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    wal.append(b"one").unwrap();
    let mut reader = wal.reader();
    assert_eq!(reader.next().unwrap().unwrap().payload(), b"one");
    assert!(reader.next().unwrap().is_none());
    wal.rotate().unwrap();
    wal.append(b"two").unwrap();
    let record = reader.next().unwrap().unwrap();
    assert_eq!(
        (record.position(), record.payload()),
        (Position::new(SegmentId(2), 64), &b"two"[..])
    );
    drop(record);
    let started = Instant::now();
    assert!(
        reader
            .next_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            wal.rotate().unwrap();
            wal.append(b"three").unwrap();
        });
        let started = Instant::now();
        let record = reader
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("woken by the append");
        assert_eq!(record.payload(), b"three");
        assert_eq!(record.position().segment, SegmentId(3));
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

/// beyond (§13.12): the Go fixture 11 ends with a sealed segment; the open adds a new active
/// segment and writes succeed (Go refuses them with `ErrSegmentSealed`).
#[test]
fn a_sealed_last_segment_is_followed_by_a_new_active_segment_on_open() {
    let dir = copy_fixture("11-all-sealed");
    let (wal, report) = Wal::open_with_report(dir.path(), options(65536)).unwrap();
    assert_eq!(report.created, Some(SegmentId(3)));
    assert_eq!(wal.active_segment(), SegmentId(3));
    assert_eq!(
        wal.append(b"probe").unwrap(),
        Position::new(SegmentId(3), 64)
    );
    drop(wal);
    let wal = Wal::open(dir.path(), options(65536)).unwrap();
    let records = read_all(&wal);
    assert_eq!(records.len(), 61);
    assert_eq!(records[60].1, b"probe");
}

/// beyond (§13.18): a last segment whose header never reached the disk (all zeros, or a header
/// torn by a crash during creation, zeros after it) counts as never created: the open succeeds
/// with every earlier record and writes continue. A damaged header in a segment with records is
/// corruption and is reported.
#[test]
fn a_never_written_last_segment_is_ignored_but_a_damaged_header_with_records_is_reported() {
    for torn_header in [false, true] {
        let dir = tempdir();
        let wal = Wal::open(dir.path(), options(4096)).unwrap();
        let positions: Vec<Position> = (0..5)
            .map(|i| wal.append(&payload(i, 100)).unwrap())
            .collect();
        wal.rotate().unwrap();
        wal.close().unwrap();
        let path = segment_path(dir.path(), 2);
        let mut bytes = std::fs::read(&path).unwrap();
        let header = bytes[..HEADER_LEN].to_vec();
        bytes.fill(0);
        if torn_header {
            bytes[..20].copy_from_slice(&header[..20]);
        }
        std::fs::write(&path, &bytes).unwrap();
        let (wal, report) = Wal::open_with_report(dir.path(), options(4096)).unwrap();
        assert_eq!(report.removed_unwritten, Some(SegmentId(2)), "{report:?}");
        let records = read_all(&wal);
        assert_eq!(
            records.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            positions
        );
        let next = wal.append(b"continues").unwrap();
        assert_eq!(next.segment, SegmentId(2));
    }

    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    wal.append(b"one").unwrap();
    wal.rotate().unwrap();
    wal.append(b"two").unwrap();
    wal.close().unwrap();
    flip(&segment_path(dir.path(), 2), 8, 0x01);
    let error = Wal::open(dir.path(), options(4096)).unwrap_err();
    let (segment, offset, reason) = error.corruption().expect("typed corruption");
    assert_eq!((segment, offset), (SegmentId(2), 0));
    assert!(
        matches!(reason, CorruptionReason::BadHeaderCrc { .. }),
        "{reason:?}"
    );
}

// Counting allocator for the §13.10 test: counts allocations made by the current thread while
// counting is on, and forwards everything to the system allocator.

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds as it does for `System`; counting touches only thread-locals
// that need no allocation (const-initialised `Cell`s without destructors).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes there) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `realloc`'s contract, passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result and the allocations this thread made meanwhile.
fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    let out = f();
    COUNTING.with(|counting| counting.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

/// beyond (§13.10): creating a reader and reading records (across segments, payload views
/// included) allocate nothing.
#[test]
fn creating_a_reader_and_reading_records_allocate_nothing() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(8192).sync_policy(SyncPolicy::Manual)).unwrap();
    for i in 0..300 {
        wal.append(&payload(i, 100)).unwrap();
    }
    assert!(wal.segments().len() >= 4);
    let (_, counted) = allocations_during(|| std::hint::black_box(Box::new(7u64)));
    assert_eq!(counted, 1, "the counter sees allocations");
    let (mut reader, created) = allocations_during(|| wal.reader());
    assert_eq!(created, 0, "creating a reader");
    let (count, reading) = allocations_during(|| {
        let mut count = 0u64;
        while let Some(record) = reader.next().unwrap() {
            assert_eq!(record.payload().len(), 100);
            count += 1;
        }
        count
    });
    assert_eq!(count, 300);
    assert_eq!(reading, 0, "reading 300 records over several segments");
}

/// [`TestReader_WithCustomDecoder`] A reader with a prefix-stripping decoder returns the
/// stripped payloads, then `None` (ours has one "nothing yet" answer for end of data and
/// `NoNewData`).
#[test]
fn a_prefix_stripping_decoder_returns_the_stripped_payloads_then_none() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let mut positions = Vec::new();
    for i in 0..20u64 {
        positions.push(wal.append(format!("v1:record-{i}").as_bytes()).unwrap());
    }
    let mut reader = wal.reader().with_decoder(|payload: &[u8]| {
        payload
            .strip_prefix(b"v1:")
            .map(<[u8]>::to_vec)
            .ok_or("no v1 prefix")
    });
    for (i, position) in positions.iter().enumerate() {
        let (at, decoded) = reader.next().unwrap().expect("a record");
        assert_eq!(at, *position);
        assert_eq!(decoded.unwrap(), format!("record-{i}").into_bytes());
    }
    assert!(reader.next().unwrap().is_none());
    assert!(
        reader
            .next_timeout(Duration::from_millis(10))
            .unwrap()
            .is_none()
    );
    let position = wal.append(b"v1:late").unwrap();
    let (at, decoded) = reader.next().unwrap().expect("the late record");
    assert_eq!((at, decoded.unwrap()), (position, b"late".to_vec()));
}

/// [`TestReader_DecoderError`] A decoder error comes back from `next` with the record's
/// position; the record counts as read, so the following one is next.
#[test]
fn a_decoder_error_is_returned_with_its_position_and_the_reader_moves_on() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let good = wal.append(b"1").unwrap();
    let bad = wal.append(b"not a number").unwrap();
    let after = wal.append(b"3").unwrap();
    let mut reader = wal
        .reader()
        .with_decoder(|payload: &[u8]| std::str::from_utf8(payload).unwrap().parse::<u32>());
    assert_eq!(reader.next().unwrap().unwrap(), (good, Ok(1)));
    let (at, decoded) = reader.next().unwrap().unwrap();
    assert_eq!(at, bad);
    assert!(decoded.is_err(), "{decoded:?}");
    assert_eq!(reader.reader().last_position(), Some(bad));
    assert_eq!(reader.next().unwrap().unwrap(), (after, Ok(3)));
    assert!(reader.next().unwrap().is_none());
    let mut plain = reader.into_inner();
    assert!(
        plain.next().unwrap().is_none(),
        "into_inner keeps the place"
    );
}

/// [`TestNoopDecoder_Decode`] Without a decoder a reader returns every payload unchanged
/// (empty, text, binary), and an identity decoder gives the same bytes.
#[test]
fn without_a_decoder_payloads_come_back_unchanged() {
    let dir = tempdir();
    let wal = Wal::open(dir.path(), options(4096)).unwrap();
    let binary: Vec<u8> = (0..=255).collect();
    let payloads: [&[u8]; 3] = [b"", b"some text", &binary];
    for payload in payloads {
        wal.append(payload).unwrap();
    }
    let mut plain = wal.reader();
    for payload in payloads {
        assert_eq!(plain.next().unwrap().unwrap().payload(), payload);
    }
    assert!(plain.next().unwrap().is_none());
    let mut identity = wal
        .reader()
        .with_decoder(|payload: &[u8]| Ok::<_, std::convert::Infallible>(payload.to_vec()));
    for payload in payloads {
        assert_eq!(identity.next().unwrap().unwrap().1.unwrap(), payload);
    }
    assert!(identity.next().unwrap().is_none());
}
