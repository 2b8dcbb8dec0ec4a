//! The std backend end to end, on real files in temporary directories.
#![cfg(not(loom))]
#![allow(clippy::cast_possible_truncation, reason = "small test values")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use walfs::core::format::HEADER_LEN;
use walfs::core::{IndexEntry, SegmentHeader};
use walfs::{
    Error, IndexRelease, Options, Position, RepairPolicy, RetentionPolicy, SegmentId, SyncPolicy,
    Wal,
};

mod common;
use common::read_all;

fn small() -> Options {
    Options::new().segment_size(4096)
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

#[test]
fn quick_start_appends_syncs_reads_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options::new()).unwrap();
    let position = wal.append(b"hello").unwrap();
    assert_eq!(position, Position::new(SegmentId(1), 64));
    wal.sync().unwrap();
    assert_eq!(&*wal.read(position).unwrap(), b"hello");
    drop(wal);
    let file = dir.path().join("000000001.wal");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 16 * 1024 * 1024);
    let wal = Wal::open(dir.path(), Options::new()).unwrap();
    assert_eq!(read_all(&wal), vec![(position, b"hello".to_vec())]);
}

#[test]
fn files_decode_with_the_core_format_as_the_go_original_expects() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    let positions = wal
        .append_batch_indexed(&[payload(1, 100), payload(2, 200)], 1)
        .unwrap();
    wal.rotate().unwrap();
    drop(wal);
    let bytes = std::fs::read(dir.path().join("000000001.wal")).unwrap();
    let header = SegmentHeader::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
    assert!(header.flags.is_sealed() && !header.flags.is_active());
    assert_eq!(header.entry_count, 2);
    assert_eq!(header.first_log_index, 1);
    assert_eq!(header.write_offset, 64 + 120 + 216);
    let index = std::fs::read(dir.path().join("000000001.wal.idx")).unwrap();
    assert_eq!(index.len(), 32);
    let entries: Vec<IndexEntry> = index
        .chunks(16)
        .map(|c| IndexEntry::decode(c.try_into().unwrap()))
        .collect();
    assert_eq!(entries[0].offset, positions[0].offset);
    assert_eq!(entries[1].payload_len, 200);
    assert_eq!(
        &bytes[64 + 8 + 100..64 + 16 + 100],
        &walfs::core::format::TRAILER
    );
}

#[test]
fn close_syncs_and_releases_the_directory_lock() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    wal.append(b"kept").unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!(wal.segments()[0].durable_end, 64 + 24);
    assert_eq!(read_all(&wal).len(), 1);
}

#[test]
fn a_second_open_of_the_directory_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert!(matches!(
        Wal::open(dir.path(), small()),
        Err(Error::Locked { .. })
    ));
    // A read-only open takes no lock.
    let reader = Wal::open(dir.path(), small().read_only(true)).unwrap();
    assert!(matches!(
        reader.append(b"x"),
        Err(Error::Wal(walfs::core::Error::ReadOnly { .. }))
    ));
    drop(wal);
    Wal::open(dir.path(), small()).unwrap();
}

#[test]
fn reader_follows_rotation_and_waits_for_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::new().segment_size(512)).unwrap());
    let mut reader = wal.reader();
    assert!(reader.next().unwrap().is_none());
    let writer = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            for i in 0..50 {
                wal.append(&payload(i, 100)).unwrap();
                if i % 7 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let mut seen = 0;
    while seen < 50 {
        let record = reader
            .next_timeout(Duration::from_secs(5))
            .unwrap()
            .expect("a record within 5 s");
        assert_eq!(record.payload(), payload(seen, 100).as_slice());
        seen += 1;
    }
    writer.join().unwrap();
    assert!(
        wal.active_segment() > SegmentId(5),
        "the reader crossed rotations"
    );
    assert!(
        reader
            .next_timeout(Duration::from_millis(10))
            .unwrap()
            .is_none()
    );
}

#[test]
fn concurrent_appenders_and_syncers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::new().segment_size(64 * 1024)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                let mut positions = Vec::new();
                for i in 0..200 {
                    let data = payload(t * 1000 + i, 64);
                    positions.push((wal.append(&data).unwrap(), data));
                    if i % 10 == 0 {
                        wal.sync().unwrap();
                    }
                }
                positions
            })
        })
        .collect();
    let written: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    wal.sync().unwrap();
    for (position, data) in &written {
        assert_eq!(&*wal.read(*position).unwrap(), data.as_slice());
    }
    drop(wal);
    let wal = Wal::open(dir.path(), Options::new().segment_size(64 * 1024)).unwrap();
    assert_eq!(read_all(&wal).len(), 800);
}

#[test]
fn sync_policies_make_writes_durable_without_explicit_sync() {
    for policy in [SyncPolicy::EveryWrite, SyncPolicy::Bytes(1000)] {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), small().sync_policy(policy)).unwrap();
        for i in 0..20 {
            wal.append(&payload(i, 100)).unwrap();
        }
        let durable = wal.segments()[0].durable_end;
        assert!(durable > 64, "{policy:?}: something was synced");
    }
}

#[test]
fn corruption_below_the_watermark_is_refused_by_default_and_repaired_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    let positions: Vec<Position> = (0..5)
        .map(|i| wal.append(&payload(i, 50)).unwrap())
        .collect();
    wal.sync().unwrap();
    wal.sync().unwrap();
    drop(wal);
    damage(&dir.path().join("000000001.wal"), positions[2].offset + 20);
    let error = Wal::open(dir.path(), small()).unwrap_err();
    let (segment, offset, _) = error.corruption().expect("a corruption error");
    assert_eq!((segment, offset), (SegmentId(1), positions[2].offset));
    let (wal, report) =
        Wal::open_with_report(dir.path(), small().repair(RepairPolicy::TruncateAtDamage)).unwrap();
    assert_eq!(report.repaired.len(), 1);
    assert_eq!(read_all(&wal).len(), 2);
}

fn damage(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncation_is_refused_while_a_record_view_of_the_segment_is_alive() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    for i in 1..=10 {
        wal.append_indexed(&payload(i, 40), i).unwrap();
    }
    let view = wal.read(wal.position_for_index(2).unwrap()).unwrap();
    assert!(matches!(
        wal.truncate_after(5),
        Err(Error::SegmentInUse {
            segment: SegmentId(1)
        })
    ));
    assert_eq!(view.as_ref(), payload(2, 40).as_slice());
    drop(view);
    wal.truncate_after(5).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 5)));
    wal.append_indexed(b"six", 6).unwrap();
}

#[test]
fn a_reader_past_a_truncation_point_gets_an_error_not_a_silent_jump() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    for i in 1..=10 {
        wal.append_indexed(&payload(i, 40), i).unwrap();
    }
    let mut reader = wal.reader();
    for _ in 0..8 {
        reader.next().unwrap().unwrap();
    }
    wal.truncate_after(3).unwrap();
    for i in 4..=12 {
        wal.append_indexed(&payload(100 + i, 40), i).unwrap();
    }
    assert!(reader.next().is_err());
}

#[test]
fn retention_keeps_segments_a_reader_holds_and_removes_them_later() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options::new().segment_size(512)).unwrap();
    for i in 0..30 {
        wal.append(&payload(i, 200)).unwrap();
    }
    let total = wal.segments().len();
    assert!(total >= 10);
    let mut reader = wal.reader();
    reader.next().unwrap().unwrap(); // holds segment 1
    let policy = RetentionPolicy {
        max_segments: Some(3),
        ..RetentionPolicy::default()
    };
    assert!(wal.apply_retention(&policy, |_| true).unwrap().is_empty());
    assert!(dir.path().join("000000001.wal").exists());
    drop(reader);
    let removed = wal.apply_retention(&policy, |_| true).unwrap();
    assert_eq!(removed.len(), total - 3);
    assert!(!dir.path().join("000000001.wal").exists());
    assert!(!dir.path().join("000000001.wal.idx").exists());
    assert_eq!(wal.segments().len(), 3);
    // A predicate can hold segments back.
    assert!(
        wal.apply_retention(
            &RetentionPolicy {
                max_segments: Some(1),
                ..RetentionPolicy::default()
            },
            |_| false
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn stray_files_and_non_canonical_names_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1.wal"), b"not a canonical name").unwrap();
    std::fs::write(dir.path().join("foo.wal"), b"x").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("000000007.wal")).unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!(wal.active_segment(), SegmentId(1));
    assert_eq!(
        std::fs::read(dir.path().join("1.wal")).unwrap(),
        b"not a canonical name"
    );
}

#[test]
fn bad_positions_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    let position = wal.append(b"hello").unwrap();
    let core = |r: Result<walfs::RecordView, Error>| match r {
        Err(Error::Wal(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert!(matches!(
        core(wal.read(Position::new(SegmentId(9999), 64))),
        walfs::core::Error::NoSuchSegment { .. }
    ));
    assert!(matches!(
        core(wal.read(Position::new(SegmentId(1), 0))),
        walfs::core::Error::OffsetBeforeHeader { .. }
    ));
    assert!(matches!(
        core(wal.read(Position::new(SegmentId(1), 1 << 20))),
        walfs::core::Error::OffsetOutOfBounds { .. }
    ));
    assert!(matches!(
        core(wal.read(Position::new(SegmentId(1), 68))),
        walfs::core::Error::NotARecordStart { .. }
    ));
    assert!(matches!(
        core(wal.read(Position::new(SegmentId(1), position.offset + 24))),
        walfs::core::Error::NoRecord { .. }
    ));
    assert!(matches!(
        wal.append(&vec![0u8; 4096]),
        Err(Error::Wal(walfs::core::Error::RecordTooLarge { .. }))
    ));
    wal.append_indexed(b"a", 5).unwrap();
    assert!(matches!(
        wal.append_indexed(b"b", 7),
        Err(Error::Wal(walfs::core::Error::LogIndexMismatch {
            expected: 6,
            ..
        }))
    ));
}

#[test]
fn go_fixture_directory_opens_and_reads_every_record() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/go-walfs/02-rotated-mixed/wal");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let wal = Wal::open(dir.path(), Options::new().segment_size(65536)).unwrap();
    assert_eq!(read_all(&wal).len(), 44);
    let position = wal.append(b"probe").unwrap();
    assert_eq!(
        position,
        Position::new(SegmentId(7), 21248),
        "where the Go original writes next"
    );
}

#[test]
fn rotation_hook_runs_outside_the_writer_lock_and_counts_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let wal = Arc::new(std::sync::OnceLock::<Wal>::new());
    let options = {
        let (seen, wal) = (Arc::clone(&seen), Arc::clone(&wal));
        Options::new().segment_size(512).on_rotate(move |id| {
            // Calling the WAL from the hook must not deadlock (SPEC §13.24).
            let active = wal.get().map(Wal::active_segment);
            seen.lock().unwrap().push((id, active));
        })
    };
    assert!(wal.set(Wal::open(dir.path(), options).unwrap()).is_ok());
    let wal = wal.get().unwrap();
    wal.rotate().unwrap();
    for i in 0..6 {
        wal.append(&payload(i, 200)).unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], (SegmentId(2), Some(SegmentId(2))));
    assert_eq!(seen.len() as u64, wal.rotation_count());
    assert!(wal.rotation_count() >= 3);
}

#[test]
fn bytes_per_sync_counts_its_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        Options::new().sync_policy(SyncPolicy::Bytes(32 * 1024)),
    )
    .unwrap();
    for i in 0..150 {
        wal.append(&payload(i, 1024)).unwrap();
    }
    // SPEC §14 TestSegmentManager_WriteRecordWithByteSync: 150 × 1040 bytes, 32 KiB → 4 syncs.
    assert_eq!(wal.threshold_sync_count(), 4);
}

#[test]
fn cleaner_removes_old_segments_only_when_the_predicate_agrees_and_stops_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options::new().segment_size(512)).unwrap();
    for i in 0..20 {
        wal.append(&payload(i, 200)).unwrap();
    }
    let policy = RetentionPolicy {
        max_segments: Some(2),
        ..RetentionPolicy::default()
    };
    let allowed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cleaner = {
        let allowed = Arc::clone(&allowed);
        wal.start_cleaner(
            Duration::from_millis(5),
            policy,
            move |_| allowed.load(std::sync::atomic::Ordering::SeqCst),
            |error| panic!("cleaner failed: {error}"),
        )
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        wal.segments().len() > 2,
        "the predicate held every segment back"
    );
    allowed.store(true, std::sync::atomic::Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while wal.segments().len() > 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(wal.segments().len(), 2);
    drop(cleaner);
}

#[test]
fn backups_copy_sealed_segments_and_their_index_files_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert!(matches!(
        wal.backup_last_sealed(backup.path()),
        Err(Error::Wal(walfs::core::Error::NoSuchSegment { .. }))
    ));
    for round in 0..3 {
        wal.append(&payload(round, 100)).unwrap();
        wal.rotate().unwrap();
    }
    let (id, copy) = wal.backup_last_sealed(backup.path()).unwrap();
    assert_eq!(id, SegmentId(3));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(dir.path().join("000000003.wal")).unwrap()
    );
    let copies = wal
        .backup_segments_after(SegmentId(1), backup.path())
        .unwrap();
    assert_eq!(
        copies.keys().copied().collect::<Vec<_>>(),
        vec![SegmentId(2), SegmentId(3)]
    );
    assert!(backup.path().join("000000002.wal.idx").exists());
    assert!(
        std::fs::read_dir(backup.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
    // A backup directory is a WAL that opens.
    std::fs::remove_file(backup.path().join("000000002.wal")).unwrap();
    std::fs::remove_file(backup.path().join("000000002.wal.idx")).unwrap();
    let restored = Wal::open(backup.path(), small()).unwrap();
    assert_eq!(read_all(&restored).len(), 1);
}

#[test]
fn backup_into_the_wal_directory_or_an_empty_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    wal.append(b"x").unwrap();
    wal.rotate().unwrap();
    assert!(matches!(
        wal.backup_last_sealed(dir.path()),
        Err(Error::Backup(_))
    ));
    let link = tempfile::tempdir().unwrap();
    let alias = link.path().join("alias");
    std::os::unix::fs::symlink(dir.path(), &alias).unwrap();
    assert!(
        matches!(wal.backup_last_sealed(&alias), Err(Error::Backup(_))),
        "a symlink to the WAL directory"
    );
    assert!(matches!(wal.backup_last_sealed(""), Err(Error::Backup(_))));
}

#[test]
fn reader_at_refuses_an_offset_past_the_segment_and_takes_nil_as_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    wal.append(b"a").unwrap();
    wal.rotate().unwrap();
    wal.append(b"b").unwrap();
    assert!(matches!(
        wal.reader_at(Position::new(SegmentId(1), 1 << 22)),
        Err(Error::Wal(walfs::core::Error::OffsetOutOfBounds {
            offset: 4_194_304,
            capacity: 4096,
            ..
        }))
    ));
    let mut from_nil = wal.reader_at(Position::NIL).unwrap();
    assert_eq!(from_nil.next().unwrap().unwrap().payload(), b"a");
}

#[test]
fn truncation_at_a_segment_boundary_cuts_the_segment_holding_the_last_record_kept() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    for i in 1..=3 {
        wal.append_indexed(b"r", i).unwrap();
        wal.rotate().unwrap();
    }
    wal.truncate_after(1).unwrap();
    assert_eq!(wal.active_segment(), SegmentId(1));
    let segments = wal.segments();
    assert_eq!(segments.len(), 1);
    assert!(!segments[0].sealed);
    assert_eq!(wal.log_index_bounds(), Some((1, 1)));
}

#[test]
fn wal_is_send_and_sync_and_readers_and_views_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Wal>();
    send::<walfs::Reader>();
    send::<walfs::Record>();
    send_sync::<walfs::RecordView>();
    send::<walfs::Cleaner>();
    send_sync::<Error>();
}

/// Appends `count` records with log indexes from 1, rotating after every `per_segment`.
fn indexed_log(wal: &Wal, count: u64, per_segment: u64) -> Vec<Position> {
    (1..=count)
        .map(|i| {
            let position = wal.append_indexed(&payload(i, 100), i).unwrap();
            if i % per_segment == 0 {
                wal.rotate().unwrap();
            }
            position
        })
        .collect()
}

/// SPEC §14 [`TestClearIndexFromMemory_ManualClearOnlySealedNotActive`]: releasing empties a
/// sealed segment's entries and leaves the active segment's; ours reads them back from the index
/// file when a lookup, a reopen or a truncation needs them.
#[test]
fn release_index_memory_drops_a_sealed_segments_table_and_it_is_reloaded_when_needed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    let positions = indexed_log(&wal, 7, 5);
    assert_eq!(wal.active_segment(), SegmentId(2));
    assert_eq!(wal.index_entries_in_memory(SegmentId(1)), Some(5));
    assert_eq!(wal.index_entries_in_memory(SegmentId(2)), Some(2));

    assert_eq!(
        wal.release_index_memory(SegmentId(1)).unwrap(),
        IndexRelease::Released { entries: 5 }
    );
    assert_eq!(wal.index_entries_in_memory(SegmentId(1)), Some(0));
    assert_eq!(
        wal.index_entries_in_memory(SegmentId(2)),
        Some(2),
        "the active segment's table is not touched"
    );
    assert_eq!(
        wal.release_index_memory(SegmentId(1)).unwrap(),
        IndexRelease::NotLoaded
    );
    // Everything that does not need the table still works without it.
    assert_eq!(wal.log_index_bounds(), Some((1, 7)));
    assert_eq!(read_all(&wal).len(), 7);
    assert_eq!(wal.index_entries_in_memory(SegmentId(1)), Some(0));
    // A lookup into the segment reads the table back from the index file.
    assert_eq!(wal.position_for_index(3).unwrap(), positions[2]);
    assert_eq!(wal.index_entries_in_memory(SegmentId(1)), Some(5));
    assert!(matches!(
        wal.release_index_memory(SegmentId(9)),
        Err(Error::Wal(walfs::core::Error::NoSuchSegment { .. }))
    ));
    wal.close().unwrap();

    // At open, sealed segments' tables stay on disk until needed.
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!(wal.index_entries_in_memory(SegmentId(1)), Some(0));
    assert_eq!(wal.index_entries_in_memory(SegmentId(2)), Some(2));
    assert_eq!(wal.position_for_index(5).unwrap(), positions[4]);
    assert_eq!(wal.index_entries_in_memory(SegmentId(1)), Some(5));
    // A truncation into a released segment loads it first.
    assert_eq!(
        wal.release_index_memory(SegmentId(1)).unwrap(),
        IndexRelease::Released { entries: 5 }
    );
    wal.truncate_after(4).unwrap();
    assert_eq!(wal.active_segment(), SegmentId(1));
    assert_eq!(wal.log_index_bounds(), Some((1, 4)));
    assert_eq!(wal.append_indexed(b"five", 5).unwrap(), positions[4]);
    assert_eq!(wal.position_for_index(5).unwrap(), positions[4]);
}

/// SPEC §14 [`TestClearIndexFromMemory_ActiveSegmentCannotBeCleared`]: releasing the active
/// segment's entries changes nothing.
#[test]
fn release_index_memory_on_the_active_segment_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    let positions = indexed_log(&wal, 7, 5);
    let active = wal.active_segment();
    let segments = wal.segments();
    let entries = wal.index_entries_in_memory(active);
    assert_eq!(
        wal.release_index_memory(active).unwrap(),
        IndexRelease::Unsealed
    );
    assert_eq!(wal.segments(), segments);
    assert_eq!(wal.index_entries_in_memory(active), entries);
    assert_eq!(wal.position_for_index(7).unwrap(), positions[6]);
    assert_eq!(wal.position_for_index(6).unwrap(), positions[5]);
    let next = wal.append_indexed(b"eight", 8).unwrap();
    assert_eq!(wal.position_for_index(8).unwrap(), next);
    assert_eq!(wal.index_entries_in_memory(active), Some(3));
}
