//! Segment 1 of the Go fixture case 02 (`tests/fixtures/go-walfs/02-rotated-mixed`), in flash via
//! `include_bytes!`: walfs-core must find the records, positions and payload hashes that the
//! fixture's manifest lists (the Go original's own account, turned into constants by build.rs).

use core::ops::Range;

use sha2::{Digest, Sha256};
use walfs_core::format::{HEADER_LEN, SegmentHeader};
use walfs_core::{
    CursorStep, OpenOptions, RamRegion, RamRegionError, RegionRead, ScanStop, Segment,
    SegmentCursor, SegmentId, scan_segment,
};

use crate::Outcome;

mod case02 {
    include!(concat!(env!("OUT_DIR"), "/fixture_case02.rs"));
}

const ID: SegmentId = SegmentId(1);

/// A read-only region over bytes in flash, with a zero-copy view.
struct FlashBytes(&'static [u8]);

impl RegionRead for FlashBytes {
    type Error = RamRegionError;

    fn capacity(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let error = RamRegionError {
            offset,
            len: buf.len() as u64,
            capacity: self.capacity(),
        };
        let start = usize::try_from(offset).map_err(|_| error)?;
        let bytes = self
            .0
            .get(start..start.saturating_add(buf.len()))
            .ok_or(error)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn bytes(&self, range: Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.0.get(start..end)
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The recovery scan over the flash-resident bytes, as a sealed segment (limit = the header's
/// end) and as if unsealed (limit = the capacity, no watermark): the manifest's records, then
/// the zeroed space the Go original leaves is a clean end.
pub fn case02_segment1_scan() -> Outcome {
    let segment: &'static [u8] = case02::SEGMENT;
    ensure!(
        sha256(segment) == case02::SEGMENT_SHA256,
        "the file is the manifest's"
    );
    let header = <&[u8; HEADER_LEN]>::try_from(&segment[..HEADER_LEN]).map_err(|_| "len")?;
    let header = ok!(SegmentHeader::decode(header), "decode the header");
    ensure!(
        header.write_offset == case02::HEADER_WRITE_OFFSET
            && header.entry_count == case02::HEADER_ENTRY_COUNT
            && u64::from(header.flags.0) == case02::HEADER_FLAGS,
        "header fields as in the manifest"
    );
    for (limit, watermark) in [
        (case02::HEADER_WRITE_OFFSET, case02::HEADER_WRITE_OFFSET),
        (segment.len() as u64, HEADER_LEN as u64),
    ] {
        let mut region = FlashBytes(segment);
        let mut index = 0usize;
        let mut mismatch = false;
        let outcome = ok!(
            scan_segment(&mut region, limit, watermark, |frame| {
                let expected = case02::RECORDS.get(index);
                let range = frame.payload_range();
                let payload = usize::try_from(range.start)
                    .ok()
                    .zip(usize::try_from(range.end).ok())
                    .and_then(|(start, end)| segment.get(start..end));
                let matches = expected
                    .zip(payload)
                    .is_some_and(|(&(off, len, hash), payload)| {
                        frame.offset == off && frame.payload_len == len && sha256(payload) == hash
                    });
                mismatch |= !matches;
                index += 1;
            }),
            "scan"
        );
        ensure!(
            !mismatch,
            "records, positions and hashes as in the manifest"
        );
        ensure!(
            index == case02::RECORDS.len(),
            "as many records as the manifest"
        );
        ensure!(
            outcome.stop == ScanStop::CleanEnd
                && outcome.end == case02::HEADER_WRITE_OFFSET
                && outcome.record_count == case02::HEADER_ENTRY_COUNT,
            "a clean end where the header says"
        );
    }
    Ok(())
}

/// `Segment::open` with a full verification of the sealed segment (in RAM), then the reader
/// cursor and `Segment::read` over every record.
pub fn case02_segment1_open_and_read() -> Outcome {
    #[allow(
        clippy::large_stack_arrays,
        reason = "the stack is most of the 4 MiB of RAM"
    )]
    let mut ram = [0u8; 65536];
    ensure!(ram.len() == case02::SEGMENT.len(), "a 64 KiB segment");
    ram.copy_from_slice(case02::SEGMENT);
    let options = OpenOptions {
        verify_sealed: true,
        read_only: true,
        ..OpenOptions::default()
    };
    let (mut segment, report) = ok!(Segment::open(RamRegion::new(&mut ram), ID, options), "open");
    ensure!(segment.is_sealed(), "segment 1 is sealed");
    ensure!(report.scan.is_some(), "verify_sealed scans");
    ensure!(
        segment.end() == case02::HEADER_WRITE_OFFSET
            && segment.record_count() == case02::HEADER_ENTRY_COUNT,
        "end and count"
    );
    let mut cursor = SegmentCursor::new(ID);
    for &(offset, len, hash) in case02::RECORDS {
        let step = ok!(cursor.next_in(&mut segment), "cursor step");
        let CursorStep::Record(frame) = step else {
            fail!("the cursor ended early");
        };
        ensure!(
            frame.offset == offset && frame.payload_len == len,
            "position and length"
        );
        let Some(payload) = segment.payload(&frame) else {
            fail!("RAM gives a zero-copy view");
        };
        ensure!(sha256(payload) == hash, "payload hash from the cursor");
        let frame = ok!(segment.read(offset), "read at the manifest's offset");
        ensure!(
            segment.payload(&frame).is_some_and(|p| sha256(p) == hash),
            "payload hash from read"
        );
    }
    ensure!(
        matches!(cursor.next_in(&mut segment), Ok(CursorStep::EndOfSegment)),
        "end of a sealed segment"
    );
    ensure!(
        cursor.last_record_position().map(|p| p.offset) == case02::RECORDS.last().map(|r| r.0),
        "last record position"
    );
    Ok(())
}
