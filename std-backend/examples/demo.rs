//! The README's main job: measure, crash and recover a real walfs log in a temporary directory.
//!
//! 1. **Measure.** Append 1 KiB records to a [`Wal`] with the default 16 MiB segments (so it
//!    rotates a few times), syncing every 4 MiB; reopen it, timing recovery, and read everything
//!    back with a reader, checking every payload (and every CRC).
//! 2. **Crash.** Re-execute this program as a child (`--child DIR`) that appends deterministic
//!    records and syncs every 64 of them, printing `synced N` each time a sync returns. Kill it
//!    with SIGKILL at an arbitrary moment, reopen the WAL and check that every acknowledged record
//!    is there, intact and in order, and that what was recovered is a prefix of what was written.
//!
//! Any violation makes the program exit non-zero.
//!
//! Run: `cargo run --release -p walfs --example demo`
#![allow(clippy::cast_precision_loss, reason = "throughput figures for display")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use walfs::{Options, RecoveryReport, SyncPolicy, Wal};

type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: u64 = 1024 * 1024;
/// Payload size of the measured records.
const RECORD_LEN: usize = 1024;
/// Records of the measurement: 64 MiB of payload, about four 16 MiB segments' worth.
const MEASURE_RECORDS: u64 = 64 * 1024;
/// The measurement syncs every this many bytes.
const SYNC_EVERY_BYTES: u64 = 4 * MIB;
/// The crash child syncs every this many records.
const CHILD_SYNC_EVERY: u64 = 64;
/// The child stops by itself after this many records (a safety net; it is killed long before).
const CHILD_MAX_RECORDS: u64 = 4 * 1024 * 1024;
/// Segment size of the crash part: small, so the kill usually finds several segments.
const CRASH_SEGMENT_SIZE: u64 = MIB / 2;

/// One splitmix64 step.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `out` with record `i`'s deterministic bytes.
fn fill(i: u64, out: &mut [u8]) {
    let mut state = i;
    for chunk in out.chunks_mut(8) {
        let word = splitmix64(&mut state).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Record `i` of the crash child: deterministic bytes, 16..=2047 bytes long.
fn crash_record(i: u64, out: &mut Vec<u8>) {
    let mut state = !i;
    let len = 16 + usize::try_from(splitmix64(&mut state) % 2032).unwrap_or(0);
    out.resize(len, 0);
    fill(i, out);
}

fn mib_per_s(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / MIB as f64 / time.as_secs_f64()
}

fn per_s(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

fn measure(dir: &Path) -> DemoResult<()> {
    let options = Options::new().sync_policy(SyncPolicy::Bytes(SYNC_EVERY_BYTES));
    let wal = Wal::open(dir, options.clone())?;
    let mut payload = vec![0u8; RECORD_LEN];
    let started = Instant::now();
    for i in 0..MEASURE_RECORDS {
        fill(i, &mut payload);
        wal.append(&payload)?;
    }
    wal.sync()?;
    let write_time = started.elapsed();
    let segments = wal.segments().len();
    drop(wal);

    let started = Instant::now();
    let (wal, _report) = Wal::open_with_report(dir, options)?;
    let recover_time = started.elapsed();

    let started = Instant::now();
    let mut reader = wal.reader();
    let mut expected = vec![0u8; RECORD_LEN];
    let mut read = 0u64;
    while let Some(record) = reader.next()? {
        fill(read, &mut expected);
        if record.payload() != expected.as_slice() {
            return Err(format!("record {read} at {} differs", record.position()).into());
        }
        read += 1;
    }
    let read_time = started.elapsed();
    if read != MEASURE_RECORDS {
        return Err(format!("wrote {MEASURE_RECORDS} records, read back {read}").into());
    }

    let bytes = MEASURE_RECORDS * RECORD_LEN as u64;
    println!(
        "measure: {MEASURE_RECORDS} records of {RECORD_LEN} B ({} MiB) into 16 MiB segments ({segments} segments)",
        bytes / MIB
    );
    println!(
        "  append, sync every 4 MiB:  {:>9.0} records/s  {:>7.1} MiB/s  ({:.0} ms)",
        per_s(MEASURE_RECORDS, write_time),
        mib_per_s(bytes, write_time),
        write_time.as_secs_f64() * 1e3
    );
    println!(
        "  reopen (recovery):         {:>9.1} ms",
        recover_time.as_secs_f64() * 1e3
    );
    println!(
        "  read back + verify:        {:>9.0} records/s  {:>7.1} MiB/s  ({:.0} ms)",
        per_s(read, read_time),
        mib_per_s(bytes, read_time),
        read_time.as_secs_f64() * 1e3
    );
    Ok(())
}

/// The child: appends records until killed, reporting every sync that returned.
fn child(dir: &Path) -> DemoResult<()> {
    let wal = Wal::open(dir, Options::new().segment_size(CRASH_SEGMENT_SIZE))?;
    let mut out = std::io::stdout().lock();
    let mut payload = Vec::new();
    for i in 0..CHILD_MAX_RECORDS {
        crash_record(i, &mut payload);
        wal.append(&payload)?;
        let count = i + 1;
        if count.is_multiple_of(CHILD_SYNC_EVERY) {
            wal.sync()?;
            // Fails (and ends the child) if the parent has gone away.
            writeln!(out, "synced {count}")?;
            out.flush()?;
        }
    }
    Ok(())
}

fn describe(report: &RecoveryReport) {
    // Segment ids, runs shortened: "1-27, 30".
    let ids = |ids: &[walfs::SegmentId]| {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for id in ids {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == id.0 => *last = id.0,
                _ => runs.push((id.0, id.0)),
            }
        }
        runs.iter()
            .map(|&(first, last)| {
                if first == last {
                    first.to_string()
                } else {
                    format!("{first}-{last}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  recovery report:");
    println!("    segments opened:   [{}]", ids(&report.segments));
    if let Some(id) = report.created {
        println!("    created:           segment {id} (the last one was sealed)");
    }
    if report.torn_tails.is_empty() {
        println!("    torn tails:        none");
    }
    for (id, damage) in &report.torn_tails {
        println!(
            "    torn tail:         segment {id} at offset {} ({}), cut; {} valid-looking frames after it dropped",
            damage.offset, damage.reason, damage.frames_after.count
        );
    }
    for (id, damage) in &report.repaired {
        println!(
            "    repaired:          segment {id} at offset {} ({})",
            damage.offset, damage.reason
        );
    }
    if let Some(id) = report.removed_unwritten {
        println!("    removed:           segment {id} (created, never written)");
    }
    if !report.removed_leftovers.is_empty() {
        println!(
            "    removed leftovers: [{}]",
            ids(&report.removed_leftovers)
        );
    }
    if !report.sealed.is_empty() {
        println!("    sealed:            [{}]", ids(&report.sealed));
    }
    if !report.rebuilt_indexes.is_empty() {
        println!("    rebuilt indexes:   [{}]", ids(&report.rebuilt_indexes));
    }
}

fn crash(dir: &Path) -> DemoResult<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()?;
    // A thread collects the acknowledgements, so the kill lands at an arbitrary moment rather
    // than right after a sync the parent just heard about.
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let collector = std::thread::spawn(move || {
        let mut acknowledged = 0u64;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("synced ").and_then(|n| n.parse().ok()) {
                acknowledged = n;
            }
        }
        acknowledged
    });
    let delay = Duration::from_millis(250 + u64::from(std::process::id() % 101));
    std::thread::sleep(delay);
    child.kill()?; // SIGKILL
    let status = child.wait()?;
    let acknowledged = collector.join().map_err(|_| "collector thread panicked")?;

    let started = Instant::now();
    let (wal, report) =
        Wal::open_with_report(dir, Options::new().segment_size(CRASH_SEGMENT_SIZE))?;
    let recover_time = started.elapsed();
    let mut reader = wal.reader();
    let mut expected = Vec::new();
    let mut recovered = 0u64;
    let mut last = None;
    while let Some(record) = reader.next()? {
        crash_record(recovered, &mut expected);
        if record.payload() != expected.as_slice() {
            return Err(format!(
                "record {recovered} at {} is not the record written there: not a prefix",
                record.position()
            )
            .into());
        }
        if last.is_some_and(|last| record.position() <= last) {
            return Err(format!(
                "record {recovered} at {} is out of order",
                record.position()
            )
            .into());
        }
        last = Some(record.position());
        recovered += 1;
    }

    println!(
        "crash: child killed with SIGKILL after {} ms ({status}), {} KiB segments",
        delay.as_millis(),
        CRASH_SEGMENT_SIZE / 1024
    );
    println!("  records acknowledged by a sync before the kill: {acknowledged}");
    println!("  records recovered, each verified in order:      {recovered}");
    println!(
        "  reopen (recovery): {:.1} ms, {} segments",
        recover_time.as_secs_f64() * 1e3,
        wal.segments().len()
    );
    describe(&report);
    if acknowledged == 0 {
        return Err("the child acknowledged no sync before the kill: nothing was tested".into());
    }
    if recovered < acknowledged {
        return Err(format!("LOST {} acknowledged records", acknowledged - recovered).into());
    }
    println!(
        "  every acknowledged record survived, and the recovered log is a prefix of what was written"
    );
    println!(
        "  ({} records appended after the last acknowledged sync survived too: SIGKILL kills the\n   process, not the page cache; power loss is the crash simulator's job)",
        recovered - acknowledged
    );
    Ok(())
}

fn main() -> DemoResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir] = args.as_slice()
        && flag == "--child"
    {
        return child(Path::new(dir));
    }
    let root = tempfile::Builder::new().prefix("walfs-demo-").tempdir()?;
    println!("walfs demo in {}\n", root.path().display());
    measure(&root.path().join("measure"))?;
    println!();
    crash(&root.path().join("crash"))?;
    Ok(())
}
