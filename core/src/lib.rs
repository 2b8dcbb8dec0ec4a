//! # walfs-core
//!
//! The `no_std` heart of walfs, a segmented write-ahead log whose files are byte-compatible with
//! the Go library walfs (unisondb `pkg/walfs`). It holds every decision about bytes and recovery,
//! once, for every backend: the mmap files of the `walfs` crate, the simulated disk of
//! `walfs-sim`, and flash or RAM on a microcontroller.
//!
//! - [`format`]: the 64-byte [`SegmentHeader`], the [`RecordFrame`] (8-byte aligned, CRC-32C,
//!   trailer), index-file entries, constants.
//! - [`crc`]: CRC-32C, portable or with the CPU's CRC instructions.
//! - [`region`]: the byte-region trait a storage medium implements, and [`RamRegion`].
//! - [`scan`]: the recovery scan, which tells a clean end from a torn tail from corruption of
//!   acknowledged data, using the durable watermark.
//! - [`Segment`]: create, open (recover), append, append a batch, read, sync, seal, truncate.
//! - [`cursor`]: the reader state machine.
//! - [`barrier`]: the negative-control switches of the durability barriers (they do something
//!   only in a build with `--cfg walfs_negative_controls`, for the crash simulator).
//!
//! ```text
//! segment: | header 64 B | frame | frame | ... | erased ... |
//! frame:   | crc u32 | len u32 | payload | DE AD BE EF FE ED FA CE | pad to 8 |
//! ```
//!
//! ```
//! use walfs_core::{RamRegion, Segment, SegmentId, SegmentInit};
//!
//! let mut bytes = [0u8; 1024];
//! let init = SegmentInit { created_at: 0, marker: 0, first_log_index: 0 };
//! let mut segment = Segment::create(RamRegion::new(&mut bytes), SegmentId(1), init)?;
//! let offset = segment.append(b"hello", 0)?;
//! segment.sync(0)?;
//! let frame = segment.read(offset)?;
//! assert_eq!(segment.payload(&frame), Some(&b"hello"[..]));
//! # Ok::<(), walfs_core::Error<walfs_core::RamRegionError>>(())
//! ```
//!
//! ## Features
//!
//! | feature | effect |
//! | --- | --- |
//! | `alloc` | the multi-segment WAL engine ([`wal::WalEngine`]) over the [`storage::Storage`] trait |
//! | `std` | `alloc`, plus run-time CPU detection for the hardware CRC-32C path (otherwise it is chosen from the compile-time target features) |
//! | `_test` | semver-exempt test helpers: [`testing::NorRegion`] (and `nor_flash::mock` with `embedded-storage`) |
//! | `embedded-storage` | `nor_flash::NorFlashRegion`: a region over any `embedded_storage::nor_flash::NorFlash` partition |
//! | `crc-table-1` | portable CRC-32C with the 1 KiB table on every target (the default except on `x86_64` and `aarch64`) |
//! | `crc-table-16` | portable CRC-32C with slice-by-16's 16 KiB of tables on every target (the default on `x86_64` and `aarch64`) |
//! | `crc-no-table` | portable CRC-32C bit by bit, no table (smallest, slowest; wins over the other two) |
//!
//! Without features the crate needs neither `std` nor an allocator.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod barrier;
pub mod crc;
pub mod cursor;
pub mod error;
pub mod format;
#[cfg(feature = "embedded-storage")]
pub mod nor_flash;
pub mod position;
pub mod record;
pub mod region;
pub mod scan;
pub mod segment;
#[cfg(feature = "alloc")]
pub mod storage;
#[cfg(any(test, feature = "_test"))]
pub mod testing;
#[cfg(feature = "alloc")]
pub mod wal;

pub use cursor::{CursorStep, PublishedEnd, SegmentCursor};
pub use error::{CorruptionReason, Error};
pub use format::{IndexEntry, RecordFrame, SegmentFlags, SegmentHeader};
pub use position::{Position, SegmentId};
pub use record::CrcCheck;
pub use region::{RamRegion, RamRegionError, Region, RegionError, RegionErrorKind, RegionRead};
pub use scan::{Damage, FramesAfter, ScanOutcome, ScanStop, scan_segment};
pub use segment::{
    BatchAppend, NextLogIndex, OpenOptions, OpenReport, RepairPolicy, Segment, SegmentInit,
    SegmentSyncPlan, SyncCompletion,
};
