//! The `Storage` trait: a directory of segments, as the WAL engine sees it (feature `alloc`).
//!
//! A storage only stores bytes. It lists, creates, opens and removes segment regions, keeps one
//! index file per sealed segment, and makes directory changes durable when told to. Every
//! decision about *when* to do which (the order that makes rotation, truncation and deletion
//! crash-safe) is made by the engine in [`crate::wal`], never inside a backend.

use alloc::vec::Vec;

use crate::position::SegmentId;
use crate::region::{Region, RegionError};

/// The operation of a storage that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageOp {
    /// Listing the segments.
    List,
    /// Creating a segment.
    Create,
    /// Opening a segment.
    Open,
    /// Removing a segment and its index file.
    Remove,
    /// Reading an index file.
    ReadIndex,
    /// Replacing an index file.
    WriteIndex,
    /// Making directory changes durable.
    SyncDir,
}

/// A directory of segments.
pub trait Storage {
    /// The error of every operation, and of the regions.
    type Error: RegionError;
    /// A segment's bytes.
    type Region: Region<Error = Self::Error>;

    /// The ids of the segments present, ascending. Names that are not canonical segment names
    /// are not segments and are left alone.
    fn list_segments(&mut self) -> Result<Vec<SegmentId>, Self::Error>;

    /// Creates segment `id` with `capacity` bytes, all erased, its space reserved (a full medium
    /// fails here with a `NoSpace` error, never later in the middle of a write). Fails if it
    /// exists. Durable only after [`Storage::sync_dir`].
    fn create_segment(&mut self, id: SegmentId, capacity: u64)
    -> Result<Self::Region, Self::Error>;

    /// Opens an existing segment with the size it has (never resized).
    fn open_segment(&mut self, id: SegmentId) -> Result<Self::Region, Self::Error>;

    /// Removes a segment and its index file; a missing file is not an error. Durable only after
    /// [`Storage::sync_dir`].
    fn remove_segment(&mut self, id: SegmentId) -> Result<(), Self::Error>;

    /// Reads the index file of segment `id` into `out` (replacing its contents). Returns `false`
    /// when there is none.
    fn read_index(&mut self, id: SegmentId, out: &mut Vec<u8>) -> Result<bool, Self::Error>;

    /// The length in bytes of the index file of segment `id`, `None` when there is none. Open
    /// checks it against a sealed segment's record count without reading the file (the file
    /// itself is read when the segment's records are first needed). The default reads the file.
    fn index_len(&mut self, id: SegmentId) -> Result<Option<u64>, Self::Error> {
        let mut bytes = Vec::new();
        Ok(self
            .read_index(id, &mut bytes)?
            .then_some(bytes.len() as u64))
    }

    /// Replaces the index file of segment `id` atomically: a reader sees the old file or the new
    /// one, never a mix (write a temporary file, make it durable, rename it over the old one).
    /// The rename is durable only after [`Storage::sync_dir`].
    fn write_index(&mut self, id: SegmentId, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Makes every directory change so far (create, rename, remove) durable.
    fn sync_dir(&mut self) -> Result<(), Self::Error>;
}
