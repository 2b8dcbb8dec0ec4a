//! Test helpers, semver-exempt (feature `_test`): regions that behave like other media.

mod copy_only;
#[cfg(feature = "alloc")]
mod mem_storage;
mod nor_region;

pub use copy_only::CopyOnlyRegion;
#[cfg(feature = "alloc")]
pub use mem_storage::{MemError, MemFaults, MemRegion, MemStorage};
pub use nor_region::{NorRegion, NorRegionError};
