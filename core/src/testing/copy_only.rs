//! `CopyOnlyRegion`: a RAM region that offers no zero-copy view, so readers take the copying
//! path they take on flash behind a bus.

use core::ops::Range;

use crate::region::{RamRegion, RamRegionError, RegionRead};

/// A [`RamRegion`] whose [`RegionRead::bytes`] is always `None`: every read is a copy.
#[derive(Debug)]
pub struct CopyOnlyRegion<'a>(pub RamRegion<'a>);

impl RegionRead for CopyOnlyRegion<'_> {
    type Error = RamRegionError;

    fn capacity(&self) -> u64 {
        self.0.capacity()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), RamRegionError> {
        self.0.read_at(offset, buf)
    }

    fn bytes(&self, _range: Range<u64>) -> Option<&[u8]> {
        None
    }
}
