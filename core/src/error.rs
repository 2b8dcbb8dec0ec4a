//! The one error type of walfs-core, and the reasons a frame or header is judged damaged.
//!
//! Every variant names the segment and, where there is one, the offset; nothing is formatted
//! until `Display` runs, and nothing allocates.

use core::fmt;

use crate::position::SegmentId;
use crate::region::{RegionError, RegionErrorKind};

/// Why bytes that should hold a header or a record frame do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CorruptionReason {
    /// The stored record CRC differs from the CRC of the length and payload.
    BadCrc {
        /// CRC stored in the frame.
        stored: u32,
        /// CRC computed from the bytes.
        computed: u32,
    },
    /// The record's CRC field is zero and does not match: typically a frame whose length reached
    /// the medium but whose CRC did not.
    ZeroCrc {
        /// CRC computed from the bytes.
        computed: u32,
    },
    /// The 8 bytes after the payload are not `DE AD BE EF FE ED FA CE`.
    BadTrailer,
    /// The length field reaches past the end of the data (or of the segment).
    LengthOutOfRange {
        /// The length field.
        length: u32,
    },
    /// The frame reads as erased space, but a record must be there: the durable watermark lies
    /// beyond it, or bytes that are not erased follow it.
    Erased,
    /// The header's CRC does not match its bytes.
    BadHeaderCrc {
        /// CRC stored in bytes 56..60.
        stored: u32,
        /// CRC of bytes 0..56.
        computed: u32,
    },
    /// The 64 header bytes are all erased: the header never reached the medium.
    ErasedHeader,
    /// The header's magic is not `0x5557414C`.
    BadMagic {
        /// The magic found.
        found: u32,
    },
    /// The header's version is not 1.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The header's `write_offset` cannot be an end of data in this segment.
    BadWriteOffset {
        /// The field's value.
        write_offset: u64,
    },
    /// A sealed segment's records do not end where its header says.
    SealedEndMismatch {
        /// End recorded in the header.
        header_end: u64,
        /// End of the valid records found by the scan.
        scanned_end: u64,
    },
    /// A sealed walfs segment holds a different number of records than its header says. (Only
    /// checked for segments with the watermark flag: the Go original's recovery can leave a stale
    /// count in a sealed header, SPEC §13.16.)
    SealedCountMismatch {
        /// Count recorded in the header.
        header_count: u64,
        /// Records found by the scan.
        scanned_count: u64,
    },
}

impl fmt::Display for CorruptionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CorruptionReason::BadCrc { stored, computed } => write!(
                f,
                "record CRC mismatch (stored {stored:08x}, computed {computed:08x})"
            ),
            CorruptionReason::ZeroCrc { computed } => write!(
                f,
                "record CRC field is zero (computed {computed:08x}): the frame was not fully written"
            ),
            CorruptionReason::BadTrailer => f.write_str("record trailer is not DEADBEEFFEEDFACE"),
            CorruptionReason::LengthOutOfRange { length } => {
                write!(f, "record length {length} reaches past the end of the data")
            }
            CorruptionReason::Erased => f.write_str("erased bytes where a record must be"),
            CorruptionReason::BadHeaderCrc { stored, computed } => write!(
                f,
                "segment header CRC mismatch (stored {stored:08x}, computed {computed:08x})"
            ),
            CorruptionReason::ErasedHeader => f.write_str("segment header was never written"),
            CorruptionReason::BadMagic { found } => {
                write!(f, "segment header magic {found:08x} is not 5557414c")
            }
            CorruptionReason::UnsupportedVersion { found } => {
                write!(
                    f,
                    "segment format version {found} is not supported (only 1)"
                )
            }
            CorruptionReason::BadWriteOffset { write_offset } => {
                write!(
                    f,
                    "segment header write_offset {write_offset} is out of range"
                )
            }
            CorruptionReason::SealedEndMismatch {
                header_end,
                scanned_end,
            } => write!(
                f,
                "sealed segment's records end at {scanned_end}, its header says {header_end}"
            ),
            CorruptionReason::SealedCountMismatch {
                header_count,
                scanned_count,
            } => write!(
                f,
                "sealed segment holds {scanned_count} records, its header says {header_count}"
            ),
        }
    }
}

/// Errors of walfs-core; `E` is the error type of the region (the storage medium).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The region (file, RAM, flash) failed.
    Region {
        /// Segment whose region failed.
        segment: SegmentId,
        /// Offset of the access that failed.
        offset: u64,
        /// The region's error.
        source: E,
    },
    /// Bytes that must hold a valid header or record do not.
    Corrupt {
        /// Damaged segment.
        segment: SegmentId,
        /// Offset of the damaged header (0) or frame.
        offset: u64,
        /// What is wrong.
        reason: CorruptionReason,
    },
    /// A payload longer than any segment of this capacity can hold.
    RecordTooLarge {
        /// Segment that refused it.
        segment: SegmentId,
        /// Position of the record in its batch (0 for a single append).
        batch_index: usize,
        /// Its length.
        payload_len: u64,
        /// The largest payload the segment capacity allows.
        max_payload_len: u64,
    },
    /// The record does not fit in the space left; a new segment takes it.
    SegmentFull {
        /// The full segment.
        segment: SegmentId,
        /// Where the record would start.
        offset: u64,
        /// Bytes its frame needs.
        frame_len: u64,
    },
    /// Appends to a sealed segment are refused.
    Sealed {
        /// The sealed segment.
        segment: SegmentId,
    },
    /// A write, persist or sync of this segment failed earlier; the segment refuses every later
    /// change, since the medium's state is unknown (retrying a failed sync would lie). Reopen it.
    Poisoned {
        /// The poisoned segment.
        segment: SegmentId,
        /// Kind of the first failure.
        first_failure: RegionErrorKind,
    },
    /// An offset inside the 64-byte header was given as a record position.
    OffsetBeforeHeader {
        /// Segment addressed.
        segment: SegmentId,
        /// The offset given.
        offset: u64,
    },
    /// An offset beyond the segment's capacity.
    OffsetOutOfBounds {
        /// Segment addressed.
        segment: SegmentId,
        /// The offset given.
        offset: u64,
        /// The segment's capacity.
        capacity: u64,
    },
    /// An offset that is not a multiple of 8 cannot start a record.
    NotARecordStart {
        /// Segment addressed.
        segment: SegmentId,
        /// The offset given.
        offset: u64,
    },
    /// No record at or after this offset yet: it is at or beyond the end of the data.
    NoRecord {
        /// Segment addressed.
        segment: SegmentId,
        /// The offset given.
        offset: u64,
        /// The end of the data.
        end: u64,
    },
    /// A log index that does not continue the segment's contiguous run (SPEC §13.6).
    LogIndexMismatch {
        /// Segment written to.
        segment: SegmentId,
        /// The log index the next record must carry (0: none, the segment's records have none).
        expected: u64,
        /// The log index given.
        found: u64,
    },
    /// The segment's log indexes reached `u64::MAX`: no later record can carry the next one.
    LogIndexOverflow {
        /// Segment written to.
        segment: SegmentId,
    },
    /// Truncation asked to keep more records than the segment holds.
    TruncateBeyondEnd {
        /// Segment addressed.
        segment: SegmentId,
        /// Records asked to keep.
        keep: u64,
        /// Records present.
        record_count: u64,
    },
    /// The marker stored in the header was rejected by the caller's validator.
    MarkerRejected {
        /// Segment whose marker was rejected.
        segment: SegmentId,
        /// The stored marker.
        marker: u32,
    },
    /// The region's capacity is not a valid segment size (80 bytes to 4 GiB).
    BadCapacity {
        /// Segment whose region was given.
        segment: SegmentId,
        /// The region's capacity.
        capacity: u64,
    },
    /// A caller's buffer is too small for the payload.
    BufferTooSmall {
        /// Segment read.
        segment: SegmentId,
        /// Offset of the record.
        offset: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// The segment was opened read-only.
    ReadOnly {
        /// Segment addressed.
        segment: SegmentId,
    },
    /// An operation of the storage (the directory of segments) failed.
    #[cfg(feature = "alloc")]
    Storage {
        /// What the storage was doing.
        op: crate::storage::StorageOp,
        /// The segment concerned, if the operation concerns one.
        segment: Option<SegmentId>,
        /// The storage's error.
        source: E,
    },
    /// No segment with this id exists (any more).
    NoSuchSegment {
        /// The id asked for.
        segment: SegmentId,
    },
    /// Segment ids are exhausted (`u32::MAX` reached).
    SegmentIdOverflow {
        /// The last segment.
        segment: SegmentId,
    },
    /// Only the oldest segment can be removed (the log stays a contiguous run of segments), and
    /// never the active one.
    NotRemovable {
        /// The segment asked for.
        segment: SegmentId,
    },
    /// The log index is beyond the last one written.
    LogIndexNotYetAvailable {
        /// The log index asked for.
        requested: u64,
        /// The last log index written (0 = none).
        last: u64,
    },
    /// The log index was removed by retention or lies before the first one kept.
    LogIndexTruncated {
        /// The log index asked for.
        requested: u64,
        /// The first log index still available.
        first: u64,
    },
    /// The operation needs to overwrite bytes, which this medium cannot do without an erase
    /// (NOR flash): truncation. (A torn NOR segment refuses appends with
    /// [`Error::SegmentFull`], so the owner rotates to a fresh one.)
    NeedsOverwrite {
        /// Segment addressed.
        segment: SegmentId,
    },
}

impl<E> Error<E> {
    /// The segment the error is about, if it concerns one.
    pub fn segment(&self) -> Option<SegmentId> {
        Some(match *self {
            Error::Region { segment, .. }
            | Error::Corrupt { segment, .. }
            | Error::RecordTooLarge { segment, .. }
            | Error::SegmentFull { segment, .. }
            | Error::Sealed { segment }
            | Error::Poisoned { segment, .. }
            | Error::OffsetBeforeHeader { segment, .. }
            | Error::OffsetOutOfBounds { segment, .. }
            | Error::NotARecordStart { segment, .. }
            | Error::NoRecord { segment, .. }
            | Error::LogIndexMismatch { segment, .. }
            | Error::LogIndexOverflow { segment }
            | Error::TruncateBeyondEnd { segment, .. }
            | Error::MarkerRejected { segment, .. }
            | Error::BadCapacity { segment, .. }
            | Error::BufferTooSmall { segment, .. }
            | Error::ReadOnly { segment }
            | Error::NoSuchSegment { segment }
            | Error::SegmentIdOverflow { segment }
            | Error::NotRemovable { segment }
            | Error::NeedsOverwrite { segment } => segment,
            #[cfg(feature = "alloc")]
            Error::Storage { segment, .. } => return segment,
            Error::LogIndexNotYetAvailable { .. } | Error::LogIndexTruncated { .. } => return None,
        })
    }

    /// The corruption reason, if this error reports damaged bytes.
    pub fn corruption(&self) -> Option<CorruptionReason> {
        match *self {
            Error::Corrupt { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl<E: RegionError> fmt::Display for Error<E> {
    #[allow(clippy::too_many_lines, reason = "one message per variant")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Region {
                segment,
                offset,
                source,
            } => write!(
                f,
                "segment {segment}: storage failed at offset {offset}: {source}"
            ),
            Error::Corrupt {
                segment,
                offset,
                reason,
            } => write!(f, "segment {segment}: corrupt at offset {offset}: {reason}"),
            Error::RecordTooLarge {
                segment,
                batch_index,
                payload_len,
                max_payload_len,
            } => write!(
                f,
                "segment {segment}: record {batch_index} of {payload_len} bytes exceeds the \
                 maximum of {max_payload_len} bytes"
            ),
            Error::SegmentFull {
                segment,
                offset,
                frame_len,
            } => write!(
                f,
                "segment {segment} is full: a {frame_len}-byte frame does not fit at offset {offset}"
            ),
            Error::Sealed { segment } => write!(f, "segment {segment} is sealed"),
            Error::Poisoned {
                segment,
                first_failure,
            } => write!(
                f,
                "segment {segment} refuses changes after an earlier {first_failure:?} failure; \
                 reopen it to recover what reached the medium"
            ),
            Error::OffsetBeforeHeader { segment, offset } => write!(
                f,
                "segment {segment}: offset {offset} lies inside the 64-byte header"
            ),
            Error::OffsetOutOfBounds {
                segment,
                offset,
                capacity,
            } => write!(
                f,
                "segment {segment}: offset {offset} is beyond the segment size {capacity}"
            ),
            Error::NotARecordStart { segment, offset } => write!(
                f,
                "segment {segment}: offset {offset} is not 8-byte aligned, so no record starts there"
            ),
            Error::NoRecord {
                segment,
                offset,
                end,
            } => write!(
                f,
                "segment {segment}: no record at offset {offset}, the data ends at {end}"
            ),
            Error::LogIndexMismatch {
                segment,
                expected,
                found,
            } => write!(
                f,
                "segment {segment}: log index {found} does not continue the segment (expected {expected})"
            ),
            Error::LogIndexOverflow { segment } => {
                write!(f, "segment {segment}: log indexes would pass u64::MAX")
            }
            Error::TruncateBeyondEnd {
                segment,
                keep,
                record_count,
            } => write!(
                f,
                "segment {segment}: cannot keep {keep} records, it holds {record_count}"
            ),
            Error::MarkerRejected { segment, marker } => write!(
                f,
                "segment {segment}: marker {marker:08x} rejected by the validator"
            ),
            Error::BadCapacity { segment, capacity } => write!(
                f,
                "segment {segment}: size {capacity} is outside 80 bytes ..= 4 GiB"
            ),
            Error::BufferTooSmall {
                segment,
                offset,
                needed,
            } => write!(
                f,
                "segment {segment}: record at offset {offset} needs a {needed}-byte buffer"
            ),
            Error::ReadOnly { segment } => {
                write!(f, "segment {segment} was opened read-only")
            }
            #[cfg(feature = "alloc")]
            Error::Storage {
                op,
                segment: Some(segment),
                source,
            } => write!(f, "segment {segment}: storage {op:?} failed: {source}"),
            #[cfg(feature = "alloc")]
            Error::Storage {
                op,
                segment: None,
                source,
            } => write!(f, "storage {op:?} failed: {source}"),
            Error::NoSuchSegment { segment } => write!(f, "segment {segment} does not exist"),
            Error::SegmentIdOverflow { segment } => {
                write!(f, "segment {segment}: no segment id follows it")
            }
            Error::NotRemovable { segment } => write!(
                f,
                "segment {segment} cannot be removed: only the oldest sealed segment can"
            ),
            Error::LogIndexNotYetAvailable { requested, last } => write!(
                f,
                "log index {requested} not yet available (last written: {last})"
            ),
            Error::LogIndexTruncated { requested, first } => write!(
                f,
                "log index {requested} truncated (first available: {first})"
            ),
            Error::NeedsOverwrite { segment } => write!(
                f,
                "segment {segment}: the medium cannot overwrite written bytes without an erase"
            ),
        }
    }
}

impl<E: RegionError + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Region { source, .. } => source.as_error(),
            #[cfg(feature = "alloc")]
            Error::Storage { source, .. } => source.as_error(),
            _ => None,
        }
    }
}

/// Result of walfs-core operations over a region with error `E`.
pub type Result<T, E> = core::result::Result<T, Error<E>>;

pub(crate) fn region_err<E>(segment: SegmentId, offset: u64) -> impl FnOnce(E) -> Error<E> {
    move |source| Error::Region {
        segment,
        offset,
        source,
    }
}

/// Kind of a region error, for poisoning.
pub(crate) fn kind_of<E: RegionError>(error: &Error<E>) -> RegionErrorKind {
    match error {
        Error::Region { source, .. } => source.kind(),
        #[cfg(feature = "alloc")]
        Error::Storage { source, .. } => source.kind(),
        _ => RegionErrorKind::Other,
    }
}
