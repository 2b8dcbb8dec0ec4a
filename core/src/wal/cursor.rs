//! A sequential reader over the whole WAL: the segment cursor of [`crate::cursor`], carried
//! from segment to segment. It follows rotation (a cursor at the end of a segment that gets
//! sealed continues in the next one) and reports a segment removed under it instead of
//! silently skipping its records (SPEC §13.7).

use super::WalEngine;
use crate::cursor::{CursorStep, SegmentCursor};
use crate::error::{Error, Result};
use crate::format::RecordFrame;
use crate::position::{Position, SegmentId};
use crate::storage::Storage;

/// One step of a [`WalCursor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalStep {
    /// The next record and its position; the cursor moved past it.
    Record(Position, RecordFrame),
    /// The cursor is at the end of the log: a record may still be appended.
    NoNewData,
}

/// A sequential reader's position in the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCursor {
    cursor: SegmentCursor,
}

impl WalCursor {
    /// A cursor at the first record of segment `segment`.
    pub const fn new(segment: SegmentId) -> Self {
        WalCursor {
            cursor: SegmentCursor::new(segment),
        }
    }

    /// A cursor at `position` (offsets inside the header mean the segment's first record).
    pub const fn at(position: Position) -> Self {
        WalCursor {
            cursor: SegmentCursor::at(position.segment, position.offset),
        }
    }

    /// Position of the next record to read.
    pub const fn next_position(&self) -> Position {
        self.cursor.next_position()
    }

    /// Position of the last record returned, if any.
    pub fn last_record_position(&self) -> Option<Position> {
        self.cursor.last_record_position()
    }

    /// The next record of `engine`'s log.
    ///
    /// Errors: [`Error::NoSuchSegment`] when the cursor's segment was removed (by retention or
    /// truncation); the errors of a damaged record (the cursor does not move, so they repeat).
    pub fn next<S: Storage>(&mut self, engine: &mut WalEngine<S>) -> Result<WalStep, S::Error> {
        loop {
            let id = self.cursor.segment();
            let Some(slot) = engine.segments.get_mut(&id) else {
                if id > engine.active {
                    return Ok(WalStep::NoNewData);
                }
                return Err(Error::NoSuchSegment { segment: id });
            };
            match self.cursor.next_in(&mut slot.segment)? {
                CursorStep::Record(frame) => {
                    return Ok(WalStep::Record(Position::new(id, frame.offset), frame));
                }
                CursorStep::NoNewData => return Ok(WalStep::NoNewData),
                CursorStep::EndOfSegment => {
                    let next = engine
                        .segments
                        .range(id.next().unwrap_or(id)..)
                        .map(|(&next, _)| next)
                        .find(|&next| next > id);
                    match next {
                        Some(next) => self.cursor = SegmentCursor::new(next),
                        None => return Ok(WalStep::NoNewData),
                    }
                }
            }
        }
    }
}
