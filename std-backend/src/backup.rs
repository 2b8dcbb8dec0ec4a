//! Backups of sealed segments (`BackupLastRotatedSegment`, `BackupSegmentsAfter`), with the
//! original's weak points fixed (SPEC §13.13): each file is copied to a temporary name unique to
//! the process and the call, `fsync`ed and renamed over the destination (never delete then
//! rename), the index file is copied too, the destination directory is `fsync`ed, and the
//! destination is compared with the WAL directory after resolving both paths (symlinks and
//! different spellings included). The segments stay held while they are copied, so retention
//! cannot remove them under the copy.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use walfs_core::SegmentId;
use walfs_core::region::RegionErrorKind;

use crate::error::{Error, FsError, Result};
use crate::sync::{Ordering, StaticCounter};
use crate::wal::Wal;

static BACKUP_COUNTER: StaticCounter = StaticCounter::new(0);

impl Wal {
    /// Copies every sealed segment with an id above `after` (and its index file) into
    /// `dest_dir`, created if missing. Returns the path of each segment's copy. Errors:
    /// [`Error::Backup`] for the files, `NoSuchSegment` if no sealed segment follows `after`.
    pub fn backup_segments_after(
        &self,
        after: SegmentId,
        dest_dir: impl AsRef<Path>,
    ) -> Result<BTreeMap<SegmentId, PathBuf>> {
        let dest_dir = prepare_dest(&self.dir(), dest_dir.as_ref())?;
        let segments = self.shared().sealed_after(after);
        if segments.is_empty() {
            return Err(walfs_core::Error::NoSuchSegment {
                segment: after.next().unwrap_or(after),
            }
            .into());
        }
        let mut copies = BTreeMap::new();
        for (id, _held, segment_path, index_path) in &segments {
            let copy = copy_file(segment_path, &dest_dir)?;
            if index_path.exists() {
                copy_file(index_path, &dest_dir)?;
            }
            copies.insert(*id, copy);
        }
        sync_dir(&dest_dir)?;
        Ok(copies)
    }

    /// Copies the most recently sealed segment (and its index file) into `dest_dir`.
    pub fn backup_last_sealed(&self, dest_dir: impl AsRef<Path>) -> Result<(SegmentId, PathBuf)> {
        let dest_dir = prepare_dest(&self.dir(), dest_dir.as_ref())?;
        let segments = self.shared().sealed_after(SegmentId(0));
        let Some((id, _held, segment_path, index_path)) = segments.last() else {
            return Err(walfs_core::Error::NoSuchSegment {
                segment: SegmentId(0),
            }
            .into());
        };
        let copy = copy_file(segment_path, &dest_dir)?;
        if index_path.exists() {
            copy_file(index_path, &dest_dir)?;
        }
        sync_dir(&dest_dir)?;
        Ok((*id, copy))
    }
}

fn backup_error(op: &'static str, path: &Path, error: std::io::Error) -> Error {
    Error::Backup(FsError::io(op, error).at(path))
}

/// Creates `dest` and checks that it is not the WAL directory.
fn prepare_dest(wal_dir: &Path, dest: &Path) -> Result<PathBuf> {
    if dest.as_os_str().is_empty() {
        return Err(Error::Backup(FsError::kind(
            RegionErrorKind::Other,
            "backup directory is empty",
        )));
    }
    fs::create_dir_all(dest).map_err(|e| backup_error("create backup directory", dest, e))?;
    let resolved =
        fs::canonicalize(dest).map_err(|e| backup_error("resolve backup directory", dest, e))?;
    let wal =
        fs::canonicalize(wal_dir).map_err(|e| backup_error("resolve WAL directory", wal_dir, e))?;
    if resolved == wal {
        return Err(Error::Backup(
            FsError::kind(
                RegionErrorKind::Other,
                "backup directory is the WAL directory",
            )
            .at(dest),
        ));
    }
    Ok(resolved)
}

/// Copies `source` into `dest_dir` under the same name: temporary file, fsync, rename.
fn copy_file(source: &Path, dest_dir: &Path) -> Result<PathBuf> {
    let name = source.file_name().ok_or_else(|| {
        backup_error(
            "name backup",
            source,
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    let dest = dest_dir.join(name);
    let temp = dest_dir.join(format!(
        "{}.tmp{}-{}.walfs",
        name.to_string_lossy(),
        std::process::id(),
        BACKUP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        fs::copy(source, &temp).map_err(|e| backup_error("copy segment", &temp, e))?;
        File::open(&temp)
            .and_then(|file| file.sync_all())
            .map_err(|e| backup_error("fsync backup", &temp, e))?;
        fs::rename(&temp, &dest).map_err(|e| backup_error("rename backup", &dest, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| dest)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|e| backup_error("fsync backup directory", dir, e))
}
