//! The README's main job: write, crash, recover and measure a real log in a temporary directory.
//!
//! Until the std backend (`walfs`, mmap files) lands, this drives `walfs-core` over one plain
//! segment file (`pwrite` / `fdatasync`), which is exactly what the core asks of a medium:
//!
//! 1. measure: fill a 64 MiB segment with 1 KiB records, syncing every 4 MiB; reopen (recovery
//!    scan with every CRC checked) and read everything back, verifying each payload;
//! 2. crash: a child process appends records and reports each sync that returned; the parent kills
//!    it (SIGKILL) mid-stream, reopens the file and checks that every acknowledged record is there,
//!    intact, in order, and that what was recovered is a prefix of what was written.
//!
//! Run: `cargo run --release -p walfs-tests --example demo`
#![allow(clippy::cast_precision_loss, reason = "throughput figures for display")]

use std::fs::{File, OpenOptions as FsOpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use walfs_core::{
    CursorStep, OpenOptions, Region, RegionError, RegionErrorKind, RegionRead, ScanStop, Segment,
    SegmentCursor, SegmentId, SegmentInit,
};
use walfs_tests::payload::splitmix64;

const SEGMENT_SIZE: u64 = 64 * 1024 * 1024;
const RECORD_LEN: usize = 1024;
const SYNC_EVERY_BYTES: u64 = 4 * 1024 * 1024;

/// A segment stored in a plain file.
struct FileRegion {
    file: File,
    capacity: u64,
}

#[derive(Debug)]
struct IoError(std::io::Error);

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl RegionError for IoError {
    fn kind(&self) -> RegionErrorKind {
        RegionErrorKind::Io
    }
}

impl FileRegion {
    fn create(path: &Path, capacity: u64) -> std::io::Result<Self> {
        let file = FsOpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.set_len(capacity)?;
        Ok(FileRegion { file, capacity })
    }

    fn open(path: &Path) -> std::io::Result<Self> {
        let file = FsOpenOptions::new().read(true).write(true).open(path)?;
        let capacity = file.metadata()?.len();
        Ok(FileRegion { file, capacity })
    }
}

impl RegionRead for FileRegion {
    type Error = IoError;

    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.file.read_exact_at(buf, offset).map_err(IoError)
    }
}

impl Region for FileRegion {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        self.file.write_all_at(data, offset).map_err(IoError)
    }

    fn persist(&mut self, _range: Range<u64>) -> Result<(), IoError> {
        self.file.sync_data().map_err(IoError)
    }

    fn sync(&mut self) -> Result<(), IoError> {
        self.file.sync_data().map_err(IoError)
    }
}

/// Record `i`'s payload: deterministic, so the parent can verify what the child wrote.
fn record(i: u64, out: &mut [u8; RECORD_LEN]) {
    let mut state = i;
    for chunk in out.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
}

fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

fn init() -> SegmentInit {
    SegmentInit {
        created_at: now_ns(),
        marker: 0,
        first_log_index: 0,
    }
}

type DemoResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[allow(clippy::needless_pass_by_value, reason = "used as a map_err adaptor")]
fn boxed(error: walfs_core::Error<IoError>) -> Box<dyn std::error::Error> {
    error.to_string().into()
}

/// Reads every record with a cursor and checks payload `i` against `record(i)`.
/// Returns how many records were read.
fn verify_all(segment: &mut Segment<FileRegion>) -> DemoResult<u64> {
    let mut cursor = SegmentCursor::new(segment.id());
    let mut expected = [0u8; RECORD_LEN];
    let mut buf = [0u8; RECORD_LEN];
    let mut count = 0u64;
    loop {
        match cursor.next_in(segment).map_err(boxed)? {
            CursorStep::Record(frame) => {
                record(count, &mut expected);
                let payload = segment.read_payload(&frame, &mut buf).map_err(boxed)?;
                if payload != expected.as_slice() {
                    return Err(format!("record {count} at offset {} differs", frame.offset).into());
                }
                count += 1;
            }
            CursorStep::NoNewData | CursorStep::EndOfSegment => return Ok(count),
        }
    }
}

fn measure(dir: &Path) -> DemoResult<()> {
    let path = dir.join("000000001.wal");
    let mut segment = Segment::create(
        FileRegion::create(&path, SEGMENT_SIZE)?,
        SegmentId(1),
        init(),
    )
    .map_err(boxed)?;
    let mut payload = [0u8; RECORD_LEN];
    let started = Instant::now();
    let mut count = 0u64;
    let mut unsynced = 0u64;
    while segment.fits(RECORD_LEN as u64) {
        record(count, &mut payload);
        segment.append(&payload, 0).map_err(boxed)?;
        count += 1;
        unsynced += RECORD_LEN as u64;
        if unsynced >= SYNC_EVERY_BYTES {
            segment.sync(now_ns()).map_err(boxed)?;
            unsynced = 0;
        }
    }
    segment.seal(now_ns()).map_err(boxed)?;
    let write_time = started.elapsed();
    drop(segment);

    let started = Instant::now();
    let options = OpenOptions {
        verify_sealed: true,
        ..OpenOptions::default()
    };
    let (mut segment, _) =
        Segment::open(FileRegion::open(&path)?, SegmentId(1), options).map_err(boxed)?;
    let recover_time = started.elapsed();
    let started = Instant::now();
    let read = verify_all(&mut segment)?;
    let read_time = started.elapsed();
    assert_eq!(read, count, "every record reads back");
    let mib = (count * RECORD_LEN as u64) as f64 / (1024.0 * 1024.0);
    println!("measure: {count} records of {RECORD_LEN} B in one 64 MiB segment file");
    println!(
        "  write + sync every 4 MiB: {:>8.0} records/s  {:>7.1} MiB/s",
        count as f64 / write_time.as_secs_f64(),
        mib / write_time.as_secs_f64()
    );
    println!(
        "  recover (CRC of every record): {:>7.1} MiB/s ({:.1} ms)",
        mib / recover_time.as_secs_f64(),
        recover_time.as_secs_f64() * 1e3
    );
    println!(
        "  read back + verify:        {:>8.0} records/s  {:>7.1} MiB/s",
        read as f64 / read_time.as_secs_f64(),
        mib / read_time.as_secs_f64()
    );
    Ok(())
}

/// The child: append records forever, report every sync that returned.
fn child(path: &Path) -> DemoResult<()> {
    let mut segment = Segment::create(
        FileRegion::create(path, SEGMENT_SIZE)?,
        SegmentId(1),
        init(),
    )
    .map_err(boxed)?;
    let mut out = std::io::stdout().lock();
    let mut payload = [0u8; RECORD_LEN];
    let mut count = 0u64;
    while segment.fits(RECORD_LEN as u64) {
        record(count, &mut payload);
        segment.append(&payload, 0).map_err(boxed)?;
        count += 1;
        if count.is_multiple_of(64) {
            segment.sync(now_ns()).map_err(boxed)?;
            writeln!(out, "synced {count}")?;
            out.flush()?;
        }
    }
    Ok(())
}

fn crash(dir: &Path) -> DemoResult<()> {
    let path = dir.join("000000002.wal");
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()?;
    // A thread collects the child's acknowledgements so the kill lands at an arbitrary moment,
    // not right after a sync the parent just heard about.
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let reader = std::thread::spawn(move || {
        let mut acknowledged = 0u64;
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if let Some(n) = line.strip_prefix("synced ").and_then(|n| n.parse().ok()) {
                acknowledged = n;
            }
        }
        acknowledged
    });
    std::thread::sleep(Duration::from_millis(
        250 + u64::from(std::process::id() % 100),
    ));
    child.kill()?;
    child.wait()?;
    let acknowledged = reader.join().map_err(|_| "reader thread panicked")?;

    let (mut segment, report) = Segment::open(
        FileRegion::open(&path)?,
        SegmentId(2),
        OpenOptions::default(),
    )
    .map_err(boxed)?;
    let scan = report.scan.ok_or("an unsealed segment is always scanned")?;
    let verdict = match &scan.stop {
        ScanStop::CleanEnd => "clean end".to_string(),
        ScanStop::TornTail(damage) => format!(
            "torn tail at offset {} ({}), cut",
            damage.offset, damage.reason
        ),
        ScanStop::Corruption(damage) => {
            return Err(format!("corruption at {}: {}", damage.offset, damage.reason).into());
        }
    };
    let recovered = verify_all(&mut segment)?;
    println!("crash: child killed with SIGKILL while appending");
    println!("  records acknowledged by a sync before the kill: {acknowledged}");
    println!("  records recovered, each verified in order:      {recovered}");
    println!("  recovery verdict: {verdict}");
    if recovered < acknowledged {
        return Err(format!("lost {} acknowledged records", acknowledged - recovered).into());
    }
    println!(
        "  every acknowledged record survived; the recovered log is a prefix of what was written"
    );
    Ok(())
}

fn main() -> DemoResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--child" {
        return child(&PathBuf::from(&args[2]));
    }
    let dir = std::env::temp_dir().join(format!("walfs-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("walfs demo in {}", dir.display());
    let result = measure(&dir).and_then(|()| crash(&dir));
    std::fs::remove_dir_all(&dir)?;
    result
}
