//! `Reader`: a sequential reader of the whole log that follows rotation and can wait for new
//! data (SPEC §13.7). It takes no lock on its hot path: it pins the mapping of its segment,
//! loads the published end and runs walfs-core's cursor; only entering another segment looks
//! the segment up in the readers' table.
//!
//! A reader reports what the Go original hides: a segment removed under it is an error
//! ([`Error::Closed`]), and so is a truncation that cut the log before its position
//! ([`Error::Wal`] with `NoRecord`), instead of a silent jump.

use std::time::{Duration, Instant};

use walfs_core::{CrcCheck, CursorStep, Position, SegmentCursor, SegmentId};

use crate::error::{Error, Result};
use crate::gate::REMOVED;
use crate::mmap::{PinnedView, RecordView, SharedMap};
use crate::sync::Arc;
use crate::wal::Shared;

/// A record read by a [`Reader`]: its position and its payload (zero-copy).
#[derive(Debug)]
pub struct Record {
    position: Position,
    payload: RecordView,
}

impl Record {
    /// Where the record is.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload view, which keeps its segment mapped while it lives.
    pub fn into_payload(self) -> RecordView {
        self.payload
    }
}

impl std::ops::Deref for Record {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.payload
    }
}

/// A sequential reader. Not shared between threads (it is `Send`, so it can move).
#[derive(Debug)]
pub struct Reader {
    shared: Arc<Shared>,
    cursor: SegmentCursor,
    /// The mapping of the cursor's segment and the truncation epoch last seen.
    current: Option<(Arc<SharedMap>, u64)>,
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, start: Position) -> Self {
        Reader {
            shared,
            cursor: SegmentCursor::at(start.segment, start.offset),
            current: None,
        }
    }

    /// Position of the next record to read.
    pub fn next_position(&self) -> Position {
        self.cursor.next_position()
    }

    /// Position of the last record returned.
    pub fn last_position(&self) -> Option<Position> {
        self.cursor.last_record_position()
    }

    /// The next record, or `None` when there is none yet (end of the log, or the commit
    /// barrier). Follows rotation into the next segment.
    #[allow(
        clippy::should_implement_trait,
        reason = "`None` means \"nothing yet\", not the end of an iterator; the Go API's name"
    )]
    pub fn next(&mut self) -> Result<Option<Record>> {
        loop {
            if self.shared.commit_check()
                && self
                    .shared
                    .committed()
                    .is_none_or(|committed| self.cursor.next_position() > committed)
            {
                return Ok(None);
            }
            let segment = self.cursor.segment();
            // `current` holds the segment's mapping once a read found it; checking it needs no
            // lookup and no new reference (this is the path of every read but the first of a
            // segment).
            let map: &Arc<SharedMap> = if let Some((map, epoch)) = &mut self.current {
                let now = map.epoch();
                if now == REMOVED {
                    return Err(Error::Closed);
                }
                if now != *epoch {
                    // The segment was truncated since the last read: the position is still a
                    // record start only if no cut went below it.
                    if map.cut_below(*epoch, self.cursor.offset()) {
                        return Err(walfs_core::Error::NoRecord {
                            segment,
                            offset: self.cursor.offset(),
                            end: map.published().end,
                        }
                        .into());
                    }
                    *epoch = now;
                }
                map
            } else if let Some(map) = self.shared.map(segment) {
                let epoch = map.epoch();
                &self.current.insert((map, epoch)).0
            } else {
                let beyond = self
                    .shared
                    .id_range()
                    .is_none_or(|(_, last)| segment > last);
                return if beyond { Ok(None) } else { Err(Error::Closed) };
            };
            let Some(mut view) = PinnedView::pin(map) else {
                return Ok(None); // a truncation holds the segment right now
            };
            let published = map.published();
            match self.cursor.next(&mut view, published, CrcCheck::Verify)? {
                CursorStep::Record(frame) => {
                    let position = Position::new(segment, frame.offset);
                    let payload = view.into_record(frame.payload_range()).ok_or(
                        walfs_core::Error::NoRecord {
                            segment,
                            offset: frame.offset,
                            end: published.end,
                        },
                    )?;
                    return Ok(Some(Record { position, payload }));
                }
                CursorStep::NoNewData => return Ok(None),
                CursorStep::EndOfSegment => {
                    drop(view);
                    match self.shared.next_map(segment) {
                        Some((next, next_map)) => {
                            self.cursor = SegmentCursor::new(next);
                            let epoch = next_map.epoch();
                            self.current = Some((next_map, epoch));
                        }
                        None => return Ok(None),
                    }
                }
            }
        }
    }

    /// The next record, waiting up to `timeout` for one to be appended.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Record>> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.shared.appended();
            if let Some(record) = self.next()? {
                return Ok(Some(record));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.shared.wait_for_append(seen, deadline - now);
        }
    }

    /// The segment the reader is in.
    pub fn segment(&self) -> SegmentId {
        self.cursor.segment()
    }
}

/// A [`Reader`] that applies a decoder to every payload it returns (the Go original's
/// `WithDecoder`, SPEC §5.7). Made by [`Reader::with_decoder`].
///
/// Errors of the log and of the decoder are kept apart: the outer `Result` is the log's (a
/// damaged record, a removed segment), the inner one the decoder's. A record the decoder
/// rejects is consumed all the same, so the next call moves on to the following record, and its
/// position comes with the decoder's error.
pub struct DecodingReader<D> {
    reader: Reader,
    decoder: D,
}

/// One record through a [`DecodingReader`]: its position and what the decoder made of it.
pub type Decoded<T, E> = (Position, std::result::Result<T, E>);

impl<D> std::fmt::Debug for DecodingReader<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodingReader")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Applies `decoder` to every payload this reader returns. The decoder sees the zero-copy
    /// payload; what it returns is handed to the caller. Without a decoder a reader returns the
    /// payload bytes unchanged (the original's no-op decoder).
    pub fn with_decoder<T, E, D>(self, decoder: D) -> DecodingReader<D>
    where
        D: FnMut(&[u8]) -> std::result::Result<T, E>,
    {
        DecodingReader {
            reader: self,
            decoder,
        }
    }
}

impl<D> DecodingReader<D> {
    /// The next record, decoded; `None` as for [`Reader::next`]. A decoder error comes back as
    /// `Ok(Some((position, Err(e))))` and the record counts as read.
    #[allow(
        clippy::should_implement_trait,
        reason = "`None` means \"nothing yet\", as for `Reader::next`, not the end of an iterator"
    )]
    pub fn next<T, E>(&mut self) -> Result<Option<Decoded<T, E>>>
    where
        D: FnMut(&[u8]) -> std::result::Result<T, E>,
    {
        Ok(self
            .reader
            .next()?
            .map(|record| (record.position(), (self.decoder)(record.payload()))))
    }

    /// The next record, decoded, waiting up to `timeout` for one to be appended.
    pub fn next_timeout<T, E>(&mut self, timeout: Duration) -> Result<Option<Decoded<T, E>>>
    where
        D: FnMut(&[u8]) -> std::result::Result<T, E>,
    {
        Ok(self
            .reader
            .next_timeout(timeout)?
            .map(|record| (record.position(), (self.decoder)(record.payload()))))
    }

    /// The reader underneath, for positions and checkpoints.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Gives back the reader without the decoder.
    pub fn into_inner(self) -> Reader {
        self.reader
    }
}
