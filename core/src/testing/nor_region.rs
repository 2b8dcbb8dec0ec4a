//! `NorRegion`: a region that behaves like NOR flash, in the style of sequential-storage's mock.
//!
//! - erased bytes read as `0xFF`; programming can only clear bits (a write that would set a bit
//!   fails, as a strict flash driver reports it);
//! - no zero-copy view: every read is a copy, as through a bus;
//! - a power-cut countdown: after a given number of programmed bytes the next write stops
//!   half-way and fails, leaving a torn write behind;
//! - counters of writes and programmed bytes.

use core::fmt;

use crate::region::{Region, RegionError, RegionErrorKind, RegionRead};

/// Errors of a [`NorRegion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NorRegionError {
    /// The access reaches beyond the region.
    OutOfBounds {
        /// Offset of the access.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// The write would set a bit that is cleared: the byte was not erased.
    NotErased {
        /// Offset of the first such byte.
        offset: u64,
    },
    /// The power-cut countdown reached zero during this write.
    PowerCut {
        /// Offset of the first byte not written.
        offset: u64,
    },
}

impl fmt::Display for NorRegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NorRegionError::OutOfBounds { offset, len } => {
                write!(
                    f,
                    "flash access of {len} bytes at {offset} is out of bounds"
                )
            }
            NorRegionError::NotErased { offset } => {
                write!(f, "flash byte at {offset} is not erased")
            }
            NorRegionError::PowerCut { offset } => {
                write!(f, "power cut while programming byte {offset}")
            }
        }
    }
}

impl core::error::Error for NorRegionError {}

impl RegionError for NorRegionError {
    fn kind(&self) -> RegionErrorKind {
        match self {
            NorRegionError::OutOfBounds { .. } => RegionErrorKind::OutOfBounds,
            NorRegionError::NotErased { .. } => RegionErrorKind::Other,
            NorRegionError::PowerCut { .. } => RegionErrorKind::Io,
        }
    }

    fn as_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self)
    }
}

/// A NOR-flash-like region over a byte slice.
#[derive(Debug)]
pub struct NorRegion<'a> {
    bytes: &'a mut [u8],
    /// Bytes that may still be programmed before the power is cut (`None` = never).
    power_budget: Option<u64>,
    writes: u64,
    bytes_programmed: u64,
}

impl<'a> NorRegion<'a> {
    /// A region over `bytes`, erased to `0xFF` first.
    pub fn erased(bytes: &'a mut [u8]) -> Self {
        bytes.fill(0xFF);
        NorRegion {
            bytes,
            power_budget: None,
            writes: 0,
            bytes_programmed: 0,
        }
    }

    /// A region over `bytes` as they are (a flash image after a reset).
    pub fn existing(bytes: &'a mut [u8]) -> Self {
        NorRegion {
            bytes,
            power_budget: None,
            writes: 0,
            bytes_programmed: 0,
        }
    }

    /// Cuts the power after `bytes` more programmed bytes: the write that crosses the budget
    /// programs only the bytes up to it and fails with [`NorRegionError::PowerCut`].
    pub fn cut_power_after(&mut self, bytes: u64) {
        self.power_budget = Some(bytes);
    }

    /// Number of `write_at` calls.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Number of bytes programmed.
    pub fn bytes_programmed(&self) -> u64 {
        self.bytes_programmed
    }

    /// The flash contents.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes
    }

    fn range(&self, offset: u64, len: usize) -> Result<core::ops::Range<usize>, NorRegionError> {
        crate::region::slice_range(self.bytes.len(), offset, len).ok_or(
            NorRegionError::OutOfBounds {
                offset,
                len: len as u64,
            },
        )
    }
}

impl RegionRead for NorRegion<'_> {
    type Error = NorRegionError;
    const ERASED_BYTE: u8 = 0xFF;

    fn capacity(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let range = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes[range]);
        Ok(())
    }
}

impl Region for NorRegion<'_> {
    const OVERWRITE: bool = false;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error> {
        let range = self.range(offset, data.len())?;
        self.writes += 1;
        let current = &self.bytes[range.clone()];
        if let Some(at) = current
            .iter()
            .zip(data)
            .position(|(&old, &new)| old & new != new)
        {
            return Err(NorRegionError::NotErased {
                offset: offset + at as u64,
            });
        }
        let (allowed, cut) = match self.power_budget {
            Some(budget) if budget < data.len() as u64 => {
                // budget < data.len(), so it fits in usize.
                let allowed = usize::try_from(budget).unwrap_or(0);
                (allowed, true)
            }
            _ => (data.len(), false),
        };
        let target = &mut self.bytes[range.start..range.start + allowed];
        for (byte, &new) in target.iter_mut().zip(data) {
            *byte &= new;
        }
        self.bytes_programmed += allowed as u64;
        if let Some(budget) = &mut self.power_budget {
            *budget -= allowed as u64;
        }
        if cut {
            return Err(NorRegionError::PowerCut {
                offset: offset + allowed as u64,
            });
        }
        Ok(())
    }

    fn persist(&mut self, _range: core::ops::Range<u64>) -> Result<(), Self::Error> {
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
