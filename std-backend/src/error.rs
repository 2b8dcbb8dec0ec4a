//! Errors of walfs: [`Error`], and [`FsError`], the error of the file storage that the core's
//! errors carry.

use std::fmt;
use std::io;
use std::path::PathBuf;

use walfs_core::region::{RegionError, RegionErrorKind};
use walfs_core::{CorruptionReason, SegmentId};

/// A failure of the file storage: the operation, the file and the OS error.
#[derive(Debug)]
pub struct FsError {
    kind: RegionErrorKind,
    op: &'static str,
    path: Option<PathBuf>,
    source: Option<io::Error>,
}

impl FsError {
    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        let kind = match source.raw_os_error() {
            Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error() => {
                RegionErrorKind::NoSpace
            }
            _ => RegionErrorKind::Io,
        };
        FsError {
            kind,
            op,
            path: None,
            source: Some(source),
        }
    }

    pub(crate) fn kind(kind: RegionErrorKind, op: &'static str) -> Self {
        FsError {
            kind,
            op,
            path: None,
            source: None,
        }
    }

    pub(crate) fn at(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// What was being done.
    pub fn operation(&self) -> &'static str {
        self.op
    }

    /// The file or directory concerned.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The OS error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op)?;
        if let Some(path) = &self.path {
            write!(f, " {}", path.display())?;
        }
        match &self.source {
            Some(source) => write!(f, ": {source}"),
            None => write!(f, ": {:?}", self.kind),
        }
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl RegionError for FsError {
    fn kind(&self) -> RegionErrorKind {
        self.kind
    }

    fn as_error(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(self)
    }
}

/// The errors of walfs.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An error of the log: corruption (with segment, offset and reason), a record too large, a
    /// log index out of order or out of range, an unknown position, a storage failure, a
    /// poisoned WAL (see [`Error::is_poisoned`]), ...
    Wal(walfs_core::Error<FsError>),
    /// Another `Wal` (in this or another process) has the directory open.
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// Opening the directory failed.
    Dir(FsError),
    /// Truncation would change bytes that a reader or a record view of these segments holds;
    /// drop them and retry.
    SegmentInUse {
        /// The segment held.
        segment: SegmentId,
    },
    /// A reader was used after its segment was removed by retention or truncation.
    Closed,
    /// Backing up a segment failed.
    Backup(FsError),
}

impl Error {
    /// Whether an earlier failed write or sync poisoned the WAL: every later change fails until
    /// it is reopened (the page cache may have dropped data that a retry would report durable).
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Wal(walfs_core::Error::Poisoned { .. }))
    }

    /// The damage, if this error reports corrupt data: segment, offset and reason.
    pub fn corruption(&self) -> Option<(SegmentId, u64, CorruptionReason)> {
        match self {
            Error::Wal(walfs_core::Error::Corrupt {
                segment,
                offset,
                reason,
            }) => Some((*segment, *offset, *reason)),
            _ => None,
        }
    }

    /// Whether the medium is full.
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::Wal(error) => match error {
                walfs_core::Error::Region { source, .. }
                | walfs_core::Error::Storage { source, .. } => {
                    source.kind() == RegionErrorKind::NoSpace
                }
                walfs_core::Error::Poisoned { first_failure, .. } => {
                    *first_failure == RegionErrorKind::NoSpace
                }
                _ => false,
            },
            Error::Dir(error) => error.kind() == RegionErrorKind::NoSpace,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Wal(error) => fmt::Display::fmt(error, f),
            Error::Locked { dir } => write!(
                f,
                "{}: the WAL is open in another Wal handle or process",
                dir.display()
            ),
            Error::Dir(error) => fmt::Display::fmt(error, f),
            Error::SegmentInUse { segment } => write!(
                f,
                "segment {segment} is held by a reader or record view; drop them before truncating"
            ),
            Error::Closed => f.write_str("the reader's segment was removed"),
            Error::Backup(error) => write!(f, "backup: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Wal(error) => Some(error),
            Error::Dir(error) | Error::Backup(error) => Some(error),
            _ => None,
        }
    }
}

impl From<walfs_core::Error<FsError>> for Error {
    fn from(error: walfs_core::Error<FsError>) -> Self {
        Error::Wal(error)
    }
}

/// Result of walfs operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
