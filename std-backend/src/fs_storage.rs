//! `FsStorage`: a WAL directory on a Linux file system, implementing walfs-core's `Storage`.
//!
//! - Segment files are named `<id, 9 digits at least><ext>` (`000000001.wal`); only canonical
//!   names are segments (`1.wal` or `foo.wal` are left alone, never mapped onto a canonical file,
//!   SPEC §13.27). Every entry that is not a directory counts, symlinks included (§1.1). The
//!   extension is used literally.
//! - A new segment's space is reserved with `fallocate(2)` so a full disk fails the rotation,
//!   never a store into the mapping (SIGBUS, §13.3). Its pages are then prepared ahead of the
//!   writer by a background thread (`crate::prepare`), the first chunk at once, so the page
//!   faults of the first store to each page are not paid on the append path. The same thread
//!   makes a spare segment file for the next rotation (`walfs-spare-segment.tmp`: space
//!   reserved, zeroed, mapped writable); the rotation renames it to the new segment's name
//!   (`RENAME_NOREPLACE`) instead of creating a file. A spare left by a crash is removed when
//!   the directory is opened.
//! - Existing segments are mapped with the size they have: never resized (§13.14).
//! - Index files are replaced atomically: written to a temporary file, `fsync`ed, renamed over
//!   the old one; errors are returned (§13.8). Temporary files left by a crash are removed when
//!   the directory is opened.
//! - The directory is locked with `flock(2)` (`LOCK_EX | LOCK_NB`) on the directory itself: a
//!   second writer fails at once with [`Error::Locked`] (§13.5). A read-only storage takes no
//!   lock and changes nothing. Dropping the storage stops the preparer thread first (no byte of
//!   a segment file is written after that), then unlocks explicitly (`LOCK_UN`) before closing:
//!   a `flock` lock belongs to the open file description, and a child process forked by another
//!   thread holds a copy of the descriptor until it calls `exec`; closing alone would leave the
//!   directory locked for that window, and a reopen in this process would fail with `Locked`.
//! - `sync_dir` is `fsync(2)` of the directory: the engine calls it after every create, rename
//!   and remove that must be durable.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use walfs_core::SegmentId;
use walfs_core::storage::Storage;

use crate::error::{Error, FsError};
use crate::mmap::{MmapRegion, SharedMap};
use crate::prepare::{Preparer, SyncHint};
use crate::sync::Arc;

/// A WAL directory.
#[derive(Debug)]
pub struct FsStorage {
    dir: PathBuf,
    /// The directory, open for `fsync` and holding the lock.
    dir_file: File,
    ext: String,
    read_only: bool,
    temp_counter: u64,
    /// Whether created segments are prepared ahead of their writer.
    prepare: bool,
    /// Prepares the newest created segment; started with the first one.
    preparer: Option<Preparer>,
    /// Whether the WAL syncs (how the preparer zeroes), shared with segments and preparer.
    sync_hint: Arc<SyncHint>,
}

impl FsStorage {
    /// Opens (creating it if needed, mode 0755) and locks the directory `dir` whose segment files
    /// end with `ext` (".wal" in the Go original). With `read_only`, nothing is created or
    /// locked.
    pub fn open(dir: impl AsRef<Path>, ext: &str, read_only: bool) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        if !read_only {
            fs::create_dir_all(&dir)
                .map_err(|e| Error::Dir(FsError::io("create WAL directory", e).at(&dir)))?;
        }
        let dir_file = File::open(&dir)
            .map_err(|e| Error::Dir(FsError::io("open WAL directory", e).at(&dir)))?;
        if !read_only {
            match rustix::fs::flock(
                &dir_file,
                rustix::fs::FlockOperation::NonBlockingLockExclusive,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Err(Error::Locked { dir }),
                Err(e) => {
                    return Err(Error::Dir(
                        FsError::io("lock WAL directory", e.into()).at(&dir),
                    ));
                }
            }
        }
        let storage = FsStorage {
            dir,
            dir_file,
            ext: ext.to_owned(),
            read_only,
            temp_counter: 0,
            prepare: true,
            preparer: None,
            sync_hint: Arc::new(SyncHint::new()),
        };
        if !read_only {
            storage.remove_stale_temp_files()?;
        }
        Ok(storage)
    }

    /// Whether segments created from now on are zeroed ahead of their writer by a background
    /// thread (default: yes; see [`Options::prepare_segments`](crate::Options::prepare_segments)).
    pub fn set_prepare_segments(&mut self, prepare: bool) {
        self.prepare = prepare;
        if !prepare {
            drop(self.preparer.take());
        }
    }

    /// Whether the WAL syncs, shared with the segments this storage creates: the WAL notes its
    /// syncs there (see "Page cache granularity" in `crate::prepare`).
    pub(crate) fn sync_hint(&self) -> &Arc<SyncHint> {
        &self.sync_hint
    }

    /// Prepares the active segment an open found (`shared`, appended to from `end`) ahead of
    /// its writer, as a created one is, and asks for a spare: without it the appends after a
    /// reopen take the file system's page faults until the next rotation (see
    /// `SharedMap::resume_preparation`). Nothing happens with preparation off, read-only, or if
    /// the preparer thread cannot start.
    pub(crate) fn resume_active(&mut self, shared: &Arc<SharedMap>, end: u64) {
        if self.read_only || !self.prepare {
            return;
        }
        if self.preparer.is_none() {
            self.preparer = Preparer::start(&self.dir, Arc::clone(&self.sync_hint));
        }
        let Some(preparer) = &self.preparer else {
            return;
        };
        let Some(thread) = preparer.thread().cloned() else {
            return;
        };
        if shared.resume_preparation(end, thread) {
            preparer.prepare(Arc::clone(shared), shared.capacity());
        }
    }

    /// Whether the preparer has a spare segment ready.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn has_spare_for_test(&self) -> bool {
        self.preparer.as_ref().is_some_and(Preparer::has_spare)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment file extension.
    pub fn ext(&self) -> &str {
        &self.ext
    }

    /// The path of segment `id`'s file.
    pub fn segment_path(&self, id: SegmentId) -> PathBuf {
        self.dir.join(segment_file_name(id, &self.ext))
    }

    /// The path of segment `id`'s index file.
    pub fn index_path(&self, id: SegmentId) -> PathBuf {
        self.dir
            .join(format!("{}.idx", segment_file_name(id, &self.ext)))
    }

    /// Creates segment `id`'s file, reserves its space and maps it; the first chunk is prepared
    /// at once (the engine writes the header and the first records next), the rest by the
    /// preparer.
    fn create_segment_file(&self, id: SegmentId, capacity: u64) -> Result<MmapRegion, FsError> {
        let path = self.segment_path(id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| FsError::io("create segment", e).at(&path))?;
        let reserve =
            rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, capacity);
        match reserve {
            Ok(()) => {}
            Err(rustix::io::Errno::OPNOTSUPP) => file
                .set_len(capacity)
                .map_err(|e| FsError::io("size segment", e).at(&path))?,
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(FsError::io("reserve segment space", e.into()).at(&path));
            }
        }
        let thread = self.preparer.as_ref().and_then(Preparer::thread).cloned();
        let shared = SharedMap::map_new_segment(file, thread)
            .map_err(|e| e.at(&path))?
            .with_sync_hint(Arc::clone(&self.sync_hint));
        let region = MmapRegion::new(shared);
        region.shared().prepare_next();
        Ok(region)
    }

    /// The spare segment (`crate::prepare`), renamed to segment `id`'s name, if the preparer has
    /// one of `capacity` bytes ready. The rename never replaces a file: an existing segment
    /// `id` is an error, as for a new file. If the rename fails otherwise, the spare is removed
    /// and the caller creates the segment as usual.
    fn take_spare_as(&self, id: SegmentId, capacity: u64) -> Result<Option<MmapRegion>, FsError> {
        let Some(preparer) = &self.preparer else {
            return Ok(None);
        };
        let Some(spare) = preparer.take_spare(capacity) else {
            return Ok(None);
        };
        let name = segment_file_name(id, &self.ext);
        let renamed = rustix::fs::renameat_with(
            &self.dir_file,
            crate::prepare::SPARE_NAME,
            &self.dir_file,
            name.as_str(),
            rustix::fs::RenameFlags::NOREPLACE,
        );
        match renamed {
            Ok(()) => Ok(Some(MmapRegion::new(spare.map))),
            Err(error) => {
                drop(spare);
                let _ = fs::remove_file(preparer.spare_path());
                if error == rustix::io::Errno::EXIST {
                    let path = self.segment_path(id);
                    Err(FsError::io("create segment", error.into()).at(&path))
                } else {
                    Ok(None)
                }
            }
        }
    }

    fn remove_stale_temp_files(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| Error::Dir(FsError::io("list WAL directory", e).at(&self.dir)))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let spare = name == crate::prepare::SPARE_NAME;
            if spare || (name.contains(".idx.tmp") && name.ends_with(".walfs")) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

/// The canonical file name of segment `id`: at least 9 digits, then the extension.
pub fn segment_file_name(id: SegmentId, ext: &str) -> String {
    format!("{:09}{ext}", id.0)
}

/// The segment id of a canonical segment file name, if it is one.
pub fn parse_segment_file_name(name: &str, ext: &str) -> Option<SegmentId> {
    let stem = name.strip_suffix(ext)?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u32 = stem.parse().ok()?;
    (segment_file_name(SegmentId(id), ext) == name).then_some(SegmentId(id))
}

impl Storage for FsStorage {
    type Error = FsError;
    type Region = MmapRegion;

    fn list_segments(&mut self) -> Result<Vec<SegmentId>, FsError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| FsError::io("list WAL directory", e).at(&self.dir))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FsError::io("list WAL directory", e).at(&self.dir))?;
            // Every entry that is not a directory (SPEC §1.1): a symlink to a segment is that
            // segment, and one that leads nowhere fails the open naming it, rather than its
            // records vanishing from the log.
            let not_dir = entry.file_type().is_ok_and(|t| !t.is_dir());
            if let (true, Some(name)) = (not_dir, entry.file_name().to_str())
                && let Some(id) = parse_segment_file_name(name, &self.ext)
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    fn create_segment(&mut self, id: SegmentId, capacity: u64) -> Result<MmapRegion, FsError> {
        if self.prepare && self.preparer.is_none() {
            self.preparer = Preparer::start(&self.dir, Arc::clone(&self.sync_hint));
        }
        let region = match self.take_spare_as(id, capacity)? {
            Some(region) => region,
            None => self.create_segment_file(id, capacity)?,
        };
        if let Some(preparer) = &self.preparer {
            preparer.prepare(Arc::clone(region.shared()), capacity);
        }
        Ok(region)
    }

    /// Opens the file relative to the directory's descriptor (one path component to look up,
    /// not the whole path: open does this for every segment) and maps it when first used.
    fn open_segment(&mut self, id: SegmentId) -> Result<MmapRegion, FsError> {
        use rustix::fs::{Mode, OFlags};
        let access = if self.read_only {
            OFlags::RDONLY
        } else {
            OFlags::RDWR
        };
        let file = rustix::fs::openat(
            &self.dir_file,
            segment_file_name(id, &self.ext),
            access | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(File::from)
        .map_err(|e| FsError::io("open segment", e.into()).at(self.segment_path(id)))?;
        let path = self.segment_path(id);
        let mut shared = SharedMap::map(file, !self.read_only).map_err(|e| e.at(&path))?;
        if !self.read_only {
            shared = shared.with_sync_hint(Arc::clone(&self.sync_hint));
        }
        Ok(MmapRegion::new(shared))
    }

    fn remove_segment(&mut self, id: SegmentId) -> Result<(), FsError> {
        for path in [self.index_path(id), self.segment_path(id)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(FsError::io("remove segment", e).at(&path)),
            }
        }
        Ok(())
    }

    fn read_index(&mut self, id: SegmentId, out: &mut Vec<u8>) -> Result<bool, FsError> {
        let path = self.index_path(id);
        out.clear();
        match File::open(&path) {
            Ok(mut file) => {
                std::io::Read::read_to_end(&mut file, out)
                    .map_err(|e| FsError::io("read index file", e).at(&path))?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(FsError::io("open index file", e).at(&path)),
        }
    }

    /// A `stat` relative to the directory's descriptor (see `open_segment`), following links.
    fn index_len(&mut self, id: SegmentId) -> Result<Option<u64>, FsError> {
        let name = format!("{}.idx", segment_file_name(id, &self.ext));
        match rustix::fs::statat(&self.dir_file, name, rustix::fs::AtFlags::empty()) {
            Ok(stat) => Ok(Some(u64::try_from(stat.st_size).unwrap_or(0))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(FsError::io("stat index file", e.into()).at(self.index_path(id))),
        }
    }

    fn write_index(&mut self, id: SegmentId, bytes: &[u8]) -> Result<(), FsError> {
        let path = self.index_path(id);
        self.temp_counter += 1;
        let temp = self.dir.join(format!(
            "{}.idx.tmp{}-{}.walfs",
            segment_file_name(id, &self.ext),
            std::process::id(),
            self.temp_counter
        ));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(|e| FsError::io("create index file", e).at(&temp))?;
            file.write_all(bytes)
                .map_err(|e| FsError::io("write index file", e).at(&temp))?;
            file.sync_all()
                .map_err(|e| FsError::io("fsync index file", e).at(&temp))?;
            fs::rename(&temp, &path).map_err(|e| FsError::io("rename index file", e).at(&path))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn sync_dir(&mut self) -> Result<(), FsError> {
        rustix::fs::fsync(&self.dir_file)
            .map_err(|e| FsError::io("fsync WAL directory", e.into()).at(&self.dir))
    }
}

impl Drop for FsStorage {
    fn drop(&mut self) {
        // Joins the thread: once the directory is unlocked another process may write the files.
        drop(self.preparer.take());
        if !self.read_only {
            // Unlocking can only fail for a bad descriptor, which `dir_file` is not; the close
            // that follows releases the lock in any case once no copy of the descriptor is left.
            let _ = rustix::fs::flock(&self.dir_file, rustix::fs::FlockOperation::Unlock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the directory's descriptor that outlives the storage (what a child process
    /// forked by another thread holds until its `exec`) does not keep the directory locked.
    #[test]
    #[cfg(not(loom))]
    fn a_dropped_storage_unlocks_even_while_a_copy_of_its_descriptor_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        let inherited_copy = storage.dir_file.try_clone().unwrap();
        assert!(matches!(
            FsStorage::open(dir.path(), ".wal", false),
            Err(Error::Locked { .. })
        ));
        drop(storage);
        let reopened = FsStorage::open(dir.path(), ".wal", false);
        assert!(reopened.is_ok(), "{reopened:?}");
        drop(inherited_copy);
    }

    /// Segment 1 (64 KiB) created in a fresh storage at `dir`.
    #[cfg(not(loom))]
    fn new_segment(dir: &Path) -> walfs_core::Segment<MmapRegion> {
        let mut storage = FsStorage::open(dir, ".wal", false).unwrap();
        segment_1_in(storage.create_segment(SegmentId(1), 64 * 1024).unwrap())
    }

    /// Segment 1, created in `region` (a segment file just created).
    #[cfg(not(loom))]
    fn segment_1_in(region: MmapRegion) -> walfs_core::Segment<MmapRegion> {
        let init = walfs_core::SegmentInit {
            created_at: 1,
            marker: 0,
            first_log_index: 0,
        };
        walfs_core::Segment::create(region, SegmentId(1), init).unwrap()
    }

    /// The barriers of a segment cost one flush each time something was written since the
    /// last one, and nothing otherwise (see `MmapRegion`'s "Flushes").
    #[test]
    #[cfg(not(loom))]
    fn a_segment_sync_is_one_flush_and_a_barrier_with_nothing_written_is_none() {
        use walfs_core::region::{Region, RegionRead};

        let dir = tempfile::tempdir().unwrap();
        let mut segment = new_segment(dir.path());
        assert_eq!(
            segment.region().flushes(),
            1,
            "create: header persist + sync"
        );
        segment.append(b"hello", 0).unwrap();
        segment.sync(2).unwrap();
        assert_eq!(
            segment.region().flushes(),
            2,
            "data + header persist + sync"
        );
        segment.sync(3).unwrap();
        assert_eq!(
            segment.region().flushes(),
            3,
            "the watermark header written after it"
        );
        segment.sync(4).unwrap();
        assert_eq!(segment.region().flushes(), 3, "nothing left");
        let region = segment.region_mut();
        region.persist(64..4096).unwrap();
        region.sync().unwrap();
        assert_eq!(region.flushes(), 3, "nothing written since the last flush");
        region.write_at(1024, b"x").unwrap();
        region.persist(0..64).unwrap();
        assert_eq!(
            region.flushes(),
            4,
            "a persist flushes everything written, its range and more"
        );
        region.sync().unwrap();
        assert_eq!(region.flushes(), 4);
        let mut byte = [0u8; 1];
        region.read_at(1024, &mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }

    #[test]
    #[cfg(not(loom))]
    fn a_leaders_flush_ahead_spares_the_engine_its_flush_and_a_failed_one_fails_every_barrier() {
        use walfs_core::region::Region;

        let dir = tempfile::tempdir().unwrap();
        let mut segment = new_segment(dir.path());
        let shared = crate::sync::Arc::clone(segment.region().shared());
        let before = segment.region().flushes();
        segment.append(b"hello", 0).unwrap();
        shared.flush_ahead().unwrap();
        segment.sync(2).unwrap();
        assert_eq!(
            segment.region().flushes(),
            before,
            "the flush ahead covered the append: the engine's barrier had nothing left"
        );
        segment.append(b"world", 0).unwrap();
        shared.fail_flushes_for_test();
        assert!(shared.flush_ahead().is_err());
        assert!(
            segment.sync(3).is_err(),
            "a failed flush is never forgotten"
        );
        assert!(
            segment.append(b"more", 0).is_err(),
            "the segment is poisoned"
        );
        assert!(segment.region_mut().sync().is_err());
    }

    /// A created segment is zeroed ahead of its writer in the background (`crate::prepare`): the
    /// preparer keeps a window ahead, every record written meanwhile reads back intact, a sync
    /// flushes only what was written (not the prepared zeros), and the bytes after the last
    /// record are still zero.
    #[test]
    #[cfg(not(loom))]
    fn a_new_segment_is_prepared_ahead_of_its_writer_and_flushed_only_where_written() {
        use crate::prepare::{CHUNK, WINDOW};
        use std::time::{Duration, Instant};
        use walfs_core::region::RegionRead;

        let dir = tempfile::tempdir().unwrap();
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        let capacity = 4 * WINDOW;
        let region = storage.create_segment(SegmentId(1), capacity).unwrap();
        let shared = crate::sync::Arc::clone(region.shared());
        assert!(shared.prepared() >= CHUNK, "the first chunk at once");
        let mut segment = segment_1_in(region);
        let payload = |i: u64| -> Vec<u8> {
            (0..1000u64)
                .map(|j| ((i * 7 + j) % 251).to_le_bytes()[0])
                .collect()
        };
        let mut offsets = Vec::new();
        let mut append_until = |segment: &mut walfs_core::Segment<MmapRegion>, until: u64| {
            while segment.end() + 2048 < until {
                let i = offsets.len() as u64;
                offsets.push(segment.append(&payload(i), 0).unwrap());
            }
        };
        // Past half a window: the writer wakes the preparer, which fills a window ahead again.
        append_until(&mut segment, WINDOW / 2 + CHUNK);
        let deadline = Instant::now() + Duration::from_secs(10);
        // The preparer keeps at least half a window ahead: the writer wakes it when less is.
        while shared.prepared() < (segment.end() + WINDOW / 2).min(capacity) {
            assert!(Instant::now() < deadline, "prepared {}", shared.prepared());
            std::thread::sleep(Duration::from_millis(1));
        }
        segment.sync(2).unwrap();
        assert_eq!(
            shared.flush_end(),
            segment.end(),
            "the flush stops at the data"
        );
        assert!(shared.prepared() >= shared.flush_end() + WINDOW / 2);

        append_until(&mut segment, capacity);
        segment.sync(3).unwrap();
        for (i, &offset) in offsets.iter().enumerate() {
            let frame = segment.read(offset).unwrap();
            let bytes = segment.region().bytes(frame.payload_range()).unwrap();
            assert_eq!(bytes, payload(i as u64).as_slice(), "record {i}");
        }
        let tail = segment.region().bytes(segment.end()..capacity).unwrap();
        assert!(tail.iter().all(|&b| b == 0), "the tail is still erased");
    }

    /// With preparation off no thread runs: a created segment is never zeroed ahead, and its
    /// flushes still cover exactly what was written.
    #[test]
    #[cfg(not(loom))]
    fn without_preparation_a_new_segment_is_not_zeroed_ahead_and_flushes_what_was_written() {
        use walfs_core::region::Region;

        let dir = tempfile::tempdir().unwrap();
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        storage.set_prepare_segments(false);
        let mut region = storage.create_segment(SegmentId(1), 64 * 1024).unwrap();
        assert!(storage.preparer.is_none());
        assert_eq!(region.shared().prepared(), u64::MAX);
        assert!(!region.shared().prepare_next());
        region.write_at(4096, b"data").unwrap();
        assert_eq!(region.shared().flush_end(), 4100);
        region.sync().unwrap();
        assert_eq!(region.flushes(), 1);
    }

    /// Waits until the storage's preparer has a finished spare segment.
    #[cfg(not(loom))]
    fn wait_for_spare(storage: &FsStorage) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !storage.preparer.as_ref().is_some_and(Preparer::has_spare) {
            assert!(std::time::Instant::now() < deadline, "no spare segment");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// After a segment is created the preparer makes a spare for the next rotation, which the
    /// next creation renames into place: fully prepared, the right size, all zeros; dropping
    /// the storage removes the spare it holds.
    #[test]
    #[cfg(not(loom))]
    fn a_rotation_takes_the_spare_segment_made_ready_in_the_background() {
        use std::os::unix::fs::MetadataExt;
        use walfs_core::region::RegionRead;

        let dir = tempfile::tempdir().unwrap();
        let capacity = 256 * 1024;
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        let spare_path = dir.path().join(crate::prepare::SPARE_NAME);
        let _first = storage.create_segment(SegmentId(1), capacity).unwrap();
        wait_for_spare(&storage);
        let spare = fs::metadata(&spare_path).unwrap();
        assert_eq!(spare.len(), capacity);
        let second = storage.create_segment(SegmentId(2), capacity).unwrap();
        assert_eq!(
            fs::metadata(storage.segment_path(SegmentId(2)))
                .unwrap()
                .ino(),
            spare.ino(),
            "segment 2 is the spare file, renamed"
        );
        assert_eq!(
            second.shared().prepared(),
            capacity,
            "the spare, fully prepared"
        );
        assert_eq!(
            second.shared().flush_end(),
            0,
            "nothing written: nothing to flush"
        );
        assert_eq!(
            fs::metadata(storage.segment_path(SegmentId(2)))
                .unwrap()
                .len(),
            capacity
        );
        assert!(second.bytes(0..capacity).unwrap().iter().all(|&b| b == 0));
        assert_eq!(
            storage.list_segments().unwrap(),
            [SegmentId(1), SegmentId(2)],
            "the spare is never listed as a segment"
        );
        wait_for_spare(&storage);
        drop(storage);
        assert!(
            !spare_path.exists(),
            "dropping the storage removes its spare"
        );
    }

    /// A spare of another size is not used, and a rotation onto a name that exists fails like
    /// a new file would, without replacing the file.
    #[test]
    #[cfg(not(loom))]
    fn a_spare_of_another_size_is_dropped_and_an_existing_name_is_never_replaced() {
        use walfs_core::region::RegionRead;

        let dir = tempfile::tempdir().unwrap();
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        storage.create_segment(SegmentId(1), 128 * 1024).unwrap();
        wait_for_spare(&storage);
        let other = storage.create_segment(SegmentId(2), 192 * 1024).unwrap();
        // The 128 KiB spare renamed into place would have the wrong size.
        assert_eq!(other.capacity(), 192 * 1024);
        let created = fs::metadata(storage.segment_path(SegmentId(2))).unwrap();
        assert_eq!(created.len(), 192 * 1024);
        wait_for_spare(&storage);
        fs::write(storage.segment_path(SegmentId(3)), b"keep").unwrap();
        let clash = storage.create_segment(SegmentId(3), 192 * 1024);
        assert!(clash.is_err(), "{clash:?}");
        assert_eq!(
            fs::read(storage.segment_path(SegmentId(3))).unwrap(),
            b"keep"
        );
    }

    /// A spare segment file left by a crash is removed when the directory is opened.
    #[test]
    #[cfg(not(loom))]
    fn a_spare_left_by_a_crash_is_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let spare_path = dir.path().join(crate::prepare::SPARE_NAME);
        fs::write(&spare_path, [0u8; 4096]).unwrap();
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        assert!(!spare_path.exists());
        assert!(storage.list_segments().unwrap().is_empty());
    }

    /// A segment that existed before the storage was opened is never zeroed by the preparer,
    /// and its flushes cover the whole file, the first one even with nothing written since the
    /// open (it may hold dirty pages an earlier process wrote and did not flush).
    #[test]
    #[cfg(not(loom))]
    fn an_existing_segment_is_never_prepared_and_its_flush_covers_the_whole_file() {
        use walfs_core::region::Region;

        let dir = tempfile::tempdir().unwrap();
        let mut segment = new_segment(dir.path());
        segment.append(b"kept", 0).unwrap();
        segment.sync(2).unwrap();
        drop(segment);
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        let region = storage.open_segment(SegmentId(1)).unwrap();
        assert_eq!(region.shared().prepared(), u64::MAX);
        assert_eq!(region.shared().flush_end(), 64 * 1024);
        assert!(!region.shared().prepare_next(), "nothing is ever zeroed");
        let (mut segment, _) = walfs_core::Segment::open(
            region,
            SegmentId(1),
            walfs_core::segment::OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(segment.record_count(), 1);
        segment.region_mut().sync().unwrap();
        assert_eq!(
            segment.region().flushes(),
            1,
            "the first barrier flushes what an earlier process may have left unflushed"
        );
        segment.region_mut().sync().unwrap();
        assert_eq!(segment.region().flushes(), 1, "then nothing is left");
    }

    /// Open maps a sealed segment only when its bytes are first needed (see `mmap`'s "Lazy
    /// mapping"): its header is read with `pread`, and its records still read back, also after
    /// its file was removed (the open descriptor keeps the file).
    #[test]
    #[cfg(not(loom))]
    fn a_sealed_segment_is_mapped_on_first_read_and_reads_back_after_its_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = new_segment(dir.path());
        let offset = segment.append(b"sealed record", 0).unwrap();
        segment.seal(2).unwrap();
        drop(segment);
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        let region = storage.open_segment(SegmentId(1)).unwrap();
        let (mut segment, report) =
            walfs_core::Segment::open(region, SegmentId(1), walfs_core::OpenOptions::default())
                .unwrap();
        assert!(report.scan.is_none() && segment.is_sealed());
        assert!(
            !segment.region().shared().is_mapped(),
            "open read the header without mapping the file"
        );
        fs::remove_file(storage.segment_path(SegmentId(1))).unwrap();
        let frame = segment.read(offset).unwrap();
        assert_eq!(segment.payload(&frame), Some(&b"sealed record"[..]));
        assert!(segment.region().shared().is_mapped());
    }

    /// The scan's read-ahead (a background populate of the active segment) changes nothing the
    /// open finds, and a segment closed and removed while it may still run stays harmless: the
    /// thread holds the mapping, and a reopen reads every record back.
    #[test]
    #[cfg(not(loom))]
    fn the_scan_read_ahead_changes_nothing_and_outlives_a_closed_segment_harmlessly() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = FsStorage::open(dir.path(), ".wal", false).unwrap();
        let region = storage.create_segment(SegmentId(1), 8 << 20).unwrap();
        let mut segment = segment_1_in(region);
        let payload = [0xA5u8; 1000];
        let offsets: Vec<u64> = (0..4000)
            .map(|_| segment.append(&payload, 0).unwrap())
            .collect();
        segment.sync(2).unwrap();
        drop(segment);
        for round in 0..3 {
            let region = storage.open_segment(SegmentId(1)).unwrap();
            let (mut segment, report) =
                walfs_core::Segment::open(region, SegmentId(1), walfs_core::OpenOptions::default())
                    .unwrap();
            let scan = report.scan.unwrap();
            assert_eq!(scan.stop, walfs_core::ScanStop::CleanEnd, "round {round}");
            assert_eq!(scan.record_count, offsets.len() as u64);
            let frame = segment.read(offsets[3999]).unwrap();
            assert_eq!(segment.payload(&frame), Some(&payload[..]));
            // Dropped at once, while the read-ahead may still be populating.
            drop(segment);
        }
        storage.remove_segment(SegmentId(1)).unwrap();
    }

    /// A mapping that cannot be made when first needed (here: a read-write mapping of a file
    /// opened read-only) fails the access that needed it with an I/O error saying so; reads of
    /// the header, which need no mapping, still work.
    #[test]
    #[cfg(not(loom))]
    fn a_mapping_that_fails_on_first_use_is_an_io_error_of_that_access() {
        use walfs_core::region::{Region, RegionError, RegionErrorKind, RegionRead};

        let dir = tempfile::tempdir().unwrap();
        drop(new_segment(dir.path()));
        let path = dir.path().join(segment_file_name(SegmentId(1), ".wal"));
        let read_only_file = File::open(&path).unwrap();
        let mut region = MmapRegion::new(SharedMap::map(read_only_file, true).unwrap());
        let mut header = [0u8; 64];
        region.read_at(0, &mut header).unwrap();
        assert_ne!(header, [0u8; 64]);
        assert_eq!(region.bytes(64..128), None);
        let error = region.write_at(64, b"x").unwrap_err();
        assert_eq!(error.kind(), RegionErrorKind::Io, "{error}");
        assert!(error.to_string().contains("map segment"), "{error}");
        let mut view = crate::mmap::PinnedView::pin(region.shared()).unwrap();
        let error = view.read_at(64, &mut [0u8; 8]).unwrap_err();
        assert_eq!(error.kind(), RegionErrorKind::Io, "{error}");
    }

    #[test]
    fn only_canonical_names_are_segments() {
        assert_eq!(
            parse_segment_file_name("000000001.wal", ".wal"),
            Some(SegmentId(1))
        );
        assert_eq!(
            parse_segment_file_name("1000000000.wal", ".wal"),
            Some(SegmentId(1_000_000_000))
        );
        assert_eq!(
            parse_segment_file_name("000000000.wal", ".wal"),
            Some(SegmentId(0))
        );
        for name in [
            "1.wal",
            "foo.wal",
            "123abc.wal",
            "!!invalid.wal",
            "000000001.wal.idx",
            "+00000001.wal",
            "000000001.log",
            "99999999999.wal",
        ] {
            assert_eq!(parse_segment_file_name(name, ".wal"), None, "{name}");
        }
        assert_eq!(segment_file_name(SegmentId(42), ".wal"), "000000042.wal");
        assert_eq!(
            segment_file_name(SegmentId(7), "%d.x"),
            "000000007%d.x",
            "the extension is literal"
        );
    }
}
