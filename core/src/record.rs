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
///
/// With a zero-copy view of `offset..limit`, the header, the trailer and the payload are read
/// from that one view (one bounds check per frame, no copies: a recovery scan calls this for
/// every record). Otherwise each is read through [`RegionRead::read_at`]. Both paths apply the
/// same checks, in the same order, through the same helpers.
#[inline]
pub fn inspect_frame<R: RegionRead>(
    region: &mut R,
    offset: u64,
    limit: u64,
    check: CrcCheck,
) -> Result<FrameStatus, R::Error> {
    debug_assert!(offset.is_multiple_of(FRAME_ALIGN as u64));
    debug_assert!(offset + FRAME_OVERHEAD_LEN as u64 <= limit);
    if let Some(bytes) = region.bytes(offset..limit) {
        return Ok(inspect_frame_in(
            bytes,
            offset,
            limit,
            check,
            R::ERASED_BYTE,
            None,
        ));
    }
    let mut head = [0u8; FRAME_HEADER_LEN];
    read_small(region, offset, &mut head)?;
    let frame = match frame_of_head(head, offset, limit, R::ERASED_BYTE) {
        Ok(frame) => frame,
        Err(status) => return Ok(status),
    };
    let mut trailer = [0u8; TRAILER_LEN];
    read_small(region, frame.payload_range().end, &mut trailer)?;
    if trailer != TRAILER {
        return Ok(FrameStatus::Invalid(CorruptionReason::BadTrailer));
    }
    if check == CrcCheck::Verify {
        let computed = frame_crc(region, &frame, &head[4..8])?;
        if let Some(reason) = crc_mismatch(head, computed) {
            return Ok(FrameStatus::Invalid(reason));
        }
    }
    Ok(FrameStatus::Valid(frame))
}

/// Erased space that a scan checks alongside the CRCs of the records it verifies (see `scan`):
/// consecutive words of a view, from a start the scan chooses (moved up past the first frame
/// verified if that frame reaches above it), in ascending order like the records.
pub(crate) struct SideCheck<'a> {
    /// The words of the view, which starts at offset `base`.
    words: &'a [[u8; 8]],
    base: u64,
    /// Words `start..high` are checked.
    start: usize,
    high: usize,
    pattern: u64,
    /// The OR of the differences found: 0 while everything checked is erased.
    any: u64,
}

impl<'a> SideCheck<'a> {
    /// A check of the whole words of `view`, which starts at offset `base`, for bytes equal to
    /// `erased`, from offset `start` up.
    pub(crate) fn new(view: &'a [u8], base: u64, start: u64, erased: u8) -> Self {
        let (words, _) = view.as_chunks::<8>();
        let start = Self::index(base, start).min(words.len());
        SideCheck {
            words,
            base,
            start,
            high: start,
            pattern: u64::from_le_bytes([erased; 8]),
            any: 0,
        }
    }

    /// The index of the first word at or above `offset`.
    fn index(base: u64, offset: u64) -> usize {
        usize::try_from(offset.saturating_sub(base).div_ceil(8)).unwrap_or(usize::MAX)
    }

    /// The range found erased (empty if anything checked was not).
    pub(crate) fn erased(&self) -> core::ops::Range<u64> {
        let at = |index: usize| self.base + index as u64 * 8;
        if self.any == 0 {
            at(self.start)..at(self.high)
        } else {
            at(self.high)..at(self.high)
        }
    }

    /// The next `count` words, none of them below offset `floor` if none were taken yet.
    fn take(&mut self, count: usize, floor: u64) -> &'a [[u8; 8]] {
        if self.high == self.start {
            self.start = self
                .start
                .max(Self::index(self.base, floor))
                .min(self.words.len());
            self.high = self.start;
        }
        let high = self.high.saturating_add(count).min(self.words.len());
        let taken = self.words.get(self.high..high).unwrap_or_default();
        self.high = high;
        taken
    }
}

/// [`inspect_frame`] over `bytes`, the view of `offset..limit`. With `side`, as many words of
/// erased space as the payload has are checked during its CRC.
#[inline]
pub(crate) fn inspect_frame_in(
    bytes: &[u8],
    offset: u64,
    limit: u64,
    check: CrcCheck,
    erased: u8,
    side: Option<&mut SideCheck<'_>>,
) -> FrameStatus {
    let Some((head, _)) = bytes.split_first_chunk::<FRAME_HEADER_LEN>() else {
        // The caller guarantees 16 bytes; a view shorter than asked is a fault of the region.
        return FrameStatus::Invalid(CorruptionReason::LengthOutOfRange { length: 0 });
    };
    let frame = match frame_of_head(*head, offset, limit, erased) {
        Ok(frame) => frame,
        Err(status) => return status,
    };
    // The frame ends at or before `limit` (checked), so these offsets are inside `bytes`.
    let payload_end = usize::try_from(frame.payload_range().end - offset).unwrap_or(usize::MAX);
    let trailer = payload_end
        .checked_add(TRAILER_LEN)
        .and_then(|trailer_end| bytes.get(payload_end..trailer_end));
    if trailer != Some(&TRAILER[..]) {
        return FrameStatus::Invalid(CorruptionReason::BadTrailer);
    }
    if check == CrcCheck::Verify {
        let mut crc = Crc32c::new();
        crc.update(&head[4..8]);
        let payload = bytes.get(FRAME_HEADER_LEN..payload_end).unwrap_or_default();
        if let Some(side) = side {
            let words = side.take(payload.len() / 8, frame.next_offset());
            side.any |= crc.update_and_compare(payload, words, side.pattern);
        } else {
            crc.update(payload);
        }
        if let Some(reason) = crc_mismatch(*head, crc.finish()) {
            return FrameStatus::Invalid(reason);
        }
    }
    FrameStatus::Valid(frame)
}

/// The frame a header at `offset` describes, or what the bytes are instead: erased space, or a
/// length that runs past `limit`.
fn frame_of_head(
    head: [u8; FRAME_HEADER_LEN],
    offset: u64,
    limit: u64,
    erased: u8,
) -> Result<RecordFrame, FrameStatus> {
    if head == [erased; FRAME_HEADER_LEN] {
        return Err(FrameStatus::Erased);
    }
    let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let frame = RecordFrame {
        offset,
        payload_len: length,
    };
    // offset < 2^33 and length < 2^32: no overflow.
    if frame.next_offset() > limit {
        return Err(FrameStatus::Invalid(CorruptionReason::LengthOutOfRange {
            length,
        }));
    }
    Ok(frame)
}

/// Why a frame whose header is `head` fails its CRC, computed as `computed`; `None` if it
/// matches.
fn crc_mismatch(head: [u8; FRAME_HEADER_LEN], computed: u32) -> Option<CorruptionReason> {
    let stored = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if computed == stored {
        None
    } else if stored == 0 {
        Some(CorruptionReason::ZeroCrc { computed })
    } else {
        Some(CorruptionReason::BadCrc { stored, computed })
    }
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
#[inline]
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

#[cfg(test)]
mod tests {

    use super::*;
    use crate::format::{encode_frame, frame_len};
    use crate::region::RamRegion;
    use crate::testing::CopyOnlyRegion;

    /// Damage done to a frame's bytes.
    type Damage = fn(&mut [u8]);

    /// The zero-copy path of `inspect_frame` (one view per frame) and the copying path decide
    /// alike: the same verdict for a valid frame and for every kind of damage, at every limit.
    #[test]
    fn the_zero_copy_and_the_copying_inspection_give_the_same_verdict() {
        let payload = [7u8; 21];
        let len = usize::try_from(frame_len(payload.len() as u64)).unwrap();
        let mut frame = [0u8; 40];
        encode_frame(&payload, &mut frame[..len]).unwrap();
        let damages: [(&str, Damage); 7] = [
            ("none", |_| {}),
            ("payload byte", |f| f[12] ^= 1),
            ("zero crc", |f| f[..4].fill(0)),
            ("trailer", |f| f[8 + 21] ^= 0x80),
            ("length too long", |f| f[4] = 200),
            ("length one short", |f| f[4] = 20),
            ("erased", |f| f.fill(0)),
        ];
        for (name, damage) in damages {
            let mut bytes = [0u8; 64 + 40];
            bytes[64..64 + len].copy_from_slice(&frame[..len]);
            damage(&mut bytes[64..]);
            let mut copy = bytes;
            for limit in [64 + 16, 64 + 32, 64 + len as u64, 64 + 40] {
                let mut view = RamRegion::new(&mut bytes);
                let mut copying = CopyOnlyRegion(RamRegion::new(&mut copy));
                for check in [CrcCheck::Verify, CrcCheck::Skip] {
                    let zero_copy = inspect_frame(&mut view, 64, limit, check).unwrap();
                    let copied = inspect_frame(&mut copying, 64, limit, check).unwrap();
                    assert_eq!(zero_copy, copied, "{name}, limit {limit}, {check:?}");
                }
            }
        }
        let mut bytes = [0u8; 64 + 40];
        bytes[64..64 + len].copy_from_slice(&frame[..len]);
        let mut region = RamRegion::new(&mut bytes);
        assert_eq!(
            inspect_frame(&mut region, 64, 64 + 40, CrcCheck::Verify).unwrap(),
            FrameStatus::Valid(RecordFrame {
                offset: 64,
                payload_len: 21
            })
        );
    }
}
