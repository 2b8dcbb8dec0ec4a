//! Test helpers, semver-exempt (feature `_test`): regions that behave like other media.

mod nor_region;

pub use nor_region::{NorRegion, NorRegionError};
