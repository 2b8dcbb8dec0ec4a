//! Property tests of appending, the recovery scan and the reader: what is appended and synced
//! comes back exactly; damage above the durable watermark is a torn tail cut at the first damaged
//! frame; damage below it is corruption naming that frame; both CRC-32C paths agree; and a
//! NOR-flash-like region (erased 0xFF, bits only clear, no zero-copy view) behaves the same,
//! including after a power cut in the middle of an append.
//!
//! Replaying a failure: a failing test prints its RNG seed, the replay command
//! (`PROPTEST_RNG_SEED=<seed> cargo test -p walfs-tests --test scan_properties -- --exact <test>`)
//! and the shrunk input, and saves the failing case in `tests/tests/scan_properties.regressions`,
//! which every later run replays first. More cases:
//! `PROPTEST_CASES=2000 cargo test -p walfs-tests --test scan_properties`.

mod prop_support;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use walfs_core::crc::{Crc32c, CrcPath, crc32c};
use walfs_core::format::{HEADER_LEN, SEGMENT_SIZE_MIN, frame_len};
use walfs_core::testing::{NorRegion, NorRegionError};
use walfs_core::{
    CursorStep, Error, OpenOptions, RamRegion, Region, RepairPolicy, ScanStop, Segment,
    SegmentCursor, SegmentId, SegmentInit, scan_segment,
};
use walfs_tests::payload::splitmix64;

const ID: SegmentId = SegmentId(7);
const INIT: SegmentInit = SegmentInit {
    created_at: 1_700_000_000_000_000_000,
    marker: 0,
    first_log_index: 0,
};
const HEADER_END: u64 = HEADER_LEN as u64;

/// How a payload's bytes are made (kept small so a failing case prints compactly).
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// splitmix64 bytes from this seed.
    Random(u64),
    /// Every byte the same (0x00 and 0xFF matter: they read as erased space).
    Byte(u8),
}

#[derive(Debug, Clone, Copy)]
struct PayloadSpec {
    len: usize,
    fill: Fill,
}

impl PayloadSpec {
    fn bytes(self) -> Vec<u8> {
        match self.fill {
            Fill::Byte(byte) => vec![byte; self.len],
            Fill::Random(seed) => {
                let mut state = seed;
                let mut out = Vec::with_capacity(self.len + 8);
                while out.len() < self.len {
                    out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
                }
                out.truncate(self.len);
                out
            }
        }
    }
}

/// Payloads of 0 B to 64 KiB, mostly small.
fn payload_spec() -> impl Strategy<Value = PayloadSpec> {
    let len = prop_oneof![
        12 => 0usize..48,
        4 => 48usize..1024,
        1 => 1024usize..=64 * 1024,
    ];
    let fill = prop_oneof![
        6 => any::<u64>().prop_map(Fill::Random),
        1 => Just(Fill::Byte(0x00)),
        1 => Just(Fill::Byte(0xFF)),
    ];
    (len, fill).prop_map(|(len, fill)| PayloadSpec { len, fill })
}

fn materialize(specs: &[PayloadSpec]) -> Vec<Vec<u8>> {
    specs.iter().map(|spec| spec.bytes()).collect()
}

/// Where a record's frame lies.
#[derive(Debug, Clone, Copy)]
struct Placed {
    offset: u64,
    payload_len: u64,
}

impl Placed {
    /// Just past the trailer: the bytes after it, up to `end`, are padding, which nothing checks.
    fn trailer_end(self) -> u64 {
        self.offset + 16 + self.payload_len
    }

    fn end(self) -> u64 {
        self.offset + frame_len(self.payload_len)
    }
}

/// The frames of `payloads` appended in order to an empty segment.
fn place(payloads: &[Vec<u8>]) -> Vec<Placed> {
    let mut offset = HEADER_END;
    payloads
        .iter()
        .map(|payload| {
            let placed = Placed {
                offset,
                payload_len: payload.len() as u64,
            };
            offset = placed.end();
            placed
        })
        .collect()
}

/// The end of the data once the first `count` placed records are there.
fn end_after(placed: &[Placed], count: usize) -> u64 {
    if count == 0 {
        HEADER_END
    } else {
        placed[count - 1].end()
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("test images are small")
}

/// A zeroed image of `capacity` bytes, at least the smallest segment size.
fn zeroed_image(capacity: u64) -> Vec<u8> {
    vec![0u8; to_usize(capacity.max(SEGMENT_SIZE_MIN))]
}

/// Records as `(offset, payload)`.
type Records = Vec<(u64, Vec<u8>)>;

/// Every record a cursor yields, with its payload, and the step that ended the walk.
fn read_all<R: Region>(segment: &mut Segment<R>) -> Result<(Records, CursorStep), Error<R::Error>> {
    let mut cursor = SegmentCursor::new(segment.id());
    let mut records = Vec::new();
    loop {
        match cursor.next_in(segment)? {
            CursorStep::Record(frame) => {
                let mut buf = vec![0u8; frame.payload_len as usize];
                let payload = segment.read_payload(&frame, &mut buf)?.to_vec();
                if let Some(view) = segment.payload(&frame) {
                    assert_eq!(view, &payload[..], "zero-copy view differs from the copy");
                }
                records.push((frame.offset, payload));
            }
            step => return Ok((records, step)),
        }
    }
}

/// The records expected after recovery: the first `count` of `payloads` at their offsets.
fn expected_records(payloads: &[Vec<u8>], placed: &[Placed], count: usize) -> Records {
    placed[..count]
        .iter()
        .zip(payloads)
        .map(|(placed, payload)| (placed.offset, payload.clone()))
        .collect()
}

/// Offset just past the last byte of `image[from..]` that is not `erased` (`from` if none).
fn dirty_end(image: &[u8], from: u64, erased: u8) -> u64 {
    image[to_usize(from)..]
        .iter()
        .rposition(|&byte| byte != erased)
        .map_or(from, |at| from + at as u64 + 1)
}

/// What recovery must find: how many records survive, and where the torn tail is (`None` for a
/// clean end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expected {
    records: usize,
    torn_at: Option<u64>,
}

/// Expectation after every byte from `cut` on was zeroed (`cut` at or above the watermark).
///
/// A record survives when the cut lies at or after the end of its trailer: the padding after it
/// was zero already, and the trailer has no zero byte, so a cut before its end always changes it.
/// At the first damaged record `k`, the scan finds erased space — a clean end, since everything
/// after it is zero — when the bytes of `k`'s frame header that the cut left (those before `cut`)
/// are zero too; any other byte left there makes a frame that is not valid: a torn tail at `k`.
fn expect_after_cut(placed: &[Placed], original: &[u8], cut: u64) -> Expected {
    match placed.iter().position(|frame| cut < frame.trailer_end()) {
        None => Expected {
            records: placed.len(),
            torn_at: None,
        },
        Some(k) => {
            let frame = placed[k];
            let kept = to_usize(frame.offset)..to_usize(cut.clamp(frame.offset, frame.offset + 8));
            let torn_at = if original[kept].iter().all(|&byte| byte == 0) {
                None
            } else {
                Some(frame.offset)
            };
            Expected {
                records: k,
                torn_at,
            }
        }
    }
}

/// Expectation after the byte at `at` (inside the written data) changed value or not.
///
/// A change in a record's crc, length, payload or trailer makes that frame invalid (a single
/// changed byte always changes the CRC-32C); a change in its padding is not seen at all.
fn expect_after_byte_change(placed: &[Placed], at: u64, changed: bool) -> Expected {
    let damaged = placed
        .iter()
        .position(|frame| frame.offset <= at && at < frame.trailer_end())
        .filter(|_| changed);
    match damaged {
        None => Expected {
            records: placed.len(),
            torn_at: None,
        },
        Some(k) => Expected {
            records: k,
            torn_at: Some(placed[k].offset),
        },
    }
}

/// How the unsynced part of the data is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Zero every byte from the chosen point to the end of the segment.
    Cut,
    /// XOR the chosen byte with a non-zero mask.
    Flip(u8),
    /// Overwrite the chosen byte (possibly with the value it already has: no damage).
    Overwrite(u8),
}

fn damage_strategy() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::Cut),
        (1u8..=255).prop_map(Damage::Flip),
        any::<u8>().prop_map(Damage::Overwrite),
    ]
}

proptest! {
    #![proptest_config(prop_support::config(
        "scan_properties", "appended_payloads_scan_back_exactly", 256))]

    /// Payloads appended one by one or in batches, then synced, come back from a fresh open,
    /// from the scan and from `read` exactly, at the offsets the appends returned.
    #[test]
    fn appended_payloads_scan_back_exactly(
        groups in vec((any::<bool>(), vec(payload_spec(), 0..5)), 0..6),
        slack in 0u64..40,
    ) {
        let groups: Vec<(bool, Vec<Vec<u8>>)> = groups
            .iter()
            .map(|(batch, specs)| (*batch, materialize(specs)))
            .collect();
        let payloads: Vec<Vec<u8>> = groups.iter().flat_map(|(_, group)| group.clone()).collect();
        let placed = place(&payloads);
        let data_end = end_after(&placed, placed.len());
        let mut image = zeroed_image(data_end + slack);

        let mut offsets = Vec::new();
        {
            let mut segment = Segment::create(RamRegion::new(&mut image), ID, INIT).unwrap();
            for (batch, group) in &groups {
                if *batch {
                    let appended = segment.append_batch(group, 0).unwrap();
                    prop_assert_eq!(appended.written, group.len());
                    offsets.extend(appended.offsets(group));
                    prop_assert_eq!(appended.end_offset, segment.end());
                } else {
                    for payload in group {
                        offsets.push(segment.append(payload, 0).unwrap());
                    }
                }
            }
            segment.sync(2).unwrap();
            prop_assert_eq!(segment.durable_end(), data_end);
        }
        let expected = expected_records(&payloads, &placed, placed.len());
        let expected_offsets: Vec<u64> = placed.iter().map(|frame| frame.offset).collect();
        prop_assert_eq!(&offsets, &expected_offsets);

        let mut scanned = Vec::new();
        let outcome = scan_segment(&mut RamRegion::new(&mut image), u64::MAX, data_end, |frame| {
            scanned.push(frame.offset);
        })
        .unwrap();
        prop_assert_eq!(&outcome.stop, &ScanStop::CleanEnd);
        prop_assert_eq!(outcome.end, data_end);
        prop_assert_eq!(&scanned, &expected_offsets);

        let (mut segment, report) =
            Segment::open(RamRegion::new(&mut image), ID, OpenOptions::default()).unwrap();
        let scan = report.scan.expect("an unsealed segment is scanned");
        prop_assert_eq!(&scan.stop, &ScanStop::CleanEnd);
        prop_assert_eq!(scan.record_count, payloads.len() as u64);
        prop_assert!(report.erased_stale.is_empty());
        prop_assert_eq!(segment.end(), data_end);
        prop_assert_eq!(segment.durable_end(), data_end);
        let (records, last) = read_all(&mut segment).unwrap();
        prop_assert_eq!(last, CursorStep::NoNewData);
        prop_assert_eq!(&records, &expected);
        for (offset, payload) in &expected {
            let frame = segment.read(*offset).unwrap();
            prop_assert_eq!(segment.payload(&frame), Some(&payload[..]));
        }
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "scan_properties", "damage_above_watermark_is_torn_tail_with_intact_prefix", 512))]

    /// Records synced, more appended without a sync, then the unsynced part cut or a byte of it
    /// changed: recovery keeps exactly the records before the first damaged frame, reports a
    /// torn tail there (or a clean end when only erased bytes follow), never corruption, erases
    /// the stale bytes, and a second open finds the same records and a clean end.
    #[test]
    fn damage_above_watermark_is_torn_tail_with_intact_prefix(
        synced in vec(payload_spec(), 0..5),
        unsynced in vec(payload_spec(), 1..5),
        damage in damage_strategy(),
        at in any::<Index>(),
        slack in 0u64..40,
    ) {
        let synced = materialize(&synced);
        let unsynced = materialize(&unsynced);
        let payloads: Vec<Vec<u8>> = synced.iter().chain(&unsynced).cloned().collect();
        let placed = place(&payloads);
        let watermark = end_after(&placed, synced.len());
        let data_end = end_after(&placed, placed.len());
        let mut image = zeroed_image(data_end + slack);
        {
            let mut segment = Segment::create(RamRegion::new(&mut image), ID, INIT).unwrap();
            for payload in &synced {
                segment.append(payload, 0).unwrap();
            }
            segment.sync(2).unwrap();
            prop_assert_eq!(segment.header().write_offset, watermark);
            for payload in &unsynced {
                segment.append(payload, 0).unwrap();
            }
            prop_assert_eq!(segment.end(), data_end);
        }
        let original = image.clone();
        let span = data_end - watermark;
        let expected = match damage {
            Damage::Cut => {
                let cut = watermark + at.index(to_usize(span) + 1) as u64;
                image[to_usize(cut)..].fill(0);
                expect_after_cut(&placed, &original, cut)
            }
            Damage::Flip(mask) => {
                let p = watermark + at.index(to_usize(span)) as u64;
                image[to_usize(p)] ^= mask;
                expect_after_byte_change(&placed, p, true)
            }
            Damage::Overwrite(value) => {
                let p = watermark + at.index(to_usize(span)) as u64;
                image[to_usize(p)] = value;
                expect_after_byte_change(&placed, p, original[to_usize(p)] != value)
            }
        };
        prop_assert!(expected.records >= synced.len(), "damage must lie above the watermark");
        let recovered_end = end_after(&placed, expected.records);
        let stale_end = dirty_end(&image, recovered_end, 0);
        let expected_records = expected_records(&payloads, &placed, expected.records);

        {
            let (mut segment, report) =
                Segment::open(RamRegion::new(&mut image), ID, OpenOptions::default()).unwrap();
            let scan = report.scan.clone().expect("an unsealed segment is scanned");
            match (&scan.stop, expected.torn_at) {
                (ScanStop::CleanEnd, None) => {}
                (ScanStop::TornTail(found), Some(offset)) => prop_assert_eq!(found.offset, offset),
                (stop, _) => {
                    prop_assert!(false, "expected {:?}, scan stopped with {:?}", expected, stop);
                }
            }
            prop_assert_eq!(scan.record_count, expected.records as u64);
            prop_assert_eq!(scan.end, recovered_end);
            prop_assert_eq!(scan.dirty_end, stale_end);
            if stale_end > recovered_end {
                prop_assert_eq!(report.erased_stale.clone(), recovered_end..stale_end);
            } else {
                prop_assert!(report.erased_stale.is_empty());
            }
            prop_assert_eq!(segment.end(), recovered_end);
            prop_assert_eq!(segment.durable_end(), watermark);
            let (records, last) = read_all(&mut segment).unwrap();
            prop_assert_eq!(last, CursorStep::NoNewData);
            prop_assert_eq!(&records, &expected_records);
            let after_end = &segment.region().as_slice()[to_usize(recovered_end)..];
            prop_assert!(after_end.iter().all(|&byte| byte == 0), "stale bytes left after the end");
        }
        {
            let (mut segment, report) =
                Segment::open(RamRegion::new(&mut image), ID, OpenOptions::default()).unwrap();
            prop_assert_eq!(&report.scan.unwrap().stop, &ScanStop::CleanEnd);
            let (records, _) = read_all(&mut segment).unwrap();
            prop_assert_eq!(&records, &expected_records);
            if !segment.fits(3) {
                return Ok(());
            }
            prop_assert_eq!(segment.append(b"new", 0).unwrap(), recovered_end);
            segment.sync(3).unwrap();
        }
        // Nothing cut comes back after new appends.
        let (mut segment, _) =
            Segment::open(RamRegion::new(&mut image), ID, OpenOptions::default()).unwrap();
        let (records, _) = read_all(&mut segment).unwrap();
        prop_assert_eq!(records.len(), expected.records + 1);
        prop_assert_eq!(&records[..expected.records], &expected_records[..]);
        prop_assert_eq!(&records[expected.records], &(recovered_end, b"new".to_vec()));
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "scan_properties", "damage_below_watermark_is_corruption_naming_that_record", 512))]

    /// A changed byte in the crc, length, payload or trailer of synced record `k`: the default
    /// open refuses with `Corrupt` at record `k`'s offset (read-only too); the repairing open keeps
    /// exactly records `0..k` and reports corruption there; after it the segment opens cleanly.
    #[test]
    fn damage_below_watermark_is_corruption_naming_that_record(
        synced in vec(payload_spec(), 1..6),
        unsynced in vec(payload_spec(), 0..3),
        victim in any::<Index>(),
        byte in any::<Index>(),
        mask in 1u8..=255,
        slack in 0u64..40,
    ) {
        let synced = materialize(&synced);
        let unsynced = materialize(&unsynced);
        let payloads: Vec<Vec<u8>> = synced.iter().chain(&unsynced).cloned().collect();
        let placed = place(&payloads);
        let data_end = end_after(&placed, placed.len());
        let mut image = zeroed_image(data_end + slack);
        {
            let mut segment = Segment::create(RamRegion::new(&mut image), ID, INIT).unwrap();
            segment.append_batch(&synced, 0).unwrap();
            segment.sync(2).unwrap();
            for payload in &unsynced {
                segment.append(payload, 0).unwrap();
            }
        }
        let k = victim.index(synced.len());
        let frame = placed[k];
        let at = frame.offset + byte.index(to_usize(frame.trailer_end() - frame.offset)) as u64;
        image[to_usize(at)] ^= mask;

        for read_only in [false, true] {
            let options = OpenOptions { read_only, ..OpenOptions::default() };
            match Segment::open(RamRegion::new(&mut image), ID, options) {
                Err(Error::Corrupt { offset, segment, .. }) => {
                    prop_assert_eq!(offset, frame.offset);
                    prop_assert_eq!(segment, ID);
                }
                Err(other) => {
                    prop_assert!(false, "expected Corrupt at {}, got {:?}", frame.offset, other);
                }
                Ok((_, report)) => {
                    let at = frame.offset;
                    prop_assert!(false, "expected Corrupt at {}, opened: {:?}", at, report);
                }
            }
        }

        let expected = expected_records(&payloads, &placed, k);
        {
            let options = OpenOptions {
                repair: RepairPolicy::TruncateAtDamage,
                ..OpenOptions::default()
            };
            let (mut segment, report) =
                Segment::open(RamRegion::new(&mut image), ID, options).unwrap();
            let scan = report.scan.expect("an unsealed segment is scanned");
            match &scan.stop {
                ScanStop::Corruption(found) => prop_assert_eq!(found.offset, frame.offset),
                other => {
                    prop_assert!(false, "expected Corruption at {}, got {:?}", frame.offset, other);
                }
            }
            prop_assert_eq!(segment.record_count(), k as u64);
            prop_assert_eq!(segment.end(), frame.offset);
            prop_assert!(segment.durable_end() <= frame.offset);
            let (records, last) = read_all(&mut segment).unwrap();
            prop_assert_eq!(last, CursorStep::NoNewData);
            prop_assert_eq!(&records, &expected);
        }
        let (mut segment, report) =
            Segment::open(RamRegion::new(&mut image), ID, OpenOptions::default()).unwrap();
        prop_assert_eq!(&report.scan.unwrap().stop, &ScanStop::CleanEnd);
        let (records, _) = read_all(&mut segment).unwrap();
        prop_assert_eq!(&records, &expected);
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "scan_properties", "hardware_and_portable_crc_agree", 512))]

    /// The portable and the hardware CRC-32C (when this CPU has one) give the same result for
    /// any bytes fed in any pieces, equal to the one-shot `crc32c` and the default path.
    #[test]
    fn hardware_and_portable_crc_agree(
        data in prop_oneof![3 => vec(any::<u8>(), 0..300), 1 => vec(any::<u8>(), 0..20_000)],
        splits in vec(any::<Index>(), 0..5),
    ) {
        let mut cuts: Vec<usize> = splits.iter().map(|split| split.index(data.len() + 1)).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect();
        let streamed = |crc: Option<Crc32c>| {
            crc.map(|mut crc| {
                for piece in &pieces {
                    crc.update(piece);
                }
                crc.finish()
            })
        };
        let portable =
            streamed(Crc32c::with_path(CrcPath::Portable)).expect("portable runs everywhere");
        prop_assert_eq!(portable, crc32c(&data));
        prop_assert_eq!(streamed(Some(Crc32c::new())), Some(portable));
        if let Some(hardware) = streamed(Crc32c::with_path(CrcPath::Hardware)) {
            prop_assert_eq!(hardware, portable);
        } else {
            prop_assert!(!CrcPath::Hardware.is_available());
        }
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "scan_properties", "nor_appended_payloads_scan_back_exactly", 256))]

    /// On a NOR-flash-like region (erased 0xFF, bits only clear, every read a copy), appended and
    /// synced payloads come back exactly from a fresh open, which finds a clean end.
    #[test]
    fn nor_appended_payloads_scan_back_exactly(
        specs in vec(payload_spec(), 0..10),
        batch in any::<bool>(),
        slack in 0u64..40,
    ) {
        let payloads = materialize(&specs);
        let placed = place(&payloads);
        let data_end = end_after(&placed, placed.len());
        let mut image = zeroed_image(data_end + slack);
        {
            let mut segment = Segment::create(NorRegion::erased(&mut image), ID, INIT).unwrap();
            if batch {
                if !payloads.is_empty() {
                    let appended = segment.append_batch(&payloads, 0).unwrap();
                    prop_assert_eq!(appended.written, payloads.len());
                }
            } else {
                for (payload, frame) in payloads.iter().zip(&placed) {
                    prop_assert_eq!(segment.append(payload, 0).unwrap(), frame.offset);
                }
            }
            segment.sync(2).unwrap();
        }
        let (mut segment, report) =
            Segment::open(NorRegion::existing(&mut image), ID, OpenOptions::default()).unwrap();
        let scan = report.scan.expect("an unsealed segment is scanned");
        prop_assert_eq!(&scan.stop, &ScanStop::CleanEnd);
        prop_assert_eq!(segment.end(), data_end);
        let (records, last) = read_all(&mut segment).unwrap();
        prop_assert_eq!(last, CursorStep::NoNewData);
        prop_assert_eq!(&records, &expected_records(&payloads, &placed, placed.len()));
    }
}

proptest! {
    #![proptest_config(prop_support::config(
        "scan_properties", "nor_power_cut_during_append_keeps_intact_prefix", 512))]

    /// On NOR flash, the power fails after `budget` more programmed bytes while records are
    /// appended. A reopen keeps every record whose frame was fully programmed (a frame is written
    /// payload, trailer, then crc and length, so no partial frame is valid). Its verdict is a clean
    /// end when every byte after them still reads erased, a torn tail otherwise; a torn segment
    /// refuses appends (its bytes cannot be erased in place), a clean one takes them.
    #[test]
    fn nor_power_cut_during_append_keeps_intact_prefix(
        before in vec(payload_spec(), 0..4),
        during in vec(payload_spec(), 1..4),
        batch in any::<bool>(),
        budget in any::<Index>(),
        slack in 0u64..40,
    ) {
        let before = materialize(&before);
        let during = materialize(&during);
        let payloads: Vec<Vec<u8>> = before.iter().chain(&during).cloned().collect();
        let placed = place(&payloads);
        let data_end = end_after(&placed, placed.len());
        let mut image = zeroed_image(data_end + slack);
        let to_program = data_end - end_after(&placed, before.len());
        let budget = budget.index(to_usize(to_program) + 8) as u64;
        {
            let mut segment = Segment::create(NorRegion::erased(&mut image), ID, INIT).unwrap();
            for payload in &before {
                segment.append(payload, 0).unwrap();
            }
            segment.sync(2).unwrap();
            segment.region_mut().cut_power_after(budget);
            let result = if batch {
                segment.append_batch(&during, 0).map(|_| ())
            } else {
                during.iter().try_for_each(|payload| segment.append(payload, 0).map(|_| ()))
            };
            match result {
                Ok(()) => prop_assert!(budget >= to_program),
                Err(Error::Region { source: NorRegionError::PowerCut { .. }, .. }) => {
                    prop_assert!(budget < to_program);
                }
                Err(other) => prop_assert!(false, "unexpected append error {:?}", other),
            }
        }
        // Each frame programs exactly frame_len bytes; the ones that fit in the budget are whole.
        let mut programmed = 0;
        let mut survivors = before.len();
        for frame in &placed[before.len()..] {
            programmed += frame_len(frame.payload_len);
            if programmed > budget {
                break;
            }
            survivors += 1;
        }
        let recovered_end = end_after(&placed, survivors);
        let clean = dirty_end(&image, recovered_end, 0xFF) == recovered_end;

        let (mut segment, report) =
            Segment::open(NorRegion::existing(&mut image), ID, OpenOptions::default()).unwrap();
        let scan = report.scan.expect("an unsealed segment is scanned");
        match &scan.stop {
            ScanStop::CleanEnd => {
                prop_assert!(clean, "clean end reported with programmed bytes after it");
            }
            ScanStop::TornTail(damage) => {
                prop_assert!(!clean, "torn tail reported over erased bytes");
                prop_assert_eq!(damage.offset, recovered_end);
            }
            ScanStop::Corruption(damage) => {
                prop_assert!(false, "corruption without a watermark: {:?}", damage);
            }
        }
        prop_assert_eq!(segment.end(), recovered_end);
        let (records, last) = read_all(&mut segment).unwrap();
        prop_assert_eq!(last, CursorStep::NoNewData);
        prop_assert_eq!(&records, &expected_records(&payloads, &placed, survivors));
        if clean {
            if segment.fits(5) {
                prop_assert_eq!(segment.append(b"after", 0).unwrap(), recovered_end);
                segment.sync(3).unwrap();
                let (mut segment, _) =
                    Segment::open(segment.into_region(), ID, OpenOptions::default()).unwrap();
                let (records, _) = read_all(&mut segment).unwrap();
                prop_assert_eq!(records.len(), survivors + 1);
                prop_assert_eq!(&records[survivors], &(recovered_end, b"after".to_vec()));
            }
        } else {
            prop_assert!(!segment.fits(0));
            let refused = segment.append(b"", 0);
            prop_assert!(
                matches!(refused, Err(Error::SegmentFull { .. } | Error::NeedsOverwrite { .. })),
                "a torn NOR segment took an append: {:?}", refused
            );
            let refused = segment.append_batch(&[b"x"], 0);
            prop_assert!(refused.is_err(), "a torn NOR segment took a batch: {:?}", refused);
        }
    }
}
