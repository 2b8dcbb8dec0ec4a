//! `walfs bench`: appends records from one or more threads, then reads them all back, checking
//! every payload, and prints throughput and append latency percentiles. Works in a new temporary
//! directory (removed afterwards) unless `--dir` names one, which must not hold a WAL yet.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use walfs::{Options, SyncPolicy, Wal};

use crate::common::{CmdResult, EXIT_CORRUPT, Failure, output_failure, parse_bytes, progress_bar};

/// Arguments of `walfs bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write in (must not hold a WAL; kept afterwards). Default: a new temporary
    /// directory, removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Payload size of each record (bytes; k, m, g suffixes allowed).
    #[arg(long, default_value = "1024", value_parser = parse_bytes)]
    size: u64,
    /// Number of records.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// When appends are synced: `none` (one sync at the end), `every` (each append), or a byte
    /// count (a sync each time that many frame bytes were appended).
    #[arg(long, default_value = "none", value_parser = parse_sync)]
    sync: SyncPolicy,
    /// Number of threads appending concurrently.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Size of the segment files (bytes; k, m, g suffixes allowed).
    #[arg(long, default_value = "16MiB", value_parser = parse_bytes)]
    segment_size: u64,
}

fn parse_sync(text: &str) -> Result<SyncPolicy, String> {
    match text {
        "none" => Ok(SyncPolicy::Manual),
        "every" => Ok(SyncPolicy::EveryWrite),
        bytes => match parse_bytes(bytes)? {
            0 => Err("a sync threshold of 0 bytes: use `every` or `none`".to_owned()),
            n => Ok(SyncPolicy::Bytes(n)),
        },
    }
}

fn sync_name(policy: SyncPolicy) -> String {
    match policy {
        SyncPolicy::Manual => "none (one sync at the end)".to_owned(),
        SyncPolicy::EveryWrite => "every append".to_owned(),
        SyncPolicy::Bytes(n) => format!("every {n} bytes"),
    }
}

/// The payload of record `seq`: its 8-byte little-endian number, repeated and cut to `size`.
fn fill_payload(buf: &mut [u8], seq: u64) {
    let word = seq.to_le_bytes();
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte = word[i % 8];
    }
}

/// Whether `payload` is a payload of [`fill_payload`] of `size` bytes, and its number.
fn check_payload(payload: &[u8], size: usize) -> Option<u64> {
    if payload.len() != size {
        return None;
    }
    let mut word = [0u8; 8];
    for (i, byte) in payload.iter().take(8).enumerate() {
        word[i] = *byte;
    }
    let mut expected = vec![0u8; size];
    let seq = u64::from_le_bytes(word);
    fill_payload(&mut expected, seq);
    (expected == payload).then_some(seq)
}

/// The directory to bench in, and whether to remove it afterwards.
fn bench_dir(dir: Option<&Path>) -> Result<(PathBuf, bool), Failure> {
    if let Some(dir) = dir {
        let holds_files = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
        if holds_files {
            return Err(Failure::usage(format!(
                "{}: not empty; bench writes a new WAL and needs an empty or missing directory",
                dir.display()
            )));
        }
        return Ok((dir.to_path_buf(), false));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("walfs-bench-{}-{nanos}", std::process::id()));
    Ok((dir, true))
}

pub fn run(args: &Args) -> CmdResult {
    if args.threads == 0 {
        return Err(Failure::usage("--threads must be at least 1"));
    }
    let size = usize::try_from(args.size)
        .map_err(|_| Failure::usage(format!("--size {}: too large", args.size)))?;
    let max = walfs::core::format::max_payload_len(args.segment_size).unwrap_or(0);
    if args.size > max {
        return Err(Failure::usage(format!(
            "--size {}: records of a {}-byte segment hold at most {max} bytes",
            args.size, args.segment_size
        )));
    }
    let (dir, temporary) = bench_dir(args.dir.as_deref())?;
    let result = bench(args, &dir, size);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = result?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| output_failure(&e))?;
    Ok(0)
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64().max(1e-9);
    #[allow(
        clippy::cast_precision_loss,
        reason = "a rate for display; 2^52 records are not a concern"
    )]
    let count = count as f64;
    count / secs
}

fn percentile(sorted: &[u64], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * per_mille).div_ceil(1000).max(1) - 1;
    Duration::from_nanos(sorted[rank.min(sorted.len() - 1)])
}

/// What a run measured.
struct Measured {
    /// Time of the appends alone, and with the final sync.
    appended: Duration,
    written: Duration,
    final_sync: Duration,
    /// Every append's latency in nanoseconds, sorted.
    latencies: Vec<u64>,
    read: Duration,
    segments: usize,
}

fn bench(args: &Args, dir: &Path, size: usize) -> Result<String, Failure> {
    let options = Options::new()
        .segment_size(args.segment_size)
        .sync_policy(args.sync);
    let describe =
        |error: &walfs::Error| Failure::unreadable(format!("{}: {error}", dir.display()));
    let wal = Wal::open(dir, options).map_err(|e| describe(&e))?;

    let started = Instant::now();
    let mut latencies = append_all(&wal, args, size).map_err(|e| describe(&e))?;
    let appended = started.elapsed();
    wal.sync().map_err(|e| describe(&e))?;
    let written = started.elapsed();
    latencies.sort_unstable();

    let started = Instant::now();
    let read = read_all(&wal, size).map_err(|e| describe(&e))?;
    let read_time = started.elapsed();
    let read = read.and_then(|read| {
        if read == args.count {
            Ok(())
        } else {
            Err(format!(
                "read back {read} records, {} were written",
                args.count
            ))
        }
    });
    if let Err(what) = read {
        return Err(Failure::new(
            EXIT_CORRUPT,
            format!("{}: {what}", dir.display()),
        ));
    }
    let segments = wal.segments().len();
    wal.close().map_err(|e| describe(&e))?;
    let measured = Measured {
        appended,
        written,
        final_sync: written.saturating_sub(appended),
        latencies,
        read: read_time,
        segments,
    };
    Ok(report(args, dir, &measured))
}

/// Appends `args.count` records from `args.threads` threads, each its share, timing every
/// append. Returns the latencies in nanoseconds.
fn append_all(wal: &Wal, args: &Args, size: usize) -> Result<Vec<u64>, walfs::Error> {
    let threads = u64::from(args.threads);
    let bar = progress_bar(args.count, "write");
    let results: Vec<Result<Vec<u64>, walfs::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let share = args.count / threads + u64::from(thread < args.count % threads);
                let bar = &bar;
                scope.spawn(move || {
                    let mut payload = vec![0u8; size];
                    let mut latencies = Vec::with_capacity(usize::try_from(share).unwrap_or(0));
                    for n in 0..share {
                        fill_payload(&mut payload, thread << 48 | n);
                        let start = Instant::now();
                        wal.append(&payload)?;
                        let nanos = start.elapsed().as_nanos();
                        latencies.push(u64::try_from(nanos).unwrap_or(u64::MAX));
                        if n % 1024 == 1023 {
                            bar.inc(1024);
                        }
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or(Err(walfs::Error::Closed)))
            .collect()
    });
    bar.finish_and_clear();
    let mut latencies = Vec::with_capacity(usize::try_from(args.count).unwrap_or(0));
    for result in results {
        latencies.extend(result?);
    }
    Ok(latencies)
}

/// Reads every record back, checking its payload. The inner error says what does not match.
fn read_all(wal: &Wal, size: usize) -> Result<Result<u64, String>, walfs::Error> {
    let mut reader = wal.reader();
    let mut read = 0u64;
    while let Some(record) = reader.next()? {
        if check_payload(record.payload(), size).is_none() {
            return Ok(Err(format!(
                "the record at {} does not hold what was written",
                record.position()
            )));
        }
        read += 1;
    }
    Ok(Ok(read))
}

fn report(args: &Args, dir: &Path, m: &Measured) -> String {
    let bytes = args.count.saturating_mul(args.size);
    let mb = |elapsed| rate(bytes, elapsed) / 1e6;
    let max = m
        .latencies
        .last()
        .map_or(Duration::ZERO, |&n| Duration::from_nanos(n));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} records of {} bytes, {} thread{}, sync {}, {}-byte segments ({} used), in {}",
        args.count,
        args.size,
        args.threads,
        if args.threads == 1 { "" } else { "s" },
        sync_name(args.sync),
        args.segment_size,
        m.segments,
        dir.display()
    );
    let _ = writeln!(
        out,
        "write: {:.3} s, {:.0} records/s, {:.1} MB/s (appends {:.3} s, final sync {:.3} s)",
        m.written.as_secs_f64(),
        rate(args.count, m.written),
        mb(m.written),
        m.appended.as_secs_f64(),
        m.final_sync.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "append latency: p50 {:?}, p99 {:?}, p999 {:?}, max {max:?}",
        percentile(&m.latencies, 500),
        percentile(&m.latencies, 990),
        percentile(&m.latencies, 999),
    );
    let _ = writeln!(
        out,
        "read:  {:.3} s, {:.0} records/s, {:.1} MB/s (every payload checked)",
        m.read.as_secs_f64(),
        rate(args.count, m.read),
        mb(m.read)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let mut buf = vec![0u8; 21];
        fill_payload(&mut buf, 0x0102_0304_0506_0708);
        assert_eq!(check_payload(&buf, 21), Some(0x0102_0304_0506_0708));
        buf[20] ^= 1;
        assert_eq!(check_payload(&buf, 21), None);
        assert_eq!(check_payload(&[], 0), Some(0));
    }

    #[test]
    fn percentiles_pick_ranks() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 500), Duration::from_nanos(500));
        assert_eq!(percentile(&sorted, 999), Duration::from_nanos(999));
        assert_eq!(percentile(&[7], 999), Duration::from_nanos(7));
    }
}
