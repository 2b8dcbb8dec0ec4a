//! `RelistedStorage`: walfs-core's `MemStorage` whose directory listing passes through a
//! function first, to act like a backend that lists its segments out of order or twice. Shared
//! by the bad-input property test and its named regressions.

use walfs_core::SegmentId;
use walfs_core::storage::Storage;
use walfs_core::testing::{MemError, MemRegion, MemStorage};

/// What a [`RelistedStorage`] does to the listing.
pub type Relist = Box<dyn FnMut(Vec<SegmentId>) -> Vec<SegmentId> + Send>;

/// A `MemStorage` whose `list_segments` is rewritten by `relist`; everything else is forwarded.
pub struct RelistedStorage {
    /// The storage underneath.
    pub inner: MemStorage,
    /// Rewrites each listing.
    pub relist: Relist,
}

impl RelistedStorage {
    /// `inner`, listed through `relist`.
    pub fn new(
        inner: MemStorage,
        relist: impl FnMut(Vec<SegmentId>) -> Vec<SegmentId> + Send + 'static,
    ) -> Self {
        RelistedStorage {
            inner,
            relist: Box::new(relist),
        }
    }
}

impl std::fmt::Debug for RelistedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelistedStorage")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Storage for RelistedStorage {
    type Error = MemError;
    type Region = MemRegion;

    fn list_segments(&mut self) -> Result<Vec<SegmentId>, MemError> {
        let ids = self.inner.list_segments()?;
        Ok((self.relist)(ids))
    }
    fn create_segment(&mut self, id: SegmentId, capacity: u64) -> Result<MemRegion, MemError> {
        self.inner.create_segment(id, capacity)
    }
    fn open_segment(&mut self, id: SegmentId) -> Result<MemRegion, MemError> {
        self.inner.open_segment(id)
    }
    fn remove_segment(&mut self, id: SegmentId) -> Result<(), MemError> {
        self.inner.remove_segment(id)
    }
    fn read_index(&mut self, id: SegmentId, out: &mut Vec<u8>) -> Result<bool, MemError> {
        self.inner.read_index(id, out)
    }
    fn index_len(&mut self, id: SegmentId) -> Result<Option<u64>, MemError> {
        self.inner.index_len(id)
    }
    fn write_index(&mut self, id: SegmentId, bytes: &[u8]) -> Result<(), MemError> {
        self.inner.write_index(id, bytes)
    }
    fn sync_dir(&mut self) -> Result<(), MemError> {
        self.inner.sync_dir()
    }
}
