//! The reader state machine of SPEC §5.3: where a sequential reader of one segment stands, and
//! what its next step returns — a record, "no new data yet" at the end of an active segment, or
//! the end of a sealed segment.
//!
//! The cursor is pure state; it reads through [`RegionRead`] and takes the segment's published
//! state as an argument, so the std backend can drive it from a shared view without the writer's
//! lock. The caller must load `sealed` *before* `end`: if a reader sees "sealed" and then an end
//! it has reached, no record can follow (sealing does not move the end, and every append happens
//! before the seal).

use crate::error::Result;
use crate::format::{HEADER_LEN, RecordFrame};
use crate::position::{Position, SegmentId};
use crate::record::{CrcCheck, read_record};
use crate::region::{Region, RegionRead};
use crate::segment::Segment;

/// The state of a segment as a reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedEnd {
    /// Whether the segment was sealed (loaded first).
    pub sealed: bool,
    /// The end of the data (loaded second).
    pub end: u64,
}

/// One step of a [`SegmentCursor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorStep {
    /// The next record; the cursor has moved past it.
    Record(RecordFrame),
    /// The cursor is at the end of an active segment: a record may still be appended.
    NoNewData,
    /// The cursor is at the end of a sealed segment: no record will follow in this segment.
    EndOfSegment,
}

/// A sequential reader's position in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCursor {
    segment: SegmentId,
    offset: u64,
    last_record: Option<u64>,
}

impl SegmentCursor {
    /// A cursor at the first record of `segment`.
    pub const fn new(segment: SegmentId) -> Self {
        SegmentCursor {
            segment,
            offset: HEADER_LEN as u64,
            last_record: None,
        }
    }

    /// A cursor at `offset`; offsets inside the header mean "the first record" (SPEC §5.5).
    pub const fn at(segment: SegmentId, offset: u64) -> Self {
        let offset = if offset < HEADER_LEN as u64 {
            HEADER_LEN as u64
        } else {
            offset
        };
        SegmentCursor {
            segment,
            offset,
            last_record: None,
        }
    }

    /// The segment read.
    pub const fn segment(&self) -> SegmentId {
        self.segment
    }

    /// Offset of the next record to read.
    pub const fn offset(&self) -> u64 {
        self.offset
    }

    /// Position of the next record to read.
    pub const fn next_position(&self) -> Position {
        Position::new(self.segment, self.offset)
    }

    /// Position of the last record returned, if any (never panics, unlike the original's
    /// `LastRecordPosition`).
    pub fn last_record_position(&self) -> Option<Position> {
        self.last_record
            .map(|offset| Position::new(self.segment, offset))
    }

    /// The next step. On an error the cursor does not move, so the same error repeats.
    pub fn next<R: RegionRead>(
        &mut self,
        region: &mut R,
        published: PublishedEnd,
        check: CrcCheck,
    ) -> Result<CursorStep, R::Error> {
        if self.offset >= published.end {
            return Ok(if published.sealed {
                CursorStep::EndOfSegment
            } else {
                CursorStep::NoNewData
            });
        }
        let frame = read_record(region, self.segment, self.offset, published.end, check)?;
        self.last_record = Some(frame.offset);
        self.offset = frame.next_offset();
        Ok(CursorStep::Record(frame))
    }

    /// The next step over a [`Segment`] owned by the caller.
    pub fn next_in<R: Region>(&mut self, segment: &mut Segment<R>) -> Result<CursorStep, R::Error> {
        let published = PublishedEnd {
            sealed: segment.is_sealed(),
            end: segment.end(),
        };
        self.next(segment.region_mut(), published, CrcCheck::Verify)
    }
}
