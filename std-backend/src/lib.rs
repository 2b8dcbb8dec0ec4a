//! # walfs
//!
//! A segmented, memory-mapped write-ahead log whose files are byte-compatible with the Go
//! library walfs, and which fixes its weak points: a torn tail is told apart from corruption of
//! acknowledged data, truncated and torn records never come back, a failed sync poisons the log
//! instead of being retried into a lie, and a second process cannot open the same directory.
//!
//! ```no_run
//! use walfs::{Options, Wal};
//!
//! # fn main() -> Result<(), walfs::Error> {
//! let wal = Wal::open("/tmp/my-wal", Options::new())?;
//! let position = wal.append(b"hello")?;
//! wal.sync()?; // durable from here on
//! assert_eq!(&*wal.read(position)?, b"hello");
//! let mut reader = wal.reader();
//! while let Some(record) = reader.next()? {
//!     println!("{} {:?}", record.position(), record.payload());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every decision about bytes and recovery is made in `walfs-core` (re-exported here as
//! [`core`]); this crate adds the files, the mappings, threads and waiting.

mod backup;
mod cleaner;
mod error;
mod fs_storage;
mod gate;
#[cfg(all(test, loom))]
mod loom_wal;
mod mmap;
mod options;
mod prepare;
mod reader;
mod sync;
mod table;
mod wal;

pub use cleaner::Cleaner;
pub use error::{Error, FsError, Result};
pub use fs_storage::{FsStorage, parse_segment_file_name, segment_file_name};
pub use mmap::{MmapRegion, RecordView};
pub use options::{Options, SyncPolicy};
pub use reader::{Decoded, DecodingReader, Reader, Record};
pub use wal::Wal;
pub use walfs_core as core;
pub use walfs_core::wal::{IndexRelease, RecoveryReport, RetentionPolicy, SegmentInfo};
pub use walfs_core::{CorruptionReason, Position, RepairPolicy, SegmentId};
