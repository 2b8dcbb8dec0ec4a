//! `Options`: how a [`Wal`](crate::Wal) is opened. The defaults equal the Go original's:
//! 16 MiB segments, the `.wal` extension, no sync on write.

use walfs_core::RepairPolicy;

use crate::sync::Arc;
use walfs_core::format::SEGMENT_SIZE_DEFAULT;

/// When appends are made durable without an explicit [`Wal::sync`](crate::Wal::sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Only [`Wal::sync`](crate::Wal::sync) (and sealing at rotation) make records durable
    /// (the Go original's default).
    #[default]
    Manual,
    /// Every append and batch is synced before it returns (`WithMSyncEveryWrite`).
    EveryWrite,
    /// A sync runs once this many frame bytes were appended since the last one
    /// (`WithBytesPerSync`).
    Bytes(u64),
}

/// A function called after each rotation with the new active segment's id.
#[derive(Clone)]
pub(crate) struct RotationHook(pub(crate) Arc<HookFn>);

/// The function of a [`RotationHook`].
pub(crate) type HookFn = Box<dyn Fn(walfs_core::SegmentId) + Send + Sync>;

impl std::fmt::Debug for RotationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationHook")
    }
}

/// Options of [`Wal::open`](crate::Wal::open).
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent switches of a builder, each set by its own method"
)]
pub struct Options {
    pub(crate) segment_size: u64,
    pub(crate) ext: String,
    pub(crate) sync: SyncPolicy,
    pub(crate) marker: u32,
    pub(crate) marker_validator: Option<fn(u32) -> bool>,
    pub(crate) repair: RepairPolicy,
    pub(crate) verify_sealed: bool,
    pub(crate) read_only: bool,
    pub(crate) commit_check: bool,
    pub(crate) prepare_segments: bool,
    pub(crate) on_rotate: Option<RotationHook>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: SEGMENT_SIZE_DEFAULT,
            ext: ".wal".to_owned(),
            sync: SyncPolicy::Manual,
            marker: 0,
            marker_validator: None,
            repair: RepairPolicy::Refuse,
            verify_sealed: false,
            read_only: false,
            commit_check: false,
            prepare_segments: true,
            on_rotate: None,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Size of new segment files (default 16 MiB; at most 4 GiB). Existing segments keep their
    /// size.
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Extension of segment files, used literally (default `.wal`).
    #[must_use]
    pub fn extension(mut self, ext: &str) -> Self {
        ext.clone_into(&mut self.ext);
        self
    }

    /// When appends are synced without an explicit call (default: never).
    #[must_use]
    pub fn sync_policy(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// Marker stored in new segments' headers (`WithCustomMarker`).
    #[must_use]
    pub fn marker(mut self, marker: u32) -> Self {
        self.marker = marker;
        self
    }

    /// Validator of existing segments' markers; `false` refuses the open
    /// (`WithCustomMarkerValidator`).
    #[must_use]
    pub fn marker_validator(mut self, validator: fn(u32) -> bool) -> Self {
        self.marker_validator = Some(validator);
        self
    }

    /// What to do with damage below a durable watermark (default: refuse to open, naming it).
    #[must_use]
    pub fn repair(mut self, policy: RepairPolicy) -> Self {
        self.repair = policy;
        self
    }

    /// Check every record of sealed segments when opening (default: check each when read).
    #[must_use]
    pub fn verify_sealed(mut self, verify: bool) -> Self {
        self.verify_sealed = verify;
        self
    }

    /// Open without a lock and without changing a byte; every change is refused. For tools that
    /// inspect a log another process may be writing.
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Calls `hook` with the new active segment's id after each rotation
    /// (`WithOnSegmentRotated`). Unlike the original's, it runs after the writer's lock is
    /// released, so it may call the `Wal` (SPEC §13.24).
    #[must_use]
    pub fn on_rotate(
        mut self,
        hook: impl Fn(walfs_core::SegmentId) + Send + Sync + 'static,
    ) -> Self {
        self.on_rotate = Some(RotationHook(Arc::new(Box::new(hook))));
        self
    }

    /// Zero each new segment's pages ahead of the writer in a background thread (default: on).
    /// The first store to a page of a file mapping takes a write fault that costs the file
    /// system several times the store itself (about 2.4 µs per 4 KiB page on ext4); prepared
    /// pages take a cheap one. Off: no thread, and appends pay those faults. The zeros change
    /// no byte of the file and are never part of a sync.
    #[must_use]
    pub fn prepare_segments(mut self, prepare: bool) -> Self {
        self.prepare_segments = prepare;
        self
    }

    /// Readers stop at the committed position (`WithReaderCommitCheck`).
    #[must_use]
    pub fn commit_check(mut self, check: bool) -> Self {
        self.commit_check = check;
        self
    }
}
