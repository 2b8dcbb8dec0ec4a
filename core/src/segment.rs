//! `Segment<R>`: one segment of the log over a [`Region`]: create, open with recovery, append,
//! append a batch, read, seal, truncate, persist and sync, and the durable watermark.
//!
//! # Durability
//!
//! An append only copies the frame into the region and publishes the new end to readers; nothing
//! is durable until [`Segment::sync`] returns `Ok`. `sync` persists the dirty data range (and the
//! header when it changed), runs the region's full barrier, and only then records the synced end
//! as the *durable watermark* in the header (`write_offset` with [`SegmentFlags::WATERMARK`]).
//! That header reaches the medium with the next sync at the latest, so the watermark on the
//! medium never runs ahead of the data it vouches for. Recovery uses it to tell a torn tail
//! (cut silently) from corruption of acknowledged records (reported) — see [`crate::scan`].
//!
//! # Sync in two phases
//!
//! A backend that can flush a region without holding the segment (the std backend's group
//! commit flushes the file while appenders go on) splits [`Segment::sync`] in three steps:
//! [`Segment::sync_plan`] notes the end to make durable and writes nothing; the caller flushes
//! the whole region (a full barrier that starts after the plan was taken, so it covers every
//! byte below the plan's end); [`Segment::complete_sync`] then acknowledges that end and writes
//! the watermark header exactly as `sync` does (durable with the next flush). A plan overtaken
//! by a seal, a truncation or an erased tail falls back to a full `sync`; a failed flush
//! poisons the segment.
//!
//! A failed write, persist or sync poisons the segment: every later change returns
//! [`Error::Poisoned`] (the medium may have dropped the dirty pages; retrying would lie).
//! Reads still work.
//!
//! # Media that cannot overwrite
//!
//! On a region with `OVERWRITE == false` (NOR flash) the header is written once, at creation, with
//! the first log index given there; the segment has no watermark (every stop is a torn tail or a
//! clean end), sealing is not recorded on the medium (whoever owns the ring of segments treats all
//! but the newest as sealed), truncation is refused, and a segment whose tail is torn takes no more
//! appends (the torn bytes cannot be erased in place; rotate).

use core::ops::Range;

use crate::barrier::{Barrier, is_skipped};
use crate::error::{CorruptionReason, Error, Result, kind_of, region_err};
use crate::format::{
    FRAME_ALIGN, FRAME_HEADER_LEN, HEADER_LEN, RecordFrame, SEGMENT_SIZE_MAX, SEGMENT_SIZE_MIN,
    SegmentFlags, SegmentHeader, encode_frame, encode_frame_header, encode_frame_suffix, frame_len,
    max_payload_len,
};
use crate::position::{Position, SegmentId};
use crate::record::{CrcCheck, read_payload, read_record};
use crate::region::{Region, RegionErrorKind};
use crate::scan::{ScanOutcome, ScanStop, scan_segment};

const HEADER_END: u64 = HEADER_LEN as u64;

/// What a new segment's header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInit {
    /// Creation time, nanoseconds since the Unix epoch (also the first `last_modified_at`).
    pub created_at: i64,
    /// Application marker stored in bytes 52..56 (0 = none).
    pub marker: u32,
    /// Log index of the first record, when known at creation (0 = set by the first append).
    /// Required for log indexes on media that cannot overwrite the header.
    pub first_log_index: u64,
}

/// What to do when a scan finds damage below the durable watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepairPolicy {
    /// Refuse to open and return [`Error::Corrupt`] naming the damage (the default).
    #[default]
    Refuse,
    /// Cut the segment at the damaged frame, as for a torn tail; the outcome reports what was cut.
    TruncateAtDamage,
}

/// Options of [`Segment::open`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Called with the stored marker of the segment; `false` refuses the open.
    pub marker_validator: Option<fn(u32) -> bool>,
    /// Scan a sealed segment too, checking every CRC and that the records end where the header
    /// says (otherwise a sealed segment's end and record count are taken from its header).
    pub verify_sealed: bool,
    /// What to do with damage below the durable watermark.
    pub repair: RepairPolicy,
    /// Open without changing a byte: no stale tail is erased, no watermark lowered, and the
    /// segment refuses appends, syncs, seals and truncation ([`Error::ReadOnly`]). For tools that
    /// inspect a log another process may be writing.
    pub read_only: bool,
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The scan's outcome; `None` for a sealed segment that was not scanned.
    pub scan: Option<ScanOutcome>,
    /// Stale bytes after the recovered end that the open erased (`start..end`, empty if none).
    pub erased_stale: Range<u64>,
}

/// The log index the next record of a segment must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextLogIndex {
    /// The segment is empty and its first log index is not fixed: any log index (or 0, none).
    Any,
    /// The segment's records carry no log index: the next must carry none (0).
    Unindexed,
    /// The next record must carry exactly this log index (SPEC §13.6: contiguous runs).
    Exactly(u64),
    /// The segment's run reached `u64::MAX`: no further record can be appended to it.
    Exhausted,
}

impl NextLogIndex {
    /// A log index the next record can carry (0 where none is needed), or `None` when the run
    /// is exhausted.
    pub fn accepted(self) -> Option<u64> {
        match self {
            NextLogIndex::Any | NextLogIndex::Unindexed => Some(0),
            NextLogIndex::Exactly(next) => Some(next),
            NextLogIndex::Exhausted => None,
        }
    }
}

/// How many records a batch append wrote, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAppend {
    /// Records written: a prefix of the batch.
    pub written: usize,
    /// Offset of the first record written.
    pub start_offset: u64,
    /// Offset just past the last record written.
    pub end_offset: u64,
}

impl BatchAppend {
    /// The offsets of the records written, given the same payloads in the same order.
    pub fn offsets<'p, P: AsRef<[u8]> + 'p>(
        &self,
        payloads: &'p [P],
    ) -> impl Iterator<Item = u64> + 'p {
        let mut offset = self.start_offset;
        payloads[..self.written.min(payloads.len())]
            .iter()
            .map(move |payload| {
                let at = offset;
                offset += frame_len(payload.as_ref().len() as u64);
                at
            })
    }
}

/// A sync plan of one segment ([`Segment::sync_plan`]): the end the caller's flush makes
/// durable, and what [`Segment::complete_sync`] needs to check that nothing overtook it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSyncPlan {
    /// End of the data when the plan was taken: the end to acknowledge.
    end: u64,
    /// Records below `end`: the watermark header's `entry_count`.
    record_count: u64,
    /// The segment's header writes when the plan was taken: a flush started after the plan
    /// covers the header only if it was not written since.
    header_writes: u64,
    /// The segment's generation when the plan was taken.
    generation: u64,
    /// Whether the caller must flush the region before completing the plan.
    needs_flush: bool,
}

impl SegmentSyncPlan {
    /// The end of the data the plan makes durable.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Whether the caller must flush the region (a full barrier, started after the plan was
    /// taken) before [`Segment::complete_sync`]. `false` when there is nothing to make durable.
    pub fn needs_flush(&self) -> bool {
        self.needs_flush
    }
}

/// How [`Segment::complete_sync`] (or the engine's `complete_sync`) made the data durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCompletion {
    /// The caller's flush covered the plan: everything below the plan's end is durable (and
    /// acknowledged); what was appended after the plan was taken is not.
    Planned,
    /// The plan was overtaken (seal, rotation, truncation, erased tail): a full sync ran
    /// instead, and everything appended so far is durable.
    FellBack,
}

/// Refuses a payload that no segment of `capacity` bytes can hold (`frame_len(n) <= capacity - 64`),
/// naming `segment` and the record's place in its batch.
pub(crate) fn check_payload_fits<E>(
    segment: SegmentId,
    capacity: u64,
    batch_index: usize,
    payload_len: u64,
) -> Result<(), E> {
    let max = max_payload_len(capacity).unwrap_or(0);
    if payload_len > max {
        return Err(Error::RecordTooLarge {
            segment,
            batch_index,
            payload_len,
            max_payload_len: max,
        });
    }
    Ok(())
}

/// One segment over a region.
#[derive(Debug)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent facts about the segment, not a state machine"
)]
pub struct Segment<R: Region> {
    region: R,
    id: SegmentId,
    /// The header as last written to the region.
    header: SegmentHeader,
    /// End of the data: where the next record goes.
    end: u64,
    record_count: u64,
    /// Bytes below this were acknowledged by a successful sync.
    durable_end: u64,
    /// The header bytes in the region changed since the last persist.
    header_dirty: bool,
    sealed: bool,
    /// False when the tail holds bytes this medium cannot erase in place.
    appendable: bool,
    read_only: bool,
    poisoned: Option<RegionErrorKind>,
    /// Changed by every change that makes a sync plan stale: sealing, truncation, erasing a
    /// stale tail or lowering the watermark.
    generation: u64,
    /// Header writes so far (see [`SegmentSyncPlan`]).
    header_writes: u64,
}

impl<R: Region> Segment<R> {
    /// The medium's declared properties must fit the format: frames are 8-byte aligned and
    /// multiples of 8 long, so a program granule must divide 8. Evaluated when a segment type is
    /// instantiated, so a region that breaks it does not compile.
    const MEDIUM_FITS_FORMAT: () = assert!(
        R::PROGRAM_GRANULE > 0 && 8 % R::PROGRAM_GRANULE == 0,
        "a region's PROGRAM_GRANULE must divide the 8-byte frame alignment"
    );

    fn check_capacity(region: &R, id: SegmentId) -> Result<u64, R::Error> {
        let () = Self::MEDIUM_FITS_FORMAT;
        let capacity = region.capacity();
        if !(SEGMENT_SIZE_MIN..=SEGMENT_SIZE_MAX).contains(&capacity) {
            return Err(Error::BadCapacity {
                segment: id,
                capacity,
            });
        }
        Ok(capacity)
    }

    /// Writes a fresh header into an erased region and makes it durable.
    ///
    /// The region must read as erased past the header (a new file, an erased flash partition);
    /// bytes left there from an earlier use could be taken for records by a later recovery.
    pub fn create(mut region: R, id: SegmentId, init: SegmentInit) -> Result<Self, R::Error> {
        let capacity = Self::check_capacity(&region, id)?;
        debug_assert!(
            crate::scan::find_dirty_end(&mut region, HEADER_END, capacity)
                .is_ok_and(|dirty_end| dirty_end == HEADER_END),
            "Segment::create needs a region that is erased past the header"
        );
        let mut header = SegmentHeader::new(init.created_at, init.marker);
        header.first_log_index = init.first_log_index;
        if R::OVERWRITE {
            header.flags = SegmentFlags(header.flags.0 | SegmentFlags::WATERMARK);
        }
        region
            .write_at(0, &header.encode())
            .map_err(region_err(id, 0))?;
        region.persist(0..HEADER_END).map_err(region_err(id, 0))?;
        region.sync().map_err(region_err(id, 0))?;
        region.publish_end(HEADER_END);
        Ok(Self::empty(region, id, header, false))
    }

    /// A segment with no records yet, before recovery fills in its state.
    fn empty(region: R, id: SegmentId, header: SegmentHeader, read_only: bool) -> Self {
        Segment {
            region,
            id,
            header,
            end: HEADER_END,
            record_count: 0,
            durable_end: HEADER_END,
            header_dirty: false,
            sealed: false,
            appendable: true,
            read_only,
            poisoned: None,
            generation: 0,
            header_writes: 0,
        }
    }

    /// Opens a segment: decodes its header, validates the marker, and recovers the end.
    ///
    /// A sealed segment's end comes from its header (or from a full scan with
    /// [`OpenOptions::verify_sealed`]). An unsealed one is scanned: a torn tail is cut and the
    /// stale bytes after the recovered end are erased (durably) so no old record can come back;
    /// damage below the durable watermark fails the open with [`Error::Corrupt`] unless
    /// [`OpenOptions::repair`] says to cut there.
    pub fn open(
        region: R,
        id: SegmentId,
        options: OpenOptions,
    ) -> Result<(Self, OpenReport), R::Error> {
        Self::open_visiting(region, id, options, |_| {})
    }

    /// [`Segment::open`], calling `visit` for every record the recovery scan finds (in order), so
    /// a caller that needs the record offsets does not scan twice. `visit` is not called for a
    /// sealed segment that is not scanned.
    pub fn open_visiting(
        mut region: R,
        id: SegmentId,
        options: OpenOptions,
        visit: impl FnMut(RecordFrame),
    ) -> Result<(Self, OpenReport), R::Error> {
        let capacity = Self::check_capacity(&region, id)?;
        let mut bytes = [0u8; HEADER_LEN];
        region.read_at(0, &mut bytes).map_err(region_err(id, 0))?;
        let header = SegmentHeader::decode(&bytes).map_err(|reason| Error::Corrupt {
            segment: id,
            offset: 0,
            reason,
        })?;
        if let Some(validator) = options.marker_validator
            && !validator(header.marker)
        {
            return Err(Error::MarkerRejected {
                segment: id,
                marker: header.marker,
            });
        }
        let segment = Self::empty(region, id, header, options.read_only);
        if header.flags.is_sealed() {
            segment.open_sealed(options, capacity, visit)
        } else {
            segment.recover_unsealed(options, capacity, visit)
        }
    }

    fn corrupt_header(&self) -> impl FnOnce(CorruptionReason) -> Error<R::Error> {
        let segment = self.id;
        move |reason| Error::Corrupt {
            segment,
            offset: 0,
            reason,
        }
    }

    /// A sealed segment: its end and record count come from the header, or from a full scan
    /// that must agree with it.
    fn open_sealed(
        mut self,
        options: OpenOptions,
        capacity: u64,
        visit: impl FnMut(RecordFrame),
    ) -> Result<(Self, OpenReport), R::Error> {
        self.header
            .check_write_offset(capacity)
            .map_err(self.corrupt_header())?;
        let end = self.header.write_offset;
        self.sealed = true;
        self.end = end;
        self.durable_end = end;
        self.record_count = self.header.entry_count;
        let mut report = OpenReport {
            scan: None,
            erased_stale: HEADER_END..HEADER_END,
        };
        if options.verify_sealed {
            let outcome = scan_segment(&mut self.region, end, end, visit)
                .map_err(region_err(self.id, HEADER_END))?;
            if let Some(damage) = outcome.damage() {
                return Err(Error::Corrupt {
                    segment: self.id,
                    offset: damage.offset,
                    reason: damage.reason,
                });
            }
            if outcome.end != end {
                return Err(Error::Corrupt {
                    segment: self.id,
                    offset: outcome.end,
                    reason: CorruptionReason::SealedEndMismatch {
                        header_end: end,
                        scanned_end: outcome.end,
                    },
                });
            }
            if self.header.flags.has_watermark() && self.header.entry_count != outcome.record_count
            {
                return Err(self.corrupt_header()(
                    CorruptionReason::SealedCountMismatch {
                        header_count: self.header.entry_count,
                        scanned_count: outcome.record_count,
                    },
                ));
            }
            self.record_count = outcome.record_count;
            report.scan = Some(outcome);
        }
        self.region.publish_end(end);
        self.region.publish_sealed(true);
        Ok((self, report))
    }

    /// An unsealed segment: scan it against its watermark, refuse or repair corruption, cut a
    /// torn tail and erase the stale bytes after the recovered end.
    fn recover_unsealed(
        mut self,
        options: OpenOptions,
        capacity: u64,
        visit: impl FnMut(RecordFrame),
    ) -> Result<(Self, OpenReport), R::Error> {
        let watermark = if self.header.flags.has_watermark() {
            let write_offset = self.header.write_offset;
            match self.header.check_write_offset(capacity) {
                Ok(()) => write_offset,
                // A well-formed watermark beyond the end of the file: the file was cut short.
                // The scan stops at the file's end at the latest, below the watermark, so the
                // missing acknowledged records are reported as corruption where the data ends
                // (and cut if the repair policy says so), never silently dropped.
                Err(_)
                    if write_offset > capacity
                        && write_offset >= HEADER_END
                        && write_offset.is_multiple_of(FRAME_ALIGN as u64) =>
                {
                    write_offset
                }
                Err(reason) => return Err(self.corrupt_header()(reason)),
            }
        } else {
            HEADER_END
        };
        let outcome = scan_segment(&mut self.region, capacity, watermark, visit)
            .map_err(region_err(self.id, HEADER_END))?;
        if let ScanStop::Corruption(damage) = &outcome.stop
            && options.repair == RepairPolicy::Refuse
        {
            return Err(Error::Corrupt {
                segment: self.id,
                offset: damage.offset,
                reason: damage.reason,
            });
        }
        self.end = outcome.end;
        self.record_count = outcome.record_count;
        self.durable_end = watermark.min(outcome.end);
        let mut erased_stale = outcome.end..outcome.end;
        if options.read_only {
            // Leave every byte as it is.
        } else if outcome.dirty_end > outcome.end {
            if R::OVERWRITE {
                if !is_skipped(Barrier::StaleTailZeroing) {
                    self.erase_stale(outcome.end, outcome.dirty_end)?;
                    erased_stale.end = outcome.dirty_end;
                }
            } else {
                self.appendable = false;
            }
        } else if watermark > outcome.end {
            // Repaired corruption with nothing after it: still lower the watermark.
            self.lower_watermark(outcome.end)?;
        }
        self.region.publish_end(self.end);
        let report = OpenReport {
            scan: Some(outcome),
            erased_stale,
        };
        Ok((self, report))
    }

    /// Durably erases stale bytes `from..to` after the end: first lowers the header watermark to
    /// `from` if it lies above, then zeroes the frame header at `from` (the cut point) and
    /// persists it, then zeroes and persists the rest. A crash at any step recovers to the same
    /// end, and no stale frame can be reached afterwards.
    fn erase_stale(&mut self, from: u64, to: u64) -> Result<(), R::Error> {
        debug_assert!(R::OVERWRITE);
        self.generation += 1;
        self.lower_watermark(from)?;
        let cut = (from + FRAME_HEADER_LEN as u64).min(to);
        self.guard(
            |region| {
                region.zero(from..cut)?;
                region.persist(from..cut)
            },
            from,
        )?;
        if cut < to {
            self.guard(
                |region| {
                    region.zero(cut..to)?;
                    region.persist(cut..to)
                },
                cut,
            )?;
        }
        self.guard(Region::sync, from)
    }

    /// Makes the header's watermark at most `end`, durably, before bytes above it are changed.
    fn lower_watermark(&mut self, end: u64) -> Result<(), R::Error> {
        if !R::OVERWRITE || !self.header.flags.has_watermark() || self.header.write_offset <= end {
            return Ok(());
        }
        self.generation += 1;
        self.header.write_offset = end;
        self.header.entry_count = self.header.entry_count.min(self.record_count);
        self.write_header()?;
        self.persist_header()?;
        self.header_dirty = false;
        self.durable_end = self.durable_end.min(end);
        Ok(())
    }

    /// Runs a region operation; a failure poisons the segment.
    #[inline]
    fn guard(
        &mut self,
        op: impl FnOnce(&mut R) -> core::result::Result<(), R::Error>,
        offset: u64,
    ) -> Result<(), R::Error> {
        op(&mut self.region).map_err(|source| self.fail(source, offset))
    }

    /// A region failure at `offset`, which poisons the segment.
    #[cold]
    fn fail(&mut self, source: R::Error, offset: u64) -> Error<R::Error> {
        let error = Error::Region {
            segment: self.id,
            offset,
            source,
        };
        if !is_skipped(Barrier::SyncPoisoning) {
            self.poisoned.get_or_insert_with(|| kind_of(&error));
        }
        error
    }

    /// Persists the header bytes (the header persist barrier).
    fn persist_header(&mut self) -> Result<(), R::Error> {
        if is_skipped(Barrier::HeaderPersist) {
            return Ok(());
        }
        self.guard(|region| region.persist(0..HEADER_END), 0)
    }

    fn write_header(&mut self) -> Result<(), R::Error> {
        let bytes = self.header.encode();
        self.header_writes += 1;
        self.guard(|region| region.write_at(0, &bytes), 0)?;
        self.header_dirty = true;
        Ok(())
    }

    /// Refuses changes to a read-only or poisoned segment.
    fn check_changeable(&self) -> Result<(), R::Error> {
        if self.read_only {
            return Err(Error::ReadOnly { segment: self.id });
        }
        if let Some(first_failure) = self.poisoned {
            return Err(Error::Poisoned {
                segment: self.id,
                first_failure,
            });
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<(), R::Error> {
        self.check_changeable()?;
        if self.sealed {
            return Err(Error::Sealed { segment: self.id });
        }
        Ok(())
    }

    /// What log index the next record must carry.
    pub fn expected_log_index(&self) -> NextLogIndex {
        let first = self.header.first_log_index;
        if first == 0 {
            if self.record_count == 0 {
                NextLogIndex::Any
            } else {
                NextLogIndex::Unindexed
            }
        } else {
            match first.checked_add(self.record_count) {
                Some(next) => NextLogIndex::Exactly(next),
                None => NextLogIndex::Exhausted,
            }
        }
    }

    /// Checks that records `0..count` of a batch can carry `log_index`, `log_index + 1`, ...
    fn check_log_index(&self, log_index: u64, count: usize) -> Result<(), R::Error> {
        let expected = match self.expected_log_index() {
            NextLogIndex::Any => log_index,
            NextLogIndex::Unindexed => 0,
            NextLogIndex::Exactly(next) => next,
            NextLogIndex::Exhausted => {
                return Err(Error::LogIndexOverflow { segment: self.id });
            }
        };
        if expected != log_index {
            return Err(Error::LogIndexMismatch {
                segment: self.id,
                expected,
                found: log_index,
            });
        }
        // The last record of the batch carries log_index + count - 1.
        if log_index != 0 && log_index.checked_add(count as u64 - 1).is_none() {
            return Err(Error::LogIndexOverflow { segment: self.id });
        }
        Ok(())
    }

    fn check_payload_len(&self, batch_index: usize, payload_len: u64) -> Result<(), R::Error> {
        check_payload_fits(self.id, self.region.capacity(), batch_index, payload_len)
    }

    #[inline]
    fn write_frame(&mut self, offset: u64, payload: &[u8]) -> Result<u64, R::Error> {
        let payload_len = payload.len() as u64;
        let len = frame_len(payload_len);
        let mut encoded = false;
        self.guard(
            |region| {
                // Callers checked that the frame fits the region, so its length fits a usize.
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                region.write_frame_in_place(offset, len, |frame| {
                    // `None` (nothing written) only from a region that lent the wrong length;
                    // the frame then goes through the parts below.
                    encoded = encode_frame(payload, frame).is_some();
                })?;
                Ok(())
            },
            offset,
        )?;
        if encoded {
            return Ok(offset + len);
        }
        let head = encode_frame_header(payload);
        let (suffix, suffix_len) = encode_frame_suffix(payload_len);
        self.guard(
            |region| region.write_frame_parts(offset, &head, payload, &suffix[..suffix_len]),
            offset,
        )?;
        Ok(offset + frame_len(payload_len))
    }

    /// Fixes the first log index when the first record of an empty segment carries one.
    #[inline]
    fn set_first_log_index(&mut self, log_index: u64) -> Result<(), R::Error> {
        if self.record_count == 0 && log_index != 0 && self.header.first_log_index == 0 {
            return self.write_first_log_index(log_index);
        }
        Ok(())
    }

    /// [`Self::set_first_log_index`] for the first record of an empty segment.
    #[cold]
    fn write_first_log_index(&mut self, log_index: u64) -> Result<(), R::Error> {
        if !R::OVERWRITE {
            return Err(Error::LogIndexMismatch {
                segment: self.id,
                expected: 0,
                found: log_index,
            });
        }
        self.header.first_log_index = log_index;
        self.write_header()
    }

    /// Appends one record and returns its offset. `log_index` is 0 for "none"; otherwise it must
    /// continue the segment's run ([`Segment::expected_log_index`]).
    ///
    /// Not durable until [`Segment::sync`] returns. Nothing is written when an error is returned
    /// (except for region failures, which poison the segment).
    #[inline]
    pub fn append(&mut self, payload: &[u8], log_index: u64) -> Result<u64, R::Error> {
        self.check_writable()?;
        self.check_payload_len(0, payload.len() as u64)?;
        self.check_log_index(log_index, 1)?;
        let offset = self.end;
        let needed = frame_len(payload.len() as u64);
        if !self.appendable || offset + needed > self.region.capacity() {
            return Err(Error::SegmentFull {
                segment: self.id,
                offset,
                frame_len: needed,
            });
        }
        self.set_first_log_index(log_index)?;
        self.end = self.write_frame(offset, payload)?;
        self.record_count += 1;
        self.region.publish_end(self.end);
        Ok(offset)
    }

    /// Appends the longest prefix of `payloads` that fits, published to readers at once.
    ///
    /// Every payload is checked against the segment capacity first ([`Error::RecordTooLarge`]
    /// names the first too large, and nothing is written). `first_log_index` is the log index of
    /// `payloads[0]` (0 = none); the others follow contiguously. If not even the first record fits,
    /// [`Error::SegmentFull`]; otherwise the result says how many were written.
    pub fn append_batch<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
        first_log_index: u64,
    ) -> Result<BatchAppend, R::Error> {
        let start_offset = self.end;
        if payloads.is_empty() {
            return Ok(BatchAppend {
                written: 0,
                start_offset,
                end_offset: start_offset,
            });
        }
        self.check_writable()?;
        for (batch_index, payload) in payloads.iter().enumerate() {
            self.check_payload_len(batch_index, payload.as_ref().len() as u64)?;
        }
        self.check_log_index(first_log_index, payloads.len())?;
        let capacity = self.region.capacity();
        let mut planned_end = start_offset;
        let mut written = 0usize;
        if self.appendable {
            for payload in payloads {
                let next = planned_end + frame_len(payload.as_ref().len() as u64);
                if next > capacity {
                    break;
                }
                planned_end = next;
                written += 1;
            }
        }
        if written == 0 {
            return Err(Error::SegmentFull {
                segment: self.id,
                offset: start_offset,
                frame_len: frame_len(payloads[0].as_ref().len() as u64),
            });
        }
        self.set_first_log_index(first_log_index)?;
        let mut offset = start_offset;
        for payload in &payloads[..written] {
            offset = self.write_frame(offset, payload.as_ref())?;
        }
        debug_assert_eq!(offset, planned_end);
        self.end = offset;
        self.record_count += written as u64;
        self.region.publish_end(self.end);
        Ok(BatchAppend {
            written,
            start_offset,
            end_offset: offset,
        })
    }

    /// Reads and validates (CRC included) the record at `offset`.
    pub fn read(&mut self, offset: u64) -> Result<RecordFrame, R::Error> {
        read_record(
            &mut self.region,
            self.id,
            offset,
            self.end,
            CrcCheck::Verify,
        )
    }

    /// The payload of a record as a zero-copy view, if the region offers one.
    pub fn payload(&self, frame: &RecordFrame) -> Option<&[u8]> {
        self.region.bytes(frame.payload_range())
    }

    /// Copies the payload of a record into `buf`.
    pub fn read_payload<'b>(
        &mut self,
        frame: &RecordFrame,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], R::Error> {
        read_payload(&mut self.region, self.id, frame, buf)
    }

    /// Makes the data range `durable_end..end` durable without a full barrier (msync of the
    /// range). Does not move the watermark: only [`Segment::sync`] acknowledges.
    pub fn persist(&mut self) -> Result<(), R::Error> {
        self.check_changeable()?;
        let range = self.durable_end..self.end;
        if !range.is_empty() {
            self.guard(|region| region.persist(range.clone()), range.start)?;
        }
        Ok(())
    }

    /// Makes every record appended so far durable, then records the new durable watermark in the
    /// header (which reaches the medium with the next sync at the latest). `now` is stored as
    /// `last_modified_at` when the header changes.
    pub fn sync(&mut self, now: i64) -> Result<(), R::Error> {
        self.check_changeable()?;
        let end = self.end;
        if end == self.durable_end && !self.header_dirty {
            return Ok(());
        }
        let data = self.durable_end..end;
        // The data persist barrier: the msync of the new data and the full barrier after it.
        let persist_data = !is_skipped(Barrier::DataPersist);
        if persist_data && !data.is_empty() {
            self.guard(|region| region.persist(data.clone()), data.start)?;
        }
        if self.header_dirty {
            self.persist_header()?;
        }
        if persist_data {
            self.guard(Region::sync, data.start)?;
        }
        self.header_dirty = false;
        self.durable_end = end;
        self.write_watermark(end, self.record_count, now)
    }

    /// Records `end` (with `record_count` records below it) as the durable watermark in the
    /// header, once every byte below `end` is durable. Not persisted here: the header reaches
    /// the medium with the next flush at the latest, so the watermark on the medium never runs
    /// ahead of the data it vouches for.
    fn write_watermark(&mut self, end: u64, record_count: u64, now: i64) -> Result<(), R::Error> {
        if R::OVERWRITE && !self.sealed && self.header.write_offset != end {
            self.header.write_offset = end;
            self.header.entry_count = record_count;
            self.header.last_modified_at = now;
            self.header.flags = SegmentFlags(self.header.flags.0 | SegmentFlags::WATERMARK);
            self.write_header()?;
        }
        Ok(())
    }

    /// First phase of a sync in two phases (see the module doc): notes the end to make durable.
    /// Writes nothing. The caller then flushes the whole region if
    /// [`SegmentSyncPlan::needs_flush`] says so (a full barrier, like [`Region::sync`], that
    /// starts after this call returned) and hands the outcome to [`Segment::complete_sync`].
    pub fn sync_plan(&self) -> Result<SegmentSyncPlan, R::Error> {
        self.check_changeable()?;
        let pending = self.end != self.durable_end || self.header_dirty;
        Ok(SegmentSyncPlan {
            end: self.end,
            record_count: self.record_count,
            header_writes: self.header_writes,
            generation: self.generation,
            // The data persist barrier: its negative control acknowledges without a flush.
            needs_flush: pending && !is_skipped(Barrier::DataPersist),
        })
    }

    /// Second phase of a sync in two phases: `flushed` is the outcome of the caller's flush of
    /// the region, started after [`Segment::sync_plan`] returned `plan` (`Ok(())` too when the
    /// plan needed none).
    ///
    /// - A failed flush poisons the segment and is returned as [`Error::Region`]: the medium may
    ///   have dropped the pages (SPEC §13.4).
    /// - A plan overtaken since it was taken (sealed, truncated, tail erased) falls back to a full
    ///   [`Segment::sync`]: [`SyncCompletion::FellBack`].
    /// - Otherwise every byte below the plan's end is durable: it becomes the durable end and is
    ///   recorded as the watermark in the header, as `sync` does: [`SyncCompletion::Planned`].
    ///   Records appended after the plan was taken are not acknowledged. A sync that went
    ///   further meanwhile is never undone.
    ///
    /// `now` is stored as `last_modified_at` when the header changes.
    pub fn complete_sync(
        &mut self,
        plan: SegmentSyncPlan,
        flushed: core::result::Result<(), R::Error>,
        now: i64,
    ) -> Result<SyncCompletion, R::Error> {
        if let Err(source) = flushed {
            return Err(self.fail(source, self.durable_end));
        }
        self.check_changeable()?;
        if plan.generation != self.generation || plan.end > self.end {
            self.sync(now)?;
            return Ok(SyncCompletion::FellBack);
        }
        // The flush started after the plan: it covered every write made before, the header
        // as written then included. A header written since is still dirty.
        if plan.needs_flush && plan.header_writes == self.header_writes {
            self.header_dirty = false;
        }
        if plan.end < self.durable_end {
            // A full sync went further meanwhile and recorded its own watermark.
            return Ok(SyncCompletion::Planned);
        }
        self.durable_end = plan.end;
        self.write_watermark(plan.end, plan.record_count, now)?;
        Ok(SyncCompletion::Planned)
    }

    /// Seals the segment: syncs it, then records SEALED, the final end and the record count in
    /// the header and makes the header durable. Sealing twice is allowed.
    pub fn seal(&mut self, now: i64) -> Result<(), R::Error> {
        self.check_changeable()?;
        if self.sealed {
            return Ok(());
        }
        self.sync(now)?;
        self.sealed = true;
        self.generation += 1;
        self.region.publish_sealed(true);
        if R::OVERWRITE {
            self.header.flags = self.header.flags.sealed();
            self.header.write_offset = self.end;
            self.header.entry_count = self.record_count;
            self.header.last_modified_at = now;
            self.write_header()?;
            self.persist_header()?;
            self.guard(Region::sync, 0)?;
            self.header_dirty = false;
        }
        Ok(())
    }

    /// Keeps the first `keep` records and erases everything after them, in a crash-safe order:
    /// 1. the header is made unsealed with its watermark lowered to the new end, and persisted;
    /// 2. the frame header at the new end is zeroed and persisted: this is the cut;
    /// 3. the rest of the old data is zeroed and persisted, then the region is synced;
    /// 4. the new end is recorded as the durable watermark (with the watermark flag) and the header
    ///    is persisted and synced.
    ///
    /// A crash before step 2 recovers every old record; after it, exactly `keep` records. No
    /// truncated record can come back, however many records are written afterwards (SPEC §13.2).
    /// Readers are told the new end before any byte is erased.
    pub fn truncate_to(&mut self, keep: u64, now: i64) -> Result<(), R::Error> {
        self.check_changeable()?;
        if !R::OVERWRITE {
            return Err(Error::NeedsOverwrite { segment: self.id });
        }
        if keep > self.record_count {
            return Err(Error::TruncateBeyondEnd {
                segment: self.id,
                keep,
                record_count: self.record_count,
            });
        }
        let mut new_end = HEADER_END;
        for _ in 0..keep {
            let frame = read_record(&mut self.region, self.id, new_end, self.end, CrcCheck::Skip)?;
            new_end = frame.next_offset();
        }
        let old_end = self.end;
        self.generation += 1;
        self.sealed = false;
        self.region.publish_sealed(false);
        self.end = new_end;
        self.record_count = keep;
        self.region.publish_end(new_end);
        self.header.flags = self.header.flags.unsealed();
        self.header.write_offset = self.header.write_offset.min(new_end);
        self.header.entry_count = keep.min(self.header.entry_count);
        // The first log index is cleared only in step 4, after the cut: a crash between
        // steps 1 and 2 recovers every old record, and they must keep their log indexes
        // (found by walfs-sim, exhaustive seed 3).
        self.header.last_modified_at = now;
        self.write_header()?;
        self.persist_header()?;
        self.header_dirty = false;
        self.durable_end = self.durable_end.min(new_end);
        if old_end > new_end {
            self.erase_stale(new_end, old_end)?;
        }
        // Everything below the new end is durable now (the region was synced after the cut, or
        // is synced here): record it as the watermark, which also marks a segment written by the
        // Go original as ours, so recovery applies walfs' rules to it from now on.
        self.guard(Region::sync, 0)?;
        self.durable_end = new_end;
        self.header.write_offset = new_end;
        self.header.entry_count = keep;
        if keep == 0 {
            self.header.first_log_index = 0;
        }
        self.header.flags = SegmentFlags(self.header.flags.0 | SegmentFlags::WATERMARK);
        self.write_header()?;
        self.persist_header()?;
        self.guard(Region::sync, 0)?;
        self.header_dirty = false;
        Ok(())
    }

    /// Sets the record count of a sealed segment whose count was not scanned, from a validated
    /// index file (the Go original can leave a stale count in a sealed header, SPEC §13.16).
    #[cfg(feature = "alloc")]
    pub(crate) fn set_sealed_record_count(&mut self, record_count: u64) {
        debug_assert!(self.sealed);
        self.record_count = record_count;
    }

    /// The segment id.
    pub fn id(&self) -> SegmentId {
        self.id
    }

    /// The header as last written.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// End of the data: the offset where the next record goes.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The durable watermark: every byte below it was acknowledged by a successful sync (or found
    /// on the medium below the recorded watermark at open).
    pub fn durable_end(&self) -> u64 {
        self.durable_end
    }

    /// Number of records.
    pub fn record_count(&self) -> u64 {
        self.record_count
    }

    /// Log index of the first record (0 = none).
    pub fn first_log_index(&self) -> u64 {
        self.header.first_log_index
    }

    /// The segment's capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.region.capacity()
    }

    /// Whether the segment is sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Whether an earlier failure poisoned the segment.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Whether a record with a `payload_len`-byte payload fits in the space left.
    pub fn fits(&self, payload_len: u64) -> bool {
        self.appendable && self.end + frame_len(payload_len) <= self.region.capacity()
    }

    /// The position of the record at `offset` in this segment.
    pub fn position(&self, offset: u64) -> Position {
        Position::new(self.id, offset)
    }

    /// The region.
    pub fn region(&self) -> &R {
        &self.region
    }

    /// The region, mutably (to damage it in tests, or to reach backend-specific methods).
    /// Writing through it bypasses the segment's bookkeeping.
    pub fn region_mut(&mut self) -> &mut R {
        &mut self.region
    }

    /// Gives the region back.
    pub fn into_region(self) -> R {
        self.region
    }
}

#[cfg(test)]
mod tests;
