//! The byte region: one segment's bytes on some medium (DESIGN §2).
//!
//! A region has a fixed capacity and is read and written at offsets. It may offer a zero-copy
//! view ([`RegionRead::bytes`]); mmap files and RAM do, a flash chip behind a bus does not.
//! Durability is explicit: [`Region::persist`] makes a byte range durable (msync of the range),
//! [`Region::sync`] is the full barrier (fsync). What the medium allows is stated in constants:
//! whether written bytes can be overwritten without an erase, and what erased bytes read as.
//!
//! Two layers, like `ReadNorFlash` / `NorFlash` of embedded-storage, so a reader can hold a
//! read-only handle. Every method takes `&mut self` except `bytes`: a peripheral needs exclusive
//! access even to read, and sharing between threads is the backend's business, not the trait's.

use core::fmt;
use core::ops::Range;

/// What went wrong in a region, for callers that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegionErrorKind {
    /// The access reaches beyond the capacity.
    OutOfBounds,
    /// The access breaks the medium's alignment rules.
    NotAligned,
    /// The medium has no space left (creation or reservation failed).
    NoSpace,
    /// An I/O error of the medium (a failed msync or fsync, a bus error).
    Io,
    /// Anything else.
    Other,
}

/// An error of a region.
pub trait RegionError: fmt::Debug + fmt::Display {
    /// The kind of failure.
    fn kind(&self) -> RegionErrorKind;

    /// This error as a `core::error::Error`, when it is one (for `source()` chains).
    fn as_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        None
    }
}

/// Read access to a segment's bytes.
pub trait RegionRead {
    /// The medium's error type.
    type Error: RegionError;

    /// The value every byte of erased (never written) space reads as: 0x00 for files and RAM,
    /// 0xFF for NOR flash. Recovery treats an erased frame header as the end of the data.
    const ERASED_BYTE: u8 = 0x00;

    /// Size of the region in bytes (the segment size).
    fn capacity(&self) -> u64;

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// A zero-copy view of `range`, if the medium can give one. `None` when it cannot or when
    /// the range is out of bounds; callers then fall back to [`RegionRead::read_at`].
    fn bytes(&self, range: Range<u64>) -> Option<&[u8]> {
        let _ = range;
        None
    }

    /// A hint that every byte of `range` is about to be read (a recovery scan): a mapped region
    /// can bring the pages in ahead of the reader. Changes nothing that can be read; the default
    /// does nothing.
    fn will_read(&self, range: Range<u64>) {
        let _ = range;
    }
}

/// Write access and durability barriers.
pub trait Region: RegionRead {
    /// Whether a written byte can take any new value without an erase (files and RAM: yes;
    /// NOR flash: no, bits only clear). Without it, the header is written once, at creation,
    /// and truncation is impossible.
    const OVERWRITE: bool = true;

    /// Smallest unit the medium programs, in bytes (1 for files and RAM, the word size for
    /// NOR). Frames are 8-byte aligned, so any granule up to 8 fits frame boundaries; a region
    /// with a larger granule must buffer partial writes itself.
    const PROGRAM_GRANULE: u32 = 1;

    /// Copies `data` into the region at `offset`. Not durable until persisted.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error>;

    /// Writes one frame laid out as `head`, `payload`, `suffix` from `offset`, storing the
    /// payload and the suffix before the head: until the head is written, the frame's first
    /// bytes are still erased, so a write cut short leaves no frame header over a partial
    /// frame. The default is three [`Region::write_at`] calls in that order. A region whose bytes
    /// are memory lends them instead ([`Region::write_frame_in_place`]), and the frame is
    /// encoded there in the same order.
    fn write_frame_parts(
        &mut self,
        offset: u64,
        head: &[u8],
        payload: &[u8],
        suffix: &[u8],
    ) -> Result<(), Self::Error> {
        let payload_at = offset + head.len() as u64;
        self.write_at(payload_at, payload)?;
        self.write_at(payload_at + payload.len() as u64, suffix)?;
        self.write_at(offset, head)
    }

    /// Writes one frame of `len` bytes at `offset` in place, for a region whose bytes are memory
    /// the CPU stores to (a file mapping, RAM): `encode` is handed `offset..offset + len` and
    /// stores the whole frame there, head last, as [`Region::write_frame_parts`] orders it
    /// ([`crate::format::encode_frame`] does). The payload is then copied once, checksummed in
    /// the same pass ([`crate::crc::Crc32c::update_copying`]), instead of checksummed and then
    /// copied.
    ///
    /// Returns `Ok(false)` without calling `encode` when the region cannot lend its bytes; the
    /// caller then writes the frame with [`Region::write_frame_parts`]. That is the default, and
    /// the right choice for a medium that models or needs separate writes (NOR flash, the
    /// simulator's disk).
    fn write_frame_in_place(
        &mut self,
        offset: u64,
        len: usize,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<bool, Self::Error> {
        let _ = (offset, len, encode);
        Ok(false)
    }

    /// Makes the bytes of `range` durable (msync of the pages covering it). A medium where a
    /// write is durable when it returns does nothing.
    fn persist(&mut self, range: Range<u64>) -> Result<(), Self::Error>;

    /// Full barrier: every byte written so far and the region's metadata are durable (fsync).
    fn sync(&mut self) -> Result<(), Self::Error>;

    /// Writes zeros over `range` (truncation, erasing a stale tail).
    fn zero(&mut self, range: Range<u64>) -> Result<(), Self::Error> {
        static ZEROS: [u8; 512] = [0; 512];
        let mut at = range.start;
        while at < range.end {
            let len = (range.end - at).min(ZEROS.len() as u64);
            // len <= 512, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            self.write_at(at, &ZEROS[..len as usize])?;
            at += len;
        }
        Ok(())
    }

    /// Tells concurrent readers that the data now ends at `end` (an atomic store with Release
    /// ordering in the std backend). Called after the bytes below `end` are written.
    fn publish_end(&mut self, end: u64) {
        let _ = end;
    }

    /// Tells concurrent readers whether the segment is sealed (an atomic store with Release
    /// ordering in the std backend). Sealing publishes `true` after the final end is published,
    /// so a reader that loads "sealed" first and the end second knows the end is final; truncation
    /// publishes `false` before lowering the end.
    fn publish_sealed(&mut self, sealed: bool) {
        let _ = sealed;
    }
}

/// The `usize` range of an access of `len` bytes at `offset` in a slice of `slice_len` bytes,
/// or `None` if it does not fit.
pub(crate) fn slice_range(slice_len: usize, offset: u64, len: usize) -> Option<Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(len)?;
    (end <= slice_len).then_some(start..end)
}

/// Error of a [`RamRegion`]: an access beyond the slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamRegionError {
    /// Offset of the access.
    pub offset: u64,
    /// Length of the access.
    pub len: u64,
    /// Size of the region.
    pub capacity: u64,
}

impl fmt::Display for RamRegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "access of {} bytes at offset {} is beyond the {}-byte region",
            self.len, self.offset, self.capacity
        )
    }
}

impl core::error::Error for RamRegionError {}

impl RegionError for RamRegionError {
    fn kind(&self) -> RegionErrorKind {
        RegionErrorKind::OutOfBounds
    }

    fn as_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self)
    }
}

/// A region over a byte slice in RAM: tests, Miri, firmware RAM. Writes are durable at once.
#[derive(Debug)]
pub struct RamRegion<'a> {
    bytes: &'a mut [u8],
}

impl<'a> RamRegion<'a> {
    /// A region over `bytes`; its capacity is the slice length.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        RamRegion { bytes }
    }

    /// The underlying bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes
    }

    /// The underlying bytes, for damaging them in tests.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.bytes
    }

    fn range(&self, offset: u64, len: usize) -> Result<Range<usize>, RamRegionError> {
        slice_range(self.bytes.len(), offset, len).ok_or(RamRegionError {
            offset,
            len: len as u64,
            capacity: self.bytes.len() as u64,
        })
    }
}

impl RegionRead for RamRegion<'_> {
    type Error = RamRegionError;

    fn capacity(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let range = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn bytes(&self, range: Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.bytes.get(start..end)
    }
}

impl Region for RamRegion<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error> {
        let range = self.range(offset, data.len())?;
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }

    fn write_frame_in_place(
        &mut self,
        offset: u64,
        len: usize,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<bool, Self::Error> {
        let range = self.range(offset, len)?;
        encode(&mut self.bytes[range]);
        Ok(true)
    }

    fn persist(&mut self, range: Range<u64>) -> Result<(), Self::Error> {
        let len = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX);
        self.range(range.start, len).map(|_| ())
    }

    fn sync(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn zero(&mut self, range: Range<u64>) -> Result<(), Self::Error> {
        let len = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX);
        let range = self.range(range.start, len)?;
        self.bytes[range].fill(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the offsets of its writes, in order.
    struct Recording {
        writes: [u64; 3],
        count: usize,
    }

    impl RegionRead for Recording {
        type Error = RamRegionError;
        fn capacity(&self) -> u64 {
            1024
        }
        fn read_at(&mut self, _: u64, _: &mut [u8]) -> Result<(), RamRegionError> {
            Ok(())
        }
    }

    impl Region for Recording {
        fn write_at(&mut self, offset: u64, _: &[u8]) -> Result<(), RamRegionError> {
            self.writes[self.count] = offset;
            self.count += 1;
            Ok(())
        }
        fn persist(&mut self, _: Range<u64>) -> Result<(), RamRegionError> {
            Ok(())
        }
        fn sync(&mut self) -> Result<(), RamRegionError> {
            Ok(())
        }
    }

    /// The default frame write stores the payload, then the suffix, then the head, each at its
    /// place, so the head is the last part of a frame to reach the medium.
    #[test]
    fn a_frame_is_written_payload_first_and_head_last() {
        let mut region = Recording {
            writes: [0; 3],
            count: 0,
        };
        region
            .write_frame_parts(64, &[1; 16], &[2; 5], &[3; 11])
            .unwrap();
        assert_eq!(region.writes, [80, 85, 64]);

        let mut bytes = [0u8; 128];
        let mut ram = RamRegion::new(&mut bytes);
        ram.write_frame_parts(8, &[1; 16], &[2; 5], &[3; 3])
            .unwrap();
        assert_eq!(
            &bytes[8..32],
            &[[1; 16].as_slice(), &[2; 5], &[3; 3]].concat()
        );
    }
}
