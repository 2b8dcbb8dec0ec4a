//! Checks of `walfs_core::nor_flash::NorFlashRegion` over a strict RAM-backed NOR flash
//! (`walfs_core::nor_flash::mock::MockNorFlash`: bits only clear, a word is written at most once
//! per erase, every access aligned, erases counted).
//!
//! The same code runs on the host (`tests/tests/nor_flash_adapter.rs` includes this file) and on
//! the emulated Cortex-M4 (the `checks` firmware), so it is `no_std` and reports failures as
//! values instead of panicking.

use walfs_core::nor_flash::mock::{MockFlashError, MockNorFlash};
use walfs_core::nor_flash::{NorFlashRegion, NorFlashRegionError};
use walfs_core::{
    CorruptionReason, CursorStep, Error, OpenOptions, ScanOutcome, ScanStop, Segment,
    SegmentCursor, SegmentId, SegmentInit,
};

/// A failed check: `file:line: what`.
pub type Failure = &'static str;

include!("check_macros.rs");

/// A named check.
pub type Check = (&'static str, fn() -> Result<(), Failure>);

/// The checks, by name.
pub const CHECKS: &[Check] = &[
    (
        "nor_flash_read1_write1_erase256",
        segment_on_flash::<1, 1, 256>,
    ),
    (
        "nor_flash_read1_write4_erase4096",
        segment_on_flash::<1, 4, 4096>,
    ),
    (
        "nor_flash_read4_write8_erase2048",
        segment_on_flash::<4, 8, 2048>,
    ),
    (
        "nor_flash_read8_write2_erase1024",
        segment_on_flash::<8, 2, 1024>,
    ),
];

/// Size of the mock device; the segment's partition is its middle 8 KiB.
const DEVICE_LEN: usize = 16384;
const PARTITION: core::ops::Range<u32> = 4096..12288;
const SEGMENT: SegmentId = SegmentId(9);

type Flash<const R: usize, const W: usize, const E: usize> = MockNorFlash<DEVICE_LEN, R, W, E>;
type FlashRegion<const R: usize, const W: usize, const E: usize> = NorFlashRegion<Flash<R, W, E>>;

fn payload(len: usize, seed: u8) -> [u8; 64] {
    core::array::from_fn(|i| {
        if i < len {
            // i < 64: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            let i = i as u8;
            i.wrapping_mul(31).wrapping_add(seed)
        } else {
            0
        }
    })
}

fn open<const R: usize, const W: usize, const E: usize>(
    flash: Flash<R, W, E>,
) -> Result<(Segment<FlashRegion<R, W, E>>, ScanOutcome), Failure> {
    let region = ok!(NorFlashRegion::new(flash, PARTITION), "partition");
    let (segment, report) = ok!(
        Segment::open(region, SEGMENT, OpenOptions::default()),
        "open the segment on flash"
    );
    let Some(scan) = report.scan else {
        fail!("an unsealed segment is scanned");
    };
    Ok((segment, scan))
}

/// Every record of `segment` in order, compared with `payload(len, len)` for `lens`.
fn read_back<const R: usize, const W: usize, const E: usize>(
    segment: &mut Segment<FlashRegion<R, W, E>>,
    lens: impl Iterator<Item = usize>,
) -> Result<(), Failure> {
    let mut cursor = SegmentCursor::new(SEGMENT);
    let mut buf = [0u8; 64];
    for len in lens {
        let step = ok!(cursor.next_in(segment), "cursor step");
        let CursorStep::Record(frame) = step else {
            fail!("a record is missing");
        };
        let read = ok!(segment.read_payload(&frame, &mut buf), "read a payload");
        // len <= 64, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let expected = payload(len, len as u8);
        ensure!(read == &expected[..len], "payload read back differs");
    }
    ensure!(
        matches!(cursor.next_in(segment), Ok(CursorStep::NoNewData)),
        "no record after the last one"
    );
    Ok(())
}

/// Create, append, sync, reopen, append again, torn writes at two places, erase and start over,
/// on a device that reads `R`, programs `W` and erases `E` bytes at a time.
fn segment_on_flash<const R: usize, const W: usize, const E: usize>() -> Result<(), Failure> {
    let flash = round_trip::<R, W, E>()?;
    let flash = torn_payload(flash)?;
    let flash = torn_frame_header(flash)?;
    erase_starts_over(flash)
}

const INIT: SegmentInit = SegmentInit {
    created_at: 1,
    marker: 0,
    first_log_index: 1,
};

fn sectors_per_partition(erase_size: usize) -> u64 {
    u64::from(PARTITION.end - PARTITION.start) / erase_size as u64
}

/// Erase, create, append records that end at every offset mod 8, sync; every word is programmed
/// once; reopen (erased flash is a clean end), read back, append again.
fn round_trip<const R: usize, const W: usize, const E: usize>() -> Result<Flash<R, W, E>, Failure> {
    let mut region = ok!(
        NorFlashRegion::new(Flash::<R, W, E>::new(), PARTITION),
        "partition"
    );
    ok!(region.erase(), "erase the partition");
    ensure!(
        region.flash().sectors_erased() == sectors_per_partition(E),
        "erasing the partition erases each of its sectors once"
    );
    let mut segment = ok!(Segment::create(region, SEGMENT, INIT), "create");
    // A write that sets a bit, or writes a word twice, fails on this device and would poison
    // the segment.
    for len in 0..=24usize {
        #[allow(clippy::cast_possible_truncation)]
        let bytes = payload(len, len as u8);
        ok!(segment.append(&bytes[..len], 1 + len as u64), "append");
    }
    ok!(segment.sync(2), "sync");
    let end = segment.end();
    let flash = segment.into_region().into_inner();
    ensure!(
        flash.words_written() * W as u64 == end,
        "every word below the end is programmed exactly once"
    );
    let device_end = PARTITION.start as usize + usize::try_from(end).unwrap_or(usize::MAX);
    ensure!(
        flash
            .as_slice()
            .get(device_end..PARTITION.end as usize)
            .is_some_and(|tail| tail.iter().all(|&b| b == 0xFF)),
        "the flash after the end is still erased"
    );

    // After a reset: erased flash is the end of the data, not corruption.
    let (mut segment, scan) = open(flash)?;
    ensure!(
        scan.stop == ScanStop::CleanEnd,
        "erased space is a clean end"
    );
    ensure!(
        segment.record_count() == 25 && segment.end() == end,
        "recovery finds every record"
    );
    read_back(&mut segment, 0..=24)?;
    let more = payload(5, 5);
    ok!(segment.append(&more[..5], 26), "append after reopening");
    ok!(segment.sync(3), "sync after reopening");
    Ok(segment.into_region().into_inner())
}

/// A power cut in the middle of a payload (the frame header is written last, so it is still
/// erased): recovery reports a torn tail, keeps the records before it, takes no more appends.
fn torn_payload<const R: usize, const W: usize, const E: usize>(
    mut flash: Flash<R, W, E>,
) -> Result<Flash<R, W, E>, Failure> {
    flash.cut_power_after(8);
    let (mut segment, _) = open(flash)?;
    let torn_at = segment.end();
    let count = segment.record_count();
    let big = payload(40, 40);
    let failed = segment.append(&big[..40], 1 + count);
    ensure!(
        matches!(
            failed,
            Err(Error::Region {
                source: NorFlashRegionError::Flash(MockFlashError::PowerCut { .. }),
                ..
            })
        ),
        "the cut append reports the flash error"
    );
    let mut flash = segment.into_region().into_inner();
    flash.restore_power();
    let (segment, scan) = open(flash)?;
    ensure!(scan.end == torn_at, "recovery cuts at the torn frame");
    ensure!(
        matches!(scan.stop, ScanStop::TornTail(ref damage) if damage.reason == CorruptionReason::Erased),
        "a missing frame header over written payload bytes is a torn tail"
    );
    ensure!(
        segment.record_count() == count,
        "records before the cut survive"
    );
    ensure!(
        !segment.fits(0),
        "torn flash cannot be appended to in place"
    );
    Ok(segment.into_region().into_inner())
}

/// A power cut in the middle of the frame header itself (payload and trailer written).
fn torn_frame_header<const R: usize, const W: usize, const E: usize>(
    flash: Flash<R, W, E>,
) -> Result<Flash<R, W, E>, Failure> {
    let mut region = ok!(NorFlashRegion::new(flash, PARTITION), "partition");
    ok!(region.erase(), "erase");
    let mut segment = ok!(Segment::create(region, SEGMENT, INIT), "create again");
    let more = payload(5, 5);
    ok!(segment.append(&more[..5], 1), "append");
    ok!(segment.sync(4), "sync");
    let mut flash = segment.into_region().into_inner();
    // 40 bytes of payload, 8 of trailer (a 56-byte frame), then 4 of the 8-byte frame header.
    flash.cut_power_after(40 + 8 + 4);
    let (mut segment, _) = open(flash)?;
    let torn_at = segment.end();
    let big = payload(40, 40);
    ensure!(
        segment.append(&big[..40], 2).is_err(),
        "the cut append fails"
    );
    let mut flash = segment.into_region().into_inner();
    flash.restore_power();
    let (mut segment, scan) = open(flash)?;
    ensure!(
        scan.end == torn_at && matches!(scan.stop, ScanStop::TornTail(_)),
        "a half-written frame header is a torn tail"
    );
    read_back(&mut segment, core::iter::once(5))?;
    Ok(segment.into_region().into_inner())
}

/// Erasing the partition starts over: an empty segment, every sector erased once more.
fn erase_starts_over<const R: usize, const W: usize, const E: usize>(
    flash: Flash<R, W, E>,
) -> Result<(), Failure> {
    let mut region = ok!(NorFlashRegion::new(flash, PARTITION), "partition");
    let erased_before = region.flash().sectors_erased();
    ok!(region.erase(), "erase");
    ensure!(
        region.flash().sectors_erased() == erased_before + sectors_per_partition(E),
        "erase counts"
    );
    let segment = ok!(
        Segment::create(region, SEGMENT, INIT),
        "create after erasing"
    );
    let (segment, scan) = open(segment.into_region().into_inner())?;
    ensure!(
        scan.stop == ScanStop::CleanEnd && segment.record_count() == 0,
        "a fresh segment on erased flash is empty and clean"
    );
    Ok(())
}
