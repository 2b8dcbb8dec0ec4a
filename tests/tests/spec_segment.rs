//! SPEC §14, "segment_test.go": one test per behaviour line, named after the behaviour, with the
//! Go test name in brackets in its doc comment.
//!
//! The Go `Segment` is a public, reference-counted, closable object over a 16 MiB mmap. Here the
//! segment-level lines run against walfs-core's `Segment` over small RAM regions (sizes are kept
//! where a boundary is tested), and the lines about files, closing, reference counting and
//! concurrent readers run against the std crate `walfs` (`Wal`, `Reader`, `RecordView`), which
//! owns segments. Where our behaviour deliberately differs (SPEC §13), the test asserts ours and
//! its doc comment says how and why.
//!
//! Two differences recur and are stated once here:
//! - **CRC always checked.** Go skips the record CRC in the active segment and in segments sealed
//!   by rotation; every read here verifies it (SPEC §13.1, §5.2).
//! - **Header bookkeeping at sync.** Go rewrites the header's `write_offset` and `entry_count` on
//!   every write; here they form the durable watermark and are written by `sync`/`seal` (what
//!   `Close` does in Go), so the header never claims records that were not synced (SPEC §13.16).

#![allow(
    clippy::doc_markdown,
    reason = "doc comments quote SPEC §14 lines verbatim, Go identifiers and test names included"
)]
#![allow(
    clippy::drop_non_drop,
    reason = "dropping a segment ends its borrow of the bytes before the test reopens them"
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use walfs::{Error as WalError, Options, RetentionPolicy, SyncPolicy, Wal};
use walfs_core::format::{HEADER_LEN, MAGIC, TRAILER, VERSION, align8, frame_len};
use walfs_core::position::PositionTooShort;
use walfs_core::record::read_record;
use walfs_core::storage::Storage;
use walfs_core::testing::{MemStorage, NorRegion};
use walfs_core::{
    CorruptionReason, CrcCheck, CursorStep, Error, NextLogIndex, OpenOptions, OpenReport, Position,
    RamRegion, RamRegionError, Region, RegionRead, RepairPolicy, ScanStop, Segment, SegmentCursor,
    SegmentFlags, SegmentHeader, SegmentId, SegmentInit,
};

/// SPEC §1.8's timestamp: 1,700,000,000,000,000,000 ns.
const T: i64 = 1_700_000_000_000_000_000;
const ID: SegmentId = SegmentId(1);
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

type RamSegment<'a> = Segment<RamRegion<'a>>;

fn init() -> SegmentInit {
    SegmentInit {
        created_at: T,
        marker: 0,
        first_log_index: 0,
    }
}

fn create(bytes: &mut [u8]) -> RamSegment<'_> {
    Segment::create(RamRegion::new(bytes), ID, init()).unwrap()
}

fn reopen(bytes: &mut [u8]) -> (RamSegment<'_>, OpenReport) {
    Segment::open(RamRegion::new(bytes), ID, OpenOptions::default()).unwrap()
}

/// A segment opened read-only: the closest thing to a closed Go segment, it refuses every change.
fn closed(bytes: &mut [u8]) -> RamSegment<'_> {
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    Segment::open(RamRegion::new(bytes), ID, options).unwrap().0
}

/// `len` bytes that differ per `seed`.
fn data(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| u8::try_from((seed * 31 + j * 7) % 251).unwrap())
        .collect()
}

fn at(offset: u64) -> usize {
    usize::try_from(offset).unwrap()
}

/// The header as it is on the medium (not the in-memory copy).
fn stored_header(segment: &RamSegment<'_>) -> SegmentHeader {
    let bytes: &[u8; HEADER_LEN] = segment.region().as_slice()[..HEADER_LEN]
        .try_into()
        .unwrap();
    SegmentHeader::decode(bytes).unwrap()
}

/// Reads (CRC checked) and copies the payload of the record at `offset`.
fn payload_at(segment: &mut RamSegment<'_>, offset: u64) -> Vec<u8> {
    let frame = segment.read(offset).unwrap();
    segment.payload(&frame).unwrap().to_vec()
}

/// Every record a fresh segment reader returns, and the step that ended it.
fn drain(segment: &mut RamSegment<'_>) -> (Vec<(u64, Vec<u8>)>, CursorStep) {
    let mut cursor = SegmentCursor::new(segment.id());
    let mut records = Vec::new();
    loop {
        match cursor.next_in(segment).unwrap() {
            CursorStep::Record(frame) => {
                records.push((frame.offset, segment.payload(&frame).unwrap().to_vec()));
            }
            step => return (records, step),
        }
    }
}

fn offsets_of<P: AsRef<[u8]>>(batch: &walfs_core::BatchAppend, payloads: &[P]) -> Vec<u64> {
    batch.offsets(payloads).collect()
}

fn small_wal() -> Options {
    Options::new().segment_size(4096)
}

fn segment_file(dir: &Path, id: u32) -> std::path::PathBuf {
    dir.join(format!("{id:09}.wal"))
}

fn file_header(dir: &Path, id: u32) -> SegmentHeader {
    let bytes = std::fs::read(segment_file(dir, id)).unwrap();
    SegmentHeader::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap()
}

fn keep_one_segment() -> RetentionPolicy {
    RetentionPolicy {
        max_segments: Some(1),
        ..RetentionPolicy::default()
    }
}

/// A WAL with three records in sealed segment 1 and one in active segment 2.
fn wal_with_sealed_segment(dir: &Path) -> Wal {
    let wal = Wal::open(dir, small_wal()).unwrap();
    for i in 0..3 {
        wal.append(&data(i, 40)).unwrap();
    }
    wal.rotate().unwrap();
    wal.append(&data(3, 40)).unwrap();
    wal
}

/// A region that has a size and nothing else: to test the size limit without 4 GiB of memory.
#[derive(Debug)]
struct CapacityOnly(u64);

impl RegionRead for CapacityOnly {
    type Error = RamRegionError;

    fn capacity(&self) -> u64 {
        self.0
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), RamRegionError> {
        Err(RamRegionError {
            offset,
            len: buf.len() as u64,
            capacity: self.0,
        })
    }
}

impl Region for CapacityOnly {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), RamRegionError> {
        Err(RamRegionError {
            offset,
            len: data.len() as u64,
            capacity: self.0,
        })
    }

    fn persist(&mut self, _range: std::ops::Range<u64>) -> Result<(), RamRegionError> {
        Ok(())
    }

    fn sync(&mut self) -> Result<(), RamRegionError> {
        Ok(())
    }
}

/// Encoding then decoding positions (1,0), (42,1024), (9999,2^32), (0,−1) gives them back.
/// [TestChunkPositionEncodeDecode] Offsets are `u64` here, so Go's −1 is `u64::MAX`: the same
/// eight bytes on disk.
#[test]
fn positions_round_trip_through_their_encoding() {
    for (id, offset) in [(1, 0), (42, 1024), (9999, 1u64 << 32), (0, u64::MAX)] {
        let position = Position::new(SegmentId(id), offset);
        assert_eq!(Position::decode(&position.encode()), Ok(position));
    }
    let minus_one = Position::new(SegmentId(0), u64::MAX).encode();
    assert_eq!(&minus_one[4..], &(-1i64).to_le_bytes());
}

/// Opening a segment with size 4 GiB + 1 fails and the message names the 4 GiB limit.
/// [TestSegmentSizeLimit] The error is the typed `BadCapacity` (SPEC §13.35), whose text says
/// "outside 80 bytes ..= 4 GiB"; exactly 4 GiB passes the size check.
#[test]
fn segment_larger_than_4_gib_is_refused() {
    const FOUR_GIB: u64 = 4 << 30;
    let error = Segment::create(CapacityOnly(FOUR_GIB + 1), ID, init()).unwrap_err();
    assert!(matches!(
        error,
        Error::BadCapacity { capacity, .. } if capacity == FOUR_GIB + 1
    ));
    assert!(error.to_string().contains("4 GiB"), "{error}");
    assert!(matches!(
        Segment::open(CapacityOnly(FOUR_GIB + 1), ID, OpenOptions::default()),
        Err(Error::BadCapacity { .. })
    ));
    // 4 GiB itself is allowed: the open gets as far as reading the header.
    assert!(matches!(
        Segment::open(CapacityOnly(FOUR_GIB), ID, OpenOptions::default()),
        Err(Error::Region { offset: 0, .. })
    ));
}

/// A record of a segment that was sealed, closed and reopened reads back; after its crc bytes
/// are overwritten the read returns InvalidCRC. [TestRead_CRCCheckBehavior_AfterCloseReopen]
/// InvalidCRC is `Corrupt { reason: BadCrc }`, naming the segment and offset.
#[test]
fn reopened_sealed_record_reads_back_and_a_bad_crc_is_reported() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"sealed record", 0).unwrap();
    segment.seal(T).unwrap();
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    assert_eq!(payload_at(&mut segment, offset), b"sealed record");
    segment.region_mut().as_mut_slice()[at(offset)..at(offset) + 4]
        .copy_from_slice(&0xA5A5_A5A5u32.to_le_bytes());
    let error = segment.read(offset).unwrap_err();
    assert_eq!(error.segment(), Some(ID));
    assert!(matches!(
        error,
        Error::Corrupt {
            reason: CorruptionReason::BadCrc {
                stored: 0xA5A5_A5A5,
                ..
            },
            offset: o,
            ..
        } if o == offset
    ));
}

/// After `MarkSealedInMemory` the same damaged record reads without error (CRC check skipped).
/// [TestRead_CRCCheckBehavior_AfterCloseReopen] There is no `MarkSealedInMemory`: every read
/// verifies the CRC (SPEC §13.1), so a segment sealed in this process, as rotation seals it,
/// still reports the damaged record instead of returning garbage.
#[test]
fn segment_sealed_in_this_process_still_checks_the_crc() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"sealed by rotation", 0).unwrap();
    segment.seal(T).unwrap();
    segment.region_mut().as_mut_slice()[at(offset)] ^= 0xFF;
    assert!(matches!(
        segment.read(offset),
        Err(Error::Corrupt {
            reason: CorruptionReason::BadCrc { .. },
            ..
        })
    ));
    let mut cursor = SegmentCursor::new(ID);
    assert!(matches!(
        cursor.next_in(&mut segment),
        Err(Error::Corrupt { offset: o, .. }) if o == offset
    ));
}

/// Decoding a 5-byte buffer as a position fails. [TestDecodeChunkPosition_InvalidData]
#[test]
fn decoding_a_five_byte_position_fails() {
    assert_eq!(
        Position::decode(&[1, 2, 3, 4, 5]),
        Err(PositionTooShort { len: 5 })
    );
}

/// Records of 11, 4000 and 25000 bytes written, closed and reopened read back equal, and each
/// read's next offset = offset + align8(16 + n). [TestSegment_BasicOperations]
#[test]
fn records_of_several_sizes_read_back_after_reopen() {
    let mut bytes = vec![0u8; 32 * KIB];
    let mut segment = create(&mut bytes);
    let sizes = [11usize, 4000, 25000];
    let offsets: Vec<u64> = sizes
        .iter()
        .map(|&n| segment.append(&data(n, n), 0).unwrap())
        .collect();
    segment.sync(T).unwrap();
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    for (i, (&n, &offset)) in sizes.iter().zip(&offsets).enumerate() {
        let frame = segment.read(offset).unwrap();
        assert_eq!(segment.payload(&frame).unwrap(), data(n, n).as_slice());
        let next = offset + align8(16 + n as u64);
        assert_eq!(frame.next_offset(), next);
        assert_eq!(
            offsets.get(i + 1).copied().unwrap_or_else(|| segment.end()),
            next
        );
    }
}

/// A write with log index 42, then seal, close, reopen: the header's first_log_index is 42.
/// [TestSegmentHeaderStoresFirstLogIndex]
#[test]
fn first_log_index_is_stored_in_the_header_of_a_sealed_segment() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"forty-two", 42).unwrap();
    segment.seal(T).unwrap();
    drop(segment);
    let (segment, _) = reopen(&mut bytes);
    assert_eq!(stored_header(&segment).first_log_index, 42);
    assert_eq!(segment.first_log_index(), 42);
}

/// Writes with log indexes 101 then 102 leave first_log_index = 101 in memory and in the
/// header. [TestSegmentFirstLogIndexSetOnWrite]
#[test]
fn first_write_sets_first_log_index_in_memory_and_header() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"a", 101).unwrap();
    segment.append(b"b", 102).unwrap();
    assert_eq!(segment.first_log_index(), 101);
    assert_eq!(segment.header().first_log_index, 101);
    assert_eq!(stored_header(&segment).first_log_index, 101);
}

/// A segment batch with log indexes 21, 22, 23 sets first_log_index = 21 in memory and in the
/// header. [TestSegmentFirstLogIndexSetOnWriteBatch] A batch takes the first log index; the
/// others follow contiguously (SPEC §13.6).
#[test]
fn first_batch_sets_first_log_index_in_memory_and_header() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let batch = segment.append_batch(&[b"x", b"y", b"z"], 21).unwrap();
    assert_eq!(batch.written, 3);
    assert_eq!(segment.first_log_index(), 21);
    assert_eq!(stored_header(&segment).first_log_index, 21);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(24));
}

/// first_log_index 500 of an unsealed segment survives close and reopen.
/// [TestSegmentFirstLogIndexPersistsWhenUnsealed]
#[test]
fn first_log_index_of_an_unsealed_segment_survives_reopen() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"five hundred", 500).unwrap();
    segment.sync(T).unwrap();
    drop(segment);
    let (segment, _) = reopen(&mut bytes);
    assert!(!segment.is_sealed());
    assert_eq!(segment.first_log_index(), 500);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(501));
}

/// first_log_index 777 of a sealed segment survives close and reopen.
/// [TestSegmentFirstLogIndexPersistsWhenSealed]
#[test]
fn first_log_index_of_a_sealed_segment_survives_reopen() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"seven seven seven", 777).unwrap();
    segment.seal(T).unwrap();
    drop(segment);
    let (segment, _) = reopen(&mut bytes);
    assert!(segment.is_sealed());
    assert_eq!(segment.first_log_index(), 777);
}

/// Reopening a sealed segment (index flushed) with a log index attached fills it with indexes
/// 1..3 at the written positions; the map has exactly 3 entries.
/// [TestOpenSegmentFile_PopulatesLogIndexFromSealedIndex] The log index belongs to the `Wal`;
/// "exactly 3 entries" is bounds (1, 3) with nothing outside them.
#[test]
fn reopened_sealed_segment_feeds_the_log_index_from_its_index_file() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    let positions: Vec<Position> = (1..=3)
        .map(|i| wal.append_indexed(&data(i, 30), i as u64).unwrap())
        .collect();
    wal.rotate().unwrap();
    wal.close().unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("000000001.wal.idx"))
            .unwrap()
            .len(),
        3 * 16
    );
    let (wal, report) = Wal::open_with_report(dir.path(), small_wal()).unwrap();
    assert!(report.rebuilt_indexes.is_empty(), "the index file was used");
    for (i, position) in (1..=3).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(wal.log_index_bounds(), Some((1, 3)));
    assert!(wal.position_for_index(4).is_err());
}

/// Reopening an unsealed segment with a log index attached fills indexes 5..8 at the written
/// positions; exactly 4 entries. [TestOpenSegmentFile_PopulatesLogIndexFromUnsealedSegment]
#[test]
fn reopened_unsealed_segment_feeds_the_log_index_from_its_scan() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    let positions: Vec<Position> = (5..=8)
        .map(|i| wal.append_indexed(&data(i, 30), i as u64).unwrap())
        .collect();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    assert!(!wal.segments()[0].sealed);
    for (i, position) in (5..=8).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    assert_eq!(wal.log_index_bounds(), Some((5, 8)));
    assert!(wal.position_for_index(4).is_err());
    assert!(wal.position_for_index(9).is_err());
}

/// Reopening a sealed segment with clear-on-flush: `IndexEntries` is empty, but the log index
/// still holds 10..12 at the right positions (3 entries).
/// [TestOpenSegmentFile_SkipsIndexEntriesWhenClearIndexOnFlush] There is no clear-on-flush
/// option: a segment keeps 8 bytes per record instead of a hash map, so it never needs to drop
/// them, and truncating into a sealed segment keeps working (SPEC §13.11, where Go fails).
#[test]
fn reopened_sealed_segment_keeps_its_log_index_and_can_still_be_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    let positions: Vec<Position> = (10..=12)
        .map(|i| wal.append_indexed(&data(i, 30), i as u64).unwrap())
        .collect();
    wal.rotate().unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    for (i, position) in (10..=12).zip(&positions) {
        assert_eq!(wal.position_for_index(i).unwrap(), *position);
    }
    let first = wal.segments()[0];
    assert!(first.sealed);
    assert_eq!(first.record_count, 3);
    assert_eq!(
        (first.first_log_index, first.last_log_index),
        (Some(10), Some(12))
    );
    wal.truncate_after(11).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((10, 11)));
}

/// A segment reader returns 10 written records in order with the written offsets, then end of
/// data or NoNewData. [TestSegment_SequentialWrites] At the end of the active segment the
/// reader says `NoNewData`.
#[test]
fn segment_reader_returns_records_in_write_order() {
    let mut bytes = vec![0u8; 4 * KIB];
    let mut segment = create(&mut bytes);
    let written: Vec<(u64, Vec<u8>)> = (0..10)
        .map(|i| {
            let payload = data(i, 10 + i);
            (segment.append(&payload, 0).unwrap(), payload)
        })
        .collect();
    let (records, last) = drain(&mut segment);
    assert_eq!(records, written);
    assert_eq!(last, CursorStep::NoNewData);
}

/// 10 threads reading 100 positions concurrently all succeed. [TestSegment_ConcurrentReads]
/// Concurrent readers share a `Wal` (a core `Segment` is owned by one thread).
#[test]
fn ten_threads_read_the_same_positions_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::new().segment_size(64 * 1024)).unwrap());
    let positions: Arc<Vec<Position>> = Arc::new(
        (0..100)
            .map(|i| wal.append(&data(i, 64)).unwrap())
            .collect(),
    );
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (wal, positions) = (Arc::clone(&wal), Arc::clone(&positions));
            thread::spawn(move || {
                for (i, position) in positions.iter().enumerate() {
                    assert_eq!(&*wal.read(*position).unwrap(), data(i, 64).as_slice());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// A damaged crc in the active segment does not fail a read; with the sealed flag set it fails
/// with InvalidCRC; cleared again it succeeds. [TestSegment_InvalidCRC] Here the damaged record
/// fails in the active segment too (SPEC §13.1: Go would hand out corrupt bytes); the read
/// succeeds again once the bytes are repaired, sealed or not.
#[test]
fn damaged_crc_fails_the_read_in_active_and_sealed_segments() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"payload", 0).unwrap();
    let flip = |segment: &mut RamSegment<'_>| segment.region_mut().as_mut_slice()[at(offset)] ^= 1;
    let bad_crc = |segment: &mut RamSegment<'_>| {
        matches!(
            segment.read(offset),
            Err(Error::Corrupt {
                reason: CorruptionReason::BadCrc { .. },
                ..
            })
        )
    };
    flip(&mut segment);
    assert!(bad_crc(&mut segment), "active segment: the CRC is checked");
    flip(&mut segment);
    assert_eq!(payload_at(&mut segment, offset), b"payload");
    segment.seal(T).unwrap();
    flip(&mut segment);
    assert!(bad_crc(&mut segment), "sealed segment: the CRC is checked");
    flip(&mut segment);
    assert_eq!(payload_at(&mut segment, offset), b"payload");
}

/// After `SealSegment` (no rotation) the damaged record fails with InvalidCRC, and still does
/// after close and reopen. [TestSegment_InvalidCRC]
#[test]
fn damaged_record_of_a_sealed_segment_fails_before_and_after_reopen() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"payload", 0).unwrap();
    segment.seal(T).unwrap();
    segment.region_mut().as_mut_slice()[at(offset) + 9] ^= 0x10;
    let bad_crc = |segment: &mut RamSegment<'_>| {
        matches!(
            segment.read(offset),
            Err(Error::Corrupt {
                offset: o,
                reason: CorruptionReason::BadCrc { .. },
                ..
            }) if o == offset
        )
    };
    assert!(bad_crc(&mut segment));
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    assert!(bad_crc(&mut segment));
}

/// A record of an unsealed segment reads back after close and reopen.
/// [TestSegment_CloseAndReopen]
#[test]
fn unsealed_record_reads_back_after_reopen() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"still here", 0).unwrap();
    segment.sync(T).unwrap();
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    assert!(!segment.is_sealed());
    assert_eq!(payload_at(&mut segment, offset), b"still here");
}

/// With the write offset at S − 65536 + 1, a 64 KiB write fails. [TestLargeWriteBoundary]
/// Write offsets are always multiples of 8, so the nearest reachable offset, S − 65528, is used
/// (and S − 65552, where the frame fits exactly, for the other side); Go's plain "write exceeds
/// Segment size" is the typed `SegmentFull` here (SPEC §13.35).
#[test]
fn a_64_kib_write_fails_when_less_than_its_frame_is_left() {
    const S: usize = 128 * KIB;
    const RECORD: usize = 64 * KIB;
    let record = data(1, RECORD);
    let fill_to = |bytes: &mut Vec<u8>, end: usize| {
        let mut segment = create(bytes);
        segment.append(&data(0, end - 64 - 16), 0).unwrap();
        assert_eq!(at(segment.end()), end);
        segment.end()
    };
    let mut bytes = vec![0u8; S];
    let end = fill_to(&mut bytes, S - 65528);
    let mut segment = reopen(&mut bytes).0;
    assert!(!segment.fits(RECORD as u64));
    assert!(matches!(
        segment.append(&record, 0),
        Err(Error::SegmentFull { offset, frame_len: 65552, .. }) if offset == end
    ));
    assert_eq!(segment.end(), end);
    let mut bytes = vec![0u8; S];
    fill_to(&mut bytes, S - 65552);
    let mut segment = reopen(&mut bytes).0;
    assert!(segment.fits(RECORD as u64));
    segment.append(&record, 0).unwrap();
    assert_eq!(at(segment.end()), S);
}

/// Records of 1 KiB, 2 KiB, ... 1 MiB fit in one 16 MiB segment, read back equal, next offset =
/// offset + 16 + n. [TestSegment_WriteRead_1KBTo1MB]
#[test]
fn records_from_1_kib_to_1_mib_fit_in_one_16_mib_segment() {
    let mut bytes = vec![0u8; 16 * MIB];
    let mut segment = create(&mut bytes);
    let sizes: Vec<usize> = (0..=10).map(|k| KIB << k).collect();
    let offsets: Vec<u64> = sizes
        .iter()
        .map(|&n| segment.append(&data(n, n), 0).unwrap())
        .collect();
    segment.sync(T).unwrap();
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    assert_eq!(segment.record_count(), 11);
    for (&n, &offset) in sizes.iter().zip(&offsets) {
        let frame = segment.read(offset).unwrap();
        assert_eq!(frame.next_offset(), offset + 16 + n as u64);
        assert_eq!(segment.payload(&frame).unwrap(), data(n, n).as_slice());
    }
}

/// A length field of 0xFFFFFFFF makes the read fail with CorruptHeader.
/// [TestSegment_CorruptHeader] CorruptHeader is `Corrupt { reason: LengthOutOfRange }`.
#[test]
fn length_field_of_all_ones_is_reported_as_out_of_range() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"hello", 0).unwrap();
    segment.region_mut().as_mut_slice()[at(offset) + 4..at(offset) + 8]
        .copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        segment.read(offset),
        Err(Error::Corrupt {
            reason: CorruptionReason::LengthOutOfRange { length: u32::MAX },
            ..
        })
    ));
}

/// With the write offset moved to 7 bytes after a record's start, reading that record gives
/// end of data. [TestSegment_CorruptData] The end of the data can only sit on a frame boundary
/// here, so the test builds what Go's test models, a record of which only 7 bytes reached the
/// medium: reopening cuts it and reading there gives `NoRecord` (end of data). Asked directly to
/// read a frame cut by an end 7 bytes in, the core reports a corrupt length rather than EOF.
#[test]
fn record_cut_seven_bytes_in_reads_as_end_of_data() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"first", 0).unwrap();
    segment.sync(T).unwrap();
    let offset = segment.append(b"second", 0).unwrap();
    assert!(matches!(
        read_record(
            segment.region_mut(),
            ID,
            offset,
            offset + 7,
            CrcCheck::Verify
        ),
        Err(Error::Corrupt {
            reason: CorruptionReason::LengthOutOfRange { .. },
            ..
        })
    ));
    let end = segment.end();
    segment.region_mut().as_mut_slice()[at(offset) + 7..at(end)].fill(0);
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    assert_eq!(segment.end(), offset);
    assert!(matches!(
        segment.read(offset),
        Err(Error::NoRecord { offset: o, end: e, .. }) if o == offset && e == offset
    ));
}

/// Reading after `Close` gives Closed. [TestSegment_ReadAfterClose] A closed segment cannot be
/// named in Rust (`Wal::close` consumes the handle, a dropped `Segment` is gone); the closest
/// state is a segment removed from the log: reading a position in it fails with
/// `NoSuchSegment`, while a `RecordView` taken before stays valid, since it pins the mapping
/// (SPEC §13.20: no use after unmap).
#[test]
fn reading_a_removed_segment_fails_but_an_earlier_view_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    for i in 1..=3 {
        wal.append_indexed(&data(i, 40), i as u64).unwrap();
    }
    wal.rotate().unwrap();
    let position = wal.append_indexed(&data(4, 40), 4).unwrap();
    assert_eq!(position.segment, SegmentId(2));
    let view = wal.read(position).unwrap();
    wal.truncate_after(2).unwrap();
    assert!(matches!(
        wal.read(position),
        Err(WalError::Wal(Error::NoSuchSegment {
            segment: SegmentId(2)
        }))
    ));
    assert!(!segment_file(dir.path(), 2).exists());
    assert_eq!(&*view, data(4, 40).as_slice());
}

/// Writing after `Close` gives Closed. [TestSegment_WriteAfterClose] A closed segment cannot be
/// named in Rust (see `reading_a_removed_segment_fails_but_an_earlier_view_stays_valid`); the
/// closest state, a segment handle that refuses every change, is one opened read-only: writes
/// fail with `ReadOnly` and change no byte.
#[test]
fn writing_to_a_segment_that_refuses_changes_fails() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"kept", 0).unwrap();
    segment.sync(T).unwrap();
    drop(segment);
    let before = bytes.clone();
    let mut segment = closed(&mut bytes);
    assert!(matches!(
        segment.append(b"more", 0),
        Err(Error::ReadOnly { segment: ID })
    ));
    drop(segment);
    assert_eq!(bytes, before);
}

/// Garbage bytes written after the last record do not survive a reopen: the recovered write
/// offset is the end of the last valid record. [TestSegment_TruncatedRecovery] They are also
/// erased, so they can never be taken for records later (SPEC §13.17; Go leaves them).
#[test]
fn garbage_after_the_last_record_is_cut_and_erased_at_reopen() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    for i in 0..3 {
        segment.append(&data(i, 20), 0).unwrap();
    }
    segment.sync(T).unwrap();
    let end = segment.end();
    segment.region_mut().as_mut_slice()[at(end)..at(end) + 100].fill(0x5A);
    drop(segment);
    let (mut segment, report) = reopen(&mut bytes);
    assert_eq!(segment.end(), end);
    assert_eq!(segment.record_count(), 3);
    assert_eq!(report.erased_stale, end..end + 100);
    assert!(matches!(
        report.scan.unwrap().stop,
        ScanStop::TornTail(ref damage) if damage.offset == end
    ));
    assert!(
        segment.region().as_slice()[at(end)..]
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(segment.append(b"next", 0).unwrap(), end);
}

/// A payload of S − 80 bytes fits exactly (write offset becomes S); the next write fails.
/// [TestSegment_WriteAtExactBoundary] The failure is the typed `SegmentFull` (SPEC §13.35).
#[test]
fn payload_of_s_minus_80_fills_the_segment_exactly() {
    const S: usize = KIB;
    let mut bytes = vec![0u8; S];
    let mut segment = create(&mut bytes);
    segment.append(&data(0, S - 80), 0).unwrap();
    assert_eq!(at(segment.end()), S);
    assert!(!segment.fits(0));
    assert!(matches!(
        segment.append(b"", 0),
        Err(Error::SegmentFull { offset, frame_len: 16, .. }) if at(offset) == S
    ));
}

/// A writer and a segment reader running at the same time both finish without error.
/// [TestSegment_ConcurrentReadWhileWriting] Run on a `Wal`, whose reader follows the writer
/// (across rotations too).
#[test]
fn writer_and_reader_run_concurrently_without_error() {
    const RECORDS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::new().segment_size(8192)).unwrap());
    let writer = {
        let wal = Arc::clone(&wal);
        thread::spawn(move || {
            for i in 0..RECORDS {
                wal.append(&data(i, 100)).unwrap();
            }
        })
    };
    let reader = {
        let wal = Arc::clone(&wal);
        thread::spawn(move || {
            let mut reader = wal.reader();
            for i in 0..RECORDS {
                let record = reader
                    .next_timeout(Duration::from_secs(10))
                    .unwrap()
                    .expect("the writer appends it");
                assert_eq!(record.payload(), data(i, 100).as_slice());
            }
        })
    };
    writer.join().unwrap();
    reader.join().unwrap();
}

/// Writes succeed with msync-on-write. [TestSegment_SyncOnWriteOption] msync-on-write is
/// `SyncPolicy::EveryWrite`: each append returns durable (the watermark reaches its end).
#[test]
fn writes_succeed_with_sync_on_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal().sync_policy(SyncPolicy::EveryWrite)).unwrap();
    for i in 0..10 {
        let position = wal.append(&data(i, 50)).unwrap();
        let info = wal.segments()[0];
        assert_eq!(info.durable_end, info.end);
        assert_eq!(&*wal.read(position).unwrap(), data(i, 50).as_slice());
    }
}

/// A segment reader on an empty active segment returns end of data or NoNewData (the original:
/// NoNewData). [TestSegment_EmptyReaderEOF]
#[test]
fn segment_reader_on_an_empty_active_segment_says_no_new_data() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let mut cursor = SegmentCursor::new(ID);
    assert_eq!(cursor.next_in(&mut segment).unwrap(), CursorStep::NoNewData);
    assert_eq!(cursor.last_record_position(), None);
}

/// `MSync` of an open segment succeeds. [TestSegment_MSync] `MSync` is `persist` (msync of the
/// unsynced range); only `sync` acknowledges, so only it moves the durable watermark.
#[test]
fn persist_of_an_open_segment_succeeds() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"to disk", 0).unwrap();
    segment.persist().unwrap();
    assert_eq!(segment.durable_end(), 64);
    segment.sync(T).unwrap();
    assert_eq!(segment.durable_end(), segment.end());
}

/// `Sync` of a closed segment returns Closed. [TestSegment_Sync_ErrorPaths] A closed segment
/// cannot be named in Rust; the closest state, a segment handle that refuses every change
/// (opened read-only), refuses `sync` with `ReadOnly`.
#[test]
fn sync_of_a_segment_that_refuses_changes_fails() {
    let mut bytes = vec![0u8; KIB];
    create(&mut bytes).append(b"x", 0).unwrap();
    let mut segment = closed(&mut bytes);
    assert!(matches!(
        segment.sync(T),
        Err(Error::ReadOnly { segment: ID })
    ));
}

/// Closing a segment twice returns success both times. [TestSegment_Close_Twice] `Wal::close`
/// consumes the handle, so a second close on it does not compile; closing, reopening and closing
/// again both succeed, and the second close, with nothing new to sync, changes no byte.
#[test]
fn closing_again_succeeds_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    let position = wal.append(b"closed twice").unwrap();
    wal.close().unwrap();
    let after_first = std::fs::read(segment_file(dir.path(), 1)).unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    wal.close().unwrap();
    assert_eq!(
        std::fs::read(segment_file(dir.path(), 1)).unwrap(),
        after_first
    );
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    assert_eq!(&*wal.read(position).unwrap(), b"closed twice");
}

/// A frame with crc 0 and length 5 after the last record is not recovered: the write offset
/// after reopen is its offset. [TestOpenSegmentFile_BadChecksum] (A frame whose CRC really is 0
/// is valid here, SPEC §13.25; this one's CRC is not 0, so it is a torn tail.)
#[test]
fn frame_with_a_zero_crc_after_the_last_record_is_not_recovered() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"one", 0).unwrap();
    segment.append(b"two", 0).unwrap();
    segment.sync(T).unwrap();
    let end = at(segment.end());
    let region = segment.region_mut().as_mut_slice();
    region[end + 4..end + 8].copy_from_slice(&5u32.to_le_bytes());
    region[end + 8..end + 13].copy_from_slice(b"hello");
    region[end + 13..end + 21].copy_from_slice(&TRAILER);
    drop(segment);
    let (segment, report) = reopen(&mut bytes);
    assert_eq!(at(segment.end()), end);
    assert_eq!(segment.record_count(), 2);
    assert!(matches!(
        report.scan.unwrap().stop,
        ScanStop::TornTail(ref d) if at(d.offset) == end
            && d.reason == CorruptionReason::ZeroCrc { computed: 0x4E17_B1A1 }
    ));
}

/// The text form of (123, 456) contains "SegmentID=123" and "Offset=456".
/// [TestChunkPosition_String]
#[test]
fn position_text_form_names_segment_and_offset() {
    let text = Position::new(SegmentId(123), 456).to_string();
    assert!(text.contains("SegmentID=123"), "{text}");
    assert!(text.contains("Offset=456"), "{text}");
    assert_eq!(text, "SegmentID=123, Offset=456");
}

/// `MSync` of a closed segment returns Closed. [TestSegment_MSync_Closed] As for `Sync`: the
/// closest state is a segment handle that refuses changes, and `persist` fails with `ReadOnly`.
#[test]
fn persist_of_a_segment_that_refuses_changes_fails() {
    let mut bytes = vec![0u8; KIB];
    create(&mut bytes).append(b"x", 0).unwrap();
    let mut segment = closed(&mut bytes);
    assert!(matches!(
        segment.persist(),
        Err(Error::ReadOnly { segment: ID })
    ));
}

/// On a fresh segment `WillExceed(1024)` is false; with the write offset at S − 9,
/// `WillExceed(2)` is true. [TestSegment_WillExceed] `fits` is the negation of `WillExceed`;
/// write offsets are multiples of 8, so S − 8 stands in for S − 9.
#[test]
fn fits_says_whether_a_record_still_fits() {
    const S: usize = 4 * KIB;
    let mut bytes = vec![0u8; S];
    let mut segment = create(&mut bytes);
    assert!(segment.fits(1024));
    segment.append(&data(0, S - 8 - 64 - 16), 0).unwrap();
    assert_eq!(at(segment.end()), S - 8);
    assert!(!segment.fits(2));
    assert!(!segment.fits(0));
}

/// Zeroing the first 4 trailer bytes makes the read return IncompleteChunk; the segment still
/// reopens. [TestSegment_TrailerValidation] IncompleteChunk is `Corrupt { reason: BadTrailer }`.
/// The record was synced (Go's `Close` syncs), so damage to it is corruption of acknowledged
/// data: the default open refuses and names it, and reopening cuts it only when the caller asks
/// for repair (SPEC §13.1: Go drops it silently).
#[test]
fn damaged_trailer_is_reported_and_reopen_needs_a_repair_policy() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offset = segment.append(b"trailer", 0).unwrap();
    segment.sync(T).unwrap();
    let trailer = at(offset) + 8 + 7;
    segment.region_mut().as_mut_slice()[trailer..trailer + 4].fill(0);
    assert!(matches!(
        segment.read(offset),
        Err(Error::Corrupt {
            reason: CorruptionReason::BadTrailer,
            ..
        })
    ));
    drop(segment);
    assert!(matches!(
        Segment::open(RamRegion::new(&mut bytes), ID, OpenOptions::default()),
        Err(Error::Corrupt { offset: o, reason: CorruptionReason::BadTrailer, .. }) if o == offset
    ));
    let repair = OpenOptions {
        repair: RepairPolicy::TruncateAtDamage,
        ..OpenOptions::default()
    };
    let (segment, report) = Segment::open(RamRegion::new(&mut bytes), ID, repair).unwrap();
    assert_eq!(segment.end(), offset);
    assert!(matches!(report.scan.unwrap().stop, ScanStop::Corruption(_)));
}

/// A new segment's header: magic 0x5557414C, version 1, write_offset 64, entry_count 0, flags =
/// ACTIVE, created_at and last_modified_at within 30 s of now.
/// [TestNewSegment_MetadataInitialization] The flags also carry walfs' WATERMARK bit (0x10),
/// which marks `write_offset` as a durable watermark; Go ignores it.
#[test]
fn new_segment_header_is_initialised() {
    let dir = tempfile::tempdir().unwrap();
    let _wal = Wal::open(dir.path(), small_wal()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let now = i64::try_from(now).unwrap();
    let header = file_header(dir.path(), 1);
    assert_eq!((header.magic, header.version), (MAGIC, VERSION));
    assert_eq!(MAGIC, 0x5557_414C);
    assert_eq!((header.write_offset, header.entry_count), (64, 0));
    assert_eq!(
        header.flags,
        SegmentFlags(SegmentFlags::ACTIVE | SegmentFlags::WATERMARK)
    );
    let thirty_s = 30_000_000_000;
    assert!((now - header.created_at).abs() < thirty_s);
    assert!((now - header.last_modified_at).abs() < thirty_s);
}

/// After `SealSegment`, `Write` returns SegmentSealed; after reopen the flags are SEALED and not
/// ACTIVE. [TestSegment_SealAndPreventWrite]
#[test]
fn sealed_segment_refuses_writes_and_reopens_sealed() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"last", 0).unwrap();
    segment.seal(T).unwrap();
    assert!(matches!(
        segment.append(b"more", 0),
        Err(Error::Sealed { segment: ID })
    ));
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    let flags = stored_header(&segment).flags;
    assert!(flags.is_sealed() && !flags.is_active());
    assert!(matches!(
        segment.append(b"more", 0),
        Err(Error::Sealed { .. })
    ));
}

/// A new segment's write offset is 64. [TestSegmentOffsetBehavior]
#[test]
fn new_segment_starts_at_offset_64() {
    let mut bytes = vec![0u8; KIB];
    let segment = create(&mut bytes);
    assert_eq!(segment.end(), 64);
    assert_eq!(stored_header(&segment).write_offset, 64);
}

/// A sealed segment reopens with the write offset it had when sealed.
/// [TestSegmentOffsetBehavior]
#[test]
fn sealed_segment_reopens_at_its_sealed_end() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    for i in 0..4 {
        segment.append(&data(i, 17), 0).unwrap();
    }
    segment.seal(T).unwrap();
    let end = segment.end();
    drop(segment);
    let (segment, report) = reopen(&mut bytes);
    assert!(report.scan.is_none(), "its end comes from the header");
    assert_eq!(segment.end(), end);
    assert_eq!(stored_header(&segment).write_offset, end);
}

/// An unsealed segment with a bad frame after its records reopens with the write offset at that
/// frame. [TestSegmentOffsetBehavior]
#[test]
fn unsealed_segment_reopens_at_the_first_bad_frame() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    for i in 0..3 {
        segment.append(&data(i, 17), 0).unwrap();
    }
    segment.sync(T).unwrap();
    let end = at(segment.end());
    let region = segment.region_mut().as_mut_slice();
    region[end..end + 4].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    region[end + 4..end + 8].copy_from_slice(&0xFFFFu32.to_le_bytes());
    drop(segment);
    let (segment, report) = reopen(&mut bytes);
    assert_eq!(at(segment.end()), end);
    assert_eq!(segment.record_count(), 3);
    assert!(matches!(
        report.scan.unwrap().stop,
        ScanStop::TornTail(ref d)
            if d.reason == CorruptionReason::LengthOutOfRange { length: 0xFFFF }
    ));
}

/// An 8 MiB segment starts at write offset 64 and reports size 8 MiB. [TestWithSegmentSize]
#[test]
fn segment_of_8_mib_starts_at_64_and_reports_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), Options::new().segment_size(8 << 20)).unwrap();
    let info = wal.segments()[0];
    assert_eq!((info.end, info.capacity), (64, 8 << 20));
    assert_eq!(
        std::fs::metadata(segment_file(dir.path(), 1))
            .unwrap()
            .len(),
        8 << 20
    );
}

/// align8(8) = 8 and align8(9) = 16. [TestSegment_Align_Uo]
#[test]
fn align8_rounds_up_to_a_multiple_of_8() {
    assert_eq!(align8(8), 8);
    assert_eq!(align8(9), 16);
    assert_eq!(frame_len(9), 32);
}

/// Payloads of 3, 7, 15, 33, 127, 1023 bytes read back and every next offset is a multiple of
/// 8. [TestSegment_WriteRead_UnalignedEntriesAlignedOffsets]
#[test]
fn unaligned_payloads_read_back_at_aligned_offsets() {
    let mut bytes = vec![0u8; 4 * KIB];
    let mut segment = create(&mut bytes);
    for n in [3, 7, 15, 33, 127, 1023] {
        let offset = segment.append(&data(n, n), 0).unwrap();
        assert_eq!(offset % 8, 0);
        let frame = segment.read(offset).unwrap();
        assert_eq!(frame.next_offset() % 8, 0);
        assert_eq!(segment.payload(&frame).unwrap(), data(n, n).as_slice());
    }
}

/// A segment reader returns payloads of 1, 5, 29, 123, 509 bytes at offsets that are multiples
/// of 8. [TestSegmentReader_Next_AlignedOffsets]
#[test]
fn segment_reader_returns_unaligned_payloads_at_aligned_offsets() {
    let mut bytes = vec![0u8; 4 * KIB];
    let mut segment = create(&mut bytes);
    let sizes = [1, 5, 29, 123, 509];
    for n in sizes {
        segment.append(&data(n, n), 0).unwrap();
    }
    let (records, _) = drain(&mut segment);
    assert_eq!(records.len(), sizes.len());
    for ((offset, payload), n) in records.iter().zip(sizes) {
        assert_eq!(offset % 8, 0);
        assert_eq!(payload, &data(n, n));
    }
}

/// Damaging the first trailer byte of the second record makes reopen stop after the first
/// record (write offset = 64 + frame of the first). [TestSegment_ScanStopsAt_Trailer_Corruption]
/// The second and third records were not synced, so this is a torn tail and is cut (the third
/// record is reported as dropped); had they been synced, the open would refuse and name the
/// damage instead (SPEC §13.1).
#[test]
fn scan_stops_at_a_damaged_trailer_of_an_unsynced_record() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(&data(0, 20), 0).unwrap();
    segment.sync(T).unwrap();
    let second = segment.append(&data(1, 20), 0).unwrap();
    let third = segment.append(&data(2, 20), 0).unwrap();
    segment.region_mut().as_mut_slice()[at(second) + 8 + 20] ^= 0xFF;
    drop(segment);
    let (segment, report) = reopen(&mut bytes);
    assert_eq!(segment.end(), 64 + frame_len(20));
    assert_eq!(segment.record_count(), 1);
    let scan = report.scan.unwrap();
    let ScanStop::TornTail(damage) = &scan.stop else {
        panic!("expected a torn tail, got {:?}", scan.stop);
    };
    assert_eq!(
        (damage.offset, damage.reason),
        (second, CorruptionReason::BadTrailer)
    );
    assert_eq!(damage.frames_after.offsets.as_slice(), &[third]);
}

/// 1000 concurrent segment readers each read all 500 records.
/// [TestSegment_ParallelStreamReaders] 1000 `Reader`s of one `Wal`, all alive at once, spread
/// over 10 threads and advanced in turn.
#[test]
fn a_thousand_concurrent_readers_each_read_every_record() {
    const RECORDS: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::new().segment_size(64 * 1024)).unwrap());
    for i in 0..RECORDS {
        wal.append(&data(i, 32)).unwrap();
    }
    assert_eq!(wal.segments().len(), 1);
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                let mut readers: Vec<_> = (0..100).map(|_| wal.reader()).collect();
                for i in 0..RECORDS {
                    let expected = data(i, 32);
                    for reader in &mut readers {
                        assert_eq!(reader.next().unwrap().unwrap().payload(), expected);
                    }
                }
                for reader in &mut readers {
                    assert!(reader.next().unwrap().is_none());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Two segment readers raise the reference count to 2; a segment marked for deletion keeps its
/// file while referenced; closing one leaves 1 and the file; closing the other deletes the file.
/// [TestSegmentReader_ReferenceCountingAndDeletion] Readers hold the segment they are in;
/// retention (Go's `MarkForDeletion`) removes only segments nobody holds, and a segment it had
/// to keep goes at a later retention call once the last reader is dropped, not inside that
/// reader's drop (SPEC §13.19, §13.31).
#[test]
fn retention_keeps_a_segment_until_both_readers_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_sealed_segment(dir.path());
    let mut first = wal.reader();
    let mut second = wal.reader();
    assert_eq!(first.next().unwrap().unwrap().position().segment, ID);
    assert_eq!(second.next().unwrap().unwrap().position().segment, ID);
    assert!(
        wal.apply_retention(&keep_one_segment(), |_| true)
            .unwrap()
            .is_empty()
    );
    assert!(segment_file(dir.path(), 1).exists());
    drop(first);
    assert!(
        wal.apply_retention(&keep_one_segment(), |_| true)
            .unwrap()
            .is_empty()
    );
    assert!(segment_file(dir.path(), 1).exists());
    drop(second);
    assert_eq!(
        wal.apply_retention(&keep_one_segment(), |_| true).unwrap(),
        vec![ID]
    );
    assert!(!segment_file(dir.path(), 1).exists());
}

/// † A segment reader dropped without `Close` still releases its reference; the marked
/// segment's file is deleted only after every reference is gone.
/// [TestSegmentReader_CleanupFallback] Dropping is the only way to close a `Reader`: one dropped
/// in another thread releases its hold, and a `RecordView` it returned keeps holding the segment
/// until it is dropped too.
#[test]
fn dropped_reader_releases_its_segment_but_its_record_view_still_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(wal_with_sealed_segment(dir.path()));
    let view = {
        let wal = Arc::clone(&wal);
        thread::spawn(move || {
            let mut reader = wal.reader();
            reader.next().unwrap().unwrap().into_payload()
        })
        .join()
        .unwrap()
    };
    assert!(
        wal.apply_retention(&keep_one_segment(), |_| true)
            .unwrap()
            .is_empty()
    );
    assert!(segment_file(dir.path(), 1).exists());
    assert_eq!(&*view, data(0, 40).as_slice());
    drop(view);
    assert_eq!(
        wal.apply_retention(&keep_one_segment(), |_| true).unwrap(),
        vec![ID]
    );
    assert!(!segment_file(dir.path(), 1).exists());
}

/// `Next` after `Close` returns SegmentReaderClosed. [TestSegmentReader_PreventAccessAfterClose]
/// `next` after dropping a `Reader` does not compile; the closest runtime case is a reader whose
/// segment was removed under it (by truncation): every later `next` returns `Closed`, even
/// after new records are written, instead of carrying on (SPEC §13.33).
#[test]
fn reader_whose_segment_was_removed_keeps_returning_closed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    for i in 1..=3 {
        wal.append_indexed(&data(i, 40), i as u64).unwrap();
    }
    wal.rotate().unwrap();
    for i in 4..=6 {
        wal.append_indexed(&data(i, 40), i as u64).unwrap();
    }
    let mut reader = wal.reader();
    for _ in 0..4 {
        reader.next().unwrap().unwrap();
    }
    assert_eq!(reader.segment(), SegmentId(2));
    wal.truncate_after(2).unwrap();
    assert!(matches!(reader.next(), Err(WalError::Closed)));
    wal.append_indexed(b"three again", 3).unwrap();
    assert!(matches!(reader.next(), Err(WalError::Closed)));
}

/// A segment reader's `LastRecordPosition` equals each returned record's (segment, offset);
/// after the last record `Next` returns no data, the nil position, end of data or NoNewData.
/// [TestSegmentReader_LastRecordPosition] The position is an `Option`: `None` before the first
/// record, and after the end it still names the last record (Go's WAL reader crashes there,
/// SPEC §13.7).
#[test]
fn last_record_position_follows_the_records_returned() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let offsets: Vec<u64> = (0..3)
        .map(|i| segment.append(&data(i, 9), 0).unwrap())
        .collect();
    let mut cursor = SegmentCursor::new(ID);
    assert_eq!(cursor.last_record_position(), None);
    for &offset in &offsets {
        let CursorStep::Record(frame) = cursor.next_in(&mut segment).unwrap() else {
            panic!("a record");
        };
        assert_eq!(frame.offset, offset);
        assert_eq!(
            cursor.last_record_position(),
            Some(Position::new(ID, offset))
        );
    }
    assert_eq!(cursor.next_in(&mut segment).unwrap(), CursorStep::NoNewData);
    assert_eq!(
        cursor.last_record_position(),
        Some(Position::new(ID, offsets[2]))
    );
    // The WAL reader, which crashes in Go after the end.
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    let mut reader = wal.reader();
    assert_eq!(reader.last_position(), None);
    let position = wal.append(b"only").unwrap();
    reader.next().unwrap().unwrap();
    assert!(reader.next().unwrap().is_none());
    assert_eq!(reader.last_position(), Some(position));
}

/// A segment marked for deletion gives no reader; a closed segment gives no reader.
/// [TestSegment_Reader_MarkForDeletion] A segment leaves the log only when nobody holds it, so
/// there is no "marked but present" state: once retention removed it, a reader at it is refused
/// with `NoSuchSegment`, and a reader of the whole log starts after it.
#[test]
fn removed_segment_gives_no_reader() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_sealed_segment(dir.path());
    assert!(wal.reader_at(Position::new(ID, 0)).is_ok());
    assert_eq!(
        wal.apply_retention(&keep_one_segment(), |_| true).unwrap(),
        vec![ID]
    );
    assert!(matches!(
        wal.reader_at(Position::new(ID, 0)),
        Err(WalError::Wal(Error::NoSuchSegment { segment: ID }))
    ));
    let mut reader = wal.reader();
    let record = reader.next().unwrap().unwrap();
    assert_eq!(record.position().segment, SegmentId(2));
    assert_eq!(record.payload(), data(3, 40).as_slice());
}

/// `Close` of a segment reader decrements the reference count exactly once (a later drop does
/// not decrement again) and unregisters its id. [TestSegmentReader_CloseOnlyOnce] A `Reader`
/// releases a segment when it leaves it (its "close" of that segment reader); dropping it later
/// must not release the segment a second time, which would let retention delete it under
/// another reader.
#[test]
fn reader_releases_a_segment_once_when_it_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_sealed_segment(dir.path());
    let mut leaving = wal.reader();
    let mut staying = wal.reader();
    leaving.next().unwrap().unwrap();
    staying.next().unwrap().unwrap();
    for _ in 0..3 {
        leaving.next().unwrap().unwrap();
    }
    assert_eq!(leaving.segment(), SegmentId(2));
    drop(leaving);
    assert!(
        wal.apply_retention(&keep_one_segment(), |_| true)
            .unwrap()
            .is_empty()
    );
    assert!(segment_file(dir.path(), 1).exists());
    drop(staying);
    assert_eq!(
        wal.apply_retention(&keep_one_segment(), |_| true).unwrap(),
        vec![ID]
    );
}

/// † A dropped, unclosed segment reader brings the count back to its initial value and leaves
/// no registered reader. [TestSegmentReader_GCDecrementsRefOnlyOnce] The count that blocks
/// truncation is the pins of readers and record views: while a record returned by a dropped
/// reader lives, truncating its segment is refused (`SegmentInUse`); once it is dropped the
/// count is back to zero and truncation goes ahead.
#[test]
fn dropped_reader_and_record_bring_the_pin_count_back_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    for i in 1..=5 {
        wal.append_indexed(&data(i, 40), i as u64).unwrap();
    }
    let mut reader = wal.reader();
    let record = reader.next().unwrap().unwrap();
    drop(reader);
    assert!(matches!(
        wal.truncate_after(3),
        Err(WalError::SegmentInUse { segment: ID })
    ));
    drop(record);
    wal.truncate_after(3).unwrap();
    assert_eq!(wal.log_index_bounds(), Some((1, 3)));
}

/// `HasActiveReaders` is true while a segment reader is open and false after it is closed.
/// [TestSegmentReader_ActiveReader] Whether a segment has readers shows in whether retention
/// may remove it. Unlike Go's `NewReader`, a new `Reader` holds nothing until it enters a
/// segment.
#[test]
fn a_reader_in_a_segment_keeps_it_and_a_dropped_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_sealed_segment(dir.path());
    let fresh = wal.reader();
    let mut active = wal.reader();
    active.next().unwrap().unwrap();
    assert!(
        wal.apply_retention(&keep_one_segment(), |_| true)
            .unwrap()
            .is_empty()
    );
    assert_eq!(wal.segments().len(), 2);
    drop(active);
    assert_eq!(
        wal.apply_retention(&keep_one_segment(), |_| true).unwrap(),
        vec![ID]
    );
    drop(fresh);
}

/// Segment `Close` blocks while a reader is open and returns once the reader is closed.
/// [TestSegment_Close_WaitsForReaders_AndBroadcastIsSafe] `Wal::close` does not wait for readers
/// (Go's can hang forever on a leaked one, SPEC §13.21): it returns at once, the open reader
/// keeps reading, and the directory stays locked until that reader is dropped.
#[test]
fn close_returns_while_a_reader_is_open_and_the_reader_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    wal.append(b"first").unwrap();
    wal.append(b"second").unwrap();
    let mut reader = wal.reader();
    assert_eq!(reader.next().unwrap().unwrap().payload(), b"first");
    let (done, closed) = mpsc::channel();
    thread::spawn(move || done.send(wal.close().is_ok()).unwrap());
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)), Ok(true));
    assert_eq!(reader.next().unwrap().unwrap().payload(), b"second");
    assert!(matches!(
        Wal::open(dir.path(), small_wal()),
        Err(WalError::Locked { .. })
    ));
    drop(reader);
    Wal::open(dir.path(), small_wal()).unwrap();
}

/// A segment reader on an empty active segment returns NoNewData with no data and the nil
/// position; after a write it returns the record; then NoNewData; after `SealSegment` end of
/// data. [TestSegmentReader_WaitForNewData] The "nil position" is `None`.
#[test]
fn segment_reader_waits_for_new_data_until_the_segment_is_sealed() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let mut cursor = SegmentCursor::new(ID);
    assert_eq!(cursor.next_in(&mut segment).unwrap(), CursorStep::NoNewData);
    assert_eq!(cursor.last_record_position(), None);
    let offset = segment.append(b"arrived", 0).unwrap();
    assert!(matches!(
        cursor.next_in(&mut segment).unwrap(),
        CursorStep::Record(frame) if frame.offset == offset
    ));
    assert_eq!(cursor.next_in(&mut segment).unwrap(), CursorStep::NoNewData);
    segment.seal(T).unwrap();
    assert_eq!(
        cursor.next_in(&mut segment).unwrap(),
        CursorStep::EndOfSegment
    );
}

/// A segment reader created after sealing reads both records, then end of data.
/// [TestSegmentReader_ReadAfterSealHasNewData]
#[test]
fn segment_reader_created_after_sealing_reads_everything_then_ends() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let first = segment.append(b"one", 0).unwrap();
    let second = segment.append(b"two", 0).unwrap();
    segment.seal(T).unwrap();
    let (records, last) = drain(&mut segment);
    assert_eq!(
        records,
        vec![(first, b"one".to_vec()), (second, b"two".to_vec())]
    );
    assert_eq!(last, CursorStep::EndOfSegment);
}

/// Encoding into no buffer allocates 12 bytes (id LE then offset LE); encoding into a 20-byte
/// buffer writes in place. [TestEncodeRecordPositionTo] `encode` returns a `[u8; 12]` and
/// allocates nothing; there is no encode-into-buffer function, so "in place" is copying those
/// 12 bytes into the front of the buffer, and decoding ignores the bytes after them.
#[test]
fn position_encodes_to_12_little_endian_bytes() {
    let position = Position::new(SegmentId(0x0102_0304), 0x1122_3344_5566_7788);
    let bytes: [u8; 12] = position.encode();
    assert_eq!(&bytes[..4], &0x0102_0304u32.to_le_bytes());
    assert_eq!(&bytes[4..], &0x1122_3344_5566_7788u64.to_le_bytes());
    let mut buffer = [0xEEu8; 20];
    buffer[..12].copy_from_slice(&position.encode());
    assert_eq!(&buffer[..12], &bytes);
    assert!(buffer[12..].iter().all(|&b| b == 0xEE));
    assert_eq!(Position::decode(&buffer), Ok(position));
}

/// A segment batch of 5 records writes 5, returns 5 readable positions, entry_count 5.
/// [TestSegment_WriteBatch] The header's entry_count counts synced records: 0 before the sync,
/// 5 after (see the crate comment).
#[test]
fn batch_of_five_writes_five_readable_records() {
    let mut bytes = vec![0u8; 4 * KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| data(i, 30)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert_eq!(batch.written, 5);
    let offsets = offsets_of(&batch, &payloads);
    assert_eq!(offsets.len(), 5);
    for (offset, payload) in offsets.iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
    assert_eq!(segment.record_count(), 5);
    assert_eq!(stored_header(&segment).entry_count, 0);
    segment.sync(T).unwrap();
    assert_eq!(stored_header(&segment).entry_count, 5);
}

/// In a 1 KiB segment a batch of 20 × 100 bytes returns an error with 0 < written < 20, as many
/// positions as written, all readable. [TestSegment_WriteBatch_Overflow] A partial batch is a
/// success that says how many were written (8 here); `SegmentFull` comes when not even the first
/// remaining record fits.
#[test]
fn batch_larger_than_the_space_left_writes_a_prefix() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..20).map(|i| data(i, 100)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert!(batch.written > 0 && batch.written < 20);
    assert_eq!(batch.written, 8);
    let offsets = offsets_of(&batch, &payloads);
    assert_eq!(offsets.len(), batch.written);
    for (offset, payload) in offsets.iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
    assert!(matches!(
        segment.append_batch(&payloads[batch.written..], 0),
        Err(Error::SegmentFull { .. })
    ));
}

/// An empty segment batch returns no positions, 0, no error. [TestSegment_WriteBatch_Empty]
#[test]
fn empty_batch_writes_nothing() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let none: [&[u8]; 0] = [];
    let batch = segment.append_batch(&none, 0).unwrap();
    assert_eq!(batch.written, 0);
    assert!(offsets_of(&batch, &none).is_empty());
    assert_eq!((segment.end(), segment.record_count()), (64, 0));
}

/// A segment batch on a sealed segment returns SegmentSealed.
/// [TestSegment_WriteBatch_AfterSealed]
#[test]
fn batch_on_a_sealed_segment_is_refused() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.seal(T).unwrap();
    assert!(matches!(
        segment.append_batch(&[b"a", b"b"], 0),
        Err(Error::Sealed { segment: ID })
    ));
    assert_eq!(segment.record_count(), 0);
}

/// In a 1 KiB segment a batch [small, 2048 bytes] fails with "exceeds maximum segment
/// capacity", 0 written, no positions. [TestSegment_WriteBatch_RecordExceedsSegmentCapacity]
/// The error is the typed `RecordTooLarge` naming the record and the limit (SPEC §13.35).
#[test]
fn batch_with_a_record_larger_than_any_segment_writes_nothing() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let batch = [data(0, 10), data(1, 2048)];
    let error = segment.append_batch(&batch, 0).unwrap_err();
    assert!(matches!(
        error,
        Error::RecordTooLarge {
            batch_index: 1,
            payload_len: 2048,
            max_payload_len: 944,
            ..
        }
    ));
    assert!(error.to_string().contains("exceeds the maximum"), "{error}");
    assert_eq!((segment.end(), segment.record_count()), (64, 0));
}

/// In a 2 KiB segment a batch whose third record is 5000 bytes fails naming "record at index
/// 2", nothing written. [TestSegment_WriteBatch_EachRecordValidated] The index is the typed
/// field `batch_index` (the text says "record 2").
#[test]
fn every_record_of_a_batch_is_checked_before_anything_is_written() {
    let mut bytes = vec![0u8; 2 * KIB];
    let mut segment = create(&mut bytes);
    let batch = [data(0, 10), data(1, 10), data(2, 5000)];
    let error = segment.append_batch(&batch, 0).unwrap_err();
    assert!(matches!(
        error,
        Error::RecordTooLarge {
            batch_index: 2,
            payload_len: 5000,
            ..
        }
    ));
    assert!(
        error.to_string().contains("record 2 of 5000 bytes"),
        "{error}"
    );
    assert_eq!((segment.end(), segment.record_count()), (64, 0));
    assert!(segment.region().as_slice()[64..].iter().all(|&b| b == 0));
}

/// A batch of 20 sizes from 1 to 4095 bytes: every record reads back, each next offset equals
/// the next position, header entry_count 20, header write_offset = write offset.
/// [TestSegment_WriteBatch_ReadbackAllRecords] (The header is checked after the sync.)
#[test]
fn batch_of_twenty_sizes_reads_back_with_chained_offsets() {
    let mut bytes = vec![0u8; 64 * KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..20).map(|i| data(i, 1 + i * 4094 / 19)).collect();
    assert_eq!((payloads[0].len(), payloads[19].len()), (1, 4095));
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert_eq!(batch.written, 20);
    let offsets = offsets_of(&batch, &payloads);
    for (i, payload) in payloads.iter().enumerate() {
        let frame = segment.read(offsets[i]).unwrap();
        assert_eq!(segment.payload(&frame).unwrap(), payload.as_slice());
        let next = offsets.get(i + 1).copied().unwrap_or_else(|| segment.end());
        assert_eq!(frame.next_offset(), next);
    }
    segment.sync(T).unwrap();
    let header = stored_header(&segment);
    assert_eq!(
        (header.entry_count, header.write_offset),
        (20, segment.end())
    );
}

/// In a 2 KiB segment a batch of 30 × 50 bytes fills it (SegmentFull), every written record
/// reads back, the final write offset is > S − 200, header entry_count = written.
/// [TestSegment_WriteBatch_ReadbackAtSegmentBoundary] The batch itself reports 27 written;
/// `SegmentFull` is what the rest of it gets.
#[test]
fn batch_fills_a_segment_to_its_boundary() {
    const S: u64 = 2048;
    let mut bytes = vec![0u8; 2 * KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..30).map(|i| data(i, 50)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert_eq!(batch.written, 27);
    assert!(matches!(
        segment.append_batch(&payloads[batch.written..], 0),
        Err(Error::SegmentFull { .. })
    ));
    for (offset, payload) in offsets_of(&batch, &payloads).iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
    assert!(segment.end() > S - 200 && segment.end() <= S);
    segment.sync(T).unwrap();
    assert_eq!(stored_header(&segment).entry_count, 27);
}

/// After a partial batch the header's entry_count grew by the written count, write_offset
/// equals the in-memory one and grew, last_modified_at grew; a following write either reads
/// back or fails with "exceeds Segment size".
/// [TestSegment_WriteBatch_HeaderUpdateAfterPartialWrite] (The header is checked after each
/// sync; here the following write fits and reads back.)
#[test]
fn header_follows_a_partial_batch() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment
        .append_batch(&[data(0, 50), data(1, 50)], 0)
        .unwrap();
    segment.sync(T).unwrap();
    let before = stored_header(&segment);
    let payloads: Vec<Vec<u8>> = (0..20).map(|i| data(i, 50)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert!(batch.written < payloads.len());
    segment.sync(T + 1).unwrap();
    let after = stored_header(&segment);
    assert_eq!(after.entry_count, before.entry_count + batch.written as u64);
    assert_eq!(after.write_offset, segment.end());
    assert!(after.write_offset > before.write_offset);
    assert!(after.last_modified_at > before.last_modified_at);
    let offset = segment.append(b"tail", 0).unwrap();
    assert_eq!(payload_at(&mut segment, offset), b"tail");
}

/// After a batch the header decodes (valid CRC) with magic, version 1, entry_count 3, the write
/// offset, last_modified_at > 0, ACTIVE set, SEALED clear.
/// [TestSegment_WriteBatch_HeaderCRCValidation]
#[test]
fn header_after_a_batch_decodes_with_a_valid_crc() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append_batch(&[b"a", b"b", b"c"], 0).unwrap();
    segment.sync(T).unwrap();
    let header = stored_header(&segment);
    assert_eq!((header.magic, header.version), (MAGIC, 1));
    assert_eq!(
        (header.entry_count, header.write_offset),
        (3, segment.end())
    );
    assert!(header.last_modified_at > 0);
    assert!(header.flags.is_active() && !header.flags.is_sealed());
}

/// Three batches of 5: after each the header's entry_count is the running total; all 15 read
/// back; final header write_offset = write offset.
/// [TestSegment_WriteBatch_MultipleConsecutiveBatches]
#[test]
fn consecutive_batches_accumulate_in_the_header() {
    let mut bytes = vec![0u8; 4 * KIB];
    let mut segment = create(&mut bytes);
    let mut written = Vec::new();
    for round in 0..3u64 {
        let payloads: Vec<Vec<u8>> = (0..5).map(|i| data(at(round) * 5 + i, 40)).collect();
        let batch = segment.append_batch(&payloads, 0).unwrap();
        written.extend(offsets_of(&batch, &payloads).into_iter().zip(payloads));
        segment.sync(T).unwrap();
        assert_eq!(stored_header(&segment).entry_count, (round + 1) * 5);
    }
    assert_eq!(written.len(), 15);
    for (offset, payload) in &written {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
    assert_eq!(stored_header(&segment).write_offset, segment.end());
}

/// A batch of 3 survives close and reopen: header entry_count 3, records read back.
/// [TestSegment_WriteBatch_ReadbackAfterCloseReopen]
#[test]
fn batch_survives_close_and_reopen() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let payloads = [data(0, 11), data(1, 22), data(2, 33)];
    let batch = segment.append_batch(&payloads, 0).unwrap();
    let offsets = offsets_of(&batch, &payloads);
    segment.sync(T).unwrap();
    drop(segment);
    let (mut segment, _) = reopen(&mut bytes);
    assert_eq!(stored_header(&segment).entry_count, 3);
    assert_eq!(segment.record_count(), 3);
    for (offset, payload) in offsets.iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
}

/// A batch of mixed sizes (1 to 2000 bytes) reads back with exact lengths; entry_count 8.
/// [TestSegment_WriteBatch_ReadbackWithMixedSizes]
#[test]
fn batch_of_mixed_sizes_reads_back_with_exact_lengths() {
    let mut bytes = vec![0u8; 8 * KIB];
    let mut segment = create(&mut bytes);
    let sizes = [1, 10, 100, 255, 512, 1000, 1500, 2000];
    let payloads: Vec<Vec<u8>> = sizes.iter().map(|&n| data(n, n)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    for (offset, n) in offsets_of(&batch, &payloads).into_iter().zip(sizes) {
        let frame = segment.read(offset).unwrap();
        assert_eq!(frame.payload_len as usize, n);
        assert_eq!(segment.payload(&frame).unwrap(), data(n, n).as_slice());
    }
    segment.sync(T).unwrap();
    assert_eq!(stored_header(&segment).entry_count, 8);
}

/// Zero-length records in a batch are written and read back as empty payloads; entry_count
/// counts them. [TestSegment_WriteBatch_ZeroLengthRecords]
#[test]
fn zero_length_records_in_a_batch_are_records() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let payloads: [&[u8]; 5] = [b"", b"a", b"", b"bc", b""];
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert_eq!(batch.written, 5);
    for (offset, payload) in offsets_of(&batch, &payloads).into_iter().zip(payloads) {
        assert_eq!(payload_at(&mut segment, offset), payload);
    }
    segment.sync(T).unwrap();
    assert_eq!(stored_header(&segment).entry_count, 5);
    drop(segment);
    assert_eq!(reopen(&mut bytes).0.record_count(), 5);
}

/// 10 threads each writing a batch of 20 into a 1 MiB segment: written counts equal position
/// counts, records read back, entry_count = total written. [TestSegment_WriteBatch_Concurrent]
/// Concurrent writers share a `Wal`.
#[test]
fn ten_threads_write_batches_into_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), Options::new().segment_size(1 << 20)).unwrap());
    let threads: Vec<_> = (0..10)
        .map(|t| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                let payloads: Vec<Vec<u8>> = (0..20).map(|i| data(t * 100 + i, 64)).collect();
                let positions = wal.append_batch(&payloads).unwrap();
                assert_eq!(positions.len(), payloads.len());
                (positions, payloads)
            })
        })
        .collect();
    for thread in threads {
        let (positions, payloads) = thread.join().unwrap();
        for (position, payload) in positions.iter().zip(&payloads) {
            assert_eq!(&*wal.read(*position).unwrap(), payload.as_slice());
        }
    }
    assert_eq!(wal.segments().len(), 1);
    assert_eq!(wal.segments()[0].record_count, 200);
    Arc::into_inner(wal).unwrap().close().unwrap();
    assert_eq!(file_header(dir.path(), 1).entry_count, 200);
}

/// A batch with msync-on-write writes and reads back. [TestSegment_WriteBatch_WithMSyncOnWrite]
/// msync-on-write is `SyncPolicy::EveryWrite`: the batch returns durable.
#[test]
fn batch_with_sync_on_every_write_is_durable_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal().sync_policy(SyncPolicy::EveryWrite)).unwrap();
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| data(i, 60)).collect();
    let positions = wal.append_batch(&payloads).unwrap();
    let info = wal.segments()[0];
    assert_eq!(info.durable_end, info.end);
    for (position, payload) in positions.iter().zip(&payloads) {
        assert_eq!(&*wal.read(*position).unwrap(), payload.as_slice());
    }
}

/// In a 512-byte segment a batch of 50 × 50 bytes returns SegmentFull with written = number of
/// positions = entry_count, all readable. [TestSegment_WriteBatch_PartialWriteExactCount] The
/// batch reports its 6 written records; `SegmentFull` is what the rest gets.
#[test]
fn partial_batch_counts_agree_everywhere() {
    let mut bytes = vec![0u8; 512];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..50).map(|i| data(i, 50)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert!(matches!(
        segment.append_batch(&payloads[batch.written..], 0),
        Err(Error::SegmentFull { .. })
    ));
    let offsets = offsets_of(&batch, &payloads);
    segment.sync(T).unwrap();
    assert_eq!(batch.written, 6);
    assert_eq!(offsets.len(), batch.written);
    assert_eq!(stored_header(&segment).entry_count, 6);
    assert_eq!(segment.record_count(), 6);
    for (offset, payload) in offsets.iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
}

/// A rejected oversized batch leaves write offset, entry_count and flags unchanged; the next
/// write lands at the old write offset. [TestSegment_WriteBatch_OversizedRecordNoStateChange]
#[test]
fn rejected_batch_changes_no_byte() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    segment.append(b"before", 0).unwrap();
    segment.sync(T).unwrap();
    let end = segment.end();
    let snapshot = segment.region().as_slice().to_vec();
    assert!(matches!(
        segment.append_batch(&[data(0, 10), data(1, 4096)], 0),
        Err(Error::RecordTooLarge { batch_index: 1, .. })
    ));
    assert_eq!(segment.region().as_slice(), snapshot.as_slice());
    assert_eq!((segment.end(), segment.record_count()), (end, 1));
    assert_eq!(segment.append(b"after", 0).unwrap(), end);
}

/// In an 800-byte segment a partial batch advances the write offset, adds written to
/// entry_count, advances last_modified_at, and leaves a valid header equal to the in-memory
/// values. [TestSegment_WriteBatch_MetadataConsistency] (After the sync.)
#[test]
fn header_on_the_medium_equals_the_in_memory_header_after_a_partial_batch() {
    let mut bytes = vec![0u8; 800];
    let mut segment = create(&mut bytes);
    segment.append(b"first", 0).unwrap();
    segment.sync(T).unwrap();
    let before = stored_header(&segment);
    let payloads: Vec<Vec<u8>> = (0..20).map(|i| data(i, 50)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    assert!(batch.written > 0 && batch.written < 20);
    segment.sync(T + 1_000).unwrap();
    let after = stored_header(&segment);
    assert_eq!(after, *segment.header());
    assert_eq!(after.write_offset, segment.end());
    assert!(after.write_offset > before.write_offset);
    assert_eq!(after.entry_count, before.entry_count + batch.written as u64);
    assert!(after.last_modified_at > before.last_modified_at);
}

/// A segment batch on a closed segment returns Closed and 0.
/// [TestSegment_WriteBatch_WithClosedSegment] As for single writes, the closest state is a
/// segment handle that refuses changes: the batch fails with `ReadOnly` and writes nothing.
#[test]
fn batch_on_a_segment_that_refuses_changes_writes_nothing() {
    let mut bytes = vec![0u8; KIB];
    create(&mut bytes).append(b"x", 0).unwrap();
    let mut segment = closed(&mut bytes);
    assert!(matches!(
        segment.append_batch(&[b"a", b"b"], 0),
        Err(Error::ReadOnly { segment: ID })
    ));
    assert_eq!(segment.record_count(), 1);
}

/// In a 1 KiB segment, 9 records of 88 bytes (frame 104) fit; the final write offset is ≤ S
/// and > S − 200; one more small record is either written (count 1) or refused with SegmentFull.
/// [TestSegment_WriteBatch_ExactlyFullSegment] Both outcomes are checked: an 8-byte record
/// (frame 24) fills the last 24 bytes, and the next one is refused.
#[test]
fn nine_records_of_88_bytes_nearly_fill_a_1_kib_segment() {
    const S: u64 = 1024;
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..9).map(|i| data(i, 88)).collect();
    assert_eq!(frame_len(88), 104);
    assert_eq!(segment.append_batch(&payloads, 0).unwrap().written, 9);
    assert!(segment.end() <= S && segment.end() > S - 200);
    assert_eq!(segment.append_batch(&[[1u8; 8]], 0).unwrap().written, 1);
    assert_eq!(segment.end(), S);
    assert!(matches!(
        segment.append_batch(&[[2u8; 8]], 0),
        Err(Error::SegmentFull { .. })
    ));
}

/// Every batch position is a multiple of 8 and each read's next offset equals the next
/// position. [TestSegment_WriteBatch_AlignmentVerification]
#[test]
fn batch_positions_are_aligned_and_chained() {
    let mut bytes = vec![0u8; 2 * KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (1..=17).map(|n| data(n, n)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    let offsets = offsets_of(&batch, &payloads);
    for (i, &offset) in offsets.iter().enumerate() {
        assert_eq!(offset % 8, 0);
        let next = offsets.get(i + 1).copied().unwrap_or(batch.end_offset);
        assert_eq!(segment.read(offset).unwrap().next_offset(), next);
    }
    assert_eq!(batch.end_offset, segment.end());
}

/// Batch records pass the CRC check after sealing and after reopening.
/// [TestSegment_WriteBatch_CRCValidation] After reopening, a full verification of the sealed
/// segment (`verify_sealed`) passes too.
#[test]
fn batch_records_pass_the_crc_check_after_sealing_and_reopening() {
    let mut bytes = vec![0u8; 2 * KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..6).map(|i| data(i, 100 + i)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    let offsets = offsets_of(&batch, &payloads);
    segment.seal(T).unwrap();
    for (offset, payload) in offsets.iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
    drop(segment);
    let verify = OpenOptions {
        verify_sealed: true,
        ..OpenOptions::default()
    };
    let (mut segment, _) = Segment::open(RamRegion::new(&mut bytes), ID, verify).unwrap();
    for (offset, payload) in offsets.iter().zip(&payloads) {
        assert_eq!(&payload_at(&mut segment, *offset), payload);
    }
}

/// The 8 bytes after each batch payload are DE AD BE EF FE ED FA CE.
/// [TestSegment_WriteBatch_TrailerValidation]
#[test]
fn trailer_follows_every_batch_payload() {
    let mut bytes = vec![0u8; KIB];
    let mut segment = create(&mut bytes);
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| data(i, 3 + 7 * i)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    let region = segment.region().as_slice();
    for (offset, payload) in offsets_of(&batch, &payloads).into_iter().zip(&payloads) {
        let trailer = at(offset) + 8 + payload.len();
        assert_eq!(&region[trailer..trailer + 8], &TRAILER);
        assert_eq!(TRAILER, [0xDE, 0xAD, 0xBE, 0xEF, 0xFE, 0xED, 0xFA, 0xCE]);
    }
}

/// A segment batch on a closing segment returns Closed and 0.
/// [TestSegment_WriteBatch_StateOpenCheck] There is no "closing" state; the closest state that
/// refuses writes while the handle still exists is a poisoned segment (a sync failed, so it
/// refuses every change until reopened, SPEC §13.4): the batch fails with `Poisoned` and
/// writes nothing.
#[test]
fn batch_on_a_poisoned_segment_writes_nothing() {
    let mut storage = MemStorage::new();
    let region = storage.create_segment(ID, 1024).unwrap();
    let mut segment = Segment::create(region, ID, init()).unwrap();
    segment.append(b"before", 0).unwrap();
    storage.faults().fail_next_persist.set(true);
    assert!(matches!(segment.sync(T), Err(Error::Region { .. })));
    let end = segment.end();
    assert!(matches!(
        segment.append_batch(&[b"a", b"b"], 0),
        Err(Error::Poisoned { segment: ID, .. })
    ));
    assert_eq!((segment.end(), segment.record_count()), (end, 1));
}

/// Padding bytes after each trailer are zero. [TestSegment_WriteBatch_PaddingZeroed] Checked on
/// a NOR-like region, where unwritten bytes read 0xFF, so padding that was not written as zeros
/// would show.
#[test]
fn padding_after_every_trailer_is_zero() {
    let mut flash = vec![0u8; KIB];
    let mut segment = Segment::create(NorRegion::erased(&mut flash), ID, init()).unwrap();
    let payloads: Vec<Vec<u8>> = (1..=8).map(|n| data(n, n)).collect();
    let batch = segment.append_batch(&payloads, 0).unwrap();
    let region = segment.region().as_slice();
    for (offset, payload) in offsets_of(&batch, &payloads).into_iter().zip(&payloads) {
        let padding = at(offset) + 16 + payload.len()..at(offset + frame_len(payload.len() as u64));
        assert!(region[padding].iter().all(|&b| b == 0));
    }
    assert!(region[at(batch.end_offset)..].iter().all(|&b| b == 0xFF));
}

/// In a 256-byte segment holding a 150-byte record, a batch [100, 50] returns SegmentFull, 0
/// written, no positions. [TestSegment_WriteBatch_SegmentFullOnFirstRecord]
#[test]
fn batch_whose_first_record_does_not_fit_is_segment_full() {
    let mut bytes = vec![0u8; 256];
    let mut segment = create(&mut bytes);
    segment.append(&data(0, 150), 0).unwrap();
    let end = segment.end();
    assert_eq!(end, 232);
    assert!(matches!(
        segment.append_batch(&[data(1, 100), data(2, 50)], 0),
        Err(Error::SegmentFull {
            offset: 232,
            frame_len: 120,
            ..
        })
    ));
    assert_eq!((segment.end(), segment.record_count()), (end, 1));
}

/// `TruncateTo(2)` on a sealed segment holding indexes 1..4 unseals it, leaves entry_count 2 and
/// 2 index entries; a new write with index 3 lands in the same segment and reads back.
/// [TestSegment_TruncateTo_UnsealsAndKeepsSegment] Truncation by log index is
/// `Wal::truncate_after` (the core's `Segment::truncate_to` takes a record count); the empty
/// segment after the target is removed and the target becomes the active segment (SPEC §13.11).
#[test]
fn truncating_a_sealed_segment_unseals_it_and_writes_continue_there() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    let positions: Vec<Position> = (1..=4)
        .map(|i| wal.append_indexed(&data(i, 40), i as u64).unwrap())
        .collect();
    wal.rotate().unwrap();
    assert!(wal.segments()[0].sealed);
    wal.truncate_after(2).unwrap();
    let segments = wal.segments();
    assert_eq!(segments.len(), 1);
    assert!(!segments[0].sealed && segments[0].active);
    assert_eq!(segments[0].record_count, 2);
    assert_eq!(segments[0].last_log_index, Some(2));
    let header = file_header(dir.path(), 1);
    assert!(!header.flags.is_sealed() && header.flags.is_active());
    assert_eq!(header.entry_count, 2);
    let position = wal.append_indexed(b"three", 3).unwrap();
    assert_eq!(position, positions[2]);
    assert_eq!(&*wal.read(position).unwrap(), b"three");
}

/// `TruncateTo` on an empty segment fails with "segment is empty, cannot truncate to"; with
/// indexes 5, 6: `TruncateTo(3)` fails with "before segment start", `TruncateTo(10)` with "not
/// found in segment index". [TestSegment_TruncateTo_Errors] The errors are typed: nothing to
/// truncate is `LogIndexNotYetAvailable` (or, for a segment, `TruncateBeyondEnd`), before the
/// start is `LogIndexTruncated`, beyond the end `LogIndexNotYetAvailable` (SPEC §13.35).
#[test]
fn truncation_errors_are_typed() {
    let mut bytes = vec![0u8; KIB];
    assert!(matches!(
        create(&mut bytes).truncate_to(1, T),
        Err(Error::TruncateBeyondEnd {
            keep: 1,
            record_count: 0,
            ..
        })
    ));
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    assert!(matches!(
        wal.truncate_after(3),
        Err(WalError::Wal(Error::LogIndexNotYetAvailable {
            requested: 3,
            last: 0
        }))
    ));
    wal.append_indexed(b"five", 5).unwrap();
    wal.append_indexed(b"six", 6).unwrap();
    assert!(matches!(
        wal.truncate_after(3),
        Err(WalError::Wal(Error::LogIndexTruncated {
            requested: 3,
            first: 5
        }))
    ));
    assert!(matches!(
        wal.truncate_after(10),
        Err(WalError::Wal(Error::LogIndexNotYetAvailable {
            requested: 10,
            last: 6
        }))
    ));
    assert_eq!(wal.log_index_bounds(), Some((5, 6)));
}

/// `Remove` deletes the segment file and its index file. [TestSegment_RemoveDeletesFiles]
/// Segments are removed by retention (`Wal::apply_retention`).
#[test]
fn removing_a_segment_deletes_its_file_and_index_file() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_sealed_segment(dir.path());
    let index = dir.path().join("000000001.wal.idx");
    assert!(segment_file(dir.path(), 1).exists() && index.exists());
    assert_eq!(
        wal.apply_retention(&keep_one_segment(), |_| true).unwrap(),
        vec![ID]
    );
    assert!(!segment_file(dir.path(), 1).exists());
    assert!(!index.exists());
    assert!(segment_file(dir.path(), 2).exists());
}

fn marked_segment(bytes: &mut [u8], marker: u32) {
    let init = SegmentInit { marker, ..init() };
    Segment::create(RamRegion::new(bytes), ID, init).unwrap();
}

fn open_validated(
    bytes: &mut [u8],
    validator: Option<fn(u32) -> bool>,
) -> Result<u32, Error<RamRegionError>> {
    let options = OpenOptions {
        marker_validator: validator,
        ..OpenOptions::default()
    };
    Segment::open(RamRegion::new(bytes), ID, options).map(|(segment, _)| segment.header().marker)
}

/// A segment created with marker 1 and reopened with a validator expecting 2 fails with the
/// validator's own error (and vice versa). [TestSegmentMarkerMismatch_StandaloneMarker,
/// TestSegmentMarkerMismatch_RaftMarker] A validator is a `fn(u32) -> bool`; its refusal is the
/// typed `MarkerRejected` naming the stored marker, not an error of the caller's choosing.
#[test]
fn marker_validator_refuses_a_different_marker() {
    let mut bytes = vec![0u8; 256];
    marked_segment(&mut bytes, 1);
    assert!(matches!(
        open_validated(&mut bytes, Some(|marker| marker == 2)),
        Err(Error::MarkerRejected {
            segment: ID,
            marker: 1
        })
    ));
    let mut bytes = vec![0u8; 256];
    marked_segment(&mut bytes, 2);
    assert!(matches!(
        open_validated(&mut bytes, Some(|marker| marker == 1)),
        Err(Error::MarkerRejected { marker: 2, .. })
    ));
}

/// A new segment stores the configured marker in bytes 52..56.
/// [TestSegmentMarkerAcceptsFreshSegment]
#[test]
fn new_segment_stores_its_marker_in_bytes_52_to_56() {
    let dir = tempfile::tempdir().unwrap();
    let _wal = Wal::open(dir.path(), small_wal().marker(0xC0DE_0001)).unwrap();
    let bytes = std::fs::read(segment_file(dir.path(), 1)).unwrap();
    assert_eq!(&bytes[52..56], &0xC0DE_0001u32.to_le_bytes());
}

/// Reopening with the same marker and validator succeeds. [TestSegmentMarkerReopensWithSameMode]
#[test]
fn reopening_with_the_same_marker_and_validator_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let options = || small_wal().marker(7).marker_validator(|marker| marker == 7);
    let wal = Wal::open(dir.path(), options()).unwrap();
    wal.append(b"marked").unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), options()).unwrap();
    assert_eq!(wal.segments()[0].record_count, 1);
    let mut bytes = vec![0u8; 256];
    marked_segment(&mut bytes, 7);
    assert_eq!(
        open_validated(&mut bytes, Some(|marker| marker == 7)),
        Ok(7)
    );
}

/// Reopening without a validator accepts any stored marker.
/// [TestSegmentMarkerNoMarkerConfiguredAllowsAnyExisting]
#[test]
fn reopening_without_a_validator_accepts_any_marker() {
    for marker in [0, 1, 2, u32::MAX] {
        let mut bytes = vec![0u8; 256];
        marked_segment(&mut bytes, marker);
        assert_eq!(open_validated(&mut bytes, None), Ok(marker));
    }
}

/// Without a configured marker the stored marker is 0, and a validator that accepts 0 lets it
/// open. [TestSegmentMarkerZeroStoredAllowsAnyConfig]
#[test]
fn unmarked_segment_stores_zero_and_opens_with_a_validator_accepting_zero() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_wal()).unwrap();
    wal.close().unwrap();
    assert_eq!(file_header(dir.path(), 1).marker, 0);
    let wal = Wal::open(
        dir.path(),
        small_wal().marker(9).marker_validator(|m| m == 0),
    );
    drop(wal.unwrap());
    assert!(matches!(
        Wal::open(dir.path(), small_wal().marker_validator(|m| m == 9)),
        Err(WalError::Wal(Error::MarkerRejected { marker: 0, .. }))
    ));
}
