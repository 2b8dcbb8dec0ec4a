//! Opening a WAL directory: recovery of every segment and of the set of segments (SPEC §3, with
//! the fixes of §13).
//!
//! In id order, each segment is opened with [`Segment::open_visiting`] (an unsealed one is
//! scanned once; its torn tail is cut and erased, damage below its watermark is refused or
//! repaired per the policy). Then the directory-level rules:
//!
//! - **A last segment that was never written** (its header is erased or damaged and every byte
//!   after the header is erased, or the file is too short to hold a record) is the trace of a
//!   crash while it was being created: it is removed and the open goes on without it (§13.18). A damaged header with data after it is
//!   corruption and fails the open.
//! - **An unsealed walfs segment before the last one** can only be the target of an interrupted
//!   truncation (walfs seals a segment durably before it creates the next): the segments after it
//!   are leftovers of that truncation and are removed, so truncated records never come back.
//! - **An unsealed segment of the Go original before the last one** (no watermark flag) is the
//!   trace of a crash during the original's rotation: it is sealed now, as the original does.
//! - **A sealed last segment** gets a new active segment after it, so writes go on (§13.12).
//! - A sealed segment's records come from its index file when the file agrees with the segment
//!   (size, contiguous frames from offset 64 to the sealed end, and the header's record count for
//!   walfs segments); otherwise from a scan, and the index file is rewritten (§13.8).

use alloc::vec::Vec;

use super::{Slot, WalEngine, WalOptions, storage_err};
use crate::error::{CorruptionReason, Error, Result};
use crate::format::{
    FRAME_ALIGN, HEADER_LEN, INDEX_ENTRY_LEN, IndexEntry, RecordFrame, SEGMENT_SIZE_MIN,
    SegmentHeader,
};
use crate::position::SegmentId;
use crate::region::RegionRead;
use crate::scan::{Damage, ScanStop, find_dirty_end, scan_segment};
use crate::segment::{OpenOptions, Segment, SegmentInit};
use crate::storage::{Storage, StorageOp};

/// What opening a directory found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments opened.
    pub segments: Vec<SegmentId>,
    /// A new active segment created (empty directory, or a sealed last segment).
    pub created: Option<SegmentId>,
    /// A last segment that was never written, removed (§13.18).
    pub removed_unwritten: Option<SegmentId>,
    /// Segments after an unsealed walfs segment: leftovers of an interrupted truncation, removed.
    pub removed_leftovers: Vec<SegmentId>,
    /// Unsealed segments of the Go original before the last one, sealed.
    pub sealed: Vec<SegmentId>,
    /// Torn tails cut (interrupted writes above a durable watermark).
    pub torn_tails: Vec<(SegmentId, Damage)>,
    /// Corruption below a durable watermark that the repair policy cut.
    pub repaired: Vec<(SegmentId, Damage)>,
    /// Sealed segments whose index file was missing or wrong and was rebuilt by a scan.
    pub rebuilt_indexes: Vec<SegmentId>,
}

impl<S: Storage> WalEngine<S> {
    /// Opens the WAL in `storage`, creating segment 1 if there is none, and recovers it.
    pub fn open(storage: S, options: WalOptions) -> Result<(Self, RecoveryReport), S::Error> {
        let mut engine = WalEngine {
            storage,
            options,
            segments: alloc::collections::BTreeMap::new(),
            active: SegmentId(0),
            poisoned: None,
            sync_generation: 0,
            last_log_index: core::cell::Cell::new(super::LastLogIndex::Unknown),
        };
        let mut report = RecoveryReport::default();
        let mut ids = engine
            .storage
            .list_segments()
            .map_err(storage_err(StorageOp::List, None))?;
        // The rules below depend on the order (the segments after an unsealed one are removed):
        // never trust a listing that is out of order or names a segment twice.
        ids.sort_unstable();
        ids.dedup();
        let mut dir_changed = false;
        let mut index_buf = Vec::new();
        let mut last_region = ids.last().and_then(|&id| engine.open_announcing_scan(id));
        for (position, &id) in ids.iter().enumerate() {
            let is_last = position + 1 == ids.len();
            let opened = if is_last { last_region.take() } else { None };
            let Some(slot) = engine.open_slot(id, is_last, opened, &mut report, &mut index_buf)?
            else {
                dir_changed = true;
                continue;
            };
            let unsealed_before_last = !slot.segment.is_sealed() && !is_last;
            let watermarked = slot.segment.header().flags.has_watermark();
            engine.segments.insert(id, slot);
            engine.active = id;
            if unsealed_before_last && watermarked {
                // An interrupted truncation: its first step made this segment's header durable,
                // unsealed, with the watermark lowered to the cut (the target of a truncation
                // into an earlier segment is sealed, so its watermark was its end). Cut it there
                // now, whether or not the cut itself reached the medium, then remove the
                // segments after it: the log is the truncated one.
                if !options.read_only {
                    engine.cut_at_watermark(id)?;
                }
                for &leftover in &ids[position + 1..] {
                    if !options.read_only {
                        engine
                            .storage
                            .remove_segment(leftover)
                            .map_err(storage_err(StorageOp::Remove, Some(leftover)))?;
                        dir_changed = true;
                    }
                    report.removed_leftovers.push(leftover);
                }
                break;
            }
            if unsealed_before_last && !options.read_only {
                engine.seal_slot(id)?;
                dir_changed = true;
                report.sealed.push(id);
            }
        }
        if !options.read_only {
            let need_new = engine
                .segments
                .get(&engine.active)
                .is_none_or(|slot| slot.segment.is_sealed());
            if need_new {
                let id = if engine.segments.is_empty() {
                    SegmentId(1)
                } else {
                    engine.next_id()?
                };
                engine.create_slot(id)?;
                report.created = Some(id);
                dir_changed = true;
            }
            if dir_changed {
                engine.sync_dir(None)?;
            }
        } else if engine.segments.is_empty() {
            return Err(Error::NoSuchSegment {
                segment: SegmentId(1),
            });
        }
        report.segments = engine.segments.keys().copied().collect();
        engine.forget_last_log_index();
        Ok((engine, report))
    }

    /// The last segment's region, opened before the others: when its header says it is
    /// unsealed, the region is told that the recovery scan will read all of it
    /// ([`RegionRead::will_read`]), so a mapped region brings its pages in from another core
    /// while the sealed segments before it are opened. `None` if it cannot be opened or its
    /// header read: the open then meets (and reports) that in order.
    fn open_announcing_scan(&mut self, id: SegmentId) -> Option<S::Region> {
        let mut region = self.storage.open_segment(id).ok()?;
        let mut bytes = [0u8; HEADER_LEN];
        region.read_at(0, &mut bytes).ok()?;
        if let Ok(header) = SegmentHeader::decode(&bytes)
            && !header.flags.is_sealed()
        {
            region.will_read(HEADER_LEN as u64..region.capacity());
        }
        Some(region)
    }

    /// Opens one segment (`opened`: its region, if open already). `None`: it was the last one
    /// and never written (removed unless read-only).
    fn open_slot(
        &mut self,
        id: SegmentId,
        is_last: bool,
        opened: Option<S::Region>,
        report: &mut RecoveryReport,
        index_buf: &mut Vec<u8>,
    ) -> Result<Option<Slot<S::Region>>, S::Error> {
        let region = match opened {
            Some(region) => region,
            None => self
                .storage
                .open_segment(id)
                .map_err(storage_err(StorageOp::Open, Some(id)))?,
        };
        let options = OpenOptions {
            marker_validator: self.options.marker_validator,
            verify_sealed: self.options.verify_sealed,
            repair: self.options.repair,
            read_only: self.options.read_only,
        };
        let mut frames = Vec::new();
        let opened = Segment::open_visiting(region, id, options, |frame| frames.push(frame));
        let (mut segment, open_report) = match opened {
            Ok(opened) => opened,
            // A file too short for a header and a frame (empty: a crash between creating the
            // file and sizing it) is, when last, a segment whose creation never completed.
            Err(
                Error::Corrupt { offset: 0, .. }
                | Error::BadCapacity {
                    capacity: 0..SEGMENT_SIZE_MIN,
                    ..
                },
            ) if is_last && self.never_written(id)? => {
                if !self.options.read_only {
                    self.storage
                        .remove_segment(id)
                        .map_err(storage_err(StorageOp::Remove, Some(id)))?;
                }
                report.removed_unwritten = Some(id);
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        if let Some(scan) = &open_report.scan {
            match &scan.stop {
                ScanStop::CleanEnd => {}
                ScanStop::TornTail(damage) => report.torn_tails.push((id, damage.clone())),
                ScanStop::Corruption(damage) => report.repaired.push((id, damage.clone())),
            }
        }
        let mut loaded = true;
        if segment.is_sealed() && open_report.scan.is_none() {
            if self.index_fits(&segment)? {
                // Read when first needed (`load_records`).
                loaded = false;
            } else {
                frames = self.sealed_frames(&mut segment, index_buf, report)?;
            }
        }
        let mut slot = Slot {
            segment,
            records: Vec::with_capacity(frames.len()),
            loaded,
        };
        for frame in frames {
            slot.push(frame);
        }
        if is_last && !slot.segment.is_sealed() && !self.options.read_only {
            slot.reserve_for_appends();
        }
        Ok(Some(slot))
    }

    /// Cuts segment `id` after its last record that ends at or below its header watermark.
    fn cut_at_watermark(&mut self, id: SegmentId) -> Result<(), S::Error> {
        let now = self.now();
        let slot = self
            .segments
            .get_mut(&id)
            .ok_or(Error::NoSuchSegment { segment: id })?;
        let watermark = slot.segment.header().write_offset;
        let keep = slot
            .records
            .iter()
            .take_while(|&&(offset, payload_len)| {
                RecordFrame {
                    offset: u64::from(offset),
                    payload_len,
                }
                .next_offset()
                    <= watermark
            })
            .count();
        if keep < slot.records.len() {
            slot.segment.truncate_to(keep as u64, now)?;
            slot.records.truncate(keep);
        }
        Ok(())
    }

    /// Whether segment `id` holds nothing but a damaged or erased header.
    fn never_written(&mut self, id: SegmentId) -> Result<bool, S::Error> {
        let mut region = self
            .storage
            .open_segment(id)
            .map_err(storage_err(StorageOp::Open, Some(id)))?;
        let capacity = region.capacity();
        let header_end = HEADER_LEN as u64;
        if capacity < header_end {
            return Ok(true);
        }
        let dirty_end = find_dirty_end(&mut region, header_end, capacity)
            .map_err(crate::error::region_err(id, header_end))?;
        Ok(dirty_end == header_end)
    }

    /// Whether a sealed segment's record table can be left on disk until it is needed: the
    /// segment is walfs' (its header's record count is the one an index must match) and its
    /// index file has one entry per record. A missing or wrong-sized index file is rebuilt at
    /// open; one of the right size whose entries disagree with the segment is rebuilt when the
    /// table is first loaded.
    fn index_fits(&mut self, segment: &Segment<S::Region>) -> Result<bool, S::Error> {
        if !segment.header().flags.has_watermark() {
            // The Go original can leave a stale record count in a sealed header (§13.16): its
            // index file gives the count.
            return Ok(false);
        }
        let id = segment.id();
        let len = self
            .storage
            .index_len(id)
            .map_err(storage_err(StorageOp::ReadIndex, Some(id)))?;
        Ok(len
            == Some(
                segment
                    .record_count()
                    .saturating_mul(INDEX_ENTRY_LEN as u64),
            ))
    }

    /// The frames of a sealed segment: from its index file when the file agrees with the
    /// segment, otherwise from a scan (and the index file is rewritten).
    pub(super) fn sealed_frames(
        &mut self,
        segment: &mut Segment<S::Region>,
        index_buf: &mut Vec<u8>,
        report: &mut RecoveryReport,
    ) -> Result<Vec<RecordFrame>, S::Error> {
        let id = segment.id();
        let found = self
            .storage
            .read_index(id, index_buf)
            .map_err(storage_err(StorageOp::ReadIndex, Some(id)))?;
        if found && let Some(frames) = frames_from_index(index_buf, segment) {
            segment.set_sealed_record_count(frames.len() as u64);
            return Ok(frames);
        }
        let end = segment.end();
        let mut frames = Vec::new();
        let outcome = scan_segment(segment.region_mut(), end, end, |frame| frames.push(frame))
            .map_err(crate::error::region_err(id, HEADER_LEN as u64))?;
        if let Some(damage) = outcome.damage() {
            return Err(Error::Corrupt {
                segment: id,
                offset: damage.offset,
                reason: damage.reason,
            });
        }
        if outcome.end != end {
            return Err(Error::Corrupt {
                segment: id,
                offset: outcome.end,
                reason: CorruptionReason::SealedEndMismatch {
                    header_end: end,
                    scanned_end: outcome.end,
                },
            });
        }
        segment.set_sealed_record_count(frames.len() as u64);
        if !self.options.read_only {
            index_buf.clear();
            for frame in &frames {
                index_buf.extend_from_slice(&IndexEntry::from(*frame).encode());
            }
            self.storage
                .write_index(id, index_buf)
                .map_err(storage_err(StorageOp::WriteIndex, Some(id)))?;
        }
        report.rebuilt_indexes.push(id);
        Ok(frames)
    }

    /// Creates segment `id` as the new active segment (not yet durable in the directory).
    pub(super) fn create_slot(&mut self, id: SegmentId) -> Result<(), S::Error> {
        let region = self
            .storage
            .create_segment(id, self.options.segment_size)
            .map_err(storage_err(StorageOp::Create, Some(id)))?;
        let init = SegmentInit {
            created_at: self.now(),
            marker: self.options.marker,
            first_log_index: 0,
        };
        let segment = Segment::create(region, id, init)?;
        let mut slot = Slot {
            segment,
            records: Vec::new(),
            loaded: true,
        };
        slot.reserve_for_appends();
        self.segments.insert(id, slot);
        self.active = id;
        Ok(())
    }

    /// The id after the active one.
    pub(super) fn next_id(&self) -> Result<SegmentId, S::Error> {
        self.active.next().ok_or(Error::SegmentIdOverflow {
            segment: self.active,
        })
    }

    /// Seals segment `id` (durably) and writes its index file (durable after the next
    /// directory sync).
    pub(super) fn seal_slot(&mut self, id: SegmentId) -> Result<(), S::Error> {
        let now = self.now();
        let slot = self
            .segments
            .get_mut(&id)
            .ok_or(Error::NoSuchSegment { segment: id })?;
        slot.segment.seal(now)?;
        slot.release_reserve();
        let bytes = slot.index_bytes();
        self.storage
            .write_index(id, &bytes)
            .map_err(storage_err(StorageOp::WriteIndex, Some(id)))
    }
}

/// The frames an index file lists, if it agrees with the sealed segment.
fn frames_from_index<R: crate::region::Region>(
    bytes: &[u8],
    segment: &Segment<R>,
) -> Option<Vec<RecordFrame>> {
    if !bytes.len().is_multiple_of(INDEX_ENTRY_LEN) {
        return None;
    }
    let count = bytes.len() / INDEX_ENTRY_LEN;
    if segment.header().flags.has_watermark() && count as u64 != segment.record_count() {
        return None;
    }
    let end = segment.end();
    let mut expected = HEADER_LEN as u64;
    let mut frames = Vec::with_capacity(count);
    for chunk in bytes.chunks_exact(INDEX_ENTRY_LEN) {
        let entry = IndexEntry::decode(chunk.try_into().ok()?);
        if entry.offset != expected || !entry.is_plausible(end) {
            return None;
        }
        let frame = entry.frame();
        expected = frame.next_offset();
        frames.push(frame);
    }
    debug_assert!(expected.is_multiple_of(FRAME_ALIGN as u64));
    (expected == end).then_some(frames)
}
