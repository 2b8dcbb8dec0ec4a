//! `walfs inspect DIR`: one row per segment, then totals, as text or JSON.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use walfs::{RecoveryReport, SegmentInfo};

use crate::common::{CmdResult, WalDir, format_time, json_opt, json_string, output_failure};

/// Arguments of `walfs inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The WAL directory.
    dir: PathBuf,
    /// Extension of the segment files.
    #[arg(long, default_value = ".wal")]
    ext: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A segment's state: sealed, the active one, or unsealed before the last (a Go rotation that
/// crashed, or an interrupted truncation).
fn state(info: &SegmentInfo) -> &'static str {
    if info.sealed {
        "sealed"
    } else if info.active {
        "active"
    } else {
        "unsealed"
    }
}

/// What the next writable open would do, and damage the read-only open stepped around.
fn notes(wal_dir: &WalDir, infos: &[SegmentInfo], report: &RecoveryReport) -> Vec<String> {
    let path = |id| wal_dir.segment_path(id).display().to_string();
    let mut notes = Vec::new();
    for (id, damage) in &report.repaired {
        notes.push(format!(
            "{}: corrupt at offset {}: {}; the rows count only the records before it and \
             {} more records follow it (see walfs verify)",
            path(*id),
            damage.offset,
            damage.reason,
            damage.frames_after.count
        ));
    }
    for (id, damage) in &report.torn_tails {
        notes.push(format!(
            "{}: torn tail at offset {} ({}); the next open cuts it",
            path(*id),
            damage.offset,
            damage.reason
        ));
    }
    if let Some(id) = report.removed_unwritten {
        notes.push(format!(
            "{}: never written (a crash while it was created); the next open removes it",
            path(id)
        ));
    }
    for id in &report.removed_leftovers {
        notes.push(format!(
            "{}: left over from an interrupted truncation; the next open removes it",
            path(*id)
        ));
    }
    for info in infos.iter().filter(|info| !info.sealed && !info.active) {
        notes.push(format!(
            "{}: unsealed before the last segment; the next open seals it",
            path(info.id)
        ));
    }
    for id in &report.rebuilt_indexes {
        notes.push(format!(
            "{}: index file missing or stale; the next open rewrites it",
            path(*id)
        ));
    }
    notes
}

struct Totals {
    records: u64,
    used: u64,
    capacity: u64,
    first_log_index: Option<u64>,
    last_log_index: Option<u64>,
}

fn totals(infos: &[SegmentInfo]) -> Totals {
    Totals {
        records: infos.iter().map(|i| i.record_count).sum(),
        used: infos.iter().map(|i| i.end).sum(),
        capacity: infos.iter().map(|i| i.capacity).sum(),
        first_log_index: infos.iter().find_map(|i| i.first_log_index),
        last_log_index: infos.iter().rev().find_map(|i| i.last_log_index),
    }
}

fn range(first: Option<u64>, last: Option<u64>) -> String {
    match (first, last) {
        (Some(first), Some(last)) => format!("{first}..{last}"),
        (Some(first), None) => format!("{first}.."),
        _ => "-".to_owned(),
    }
}

fn table(wal_dir: &WalDir, infos: &[SegmentInfo], notes: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>9}  {:<8}  {:>9}  {:>23}  {:<15}  {:<24}  {:<24}",
        "segment", "state", "records", "bytes used / capacity", "log index", "created", "modified"
    );
    for info in infos {
        let _ = writeln!(
            out,
            "{:>9}  {:<8}  {:>9}  {:>23}  {:<15}  {:<24}  {:<24}",
            info.id.0,
            state(info),
            info.record_count,
            format!("{} / {}", info.end, info.capacity),
            range(info.first_log_index, info.last_log_index),
            format_time(info.created_at),
            format_time(info.last_modified_at),
        );
    }
    let t = totals(infos);
    let plural = if infos.len() == 1 { "" } else { "s" };
    let _ = writeln!(
        out,
        "total: {} segment{plural}, {} records, {} / {} bytes used, log index {} ({})",
        infos.len(),
        t.records,
        t.used,
        t.capacity,
        range(t.first_log_index, t.last_log_index),
        wal_dir.dir.display()
    );
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    // The last column is padded: drop the trailing spaces.
    out.lines().fold(String::new(), |mut text, line| {
        text.push_str(line.trim_end());
        text.push('\n');
        text
    })
}

fn json(wal_dir: &WalDir, infos: &[SegmentInfo], notes: &[String]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"dir\":{},\"ext\":{},\"segments\":[",
        json_string(&wal_dir.dir.to_string_lossy()),
        json_string(&wal_dir.ext)
    );
    for (i, info) in infos.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":{},\"state\":\"{}\",\"records\":{},\"bytes_used\":{},\"capacity\":{},\
             \"durable_end\":{},\"first_log_index\":{},\"last_log_index\":{},\
             \"created_at_ns\":{},\"created\":\"{}\",\"modified_at_ns\":{},\"modified\":\"{}\"}}",
            info.id.0,
            state(info),
            info.record_count,
            info.end,
            info.capacity,
            info.durable_end,
            json_opt(info.first_log_index),
            json_opt(info.last_log_index),
            info.created_at,
            format_time(info.created_at),
            info.last_modified_at,
            format_time(info.last_modified_at),
        );
    }
    let t = totals(infos);
    let _ = write!(
        out,
        "],\"totals\":{{\"segments\":{},\"records\":{},\"bytes_used\":{},\"capacity\":{},\
         \"first_log_index\":{},\"last_log_index\":{}}},\"notes\":[",
        infos.len(),
        t.records,
        t.used,
        t.capacity,
        json_opt(t.first_log_index),
        json_opt(t.last_log_index),
    );
    for (i, note) in notes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(note));
    }
    out.push_str("]}\n");
    out
}

pub fn run(args: &Args) -> CmdResult {
    let wal_dir = WalDir::new(&args.dir, &args.ext);
    let (wal, report) = wal_dir.open()?;
    let infos = wal.segments();
    let notes = notes(&wal_dir, &infos, &report);
    let text = if args.json {
        json(&wal_dir, &infos, &notes)
    } else {
        table(&wal_dir, &infos, &notes)
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| output_failure(&e))?;
    Ok(0)
}
