//! What the commands share: exit codes and one-line failures, the read-only open of a WAL
//! directory, record printing (jsonl, hex, raw), log indexes of records, times and JSON strings.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use walfs::core::Error as CoreError;
use walfs::core::storage::Storage;
use walfs::{
    Error, FsStorage, Options, Position, RecoveryReport, RepairPolicy, SegmentId, SegmentInfo, Wal,
};

/// Exit status: verify found a torn tail (and nothing worse).
pub const EXIT_TORN: u8 = 1;
/// Exit status: damaged records (corruption of acknowledged data, or a record that fails its
/// check when read).
pub const EXIT_CORRUPT: u8 = 2;
/// Exit status: the directory or a file cannot be read at all (missing, unreadable, a segment
/// header that does not decode).
pub const EXIT_UNREADABLE: u8 = 3;
/// Exit status: bad command-line arguments (sysexits' `EX_USAGE`; clap's own 2 would read as
/// corruption).
pub const EXIT_USAGE: u8 = 64;

/// A command that failed: the exit status and the one-line message.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn unreadable(message: impl Into<String>) -> Self {
        Self::new(EXIT_UNREADABLE, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(EXIT_USAGE, message)
    }
}

/// What a command returns: its exit status, or a failure to report.
pub type CmdResult = Result<u8, Failure>;

/// A failure to write the output. A closed pipe (`walfs dump DIR | head`) is not an error: the
/// command stops quietly.
pub fn output_failure(error: &io::Error) -> Failure {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Failure::new(0, String::new())
    } else {
        Failure::unreadable(format!("standard output: {error}"))
    }
}

/// A WAL directory and the extension of its segment files.
#[derive(Debug, Clone)]
pub struct WalDir {
    pub dir: PathBuf,
    pub ext: String,
}

impl WalDir {
    pub fn new(dir: &Path, ext: &str) -> Self {
        WalDir {
            dir: dir.to_path_buf(),
            ext: ext.to_owned(),
        }
    }

    /// The file of segment `id`.
    pub fn segment_path(&self, id: SegmentId) -> PathBuf {
        self.dir.join(walfs::segment_file_name(id, &self.ext))
    }

    /// The directory, opened read-only for listing and mapping segments (no lock, no change).
    pub fn storage(&self) -> Result<FsStorage, Failure> {
        FsStorage::open(&self.dir, &self.ext, true).map_err(|e| self.describe(&e))
    }

    /// The segment ids present, ascending; a directory without any is a failure.
    pub fn segment_ids(&self, storage: &mut FsStorage) -> Result<Vec<SegmentId>, Failure> {
        let ids = storage
            .list_segments()
            .map_err(|e| Failure::unreadable(e.to_string()))?;
        if ids.is_empty() {
            return Err(Failure::unreadable(format!(
                "{}: no segment files (named like {})",
                self.dir.display(),
                walfs::segment_file_name(SegmentId(1), &self.ext)
            )));
        }
        Ok(ids)
    }

    /// Opens the WAL read-only: no lock is taken and no byte changes, so it works while another
    /// process writes. Damage below a durable watermark does not fail the open: the view ends
    /// there and the report names it (`repaired`), but nothing is repaired on disk.
    pub fn open(&self) -> Result<(Wal, RecoveryReport), Failure> {
        let mut storage = self.storage()?;
        self.segment_ids(&mut storage)?;
        drop(storage);
        let options = Options::new()
            .extension(&self.ext)
            .read_only(true)
            .repair(RepairPolicy::TruncateAtDamage);
        Wal::open_with_report(&self.dir, options).map_err(|e| self.describe(&e))
    }

    /// The one-line message and exit status of a library error, naming the file concerned.
    pub fn describe(&self, error: &Error) -> Failure {
        match error {
            Error::Wal(error) => self.describe_core(error),
            Error::Dir(error) => Failure::unreadable(error.to_string()),
            other => Failure::unreadable(format!("{}: {other}", self.dir.display())),
        }
    }

    fn describe_core(&self, error: &CoreError<walfs::FsError>) -> Failure {
        match error {
            CoreError::Corrupt {
                segment,
                offset,
                reason,
            } => {
                // A header that does not decode makes the segment unreadable; a damaged record
                // is corruption.
                let code = if *offset == 0 {
                    EXIT_UNREADABLE
                } else {
                    EXIT_CORRUPT
                };
                Failure::new(
                    code,
                    format!(
                        "{}: corrupt at offset {offset}: {reason}",
                        self.segment_path(*segment).display()
                    ),
                )
            }
            CoreError::Storage { source, .. } | CoreError::Region { source, .. }
                if source.path().is_some() =>
            {
                Failure::unreadable(source.to_string())
            }
            other => match other.segment() {
                Some(segment) => Failure::unreadable(format!(
                    "{}: {other}",
                    self.segment_path(segment).display()
                )),
                None => Failure::unreadable(format!("{}: {other}", self.dir.display())),
            },
        }
    }
}

/// Parses `SEGMENT` or `SEGMENT:OFFSET` (offsets below 64 mean the segment's first record).
pub fn parse_position(text: &str) -> Result<Position, String> {
    let (segment, offset) = match text.split_once(':') {
        Some((segment, offset)) => (segment, Some(offset)),
        None => (text, None),
    };
    let segment: u32 = segment
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: expected SEGMENT or SEGMENT:OFFSET"))?;
    let offset: u64 = match offset {
        Some(offset) => offset
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: expected SEGMENT or SEGMENT:OFFSET"))?,
        None => 0,
    };
    Ok(Position::new(SegmentId(segment), offset))
}

/// Parses a byte count: digits with an optional binary suffix (`k`, `m`, `g`, with or without
/// `ib`/`b`, any case): `4096`, `64k`, `16MiB`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}`: expected a byte count such as 4096, 64k or 16MiB"))?;
    let shift = match suffix {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!("`{text}`: unknown unit `{suffix}` (use k, m or g)"));
        }
    };
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}`: too large"))
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `{"segment":1,"offset":64,"length":5,"log_index":7,"data":"68656c6c6f"}`
    Jsonl,
    /// `1:64 length=5 log_index=7 68656c6c6f` (`log_index=-` when absent)
    Hex,
    /// The payload bytes, then a newline.
    Raw,
}

/// Writes records in one [`Format`], buffered.
pub struct Printer<W: Write> {
    out: io::BufWriter<W>,
    format: Format,
    line: Vec<u8>,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, format: Format) -> Self {
        Printer {
            out: io::BufWriter::with_capacity(1 << 16, out),
            format,
            line: Vec::new(),
        }
    }

    /// Prints one record.
    pub fn record(
        &mut self,
        position: Position,
        log_index: Option<u64>,
        payload: &[u8],
    ) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        match self.format {
            Format::Jsonl => {
                write!(
                    line,
                    "{{\"segment\":{},\"offset\":{},\"length\":{},\"log_index\":",
                    position.segment.0,
                    position.offset,
                    payload.len()
                )?;
                match log_index {
                    Some(index) => write!(line, "{index}")?,
                    None => line.extend_from_slice(b"null"),
                }
                line.extend_from_slice(b",\"data\":\"");
                push_hex(line, payload);
                line.extend_from_slice(b"\"}\n");
            }
            Format::Hex => {
                write!(
                    line,
                    "{}:{} length={} log_index=",
                    position.segment.0,
                    position.offset,
                    payload.len()
                )?;
                match log_index {
                    Some(index) => write!(line, "{index} ")?,
                    None => line.extend_from_slice(b"- "),
                }
                push_hex(line, payload);
                line.push(b'\n');
            }
            Format::Raw => {
                line.extend_from_slice(payload);
                line.push(b'\n');
            }
        }
        self.out.write_all(line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends `bytes` in lowercase hex.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
}

/// Log indexes of the records a reader returns, in order: a segment's records carry
/// `first_log_index + ordinal` (SPEC §13.6), or none when its first log index is 0.
#[derive(Debug, Default)]
pub struct LogIndexes {
    first: BTreeMap<SegmentId, Option<u64>>,
    segment: SegmentId,
    next_ordinal: u64,
}

impl LogIndexes {
    pub fn new(infos: &[SegmentInfo]) -> Self {
        let mut indexes = LogIndexes::default();
        indexes.refresh(infos);
        indexes
    }

    /// Takes the segments' first log indexes again (after a reopen).
    pub fn refresh(&mut self, infos: &[SegmentInfo]) {
        self.first = infos
            .iter()
            .map(|info| (info.id, info.first_log_index))
            .collect();
    }

    /// The next record read from `segment` is its `ordinal`-th (0-based).
    pub fn start_at(&mut self, segment: SegmentId, ordinal: u64) {
        self.segment = segment;
        self.next_ordinal = ordinal;
    }

    /// The log index of the next record, read from `segment` (a reader enters a new segment at
    /// its first record).
    pub fn next(&mut self, segment: SegmentId) -> Option<u64> {
        if segment != self.segment {
            self.start_at(segment, 0);
        }
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        let first = self.first.get(&segment).copied().flatten()?;
        first.checked_add(ordinal)
    }
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{what} [{{bar:40}}] {{pos}}/{{len}} ({{eta}})");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A header time (nanoseconds since the Unix epoch) as `2024-05-01T12:34:56.789Z`; `-` for 0.
pub fn format_time(ns: i64) -> String {
    if ns == 0 {
        return "-".to_owned();
    }
    let secs = ns.div_euclid(1_000_000_000);
    let millis = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An optional number as JSON.
pub fn json_opt(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        assert_eq!(format_time(0), "-");
        assert_eq!(format_time(1), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_time(951_827_696_123_000_000),
            "2000-02-29T12:34:56.123Z"
        );
        assert_eq!(format_time(-1_000_000_000), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn byte_counts_and_positions_parse() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64k"), Ok(65_536));
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert!(parse_bytes("x").is_err());
        assert!(parse_bytes("1q").is_err());
        assert_eq!(
            parse_position("2:128"),
            Ok(Position::new(SegmentId(2), 128))
        );
        assert_eq!(parse_position("3"), Ok(Position::new(SegmentId(3), 0)));
        assert!(parse_position("a:1").is_err());
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
