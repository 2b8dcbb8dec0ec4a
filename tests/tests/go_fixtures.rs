//! Reference fixtures: WAL directories written by the Go walfs (`fixtures/go-walfs`, see its
//! README). Every case is read with walfs-core and checked against its `manifest.json`: what was
//! written, what the files hold, and what the Go original returned when it opened and read them.
//!
//! Segments written by Go never carry the walfs `WATERMARK` flag, so walfs-core has no durable
//! watermark for them and every stop of the recovery scan is a clean end or a torn tail
//! (`ScanStop::TornTail`), never `ScanStop::Corruption`. Go cannot tell these apart either: its
//! recovery stops silently at the first bad frame. Where walfs-core is stricter than Go, the test
//! says so.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use walfs_core::format::{INDEX_ENTRY_LEN, record_crc};
use walfs_core::{
    CorruptionReason, CursorStep, Error, IndexEntry, NextLogIndex, OpenOptions, OpenReport,
    Position, RamRegion, RamRegionError, ScanOutcome, ScanStop, Segment, SegmentCursor,
    SegmentFlags, SegmentHeader, SegmentId, scan_segment,
};
use walfs_tests::payload::fixture_payload;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/go-walfs");

const CASES: [&str; 13] = [
    "01-single-active",
    "02-rotated-mixed",
    "03-batch-logindex",
    "04-custom-marker",
    "05-torn-tail",
    "06-bad-crc-active",
    "07-garbage-tail",
    "08-sealed-missing-index",
    "09-bad-crc-sealed",
    "10-bad-header-crc",
    "11-all-sealed",
    "12-stale-active-header",
    "13-unsealed-earlier-segment",
];

type CoreError = Error<RamRegionError>;

// ---------------------------------------------------------------------------------------------
// manifest.json (only the keys these tests use; serde ignores the others)

#[derive(Debug, Deserialize)]
struct Manifest {
    case: String,
    segment_size: u64,
    ext: String,
    derived_from: Option<String>,
    written: Written,
    files: Vec<ShippedFile>,
    segment_headers_on_disk: Vec<HeaderOnDisk>,
    go_open_and_read: GoRead,
    #[serde(default)]
    go_open_and_read_variants: HashMap<String, GoRead>,
}

#[derive(Debug, Deserialize)]
struct Written {
    params: Params,
    records: Vec<WrittenRecord>,
    segments_after_close: Vec<HeaderAfterClose>,
    index_files: Option<Vec<IndexFile>>,
}

#[derive(Debug, Deserialize)]
struct Params {
    seed: String,
    count: u64,
    min: u64,
    max: u64,
    segsize: u64,
    logindex: bool,
    #[serde(rename = "override")]
    length_override: String,
}

#[derive(Debug, Deserialize)]
struct WrittenRecord {
    i: u64,
    log_index: u64,
    seg: u32,
    off: u64,
    len: u64,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct HeaderAfterClose {
    file: String,
    id: u32,
    file_size: u64,
    magic: String,
    version: u32,
    created_at_ns: i64,
    last_modified_at_ns: i64,
    write_offset: u64,
    entry_count: u64,
    flags: u32,
    first_log_index: u64,
    marker: String,
    header_crc: String,
    header_crc_ok: bool,
    bytes_60_64: String,
}

#[derive(Debug, Deserialize)]
struct HeaderOnDisk {
    file: String,
    write_offset: u64,
    entry_count: u64,
    flags: u32,
    first_log_index: u64,
    marker: String,
    header_crc_ok: bool,
}

#[derive(Debug, Deserialize)]
struct IndexFile {
    file: String,
    entries: usize,
    pad_bytes_zero: bool,
    list: Vec<IndexListEntry>,
}

#[derive(Debug, Deserialize)]
struct IndexListEntry {
    off: u64,
    len: u32,
}

#[derive(Debug, Deserialize)]
struct ShippedFile {
    name: String,
    size: u64,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct GoRead {
    records: Vec<GoRecord>,
    end: GoEnd,
}

#[derive(Debug, Deserialize)]
struct GoRecord {
    seg: u32,
    off: u64,
    len: u64,
    sha256: String,
    lsn: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct GoEnd {
    count: usize,
    end_kind: String,
    open_error: Option<String>,
    segsize: u64,
    lsn_bounds: [u64; 2],
    next_write: Option<GoPosition>,
    segments: Option<Vec<GoSegment>>,
    probe_write: Option<String>,
    side_effects_of_open: Vec<SideEffect>,
}

#[derive(Debug, Deserialize)]
struct GoPosition {
    seg: u32,
    off: u64,
}

#[derive(Debug, Deserialize)]
struct GoSegment {
    id: u32,
    sealed: bool,
    write_offset: u64,
    entry_count_header: u64,
    index_entries: u64,
    first_log_index: u64,
}

#[derive(Debug, Deserialize)]
struct SideEffect {
    file: String,
    change: String,
}

// ---------------------------------------------------------------------------------------------
// Loading a case

struct Case {
    name: &'static str,
    manifest: Manifest,
}

impl Case {
    fn load(name: &'static str) -> Case {
        let path = format!("{FIXTURES}/{name}/manifest.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let manifest: Manifest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(manifest.case, name);
        assert_eq!(manifest.ext, ".wal");
        Case { name, manifest }
    }

    fn wal_dir(&self) -> PathBuf {
        PathBuf::from(format!("{FIXTURES}/{}/wal", self.name))
    }

    fn file(&self, name: &str) -> Vec<u8> {
        let path = self.wal_dir().join(name);
        fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn segment(&self, id: u32) -> Vec<u8> {
        self.file(&format!("{id:09}.wal"))
    }

    /// Every segment file, by id, as bytes.
    fn segments(&self) -> Vec<(u32, Vec<u8>)> {
        let mut ids: Vec<u32> = fs::read_dir(self.wal_dir())
            .expect("wal directory")
            .map(|entry| entry.expect("directory entry").file_name())
            .filter_map(|name| name.to_str()?.strip_suffix(".wal")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| {
                let bytes = self.segment(id);
                assert_eq!(
                    bytes.len() as u64,
                    self.manifest.segment_size,
                    "{}",
                    self.name
                );
                (id, bytes)
            })
            .collect()
    }

    /// The record the generator wrote at `(seg, off)`.
    fn written_at(&self, seg: u32, off: u64) -> &WrittenRecord {
        self.manifest
            .written
            .records
            .iter()
            .find(|r| r.seg == seg && r.off == off)
            .unwrap_or_else(|| panic!("{}: nothing was written at ({seg}, {off})", self.name))
    }

    /// The payload of record `i`, regenerated from `written.params`.
    fn payload(&self, i: u64) -> Vec<u8> {
        let params = &self.manifest.written.params;
        let overrides = parse_overrides(&params.length_override);
        fixture_payload(
            parse_hex(&params.seed),
            i,
            params.min,
            params.max,
            overrides.get(&i).copied(),
        )
    }
}

fn parse_hex(text: &str) -> u64 {
    let digits = text.strip_prefix("0x").expect("hex with 0x prefix");
    u64::from_str_radix(digits, 16).expect("hex number")
}

fn parse_hex_u32(text: &str) -> u32 {
    u32::try_from(parse_hex(text)).expect("a 32-bit value")
}

/// `"0=0,5=0,10=65456"` → record index → length.
fn parse_overrides(text: &str) -> HashMap<u64, u64> {
    text.split(',')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (i, len) = item.split_once('=').expect("i=len");
            (i.parse().expect("index"), len.parse().expect("length"))
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn header_bytes(segment: &[u8]) -> &[u8; 64] {
    segment
        .first_chunk::<64>()
        .expect("a segment holds a header")
}

fn open(
    bytes: &mut [u8],
    id: u32,
    options: OpenOptions,
) -> Result<(Segment<RamRegion<'_>>, OpenReport), CoreError> {
    Segment::open(RamRegion::new(bytes), SegmentId(id), options)
}

fn verify_sealed() -> OpenOptions {
    OpenOptions {
        verify_sealed: true,
        ..OpenOptions::default()
    }
}

/// The recovery scan of an unsealed Go segment: no watermark, so 64 is passed.
fn scan_without_watermark(bytes: &mut [u8]) -> ScanOutcome {
    let capacity = bytes.len() as u64;
    scan_segment(&mut RamRegion::new(bytes), capacity, 64, |_| {}).expect("RAM cannot fail")
}

/// Offset just past the last non-zero byte of `bytes` at or after `from`.
fn last_non_zero_end(bytes: &[u8], from: usize) -> u64 {
    bytes[from..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(from as u64, |at| (from + at + 1) as u64)
}

// ---------------------------------------------------------------------------------------------
// Reading a whole WAL the way the Go reader of the manifest did

#[derive(Debug)]
struct ReadRecord {
    seg: u32,
    off: u64,
    len: u64,
    sha256: String,
    lsn: Option<u64>,
    payload: Vec<u8>,
}

#[derive(Debug)]
enum ReadEnd {
    /// The last segment is active and the cursor reached its end (Go: `ErrNoNewData`).
    NoNewData,
    /// Every segment is sealed and the cursor reached the end of the last one (Go: `EOF`).
    EndOfLog,
    /// A cursor step failed (Go: `ErrInvalidCRC` for a bad CRC).
    ReadFailed(CoreError),
    /// A segment failed to open (Go: the whole open fails).
    OpenFailed(CoreError),
}

/// A segment's state after the open, in the terms of `go_open_and_read.end.segments`.
#[derive(Debug, PartialEq, Eq)]
struct SegmentState {
    id: u32,
    sealed: bool,
    write_offset: u64,
    entry_count_header: u64,
    index_entries: u64,
    first_log_index: u64,
}

struct WalRead {
    records: Vec<ReadRecord>,
    end: ReadEnd,
    segments: Vec<SegmentState>,
    /// Where a 5-byte record `probe` landed in the last segment, or why it was refused.
    probe: Option<Result<Position, CoreError>>,
}

/// Opens every segment of the case with `options`, reads every record with a cursor from the
/// first segment on, and then appends a probe record to the last segment.
fn read_wal(case: &Case, options: OpenOptions) -> WalRead {
    let mut files = case.segments();
    let mut segments = Vec::new();
    for (id, bytes) in &mut files {
        match open(bytes, *id, options) {
            Ok((segment, _)) => segments.push(segment),
            Err(error) => {
                return WalRead {
                    records: Vec::new(),
                    end: ReadEnd::OpenFailed(error),
                    segments: Vec::new(),
                    probe: None,
                };
            }
        }
    }
    // The Go WAL seals an unsealed segment that is not the last one when it opens the log
    // (README note 9, case 13). walfs-core leaves that to the layer above it; do the same here,
    // keeping the header's timestamp.
    let last = segments.len() - 1;
    for segment in &mut segments[..last] {
        if !segment.is_sealed() {
            let now = segment.header().last_modified_at;
            segment
                .seal(now)
                .expect("sealing an earlier unsealed segment");
        }
    }
    let states = segments
        .iter()
        .map(|s| SegmentState {
            id: s.id().0,
            sealed: s.is_sealed(),
            write_offset: s.end(),
            entry_count_header: s.header().entry_count,
            index_entries: s.record_count(),
            first_log_index: s.first_log_index(),
        })
        .collect();
    let mut records = Vec::new();
    let mut end = ReadEnd::NoNewData;
    for (n, segment) in segments.iter_mut().enumerate() {
        match read_segment(segment, &mut records) {
            Ok(CursorStep::NoNewData) if n == last => end = ReadEnd::NoNewData,
            Ok(CursorStep::EndOfSegment) if n == last => end = ReadEnd::EndOfLog,
            Ok(_) => {}
            Err(error) => {
                end = ReadEnd::ReadFailed(error);
                break;
            }
        }
    }
    let segment = &mut segments[last];
    let log_index = segment.expected_log_index().accepted().unwrap_or(0);
    let probe = segment
        .append(b"probe", log_index)
        .map(|offset| segment.position(offset));
    WalRead {
        records,
        end,
        segments: states,
        probe: Some(probe),
    }
}

/// Reads the records of one segment with a cursor; returns the step that ended the read.
fn read_segment(
    segment: &mut Segment<RamRegion<'_>>,
    out: &mut Vec<ReadRecord>,
) -> Result<CursorStep, CoreError> {
    let mut cursor = SegmentCursor::new(segment.id());
    let mut ordinal = 0u64;
    loop {
        match cursor.next_in(segment)? {
            CursorStep::Record(frame) => {
                let payload = segment.payload(&frame).expect("RAM gives views").to_vec();
                let first = segment.first_log_index();
                out.push(ReadRecord {
                    seg: segment.id().0,
                    off: frame.offset,
                    len: u64::from(frame.payload_len),
                    sha256: sha256_hex(&payload),
                    lsn: (first != 0).then_some(first + ordinal),
                    payload,
                });
                ordinal += 1;
            }
            step => return Ok(step),
        }
    }
}

/// Checks a read of walfs-core against one view of the Go original.
fn assert_matches_go(name: &str, read: &WalRead, go: &GoRead) {
    for (n, (ours, theirs)) in read.records.iter().zip(&go.records).enumerate() {
        assert_eq!(
            (ours.seg, ours.off, ours.len, ours.sha256.as_str(), ours.lsn),
            (
                theirs.seg,
                theirs.off,
                theirs.len,
                theirs.sha256.as_str(),
                theirs.lsn
            ),
            "{name}: record {n} (seg, off, len, sha256, lsn)"
        );
    }
    assert_eq!(read.records.len(), go.records.len(), "{name}: record count");
    assert_eq!(go.end.count, go.records.len(), "{name}: manifest count");

    match (go.end.end_kind.as_str(), &read.end) {
        ("ErrNoNewData", ReadEnd::NoNewData)
        | ("EOF", ReadEnd::EndOfLog)
        | (
            "ErrInvalidCRC",
            ReadEnd::ReadFailed(Error::Corrupt {
                reason: CorruptionReason::BadCrc { .. },
                ..
            }),
        ) => {}
        ("open_error", ReadEnd::OpenFailed(error)) => {
            let message = go.end.open_error.as_deref().expect("open_error message");
            let segment = format!(
                "failed to open segment {}:",
                error.segment().map_or(0, |id| id.0)
            );
            assert!(message.contains(&segment), "{name}: {message} vs {error:?}");
        }
        (kind, ours) => panic!("{name}: Go ended with {kind}, walfs-core with {ours:?}"),
    }

    if let Some(go_segments) = &go.end.segments {
        let expected: Vec<SegmentState> = go_segments
            .iter()
            .map(|s| SegmentState {
                id: s.id,
                sealed: s.sealed,
                write_offset: s.write_offset,
                entry_count_header: s.entry_count_header,
                index_entries: s.index_entries,
                first_log_index: s.first_log_index,
            })
            .collect();
        assert_eq!(read.segments, expected, "{name}: segment states after open");
    }
    if let Some(next) = &go.end.next_write {
        let last = read.segments.last().expect("segments");
        assert_eq!(
            (last.id, last.write_offset),
            (next.seg, next.off),
            "{name}: next write"
        );
    }
    assert_eq!(
        lsn_bounds(&read.segments),
        go.end.lsn_bounds,
        "{name}: log index bounds"
    );
    match (go.end.probe_write.as_deref(), &read.probe) {
        (None, None) => {}
        (Some(text), Some(Ok(position))) if text.starts_with("ok ") => {
            let expected = format!("ok seg={} off={}", position.segment, position.offset);
            assert_eq!(text, expected, "{name}: probe write");
        }
        (Some(text), Some(Err(Error::Sealed { .. })))
            if text.starts_with("error (ErrSegmentSealed)") => {}
        (go_probe, ours) => panic!("{name}: probe {go_probe:?} vs {ours:?}"),
    }
}

/// First and last log index known after the open (0, 0 without log indexes).
fn lsn_bounds(segments: &[SegmentState]) -> [u64; 2] {
    let with_index = || segments.iter().filter(|s| s.first_log_index != 0);
    let first = with_index().map(|s| s.first_log_index).min().unwrap_or(0);
    let last = with_index()
        .map(|s| s.first_log_index + s.index_entries - 1)
        .max()
        .unwrap_or(0);
    [first, last]
}

/// Every payload read back equals the one regenerated from `written.params`, and its log index
/// is the one it was written with.
fn assert_payloads_regenerate(case: &Case, read: &WalRead) {
    for record in &read.records {
        let written = case.written_at(record.seg, record.off);
        assert_eq!(
            record.payload,
            case.payload(written.i),
            "{}: record {}",
            case.name,
            written.i
        );
        assert_eq!(record.lsn.unwrap_or(0), written.log_index, "{}", case.name);
    }
}

/// The generic checks every case gets: the Go read, payloads, headers and index files.
fn check_case(name: &'static str) -> (Case, WalRead) {
    let case = Case::load(name);
    assert_eq!(
        case.manifest.go_open_and_read.end.segsize,
        case.manifest.segment_size
    );
    assert_eq!(
        case.manifest.written.params.segsize,
        case.manifest.segment_size
    );
    let read = read_wal(&case, OpenOptions::default());
    assert_matches_go(name, &read, &case.manifest.go_open_and_read);
    assert_payloads_regenerate(&case, &read);
    assert_headers_match(&case);
    assert_index_files_match(&case);
    (case, read)
}

/// Decoded headers equal `segment_headers_on_disk`, and for undamaged cases every field of
/// `written.segments_after_close`.
fn assert_headers_match(case: &Case) {
    let name = case.name;
    for on_disk in &case.manifest.segment_headers_on_disk {
        let bytes = case.file(&on_disk.file);
        let head = header_bytes(&bytes);
        let header = match SegmentHeader::decode(head) {
            Ok(header) => {
                assert!(on_disk.header_crc_ok, "{name}: {} decodes", on_disk.file);
                header
            }
            Err(CorruptionReason::BadHeaderCrc { .. }) if !on_disk.header_crc_ok => {
                SegmentHeader::decode_unchecked(head)
            }
            Err(reason) => panic!("{name}: {}: {reason:?}", on_disk.file),
        };
        assert_eq!(
            (
                header.flags.0,
                header.write_offset,
                header.entry_count,
                header.first_log_index,
                header.marker,
            ),
            (
                on_disk.flags,
                on_disk.write_offset,
                on_disk.entry_count,
                on_disk.first_log_index,
                parse_hex_u32(&on_disk.marker),
            ),
            "{name}: {} (flags, write_offset, entry_count, first_log_index, marker)",
            on_disk.file
        );
    }
    if case.manifest.derived_from.is_some() {
        // segments_after_close describes the base case before the damage.
        return;
    }
    for after in &case.manifest.written.segments_after_close {
        let bytes = case.segment(after.id);
        assert_eq!(after.file, format!("{:09}.wal", after.id));
        assert_eq!(bytes.len() as u64, after.file_size);
        let head = header_bytes(&bytes);
        assert!(after.header_crc_ok);
        let header = SegmentHeader::decode(head).expect("undamaged header");
        let expected = SegmentHeader {
            magic: parse_hex_u32(&after.magic),
            version: after.version,
            created_at: after.created_at_ns,
            last_modified_at: after.last_modified_at_ns,
            write_offset: after.write_offset,
            entry_count: after.entry_count,
            flags: SegmentFlags(after.flags),
            first_log_index: after.first_log_index,
            marker: parse_hex_u32(&after.marker),
        };
        assert_eq!(header, expected, "{name}: {}", after.file);
        assert_eq!(
            SegmentHeader::stored_crc(head),
            parse_hex_u32(&after.header_crc)
        );
        // The header walfs-core encodes from these fields is the Go header, byte for byte.
        assert_eq!(&header.encode(), head, "{name}: {} re-encoded", after.file);
        assert_eq!(after.bytes_60_64, "00000000");
    }
}

/// Index files decode to `written.index_files` (where the file is still shipped), and each
/// entry names a record that walfs-core reads at that offset with that length.
fn assert_index_files_match(case: &Case) {
    let name = case.name;
    let Some(index_files) = &case.manifest.written.index_files else {
        return;
    };
    for index in index_files {
        if !case.wal_dir().join(&index.file).exists() {
            // Deleted in the damaged copies 08 and 13.
            assert!(
                case.manifest.derived_from.is_some(),
                "{name}: {}",
                index.file
            );
            continue;
        }
        let bytes = case.file(&index.file);
        let (chunks, rest) = bytes.as_chunks::<INDEX_ENTRY_LEN>();
        assert!(rest.is_empty(), "{name}: {} is whole entries", index.file);
        assert_eq!(chunks.len(), index.entries, "{name}: {}", index.file);
        assert_eq!(index.list.len(), index.entries, "{name}: {}", index.file);
        let entries: Vec<IndexEntry> = chunks.iter().map(IndexEntry::decode).collect();
        let expected: Vec<IndexEntry> = index
            .list
            .iter()
            .map(|e| IndexEntry {
                offset: e.off,
                payload_len: e.len,
            })
            .collect();
        assert_eq!(entries, expected, "{name}: {}", index.file);
        let pad_zero = chunks.iter().all(|chunk| chunk[12..] == [0; 4]);
        assert_eq!(pad_zero, index.pad_bytes_zero, "{name}: {}", index.file);

        let id: u32 = index
            .file
            .strip_suffix(".wal.idx")
            .expect("idx name")
            .parse()
            .expect("id");
        let mut segment_bytes = case.segment(id);
        if SegmentHeader::decode(header_bytes(&segment_bytes)).is_err() {
            // Case 10 segment 2: it cannot be opened (checked in its own test).
            continue;
        }
        let (mut segment, _) = open(&mut segment_bytes, id, OpenOptions::default())
            .unwrap_or_else(|e| panic!("{name}: segment {id}: {e}"));
        assert_eq!(segment.record_count(), entries.len() as u64);
        for entry in &entries {
            assert!(entry.is_plausible(segment.end()), "{name}: {entry:?}");
            match segment.read(entry.offset) {
                Ok(frame) => assert_eq!(frame, entry.frame(), "{name}: segment {id}"),
                Err(Error::Corrupt {
                    offset: 6560,
                    reason: CorruptionReason::BadCrc { .. },
                    ..
                }) if (name, id) == ("09-bad-crc-sealed", 1) => {}
                Err(error) => panic!("{name}: segment {id}: {error}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks over every case

#[test]
fn shipped_files_have_the_manifest_sizes_and_sha256() {
    for name in CASES {
        let case = Case::load(name);
        let mut names: Vec<String> = fs::read_dir(case.wal_dir())
            .expect("wal directory")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        let mut listed: Vec<String> = case.manifest.files.iter().map(|f| f.name.clone()).collect();
        listed.sort();
        assert_eq!(names, listed, "{name}: files in wal/");
        for file in &case.manifest.files {
            let bytes = case.file(&file.name);
            assert_eq!(bytes.len() as u64, file.size, "{name}: {}", file.name);
            assert_eq!(sha256_hex(&bytes), file.sha256, "{name}: {}", file.name);
        }
    }
}

#[test]
fn every_written_record_regenerates_from_the_payload_rule() {
    for name in CASES {
        let case = Case::load(name);
        let params = &case.manifest.written.params;
        assert_eq!(case.manifest.written.records.len() as u64, params.count);
        for (n, record) in case.manifest.written.records.iter().enumerate() {
            assert_eq!(record.i, n as u64);
            let payload = case.payload(record.i);
            assert_eq!(payload.len() as u64, record.len, "{name}: record {n}");
            assert_eq!(sha256_hex(&payload), record.sha256, "{name}: record {n}");
            let log_index = if params.logindex { record.i + 1 } else { 0 };
            assert_eq!(record.log_index, log_index, "{name}: record {n}");
        }
    }
}

#[test]
fn every_sealed_segment_passes_verify_sealed_except_the_damaged_one_of_case_09() {
    let mut verified = 0;
    for name in CASES {
        let case = Case::load(name);
        for (id, mut bytes) in case.segments() {
            let Ok(header) = SegmentHeader::decode(header_bytes(&bytes)) else {
                continue; // case 10 segment 2, which cannot be opened at all
            };
            if !header.flags.is_sealed() {
                continue;
            }
            let result = open(&mut bytes, id, verify_sealed());
            if (name, id) == ("09-bad-crc-sealed", 1) {
                assert!(
                    matches!(
                        result,
                        Err(Error::Corrupt {
                            offset: 6560,
                            reason: CorruptionReason::BadCrc { .. },
                            ..
                        })
                    ),
                    "{result:?}"
                );
                continue;
            }
            let (segment, report) = result.unwrap_or_else(|e| panic!("{name}: {id}: {e}"));
            let scan = report.scan.expect("verify_sealed scans");
            assert_eq!(scan.stop, ScanStop::CleanEnd, "{name}: segment {id}");
            assert_eq!(scan.end, header.write_offset, "{name}: segment {id}");
            assert_eq!(
                scan.record_count, header.entry_count,
                "{name}: segment {id}"
            );
            assert_eq!(segment.record_count(), header.entry_count);
            assert!(segment.is_sealed());
            verified += 1;
        }
    }
    // 02: 6, 03: 2, 04: 1, 08: 2, 09: 1 (segment 2), 10: 1 (segment 1), 11: 2, 13: 1 (segment 2).
    assert_eq!(verified, 16);
}

// ---------------------------------------------------------------------------------------------
// One test per case

#[test]
fn single_active_case_reads_100_records_then_no_new_data_and_appends_at_7240() {
    let (case, read) = check_case("01-single-active");
    assert_eq!(read.records.len(), 100);
    assert!(matches!(read.end, ReadEnd::NoNewData));
    let mut bytes = case.segment(1);
    let outcome = scan_without_watermark(&mut bytes);
    assert_eq!(outcome.stop, ScanStop::CleanEnd);
    assert_eq!(
        (outcome.end, outcome.record_count, outcome.dirty_end),
        (7240, 100, 7240)
    );
    let (_, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    assert!(report.erased_stale.is_empty());
    assert_eq!(bytes, case.segment(1), "a clean open changes no byte");
}

#[test]
fn rotated_case_reads_44_records_over_7_segments_including_segment_filling_ones() {
    let (case, read) = check_case("02-rotated-mixed");
    assert_eq!(read.records.len(), 44);
    assert_eq!(read.segments.len(), 7);
    let at = |seg, off| {
        read.records
            .iter()
            .find(|r| (r.seg, r.off) == (seg, off))
            .map(|r| r.len)
    };
    // Record 11: empty, first record of segment 3.
    assert_eq!(at(3, 64), Some(0));
    // Records 10 and 20 fill segments 2 and 4 alone (20 with 7 bytes of padding); record 40
    // ends exactly at the end of segment 6.
    assert_eq!(at(2, 64), Some(65456));
    assert_eq!(at(4, 64), Some(65449));
    assert_eq!(at(6, 57880), Some(7640));
    for id in [2, 4, 6] {
        assert_eq!(
            read.segments[id - 1].write_offset,
            case.manifest.segment_size
        );
    }
    assert!(read.segments[..6].iter().all(|s| s.sealed));
    assert!(!read.segments[6].sealed);
}

#[test]
fn rotated_case_opened_with_half_the_segment_size_is_refused_instead_of_cut() {
    // The Go original resizes every file to the segment size it is given, cutting sealed data
    // (go_open_and_read_variants.opened_with_segment_size_32768: 8 records, then
    // ErrIncompleteChunk). walfs-core is stricter: a sealed header whose end lies beyond the
    // region is refused, so nothing is read from a cut segment and nothing is lost.
    let case = Case::load("02-rotated-mixed");
    let variant = &case.manifest.go_open_and_read_variants["opened_with_segment_size_32768"];
    assert_eq!(variant.end.end_kind, "ErrIncompleteChunk");
    assert_eq!(variant.records.len(), 8);
    let mut bytes = case.segment(1);
    bytes.truncate(32768);
    let error = open(&mut bytes, 1, OpenOptions::default()).expect_err("refused");
    assert_eq!(
        error,
        Error::Corrupt {
            segment: SegmentId(1),
            offset: 0,
            reason: CorruptionReason::BadWriteOffset {
                write_offset: 45736
            },
        }
    );
}

#[test]
fn batch_logindex_case_maps_log_index_k_to_record_k_minus_1_over_3_segments() {
    let (_, read) = check_case("03-batch-logindex");
    assert_eq!(read.records.len(), 500);
    let firsts: Vec<u64> = read.segments.iter().map(|s| s.first_log_index).collect();
    assert_eq!(firsts, [1, 222, 436]);
    for (k, record) in (1..).zip(&read.records) {
        assert_eq!(record.lsn, Some(k));
    }
    assert_eq!(lsn_bounds(&read.segments), [1, 500]);
}

#[test]
fn custom_marker_case_accepts_a_validator_for_cafef00d_and_rejects_one_for_12345678() {
    let (case, read) = check_case("04-custom-marker");
    assert_eq!(read.records.len(), 200);
    assert_eq!(case.manifest.segment_size, 131_072);
    for (_, bytes) in case.segments() {
        let header = SegmentHeader::decode(header_bytes(&bytes)).expect("header");
        assert_eq!(header.marker, 0xCAFE_F00D);
    }

    let accept = OpenOptions {
        marker_validator: Some(|marker| marker == 0xCAFE_F00D),
        ..OpenOptions::default()
    };
    let accepted = read_wal(&case, accept);
    let variants = &case.manifest.go_open_and_read_variants;
    assert_matches_go(
        case.name,
        &accepted,
        &variants["validator_expects_cafef00d"],
    );

    let reject = OpenOptions {
        marker_validator: Some(|marker| marker == 0x1234_5678),
        ..OpenOptions::default()
    };
    let rejected = read_wal(&case, reject);
    assert_matches_go(
        case.name,
        &rejected,
        &variants["validator_expects_12345678"],
    );
    let ReadEnd::OpenFailed(error) = rejected.end else {
        panic!("the open must fail");
    };
    assert_eq!(
        error,
        Error::MarkerRejected {
            segment: SegmentId(1),
            marker: 0xCAFE_F00D
        }
    );
}

#[test]
fn torn_tail_case_recovers_99_records_and_reports_torn_tail() {
    let (case, read) = check_case("05-torn-tail");
    assert_eq!(read.records.len(), 99);
    let original = case.segment(1);
    let mut bytes = original.clone();
    let outcome = scan_without_watermark(&mut bytes);
    assert_eq!((outcome.end, outcome.record_count), (7168, 99));
    // Go segments have no watermark flag, so every stop is torn: walfs classifies the zeroed
    // trailer as TornTail; Go cannot distinguish a torn write from damage and stops silently.
    let ScanStop::TornTail(damage) = &outcome.stop else {
        panic!("{:?}", outcome.stop);
    };
    assert_eq!(damage.offset, 7168);
    assert_eq!(damage.reason, CorruptionReason::BadTrailer);
    assert_eq!(damage.frames_after.count, 0);
    // The torn record's crc, length and payload are still there: they are the stale bytes.
    assert_eq!(outcome.dirty_end, last_non_zero_end(&original, 7168));
    assert!(outcome.dirty_end > 7168);

    let (mut segment, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    assert_eq!(report.erased_stale, 7168..outcome.dirty_end);
    assert_eq!(segment.end(), 7168);
    assert_eq!(segment.append(b"probe", 0), Ok(7168));
    assert!(
        bytes[7168 + 24..].iter().all(|&b| b == 0),
        "stale bytes erased"
    );
}

#[test]
fn bad_crc_in_active_segment_cuts_at_record_50_and_counts_the_49_valid_frames_after_it() {
    let (case, read) = check_case("06-bad-crc-active");
    assert_eq!(read.records.len(), 50);
    let mut bytes = case.segment(1);
    let outcome = scan_without_watermark(&mut bytes);
    assert_eq!((outcome.end, outcome.record_count), (3592, 50));
    let ScanStop::TornTail(damage) = &outcome.stop else {
        panic!("no watermark, so a torn tail: {:?}", outcome.stop);
    };
    assert_eq!(damage.offset, 3592);
    // The stored CRC is the one of the payload as written; the computed one is of the payload
    // with its first byte inverted.
    let mut payload = case.payload(50);
    let stored = record_crc(&payload);
    payload[0] = !payload[0];
    let computed = record_crc(&payload);
    assert_eq!(damage.reason, CorruptionReason::BadCrc { stored, computed });
    // Records 51..=99 are intact and follow frame by frame: 49 valid frames after the bad one
    // (nothing inside record 50's payload passes for a frame: that would need a trailer and a
    // matching CRC). Their first offsets are those of records 51..=54.
    let after: Vec<u64> = case.manifest.written.records[51..]
        .iter()
        .map(|r| r.off)
        .collect();
    assert_eq!(after.len(), 49);
    assert_eq!(damage.frames_after.count, 49);
    assert_eq!(&damage.frames_after.offsets[..], &after[..4]);
    // Record 99 ends at 7240, but its last byte is padding: the last non-zero byte is the end
    // of its trailer.
    assert_eq!(outcome.dirty_end, 7239);
    assert_eq!(outcome.dirty_end, last_non_zero_end(&bytes, 3592));

    // Stricter than Go: had walfs written this segment, its header would carry the durable
    // watermark (7240 after the last sync), the bad CRC would lie below it, and the open would
    // refuse the acknowledged-data loss instead of cutting 50 records silently as Go does.
    let mut header = SegmentHeader::decode(header_bytes(&bytes)).expect("header");
    header.flags = SegmentFlags(header.flags.0 | SegmentFlags::WATERMARK);
    bytes[..64].copy_from_slice(&header.encode());
    let error = open(&mut bytes, 1, OpenOptions::default()).expect_err("refused");
    assert_eq!(
        error,
        Error::Corrupt {
            segment: SegmentId(1),
            offset: 3592,
            reason: CorruptionReason::BadCrc { stored, computed },
        }
    );
}

#[test]
fn garbage_tail_case_keeps_100_records_and_erases_the_garbage_unless_read_only() {
    let (case, read) = check_case("07-garbage-tail");
    assert_eq!(read.records.len(), 100);
    let original = case.segment(1);
    let mut bytes = original.clone();
    let outcome = scan_without_watermark(&mut bytes);
    assert_eq!((outcome.end, outcome.record_count), (7240, 100));
    // The garbage is shaped like a 200-byte frame with a correct trailer; only its CRC fails.
    let ScanStop::TornTail(damage) = &outcome.stop else {
        panic!("{:?}", outcome.stop);
    };
    assert_eq!(damage.offset, 7240);
    assert!(
        matches!(damage.reason, CorruptionReason::BadCrc { .. }),
        "{:?}",
        damage.reason
    );
    assert_eq!(damage.frames_after.count, 0);
    let dirty_end = last_non_zero_end(&original, 7240);
    assert_eq!(dirty_end, 7240 + 4096);
    assert_eq!(outcome.dirty_end, dirty_end);

    let read_only = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let (mut segment, report) = open(&mut bytes, 1, read_only).expect("opens read-only");
    assert!(report.erased_stale.is_empty());
    assert_eq!(segment.end(), 7240);
    assert_eq!(
        segment.append(b"x", 0),
        Err(Error::ReadOnly {
            segment: SegmentId(1)
        })
    );
    assert_eq!(bytes, original, "a read-only open changes no byte");

    let (segment, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    assert_eq!(report.erased_stale, 7240..dirty_end);
    assert_eq!(segment.end(), 7240);
    assert!(bytes[7240..].iter().all(|&b| b == 0), "garbage erased");
    assert_eq!(bytes[..7240], original[..7240]);
    assert_eq!(scan_without_watermark(&mut bytes).stop, ScanStop::CleanEnd);
}

#[test]
fn missing_index_case_rebuilds_the_index_of_case_03_byte_for_byte_by_scanning() {
    let (case, read) = check_case("08-sealed-missing-index");
    assert_eq!(read.records.len(), 500);
    let mut bytes = case.segment(1);
    let (mut segment, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    assert!(segment.is_sealed());
    assert!(
        report.scan.is_none(),
        "a sealed segment is not scanned by default"
    );
    let end = segment.end();
    let mut rebuilt = Vec::new();
    let outcome = scan_segment(segment.region_mut(), end, end, |frame| {
        rebuilt.extend_from_slice(&IndexEntry::from(frame).encode());
    })
    .expect("RAM cannot fail");
    assert_eq!(outcome.stop, ScanStop::CleanEnd);
    assert_eq!(outcome.record_count, 221);
    assert_eq!(
        rebuilt,
        Case::load("03-batch-logindex").file("000000001.wal.idx")
    );
    // The Go original wrote the same bytes when it rebuilt the file.
    let effects = &case.manifest.go_open_and_read.end.side_effects_of_open;
    let created = effects
        .iter()
        .find(|e| e.file == "000000001.wal.idx")
        .expect("Go recreated the index");
    assert!(
        created.change.contains(&sha256_hex(&rebuilt)),
        "{}",
        created.change
    );
}

#[test]
fn bad_crc_in_sealed_segment_opens_but_reading_record_20_fails_with_bad_crc_repeatably() {
    let (case, read) = check_case("09-bad-crc-sealed");
    assert_eq!(read.records.len(), 20);
    let mut payload = case.payload(20);
    let stored = record_crc(&payload);
    payload[3] ^= 0x01;
    let computed = record_crc(&payload);
    let corrupt = Error::Corrupt {
        segment: SegmentId(1),
        offset: 6560,
        reason: CorruptionReason::BadCrc { stored, computed },
    };

    let mut bytes = case.segment(1);
    let (mut segment, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    assert!(
        segment.is_sealed() && report.scan.is_none(),
        "header trusted"
    );
    assert_eq!(segment.record_count(), 221);
    assert_eq!(segment.read(6560), Err(corrupt.clone()));
    let mut cursor = SegmentCursor::new(SegmentId(1));
    for record in &case.manifest.written.records[..20] {
        let Ok(CursorStep::Record(frame)) = cursor.next_in(&mut segment) else {
            panic!("record {}", record.i);
        };
        assert_eq!(
            (frame.offset, u64::from(frame.payload_len)),
            (record.off, record.len)
        );
    }
    for _ in 0..3 {
        assert_eq!(cursor.next_in(&mut segment), Err(corrupt.clone()));
        assert_eq!(
            cursor.offset(),
            6560,
            "the cursor does not move past the error"
        );
    }

    let mut bytes = case.segment(1);
    let error = open(&mut bytes, 1, verify_sealed()).expect_err("verify_sealed finds it");
    assert_eq!(error, corrupt);
}

#[test]
fn bad_header_crc_case_fails_to_open_segment_2_with_the_stored_and_computed_crcs() {
    let (case, read) = check_case("10-bad-header-crc");
    assert!(read.records.is_empty());
    let mut bytes = case.segment(2);
    let error = open(&mut bytes, 2, OpenOptions::default()).expect_err("refused");
    // Go: "segment metadata CRC mismatch: expected fa28dea6, got e601c3a2". The stored CRC is the
    // one of the undamaged header (03's segment 2).
    let base = Case::load("03-batch-logindex");
    let base_crc = SegmentHeader::stored_crc(header_bytes(&base.segment(2)));
    assert_eq!(base_crc, 0xfa28_dea6);
    assert_eq!(
        error,
        Error::Corrupt {
            segment: SegmentId(2),
            offset: 0,
            reason: CorruptionReason::BadHeaderCrc {
                stored: 0xfa28_dea6,
                computed: 0xe601_c3a2
            },
        }
    );
    // Flipping the bit back makes the computed CRC equal the stored one again.
    bytes[8] ^= 1;
    let header = SegmentHeader::decode(header_bytes(&bytes)).expect("repaired header");
    assert_eq!(header.flags, SegmentFlags(SegmentFlags::SEALED));
    // The other segments open on their own; only the log as a whole is refused.
    for id in [1, 3] {
        let mut bytes = case.segment(id);
        open(&mut bytes, id, OpenOptions::default()).expect("opens");
    }
}

#[test]
fn all_sealed_case_ends_with_end_of_segment_and_refuses_the_probe_write() {
    let (case, read) = check_case("11-all-sealed");
    assert_eq!(read.records.len(), 60);
    assert!(matches!(read.end, ReadEnd::EndOfLog));
    assert!(read.segments.iter().all(|s| s.sealed));
    for (id, mut bytes) in case.segments() {
        let (mut segment, _) = open(&mut bytes, id, OpenOptions::default()).expect("opens");
        let mut cursor = SegmentCursor::new(SegmentId(id));
        let mut count = 0;
        while let CursorStep::Record(_) = cursor.next_in(&mut segment).expect("step") {
            count += 1;
        }
        assert_eq!(count, segment.record_count());
        assert_eq!(cursor.next_in(&mut segment), Ok(CursorStep::EndOfSegment));
        assert_eq!(cursor.offset(), segment.end());
    }
    assert!(matches!(
        read.probe,
        Some(Err(Error::Sealed {
            segment: SegmentId(2)
        }))
    ));
}

#[test]
fn stale_active_header_case_recovers_100_records_despite_write_offset_64() {
    let (case, read) = check_case("12-stale-active-header");
    assert_eq!(read.records.len(), 100);
    let mut bytes = case.segment(1);
    let header = SegmentHeader::decode(header_bytes(&bytes)).expect("header");
    assert_eq!((header.write_offset, header.entry_count), (64, 0));
    assert!(
        !header.flags.has_watermark(),
        "so write_offset is not a watermark"
    );
    let (segment, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    let scan = report.scan.expect("an unsealed segment is scanned");
    assert_eq!(scan.stop, ScanStop::CleanEnd);
    assert_eq!((scan.end, scan.record_count), (7240, 100));
    assert_eq!((segment.end(), segment.record_count()), (7240, 100));
    // Like Go, the open does not rewrite the header: its entry_count stays 0 until a sync.
    assert_eq!(segment.header().entry_count, 0);
}

#[test]
fn unsealed_earlier_segment_case_scans_segment_1_to_all_221_records() {
    let (case, read) = check_case("13-unsealed-earlier-segment");
    assert_eq!(read.records.len(), 500);
    let mut bytes = case.segment(1);
    let (mut segment, report) = open(&mut bytes, 1, OpenOptions::default()).expect("opens");
    assert!(!segment.is_sealed());
    let scan = report.scan.expect("scanned");
    assert_eq!(scan.stop, ScanStop::CleanEnd);
    assert_eq!((scan.end, scan.record_count), (65432, 221));
    assert_eq!(segment.first_log_index(), 1);
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exactly(222));
    // Sealing it (as the Go open does) with 03's timestamp gives 03's segment 1 byte for byte.
    let base = Case::load("03-batch-logindex");
    let base_bytes = base.segment(1);
    let base_header = SegmentHeader::decode(header_bytes(&base_bytes)).expect("header");
    segment.seal(base_header.last_modified_at).expect("seals");
    assert_eq!(segment.header(), &base_header);
    assert_eq!(bytes, base_bytes);
}
