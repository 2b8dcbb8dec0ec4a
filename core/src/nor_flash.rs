//! A [`Region`] over a partition of any NOR flash that implements
//! [`embedded_storage::nor_flash::NorFlash`] (feature `embedded-storage`): the trait the HALs and
//! sequential-storage use.
//!
//! [`NorFlashRegion`] maps segment offsets onto a range of the device (the *partition*, aligned to
//! the erase size) and declares the medium's rules to the segment: erased bytes read as `0xFF`,
//! written bytes cannot be overwritten, and the program granule is the device's `WRITE_SIZE`.
//! Recovery therefore treats erased flash exactly as the zeroed space of a file: as the end of
//! the data, not as corruption.
//!
//! # Granularity
//!
//! - **Reads** are widened to `READ_SIZE` boundaries through a small buffer, so any offset and
//!   length work.
//! - **Writes**: the device programs whole words of `WRITE_SIZE` bytes (which must divide 8, the
//!   frame alignment: checked at compile time), and the [`NorFlash`] contract allows a word to be
//!   written only once between erases (flash with ECC enforces it). A [`Segment`] writes each frame
//!   as payload, then trailer and padding, then the 8-byte frame header, so a write can end inside a
//!   word that the next write completes. The adapter keeps such a partial word in RAM and programs
//!   it when it is complete, or at the latest at [`Region::persist`] / [`Region::sync`]. With the
//!   write order of `Segment`, every word is programmed exactly once.
//! - A write that starts inside a word the adapter no longer holds (not something `Segment` does)
//!   programs that word again, padded with `0xFF` so the bytes already there keep their value: that
//!   needs a device with [`MultiwriteNorFlash`](embedded_storage::nor_flash::MultiwriteNorFlash)
//!   semantics, and on others the device's error reaches the caller.
//! - **Erasing** is explicit: [`NorFlashRegion::erase`] erases the whole partition, which a new
//!   segment needs ([`Segment::create`] expects erased space after the header). A segment on flash
//!   is never truncated or overwritten in place; rotate to another partition instead.
//!
//! ```
//! # use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
//! # struct Chip([u8; 8192]);
//! # impl ErrorType for Chip { type Error = NorFlashErrorKind; }
//! # impl ReadNorFlash for Chip {
//! #     const READ_SIZE: usize = 1;
//! #     fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
//! #         let at = offset as usize;
//! #         bytes.copy_from_slice(&self.0[at..at + bytes.len()]);
//! #         Ok(())
//! #     }
//! #     fn capacity(&self) -> usize { self.0.len() }
//! # }
//! # impl NorFlash for Chip {
//! #     const WRITE_SIZE: usize = 4;
//! #     const ERASE_SIZE: usize = 4096;
//! #     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
//! #         self.0[from as usize..to as usize].fill(0xFF);
//! #         Ok(())
//! #     }
//! #     fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
//! #         for (old, new) in self.0[offset as usize..].iter_mut().zip(bytes) { *old &= new; }
//! #         Ok(())
//! #     }
//! # }
//! # fn flash() -> Chip { Chip([0; 8192]) }
//! use walfs_core::nor_flash::NorFlashRegion;
//! use walfs_core::{OpenOptions, Segment, SegmentId, SegmentInit};
//!
//! // The second 4 KiB sector of the chip holds segment 7.
//! let mut region = NorFlashRegion::new(flash(), 4096..8192)?;
//! region.erase()?;
//! let init = SegmentInit { created_at: 0, marker: 0, first_log_index: 1 };
//! let mut segment = Segment::create(region, SegmentId(7), init)?;
//! segment.append(b"hello", 1)?;
//! segment.sync(0)?;
//!
//! // After a reset: recover the end by scanning; erased flash is the end of the data.
//! let region = NorFlashRegion::new(segment.into_region().into_inner(), 4096..8192)?;
//! let (mut segment, _report) = Segment::open(region, SegmentId(7), OpenOptions::default())?;
//! assert_eq!(segment.record_count(), 1);
//! let frame = segment.read(64)?;
//! let mut buf = [0u8; 16];
//! assert_eq!(segment.read_payload(&frame, &mut buf)?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Segment`]: crate::Segment
//! [`Segment::create`]: crate::Segment::create

use core::fmt;
use core::ops::Range;

pub use embedded_storage;
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};

use crate::format::FRAME_ALIGN;
use crate::region::{Region, RegionError, RegionErrorKind, RegionRead};

/// The largest `READ_SIZE` the adapter supports (its read buffer).
pub const MAX_READ_SIZE: usize = 64;

/// The largest `WRITE_SIZE` the adapter supports: the frame alignment, 8 bytes.
pub const MAX_WRITE_SIZE: usize = FRAME_ALIGN;

/// Errors of a [`NorFlashRegion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NorFlashRegionError<E> {
    /// The flash device failed.
    Flash(E),
    /// An access reaches beyond the partition, or the partition beyond the device.
    OutOfBounds {
        /// Offset of the access in the region (of the partition end, for a partition).
        offset: u64,
        /// Length of the access.
        len: u64,
    },
    /// The partition does not start and end on erase-sector boundaries.
    NotAligned {
        /// The partition's first byte on the device.
        start: u32,
        /// The partition's end (exclusive) on the device.
        end: u32,
    },
}

impl<E: fmt::Debug> fmt::Display for NorFlashRegionError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NorFlashRegionError::Flash(error) => write!(f, "flash error: {error:?}"),
            NorFlashRegionError::OutOfBounds { offset, len } => write!(
                f,
                "flash access of {len} bytes at offset {offset} is beyond the partition"
            ),
            NorFlashRegionError::NotAligned { start, end } => write!(
                f,
                "flash partition {start:#x}..{end:#x} is not aligned to the erase size"
            ),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for NorFlashRegionError<E> {}

impl<E: NorFlashError> RegionError for NorFlashRegionError<E> {
    fn kind(&self) -> RegionErrorKind {
        match self {
            NorFlashRegionError::Flash(error) => match error.kind() {
                NorFlashErrorKind::NotAligned => RegionErrorKind::NotAligned,
                NorFlashErrorKind::OutOfBounds => RegionErrorKind::OutOfBounds,
                // A failed program or erase is the medium's I/O error.
                _ => RegionErrorKind::Io,
            },
            NorFlashRegionError::OutOfBounds { .. } => RegionErrorKind::OutOfBounds,
            NorFlashRegionError::NotAligned { .. } => RegionErrorKind::NotAligned,
        }
    }
}

/// A word written only in part, waiting for the rest of its bytes.
#[derive(Debug, Clone, Copy)]
struct PartialWord {
    /// Device address of the word (a multiple of `WRITE_SIZE`).
    address: u32,
    /// Its bytes; those not written yet are `0xFF`, which programs nothing.
    bytes: [u8; MAX_WRITE_SIZE],
    /// Bytes `0..filled` are written (or were already on the device).
    filled: usize,
}

/// A [`Region`] over the partition `start..end` of a NOR flash device. See the
/// [module documentation](self).
///
/// A device whose write size does not divide the 8-byte frame alignment does not compile:
///
/// ```compile_fail
/// use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
/// struct Wide;
/// impl ErrorType for Wide {
///     type Error = NorFlashErrorKind;
/// }
/// impl ReadNorFlash for Wide {
///     const READ_SIZE: usize = 1;
///     fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), Self::Error> { Ok(()) }
///     fn capacity(&self) -> usize { 4096 }
/// }
/// impl NorFlash for Wide {
///     const WRITE_SIZE: usize = 16; // 8 compiles
///     const ERASE_SIZE: usize = 4096;
///     fn erase(&mut self, _: u32, _: u32) -> Result<(), Self::Error> { Ok(()) }
///     fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Self::Error> { Ok(()) }
/// }
/// let _ = walfs_core::nor_flash::NorFlashRegion::new(Wide, 0..4096);
/// ```
#[derive(Debug)]
pub struct NorFlashRegion<F> {
    flash: F,
    start: u32,
    len: u32,
    partial: Option<PartialWord>,
}

impl<F: NorFlash> NorFlashRegion<F> {
    /// The device's geometry must fit the format. Evaluated when the type is instantiated, so a
    /// device that breaks it does not compile.
    const GEOMETRY_FITS: () = {
        assert!(
            F::WRITE_SIZE > 0 && F::WRITE_SIZE <= MAX_WRITE_SIZE,
            "NorFlash::WRITE_SIZE must be 1 to 8 bytes"
        );
        assert!(
            MAX_WRITE_SIZE.is_multiple_of(F::WRITE_SIZE),
            "NorFlash::WRITE_SIZE must divide the 8-byte frame alignment"
        );
        assert!(
            F::READ_SIZE > 0 && F::READ_SIZE <= MAX_READ_SIZE,
            "NorFlash::READ_SIZE must be 1 to 64 bytes"
        );
        assert!(
            F::ERASE_SIZE > 0 && F::ERASE_SIZE.is_multiple_of(F::WRITE_SIZE),
            "NorFlash::ERASE_SIZE must be a multiple of WRITE_SIZE"
        );
    };

    /// A region over the bytes `partition` of `flash`, as they are (call [`NorFlashRegion::erase`]
    /// before creating a new segment there).
    ///
    /// The partition must start and end on erase-sector boundaries and lie inside the device.
    pub fn new(flash: F, partition: Range<u32>) -> Result<Self, NorFlashRegionError<F::Error>> {
        let () = Self::GEOMETRY_FITS;
        let Range { start, end } = partition;
        let capacity = u64::try_from(flash.capacity()).unwrap_or(u64::MAX);
        if start > end || u64::from(end) > capacity {
            return Err(NorFlashRegionError::OutOfBounds {
                offset: u64::from(end),
                len: 0,
            });
        }
        let erase_size = u64::try_from(F::ERASE_SIZE).unwrap_or(u64::MAX);
        if !u64::from(start).is_multiple_of(erase_size)
            || !u64::from(end).is_multiple_of(erase_size)
        {
            return Err(NorFlashRegionError::NotAligned { start, end });
        }
        Ok(NorFlashRegion {
            flash,
            start,
            len: end - start,
            partial: None,
        })
    }

    /// The partition on the device.
    pub fn partition(&self) -> Range<u32> {
        self.start..self.start + self.len
    }

    /// Erases the whole partition (every byte reads `0xFF` afterwards), discarding a partial
    /// word not yet programmed.
    pub fn erase(&mut self) -> Result<(), NorFlashRegionError<F::Error>> {
        self.partial = None;
        let range = self.partition();
        self.flash
            .erase(range.start, range.end)
            .map_err(NorFlashRegionError::Flash)
    }

    /// Programs the partial word held in RAM, if any, padded with `0xFF`.
    pub fn flush(&mut self) -> Result<(), NorFlashRegionError<F::Error>> {
        match self.partial.take() {
            Some(word) => self.program(word.address, &word.bytes[..F::WRITE_SIZE]),
            None => Ok(()),
        }
    }

    /// The flash device.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash device, mutably. Accesses through it bypass the region (and its partial word).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash device back. A partial word not yet programmed is lost, as unsynced data is:
    /// call [`Region::sync`] or [`NorFlashRegion::flush`] first (a synced [`crate::Segment`] holds
    /// none).
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// The device address of `len` bytes at region `offset`, if they lie inside the partition.
    fn address(&self, offset: u64, len: usize) -> Result<u32, NorFlashRegionError<F::Error>> {
        let out_of_bounds = || NorFlashRegionError::OutOfBounds {
            offset,
            len: len as u64,
        };
        let end = offset.checked_add(len as u64).ok_or_else(out_of_bounds)?;
        if end > u64::from(self.len) {
            return Err(out_of_bounds());
        }
        // offset <= self.len, a u32, and start + len fits the u32 partition end.
        u32::try_from(offset)
            .map(|offset| self.start + offset)
            .map_err(|_| out_of_bounds())
    }

    fn program(&mut self, address: u32, bytes: &[u8]) -> Result<(), NorFlashRegionError<F::Error>> {
        self.flash
            .write(address, bytes)
            .map_err(NorFlashRegionError::Flash)
    }

    /// Reads device bytes at `address` into `buf`, widening to `READ_SIZE` boundaries.
    fn read_device(
        &mut self,
        mut address: u32,
        mut buf: &mut [u8],
    ) -> Result<(), NorFlashRegionError<F::Error>> {
        let read_size = F::READ_SIZE;
        let mut widened = [0u8; MAX_READ_SIZE];
        let skip = address as usize % read_size;
        if skip != 0 {
            let word = &mut widened[..read_size];
            self.flash
                .read(address - small(skip), word)
                .map_err(NorFlashRegionError::Flash)?;
            let n = (read_size - skip).min(buf.len());
            let (head, rest) = buf.split_at_mut(n);
            head.copy_from_slice(&word[skip..skip + n]);
            buf = rest;
            address += small(n);
        }
        let whole = buf.len() - buf.len() % read_size;
        if whole > 0 {
            let (middle, rest) = buf.split_at_mut(whole);
            self.flash
                .read(address, middle)
                .map_err(NorFlashRegionError::Flash)?;
            buf = rest;
            address += small(whole);
        }
        if !buf.is_empty() {
            let word = &mut widened[..read_size];
            self.flash
                .read(address, word)
                .map_err(NorFlashRegionError::Flash)?;
            let n = buf.len();
            buf.copy_from_slice(&word[..n]);
        }
        Ok(())
    }
}

/// A length as a `u32`, for accesses already checked against the partition (whose bounds are
/// `u32`) or at most 64 bytes long; saturates otherwise.
fn small(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl<F: NorFlash> RegionRead for NorFlashRegion<F> {
    type Error = NorFlashRegionError<F::Error>;
    const ERASED_BYTE: u8 = 0xFF;

    fn capacity(&self) -> u64 {
        u64::from(self.len)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let address = self.address(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        self.read_device(address, buf)?;
        // The partial word is newer than the device, which holds that word erased (or, if it was
        // taken up again, with the bytes before the held ones): it reads as `held & device`.
        if let Some(word) = &self.partial {
            let word_end = word.address + small(F::WRITE_SIZE);
            let read_end = address + small(buf.len());
            for at in word.address.max(address)..word_end.min(read_end) {
                buf[(at - address) as usize] &= word.bytes[(at - word.address) as usize];
            }
        }
        Ok(())
    }
}

impl<F: NorFlash> Region for NorFlashRegion<F> {
    const OVERWRITE: bool = false;
    // WRITE_SIZE <= 8 (GEOMETRY_FITS), so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    const PROGRAM_GRANULE: u32 = F::WRITE_SIZE as u32;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error> {
        let mut address = self.address(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        let write_size = F::WRITE_SIZE;
        let mut data = data;
        // A held word that this write does not continue is programmed as it is.
        if self
            .partial
            .is_some_and(|word| word.address + small(word.filled) != address)
        {
            self.flush()?;
        }
        // A write that starts inside a word: continue the held word, or take the word up with
        // its earlier bytes left at 0xFF (that word is then programmed a second time).
        let skip = address as usize % write_size;
        if self.partial.is_none() && skip != 0 {
            self.partial = Some(PartialWord {
                address: address - small(skip),
                bytes: [0xFF; MAX_WRITE_SIZE],
                filled: skip,
            });
        }
        if let Some(mut word) = self.partial.take() {
            let n = (write_size - word.filled).min(data.len());
            word.bytes[word.filled..word.filled + n].copy_from_slice(&data[..n]);
            word.filled += n;
            data = &data[n..];
            address += small(n);
            if word.filled < write_size {
                self.partial = Some(word);
                return Ok(());
            }
            self.program(word.address, &word.bytes[..write_size])?;
        }
        let whole = data.len() - data.len() % write_size;
        if whole > 0 {
            self.program(address, &data[..whole])?;
            address += small(whole);
        }
        let rest = &data[whole..];
        if !rest.is_empty() {
            let mut bytes = [0xFF; MAX_WRITE_SIZE];
            bytes[..rest.len()].copy_from_slice(rest);
            self.partial = Some(PartialWord {
                address,
                bytes,
                filled: rest.len(),
            });
        }
        Ok(())
    }

    /// Programs the partial word held in RAM if it lies in `range`; a program is durable when it
    /// returns.
    fn persist(&mut self, range: Range<u64>) -> Result<(), Self::Error> {
        if let Some(word) = &self.partial {
            let word_start = u64::from(word.address - self.start);
            let word_end = word_start + u64::from(small(F::WRITE_SIZE));
            if word_start < range.end && range.start < word_end {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Programs the partial word held in RAM, if any.
    fn sync(&mut self) -> Result<(), Self::Error> {
        self.flush()
    }
}

/// A RAM-backed NOR flash for tests (feature `_test`, semver-exempt), strict like a device with
/// ECC: bits only clear, every word is written at most once between erases, reads, writes and
/// erases must be aligned, and erases are counted. A power cut can be scheduled.
#[cfg(any(test, feature = "_test"))]
pub mod mock {
    use embedded_storage::nor_flash::{
        ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase,
        check_read, check_write,
    };

    /// Errors of a [`MockNorFlash`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum MockFlashError {
        /// An access is not aligned to the read, write or erase size.
        NotAligned,
        /// An access reaches beyond the device.
        OutOfBounds,
        /// A word was written twice without an erase in between.
        WrittenTwice {
            /// Address of the word.
            address: u32,
        },
        /// The scheduled power cut happened during this write.
        PowerCut {
            /// Address of the first byte not written.
            address: u32,
        },
    }

    impl NorFlashError for MockFlashError {
        fn kind(&self) -> NorFlashErrorKind {
            match self {
                MockFlashError::NotAligned => NorFlashErrorKind::NotAligned,
                MockFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
                MockFlashError::WrittenTwice { .. } | MockFlashError::PowerCut { .. } => {
                    NorFlashErrorKind::Other
                }
            }
        }
    }

    impl From<NorFlashErrorKind> for MockFlashError {
        fn from(kind: NorFlashErrorKind) -> Self {
            match kind {
                NorFlashErrorKind::NotAligned => MockFlashError::NotAligned,
                _ => MockFlashError::OutOfBounds,
            }
        }
    }

    /// `N` bytes of NOR flash in RAM, reading in units of `READ`, programming words of `WRITE`
    /// bytes and erasing sectors of `ERASE` bytes. It starts all `0x00` (programmed, as a chip of
    /// unknown history): erase before use.
    #[derive(Debug, Clone)]
    pub struct MockNorFlash<
        const N: usize,
        const READ: usize,
        const WRITE: usize,
        const ERASE: usize,
    > {
        bytes: [u8; N],
        /// Per byte: whether its word was written since the last erase.
        written: [bool; N],
        sectors_erased: u64,
        words_written: u64,
        power_budget: Option<usize>,
    }

    impl<const N: usize, const READ: usize, const WRITE: usize, const ERASE: usize>
        MockNorFlash<N, READ, WRITE, ERASE>
    {
        /// A device that holds zeros everywhere, as if written once and never erased.
        pub fn new() -> Self {
            MockNorFlash {
                bytes: [0; N],
                written: [true; N],
                sectors_erased: 0,
                words_written: 0,
                power_budget: None,
            }
        }

        /// The device's bytes.
        pub fn as_slice(&self) -> &[u8] {
            &self.bytes
        }

        /// The device's bytes, to damage them in tests (bypasses every rule).
        pub fn as_mut_slice(&mut self) -> &mut [u8] {
            &mut self.bytes
        }

        /// Number of sectors erased so far.
        pub fn sectors_erased(&self) -> u64 {
            self.sectors_erased
        }

        /// Number of words programmed so far.
        pub fn words_written(&self) -> u64 {
            self.words_written
        }

        /// Cuts the power after `bytes` more programmed bytes: the write that crosses the budget
        /// programs only the bytes before it and fails with [`MockFlashError::PowerCut`].
        pub fn cut_power_after(&mut self, bytes: usize) {
            self.power_budget = Some(bytes);
        }

        /// Restores the power (no cut scheduled).
        pub fn restore_power(&mut self) {
            self.power_budget = None;
        }
    }

    impl<const N: usize, const READ: usize, const WRITE: usize, const ERASE: usize> Default
        for MockNorFlash<N, READ, WRITE, ERASE>
    {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<const N: usize, const READ: usize, const WRITE: usize, const ERASE: usize> ErrorType
        for MockNorFlash<N, READ, WRITE, ERASE>
    {
        type Error = MockFlashError;
    }

    impl<const N: usize, const READ: usize, const WRITE: usize, const ERASE: usize> ReadNorFlash
        for MockNorFlash<N, READ, WRITE, ERASE>
    {
        const READ_SIZE: usize = READ;

        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            check_read(self, offset, bytes.len())?;
            let at = offset as usize;
            bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
            Ok(())
        }

        fn capacity(&self) -> usize {
            N
        }
    }

    impl<const N: usize, const READ: usize, const WRITE: usize, const ERASE: usize> NorFlash
        for MockNorFlash<N, READ, WRITE, ERASE>
    {
        const WRITE_SIZE: usize = WRITE;
        const ERASE_SIZE: usize = ERASE;

        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            check_erase(self, from, to)?;
            let range = from as usize..to as usize;
            self.bytes[range.clone()].fill(0xFF);
            self.written[range.clone()].fill(false);
            self.sectors_erased += (range.len() / ERASE) as u64;
            Ok(())
        }

        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            check_write(self, offset, bytes.len())?;
            let start = offset as usize;
            if let Some(at) = self.written[start..start + bytes.len()]
                .iter()
                .position(|&written| written)
            {
                let address = u32::try_from(start + at - (start + at) % WRITE).unwrap_or(u32::MAX);
                return Err(MockFlashError::WrittenTwice { address });
            }
            let allowed = self
                .power_budget
                .map_or(bytes.len(), |b| b.min(bytes.len()));
            for (at, &new) in bytes[..allowed].iter().enumerate() {
                // Programming only clears bits.
                self.bytes[start + at] &= new;
                self.written[start + at] = true;
            }
            self.words_written += (allowed / WRITE) as u64;
            if let Some(budget) = &mut self.power_budget {
                *budget -= allowed;
                if allowed < bytes.len() {
                    return Err(MockFlashError::PowerCut {
                        address: u32::try_from(start + allowed).unwrap_or(u32::MAX),
                    });
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "small test indexes")]
mod tests {
    use super::mock::{MockFlashError, MockNorFlash};
    use super::*;
    use crate::{CorruptionReason, OpenOptions, ScanStop, Segment, SegmentId, SegmentInit};

    type Flash = MockNorFlash<16384, 4, 8, 4096>;

    fn flash_region(flash: Flash) -> NorFlashRegion<Flash> {
        NorFlashRegion::new(flash, 4096..12288).unwrap()
    }

    #[test]
    fn partition_must_be_erase_aligned_and_inside_the_device() {
        assert!(matches!(
            NorFlashRegion::new(Flash::new(), 100..4096),
            Err(NorFlashRegionError::NotAligned { .. })
        ));
        assert!(matches!(
            NorFlashRegion::new(Flash::new(), 0..20480),
            Err(NorFlashRegionError::OutOfBounds { .. })
        ));
        let region = flash_region(Flash::new());
        assert_eq!(region.capacity(), 8192);
        assert_eq!(region.partition(), 4096..12288);
    }

    #[test]
    fn unaligned_reads_and_writes_program_each_word_once() {
        let mut region = flash_region(Flash::new());
        region.erase().unwrap();
        assert_eq!(region.flash().sectors_erased(), 2);
        // Sequential writes of every length, starting at odd offsets within words.
        let data: [u8; 64] = core::array::from_fn(|i| i as u8);
        let mut at = 0u64;
        for len in [3usize, 1, 4, 7, 0, 9, 2, 6, 3] {
            region.write_at(at, &data[..len]).unwrap();
            at += len as u64;
        }
        region.sync().unwrap();
        let mut expected = [0xFFu8; 40];
        let mut at = 0usize;
        for len in [3usize, 1, 4, 7, 0, 9, 2, 6, 3] {
            expected[at..at + len].copy_from_slice(&data[..len]);
            at += len;
        }
        for offset in 0..40u64 {
            for len in 0..(40 - offset as usize) {
                let mut buf = [0u8; 40];
                region.read_at(offset, &mut buf[..len]).unwrap();
                assert_eq!(buf[..len], expected[offset as usize..offset as usize + len]);
            }
        }
        // 35 bytes: 4 whole words of 8 and a last one padded with 0xFF, each programmed once.
        assert_eq!(region.flash().words_written(), 5);
    }

    #[test]
    fn reads_see_a_partial_word_before_it_is_programmed() {
        let mut region = flash_region(Flash::new());
        region.erase().unwrap();
        region.write_at(8, b"abc").unwrap();
        assert_eq!(region.flash().words_written(), 0);
        let mut buf = [0u8; 5];
        region.read_at(7, &mut buf).unwrap();
        assert_eq!(&buf, b"\xFFabc\xFF");
        region.persist(0..8).unwrap();
        assert_eq!(
            region.flash().words_written(),
            0,
            "the word lies outside 0..8"
        );
        region.persist(8..11).unwrap();
        assert_eq!(region.flash().words_written(), 1);
        assert_eq!(&region.flash().as_slice()[4096 + 8..4096 + 12], b"abc\xFF");
    }

    #[test]
    fn accesses_beyond_the_partition_fail() {
        let mut region = flash_region(Flash::new());
        let mut buf = [0u8; 2];
        assert!(matches!(
            region.read_at(8191, &mut buf),
            Err(NorFlashRegionError::OutOfBounds { .. })
        ));
        assert!(region.write_at(u64::MAX, b"x").is_err());
        let error = region.write_at(8192, b"x").unwrap_err();
        assert_eq!(error.kind(), RegionErrorKind::OutOfBounds);
    }

    #[test]
    fn a_word_written_twice_is_the_device_error() {
        let mut region = flash_region(Flash::new());
        region.erase().unwrap();
        region.write_at(0, b"12345678").unwrap();
        // Not a continuation: the word at 0 is taken up again and programmed a second time.
        let error = region.write_at(4, b"ab").and_then(|()| region.sync());
        assert_eq!(
            error,
            Err(NorFlashRegionError::Flash(MockFlashError::WrittenTwice {
                address: 4096
            }))
        );
        assert_eq!(error.unwrap_err().kind(), RegionErrorKind::Io);
    }

    #[test]
    fn segment_on_flash_recovers_and_treats_erased_space_as_the_end() {
        let mut region = flash_region(Flash::new());
        region.erase().unwrap();
        let init = SegmentInit {
            created_at: 1,
            marker: 0,
            first_log_index: 1,
        };
        let mut segment = Segment::create(region, SegmentId(3), init).unwrap();
        let payload: [u8; 40] = core::array::from_fn(|i| (i * 7) as u8);
        for len in 0..17usize {
            segment.append(&payload[..len], 1 + len as u64).unwrap();
        }
        segment.sync(2).unwrap();
        let end = segment.end();
        let flash = segment.into_region().into_inner();
        assert!(
            flash.as_slice()[4096 + end as usize..12288]
                .iter()
                .all(|&b| b == 0xFF)
        );
        let (mut segment, report) =
            Segment::open(flash_region(flash), SegmentId(3), OpenOptions::default()).unwrap();
        assert_eq!(report.scan.unwrap().stop, ScanStop::CleanEnd);
        assert_eq!((segment.record_count(), segment.end()), (17, end));
        // Appending after a reopen continues on erased words.
        segment.append(b"more", 18).unwrap();
        segment.sync(3).unwrap();

        // A power cut inside the next frame: a torn tail, cut at open, no corruption verdict.
        let mut flash = segment.into_region().into_inner();
        flash.cut_power_after(12);
        let mut segment = Segment::open(flash_region(flash), SegmentId(3), OpenOptions::default())
            .unwrap()
            .0;
        let torn_at = segment.end();
        assert!(segment.append(&payload, 19).is_err());
        let mut flash = segment.into_region().into_inner();
        flash.restore_power();
        let (mut segment, report) =
            Segment::open(flash_region(flash), SegmentId(3), OpenOptions::default()).unwrap();
        let scan = report.scan.unwrap();
        assert_eq!(scan.end, torn_at);
        assert!(matches!(
            scan.stop,
            ScanStop::TornTail(ref damage) if damage.reason == CorruptionReason::Erased
        ));
        assert_eq!(segment.record_count(), 18);
        assert!(!segment.fits(0), "torn bytes cannot be erased in place");
        let mut buf = [0u8; 8];
        let frame = segment.read(torn_at - 24).unwrap();
        assert_eq!(segment.read_payload(&frame, &mut buf).unwrap(), b"more");

        // Erasing the partition starts over.
        let mut region = segment.into_region();
        let erased_before = region.flash().sectors_erased();
        region.erase().unwrap();
        assert_eq!(region.flash().sectors_erased(), erased_before + 2);
        let segment = Segment::create(region, SegmentId(4), init).unwrap();
        assert_eq!(segment.record_count(), 0);
    }
}
