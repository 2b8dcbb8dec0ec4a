//! `MemStorage`: a directory of segments in memory, with injectable faults, for the engine's
//! tests. (The crash simulator, `walfs-sim`, models durability; this one does not: every write
//! is immediately what a reopen sees.)

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::ops::Range;

use crate::position::SegmentId;
use crate::region::{Region, RegionError, RegionErrorKind, RegionRead};
use crate::storage::Storage;

/// Faults to inject, shared by a storage and its regions.
#[derive(Debug, Default)]
pub struct MemFaults {
    /// The next `persist` of any region fails.
    pub fail_next_persist: Cell<bool>,
    /// The next `sync_dir` fails.
    pub fail_next_sync_dir: Cell<bool>,
    /// Creating a segment fails with `NoSpace`.
    pub no_space: Cell<bool>,
}

/// Error of a [`MemStorage`] or its regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemError {
    /// What kind of failure.
    pub kind: RegionErrorKind,
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in-memory storage: {:?}", self.kind)
    }
}

impl core::error::Error for MemError {}

impl RegionError for MemError {
    fn kind(&self) -> RegionErrorKind {
        self.kind
    }

    fn as_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self)
    }
}

/// A segment in memory, shared with its storage so a reopen sees what was written.
#[derive(Debug, Clone)]
pub struct MemRegion {
    bytes: Rc<RefCell<Vec<u8>>>,
    faults: Rc<MemFaults>,
}

impl MemRegion {
    fn range(&self, offset: u64, len: usize) -> Result<Range<usize>, MemError> {
        crate::region::slice_range(self.bytes.borrow().len(), offset, len).ok_or(MemError {
            kind: RegionErrorKind::OutOfBounds,
        })
    }
}

impl RegionRead for MemRegion {
    type Error = MemError;

    fn capacity(&self) -> u64 {
        self.bytes.borrow().len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let range = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes.borrow()[range]);
        Ok(())
    }
}

impl Region for MemRegion {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), MemError> {
        let range = self.range(offset, data.len())?;
        self.bytes.borrow_mut()[range].copy_from_slice(data);
        Ok(())
    }

    fn write_frame_in_place(
        &mut self,
        offset: u64,
        len: usize,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<bool, MemError> {
        let range = self.range(offset, len)?;
        encode(&mut self.bytes.borrow_mut()[range]);
        Ok(true)
    }

    fn persist(&mut self, _range: Range<u64>) -> Result<(), MemError> {
        if self.faults.fail_next_persist.take() {
            return Err(MemError {
                kind: RegionErrorKind::Io,
            });
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}

/// A directory of segments and index files in memory.
#[derive(Debug, Default)]
pub struct MemStorage {
    segments: BTreeMap<SegmentId, Rc<RefCell<Vec<u8>>>>,
    indexes: BTreeMap<SegmentId, Vec<u8>>,
    faults: Rc<MemFaults>,
    dir_syncs: u64,
}

impl MemStorage {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The faults to inject.
    pub fn faults(&self) -> &MemFaults {
        &self.faults
    }

    /// How many times the directory was synced.
    pub fn dir_syncs(&self) -> u64 {
        self.dir_syncs
    }

    /// The bytes of segment `id`, for inspection or damage.
    pub fn segment_bytes(&self, id: SegmentId) -> Option<core::cell::RefMut<'_, Vec<u8>>> {
        self.segments.get(&id).map(|bytes| bytes.borrow_mut())
    }

    /// Places a segment file with the given bytes (a file written by another program).
    pub fn put_segment(&mut self, id: SegmentId, bytes: Vec<u8>) {
        self.segments.insert(id, Rc::new(RefCell::new(bytes)));
    }

    /// The index file of segment `id`.
    pub fn index(&self, id: SegmentId) -> Option<&[u8]> {
        self.indexes.get(&id).map(Vec::as_slice)
    }

    /// Places, replaces or (with `None`) removes an index file.
    pub fn put_index(&mut self, id: SegmentId, bytes: Option<Vec<u8>>) {
        match bytes {
            Some(bytes) => self.indexes.insert(id, bytes),
            None => self.indexes.remove(&id),
        };
    }
}

impl Storage for MemStorage {
    type Error = MemError;
    type Region = MemRegion;

    fn list_segments(&mut self) -> Result<Vec<SegmentId>, MemError> {
        Ok(self.segments.keys().copied().collect())
    }

    fn create_segment(&mut self, id: SegmentId, capacity: u64) -> Result<MemRegion, MemError> {
        if self.faults.no_space.get() {
            return Err(MemError {
                kind: RegionErrorKind::NoSpace,
            });
        }
        if self.segments.contains_key(&id) {
            return Err(MemError {
                kind: RegionErrorKind::Other,
            });
        }
        let len = usize::try_from(capacity).map_err(|_| MemError {
            kind: RegionErrorKind::NoSpace,
        })?;
        let bytes = Rc::new(RefCell::new(vec![0; len]));
        self.segments.insert(id, bytes.clone());
        Ok(MemRegion {
            bytes,
            faults: self.faults.clone(),
        })
    }

    fn open_segment(&mut self, id: SegmentId) -> Result<MemRegion, MemError> {
        let bytes = self.segments.get(&id).ok_or(MemError {
            kind: RegionErrorKind::Other,
        })?;
        Ok(MemRegion {
            bytes: bytes.clone(),
            faults: self.faults.clone(),
        })
    }

    fn remove_segment(&mut self, id: SegmentId) -> Result<(), MemError> {
        self.segments.remove(&id);
        self.indexes.remove(&id);
        Ok(())
    }

    fn read_index(&mut self, id: SegmentId, out: &mut Vec<u8>) -> Result<bool, MemError> {
        out.clear();
        match self.indexes.get(&id) {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn write_index(&mut self, id: SegmentId, bytes: &[u8]) -> Result<(), MemError> {
        self.indexes.insert(id, bytes.to_vec());
        Ok(())
    }

    fn sync_dir(&mut self) -> Result<(), MemError> {
        if self.faults.fail_next_sync_dir.take() {
            return Err(MemError {
                kind: RegionErrorKind::Io,
            });
        }
        self.dir_syncs += 1;
        Ok(())
    }
}
