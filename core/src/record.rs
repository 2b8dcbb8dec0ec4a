//! Reading and validating one record frame from a region: the single place that decides whether
//! bytes at an offset are a valid record. The recovery scan, segment reads and the cursor all
//! call it.

use crate::crc::Crc32c;
use crate::error::{CorruptionReason, Error, region_err};
use crate::format::{
    FRAME_ALIGN, FRAME_HEADER_LEN, FRAME_OVERHEAD_LEN, HEADER_LEN, RecordFrame, TRAILER,
    TRAILER_LEN,
};
use crate::position::SegmentId;
use crate::region::RegionRead;

/// What the bytes at an offset are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// A complete frame whose trailer (and CRC, if checked) is right.
    Valid(RecordFrame),
    /// The frame header reads as erased space (crc and length all erased bytes).
    Erased,
    /// Anything else.
    Invalid(CorruptionReason),
}

/// Whether a read checks the record CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcCheck {
    /// Compute the CRC of every record read and compare (the default).
    Verify,
    /// Check only the frame structure (length and trailer). For records a scan already verified.
    Skip,
}

/// Bytes of payload fed to the CRC per `read_at` when the region has no zero-copy view.
const CHUNK_LEN: usize = 256;

/// Inspects the frame at `offset`, which must be 8-aligned with `offset + 16 <= limit`.
/// The frame must end at or before `limit`.
pub fn inspect_frame<R: RegionRead>(
    region: &mut R,
    offset: u64,
    limit: u64,
    check: CrcCheck,
) -> Result<FrameStatus, R::Error> {
    debug_assert!(offset.is_multiple_of(FRAME_ALIGN as u64));
    debug_assert!(offset + FRAME_OVERHEAD_LEN as u64 <= limit);
    let mut head = [0u8; FRAME_HEADER_LEN];
    read_small(region, offset, &mut head)?;
    let erased = [R::ERASED_BYTE; FRAME_HEADER_LEN];
    if head == erased {
        return Ok(FrameStatus::Erased);
    }
    let stored_crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let frame = RecordFrame {
        offset,
        payload_len: length,
    };
    // offset < 2^33 and length < 2^32: no overflow.
    if frame.next_offset() > limit {
        return Ok(FrameStatus::Invalid(CorruptionReason::LengthOutOfRange {
            length,
        }));
    }
    let mut trailer = [0u8; TRAILER_LEN];
    read_small(region, frame.payload_range().end, &mut trailer)?;
    if trailer != TRAILER {
        return Ok(FrameStatus::Invalid(CorruptionReason::BadTrailer));
    }
    if check == CrcCheck::Verify {
        let computed = frame_crc(region, &frame, &head[4..8])?;
        if computed != stored_crc {
            let reason = if stored_crc == 0 {
                CorruptionReason::ZeroCrc { computed }
            } else {
                CorruptionReason::BadCrc {
                    stored: stored_crc,
                    computed,
                }
            };
            return Ok(FrameStatus::Invalid(reason));
        }
    }
    Ok(FrameStatus::Valid(frame))
}

fn read_small<R: RegionRead>(region: &mut R, offset: u64, buf: &mut [u8]) -> Result<(), R::Error> {
    if let Some(bytes) = region.bytes(offset..offset + buf.len() as u64) {
        buf.copy_from_slice(bytes);
        Ok(())
    } else {
        region.read_at(offset, buf)
    }
}

fn frame_crc<R: RegionRead>(
    region: &mut R,
    frame: &RecordFrame,
    length_bytes: &[u8],
) -> Result<u32, R::Error> {
    let mut crc = Crc32c::new();
    crc.update(length_bytes);
    let range = frame.payload_range();
    if let Some(payload) = region.bytes(range.clone()) {
        crc.update(payload);
    } else {
        let mut chunk = [0u8; CHUNK_LEN];
        let mut at = range.start;
        while at < range.end {
            // At most CHUNK_LEN, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let len = (range.end - at).min(CHUNK_LEN as u64) as usize;
            region.read_at(at, &mut chunk[..len])?;
            crc.update(&chunk[..len]);
            at += len as u64;
        }
    }
    Ok(crc.finish())
}

/// Reads the record that starts at `offset` in a segment whose data ends at `end`, with the
/// checks of SPEC §5.2 made stricter: the offset must be a record start (8-aligned, past the
/// header), the frame must end at or before `end`, its trailer must be intact and, with
/// [`CrcCheck::Verify`], its CRC must match.
pub fn read_record<R: RegionRead>(
    region: &mut R,
    segment: SegmentId,
    offset: u64,
    end: u64,
    check: CrcCheck,
) -> Result<RecordFrame, Error<R::Error>> {
    let capacity = region.capacity();
    if offset < HEADER_LEN as u64 {
        return Err(Error::OffsetBeforeHeader { segment, offset });
    }
    if offset > capacity {
        return Err(Error::OffsetOutOfBounds {
            segment,
            offset,
            capacity,
        });
    }
    if !offset.is_multiple_of(FRAME_ALIGN as u64) {
        return Err(Error::NotARecordStart { segment, offset });
    }
    let end = end.min(capacity);
    if offset >= end {
        return Err(Error::NoRecord {
            segment,
            offset,
            end,
        });
    }
    if end - offset < FRAME_OVERHEAD_LEN as u64 {
        // Too little room for any frame: report the stored length when it can be read.
        let mut head = [0u8; FRAME_HEADER_LEN];
        let length = if offset + FRAME_HEADER_LEN as u64 <= capacity {
            read_small(region, offset, &mut head).map_err(region_err(segment, offset))?;
            u32::from_le_bytes([head[4], head[5], head[6], head[7]])
        } else {
            0
        };
        return Err(Error::Corrupt {
            segment,
            offset,
            reason: CorruptionReason::LengthOutOfRange { length },
        });
    }
    match inspect_frame(region, offset, end, check).map_err(region_err(segment, offset))? {
        FrameStatus::Valid(frame) => Ok(frame),
        FrameStatus::Erased => Err(Error::Corrupt {
            segment,
            offset,
            reason: CorruptionReason::Erased,
        }),
        FrameStatus::Invalid(reason) => Err(Error::Corrupt {
            segment,
            offset,
            reason,
        }),
    }
}

/// Copies the payload of `frame` into the front of `buf` and returns that part of `buf`.
pub fn read_payload<'b, R: RegionRead>(
    region: &mut R,
    segment: SegmentId,
    frame: &RecordFrame,
    buf: &'b mut [u8],
) -> Result<&'b [u8], Error<R::Error>> {
    let len = frame.payload_len as usize;
    let Some(out) = buf.get_mut(..len) else {
        return Err(Error::BufferTooSmall {
            segment,
            offset: frame.offset,
            needed: u64::from(frame.payload_len),
        });
    };
    let at = frame.payload_offset();
    if let Some(bytes) = region.bytes(frame.payload_range()) {
        out.copy_from_slice(bytes);
    } else {
        region.read_at(at, out).map_err(region_err(segment, at))?;
    }
    Ok(out)
}
