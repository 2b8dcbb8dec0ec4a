//! Whatever bytes a segment holds, walfs-core never panics on them: opening (every option),
//! scanning with any watermark and limit, stepping a cursor from any offset, reading at any
//! offset, appending, truncating and sealing after a successful open, and decoding headers,
//! index entries and positions return errors, never a panic. When an open succeeds, what it
//! reports is consistent: the end lies in `64..=capacity` on an 8-byte boundary, a cursor yields
//! exactly the records the scan counted, inside `64..end`, and a recovered segment reopens the
//! same.
//!
//! The images are random bytes, a valid header with random fields over random or sparse bytes
//! (so the scan and read paths are reached, not stopped by a header CRC error), and segments
//! written by walfs (RAM or NOR flash) with their header replaced and bytes overwritten. Each is
//! probed through a `RamRegion` (zero-copy reads) and a `NorRegion` (every read a copy).
//!
//! Replaying a failure: a failing test prints its RNG seed, the replay command
//! (`PROPTEST_RNG_SEED=<seed> cargo test -p walfs-tests --test any_bytes_never_panic -- --exact
//! <test>`) and the shrunk input, and saves the failing case in
//! `tests/tests/any_bytes_never_panic.regressions`, which every later run replays first. More
//! cases: `PROPTEST_CASES=5000 cargo test -p walfs-tests --test any_bytes_never_panic`.

mod prop_support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use walfs_core::format::{HEADER_LEN, INDEX_ENTRY_LEN, MAGIC, VERSION};
use walfs_core::scan::find_dirty_end;
use walfs_core::testing::NorRegion;
use walfs_core::{
    CrcCheck, CursorStep, Error, IndexEntry, NextLogIndex, OpenOptions, Position, PublishedEnd,
    RamRegion, Region, RegionRead, RepairPolicy, ScanStop, Segment, SegmentCursor, SegmentFlags,
    SegmentHeader, SegmentId, SegmentInit, scan_segment,
};

const ID: SegmentId = SegmentId(3);
const HEADER_END: u64 = HEADER_LEN as u64;
/// Largest image: 8 KiB.
const MAX_IMAGE: usize = 8 * 1024;

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("test images are small")
}

/// The `write_offset` of a generated header, resolved against the image size.
#[derive(Debug, Clone, Copy)]
enum WriteOffset {
    Any(u64),
    /// A multiple of 8 in `64..=capacity`: passes the header check.
    Plausible(Index),
    /// Anything in `0..capacity + 16`.
    Near(Index),
}

/// A header with a valid CRC and random fields.
#[derive(Debug, Clone)]
struct HeaderSpec {
    magic: u32,
    version: u32,
    created_at: i64,
    last_modified_at: i64,
    write_offset: WriteOffset,
    entry_count: u64,
    flags: u32,
    first_log_index: u64,
    marker: u32,
}

impl HeaderSpec {
    fn header(&self, capacity: u64) -> SegmentHeader {
        let write_offset = match self.write_offset {
            WriteOffset::Any(offset) => offset,
            WriteOffset::Plausible(at) => {
                let slots = capacity.saturating_sub(HEADER_END) / 8 + 1;
                HEADER_END + 8 * at.index(to_usize(slots)) as u64
            }
            WriteOffset::Near(at) => at.index(to_usize(capacity) + 16) as u64,
        };
        SegmentHeader {
            magic: self.magic,
            version: self.version,
            created_at: self.created_at,
            last_modified_at: self.last_modified_at,
            write_offset,
            entry_count: self.entry_count,
            flags: SegmentFlags(self.flags),
            first_log_index: self.first_log_index,
            marker: self.marker,
        }
    }
}

fn header_spec() -> impl Strategy<Value = HeaderSpec> {
    let write_offset = prop_oneof![
        1 => prop_oneof![any::<u64>(), (0u64..64).prop_map(|below| u64::MAX - below)]
            .prop_map(WriteOffset::Any),
        4 => any::<Index>().prop_map(WriteOffset::Plausible),
        1 => any::<Index>().prop_map(WriteOffset::Near),
    ];
    let flags = prop_oneof![
        4 => prop::sample::select(vec![
            SegmentFlags::ACTIVE,
            SegmentFlags::ACTIVE | SegmentFlags::WATERMARK,
            SegmentFlags::SEALED,
            SegmentFlags::SEALED | SegmentFlags::WATERMARK,
            0,
        ]),
        1 => any::<u32>(),
    ];
    let small_or_any = || {
        prop_oneof![
            6 => 0u64..64,
            2 => any::<u64>(),
            1 => (0u64..64).prop_map(|below| u64::MAX - below),
        ]
    };
    (
        prop_oneof![9 => Just(MAGIC), 1 => any::<u32>()],
        prop_oneof![9 => Just(VERSION), 1 => any::<u32>()],
        any::<(i64, i64)>(),
        write_offset,
        small_or_any(),
        flags,
        small_or_any(),
        any::<u32>(),
    )
        .prop_map(
            |(
                magic,
                version,
                (created_at, last_modified_at),
                write_offset,
                entry_count,
                flags,
                first_log_index,
                marker,
            )| {
                HeaderSpec {
                    magic,
                    version,
                    created_at,
                    last_modified_at,
                    write_offset,
                    entry_count,
                    flags,
                    first_log_index,
                    marker,
                }
            },
        )
}

/// A segment image to probe.
#[derive(Debug, Clone)]
enum ImageSpec {
    /// Random bytes.
    Raw(Vec<u8>),
    /// A valid header with random fields, then `body_len` bytes of `fill` with a few overwritten.
    Headed {
        header: HeaderSpec,
        body_len: usize,
        fill: u8,
        writes: Vec<(Index, u8)>,
    },
    /// A segment written by walfs, then damaged.
    Written(Box<WrittenSpec>),
}

/// A segment written by walfs: records appended until full, synced after `sync_after` of them,
/// maybe sealed; then maybe a new header, a cut (zeroes from a point on) and overwritten bytes.
#[derive(Debug, Clone)]
struct WrittenSpec {
    nor: bool,
    capacity: usize,
    payloads: Vec<(u16, u8)>,
    sync_after: Index,
    seal: bool,
    header: Option<HeaderSpec>,
    cut: Option<Index>,
    writes: Vec<(Index, u8)>,
}

fn written_spec() -> impl Strategy<Value = WrittenSpec> {
    (
        any::<bool>(),
        prop_oneof![2 => 80usize..512, 1 => 512usize..=MAX_IMAGE],
        vec(
            (prop_oneof![4 => 0u16..40, 1 => 40u16..2000], any::<u8>()),
            0..24,
        ),
        any::<Index>(),
        prop::bool::weighted(0.25),
        prop::option::weighted(0.3, header_spec()),
        prop::option::weighted(0.2, any::<Index>()),
        vec((any::<Index>(), any::<u8>()), 0..4),
    )
        .prop_map(
            |(nor, capacity, payloads, sync_after, seal, header, cut, writes)| WrittenSpec {
                nor,
                capacity,
                payloads,
                sync_after,
                seal,
                header,
                cut,
                writes,
            },
        )
}

fn image_spec() -> impl Strategy<Value = ImageSpec> {
    prop_oneof![
        2 => prop_oneof![
            vec(any::<u8>(), 0..=128),
            vec(any::<u8>(), 0..=MAX_IMAGE),
        ]
        .prop_map(ImageSpec::Raw),
        3 => (
            header_spec(),
            0..=MAX_IMAGE - HEADER_LEN,
            prop::sample::select(vec![0x00u8, 0xFF, 0x5A]),
            vec((any::<Index>(), any::<u8>()), 0..16),
        )
            .prop_map(|(header, body_len, fill, writes)| ImageSpec::Headed {
                header,
                body_len,
                fill,
                writes,
            }),
        5 => written_spec().prop_map(|spec| ImageSpec::Written(Box::new(spec))),
    ]
}

fn overwrite(image: &mut [u8], writes: &[(Index, u8)], from: usize) {
    if image.len() > from {
        for (at, value) in writes {
            image[from + at.index(image.len() - from)] = *value;
        }
    }
}

impl ImageSpec {
    fn bytes(&self) -> Vec<u8> {
        match self {
            ImageSpec::Raw(bytes) => bytes.clone(),
            ImageSpec::Headed {
                header,
                body_len,
                fill,
                writes,
            } => {
                let capacity = HEADER_LEN + body_len;
                let mut image = vec![*fill; capacity];
                image[..HEADER_LEN].copy_from_slice(&header.header(capacity as u64).encode());
                overwrite(&mut image, writes, HEADER_LEN);
                image
            }
            ImageSpec::Written(spec) => spec.bytes(),
        }
    }
}

impl WrittenSpec {
    fn bytes(&self) -> Vec<u8> {
        let mut image = vec![0u8; self.capacity];
        if self.nor {
            self.write(NorRegion::erased(&mut image));
        } else {
            self.write(RamRegion::new(&mut image));
        }
        if let Some(header) = &self.header {
            image[..HEADER_LEN].copy_from_slice(&header.header(self.capacity as u64).encode());
        }
        if let Some(cut) = self.cut {
            let from = at_or_after_header(cut, image.len());
            image[from..].fill(0);
        }
        overwrite(&mut image, &self.writes, 0);
        image
    }

    fn write<R: Region>(&self, region: R) {
        let init = SegmentInit {
            created_at: 5,
            marker: 0,
            first_log_index: 0,
        };
        let mut segment = Segment::create(region, ID, init).expect("capacity is valid");
        let sync_after = self.sync_after.index(self.payloads.len() + 1);
        for (i, &(len, fill)) in self.payloads.iter().enumerate() {
            if i == sync_after {
                segment
                    .sync(6)
                    .expect("a sync of a healthy region succeeds");
            }
            if segment.append(&vec![fill; usize::from(len)], 0).is_err() {
                break;
            }
        }
        if self.seal {
            segment.seal(7).expect("sealing a healthy region succeeds");
        }
    }
}

fn at_or_after_header(at: Index, len: usize) -> usize {
    if len > HEADER_LEN {
        HEADER_LEN + at.index(len - HEADER_LEN)
    } else {
        at.index(len.max(1))
    }
}

/// Offsets to try: anything, small ones, and 8-aligned small ones.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => any::<u64>(),
        2 => 0u64..9000,
        3 => (0u64..1125).prop_map(|slot| slot * 8),
    ]
}

/// What to do with an image besides opening it.
#[derive(Debug, Clone)]
struct Probe {
    watermark: u64,
    limit: u64,
    reads: Vec<u64>,
    cursor_at: u64,
    published: PublishedEnd,
    crc: CrcCheck,
    buf_len: usize,
    keep: u64,
    append_lens: Vec<usize>,
}

fn probe() -> impl Strategy<Value = Probe> {
    (
        offset(),
        offset(),
        vec(offset(), 0..6),
        offset(),
        (any::<bool>(), offset()),
        any::<bool>(),
        0usize..3000,
        any::<u64>(),
        vec(0usize..200, 0..4),
    )
        .prop_map(
            |(
                watermark,
                limit,
                reads,
                cursor_at,
                (sealed, end),
                skip,
                buf_len,
                keep,
                append_lens,
            )| Probe {
                watermark,
                limit,
                reads,
                cursor_at,
                published: PublishedEnd { sealed, end },
                crc: if skip {
                    CrcCheck::Skip
                } else {
                    CrcCheck::Verify
                },
                buf_len,
                keep,
                append_lens,
            },
        )
}

/// The scan and a cursor straight over the region, with the probe's watermark, limit and end.
fn probe_region<R: RegionRead>(mut region: R, probe: &Probe) {
    let capacity = region.capacity();
    let limit = probe.limit.min(capacity);
    if let Ok(outcome) = scan_segment(&mut region, probe.limit, probe.watermark, |frame| {
        assert!(
            frame.offset >= HEADER_END && frame.next_offset() <= limit,
            "{frame:?}"
        );
    }) {
        assert!(outcome.end <= outcome.dirty_end && outcome.dirty_end <= limit.max(outcome.end));
        if let Some(damage) = outcome.damage() {
            assert_eq!(damage.offset, outcome.end);
            assert!(damage.frames_after.count >= damage.frames_after.offsets.len() as u64);
        }
    }
    let _ = find_dirty_end(&mut region, probe.watermark, probe.limit);
    let mut cursor = SegmentCursor::at(ID, probe.cursor_at);
    for _ in 0..capacity / 16 + 2 {
        match cursor.next(&mut region, probe.published, probe.crc) {
            Ok(CursorStep::Record(frame)) => {
                assert!(
                    frame.offset >= HEADER_END && frame.offset % 8 == 0,
                    "{frame:?}"
                );
                assert!(
                    frame.next_offset() <= probe.published.end.min(capacity),
                    "{frame:?}"
                );
                assert_eq!(cursor.offset(), frame.next_offset());
            }
            Ok(_) | Err(_) => break,
        }
    }
}

/// Opens the region with `options`; when that succeeds, checks what it reports, reads, writes,
/// and reopens.
#[allow(
    clippy::too_many_lines,
    reason = "one open and every check of what it reports, in order"
)]
fn probe_open<R: Region>(region: R, options: OpenOptions, probe: &Probe) {
    let capacity = region.capacity();
    let Ok((mut segment, report)) = Segment::open(region, ID, options) else {
        return;
    };
    let end = segment.end();
    assert!(
        (HEADER_END..=capacity).contains(&end) && end % 8 == 0,
        "end {end}, capacity {capacity}"
    );
    assert!(
        segment.durable_end() <= end,
        "durable end {} above end {end}",
        segment.durable_end()
    );
    let sealed = segment.is_sealed();
    if let Some(scan) = &report.scan {
        assert_eq!(scan.end, end);
        assert_eq!(scan.record_count, segment.record_count());
        assert!(
            !matches!(scan.stop, ScanStop::Corruption(_))
                || options.repair == RepairPolicy::TruncateAtDamage
        );
    } else {
        assert!(sealed && !options.verify_sealed);
    }

    // A cursor from the first record: contiguous frames inside 64..end; after a scan, exactly
    // the records it counted.
    let mut cursor = SegmentCursor::new(ID);
    let mut next = HEADER_END;
    let mut records = 0u64;
    let mut last = None;
    for _ in 0..capacity / 16 + 2 {
        match cursor.next_in(&mut segment) {
            Ok(CursorStep::Record(frame)) => {
                assert_eq!(frame.offset, next);
                assert!(frame.next_offset() <= end, "{frame:?} past the end {end}");
                next = frame.next_offset();
                records += 1;
            }
            step => {
                last = Some(step);
                break;
            }
        }
    }
    if report.scan.is_some() {
        let expected_last = if sealed {
            CursorStep::EndOfSegment
        } else {
            CursorStep::NoNewData
        };
        assert!(
            matches!(last, Some(Ok(step)) if step == expected_last),
            "after the scanned records the cursor must stop cleanly, got {last:?}"
        );
        assert_eq!(records, segment.record_count());
        assert_eq!(next, end);
    }

    let mut buf = vec![0u8; probe.buf_len];
    for &offset in &probe.reads {
        if let Ok(frame) = segment.read(offset) {
            assert_eq!(frame.offset, offset);
            assert!(offset >= HEADER_END && offset % 8 == 0 && frame.next_offset() <= end);
            let copied = segment.read_payload(&frame, &mut buf);
            assert_eq!(copied.is_ok(), frame.payload_len as usize <= probe.buf_len);
            if let (Ok(copied), Some(view)) = (copied, segment.payload(&frame)) {
                assert_eq!(copied, view);
            }
        }
    }

    if R::OVERWRITE && !options.read_only && !sealed {
        // Recovery erased everything after the end, so a second open finds the same records
        // and a clean end.
        let dirty = find_dirty_end(segment.region_mut(), end, capacity).ok();
        assert_eq!(
            dirty,
            Some(end),
            "stale bytes left after the recovered end {end}"
        );
        let count = segment.record_count();
        let (segment, again) = Segment::open(segment.into_region(), ID, OpenOptions::default())
            .expect("a recovered segment reopens");
        let scan = again.scan.expect("an unsealed segment is scanned");
        assert_eq!(scan.stop, ScanStop::CleanEnd);
        assert_eq!((segment.end(), segment.record_count()), (end, count));
        write_then_reopen(segment, probe);
    } else if !options.read_only {
        write_then_reopen(segment, probe);
    }
}

/// Appends, syncs, truncates and seals (errors are fine); on a medium that can overwrite, a
/// segment where all of that succeeded reopens with every check on.
fn write_then_reopen<R: Region>(mut segment: Segment<R>, probe: &Probe) {
    let mut all_ok = true;
    for &len in &probe.append_lens {
        let log_index = segment.expected_log_index().accepted().unwrap_or(0);
        all_ok &= segment.append(&vec![0xA5; len], log_index).is_ok();
    }
    let log_index = segment.expected_log_index().accepted().unwrap_or(0);
    all_ok &= segment
        .append_batch(&[&b"one"[..], b"two"], log_index)
        .is_ok();
    all_ok &= segment.sync(8).is_ok();
    let keep = probe.keep % segment.record_count().saturating_add(2);
    all_ok &= segment.truncate_to(keep, 9).is_ok();
    all_ok &= segment.seal(10).is_ok();
    let (end, count) = (segment.end(), segment.record_count());
    assert!((HEADER_END..=segment.capacity()).contains(&end) && end % 8 == 0);
    if R::OVERWRITE && all_ok {
        let options = OpenOptions {
            verify_sealed: true,
            ..OpenOptions::default()
        };
        let (segment, _) = Segment::open(segment.into_region(), ID, options)
            .expect("a segment walfs wrote and sealed reopens");
        assert_eq!((segment.end(), segment.record_count()), (end, count));
    }
}

/// Every combination of `verify_sealed`, `read_only` and `repair`, and a marker validator.
fn every_option() -> impl Iterator<Item = OpenOptions> {
    let with_validator = OpenOptions {
        marker_validator: Some(|marker| marker % 2 == 0),
        ..OpenOptions::default()
    };
    let combinations = [false, true].into_iter().flat_map(|verify_sealed| {
        [false, true].into_iter().flat_map(move |read_only| {
            [RepairPolicy::Refuse, RepairPolicy::TruncateAtDamage]
                .into_iter()
                .map(move |repair| OpenOptions {
                    verify_sealed,
                    read_only,
                    repair,
                    marker_validator: None,
                })
        })
    });
    combinations.chain([with_validator])
}

/// Every probe, over a RAM and a NOR copy of `image`.
fn probe_image(image: &[u8], probe: &Probe) {
    let mut copy = image.to_vec();
    probe_region(RamRegion::new(&mut copy), probe);
    let mut copy = image.to_vec();
    probe_region(NorRegion::existing(&mut copy), probe);
    for options in every_option() {
        let mut copy = image.to_vec();
        probe_open(RamRegion::new(&mut copy), options, probe);
        let mut copy = image.to_vec();
        probe_open(NorRegion::existing(&mut copy), options, probe);
    }
    if let Some(bytes) = image.first_chunk::<HEADER_LEN>() {
        if let Ok(header) = SegmentHeader::decode(bytes) {
            // Bytes 60..64 are padding, which decoding ignores.
            assert_eq!(header.encode()[..60], bytes[..60]);
            let _ = header.check_write_offset(image.len() as u64);
        }
        let _ = SegmentHeader::decode_unchecked(bytes);
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "any_bytes_never_panic", "any_segment_image_never_panics_and_opens_consistently", 1024))]

    /// Random, header-valid and written-then-damaged images: no operation panics, and every
    /// successful open reports a consistent end and records.
    #[test]
    fn any_segment_image_never_panics_and_opens_consistently(
        image in image_spec(),
        probe in probe(),
    ) {
        let bytes = image.bytes();
        probe_image(&bytes, &probe);
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "any_bytes_never_panic", "any_header_entry_or_position_bytes_decode_without_panic", 4096))]

    /// Any 64 header bytes, 16 index-entry bytes and 0 to 24 position bytes decode to a value
    /// or an error; what decodes re-encodes to the same bytes.
    #[test]
    fn any_header_entry_or_position_bytes_decode_without_panic(
        header in vec(any::<u8>(), HEADER_LEN),
        entry in any::<[u8; INDEX_ENTRY_LEN]>(),
        end in offset(),
        position in vec(any::<u8>(), 0..24),
        capacity in any::<u64>(),
    ) {
        let header: [u8; HEADER_LEN] = header.try_into().expect("64 bytes");
        if let Ok(decoded) = SegmentHeader::decode(&header) {
            prop_assert_eq!(&decoded.encode()[..60], &header[..60]);
            let _ = decoded.check_write_offset(capacity);
        }
        let unchecked = SegmentHeader::decode_unchecked(&header);
        prop_assert_eq!(&unchecked.encode()[..56], &header[..56]);

        let decoded = IndexEntry::decode(&entry);
        prop_assert_eq!(&decoded.encode()[..12], &entry[..12]);
        if decoded.is_plausible(end) {
            let frame = decoded.frame();
            prop_assert!(frame.offset >= HEADER_END && frame.next_offset() <= end);
        }

        match Position::decode(&position) {
            Ok(decoded) => {
                prop_assert!(position.len() >= 12);
                prop_assert_eq!(&decoded.encode()[..], &position[..12]);
            }
            Err(error) => prop_assert_eq!(error.len, position.len()),
        }
    }
}

/// A segment whose first log index is `u64::MAX` holds one record; the next log index does not
/// exist, so the next append must be refused with an error, not a panic.
///
/// A run of log indexes that reaches `u64::MAX` refuses the next record with a typed error.
#[test]
fn append_after_log_index_u64_max_is_refused_without_panic() {
    let mut image = vec![0u8; 256];
    let init = SegmentInit {
        created_at: 0,
        marker: 0,
        first_log_index: u64::MAX,
    };
    let mut segment = Segment::create(RamRegion::new(&mut image), ID, init).expect("create");
    segment
        .append(b"last", u64::MAX)
        .expect("the one record with index u64::MAX");
    assert_eq!(segment.expected_log_index(), NextLogIndex::Exhausted);
    assert!(matches!(
        segment.append(b"next", 0),
        Err(Error::LogIndexOverflow { .. })
    ));
}
