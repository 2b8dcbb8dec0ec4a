//! `walfs dump DIR` and `walfs tail DIR`: one line per record, from a read-only open.
//!
//! A read-only `Wal` is a snapshot: it never sees what another process appends later. `tail
//! --follow` therefore reopens the directory (read-only again) every interval and resumes after
//! the last record printed; its reader follows rotation into the next segment.

use std::io::StdoutLock;
use std::path::PathBuf;
use std::time::Duration;

use walfs::{Position, Reader, RecoveryReport, SegmentId, SegmentInfo, Wal};

use crate::common::{
    CmdResult, EXIT_CORRUPT, Failure, Format, LogIndexes, Printer, WalDir, output_failure,
    parse_position,
};

const HEADER_END: u64 = walfs::core::format::HEADER_LEN as u64;

/// Arguments of `walfs dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The WAL directory.
    dir: PathBuf,
    /// Extension of the segment files.
    #[arg(long, default_value = ".wal")]
    ext: String,
    /// Start at this record: `SEGMENT` (its first record) or `SEGMENT:OFFSET` (a record start,
    /// or the end of the segment's data).
    #[arg(long, value_name = "SEGMENT[:OFFSET]", value_parser = parse_position)]
    from: Option<Position>,
    /// Print at most this many records.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
}

/// Arguments of `walfs tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// The WAL directory.
    dir: PathBuf,
    /// Extension of the segment files.
    #[arg(long, default_value = ".wal")]
    ext: String,
    /// How many of the last records to print first.
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    lines: u64,
    /// Keep printing records as they are appended, following rotation (until interrupted).
    #[arg(short = 'f', long)]
    follow: bool,
    /// With --follow: how often to look for new records, in milliseconds.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    interval_ms: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
}

/// Prints the records `reader` returns until it has none (or `limit` were printed). Returns how
/// many were printed.
fn print_records(
    wal_dir: &WalDir,
    reader: &mut Reader,
    indexes: &mut LogIndexes,
    printer: &mut Printer<StdoutLock<'static>>,
    limit: Option<u64>,
) -> Result<u64, Failure> {
    let mut printed = 0u64;
    while limit.is_none_or(|limit| printed < limit) {
        match reader.next() {
            Ok(Some(record)) => {
                let position = record.position();
                let log_index = indexes.next(position.segment);
                printer
                    .record(position, log_index, record.payload())
                    .map_err(|e| output_failure(&e))?;
                printed += 1;
            }
            Ok(None) => break,
            Err(error) => {
                let _ = printer.flush();
                return Err(wal_dir.describe(&error));
            }
        }
    }
    Ok(printed)
}

fn info_of(wal_dir: &WalDir, infos: &[SegmentInfo], id: SegmentId) -> Result<SegmentInfo, Failure> {
    infos
        .iter()
        .find(|info| info.id == id)
        .copied()
        .ok_or_else(|| {
            let ids = match (infos.first(), infos.last()) {
                (Some(first), Some(last)) => format!("segments {}..={}", first.id, last.id),
                _ => "no segments".to_owned(),
            };
            Failure::unreadable(format!(
                "{}: no segment {id} ({ids})",
                wal_dir.segment_path(id).display()
            ))
        })
}

/// A reader at `from`, and the ordinal of the record there in its segment.
fn reader_from(
    wal_dir: &WalDir,
    wal: &Wal,
    infos: &[SegmentInfo],
    from: Position,
) -> Result<(Reader, u64), Failure> {
    let info = info_of(wal_dir, infos, from.segment)?;
    if from.offset <= HEADER_END {
        let reader = wal
            .reader_at(Position::new(from.segment, 0))
            .map_err(|e| wal_dir.describe(&e))?;
        return Ok((reader, 0));
    }
    if from.offset == info.end {
        let reader = wal.reader_at(from).map_err(|e| wal_dir.describe(&e))?;
        return Ok((reader, info.record_count));
    }
    // A record must start there (this checks its CRC too).
    if let Err(error) = wal.read(from) {
        return Err(
            not_a_record_start(wal_dir, wal, from).unwrap_or_else(|| wal_dir.describe(&error))
        );
    }
    let ordinal = match info.first_log_index {
        // The position of log index first + k grows with k: binary search for `from`.
        Some(first) => {
            let (mut low, mut high) = (0u64, info.record_count);
            while low < high {
                let mid = low + (high - low) / 2;
                let at = wal
                    .position_for_index(first + mid)
                    .map_err(|e| wal_dir.describe(&e))?;
                if at < from {
                    low = mid + 1;
                } else {
                    high = mid;
                }
            }
            low
        }
        // Unindexed records: the ordinal is not needed.
        None => 0,
    };
    let reader = wal.reader_at(from).map_err(|e| wal_dir.describe(&e))?;
    Ok((reader, ordinal))
}

/// When the bytes at `from` do not read as a record: whether that is because no record starts
/// there (the records before and after it read fine), rather than damage.
fn not_a_record_start(wal_dir: &WalDir, wal: &Wal, from: Position) -> Option<Failure> {
    let mut reader = wal.reader_at(Position::new(from.segment, 0)).ok()?;
    let mut before = None;
    while let Ok(Some(record)) = reader.next() {
        let at = record.position();
        if at.segment != from.segment || at.offset == from.offset {
            return None;
        }
        if at.offset > from.offset {
            let before = before.map_or_else(String::new, |b| format!("{b} and "));
            return Some(Failure::unreadable(format!(
                "{}: no record starts at offset {} (records start at {before}{})",
                wal_dir.segment_path(from.segment).display(),
                from.offset,
                at.offset
            )));
        }
        before = Some(at.offset);
    }
    None
}

/// Damage the read-only open stepped around at or after `from`: the dump ends before it.
fn damage_after(
    wal_dir: &WalDir,
    report: &RecoveryReport,
    from: Option<Position>,
) -> Option<Failure> {
    let (id, damage) = report
        .repaired
        .iter()
        .find(|(id, _)| from.is_none_or(|from| *id >= from.segment))?;
    Some(Failure::new(
        EXIT_CORRUPT,
        format!(
            "{}: corrupt at offset {}: {}; the {} records after it are not shown (see walfs \
             verify)",
            wal_dir.segment_path(*id).display(),
            damage.offset,
            damage.reason,
            damage.frames_after.count
        ),
    ))
}

pub fn run_dump(args: &DumpArgs) -> CmdResult {
    let wal_dir = WalDir::new(&args.dir, &args.ext);
    let (wal, report) = wal_dir.open()?;
    let infos = wal.segments();
    let mut indexes = LogIndexes::new(&infos);
    let mut reader = match args.from {
        Some(from) => {
            let (reader, ordinal) = reader_from(&wal_dir, &wal, &infos, from)?;
            indexes.start_at(from.segment, ordinal);
            reader
        }
        None => wal.reader(),
    };
    let mut printer = Printer::new(std::io::stdout().lock(), args.format);
    let printed = print_records(
        &wal_dir,
        &mut reader,
        &mut indexes,
        &mut printer,
        args.limit,
    )?;
    printer.flush().map_err(|e| output_failure(&e))?;
    let stopped_by_limit = args.limit.is_some_and(|limit| printed >= limit);
    match damage_after(&wal_dir, &report, args.from) {
        Some(failure) if !stopped_by_limit => Err(failure),
        _ => Ok(0),
    }
}

/// Where the last `count` records start: a segment and the ordinal of the record there.
fn last_records_start(infos: &[SegmentInfo], count: u64) -> (SegmentId, u64) {
    let total: u64 = infos.iter().map(|info| info.record_count).sum();
    let mut skip = total.saturating_sub(count);
    for info in infos {
        if skip < info.record_count {
            return (info.id, skip);
        }
        skip -= info.record_count;
    }
    infos
        .last()
        .map_or((SegmentId(1), 0), |last| (last.id, last.record_count))
}

pub fn run_tail(args: &TailArgs) -> CmdResult {
    let wal_dir = WalDir::new(&args.dir, &args.ext);
    let (wal, _report) = wal_dir.open()?;
    let mut infos = wal.segments();
    let mut indexes = LogIndexes::new(&infos);
    let (segment, ordinal) = last_records_start(&infos, args.lines);
    let mut reader = wal
        .reader_at(Position::new(segment, 0))
        .map_err(|e| wal_dir.describe(&e))?;
    for _ in 0..ordinal {
        if reader.next().map_err(|e| wal_dir.describe(&e))?.is_none() {
            break;
        }
    }
    indexes.start_at(segment, ordinal);
    let mut printer = Printer::new(std::io::stdout().lock(), args.format);
    print_records(&wal_dir, &mut reader, &mut indexes, &mut printer, None)?;
    printer.flush().map_err(|e| output_failure(&e))?;
    if !args.follow {
        return Ok(0);
    }
    let interval = Duration::from_millis(args.interval_ms.max(1));
    let mut next = reader.next_position();
    drop((reader, wal));
    let mut failed_opens = 0u32;
    loop {
        std::thread::sleep(interval);
        // A writer may be in the middle of a rotation or a retention pass: retry a few times.
        let wal = match wal_dir.open() {
            Ok((wal, _)) => {
                failed_opens = 0;
                wal
            }
            Err(failure) => {
                failed_opens += 1;
                if failed_opens >= 25 {
                    return Err(failure);
                }
                continue;
            }
        };
        infos.clone_from(&wal.segments());
        indexes.refresh(&infos);
        match infos.iter().find(|info| info.id == next.segment) {
            Some(info) if info.end < next.offset => {
                eprintln!(
                    "walfs: {}: the log was truncated below offset {}; following from offset {}",
                    wal_dir.segment_path(info.id).display(),
                    next.offset,
                    info.end
                );
                next = Position::new(info.id, info.end);
                indexes.start_at(info.id, info.record_count);
            }
            Some(_) => {}
            None => {
                // Removed by retention: go on with the first segment after it.
                let Some(info) = infos.iter().find(|info| info.id > next.segment) else {
                    continue;
                };
                next = Position::new(info.id, 0);
                indexes.start_at(info.id, 0);
            }
        }
        let mut reader = wal.reader_at(next).map_err(|e| wal_dir.describe(&e))?;
        print_records(&wal_dir, &mut reader, &mut indexes, &mut printer, None)?;
        printer.flush().map_err(|e| output_failure(&e))?;
        next = reader.next_position();
    }
}
