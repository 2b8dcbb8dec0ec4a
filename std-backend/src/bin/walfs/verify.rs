//! `walfs verify DIR`: reads every record of every segment, sealed ones included, checking CRC and
//! trailer, and judges each stop as recovery would (walfs-core's `scan_segment` against the
//! durable watermark). Read-only: each segment is mapped read-only and scanned; nothing is locked
//! or written.
//!
//! Exit status: 0 clean, 1 torn tail only (unacknowledged writes the next open cuts), 2
//! corruption (acknowledged data damaged), 3 cannot read (missing directory or file, a segment
//! header that does not decode).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use walfs::FsStorage;
use walfs::core::format::{
    HEADER_LEN, INDEX_ENTRY_LEN, IndexEntry, RecordFrame, SEGMENT_SIZE_MAX, SEGMENT_SIZE_MIN,
    SegmentHeader,
};
use walfs::core::region::RegionRead;
use walfs::core::scan::{ScanStop, find_dirty_end, scan_segment};
use walfs::core::storage::Storage;
use walfs::{CorruptionReason, SegmentId};

use crate::common::{
    CmdResult, EXIT_CORRUPT, EXIT_TORN, EXIT_UNREADABLE, WalDir, output_failure, progress_bar,
};

const HEADER_END: u64 = HEADER_LEN as u64;

/// Arguments of `walfs verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The WAL directory.
    dir: PathBuf,
    /// Extension of the segment files.
    #[arg(long, default_value = ".wal")]
    ext: String,
}

/// The verdict on one segment, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Clean,
    Torn,
    Corrupt,
    Unreadable,
}

impl Verdict {
    fn exit_code(self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Torn => EXIT_TORN,
            Verdict::Corrupt => EXIT_CORRUPT,
            Verdict::Unreadable => EXIT_UNREADABLE,
        }
    }
}

/// What verifying one segment found.
struct Check {
    verdict: Verdict,
    /// Valid records read (before the damage, if any).
    records: u64,
    /// One line, naming the file.
    line: String,
    /// An unsealed walfs segment before the last: the segments after it are leftovers of an
    /// interrupted truncation.
    interrupted_truncation: bool,
}

impl Check {
    fn new(verdict: Verdict, records: u64, line: String) -> Self {
        Check {
            verdict,
            records,
            line,
            interrupted_truncation: false,
        }
    }
}

pub fn run(args: &Args) -> CmdResult {
    let wal_dir = WalDir::new(&args.dir, &args.ext);
    let mut storage = wal_dir.storage()?;
    let ids = wal_dir.segment_ids(&mut storage)?;
    let bar = progress_bar(ids.len() as u64, "verify");
    let mut stdout = std::io::stdout().lock();
    let mut worst = Verdict::Clean;
    let mut records = 0u64;
    let mut counts = [0usize; 4];
    let mut after_unsealed_walfs = false;
    for (position, &id) in ids.iter().enumerate() {
        let is_last = position + 1 == ids.len();
        let mut check = check_segment(&mut storage, &wal_dir, id, is_last);
        if after_unsealed_walfs {
            check.line.push_str(
                "; a leftover of an interrupted truncation: the next open removes this segment",
            );
        }
        after_unsealed_walfs |= check.interrupted_truncation;
        bar.inc(1);
        bar.suspend(|| writeln!(stdout, "{}", check.line))
            .map_err(|e| output_failure(&e))?;
        worst = worst.max(check.verdict);
        records += check.records;
        counts[check.verdict as usize] += 1;
    }
    bar.finish_and_clear();
    let segments = count(ids.len() as u64, "segment");
    let summary = match worst {
        Verdict::Clean => format!(
            "clean: {segments}, {}, every record checked",
            count(records, "record")
        ),
        Verdict::Torn => format!(
            "torn tail: in {} of {segments}, an interrupted write that the next open cuts; {} \
             valid",
            counts[Verdict::Torn as usize],
            count(records, "record")
        ),
        Verdict::Corrupt => format!(
            "corruption: in {} of {segments}, damaged records that were acknowledged; {} valid",
            counts[Verdict::Corrupt as usize],
            count(records, "record")
        ),
        Verdict::Unreadable => format!(
            "cannot read: {} of {segments}",
            counts[Verdict::Unreadable as usize]
        ),
    };
    writeln!(stdout, "{summary}")
        .and_then(|()| stdout.flush())
        .map_err(|e| output_failure(&e))?;
    Ok(worst.exit_code())
}

/// `1 record`, `2 records`.
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Verifies one segment file.
fn check_segment(storage: &mut FsStorage, wal_dir: &WalDir, id: SegmentId, is_last: bool) -> Check {
    let path = wal_dir.segment_path(id).display().to_string();
    let unreadable = |message: String| Check::new(Verdict::Unreadable, 0, message);
    let mut region = match storage.open_segment(id) {
        Ok(region) => region,
        Err(error) => return unreadable(error.to_string()),
    };
    let capacity = region.capacity();
    if !(SEGMENT_SIZE_MIN..=SEGMENT_SIZE_MAX).contains(&capacity) {
        return unreadable(format!(
            "{path}: size {capacity} is not a segment size (80 bytes ..= 4 GiB)"
        ));
    }
    let mut bytes = [0u8; HEADER_LEN];
    if let Err(error) = region.read_at(0, &mut bytes) {
        return unreadable(format!("{path}: reading the header failed: {error}"));
    }
    let header = match SegmentHeader::decode(&bytes) {
        Ok(header) => header,
        Err(reason) => {
            let never_written = is_last
                && find_dirty_end(&mut region, HEADER_END, capacity)
                    .is_ok_and(|end| end == HEADER_END);
            return if never_written {
                Check::new(
                    Verdict::Torn,
                    0,
                    format!(
                        "{path}: header not written ({reason}) and nothing after it: a crash \
                         while the segment was created; the next open removes it"
                    ),
                )
            } else {
                unreadable(format!("{path}: corrupt at offset 0: {reason}"))
            };
        }
    };
    if header.flags.is_sealed() {
        check_sealed(storage, &mut region, &path, id, header, capacity)
    } else {
        check_unsealed(&mut region, &path, header, capacity, is_last)
    }
}

/// An unsealed segment: scanned to its capacity, each stop judged against its durable watermark
/// (none in segments of the Go original: every stop is then a torn tail).
fn check_unsealed(
    region: &mut walfs::MmapRegion,
    path: &str,
    header: SegmentHeader,
    capacity: u64,
    is_last: bool,
) -> Check {
    let unreadable = |message: String| Check::new(Verdict::Unreadable, 0, message);
    let watermarked = header.flags.has_watermark();
    let watermark = if watermarked {
        if let Err(reason) = header.check_write_offset(capacity) {
            return unreadable(format!("{path}: corrupt at offset 0: {reason}"));
        }
        header.write_offset
    } else {
        HEADER_END
    };
    let state = if is_last { "active" } else { "unsealed" };
    let outcome = match scan_segment(region, capacity, watermark, |_| {}) {
        Ok(outcome) => outcome,
        Err(error) => return unreadable(format!("{path}: reading failed: {error}")),
    };
    let records = outcome.record_count;
    let mut check = match &outcome.stop {
        ScanStop::CleanEnd => Check::new(
            Verdict::Clean,
            records,
            format!("{path}: {state}, {}, ok", count(records, "record")),
        ),
        ScanStop::TornTail(damage) => Check::new(
            Verdict::Torn,
            records,
            format!(
                "{path}: {state}, {}, then a torn tail at offset {}: {}; the next open cuts it{}",
                count(records, "record"),
                damage.offset,
                damage.reason,
                match damage.frames_after.count {
                    0 => String::new(),
                    n => format!(
                        " and the {} after it, never acknowledged",
                        count(n, "valid-looking record")
                    ),
                }
            ),
        ),
        ScanStop::Corruption(damage) => Check::new(
            Verdict::Corrupt,
            records,
            format!(
                "{path}: {state}, {}, then CORRUPTION at offset {} (below the durable watermark \
                 {watermark}): {}; {} after it would be lost",
                count(records, "record"),
                damage.offset,
                damage.reason,
                count(damage.frames_after.count, "record")
            ),
        ),
    };
    if !is_last {
        if watermarked {
            check.verdict = check.verdict.max(Verdict::Torn);
            check.interrupted_truncation = true;
            check.line.push_str(
                "; unsealed before the last segment: an interrupted truncation: the next open \
                 removes the segments after it",
            );
        } else {
            check
                .line
                .push_str("; unsealed before the last segment: the next open seals it");
        }
    }
    check
}

/// A sealed segment: every record up to the end its header records must be valid, and (for
/// segments written by walfs) as many as the header counts.
fn check_sealed(
    storage: &mut FsStorage,
    region: &mut walfs::MmapRegion,
    path: &str,
    id: SegmentId,
    header: SegmentHeader,
    capacity: u64,
) -> Check {
    if let Err(reason) = header.check_write_offset(capacity) {
        return Check::new(
            Verdict::Unreadable,
            0,
            format!("{path}: corrupt at offset 0: {reason}"),
        );
    }
    let end = header.write_offset;
    let mut frames = Vec::new();
    let outcome = match scan_segment(region, end, end, |frame| frames.push(frame)) {
        Ok(outcome) => outcome,
        Err(error) => {
            return Check::new(
                Verdict::Unreadable,
                0,
                format!("{path}: reading failed: {error}"),
            );
        }
    };
    let records = outcome.record_count;
    if let Some(damage) = outcome.damage() {
        return Check::new(
            Verdict::Corrupt,
            records,
            format!(
                "{path}: sealed, {}, then CORRUPTION at offset {}: {}; {} after it would be lost",
                count(records, "record"),
                damage.offset,
                damage.reason,
                count(damage.frames_after.count, "record")
            ),
        );
    }
    if header.flags.has_watermark() && header.entry_count != records {
        let reason = CorruptionReason::SealedCountMismatch {
            header_count: header.entry_count,
            scanned_count: records,
        };
        return Check::new(
            Verdict::Corrupt,
            records,
            format!("{path}: sealed, CORRUPTION at offset 0: {reason}"),
        );
    }
    let mut line = format!("{path}: sealed, {}, ok", count(records, "record"));
    let index_problem = match index_agrees(storage, id, &frames) {
        Ok(Some(true)) => None,
        Ok(Some(false)) => Some("disagrees with the records".to_owned()),
        Ok(None) => Some("is missing".to_owned()),
        Err(message) => Some(format!("cannot be read ({message})")),
    };
    if let Some(problem) = index_problem {
        let _ = write!(
            line,
            "; its index file {problem}: the next open rewrites it"
        );
    }
    Check::new(Verdict::Clean, records, line)
}

/// Whether segment `id`'s index file lists exactly `frames` (`None`: there is none).
fn index_agrees(
    storage: &mut FsStorage,
    id: SegmentId,
    frames: &[RecordFrame],
) -> Result<Option<bool>, String> {
    let mut bytes = Vec::new();
    if !storage
        .read_index(id, &mut bytes)
        .map_err(|e| e.to_string())?
    {
        return Ok(None);
    }
    if bytes.len() != frames.len() * INDEX_ENTRY_LEN {
        return Ok(Some(false));
    }
    Ok(Some(bytes.chunks_exact(INDEX_ENTRY_LEN).zip(frames).all(
        |(chunk, frame)| {
            chunk.try_into().is_ok_and(|entry| {
                let entry = IndexEntry::decode(entry);
                entry.offset == frame.offset && entry.payload_len == frame.payload_len
            })
        },
    )))
}
